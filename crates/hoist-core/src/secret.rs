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
