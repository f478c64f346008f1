//! Host key verification against an OpenSSH `known_hosts` file.
//!
//! The file format is OpenSSH's (`sshd(8)`, "SSH_KNOWN_HOSTS FILE FORMAT"): one key per line,
//! `[marker] hostpatterns keytype base64-key [comment]`, where `hostpatterns` is a
//! comma-separated list of names (`host`, or `[host]:port` for a port other than 22), wildcards
//! (`*`, `?`), negations (`!pattern`) or hashed names (`|1|base64-salt|base64-HMAC-SHA1`, as
//! written by `HashKnownHosts yes` / `ssh-keygen -H`). Lines marked `@revoked` reject their
//! key for every host they name; `@cert-authority` lines are ignored (host certificates are
//! not used).
//!
//! The policy ([`KnownHosts::check`]):
//! - the offered key is one of the keys recorded for the host: accepted;
//! - the host has recorded keys, none of them the offered one (whatever its type): **rejected**
//!   as a changed key, naming the host, the file and line and both SHA256 fingerprints — with
//!   or without trust-on-first-use;
//! - the host is not in the file: rejected naming the host and the offered fingerprint, unless
//!   trust-on-first-use is on, in which case the key is appended to the file (as
//!   `[host]:port keytype base64`) and accepted.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

use crate::error::SshError;

/// The name a host has in `known_hosts`: `host` on port 22, `[host]:port` otherwise.
///
/// ```
/// assert_eq!(hoist_ssh::known_hosts::host_key_name("10.0.0.5", 22), "10.0.0.5");
/// assert_eq!(hoist_ssh::known_hosts::host_key_name("10.0.0.5", 2222), "[10.0.0.5]:2222");
/// ```
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The SHA256 fingerprint of a key as OpenSSH prints it (`SHA256:` + unpadded base64).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// What [`KnownHosts::check`] decided for an accepted key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The key is recorded for the host.
    Known,
    /// The host was unknown; its key has been recorded (trust on first use).
    Learned,
}

/// A `known_hosts` file and the policy for hosts that are not in it.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    tofu: bool,
    /// Serialises check-and-append, so that two connections to the same unknown host record
    /// its key once.
    lock: Mutex<()>,
}

/// One parsed line.
struct Entry {
    line: usize,
    revoked: bool,
    patterns: String,
    key: PublicKey,
}

impl KnownHosts {
    /// Verifies against `path`; `tofu` records the keys of unknown hosts instead of rejecting
    /// them.
    pub fn new(path: impl Into<PathBuf>, tofu: bool) -> Self {
        KnownHosts {
            path: path.into(),
            tofu,
            lock: Mutex::new(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if unknown hosts are trusted on first use.
    pub fn trust_on_first_use(&self) -> bool {
        self.tofu
    }

    /// Checks the key `key` offered by `host:port` (see the module documentation).
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<HostKeyStatus, SshError> {
        let label = crate::error::host_label(host, port);
        let name = host_key_name(host, port);
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries = self.read()?;
        let offered = key.key_data();
        if let Some(e) = entries
            .iter()
            .find(|e| e.revoked && e.key.key_data() == offered)
        {
            return Err(SshError::HostKeyRevoked {
                host: label,
                fingerprint: fingerprint(key),
                file: self.path.clone(),
                line: e.line,
            });
        }
        let mine: Vec<&Entry> = entries
            .iter()
            .filter(|e| !e.revoked && matches_host(&e.patterns, &name))
            .collect();
        if mine.iter().any(|e| e.key.key_data() == offered) {
            return Ok(HostKeyStatus::Known);
        }
        if let Some(first) = mine.first() {
            return Err(SshError::HostKeyChanged {
                host: label,
                file: self.path.clone(),
                line: first.line,
                known: mine
                    .iter()
                    .map(|e| format!("{} ({})", fingerprint(&e.key), e.key.algorithm()))
                    .collect(),
                offered: format!("{} ({})", fingerprint(key), key.algorithm()),
            });
        }
        if !self.tofu {
            return Err(SshError::HostKeyUnknown {
                host: label,
                file: self.path.clone(),
                offered: format!("{} ({})", fingerprint(key), key.algorithm()),
            });
        }
        self.append(&name, key)?;
        tracing::info!(
            host = %label,
            fingerprint = %fingerprint(key),
            file = %self.path.display(),
            "trusting a new host key on first use"
        );
        Ok(HostKeyStatus::Learned)
    }

    /// The key types recorded for `host:port` (`ssh-ed25519`, `ssh-rsa`, ...), so that the
    /// client can ask for a host key of a known type first, as OpenSSH does. Best effort: an
    /// unreadable file gives none (the check itself reports it).
    pub fn known_key_types(&self, host: &str, port: u16) -> Vec<String> {
        let name = host_key_name(host, port);
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut types: Vec<String> = Vec::new();
        for e in self.read().unwrap_or_default() {
            let t = key_type(&e.key.algorithm());
            if !e.revoked && matches_host(&e.patterns, &name) && !types.contains(&t) {
                types.push(t);
            }
        }
        types
    }

    fn read(&self) -> Result<Vec<Entry>, SshError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.file_err(&e.to_string())),
        };
        Ok(parse(&text))
    }

    fn append(&self, name: &str, key: &PublicKey) -> Result<(), SshError> {
        let plain = PublicKey::new(key.key_data().clone(), "");
        let encoded = plain
            .to_openssh()
            .map_err(|e| self.file_err(&format!("cannot encode the host key: {e}")))?;
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let needs_newline = std::fs::read(&self.path)
                .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
                .unwrap_or(false);
            let mut line = String::new();
            if needs_newline {
                line.push('\n');
            }
            line.push_str(name);
            line.push(' ');
            line.push_str(encoded.trim());
            line.push('\n');
            f.write_all(line.as_bytes())?;
            f.sync_data()
        };
        write().map_err(|e| self.file_err(&format!("cannot record a host key: {e}")))
    }

    fn file_err(&self, message: &str) -> SshError {
        SshError::KnownHosts {
            file: self.path.clone(),
            message: message.to_string(),
        }
    }
}

/// The key type of an algorithm: RSA signature variants (`rsa-sha2-256`, ...) are `ssh-rsa`.
pub(crate) fn key_type(a: &russh::keys::Algorithm) -> String {
    match a {
        russh::keys::Algorithm::Rsa { .. } => "ssh-rsa".to_string(),
        other => other.as_str().to_string(),
    }
}

/// Parses a `known_hosts` text; lines that do not parse (and `@cert-authority` lines) are
/// skipped with a debug log.
fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if let Some(marker) = first.strip_prefix('@') {
            match marker {
                "revoked" => revoked = true,
                _ => continue, // @cert-authority: host certificates are not used
            }
            first = fields.next().unwrap_or_default();
        }
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            tracing::debug!(line = i + 1, "known_hosts: skipping a short line");
            continue;
        };
        match PublicKey::from_openssh(&format!("{kind} {b64}")) {
            Ok(key) => out.push(Entry {
                line: i + 1,
                revoked,
                patterns: first.to_string(),
                key,
            }),
            Err(e) => {
                tracing::debug!(line = i + 1, error = %e, "known_hosts: skipping a key that does not parse");
            }
        }
    }
    out
}

/// True if `name` matches the comma-separated `patterns` (and no negated pattern).
fn matches_host(patterns: &str, name: &str) -> bool {
    let mut hit = false;
    for p in patterns.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if p.starts_with("|1|") {
            hit |= hashed_matches(p, name);
        } else {
            hit |= glob(p, name);
        }
    }
    hit
}

/// `|1|salt|hash`: HMAC-SHA1 of the name keyed with the salt.
fn hashed_matches(entry: &str, name: &str) -> bool {
    let mut parts = entry.split('|').skip(2);
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// The hashed form of `name` with `salt`, as `ssh-keygen -H` writes it.
pub fn hash_host_name(name: &str, salt: &[u8]) -> String {
    let mac = Hmac::<Sha1>::new_from_slice(salt).expect("HMAC takes keys of any length");
    let hash = mac.chain_update(name.as_bytes()).finalize().into_bytes();
    format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(&hash))
}

/// OpenSSH patterns: `*` any run of characters, `?` one character, case-insensitive.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::TempDir::new().unwrap();
        let p = d.path().join("known_hosts");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn patterns() {
        assert!(glob("*.example.com", "a.example.com"));
        assert!(glob("10.0.0.?", "10.0.0.5"));
        assert!(!glob("10.0.0.?", "10.0.0.55"));
        assert!(glob("[10.0.0.5]:2222", "[10.0.0.5]:2222"));
        assert!(matches_host("a,b,[c]:22", "b"));
        assert!(!matches_host("*.x,!bad.x", "bad.x"));
        assert!(matches_host("*.x,!bad.x", "good.x"));
        // A non-standard port only matches `[host]:port`.
        assert!(!matches_host("10.0.0.5", "[10.0.0.5]:2222"));
    }

    #[test]
    fn known_changed_and_unknown() {
        let (_d, p) = file(&format!(
            "# comment\n\n[127.0.0.1]:2222 {K1}\n@cert-authority * {K2}\nother {K2} comment here\n"
        ));
        let kh = KnownHosts::new(&p, false);
        assert_eq!(
            kh.check("127.0.0.1", 2222, &key(K1)).unwrap(),
            HostKeyStatus::Known
        );
        let e = kh.check("127.0.0.1", 2222, &key(K2)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("127.0.0.1:2222"), "{msg}");
        assert!(msg.contains(&fingerprint(&key(K1))), "{msg}");
        assert!(msg.contains(&fingerprint(&key(K2))), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        // The same host on port 22 is another host.
        let e = kh.check("127.0.0.1", 22, &key(K1)).unwrap_err();
        assert!(matches!(e, SshError::HostKeyUnknown { .. }), "{e}");
        assert!(e.to_string().contains(&fingerprint(&key(K1))));
        assert_eq!(
            kh.check("other", 22, &key(K2)).unwrap(),
            HostKeyStatus::Known
        );
    }

    #[test]
    fn hashed_entries() {
        let name = host_key_name("10.1.2.3", 2200);
        let hashed = hash_host_name(&name, b"0123456789abcdefghij");
        assert!(hashed_matches(&hashed, &name));
        assert!(!hashed_matches(&hashed, "10.1.2.3"));
        let (_d, p) = file(&format!("{hashed} {K1}\n"));
        let kh = KnownHosts::new(&p, false);
        assert_eq!(
            kh.check("10.1.2.3", 2200, &key(K1)).unwrap(),
            HostKeyStatus::Known
        );
        assert!(kh.check("10.1.2.3", 2200, &key(K2)).is_err());
        // An entry hashed by OpenSSH, from russh's test suite.
        assert!(hashed_matches(
            "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak=",
            "example.com"
        ));
    }

    #[test]
    fn trust_on_first_use_records_once_and_then_verifies() {
        let (_d, p) = file(&format!("x {K2}"));
        let kh = KnownHosts::new(&p, true);
        assert_eq!(
            kh.check("h", 2222, &key(K1)).unwrap(),
            HostKeyStatus::Learned
        );
        assert_eq!(kh.check("h", 2222, &key(K1)).unwrap(), HostKeyStatus::Known);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, format!("x {K2}\n[h]:2222 {K1}\n"));
        // A changed key is not "first use".
        assert!(matches!(
            kh.check("h", 2222, &key(K2)).unwrap_err(),
            SshError::HostKeyChanged { .. }
        ));
        // A missing file is created.
        let p2 = p.with_file_name("sub/kh");
        let kh = KnownHosts::new(&p2, true);
        assert_eq!(kh.check("h", 22, &key(K1)).unwrap(), HostKeyStatus::Learned);
        assert_eq!(std::fs::read_to_string(&p2).unwrap(), format!("h {K1}\n"));
    }

    #[test]
    fn known_key_types_of_a_host() {
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDCThKkffsgeKiAKvET1OSaBau+pUvQFzdhW6CjSQ05pgG/SzR7d0xkoBJL3KCoRGpNvZAFASHcH5dMMjMe2iUO2BsIlw1JsddLjpoukuCCIn2+tK7A/dQ2F9H5rGWFRU3R8utn88HBnJwDWK3hAsPzKMg+4s7tGkUyAXrLwAxOVQ==";
        let (_d, p) = file(&format!("h {K1}\nh,other {rsa}\nother {K2}\n"));
        let kh = KnownHosts::new(&p, false);
        assert_eq!(kh.known_key_types("h", 22), ["ssh-ed25519", "ssh-rsa"]);
        assert_eq!(kh.known_key_types("nope", 22), Vec::<String>::new());
    }

    #[test]
    fn revoked_keys_are_rejected() {
        let (_d, p) = file(&format!("@revoked * {K1}\nh {K1}\n"));
        let kh = KnownHosts::new(&p, true);
        let e = kh.check("h", 22, &key(K1)).unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }
}
