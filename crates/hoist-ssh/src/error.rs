//! Errors of the SSH transport. Every message names the host (`address:port`).

use std::path::PathBuf;
use std::time::Duration;

/// `address:port`, with IPv6 addresses in brackets.
pub(crate) fn host_label(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The TCP connection or the SSH handshake failed.
    #[error("cannot connect to {host}: {message}")]
    Connect {
        /// `address:port`.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// Connecting (TCP, handshake and authentication) took longer than the connect timeout.
    #[error("timed out after {after:?} connecting to {host} (no SSH answer: host down or hung?)")]
    Timeout {
        /// `address:port`.
        host: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The host is not in the known_hosts file and trust-on-first-use is off.
    #[error(
        "host key verification failed: {host} is not in {} and trust-on-first-use is off; \
         it offered {offered}. Add it to that file if this is the right key (e.g. \
         `ssh-keyscan` from a trusted network), or enable trust-on-first-use",
        file.display()
    )]
    HostKeyUnknown {
        /// `address:port`.
        host: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The offered key: SHA256 fingerprint and type.
        offered: String,
    },
    /// The host offered a key other than the one(s) recorded for it: connection aborted.
    #[error(
        "host key verification failed: the host key of {host} has CHANGED (man-in-the-middle \
         attack, or the host was re-installed): {} line {line} records {}, but the host offered \
         {offered}. Connection aborted; if the change is expected, remove the old entry",
        file.display(), known.join(", ")
    )]
    HostKeyChanged {
        /// `address:port`.
        host: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The first line recording a key for the host.
        line: usize,
        /// The recorded keys: SHA256 fingerprint and type.
        known: Vec<String>,
        /// The offered key: SHA256 fingerprint and type.
        offered: String,
    },
    /// The offered key is marked `@revoked`.
    #[error(
        "host key verification failed: {host} offered the key {fingerprint}, which {} line {line} marks as revoked",
        file.display()
    )]
    HostKeyRevoked {
        /// `address:port`.
        host: String,
        /// Its SHA256 fingerprint.
        fingerprint: String,
        /// The known_hosts file.
        file: PathBuf,
        /// The `@revoked` line.
        line: usize,
    },
    /// The known_hosts file could not be read or written.
    #[error("known_hosts file {}: {message}", file.display())]
    KnownHosts {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No authentication method was accepted.
    #[error("authentication failed for {user}@{host}: tried {}", if tried.is_empty() { "nothing (no key, agent or password available)".to_string() } else { tried.join(", ") })]
    Auth {
        /// `address:port`.
        host: String,
        /// The login user.
        user: String,
        /// The methods tried ("key /path", "agent key SHA256:...", "password").
        tried: Vec<String>,
    },
    /// A private key file could not be loaded.
    #[error("cannot use private key {} for {host}: {message}", path.display())]
    Key {
        /// `address:port`.
        host: String,
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The jump host could not be used.
    #[error("jump host {jump} for {host}: {source}")]
    Jump {
        /// `address:port` of the target.
        host: String,
        /// The jump host as given.
        jump: String,
        /// What went wrong there.
        source: Box<SshError>,
    },
    /// A setting is unusable (e.g. a jump host that does not parse).
    #[error("{host}: {message}")]
    Config {
        /// `address:port`.
        host: String,
        /// What is wrong.
        message: String,
    },
}

impl SshError {
    /// The kind of connection failure this is (what decides whether to try again).
    pub fn failure(&self) -> hoist_exec::ConnectFailure {
        use hoist_exec::ConnectFailure as F;
        match self {
            SshError::Connect { .. } | SshError::Timeout { .. } => F::Unreachable,
            SshError::HostKeyUnknown { .. }
            | SshError::HostKeyChanged { .. }
            | SshError::HostKeyRevoked { .. } => F::HostKey,
            SshError::Auth { .. } => F::Refused,
            SshError::Jump { source, .. } => source.failure(),
            SshError::KnownHosts { .. } | SshError::Key { .. } | SshError::Config { .. } => {
                F::Config
            }
        }
    }

    /// True for failures worth retrying (network errors, timeouts, handshakes cut short);
    /// false for host key, authentication, key and configuration errors.
    pub fn is_transient(&self) -> bool {
        self.failure() == hoist_exec::ConnectFailure::Unreachable
    }
}
