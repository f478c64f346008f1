//! Ansible's INI inventory format.

use crate::error::InventoryError;
use crate::model::{Builder, Inventory, Target, UNGROUPED};
use crate::words::{expand_host_pattern, split_words, unquote_value};

enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

pub(crate) fn parse(text: &str, source: &str) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(source);
    let mut section = Section::Hosts(UNGROUPED.to_string());
    for (i, raw) in text.lines().enumerate() {
        let n = Some(i + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = header(&b, line, n)?;
            match &section {
                Section::Hosts(g) | Section::Vars(g) | Section::Children(g) => {
                    b.group(g, n);
                }
            }
            continue;
        }
        match &section {
            Section::Hosts(group) => host_line(&mut b, group, line, n)?,
            Section::Vars(group) => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(b.err(
                        n,
                        format!("bad variable line `{line}` in [{group}:vars]: expected key=value"),
                    ));
                };
                let k = k.trim();
                if k.is_empty() || k.chars().any(char::is_whitespace) {
                    return Err(b.err(
                        n,
                        format!("bad variable line `{line}` in [{group}:vars]: expected key=value"),
                    ));
                }
                b.set(Target::Group(group), k, &unquote_value(v), n)?;
            }
            Section::Children(group) => {
                let words =
                    split_words(line).map_err(|e| b.err(n, format!("bad line `{line}`: {e}")))?;
                match words.as_slice() {
                    [] => {}
                    [child] => b.child(group, child, n)?,
                    _ => {
                        return Err(b.err(
                            n,
                            format!(
                                "bad line `{line}` in [{group}:children]: expected one group name"
                            ),
                        ));
                    }
                }
            }
        }
    }
    b.finish()
}

fn header(b: &Builder, line: &str, n: Option<usize>) -> Result<Section, InventoryError> {
    let bad = |why: &str| {
        b.err(n, format!("bad section header `{line}`: {why}; expected [group], [group:vars] or [group:children]"))
    };
    let close = line.find(']').ok_or_else(|| bad("no closing `]`"))?;
    let rest = line[close + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return Err(bad("text after `]`"));
    }
    let inner = &line[1..close];
    let (name, kind) = match inner.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (inner, None),
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '[') {
        return Err(bad("bad group name"));
    }
    Ok(match kind {
        None | Some("hosts") => Section::Hosts(name.to_string()),
        Some("vars") => Section::Vars(name.to_string()),
        Some("children") => Section::Children(name.to_string()),
        Some(_) => return Err(bad("unknown section kind")),
    })
}

fn host_line(
    b: &mut Builder,
    group: &str,
    line: &str,
    n: Option<usize>,
) -> Result<(), InventoryError> {
    let words = split_words(line).map_err(|e| b.err(n, format!("bad host line `{line}`: {e}")))?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(());
    };
    let hosts =
        expand_host_pattern(first).map_err(|e| b.err(n, format!("bad host line `{line}`: {e}")))?;
    let mut vars = Vec::with_capacity(rest.len());
    for w in rest {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => vars.push((k, v)),
            _ => {
                return Err(b.err(
                    n,
                    format!("bad host line `{line}`: expected key=value, got `{w}`"),
                ));
            }
        }
    }
    for h in hosts {
        b.host(group, &h.name, n);
        if let Some(p) = h.port {
            b.set(Target::Host(&h.name), "ansible_port", &p.to_string(), n)?;
        }
        for (k, v) in &vars {
            b.set(Target::Host(&h.name), k, v, n)?;
        }
    }
    Ok(())
}
