//! Ansible's special connection variables (`ansible_host`, `ansible_port`, …) and the SSH
//! options that name a jump host.

use std::path::PathBuf;

use hoist_core::Secret;

use crate::words::{expand_tilde, parse_port, split_words};

/// What one inventory variable means.
#[derive(Clone, Debug)]
pub(crate) enum Special {
    /// An ordinary variable.
    Var(String),
    Address(String),
    Port(u16),
    User(String),
    KeyFile(PathBuf),
    /// `Some(None)`: explicitly no jump host. `replace`: set even if a jump host is already set
    /// at this level (a found jump host does; "none found" in a whole argument string does not).
    Jump {
        jump: Option<String>,
        replace: bool,
    },
    Password(Secret),
    Priority(i64),
    /// Consumed without effect, with an optional warning.
    Ignored(Option<String>),
}

/// Names of the variables that set the address.
const ADDRESS: &[&str] = &["ansible_host", "ansible_ssh_host"];
const PORT: &[&str] = &["ansible_port", "ansible_ssh_port"];
const USER: &[&str] = &["ansible_user", "ansible_ssh_user"];
const KEY: &[&str] = &["ansible_ssh_private_key_file", "ansible_private_key_file"];
const ARGS: &[&str] = &["ansible_ssh_common_args", "ansible_ssh_extra_args"];
const PASSWORD: &[&str] = &[
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
];

/// True if `name` is one of the connection variables that become connection settings rather
/// than role variables.
pub(crate) fn is_connection_var(name: &str) -> bool {
    [ADDRESS, PORT, USER, KEY, ARGS, PASSWORD]
        .iter()
        .any(|l| l.contains(&name))
        || matches!(name, "ansible_connection" | "ansible_group_priority")
}

/// True if a variable of this name holds a secret (a password): it becomes a secret role
/// variable, redacted wherever hoist shows it.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("password") || n.ends_with("_pass") || n.ends_with("passwd") || n == "pass"
}

/// Interprets `key=value`. Errors are messages without a position (the caller adds it).
pub(crate) fn classify(key: &str, value: &str) -> Result<Special, String> {
    if !is_connection_var(key) {
        return Ok(Special::Var(value.to_string()));
    }
    if value.contains("{{") || value.contains("{%") {
        return Ok(Special::Ignored(Some(format!(
            "`{key}` is a Jinja template (`{value}`), which hoist does not evaluate: ignored"
        ))));
    }
    let v = value.trim();
    if ADDRESS.contains(&key) {
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            return Err(format!(
                "bad `{key}` `{value}`: expected a host name or address"
            ));
        }
        return Ok(Special::Address(v.to_string()));
    }
    if PORT.contains(&key) {
        return parse_port(v)
            .map(Special::Port)
            .map_err(|e| format!("bad `{key}`: {e}"));
    }
    if USER.contains(&key) {
        if v.is_empty() {
            return Err(format!("bad `{key}`: empty user name"));
        }
        return Ok(Special::User(v.to_string()));
    }
    if KEY.contains(&key) {
        if v.is_empty() {
            return Err(format!("bad `{key}`: empty file name"));
        }
        return Ok(Special::KeyFile(expand_tilde(v)));
    }
    if PASSWORD.contains(&key) {
        return Ok(Special::Password(Secret::new(value)));
    }
    if ARGS.contains(&key) {
        return match jump_from_ssh_args(value).map_err(|e| format!("bad `{key}`: {e}"))? {
            Some(jump) => Ok(Special::Jump {
                jump,
                replace: true,
            }),
            // Ansible's common args at a level replace those of outer levels.
            None if key == "ansible_ssh_common_args" => Ok(Special::Jump {
                jump: None,
                replace: false,
            }),
            None => Ok(Special::Ignored(None)),
        };
    }
    if key == "ansible_group_priority" {
        return v
            .parse::<i64>()
            .map(Special::Priority)
            .map_err(|_| format!("bad `{key}` `{value}`: expected an integer"));
    }
    // ansible_connection
    match v {
        "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "" => Ok(Special::Ignored(None)),
        other => Ok(Special::Ignored(Some(format!(
            "`ansible_connection={other}` is not supported (hoist reaches hosts over SSH): ignored"
        )))),
    }
}

/// The jump host named by SSH command-line arguments (`-J host`, `-o ProxyJump=host`,
/// `-o ProxyCommand="ssh -W %h:%p host"`): `None` if they name none, `Some(None)` for an
/// explicit `none`.
pub(crate) fn jump_from_ssh_args(args: &str) -> Result<Option<Option<String>>, String> {
    let words = split_words(args)?;
    let mut i = 0;
    let mut found = None;
    while i < words.len() {
        let w = &words[i];
        let (flag, inline) = if w.len() >= 2 && w.starts_with('-') && w.is_char_boundary(2) {
            (&w[..2], &w[2..])
        } else {
            (w.as_str(), "")
        };
        let arg = |i: &mut usize| -> Option<String> {
            if inline.is_empty() {
                *i += 1;
                words.get(*i).cloned()
            } else {
                Some(inline.to_string())
            }
        };
        match flag {
            "-J" => {
                let v = arg(&mut i).ok_or("`-J` needs a jump host")?;
                found.get_or_insert(none_or(&v));
            }
            "-o" => {
                let opt = arg(&mut i).ok_or("`-o` needs an option")?;
                let (k, v) = split_option(&opt);
                match k.to_ascii_lowercase().as_str() {
                    "proxyjump" => {
                        found.get_or_insert(none_or(v));
                    }
                    "proxycommand" => {
                        if v.eq_ignore_ascii_case("none") {
                            found.get_or_insert(None);
                        } else if let Some(j) = jump_from_proxy_command(v) {
                            found.get_or_insert(Some(j));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(found)
}

fn none_or(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        None
    } else {
        Some(v.to_string())
    }
}

/// `Key=Value` or `Key Value`.
fn split_option(opt: &str) -> (&str, &str) {
    let opt = opt.trim();
    match opt.find(|c: char| c == '=' || c.is_whitespace()) {
        Some(i) => {
            let rest = opt[i..].trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (&opt[..i], rest.trim())
        }
        None => (opt, ""),
    }
}

/// The jump host of a `ProxyCommand` of the form `ssh [-q] [-p port] [-l user] -W %h:%p
/// [user@]host`: `[user@]host[:port]`, or `None` for any other command.
pub(crate) fn jump_from_proxy_command(cmd: &str) -> Option<String> {
    let words = split_words(cmd).ok()?;
    let prog = words.first()?;
    if prog.rsplit('/').next() != Some("ssh") {
        return None;
    }
    let (mut user, mut port, mut dest, mut forward) = (None, None, None, false);
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        if let Some(flags) = w.strip_prefix('-').filter(|f| !f.is_empty()) {
            let f = flags.chars().next()?;
            if "BbcDEeFIiJLlmOoPpRSWw".contains(f) {
                let val = if flags.len() > f.len_utf8() {
                    flags[f.len_utf8()..].to_string()
                } else {
                    i += 1;
                    words.get(i)?.clone()
                };
                match f {
                    'p' => port = Some(parse_port(&val).ok()?),
                    'l' => user = Some(val),
                    'W' => forward = true,
                    'J' | 'o' => return None,
                    _ => {}
                }
            }
        } else if dest.is_none() {
            dest = Some(w.clone());
        } else {
            // a remote command: not a plain forwarding proxy
            return None;
        }
        i += 1;
    }
    let dest = dest?;
    if !forward {
        return None;
    }
    let (du, host) = match dest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, dest),
    };
    Some(jump_spec(du.or(user).as_deref(), &host, port))
}

/// `[user@]host[:port]` (IPv6 addresses with a port in brackets).
pub(crate) fn jump_spec(user: Option<&str>, host: &str, port: Option<u16>) -> String {
    let mut s = String::new();
    if let Some(u) = user {
        s.push_str(u);
        s.push('@');
    }
    match port {
        Some(p) if p != 22 && host.contains(':') => s.push_str(&format!("[{host}]:{p}")),
        Some(p) if p != 22 => s.push_str(&format!("{host}:{p}")),
        _ => s.push_str(host),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jump(args: &str) -> Option<Option<String>> {
        jump_from_ssh_args(args).unwrap()
    }

    #[test]
    fn ssh_args() {
        assert_eq!(jump("-o ProxyJump=bastion"), Some(Some("bastion".into())));
        assert_eq!(
            jump("-o StrictHostKeyChecking=no -J admin@b:2200"),
            Some(Some("admin@b:2200".into()))
        );
        assert_eq!(jump("-Jb"), Some(Some("b".into())));
        assert_eq!(jump("-oProxyJump=none"), Some(None));
        assert_eq!(jump("-o 'ProxyJump b2'"), Some(Some("b2".into())));
        assert_eq!(
            jump(r#"-o ProxyCommand="ssh -W %h:%p -q ops@bastion -p 2022""#),
            Some(Some("ops@bastion:2022".into()))
        );
        assert_eq!(
            jump(r#"-o ProxyCommand="ssh -l ops -W %h:%p bastion""#),
            Some(Some("ops@bastion".into()))
        );
        assert_eq!(jump(r#"-o ProxyCommand="nc -x proxy %h %p""#), None);
        assert_eq!(jump("-o ServerAliveInterval=30"), None);
        assert!(jump_from_ssh_args("-J").is_err());
        assert!(jump_from_ssh_args("-o 'x").is_err());
        // no panic on odd input
        for s in ["-", "-é", "-oé", "-Jé", "--", "-o -J"] {
            let _ = jump_from_ssh_args(s);
        }
    }

    #[test]
    fn classify_vars() {
        assert!(matches!(
            classify("ansible_port", "2222").unwrap(),
            Special::Port(2222)
        ));
        assert!(classify("ansible_port", "22x").is_err());
        assert!(matches!(
            classify("ansible_port", "{{ p }}").unwrap(),
            Special::Ignored(Some(_))
        ));
        assert!(matches!(
            classify("ansible_ssh_host", "h").unwrap(),
            Special::Address(_)
        ));
        assert!(matches!(
            classify("http_port", "80").unwrap(),
            Special::Var(_)
        ));
        assert!(matches!(
            classify("ansible_group_priority", "10").unwrap(),
            Special::Priority(10)
        ));
        assert!(matches!(
            classify("ansible_connection", "local").unwrap(),
            Special::Ignored(Some(_))
        ));
        assert!(is_secret_name("ansible_become_password"));
        assert!(is_secret_name("DB_PASS"));
        assert!(!is_secret_name("passage"));
    }
}
