//! Concrete component paths (`grid[3].foreman`), keys and source locations.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A field name inside a model struct. Static in code, owned when read back from state.
pub type Name = Cow<'static, str>;

/// The key of a child of a [`Multi`](crate::Multi) component: `grid[3]`, `app["eu"]`.
///
/// Keys are strings (as in Actuator, integer keys are stringified). They order numerically
/// when both are integers, so `app[2]` comes before `app[10]` in plans.
///
/// ```
/// use hoist_core::Key;
/// assert_eq!(Key::from(3).as_str(), "3");
/// assert!(Key::from(2) < Key::from(10));
/// ```
#[derive(Clone, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Key {
    text: Arc<str>,
    /// The key as an integer, if it is one: read once, as keys are compared very often while
    /// planning.
    int: Option<i64>,
}

impl Key {
    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn new(text: Arc<str>) -> Self {
        let int = match text.as_bytes().first() {
            Some(b'0'..=b'9' | b'+' | b'-') => text.parse().ok(),
            _ => None,
        };
        Key { text, int }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        // Copies of one key share their text (`Arc` looks at the bytes only for sized types).
        Arc::ptr_eq(&self.text, &other.text) || self.text == other.text
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.text, &other.text) {
            return Ordering::Equal;
        }
        match (self.int, other.int) {
            (Some(a), Some(b)) => a.cmp(&b).then_with(|| self.text.cmp(&other.text)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.text.cmp(&other.text),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.text)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

macro_rules! key_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Key {
            fn from(v: $t) -> Self {
                Key::new(Arc::from(v.to_string()))
            }
        }
    )*};
}
key_from_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl From<&str> for Key {
    fn from(v: &str) -> Self {
        Key::new(Arc::from(v))
    }
}

impl From<String> for Key {
    fn from(v: String) -> Self {
        Key::new(Arc::from(v))
    }
}

impl From<&String> for Key {
    fn from(v: &String) -> Self {
        Key::new(Arc::from(v.as_str()))
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// One step of a [`ModelPath`].
///
/// Ordered as if derived (fields before keys, then by name or key); field names that are the
/// same static string compare without looking at the bytes.
#[derive(Clone, Eq, Serialize, Deserialize)]
pub enum Seg {
    /// A struct field.
    Field(Name),
    /// A key into a multi component.
    Key(Key),
}

fn same_str(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b)
}

impl PartialEq for Seg {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Seg::Field(a), Seg::Field(b)) => same_str(a, b) || a == b,
            (Seg::Key(a), Seg::Key(b)) => a == b,
            _ => false,
        }
    }
}

impl std::hash::Hash for Seg {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Seg::Field(n) => n.hash(state),
            Seg::Key(k) => k.hash(state),
        }
    }
}

impl Ord for Seg {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Seg::Field(a), Seg::Field(b)) => {
                if same_str(a, b) {
                    Ordering::Equal
                } else {
                    a.cmp(b)
                }
            }
            (Seg::Key(a), Seg::Key(b)) => a.cmp(b),
            (Seg::Field(_), Seg::Key(_)) => Ordering::Less,
            (Seg::Key(_), Seg::Field(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Seg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The concrete path of a component inside one model: `db`, `grid[3].foreman`.
///
/// Paths are what the plan, the report, the events and the recorded state use to name things;
/// together with the model instance name they identify a component uniquely. A path is shared,
/// not copied, when it is cloned (planning a large model clones each path several times).
///
/// ```
/// use hoist_core::{Key, ModelPath};
/// let p = ModelPath::root().field("grid").key(Key::from(3)).field("foreman");
/// assert_eq!(p.to_string(), "grid[3].foreman");
/// assert_eq!(p.container().to_string(), "grid[3]");
/// ```
#[derive(Clone)]
pub struct ModelPath {
    segs: Arc<[Seg]>,
    /// [`segs_hash`] of `segs`: a path is hashed many times while planning, computed once.
    hash: u64,
}

/// The hash of a path's segments; a [`ModelPath`] hashes as this number.
pub(crate) fn segs_hash(segs: &[Seg]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(segs)
}

impl PartialEq for ModelPath {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one path share their segments.
        Arc::ptr_eq(&self.segs, &other.segs) || (self.hash == other.hash && self.segs == other.segs)
    }
}

impl Eq for ModelPath {}

impl std::hash::Hash for ModelPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Ord for ModelPath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.segs.cmp(&other.segs)
    }
}

impl PartialOrd for ModelPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for ModelPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.segs.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ModelPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Seg>::deserialize(d).map(ModelPath::from_segs)
    }
}

impl Default for ModelPath {
    fn default() -> Self {
        ModelPath::root()
    }
}

impl ModelPath {
    /// The path of a model's root.
    pub fn root() -> Self {
        ModelPath::from_slice(&[])
    }

    /// Builds a path from segments.
    pub fn from_segs(segs: Vec<Seg>) -> Self {
        ModelPath::from_slice(&segs)
    }

    /// A path of a copy of `segs`.
    pub(crate) fn from_slice(segs: &[Seg]) -> Self {
        ModelPath {
            segs: Arc::from(segs),
            hash: segs_hash(segs),
        }
    }

    /// This path extended by a field.
    #[must_use]
    pub fn field(&self, name: impl Into<Name>) -> Self {
        self.with(Seg::Field(name.into()))
    }

    /// This path extended by a key.
    #[must_use]
    pub fn key(&self, key: Key) -> Self {
        self.with(Seg::Key(key))
    }

    /// This path extended by `seg`.
    fn with(&self, seg: Seg) -> Self {
        let segs: Arc<[Seg]> = self.segs.iter().cloned().chain([seg]).collect();
        ModelPath {
            hash: segs_hash(&segs),
            segs,
        }
    }

    /// The segments.
    pub fn segs(&self) -> &[Seg] {
        &self.segs
    }

    /// True for the model root.
    pub fn is_root(&self) -> bool {
        self.segs.is_empty()
    }

    /// True if `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &ModelPath) -> bool {
        self.segs.starts_with(&prefix.segs)
    }

    /// The parent path (one segment less); the root is its own parent.
    #[must_use]
    pub fn parent(&self) -> Self {
        self.prefix(self.segs.len().saturating_sub(1))
    }

    /// The path of the struct (group or model root) that contains this component: trailing keys
    /// and then one field are removed. `grid[3].foreman` → `grid[3]`; `app[3]` → root.
    #[must_use]
    pub fn container(&self) -> Self {
        self.prefix(container_len(&self.segs))
    }

    /// The first `len` segments.
    fn prefix(&self, len: usize) -> Self {
        ModelPath::from_slice(&self.segs[..len])
    }

    /// The keys on this path, innermost first: for `grid[3].workers[5]`, `[5, 3]`.
    pub fn keys_innermost_first(&self) -> impl Iterator<Item = &Key> {
        self.segs.iter().rev().filter_map(|s| match s {
            Seg::Key(k) => Some(k),
            Seg::Field(_) => None,
        })
    }

    /// The last segment as text: the field name or the key.
    pub fn last_name(&self) -> Option<String> {
        self.segs.last().map(|s| match s {
            Seg::Field(f) => f.to_string(),
            Seg::Key(k) => k.to_string(),
        })
    }

    /// The short name of the component at this path: the field name, or for a multi child
    /// `<template>_<key>` (Actuator's `namesep` rule).
    pub fn short_name(&self, namesep: &str) -> String {
        let mut keys = Vec::new();
        for s in self.segs.iter().rev() {
            match s {
                Seg::Key(k) => keys.push(k.to_string()),
                Seg::Field(f) => {
                    let mut out = f.to_string();
                    for k in keys.iter().rev() {
                        out.push_str(namesep);
                        out.push_str(k);
                    }
                    return out;
                }
            }
        }
        keys.reverse();
        keys.join(namesep)
    }
}

/// The number of segments of the container of a component at `segs` (see
/// [`ModelPath::container`]).
pub(crate) fn container_len(segs: &[Seg]) -> usize {
    let keys = segs
        .iter()
        .rev()
        .take_while(|s| matches!(s, Seg::Key(_)))
        .count();
    segs.len().saturating_sub(keys + 1)
}

impl fmt::Display for ModelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segs.is_empty() {
            return f.write_str("<root>");
        }
        let mut first = true;
        for s in self.segs.iter() {
            match s {
                Seg::Field(n) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                Seg::Key(k) => {
                    f.write_str("[")?;
                    crate::address::write_key(f, k.as_str())?;
                    f.write_str("]")?;
                }
            }
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for ModelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{self}`")
    }
}

/// Where in the user's source a component was declared (captured with `#[track_caller]` or by
/// the derive from the field's span).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SourceLoc {
    /// Source file, as `file!()` gives it.
    pub file: &'static str,
    /// Line number, 1-based; 0 when unknown.
    pub line: u32,
}

impl SourceLoc {
    /// The location of the caller of the function that calls this (use with `#[track_caller]`).
    #[track_caller]
    pub fn caller() -> Self {
        let l = std::panic::Location::caller();
        SourceLoc {
            file: l.file(),
            line: l.line(),
        }
    }

    /// True when a location was recorded.
    pub fn is_known(&self) -> bool {
        self.line != 0
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            f.write_str("<unknown location>")
        }
    }
}
