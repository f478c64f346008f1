//! Addresses: the one name of every resource, role and task, used everywhere (plans, events,
//! progress lines, reports, state keys, errors, and the arguments that select things).
//!
//! # Grammar
//!
//! ```text
//! address = model "/" path                 web/app[0]   ns/app[0]   cfg/apps[app[0]].mkdir
//! model   = 1*( ALPHA / DIGIT / "_" / "-" ) the name the model was added under
//! path    = field *( "." field / "[" key "]" )
//! field   = ( ALPHA / "_" ) *( ALPHA / DIGIT / "_" )   a struct field (a Rust identifier)
//! key     = bare / quoted
//! bare    = text that does not start with `"`, has no control character, and whose
//!           brackets balance                 0   eu-west   app[0]   grid[a].leader
//! quoted  = a JSON string, for any other key    "a]b"   "\"x\""
//! ```
//!
//! A child of a [`Multi`](crate::Multi) is keyed by its key; a child of a
//! [`MultiTask`](crate::MultiTask) by the path of the role it is for (so
//! `cfg/apps[app[0]]` is the `apps` task of role `ns/app[0]`). An output of a resource is
//! shown as `web/db:private_ip`.
//!
//! ```
//! use hoist_core::Address;
//! let a: Address = "cfg/apps[app[0]].mkdir".parse().unwrap();
//! assert_eq!(a.model, "cfg");
//! assert_eq!(a.path.to_string(), "apps[app[0]].mkdir");
//! assert_eq!(a.to_string(), "cfg/apps[app[0]].mkdir");
//! assert!("cfg/apps[app[0]".parse::<Address>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::path::{Key, ModelPath, Seg};

/// The address of a resource, role or task: its model's name and its path in that model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// The name the model was added under.
    pub model: String,
    /// The path of the component in its model.
    pub path: ModelPath,
}

impl Address {
    /// The address of `path` in model `model`.
    pub fn new(model: impl Into<String>, path: ModelPath) -> Self {
        Address {
            model: model.into(),
            path,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            return f.write_str(&self.model);
        }
        write!(f, "{}/{}", self.model, self.path)
    }
}

/// An address could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad address {text:?}: {why} (addresses look like `web/app[0]`, `ns/db`, `cfg/apps[app[0]].mkdir`)"
)]
pub struct AddressError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub why: String,
}

/// True if `name` can be a model's name in an address.
pub fn is_valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// True if `key` is written as it is between brackets; otherwise it is written as a JSON
/// string.
pub(crate) fn is_bare_key(key: &str) -> bool {
    if key.is_empty() || key.starts_with('"') || key.chars().any(char::is_control) {
        return false;
    }
    let mut depth = 0usize;
    for c in key.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth == 0 => return false,
            ']' => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}

/// Writes `key` as an address writes it: bare, or quoted.
pub(crate) fn write_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    if is_bare_key(key) {
        f.write_str(key)
    } else {
        let quoted = serde_json::to_string(key).map_err(|_| fmt::Error)?;
        f.write_str(&quoted)
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| AddressError {
            text: s.to_string(),
            why: why.to_string(),
        };
        let (model, rest) = s
            .split_once('/')
            .ok_or_else(|| err("no `/` between the model and the path"))?;
        if !is_valid_model_name(model) {
            return Err(err("the model's name must be letters, digits, `_` and `-`"));
        }
        let path = parse_path(rest).map_err(|why| err(&why))?;
        Ok(Address::new(model, path))
    }
}

/// Parses a path (`app[0].conf`) by the grammar above.
pub fn parse_path(s: &str) -> Result<ModelPath, String> {
    let mut segs = Vec::new();
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() || first {
        if !first {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
            } else if let Some(r) = rest.strip_prefix('[') {
                let (key, r) = parse_key(r)?;
                segs.push(Seg::Key(Key::from(key)));
                rest = r;
                continue;
            } else {
                return Err(format!("expected `.` or `[` at {rest:?}"));
            }
        }
        first = false;
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let field = &rest[..end];
        if field.is_empty() || field.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("expected a field name at {rest:?}"));
        }
        segs.push(Seg::Field(field.to_string().into()));
        rest = &rest[end..];
    }
    Ok(ModelPath::from_segs(segs))
}

/// Parses a key after its `[`; returns it and what follows its `]`.
fn parse_key(s: &str) -> Result<(String, &str), String> {
    if s.starts_with('"') {
        let mut it = serde_json::Deserializer::from_str(s).into_iter::<String>();
        let Some(Ok(key)) = it.next() else {
            return Err(format!("bad quoted key at {s:?}"));
        };
        let rest = &s[it.byte_offset()..];
        let rest = rest
            .strip_prefix(']')
            .ok_or_else(|| format!("expected `]` after the key at {rest:?}"))?;
        return Ok((key, rest));
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' if depth == 0 => {
                if i == 0 {
                    return Err("an empty key `[]`".into());
                }
                return Ok((s[..i].to_string(), &s[i + 1..]));
            }
            ']' => depth -= 1,
            c if c.is_control() => return Err("a control character in a key".into()),
            _ => {}
        }
    }
    Err(format!("no `]` closes the key at {s:?}"))
}

/// A pattern over addresses, to name several things at once (`--force 'cfg/deploy[*]'`):
/// `*` matches any run of characters (`/` and brackets included), `?` one character, and
/// everything else itself, so brackets need no escaping.
///
/// ```
/// use hoist_core::AddressPattern;
/// let p = AddressPattern::new("cfg/deploy[*]");
/// assert!(p.matches("cfg/deploy[app[0]]"));
/// assert!(!p.matches("cfg/restart[app[0]]"));
/// assert!(AddressPattern::new("*").matches("web/db"));
/// assert!(AddressPattern::new("web/app[?]").matches("web/app[7]"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddressPattern(String);

impl AddressPattern {
    /// The pattern `pattern`.
    pub fn new(pattern: impl Into<String>) -> Self {
        AddressPattern(pattern.into())
    }

    /// True if `address` matches the whole pattern.
    pub fn matches(&self, address: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (self.0.chars().collect(), address.chars().collect());
        // Greedy with backtracking to the last `*`: linear in practice, O(p·t) at worst.
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while j < t.len() {
            match p.get(i) {
                Some('*') => {
                    star = Some((i, j));
                    i += 1;
                }
                Some(&c) if c == '?' || c == t[j] => {
                    i += 1;
                    j += 1;
                }
                _ => match star {
                    Some((si, sj)) => {
                        i = si + 1;
                        j = sj + 1;
                        star = Some((si, sj + 1));
                    }
                    None => return false,
                },
            }
        }
        p[i..].iter().all(|&c| c == '*')
    }
}

impl fmt::Display for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_addresses() {
        for (pattern, address, want) in [
            ("cfg/deploy[*]", "cfg/deploy[app[0]]", true),
            ("cfg/deploy[*]", "cfg/deploy", false),
            ("cfg/*", "cfg/a.b[c]", true),
            ("*/db", "web/db", true),
            ("*/db", "web/dbx", false),
            ("web/app[?]", "web/app[10]", false),
            ("web/app[??]", "web/app[10]", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxc", false),
            ("", "", true),
            ("", "x", false),
            ("**", "", true),
        ] {
            let p = AddressPattern::new(pattern);
            assert_eq!(p.matches(address), want, "{pattern} ~ {address}");
        }
    }

    #[test]
    fn addresses_round_trip() {
        for a in [
            "web/net",
            "web/app[0]",
            "web/racks[a].nodes[1]",
            "cfg/apps[app[0]].mkdir",
            "cfg/deploy[grid[a].leader]",
            "web/app[eu west]",
            "web/app[\"a]b\"]",
            "web/app[\"\\\"x\"]",
            "web/app[\"\"]",
            "m-1/a_b.c[1][2]",
        ] {
            let parsed: Address = a.parse().unwrap_or_else(|e| panic!("{a}: {e}"));
            assert_eq!(parsed.to_string(), a);
        }
    }

    #[test]
    fn keys_that_need_it_are_quoted() {
        let p = ModelPath::root()
            .field("app")
            .key(Key::from("a]b"))
            .field("x");
        assert_eq!(p.to_string(), "app[\"a]b\"].x");
        let back: Address = format!("web/{p}").parse().unwrap();
        assert_eq!(back.path, p);
        assert_eq!(
            ModelPath::root().field("a").key(Key::from("")).to_string(),
            "a[\"\"]"
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        for (a, why) in [
            ("web", "no `/`"),
            ("/app", "model"),
            ("w b/app", "model"),
            ("web/", "field name"),
            ("web/0", "field name"),
            ("web/app[0", "no `]`"),
            ("web/app[]", "empty key"),
            ("web/app[0]x", "expected `.` or `[`"),
            ("web/app.", "field name"),
            ("web/app[\"x]", "quoted key"),
        ] {
            let e = a.parse::<Address>().unwrap_err().to_string();
            assert!(e.contains(why), "{a}: {e}");
        }
    }
}
