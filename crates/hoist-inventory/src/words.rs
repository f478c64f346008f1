//! Small lexical helpers shared by the parsers: shell-like word splitting, host patterns with
//! ranges and ports, `~` expansion.

use std::path::PathBuf;

/// The most hosts one host pattern may expand to (`web[1:100000]` is a mistake, not a fleet).
pub(crate) const MAX_RANGE_HOSTS: u64 = 100_000;

/// Splits `line` into words like a POSIX shell (and Python's `shlex` with comments on):
/// whitespace separates words, `'…'` is literal, `"…"` allows `\"` and `\\` escapes, a
/// backslash outside quotes escapes the next character, and `#` at the start of a word starts
/// a comment.
pub(crate) fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("unbalanced quotes".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("unbalanced quotes".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("unbalanced quotes".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Removes one level of matching quotes around a whole value (`"a b"` → `a b`), as Ansible
/// does for `[group:vars]` values; anything else is returned trimmed and unchanged.
pub(crate) fn unquote_value(v: &str) -> String {
    let v = v.trim();
    if v.starts_with(['"', '\''])
        && let Ok(w) = split_words(v)
        && w.len() == 1
    {
        return w.into_iter().next().unwrap_or_default();
    }
    v.to_string()
}

/// One host named by a host pattern: its name and the port given with `name:port`, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostSpec {
    pub(crate) name: String,
    pub(crate) port: Option<u16>,
}

/// Expands an Ansible host pattern: `web[01:03].example.com`, `db-[a:c]`, `host:2222`,
/// `[2001:db8::1]:2222`, `2001:db8::1`. Numeric ranges keep the zero padding of their start;
/// `[start:end:step]` takes every `step`th; several ranges in one pattern multiply.
pub(crate) fn expand_host_pattern(pat: &str) -> Result<Vec<HostSpec>, String> {
    if pat.is_empty() {
        return Err("empty host name".into());
    }
    if pat.contains('=') {
        return Err(format!(
            "`{pat}` is not a host name (a host name comes before key=value)"
        ));
    }
    // `[v6]` or `[v6]:port`
    if let Some(inner) = pat.strip_prefix('[')
        && let Some(close) = inner.find(']')
        && inner[..close].matches(':').count() >= 2
    {
        let addr = &inner[..close];
        let port = match &inner[close + 1..] {
            "" => None,
            r => match r.strip_prefix(':') {
                Some(p) => Some(parse_port(p)?),
                None => return Err(format!("bad host `{pat}`: unexpected `{r}` after `]`")),
            },
        };
        return Ok(vec![HostSpec {
            name: addr.to_string(),
            port,
        }]);
    }
    // Colons outside brackets: one is a port, more is a bare IPv6 address.
    let mut depth = 0i32;
    let mut outside = Vec::new();
    for (i, c) in pat.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => outside.push(i),
            _ => {}
        }
    }
    let (name, port) = match outside.as_slice() {
        [] => (pat, None),
        [i] => (&pat[..*i], Some(parse_port(&pat[i + 1..])?)),
        _ => {
            return Ok(vec![HostSpec {
                name: pat.to_string(),
                port: None,
            }]);
        }
    };
    if name.is_empty() {
        return Err(format!("bad host `{pat}`: empty host name"));
    }
    let names = expand_ranges(name, MAX_RANGE_HOSTS)?;
    Ok(names
        .into_iter()
        .map(|name| HostSpec { name, port })
        .collect())
}

fn expand_ranges(pat: &str, budget: u64) -> Result<Vec<String>, String> {
    let Some(open) = pat.find('[') else {
        if pat.contains(']') {
            return Err(format!("bad host pattern `{pat}`: `]` without `[`"));
        }
        return Ok(vec![pat.to_string()]);
    };
    let head = &pat[..open];
    let after = &pat[open + 1..];
    let close = after
        .find(']')
        .ok_or_else(|| format!("bad host pattern `{pat}`: unterminated `[`"))?;
    let range = &after[..close];
    let tail = &after[close + 1..];
    let items = expand_one_range(range)
        .map_err(|e| format!("bad host range `[{range}]` in `{pat}`: {e}"))?;
    let count = items.len() as u64;
    if count > budget {
        return Err(format!(
            "host pattern `{pat}` expands to more than {MAX_RANGE_HOSTS} hosts"
        ));
    }
    let tails = expand_ranges(tail, budget / count.max(1))?;
    if count.saturating_mul(tails.len() as u64) > budget {
        return Err(format!(
            "host pattern `{pat}` expands to more than {MAX_RANGE_HOSTS} hosts"
        ));
    }
    let mut out = Vec::with_capacity(items.len() * tails.len());
    for i in &items {
        for t in &tails {
            out.push(format!("{head}{i}{t}"));
        }
    }
    Ok(out)
}

fn expand_one_range(range: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = range.split(':').collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, None),
        [b, e, s] => (*b, *e, Some(*s)),
        _ => return Err("expected [start:end] or [start:end:step]".into()),
    };
    let step: u64 = match step {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("bad step `{s}`"))?,
    };
    let beg = if beg.is_empty() { "0" } else { beg };
    if end.is_empty() {
        return Err("missing end".into());
    }
    let is_num = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let is_alpha = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    if is_num(beg) && is_num(end) {
        let (b, e): (u64, u64) = match (beg.parse(), end.parse()) {
            (Ok(b), Ok(e)) => (b, e),
            _ => return Err("number too large".into()),
        };
        if b > e {
            return Err("start is after end".into());
        }
        if (e - b) / step >= MAX_RANGE_HOSTS {
            return Err(format!("more than {MAX_RANGE_HOSTS} hosts"));
        }
        let width = if beg.len() > 1 && beg.starts_with('0') {
            if beg.len() != end.len() {
                return Err("zero-padded start and end must have the same width".into());
            }
            beg.len()
        } else {
            0
        };
        let mut out = Vec::new();
        let mut i = b;
        while i <= e {
            out.push(format!("{i:0width$}"));
            match i.checked_add(step) {
                Some(n) => i = n,
                None => break,
            }
        }
        Ok(out)
    } else if is_alpha(beg) && is_alpha(end) {
        let (b, e) = (beg.as_bytes()[0], end.as_bytes()[0]);
        if b > e {
            return Err("start is after end".into());
        }
        Ok((b..=e)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .map(|c| char::from(c).to_string())
            .collect())
    } else {
        Err("expected numbers or single letters".into())
    }
}

/// Parses a TCP port (1–65535).
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("bad port `{s}`: expected a number from 1 to 65535")),
    }
}

/// The user's home directory, from `$HOME`.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~` or `~/` to the home directory.
pub(crate) fn expand_tilde(s: &str) -> PathBuf {
    match (s.strip_prefix('~'), home_dir()) {
        (Some(""), Some(h)) => h,
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(&rest[1..]),
        _ => PathBuf::from(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand_host_pattern(p)
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"a b="c d" e='f g' # x"#).unwrap(),
            ["a", "b=c d", "e=f g"]
        );
        assert_eq!(
            split_words(r#"x="a\"b" y=a\ b"#).unwrap(),
            ["x=a\"b", "y=a b"]
        );
        assert_eq!(split_words("a#b").unwrap(), ["a#b"]);
        assert!(split_words("a 'b").is_err());
        assert!(split_words("a \"b\\").is_err());
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(unquote_value(" \"a b\" "), "a b");
        assert_eq!(unquote_value("a b"), "a b");
        assert_eq!(unquote_value("\"a\" \"b\""), "\"a\" \"b\"");
    }

    #[test]
    fn ranges() {
        assert_eq!(names("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(names("web[1:3].ex"), ["web1.ex", "web2.ex", "web3.ex"]);
        assert_eq!(names("w[0:6:3]"), ["w0", "w3", "w6"]);
        assert_eq!(names("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(names("r[1:2]c[a:b]"), ["r1ca", "r1cb", "r2ca", "r2cb"]);
        assert_eq!(names("h[:1]"), ["h0", "h1"]);
        let p = expand_host_pattern("web[1:2]:2222").unwrap();
        assert!(p.iter().all(|h| h.port == Some(2222)));
        assert_eq!(
            expand_host_pattern("[::1]:22").unwrap(),
            [HostSpec {
                name: "::1".into(),
                port: Some(22)
            }]
        );
        assert_eq!(
            expand_host_pattern("fe80::1").unwrap(),
            [HostSpec {
                name: "fe80::1".into(),
                port: None
            }]
        );
        for bad in [
            "w[3:1]",
            "w[01:3]",
            "w[1:",
            "w[a:1]",
            "w[1:2:0]",
            "w]",
            "w[1:99999999999999999999999]",
            "h:x",
            "h:0",
            "h:70000",
            "w[1:200000]",
            "a[1:1000]b[1:1000]",
            "",
            ":22",
            "k=v",
            "w[1:2:3:4]",
            "w[:]",
        ] {
            assert!(expand_host_pattern(bad).is_err(), "{bad}");
        }
    }
}
