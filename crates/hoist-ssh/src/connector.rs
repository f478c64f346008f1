//! [`SshConnector`]: options, the per-host connection cache, connecting (with retries, a
//! global handshake limit, jump hosts) and authentication.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hoist_core::{Credentials, Secret};
use hoist_exec::{ConnectError, Connector, HostTarget, Transport};
use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::conn::{Client, Connection, HandlerError};
use crate::error::{SshError, host_label};
use crate::known_hosts::KnownHosts;
use crate::transport::SshTransport;

/// Options of an [`SshConnector`]; see [`SshConnectorBuilder`] for what each means.
#[derive(Clone, Debug)]
struct Options {
    known_hosts: PathBuf,
    tofu: bool,
    default_user: Option<String>,
    identities: Vec<(PathBuf, Option<Secret>)>,
    password: Option<Secret>,
    agent: bool,
    agent_socket: Option<PathBuf>,
    connect_timeout: Duration,
    command_timeout: Option<Duration>,
    max_channels: usize,
    max_handshakes: usize,
    keepalive: Option<Duration>,
    keepalive_max: usize,
    connect_attempts: u32,
    retry_budget: Duration,
    sftp_timeout: Duration,
}

/// Builds an [`SshConnector`]. Every setting has a safe default: host keys verified against
/// `~/.ssh/known_hosts` without trust-on-first-use, login as `$USER`, keys
/// `~/.ssh/id_{ed25519,ecdsa,rsa}` (those that exist) and the ssh-agent, 10 s connect timeout,
/// 3 connect attempts within 30 s, 8 channels per connection, 32 handshakes at once, a
/// keepalive every 15 s.
#[derive(Clone, Debug)]
#[must_use]
pub struct SshConnectorBuilder {
    opts: Options,
}

impl SshConnectorBuilder {
    /// The `known_hosts` file host keys are verified against (default `~/.ssh/known_hosts`).
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.opts.known_hosts = path.into();
        self
    }

    /// Trust on first use: a host that is not in the known_hosts file has its key recorded
    /// there and is accepted (default off: an unknown host is an error). A host whose key
    /// *changed* is always rejected.
    pub fn trust_on_first_use(mut self, on: bool) -> Self {
        self.opts.tofu = on;
        self
    }

    /// The login user when the target's credentials name none (default `$USER`).
    pub fn default_user(mut self, user: impl Into<String>) -> Self {
        self.opts.default_user = Some(user.into());
        self
    }

    /// Adds a private key file (OpenSSH or PEM format; ed25519, ECDSA or RSA), with its
    /// passphrase if it is encrypted. Keys are tried in the order added. A target whose
    /// credentials name a `key_file` uses that file instead (with the passphrase given here
    /// for the same path, if any).
    pub fn identity(mut self, path: impl Into<PathBuf>, passphrase: Option<Secret>) -> Self {
        self.opts.identities.push((path.into(), passphrase));
        self
    }

    /// The login password when the target's credentials give none (tried after keys and
    /// the agent).
    pub fn password(mut self, password: Secret) -> Self {
        self.opts.password = Some(password);
        self
    }

    /// Use the ssh-agent at `$SSH_AUTH_SOCK` (default on).
    pub fn agent(mut self, on: bool) -> Self {
        self.opts.agent = on;
        self
    }

    /// Use the ssh-agent listening on `socket` (instead of `$SSH_AUTH_SOCK`).
    pub fn agent_socket(mut self, socket: impl Into<PathBuf>) -> Self {
        self.opts.agent = true;
        self.opts.agent_socket = Some(socket.into());
        self
    }

    /// Time limit of one connection attempt: TCP connect, handshake, host key check and
    /// authentication (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.opts.connect_timeout = t;
        self
    }

    /// Time limit of a command whose request sets none (default: none).
    pub fn command_timeout(mut self, t: Option<Duration>) -> Self {
        self.opts.command_timeout = t;
        self
    }

    /// Session channels open at once on one connection (default 8, at least 2; keep it below
    /// the servers' `MaxSessions`, 10 in OpenSSH's default). Exec channels beyond it wait for
    /// a free one; the SFTP channel, once open, holds one.
    pub fn max_channels(mut self, n: usize) -> Self {
        self.opts.max_channels = n.max(2);
        self
    }

    /// SSH handshakes in progress at once, over all hosts (default 32; keep it below the
    /// servers' `MaxStartups`, 10 in OpenSSH's default).
    pub fn max_handshakes(mut self, n: usize) -> Self {
        self.opts.max_handshakes = n.max(1);
        self
    }

    /// Keepalive interval; a connection that answers `max` keepalives in a row with nothing is
    /// closed (default every 15 s, 3 in a row). `None` turns keepalives off.
    pub fn keepalive(mut self, interval: Option<Duration>, max: usize) -> Self {
        self.opts.keepalive = interval;
        self.opts.keepalive_max = max.max(1);
        self
    }

    /// Connection attempts per connect (default 3) and the time after which no new attempt
    /// starts (default 30 s). Only transient failures are retried (refused, reset, timed
    /// out), after a randomised exponential pause; host key and authentication failures are
    /// not.
    pub fn connect_retries(mut self, attempts: u32, budget: Duration) -> Self {
        self.opts.connect_attempts = attempts.max(1);
        self.opts.retry_budget = budget;
        self
    }

    /// Time limit of one SFTP request (default 30 s).
    pub fn sftp_timeout(mut self, t: Duration) -> Self {
        self.opts.sftp_timeout = t.max(Duration::from_secs(1));
        self
    }

    /// The connector.
    pub fn build(self) -> SshConnector {
        let opts = self.opts;
        SshConnector {
            inner: Arc::new(Inner {
                known_hosts: Arc::new(KnownHosts::new(&opts.known_hosts, opts.tofu)),
                handshakes: Semaphore::new(opts.max_handshakes),
                slots: std::sync::Mutex::new(HashMap::new()),
                keys: std::sync::Mutex::new(HashMap::new()),
                opened: AtomicU64::new(0),
                opts,
            }),
        }
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Opens SSH transports for network hosts: an [`hoist_exec::Connector`] for the orchestrator.
///
/// One connection per (address, port, user, jump host), made on first use and shared by every
/// transport and task for that host; see the crate documentation for the design.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use hoist_exec::{ExecRequest, HostTarget, Transport};
/// use hoist_ssh::SshConnector;
///
/// let ssh = SshConnector::builder()
///     .known_hosts("/etc/hoist/known_hosts")
///     .default_user("deploy")
///     .identity("/etc/hoist/id_ed25519", None)
///     .connect_timeout(Duration::from_secs(5))
///     .build();
/// let host = ssh.connect_host(&HostTarget {
///     address: "10.0.0.5".into(),
///     port: None,
///     creds: Default::default(),
///     jump: None,
/// }).await?;
/// let out = host.exec(&ExecRequest::argv(["uname", "-r"])).await?;
/// println!("{}", out.stdout);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SshConnector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SshConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConnector")
            .field("options", &self.inner.opts)
            .field("connections_opened", &self.connections_opened())
            .finish_non_exhaustive()
    }
}

/// What identifies a cached connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnKey {
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) jump: Option<String>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

pub(crate) struct Inner {
    opts: Options,
    known_hosts: Arc<KnownHosts>,
    handshakes: Semaphore,
    slots: std::sync::Mutex<HashMap<ConnKey, Slot>>,
    keys: std::sync::Mutex<HashMap<PathBuf, Arc<PrivateKey>>>,
    opened: AtomicU64,
}

impl SshConnector {
    /// A builder with the default settings.
    pub fn builder() -> SshConnectorBuilder {
        let ssh_dir = home().map(|h| h.join(".ssh"));
        SshConnectorBuilder {
            opts: Options {
                known_hosts: ssh_dir
                    .as_ref()
                    .map_or_else(|| PathBuf::from("known_hosts"), |d| d.join("known_hosts")),
                tofu: false,
                default_user: None,
                identities: Vec::new(),
                password: None,
                agent: true,
                agent_socket: None,
                connect_timeout: Duration::from_secs(10),
                command_timeout: None,
                max_channels: 8,
                max_handshakes: 32,
                keepalive: Some(Duration::from_secs(15)),
                keepalive_max: 3,
                connect_attempts: 3,
                retry_budget: Duration::from_secs(30),
                sftp_timeout: Duration::from_secs(30),
            },
        }
    }

    /// A transport to `target`, connecting now unless a live connection for it is cached.
    pub async fn connect_host(&self, target: &HostTarget) -> Result<Arc<SshTransport>, SshError> {
        let key = self.inner.key_of(target)?;
        let conn = self.inner.session(&key, &target.creds).await?;
        Ok(Arc::new(SshTransport::new(
            self.inner.clone(),
            key,
            target.creds.clone(),
            conn,
            self.inner.opts.command_timeout,
        )))
    }

    /// How many connections were opened so far (successful handshakes, jump hosts included).
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// How many cached connections are open now (a connection being made counts as open).
    pub fn live_connections(&self) -> usize {
        let slots: Vec<Slot> = self.inner.lock_slots().values().cloned().collect();
        slots
            .iter()
            .filter(|s| {
                s.try_lock()
                    .map_or(true, |c| c.as_ref().is_some_and(|c| !c.is_closed()))
            })
            .count()
    }

    /// Closes every cached connection (transports that are still used reconnect).
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self.inner.lock_slots().drain().map(|(_, s)| s).collect();
        for s in slots {
            if let Some(c) = s.lock().await.take() {
                let _ = c
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, "", "en")
                    .await;
            }
        }
    }
}

#[async_trait]
impl Connector for SshConnector {
    async fn connect(
        &self,
        target: &HostTarget,
    ) -> Result<Option<Arc<dyn Transport>>, ConnectError> {
        match self.connect_host(target).await {
            Ok(t) => Ok(Some(t)),
            Err(e) => Err(ConnectError::new(e.failure(), e.to_string())),
        }
    }
}

impl Inner {
    /// The client configuration for a connection to `address:port`: keepalives, and host key
    /// types already recorded for the host asked for first (as OpenSSH does), so that a host
    /// with several keys presents the one we know.
    fn client_config(&self, address: &str, port: u16) -> Arc<russh::client::Config> {
        let known = self.known_hosts.known_key_types(address, port);
        let mut preferred = russh::Preferred::default();
        if !known.is_empty() {
            let mut keys = preferred.key.to_vec();
            keys.sort_by_key(|a| !known.contains(&crate::known_hosts::key_type(a)));
            preferred.key = keys.into();
        }
        Arc::new(russh::client::Config {
            keepalive_interval: self.opts.keepalive,
            keepalive_max: self.opts.keepalive_max,
            nodelay: true,
            preferred,
            ..Default::default()
        })
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<ConnKey, Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn user_for(&self, creds: &Credentials) -> String {
        creds
            .user
            .clone()
            .or_else(|| self.opts.default_user.clone())
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "root".into())
    }

    pub(crate) fn key_of(&self, target: &HostTarget) -> Result<ConnKey, SshError> {
        let port = target.port.unwrap_or(22);
        if target.address.is_empty() {
            return Err(SshError::Config {
                host: host_label(&target.address, port),
                message: "empty host address".into(),
            });
        }
        Ok(ConnKey {
            address: target.address.clone(),
            port,
            user: self.user_for(&target.creds),
            jump: target.jump.clone().filter(|j| !j.trim().is_empty()),
        })
    }

    /// The live connection for `key`, connecting if there is none. Concurrent callers for the
    /// same key wait for one connection instead of making several.
    pub(crate) async fn session(
        self: &Arc<Self>,
        key: &ConnKey,
        creds: &Credentials,
    ) -> Result<Arc<Connection>, SshError> {
        let slot = self.lock_slots().entry(key.clone()).or_default().clone();
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let conn = Arc::new(self.connect_with_retries(key, creds).await?);
        *cached = Some(conn.clone());
        Ok(conn)
    }

    async fn connect_with_retries(
        self: &Arc<Self>,
        key: &ConnKey,
        creds: &Credentials,
    ) -> Result<Connection, SshError> {
        let label = host_label(&key.address, key.port);
        let span =
            tracing::info_span!("ssh_connect", host = %label, user = %key.user, jump = ?key.jump);
        async {
            let start = tokio::time::Instant::now();
            let mut attempt = 0;
            loop {
                attempt += 1;
                let err = match self.connect_once(key, creds).await {
                    Ok(c) => {
                        self.opened.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(attempt, "connected");
                        return Ok(c);
                    }
                    Err(e) => e,
                };
                let pause = backoff(attempt);
                if !err.is_transient()
                    || attempt >= self.opts.connect_attempts
                    || start.elapsed() + pause >= self.opts.retry_budget
                {
                    tracing::debug!(attempt, error = %err, "giving up");
                    return Err(err);
                }
                tracing::debug!(attempt, error = %err, ?pause, "retrying");
                tokio::time::sleep(pause).await;
            }
        }
        .instrument(span)
        .await
    }

    async fn connect_once(
        self: &Arc<Self>,
        key: &ConnKey,
        creds: &Credentials,
    ) -> Result<Connection, SshError> {
        let label = host_label(&key.address, key.port);
        // The jump host's connection first (its own handshake takes its own permit).
        let jump = match &key.jump {
            Some(j) => Some(Box::pin(self.jump_session(j, key, creds)).await?),
            None => None,
        };
        let _permit = self
            .handshakes
            .acquire()
            .await
            .map_err(|e| SshError::Connect {
                host: label.clone(),
                message: e.to_string(),
            })?;
        let limit = self.opts.connect_timeout;
        let config = self.client_config(&key.address, key.port);
        let attempt = async {
            let handler = Client {
                address: key.address.clone(),
                port: key.port,
                known_hosts: self.known_hosts.clone(),
            };
            let handshake = match &jump {
                Some(j) => {
                    let ch = j
                        .handle
                        .channel_open_direct_tcpip(
                            key.address.as_str(),
                            u32::from(key.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| SshError::Jump {
                            host: label.clone(),
                            jump: key.jump.clone().unwrap_or_default(),
                            source: Box::new(SshError::Connect {
                                host: j.label.clone(),
                                message: format!("cannot open a forwarding channel: {e}"),
                            }),
                        })?;
                    russh::client::connect_stream(config.clone(), ch.into_stream(), handler).await
                }
                None => {
                    let tcp = tokio::net::TcpStream::connect((key.address.as_str(), key.port))
                        .await
                        .map_err(|e| SshError::Connect {
                            host: label.clone(),
                            message: e.to_string(),
                        })?;
                    let _ = tcp.set_nodelay(true);
                    russh::client::connect_stream(config.clone(), tcp, handler).await
                }
            };
            let mut handle = handshake.map_err(|e| match e {
                HandlerError::HostKey(e) => e,
                HandlerError::Russh(e) => SshError::Connect {
                    host: label.clone(),
                    message: format!("SSH handshake failed: {e}"),
                },
            })?;
            self.authenticate(&mut handle, &label, &key.user, creds)
                .await?;
            Ok::<_, SshError>(handle)
        };
        let handle =
            tokio::time::timeout(limit, attempt)
                .await
                .map_err(|_| SshError::Timeout {
                    host: label.clone(),
                    after: limit,
                })??;
        Ok(Connection::new(
            label,
            handle,
            self.opts.max_channels,
            self.opts.sftp_timeout,
            jump,
        ))
    }

    /// The connection to the jump host `spec` (`[user@]host[:port]`) of `key`.
    async fn jump_session(
        self: &Arc<Self>,
        spec: &str,
        key: &ConnKey,
        creds: &Credentials,
    ) -> Result<Arc<Connection>, SshError> {
        let label = host_label(&key.address, key.port);
        let wrap = |source: SshError| SshError::Jump {
            host: label.clone(),
            jump: spec.to_string(),
            source: Box::new(source),
        };
        let (user, address, port) = parse_jump(spec).map_err(|m| SshError::Config {
            host: label.clone(),
            message: format!("jump host `{spec}`: {m}"),
        })?;
        let jkey = ConnKey {
            address,
            port: port.unwrap_or(22),
            user: user.unwrap_or_else(|| key.user.clone()),
            jump: None,
        };
        // The target's key file, never its password.
        let jcreds = Credentials {
            user: Some(jkey.user.clone()),
            password: None,
            key_file: creds.key_file.clone(),
        };
        self.session(&jkey, &jcreds).await.map_err(wrap)
    }

    /// Keys, then the agent, then a password; the first method the server accepts wins.
    async fn authenticate(
        &self,
        handle: &mut Handle<Client>,
        label: &str,
        user: &str,
        creds: &Credentials,
    ) -> Result<(), SshError> {
        let mut tried = Vec::new();
        let protocol = |e: russh::Error| SshError::Connect {
            host: label.to_string(),
            message: format!("during authentication: {e}"),
        };
        for (path, passphrase, explicit) in self.key_files(creds) {
            let Some(key) = self.load_key(&path, passphrase, explicit, label).await? else {
                continue;
            };
            let hash = if key.algorithm().is_rsa() {
                match handle.best_supported_rsa_hash().await {
                    Ok(Some(h)) => h,
                    _ => Some(HashAlg::Sha256),
                }
            } else {
                None
            };
            let r = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(protocol)?;
            if r.success() {
                tracing::debug!(method = "publickey", key = %path.display(), "authenticated");
                return Ok(());
            }
            tried.push(format!("key {}", path.display()));
        }
        let socket = self.opts.agent_socket.clone().or_else(|| {
            std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        });
        if self.opts.agent
            && let Some(sock) = socket
        {
            match AgentClient::connect_uds(&sock).await {
                Ok(mut agent) => {
                    let ids = agent.request_identities().await.unwrap_or_default();
                    for id in ids {
                        let AgentIdentity::PublicKey { key, .. } = id else {
                            continue;
                        };
                        let hash = if key.algorithm().is_rsa() {
                            match handle.best_supported_rsa_hash().await {
                                Ok(Some(h)) => h,
                                _ => Some(HashAlg::Sha256),
                            }
                        } else {
                            None
                        };
                        let fp = crate::known_hosts::fingerprint(&key);
                        match handle
                            .authenticate_publickey_with(user, key, hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => {
                                tracing::debug!(method = "agent", key = %fp, "authenticated");
                                return Ok(());
                            }
                            Ok(_) => tried.push(format!("agent key {fp}")),
                            Err(e) => tried.push(format!("agent key {fp} (agent error: {e:?})")),
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "ssh-agent not usable"),
            }
        }
        if let Some(pw) = creds.password.as_ref().or(self.opts.password.as_ref()) {
            let r = handle
                .authenticate_password(user, pw.expose())
                .await
                .map_err(protocol)?;
            if r.success() {
                tracing::debug!(method = "password", "authenticated");
                return Ok(());
            }
            tried.push("password".into());
        }
        Err(SshError::Auth {
            host: label.to_string(),
            user: user.to_string(),
            tried,
        })
    }

    /// The key files to try: the target's `key_file`, else the configured identities, else
    /// the default ones that exist. The flag is true for files that must load.
    fn key_files(&self, creds: &Credentials) -> Vec<(PathBuf, Option<Secret>, bool)> {
        if let Some(k) = &creds.key_file {
            let pass = self
                .opts
                .identities
                .iter()
                .find(|(p, _)| p == k)
                .and_then(|(_, s)| s.clone());
            return vec![(k.clone(), pass, true)];
        }
        if !self.opts.identities.is_empty() {
            return self
                .opts
                .identities
                .iter()
                .map(|(p, s)| (p.clone(), s.clone(), true))
                .collect();
        }
        let Some(dir) = home().map(|h| h.join(".ssh")) else {
            return Vec::new();
        };
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .map(|p| (p, None, false))
            .collect()
    }

    /// Loads (once per connector) a private key. A key that must load and does not is an
    /// error; a default key that does not (e.g. encrypted) is skipped.
    async fn load_key(
        &self,
        path: &Path,
        passphrase: Option<Secret>,
        must: bool,
        label: &str,
    ) -> Result<Option<Arc<PrivateKey>>, SshError> {
        if let Some(k) = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
        {
            return Ok(Some(k.clone()));
        }
        let p = path.to_path_buf();
        let had_passphrase = passphrase.is_some();
        let loaded = tokio::task::spawn_blocking(move || {
            russh::keys::load_secret_key(&p, passphrase.as_ref().map(Secret::expose))
        })
        .await;
        let err = |message: String| SshError::Key {
            host: label.to_string(),
            path: path.to_path_buf(),
            message,
        };
        let key = match loaded {
            Ok(Ok(k)) => Arc::new(k),
            Ok(Err(e)) => {
                let message = match e {
                    russh::keys::Error::KeyIsEncrypted if !had_passphrase => {
                        "the key is encrypted and no passphrase was given".to_string()
                    }
                    russh::keys::Error::KeyIsEncrypted | russh::keys::Error::KeyIsCorrupt
                        if had_passphrase =>
                    {
                        "cannot decrypt the key (wrong passphrase?)".to_string()
                    }
                    other => other.to_string(),
                };
                if must {
                    return Err(err(message));
                }
                tracing::debug!(key = %path.display(), error = %message, "skipping a default key");
                return Ok(None);
            }
            Err(e) => return Err(err(e.to_string())),
        };
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_path_buf(), key.clone());
        Ok(Some(key))
    }
}

/// The pause before attempt `attempt + 1`: "full jitter" over 200 ms × 2^(attempt-1), at most
/// 3 s.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = (200u64 << attempt.saturating_sub(1).min(8)).min(3000);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let r = h.finish();
    Duration::from_millis(cap_ms / 2 + r % (cap_ms / 2 + 1))
}

/// Parses `[user@]host[:port]` (IPv6: `[addr]` or `[addr]:port`).
pub(crate) fn parse_jump(spec: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    let spec = spec.trim();
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
        Some(_) => return Err("empty user name".into()),
        None => (None, spec),
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[`")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("unexpected `{after}` after `]`")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| format!("bad port `{p}`")))
        .transpose()?;
    Ok((user, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_specs() {
        assert_eq!(
            parse_jump("bastion").unwrap(),
            (None, "bastion".into(), None)
        );
        assert_eq!(
            parse_jump("ops@10.0.0.1:2200").unwrap(),
            (Some("ops".into()), "10.0.0.1".into(), Some(2200))
        );
        assert_eq!(
            parse_jump("[::1]:22").unwrap(),
            (None, "::1".into(), Some(22))
        );
        assert!(parse_jump("h:notaport").is_err());
        assert!(parse_jump("@h").is_err());
        assert!(parse_jump("").is_err());
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        for a in 1..20 {
            let d = backoff(a);
            assert!(d <= Duration::from_secs(3), "{d:?}");
            assert!(d >= Duration::from_millis(100), "{d:?}");
        }
        assert!(backoff(1) <= Duration::from_millis(200));
    }
}
