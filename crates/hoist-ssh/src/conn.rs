//! One authenticated SSH connection: exec channels under a channel cap, and one shared SFTP
//! channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use hoist_exec::{ExecOutput, HostFile, TransportError};
use russh::client::{Handle, Msg};
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, ChannelWriteHalf, Sig};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::SshError;
use crate::known_hosts::KnownHosts;

/// The russh event handler of a connection: verifies the host key, nothing else.
pub(crate) struct Client {
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) known_hosts: Arc<KnownHosts>,
}

/// A handler error: a russh error, or a host key rejected by the policy.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Russh(russh::Error),
    HostKey(SshError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

impl russh::client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A certificate is verified by the key it certifies, like any other host key.
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => {
                russh::keys::PublicKey::new(c.public_key().clone(), "")
            }
        };
        self.known_hosts
            .check(&self.address, self.port, &key)
            .map(|_| true)
            .map_err(HandlerError::HostKey)
    }
}

/// An authenticated connection to one host.
pub(crate) struct Connection {
    pub(crate) label: String,
    pub(crate) handle: Handle<Client>,
    /// Permits for session channels (exec channels and the SFTP channel): fewer than the
    /// server's `MaxSessions`.
    channels: Arc<Semaphore>,
    sftp: tokio::sync::Mutex<Option<Arc<Sftp>>>,
    sftp_timeout: Duration,
    /// The jump host's connection, kept open as long as this one.
    _jump: Option<Arc<Connection>>,
}

impl Connection {
    pub(crate) fn new(
        label: String,
        handle: Handle<Client>,
        max_channels: usize,
        sftp_timeout: Duration,
        jump: Option<Arc<Connection>>,
    ) -> Self {
        Connection {
            label,
            handle,
            channels: Arc::new(Semaphore::new(max_channels)),
            sftp: tokio::sync::Mutex::new(None),
            sftp_timeout,
            _jump: jump,
        }
    }

    /// True once the connection has ended (closed by either side, keepalive timeout).
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    fn lost(&self, what: &str, e: &dyn std::fmt::Display) -> TransportError {
        if self.is_closed() {
            TransportError::Connect {
                host: self.label.clone(),
                message: format!("connection lost ({what}: {e})"),
            }
        } else {
            TransportError::Io {
                host: self.label.clone(),
                path: None,
                message: format!("{what}: {e}"),
            }
        }
    }

    /// Runs `line` on an exec channel; see [`hoist_exec::Transport::exec`].
    ///
    /// The line is prefixed with a `printf` of the shell's process id to stderr (removed from
    /// the output again): sshd makes the session's shell a process group leader, so on timeout
    /// the whole group can be killed from a second channel. (OpenSSH ignores `signal` requests
    /// on sessions without privilege separation, e.g. root logins; the request is sent too.)
    pub(crate) async fn exec(
        self: &Arc<Self>,
        line: &str,
        stdin: Option<&[u8]>,
        limit: Option<Duration>,
    ) -> Result<ExecOutput, TransportError> {
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|e| self.lost("channel limit", &e))?;
        // The time limit counts from here: waiting for a free channel is not the program's time.
        let deadline = limit.map(|l| Instant::now() + l);
        let timeout = |after| TransportError::Timeout {
            host: self.label.clone(),
            after,
        };
        let channel = match with_deadline(deadline, self.handle.channel_open_session()).await {
            None => return Err(timeout(limit.unwrap_or_default())),
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                return Err(if self.is_closed() {
                    self.lost("opening a channel", &e)
                } else {
                    TransportError::Spawn {
                        host: self.label.clone(),
                        program: "(exec channel)".into(),
                        message: format!("cannot open a session channel: {e}"),
                    }
                });
            }
        };
        let (mut rd, wr) = channel.split();
        // Kills the program and closes the channel if this call ends early (time limit, or
        // the caller dropped it): no program outlives its request, no channel leaks.
        let guard = AbortGuard {
            conn: self.clone(),
            wr: Some(wr),
            pgid: Arc::new(AtomicU32::new(0)),
            armed: AtomicBool::new(true),
        };
        let wr = guard.wr.as_ref().expect("set above");
        let wrapped = format!("printf '{PGID_MARK}%s\\n' \"$$\" >&2; {line}");
        let run = async {
            wr.exec(true, wrapped.as_bytes())
                .await
                .map_err(|e| self.lost("sending the command", &e))?;
            let writer = async {
                if let Some(bytes) = stdin {
                    // A program that does not read its input: not an error.
                    let _ = wr.data(bytes).await;
                }
                let _ = wr.eof().await;
            };
            let reader = read_output(&mut rd, &guard.pgid);
            tokio::pin!(writer, reader);
            let mut fed = false;
            loop {
                tokio::select! {
                    r = &mut reader => break r,
                    () = &mut writer, if !fed => fed = true,
                }
            }
        };
        let result = with_deadline(deadline, run).await;
        drop(rd);
        match result {
            Some(Ok(Done::Exited(out))) => {
                guard.disarm();
                Ok(out)
            }
            Some(Ok(Done::Refused)) => {
                guard.disarm();
                let _ = wr.close().await;
                Err(TransportError::Spawn {
                    host: self.label.clone(),
                    program: "(exec channel)".into(),
                    message: "the server refused to run the command".into(),
                })
            }
            Some(Ok(Done::Lost(partial))) => {
                guard.disarm();
                Err(self.lost(
                    "the channel closed without an exit status",
                    &format!(
                        "{} bytes of output so far",
                        partial.stdout.len() + partial.stderr.len()
                    ),
                ))
            }
            Some(Err(e)) => {
                guard.disarm();
                let _ = wr.close().await;
                Err(e)
            }
            None => {
                guard.abort().await;
                Err(timeout(limit.unwrap_or_default()))
            }
        }
    }

    /// Kills the process group `pgid` from a new channel: `TERM` (which `sudo` relays to its
    /// command), then `KILL` a second later. Best effort, bounded.
    async fn kill_group(&self, pgid: u32) {
        let line = format!(
            "kill -TERM -- -{pgid} 2>/dev/null; sleep 1; kill -KILL -- -{pgid} 2>/dev/null; exit 0"
        );
        let kill = async {
            let mut ch = self.handle.channel_open_session().await.ok()?;
            ch.exec(false, line.as_bytes()).await.ok()?;
            let _ = ch.eof().await;
            while let Some(m) = ch.wait().await {
                if matches!(m, ChannelMsg::Close) {
                    break;
                }
            }
            Some(())
        };
        if tokio::time::timeout(Duration::from_secs(5), kill)
            .await
            .is_err()
        {
            tracing::debug!(host = %self.label, pgid, "could not kill a timed-out command");
        }
    }

    /// The SFTP session, opened on first use (it holds one channel permit while open).
    async fn sftp(&self) -> Result<Arc<Sftp>, TransportError> {
        let mut slot = self.sftp.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| !s.broken.load(Ordering::Relaxed)) {
            return Ok(s.clone());
        }
        *slot = None;
        let permit = self
            .channels
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| self.lost("channel limit", &e))?;
        let open = async {
            let mut ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| self.lost("opening the SFTP channel", &e))?;
            ch.request_subsystem(true, "sftp")
                .await
                .map_err(|e| self.lost("requesting the SFTP subsystem", &e))?;
            loop {
                match ch.wait().await {
                    Some(ChannelMsg::Success) => break,
                    Some(ChannelMsg::Failure) | Some(ChannelMsg::Close) | None => {
                        let _ = ch.close().await;
                        return Err(TransportError::Io {
                            host: self.label.clone(),
                            path: None,
                            message: "the server refused the SFTP subsystem".into(),
                        });
                    }
                    Some(_) => {}
                }
            }
            let cfg = russh_sftp::client::Config {
                request_timeout_secs: self.sftp_timeout.as_secs().max(1),
                ..Default::default()
            };
            let mut raw = RawSftpSession::new_with_config(ch.into_stream(), cfg);
            let version = raw
                .init()
                .await
                .map_err(|e| self.lost("starting SFTP", &e))?;
            let has = |name: &str| version.extensions.get(name).is_some_and(|v| v == "1");
            let posix_rename = has("posix-rename@openssh.com");
            let mut write_len = 32 * 1024;
            if has(russh_sftp::extensions::LIMITS)
                && let Ok(l) = raw.limits().await
            {
                let limits = russh_sftp::client::rawsession::Limits::from(l);
                if let Some(w) = limits.write_len {
                    write_len = write_len.min(usize::try_from(w).unwrap_or(usize::MAX));
                }
                raw.set_limits(limits);
            }
            Ok(Sftp {
                raw,
                posix_rename,
                write_len: write_len.max(1024),
                broken: AtomicBool::new(false),
                _permit: permit,
            })
        };
        let sftp = tokio::time::timeout(self.sftp_timeout, open)
            .await
            .map_err(|_| TransportError::Timeout {
                host: self.label.clone(),
                after: self.sftp_timeout,
            })??;
        let sftp = Arc::new(sftp);
        *slot = Some(sftp.clone());
        Ok(sftp)
    }

    fn sftp_err(&self, sftp: &Sftp, path: &str, e: &SftpError) -> TransportError {
        if !matches!(e, SftpError::Status(_)) {
            // The session itself failed: open a new one next time.
            sftp.broken.store(true, Ordering::Relaxed);
        }
        if matches!(e, SftpError::Timeout) {
            return TransportError::Timeout {
                host: self.label.clone(),
                after: self.sftp_timeout,
            };
        }
        if self.is_closed() {
            return self.lost(&format!("SFTP on {path}"), e);
        }
        let message = match e {
            SftpError::Status(s) if s.error_message.is_empty() => s.status_code.to_string(),
            SftpError::Status(s) => format!("{} ({})", s.error_message, s.status_code),
            other => other.to_string(),
        };
        TransportError::Io {
            host: self.label.clone(),
            path: Some(path.to_string()),
            message,
        }
    }

    /// `stat` (following links): `None` if the path does not exist.
    async fn stat(
        &self,
        sftp: &Sftp,
        path: &str,
    ) -> Result<Option<FileAttributes>, TransportError> {
        match sftp.raw.stat(path).await {
            Ok(a) => Ok(Some(a.attrs)),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => Ok(None),
            Err(e) => Err(self.sftp_err(sftp, path, &e)),
        }
    }

    pub(crate) async fn exists(&self, path: &str) -> Result<bool, TransportError> {
        let sftp = self.sftp().await?;
        Ok(self.stat(&sftp, path).await?.is_some())
    }

    pub(crate) async fn is_dir(&self, path: &str) -> Result<bool, TransportError> {
        let sftp = self.sftp().await?;
        Ok(self.stat(&sftp, path).await?.is_some_and(|a| a.is_dir()))
    }

    /// The regular file `path`, if it is one of at most `max_len` bytes: read over SFTP in
    /// order, a chunk at a time, until the length `stat` gave (or the end of the file).
    pub(crate) async fn read_file(
        &self,
        path: &str,
        max_len: u64,
    ) -> Result<Option<HostFile>, TransportError> {
        let sftp = self.sftp().await?;
        let Some(attrs) = self.stat(&sftp, path).await? else {
            return Ok(None);
        };
        let len = attrs.len();
        if !attrs.is_regular() || len > max_len {
            return Ok(None);
        }
        let handle = sftp
            .raw
            .open(path, OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(|e| self.sftp_err(&sftp, path, &e))?
            .handle;
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let read = async {
            while (bytes.len() as u64) < len {
                let want = u32::try_from(sftp.write_len).unwrap_or(32 * 1024);
                match sftp
                    .raw
                    .read(handle.as_str(), bytes.len() as u64, want)
                    .await
                {
                    Ok(d) if d.data.is_empty() => break,
                    Ok(d) => bytes.extend_from_slice(&d.data),
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
        .await;
        let closed = sftp.raw.close(handle.as_str()).await;
        read.map_err(|e| self.sftp_err(&sftp, path, &e))?;
        closed.map_err(|e| self.sftp_err(&sftp, path, &e))?;
        Ok(Some(HostFile {
            bytes,
            mode: attrs.permissions.unwrap_or(0) & 0o7777,
        }))
    }

    pub(crate) async fn remove_file(&self, path: &str) -> Result<(), TransportError> {
        let sftp = self.sftp().await?;
        match sftp.raw.remove(path).await {
            Ok(_) => Ok(()),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => Ok(()),
            Err(e) => Err(self.sftp_err(&sftp, path, &e)),
        }
    }

    pub(crate) async fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), TransportError> {
        let sftp = self.sftp().await?;
        if self.stat(&sftp, path).await?.is_some_and(|a| a.is_dir()) {
            return Ok(());
        }
        let trimmed = path.trim_end_matches('/');
        let absolute = trimmed.starts_with('/');
        let parts: Vec<&str> = trimmed
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let mut prefix = String::new();
        for (i, part) in parts.iter().enumerate() {
            if absolute || i > 0 {
                prefix.push('/');
            }
            prefix.push_str(part);
            let last = i + 1 == parts.len();
            match self.stat(&sftp, &prefix).await? {
                Some(a) if a.is_dir() => continue,
                Some(_) => {
                    return Err(TransportError::Io {
                        host: self.label.clone(),
                        path: Some(path.to_string()),
                        message: format!("`{prefix}` exists and is not a directory"),
                    });
                }
                None => {}
            }
            let mut attrs = FileAttributes::empty();
            if last {
                attrs.permissions = Some(mode);
            }
            match sftp.raw.mkdir(prefix.as_str(), attrs).await {
                Ok(_) => {}
                // Made meanwhile by a parallel task: fine if it is a directory now.
                Err(SftpError::Status(_))
                    if self.stat(&sftp, &prefix).await?.is_some_and(|a| a.is_dir()) =>
                {
                    continue;
                }
                Err(e) => return Err(self.sftp_err(&sftp, &prefix, &e)),
            }
            if last {
                // Exactly `mode`, whatever the server's umask.
                let mut attrs = FileAttributes::empty();
                attrs.permissions = Some(mode);
                sftp.raw
                    .setstat(prefix.as_str(), attrs)
                    .await
                    .map_err(|e| self.sftp_err(&sftp, &prefix, &e))?;
            }
        }
        Ok(())
    }

    /// Writes a temporary sibling (mode 0600 while written), sets `mode`, renames it over
    /// `path`: readers never see half a file or the wrong permissions.
    pub(crate) async fn put_file(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
        tmp_suffix: &str,
    ) -> Result<(), TransportError> {
        let sftp = self.sftp().await?;
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        if name.is_empty() {
            return Err(TransportError::Io {
                host: self.label.clone(),
                path: Some(path.to_string()),
                message: "not a file path".into(),
            });
        }
        let tmp = format!("{dir}.{name}.hoist-{tmp_suffix}");
        let result = self.write_tmp(&sftp, &tmp, path, bytes, mode).await;
        if result.is_err() {
            let _ = sftp.raw.remove(tmp.as_str()).await;
        }
        result
    }

    async fn write_tmp(
        &self,
        sftp: &Sftp,
        tmp: &str,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), TransportError> {
        let mut attrs = FileAttributes::empty();
        attrs.permissions = Some(0o600);
        let handle = sftp
            .raw
            .open(
                tmp,
                OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE | OpenFlags::EXCLUDE,
                attrs,
            )
            .await
            .map_err(|e| self.sftp_err(sftp, path, &e))?
            .handle;
        let written = async {
            let chunks: Vec<(u64, Vec<u8>)> = bytes
                .chunks(sftp.write_len)
                .enumerate()
                .map(|(i, c)| ((i * sftp.write_len) as u64, c.to_vec()))
                .collect();
            futures::stream::iter(chunks)
                .map(|(offset, chunk)| sftp.raw.write(handle.as_str(), offset, chunk))
                .buffer_unordered(16)
                .try_for_each(|_| async { Ok(()) })
                .await?;
            let mut attrs = FileAttributes::empty();
            attrs.permissions = Some(mode);
            sftp.raw.fsetstat(handle.as_str(), attrs).await.map(|_| ())
        }
        .await;
        let closed = sftp.raw.close(handle.as_str()).await;
        written.map_err(|e| self.sftp_err(sftp, path, &e))?;
        closed.map_err(|e| self.sftp_err(sftp, path, &e))?;
        if sftp.posix_rename {
            let mut data = Vec::with_capacity(8 + tmp.len() + path.len());
            for s in [tmp, path] {
                data.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
                data.extend_from_slice(s.as_bytes());
            }
            match sftp.raw.extended("posix-rename@openssh.com", data).await {
                Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
                Ok(Packet::Status(s)) => Err(self.sftp_err(sftp, path, &SftpError::Status(s))),
                Ok(_) => Err(self.sftp_err(sftp, path, &SftpError::UnexpectedPacket)),
                Err(e) => Err(self.sftp_err(sftp, path, &e)),
            }
        } else {
            // Plain SFTP rename does not replace an existing file.
            match sftp.raw.remove(path).await {
                Ok(_) => {}
                Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {}
                Err(e) => return Err(self.sftp_err(sftp, path, &e)),
            }
            sftp.raw
                .rename(tmp, path)
                .await
                .map(|_| ())
                .map_err(|e| self.sftp_err(sftp, path, &e))
        }
    }
}

/// Aborts an exec channel unless disarmed: asks the server to kill the program, closes the
/// channel, and kills the program's process group from another channel (in the background).
struct AbortGuard {
    conn: Arc<Connection>,
    wr: Option<ChannelWriteHalf<Msg>>,
    pgid: Arc<AtomicU32>,
    armed: AtomicBool,
}

impl AbortGuard {
    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Aborts now: signal and close awaited (bounded), the group killed in the background.
    async fn abort(&self) {
        self.disarm();
        if let Some(wr) = &self.wr {
            kill_and_close(wr).await;
        }
        self.kill_group_later();
    }

    fn kill_group_later(&self) {
        let pgid = self.pgid.load(Ordering::Relaxed);
        if pgid > 1
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let conn = self.conn.clone();
            rt.spawn(async move { conn.kill_group(pgid).await });
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        // Dropped mid-flight (the caller gave up): abort in the background.
        if let (Some(wr), Ok(rt)) = (self.wr.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move { kill_and_close(&wr).await });
        }
        self.kill_group_later();
    }
}

/// An open SFTP session.
struct Sftp {
    raw: RawSftpSession,
    posix_rename: bool,
    write_len: usize,
    broken: AtomicBool,
    _permit: OwnedSemaphorePermit,
}

/// How an exec channel ended.
enum Done {
    Exited(ExecOutput),
    /// The server answered the exec request with a failure.
    Refused,
    /// The channel ended without exit status or signal (connection lost); what was read.
    Lost(ExecOutput),
}

/// The first line a command writes to stderr: its shell's process id (= process group id).
const PGID_MARK: &str = "hoist-pgid:";

/// Reads a channel to its end: stdout, stderr (extended data 1), exit status or signal. The
/// process id line is taken off stderr and stored in `pgid`.
async fn read_output(
    rd: &mut russh::ChannelReadHalf,
    pgid: &AtomicU32,
) -> Result<Done, TransportError> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut exit_code = None;
    let mut signal = None;
    let mut marked = false;
    loop {
        match rd.wait().await {
            Some(ChannelMsg::Data { data }) => stdout.extend_from_slice(&data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                stderr.extend_from_slice(&data);
                if !marked && let Some(nl) = stderr.iter().position(|b| *b == b'\n') {
                    marked = true;
                    if let Some(rest) = stderr[..nl].strip_prefix(PGID_MARK.as_bytes()) {
                        let id = std::str::from_utf8(rest).ok().and_then(|s| s.parse().ok());
                        pgid.store(id.unwrap_or(0), Ordering::Relaxed);
                        stderr.drain(..=nl);
                    }
                }
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                exit_code = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
            }
            Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                signal = Some(sig_name(&signal_name));
            }
            Some(ChannelMsg::Failure) => return Ok(Done::Refused),
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    let out = ExecOutput {
        exit_code,
        signal,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    if out.exit_code.is_none() && out.signal.is_none() {
        Ok(Done::Lost(out))
    } else {
        Ok(Done::Exited(out))
    }
}

/// A signal's name without `SIG`.
fn sig_name(s: &Sig) -> String {
    match s {
        Sig::ABRT => "ABRT".into(),
        Sig::ALRM => "ALRM".into(),
        Sig::FPE => "FPE".into(),
        Sig::HUP => "HUP".into(),
        Sig::ILL => "ILL".into(),
        Sig::INT => "INT".into(),
        Sig::KILL => "KILL".into(),
        Sig::PIPE => "PIPE".into(),
        Sig::QUIT => "QUIT".into(),
        Sig::SEGV => "SEGV".into(),
        Sig::TERM => "TERM".into(),
        Sig::USR1 => "USR1".into(),
        Sig::Custom(name) => name.trim_start_matches("SIG").to_string(),
        #[allow(unreachable_patterns, reason = "russh may add signals")]
        other => format!("{other:?}"),
    }
}

/// After a timeout: ask the server to kill the program (OpenSSH honours `signal` requests),
/// then close the channel. Bounded: a hung connection does not hold the caller.
async fn kill_and_close(wr: &ChannelWriteHalf<Msg>) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = wr.signal(Sig::KILL).await;
        let _ = wr.close().await;
    })
    .await;
}

/// Runs `f` until `deadline` (if any); `None` if it expired.
async fn with_deadline<F: std::future::Future>(
    deadline: Option<Instant>,
    f: F,
) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, f).await.ok(),
        None => Some(f.await),
    }
}
