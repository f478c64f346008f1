//! [`SshTransport`]: the [`hoist_exec::Transport`] of one host over its shared connection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hoist_core::Credentials;
use hoist_exec::{
    ExecOutput, ExecRequest, HostFile, Program, Transport, TransportError, request_to_shell,
};
use tracing::Instrument as _;

use crate::conn::Connection;
use crate::connector::{ConnKey, Inner};

/// A host reached over SSH. Cheap to share: every transport for the same (address, port,
/// user, jump host) uses the connector's one connection to it, and reconnects through the
/// connector if that connection has ended (keepalive timeout, server restart).
///
/// - [`exec`](Transport::exec): an exec channel per request (never an interactive shell),
///   the request turned into one command line with [`request_to_shell`]; exit status and
///   signal from the protocol; stdout and stderr apart; stdin fed then closed. On timeout the
///   program is sent `KILL`, the channel is closed and [`TransportError::Timeout`] returned.
/// - files and paths: SFTP on one channel per connection, opened on first use. Relative paths
///   are relative to the login directory.
pub struct SshTransport {
    inner: Arc<Inner>,
    key: ConnKey,
    creds: Credentials,
    label: String,
    conn: Mutex<Arc<Connection>>,
    default_timeout: Option<Duration>,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("host", &self.label)
            .field("user", &self.key.user)
            .field("jump", &self.key.jump)
            .finish_non_exhaustive()
    }
}

impl SshTransport {
    pub(crate) fn new(
        inner: Arc<Inner>,
        key: ConnKey,
        creds: Credentials,
        conn: Arc<Connection>,
        default_timeout: Option<Duration>,
    ) -> Self {
        SshTransport {
            inner,
            label: conn.label.clone(),
            key,
            creds,
            conn: Mutex::new(conn),
            default_timeout,
        }
    }

    /// The login user.
    pub fn user(&self) -> &str {
        &self.key.user
    }

    /// True while the underlying connection is open.
    pub fn is_connected(&self) -> bool {
        !self.current().is_closed()
    }

    fn current(&self) -> Arc<Connection> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The live connection, reconnecting (through the connector's cache) if it has ended.
    async fn conn(&self) -> Result<Arc<Connection>, TransportError> {
        let c = self.current();
        if !c.is_closed() {
            return Ok(c);
        }
        tracing::debug!(host = %self.label, "connection ended; reconnecting");
        let fresh = self
            .inner
            .session(&self.key, &self.creds)
            .await
            .map_err(|e| TransportError::Connect {
                host: self.label.clone(),
                message: match &e {
                    crate::SshError::Connect { message, .. } => message.clone(),
                    other => other.to_string(),
                },
            })?;
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }
}

#[async_trait::async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.label
    }

    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        if matches!(&req.program, Program::Argv(a) if a.is_empty()) {
            return Err(TransportError::BadRequest {
                host: self.label.clone(),
                message: "empty argv: no program to run".into(),
            });
        }
        // The command line may hold secret values (environment): it is never logged.
        let span = tracing::debug_span!("ssh_exec", host = %self.label);
        async {
            let conn = self.conn().await?;
            let line = request_to_shell(req);
            let limit = req.timeout.or(self.default_timeout);
            let out = conn.exec(&line, req.stdin.as_deref(), limit).await;
            match &out {
                Ok(o) => tracing::debug!(status = %o.status_text(), "done"),
                Err(e) => tracing::debug!(error = %e, "failed"),
            }
            out
        }
        .instrument(span)
        .await
    }

    async fn put_file(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), TransportError> {
        let span =
            tracing::debug_span!("ssh_put_file", host = %self.label, path, len = bytes.len());
        async {
            let suffix = unique_suffix();
            self.conn()
                .await?
                .put_file(path, bytes, mode, &suffix)
                .await
        }
        .instrument(span)
        .await
    }

    async fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), TransportError> {
        self.conn().await?.mkdir_all(path, mode).await
    }

    async fn exists(&self, path: &str) -> Result<bool, TransportError> {
        self.conn().await?.exists(path).await
    }

    async fn is_dir(&self, path: &str) -> Result<bool, TransportError> {
        self.conn().await?.is_dir(path).await
    }

    async fn remove_file(&self, path: &str) -> Result<(), TransportError> {
        self.conn().await?.remove_file(path).await
    }

    async fn read_file(
        &self,
        path: &str,
        max_len: u64,
    ) -> Result<Option<HostFile>, TransportError> {
        self.conn().await?.read_file(path, max_len).await
    }

    fn temp_dir(&self) -> String {
        "/tmp".into()
    }
}

/// Unique within this process and time: pid, a counter and the clock's nanoseconds.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos:08x}", std::process::id())
}
