//! Secret inputs in recorded specs: kept as keyed digests, never in clear.
//!
//! A string of a resolved spec that holds a secret value is recorded as
//! `{"$secret": "hmac-sha256:<hex>", "key": "<key id>"}`: HMAC-SHA256 under a key kept
//! outside the state, over a domain (`hoist/v1`, the system, the resource, the field's JSON
//! pointer) and the value, so equal secrets in two fields give different digests and whoever
//! holds the state cannot confirm guesses. The key is `HOIST_STATE_KEY` if set, else the file
//! `.hoist/state.key` (made, mode 0600, by the first run that needs it): everyone who plans
//! against one state shares it. Without the key (or with another one) a recorded secret
//! cannot be compared: the diff says so, and never replaces because of it.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use hoist_core::Secret;
use serde_json::{Value, json};
use sha2::Sha256;

/// The environment variable that holds the digest key.
pub const STATE_KEY_ENV: &str = "HOIST_STATE_KEY";

/// The key file, relative to the orchestration's directory.
pub const STATE_KEY_FILE: &str = ".hoist/state.key";

/// The key that digests secret inputs, or its absence.
#[derive(Clone)]
pub(crate) struct Digester {
    key: Option<Vec<u8>>,
    file: PathBuf,
    /// Never makes a key (for a diff that only reads): without one, secrets digest to a
    /// value that compares with nothing.
    read_only: bool,
}

impl std::fmt::Debug for Digester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digester")
            .field("key_id", &self.key_id())
            .finish()
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> String {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The recorded form of a secret: `{"$secret": …, "key": …}`.
fn is_digest(v: &Value) -> Option<(&str, &str)> {
    let o = v.as_object()?;
    Some((o.get("$secret")?.as_str()?, o.get("key")?.as_str()?))
}

impl Digester {
    /// The key from the environment or the key file under `dir`, if there is one (reading
    /// never creates the file).
    pub(crate) fn load(dir: &Path) -> Self {
        let file = dir.join(STATE_KEY_FILE);
        let key = std::env::var(STATE_KEY_ENV)
            .ok()
            .filter(|k| !k.is_empty())
            .map(String::into_bytes)
            .or_else(|| std::fs::read(&file).ok().filter(|k| !k.is_empty()));
        Digester {
            key,
            file,
            read_only: false,
        }
    }

    /// This digester, never making a key.
    pub(crate) fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The key, made and saved in the key file if there is none yet (for a run that records
    /// a secret).
    fn key_or_make(&mut self) -> Result<&[u8], String> {
        if self.key.is_none() {
            let mut k = [0u8; 32];
            getrandom::getrandom(&mut k).map_err(|e| format!("no randomness for a key: {e}"))?;
            let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&self.file, hex.as_bytes())
                .map_err(|e| format!("cannot save the state key {}: {e}", self.file.display()))?;
            self.key = Some(hex.into_bytes());
        }
        Ok(self.key.as_deref().unwrap_or_default())
    }

    /// The key's id (a digest of the key under a fixed label), if there is a key.
    pub(crate) fn key_id(&self) -> Option<String> {
        let k = self.key.as_deref()?;
        Some(hmac(k, &[b"hoist-key-id"])[..16].to_string())
    }

    /// The recorded form of secret `value` at `pointer` of resource `resource` of `system`.
    pub(crate) fn digest(
        &mut self,
        system: &str,
        resource: &str,
        pointer: &str,
        value: &str,
    ) -> Result<Value, String> {
        if self.read_only && self.key.is_none() {
            return Ok(json!({ "$secret": null, "key": null }));
        }
        let key = self.key_or_make()?.to_vec();
        let mac = hmac(
            &key,
            &[
                b"hoist/v1",
                system.as_bytes(),
                resource.as_bytes(),
                pointer.as_bytes(),
                value.as_bytes(),
            ],
        );
        Ok(json!({ "$secret": format!("hmac-sha256:{mac}"), "key": self.key_id() }))
    }

    /// True if `recorded` holds a digest this key cannot check (no key, or another one).
    pub(crate) fn cannot_compare(&self, recorded: &Value) -> bool {
        let mine = self.key_id();
        let mut foreign = false;
        walk(recorded, &mut |v| {
            if let Some((_, key)) = is_digest(v) {
                foreign |= mine.as_deref() != Some(key);
            }
        });
        foreign
    }
}

/// Calls `f` on every value inside `v` (containers before their contents).
fn walk(v: &Value, f: &mut impl FnMut(&Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Writes `bytes` to `path` (and its directory), readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(mut f) => std::io::Write::write_all(&mut f, bytes),
        // Another run made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// `spec` with every string that holds one of `secrets` replaced by its digest.
pub(crate) fn digest_secrets(
    spec: &Value,
    secrets: &[Secret],
    d: &mut Digester,
    system: &str,
    resource: &str,
) -> Result<Value, String> {
    fn go(
        v: &Value,
        at: &str,
        secrets: &[Secret],
        d: &mut Digester,
        sys: &str,
        res: &str,
    ) -> Result<Value, String> {
        Ok(match v {
            Value::String(s)
                if secrets
                    .iter()
                    .any(|x| !x.expose().is_empty() && s.contains(x.expose())) =>
            {
                d.digest(sys, res, at, s)?
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| go(x, &format!("{at}/{i}"), secrets, d, sys, res))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| {
                        let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                        Ok((k.clone(), go(x, &p, secrets, d, sys, res)?))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
    go(spec, "", secrets, d, system, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(k: &str) -> Digester {
        Digester {
            key: Some(k.as_bytes().to_vec()),
            file: PathBuf::from("/nonexistent/state.key"),
            read_only: false,
        }
    }

    #[test]
    fn a_secret_is_recorded_as_a_keyed_digest_of_its_field() {
        let mut d = with_key("k1");
        let spec = json!({"user_data": "password=hunter22", "size": "small"});
        let secrets = [Secret::new("hunter22")];
        let a = digest_secrets(&spec, &secrets, &mut d, "s", "web/app").unwrap();
        assert!(!a.to_string().contains("hunter22"), "{a}");
        assert_eq!(a["size"], "small");
        let (mac, key) = is_digest(&a["user_data"]).unwrap();
        assert!(mac.starts_with("hmac-sha256:"));
        assert_eq!(Some(key.to_string()), d.key_id());
        // Same input, same digest; another field or another key, another digest.
        assert_eq!(
            digest_secrets(&spec, &secrets, &mut d, "s", "web/app").unwrap(),
            a
        );
        let other = digest_secrets(&spec, &secrets, &mut d, "s", "web/db").unwrap();
        assert_ne!(other["user_data"], a["user_data"]);
        let mut d2 = with_key("k2");
        let b = digest_secrets(&spec, &secrets, &mut d2, "s", "web/app").unwrap();
        assert_ne!(b["user_data"], a["user_data"]);
        assert!(d2.cannot_compare(&a["user_data"]));
        assert!(!d.cannot_compare(&a["user_data"]));
    }

    #[test]
    fn the_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Digester::load(dir.path());
        if std::env::var(STATE_KEY_ENV).is_ok() {
            return;
        }
        assert!(d.key_id().is_none());
        let a = d.digest("s", "k", "/f", "v").unwrap();
        let file = dir.path().join(STATE_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut again = Digester::load(dir.path());
        assert_eq!(again.digest("s", "k", "/f", "v").unwrap(), a);
    }
}
