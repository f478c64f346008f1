//! Secret values: redacted wherever they could be shown.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// The text every secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// A secret string (a password, a key, a secret variable). `Debug`, `Display` and `Serialize`
/// all print [`REDACTED`]; only [`Secret::expose`] gives the value, and nothing in hoist writes
/// an exposed value to a log, an event, a report or the state.
///
/// ```
/// use hoist_core::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
/// assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }

    /// The value. Pass it only to what needs it (an SSH login, a sudo prompt, a task's
    /// environment), never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// The shortest secret hoist accepts: every occurrence of a secret is hidden from output, so
/// a shorter one (`1`, `abc`) would hide unrelated text too (ids, numbers, words).
pub const MIN_SECRET_LEN: usize = 6;

/// Why `s` cannot be a secret, if it is too short to be hidden from output without mangling
/// unrelated text (an empty value is fine: there is nothing to hide).
///
/// ```
/// use hoist_core::secret::{Secret, too_short};
/// assert!(too_short(&Secret::new("1")).is_some());
/// assert!(too_short(&Secret::new("hunter2")).is_none());
/// ```
pub fn too_short(s: &Secret) -> Option<String> {
    let n = s.expose().chars().count();
    (n > 0 && n < MIN_SECRET_LEN).then(|| {
        format!(
            "a secret of {n} character{} cannot be hidden from output without hiding unrelated text too (every occurrence is replaced): use at least {MIN_SECRET_LEN}",
            if n == 1 { "" } else { "s" }
        )
    })
}

/// Replaces every occurrence of the given secret values in `text` by [`REDACTED`]. Used on
/// captured output, command lines and error messages before they reach events or reports.
///
/// ```
/// use hoist_core::secret::{scrub, Secret};
/// let s = [Secret::new("hunter2")];
/// assert_eq!(scrub("pw=hunter2!", &s), "pw=<redacted>!");
/// ```
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.expose().is_empty() && out.contains(s.expose()) {
            out = out.replace(s.expose(), REDACTED);
        }
    }
    out
}
