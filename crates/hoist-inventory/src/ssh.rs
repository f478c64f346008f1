//! OpenSSH `ssh_config`.
//!
//! Every name on a `Host` line that is not a pattern (no `*`, `?` or leading `!`) is a host.
//! Its settings are those of every block that matches it (`Host` patterns, `Match all`,
//! `Match host …`), the first obtained value winning, as in OpenSSH. Settings before the first
//! `Host` apply to every host.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::{InventoryError, Warning};
use crate::model::{ALL, Builder, ConnSettings, Inventory};
use crate::special::{jump_from_proxy_command, jump_spec};
use crate::words::{expand_tilde, home_dir, parse_port, split_words};

/// Reads the files an `Include` names: `(pattern, including file)` to `(file, text)` pairs.
pub(crate) type Includer<'a> =
    &'a dyn Fn(&str, &str) -> Result<Vec<(String, String)>, InventoryError>;

const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_JUMP_HOPS: usize = 16;

#[derive(Clone, Debug)]
enum Cond {
    /// `Host` patterns (or `Match host` patterns): any positive match and no negated one.
    Hosts(Vec<String>),
    /// `Match` criteria hoist cannot evaluate: never matches.
    Never,
}

#[derive(Clone, Debug)]
enum Kw {
    HostName(String),
    Port(u16),
    User(String),
    IdentityFile(String),
    /// ProxyJump / ProxyCommand: `None` for `none` or a command hoist cannot use.
    Jump(Option<String>),
}

#[derive(Default)]
struct Block {
    conds: Vec<Cond>,
    settings: Vec<Kw>,
}

#[derive(Default)]
struct Got {
    hostname: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity: Option<String>,
    jump: Option<Option<String>>,
}

struct Parser<'a> {
    blocks: Vec<Block>,
    /// concrete host names, with where they were first seen
    aliases: IndexMap<String, (String, usize)>,
    warnings: Vec<Warning>,
    includer: Option<Includer<'a>>,
}

pub(crate) fn parse(
    text: &str,
    source: &str,
    includer: Option<Includer<'_>>,
) -> Result<Inventory, InventoryError> {
    let mut p = Parser {
        blocks: Vec::new(),
        aliases: IndexMap::new(),
        warnings: Vec::new(),
        includer,
    };
    p.read(text, source, &[], 0)?;
    let mut resolved: IndexMap<String, Got> = IndexMap::new();
    for alias in p.aliases.keys() {
        resolved.insert(alias.clone(), p.resolve(alias));
    }
    let mut b = Builder::new(source);
    b.warnings = std::mem::take(&mut p.warnings);
    let mut memo = JumpMemo::new();
    for (alias, (file, line)) in &p.aliases {
        let Some(got) = resolved.get(alias) else {
            continue;
        };
        let user = got.user.clone();
        let hostname = got
            .hostname
            .as_ref()
            .map(|h| expand_tokens(h, alias, alias, user.as_deref()));
        let key_file = got.identity.as_ref().and_then(|i| {
            let i = expand_tokens(
                i,
                hostname.as_deref().unwrap_or(alias),
                alias,
                user.as_deref(),
            );
            (!i.eq_ignore_ascii_case("none")).then(|| expand_tilde(&i))
        });
        let jump = match jump_for(&resolved, alias, &mut memo) {
            Ok(j) => j,
            Err(m) => {
                b.warnings.push(Warning::new(file, *line, m));
                None
            }
        };
        let conn = ConnSettings {
            address: hostname,
            port: got.port,
            user,
            key_file,
            jump: Some(jump),
            password: None,
        };
        if file == source {
            b.host(ALL, alias, Some(*line));
        } else {
            b.host(ALL, alias, None);
        }
        b.host_conn(alias, conn, None);
    }
    b.finish()
}

impl Parser<'_> {
    fn read(
        &mut self,
        text: &str,
        file: &str,
        outer: &[Cond],
        depth: usize,
    ) -> Result<(), InventoryError> {
        self.blocks.push(Block {
            conds: outer.to_vec(),
            settings: Vec::new(),
        });
        let mut cur: Vec<Cond> = outer.to_vec();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: String| InventoryError::parse(file, n, m);
            let kw_end = line
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(line.len());
            let keyword = &line[..kw_end];
            let rest = line[kw_end..].trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
            let args = split_words(rest).map_err(|e| err(format!("bad line `{line}`: {e}")))?;
            let kw = keyword.to_ascii_lowercase();
            let one = || -> Result<&str, InventoryError> {
                match args.as_slice() {
                    [a] => Ok(a.as_str()),
                    [] => Err(err(format!("`{keyword}` needs a value"))),
                    _ => Err(err(format!(
                        "bad line `{line}`: `{keyword}` takes one value"
                    ))),
                }
            };
            let setting = match kw.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(err(format!("`{keyword}` needs at least one host pattern")));
                    }
                    for a in &args {
                        if !a.starts_with('!')
                            && !a.contains(['*', '?'])
                            && !self.aliases.contains_key(a)
                        {
                            self.aliases.insert(a.clone(), (file.to_string(), n));
                        }
                    }
                    cur = outer.to_vec();
                    cur.push(Cond::Hosts(args.clone()));
                    self.blocks.push(Block {
                        conds: cur.clone(),
                        settings: Vec::new(),
                    });
                    continue;
                }
                "match" => {
                    cur = outer.to_vec();
                    cur.extend(self.match_conds(&args, file, n)?);
                    self.blocks.push(Block {
                        conds: cur.clone(),
                        settings: Vec::new(),
                    });
                    continue;
                }
                "include" => {
                    if args.is_empty() {
                        return Err(err(format!("`{keyword}` needs a file")));
                    }
                    let Some(inc) = self.includer else {
                        self.warnings.push(Warning::new(
                            file,
                            n,
                            format!("`Include {}` is not followed when parsing text; load the file to follow it", args.join(" ")),
                        ));
                        continue;
                    };
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(err(format!(
                            "`Include` nested more than {MAX_INCLUDE_DEPTH} deep"
                        )));
                    }
                    for a in &args {
                        for (f, t) in inc(a, file)? {
                            self.read(&t, &f, &cur, depth + 1)?;
                        }
                    }
                    self.blocks.push(Block {
                        conds: cur.clone(),
                        settings: Vec::new(),
                    });
                    continue;
                }
                "hostname" => Kw::HostName(one()?.to_string()),
                "port" => {
                    Kw::Port(parse_port(one()?).map_err(|e| err(format!("bad `{keyword}`: {e}")))?)
                }
                "user" => Kw::User(one()?.to_string()),
                "identityfile" => Kw::IdentityFile(one()?.to_string()),
                "proxyjump" => {
                    let v = one()?;
                    Kw::Jump((!v.eq_ignore_ascii_case("none")).then(|| v.to_string()))
                }
                "proxycommand" => {
                    if args.is_empty() {
                        return Err(err(format!("`{keyword}` needs a value")));
                    }
                    let cmd = rest;
                    if cmd.eq_ignore_ascii_case("none") {
                        Kw::Jump(None)
                    } else if let Some(j) = jump_from_proxy_command(cmd) {
                        Kw::Jump(Some(j))
                    } else {
                        self.warnings.push(Warning::new(
                            file,
                            n,
                            format!("`ProxyCommand {cmd}` is not a plain `ssh -W %h:%p` forward: ignored"),
                        ));
                        Kw::Jump(None)
                    }
                }
                // every other option (UserKnownHostsFile, StrictHostKeyChecking, …) is the
                // transport's business
                _ => continue,
            };
            if let Some(b) = self.blocks.last_mut() {
                b.settings.push(setting);
            }
        }
        Ok(())
    }

    fn match_conds(
        &mut self,
        args: &[String],
        file: &str,
        n: usize,
    ) -> Result<Vec<Cond>, InventoryError> {
        let mut conds = Vec::new();
        let mut i = 0;
        if args.is_empty() {
            return Err(InventoryError::parse(file, n, "`Match` needs criteria"));
        }
        while i < args.len() {
            let c = args[i].to_ascii_lowercase();
            match c.as_str() {
                "all" => {}
                "host" | "originalhost" => {
                    let Some(list) = args.get(i + 1) else {
                        return Err(InventoryError::parse(
                            file,
                            n,
                            format!("`Match {c}` needs host patterns"),
                        ));
                    };
                    conds.push(Cond::Hosts(list.split(',').map(str::to_string).collect()));
                    i += 1;
                }
                _ => {
                    self.warnings.push(Warning::new(
                        file,
                        n,
                        format!("`Match {}` is not supported (only `all` and `host`): its settings are ignored", args.join(" ")),
                    ));
                    conds.push(Cond::Never);
                    break;
                }
            }
            i += 1;
        }
        Ok(conds)
    }

    fn resolve(&self, alias: &str) -> Got {
        let mut got = Got::default();
        for b in &self.blocks {
            if !b.conds.iter().all(|c| cond_matches(c, alias)) {
                continue;
            }
            for s in &b.settings {
                match s {
                    Kw::HostName(h) => {
                        got.hostname.get_or_insert_with(|| h.clone());
                    }
                    Kw::Port(p) => {
                        got.port.get_or_insert(*p);
                    }
                    Kw::User(u) => {
                        got.user.get_or_insert_with(|| u.clone());
                    }
                    Kw::IdentityFile(f) => {
                        got.identity.get_or_insert_with(|| f.clone());
                    }
                    Kw::Jump(j) => {
                        got.jump.get_or_insert_with(|| j.clone());
                    }
                }
            }
        }
        got
    }
}

/// Jump host chains already worked out (`None` while in progress, to catch loops).
type JumpMemo = std::collections::HashMap<String, Option<Result<Option<String>, String>>>;

/// The jump host chain of `alias`, with hops that are hosts of this file replaced by their
/// `[user@]hostname[:port]` (and preceded by their own jump hosts).
fn jump_for(
    resolved: &IndexMap<String, Got>,
    alias: &str,
    memo: &mut JumpMemo,
) -> Result<Option<String>, String> {
    match memo.get(alias) {
        Some(Some(r)) => return r.clone(),
        Some(None) => {
            return Err(format!(
                "jump hosts of `{alias}` go through each other in a loop: ignored"
            ));
        }
        None => {}
    }
    let Some(Some(j)) = resolved.get(alias).and_then(|g| g.jump.as_ref()) else {
        return Ok(None);
    };
    memo.insert(alias.to_string(), None);
    let mut hops: Vec<String> = Vec::new();
    let mut result = Ok(());
    for hop in j.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let (user, hostport) = match hop.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, hop),
        };
        let (host, port) = split_host_port(hostport);
        match resolved.get(host) {
            Some(t) if host != alias => {
                match jump_for(resolved, host, memo) {
                    Ok(Some(prefix)) => hops.extend(prefix.split(',').map(str::to_string)),
                    Ok(None) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
                let name = t
                    .hostname
                    .as_ref()
                    .map_or_else(|| host.to_string(), |h| expand_tokens(h, host, host, None));
                hops.push(jump_spec(
                    user.or(t.user.as_deref()),
                    &name,
                    port.or(t.port),
                ));
            }
            _ => hops.push(hop.to_string()),
        }
        if hops.len() > MAX_JUMP_HOPS {
            result = Err(format!(
                "the jump host chain of `{alias}` has more than {MAX_JUMP_HOPS} hops: ignored"
            ));
            break;
        }
    }
    let r = result.map(|()| (!hops.is_empty()).then(|| hops.join(",")));
    memo.insert(alias.to_string(), Some(r.clone()));
    r
}

/// `host`, `host:port`, `[v6]:port`.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(inner) = s.strip_prefix('[')
        && let Some((h, rest)) = inner.split_once(']')
    {
        return (h, rest.strip_prefix(':').and_then(|p| parse_port(p).ok()));
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => match parse_port(p) {
            Ok(port) => (h, Some(port)),
            Err(_) => (s, None),
        },
        _ => (s, None),
    }
}

/// Expands `%h` (host), `%n` (the name as given), `%r` (remote user), `%u` (local user),
/// `%d` (home directory) and `%%`; other tokens are left as written.
fn expand_tokens(s: &str, host: &str, original: &str, user: Option<&str>) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(original),
            Some('r') if user.is_some() => out.push_str(user.unwrap_or_default()),
            Some('u') if std::env::var("USER").is_ok() => {
                out.push_str(&std::env::var("USER").unwrap_or_default());
            }
            Some('d') if home_dir().is_some() => {
                out.push_str(
                    &home_dir()
                        .map(|h| h.display().to_string())
                        .unwrap_or_default(),
                );
            }
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

fn cond_matches(c: &Cond, alias: &str) -> bool {
    match c {
        Cond::Never => false,
        Cond::Hosts(pats) => {
            let host = alias.to_ascii_lowercase();
            let mut any = false;
            for p in pats {
                if let Some(neg) = p.strip_prefix('!') {
                    if glob(&neg.to_ascii_lowercase(), &host) {
                        return false;
                    }
                } else if glob(&p.to_ascii_lowercase(), &host) {
                    any = true;
                }
            }
            any
        }
    }
}

/// `*` and `?` wildcard matching, linear-ish (no exponential backtracking).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Reads the files an `Include` names, relative to the including file's directory; `*` and
/// `?` are allowed in the last path component (matches in name order, hidden files only when
/// the pattern starts with `.`). A name that matches nothing is skipped, as OpenSSH does.
pub(crate) fn fs_includer(
    pattern: &str,
    from: &str,
) -> Result<Vec<(String, String)>, InventoryError> {
    let mut path = expand_tilde(pattern);
    if path.is_relative() {
        let dir = Path::new(from).parent().unwrap_or_else(|| Path::new(""));
        path = dir.join(path);
    }
    let read = |p: &Path| -> Result<(String, String), InventoryError> {
        std::fs::read_to_string(p)
            .map(|t| (p.display().to_string(), t))
            .map_err(|source| InventoryError::Io {
                path: p.to_path_buf(),
                source,
            })
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if path.is_file() {
            Ok(vec![read(&path)?])
        } else {
            Ok(Vec::new())
        };
    }
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut matches: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (name.starts_with('.') || !n.starts_with('.')) && glob(&name, &n)
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    matches.sort();
    matches.iter().map(|p| read(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("*", "anything"));
        assert!(glob("web*", "web1"));
        assert!(glob("w?b*.ex", "wab12.ex"));
        assert!(!glob("web*", "db1"));
        assert!(glob("*.*.*", "a.b.c"));
        assert!(!glob(
            "a*a*a*a*a*b",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
        assert!(glob("", ""));
        assert!(!glob("", "a"));
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("b:2200"), ("b", Some(2200)));
        assert_eq!(split_host_port("[::1]:2200"), ("::1", Some(2200)));
        assert_eq!(split_host_port("fe80::1"), ("fe80::1", None));
        assert_eq!(split_host_port("b"), ("b", None));
    }

    #[test]
    fn tokens() {
        assert_eq!(
            expand_tokens("%h.example.com", "db", "db", None),
            "db.example.com"
        );
        assert_eq!(expand_tokens("100%% %x %", "h", "h", None), "100% %x %");
        assert_eq!(expand_tokens("k-%r", "h", "h", Some("ops")), "k-ops");
    }
}
