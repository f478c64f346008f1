//! One writer per system: a lock with a lease, renewed by a heartbeat.
//!
//! A store keeps at most one lock row per system: its id, its holder (who, host, pid, what
//! run) and three times (acquired, renewed, expires; milliseconds on the store's clock: this
//! machine's for SQLite, files and memory, the server's for PostgreSQL). The generic parts
//! live here:
//!
//! - [`LockGuard::acquire`] asks the store for the lock ([`StateStore::lock_try`]). If another
//!   writer holds it, it fails at once with [`StateError::Locked`] (naming the holder, its host
//!   and the lock's age), or polls until [`LockOptions::wait`] runs out. A lock whose lease has
//!   expired is taken over by the store; a lock held by a process of this machine (same boot,
//!   same pid namespace) that no longer exists (killed with `kill -9`) is taken over at once. Take-overs are recorded in the run
//!   history.
//! - While held, a heartbeat task renews the lease every third of it. If a renewal finds the
//!   lock gone (taken over after the lease ran out, or force-unlocked), the guard is marked
//!   lost, and every write fenced with its id fails with [`StateError::LockLost`].
//! - [`LockGuard::release`] removes the lock; dropping the guard releases it in the
//!   background.
//! - [`force_unlock`] removes whatever lock there is and records that in the run history.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::{RunOutcome, RunRecord, new_id, now_ms};
use crate::{Change, StateError, StateStore};

/// Who holds (or asks for) a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// User name.
    pub who: String,
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// What the holder is doing (`initiate`, `teardown`, `import`, …).
    pub action: String,
    /// Which process table `pid` belongs to: the kernel's boot id and the process's pid
    /// namespace (empty where unknown). A lock whose holder's process is gone is taken over at
    /// once only by a process that sees the same process table, never on the strength of a
    /// host name alone (two containers may share one).
    #[serde(default)]
    pub machine: String,
}

impl LockHolder {
    /// This process, doing `action`.
    pub fn current(action: &str) -> Self {
        LockHolder {
            who: user_name(),
            host: hostname(),
            pid: std::process::id(),
            action: action.to_string(),
            machine: machine_id(),
        }
    }

    /// `user@host`.
    pub fn by(&self) -> String {
        format!("{}@{}", self.who, self.host)
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} (pid {}, {})",
            self.who, self.host, self.pid, self.action
        )
    }
}

/// A lock as a store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock id, which fences the holder's writes.
    pub id: String,
    /// Its holder.
    pub holder: LockHolder,
    /// When it was acquired (ms since the Unix epoch, store clock).
    pub acquired_ms: u64,
    /// When it was last renewed.
    pub renewed_ms: u64,
    /// When its lease runs out unless renewed.
    pub expires_ms: u64,
    /// The store's clock when this was read.
    pub now_ms: u64,
}

impl LockInfo {
    /// How long it has been held.
    pub fn age(&self) -> Duration {
        Duration::from_millis(self.now_ms.saturating_sub(self.acquired_ms))
    }

    /// How long since the last heartbeat.
    pub fn since_renewal(&self) -> Duration {
        Duration::from_millis(self.now_ms.saturating_sub(self.renewed_ms))
    }

    /// True if the lease has run out (the lock may be taken over).
    pub fn expired(&self) -> bool {
        self.now_ms >= self.expires_ms
    }

    /// Time left on the lease (zero if expired).
    pub fn expires_in(&self) -> Duration {
        Duration::from_millis(self.expires_ms.saturating_sub(self.now_ms))
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "held by {} on host `{}` (pid {}, {}) for {}, last renewed {} ago, ",
            self.holder.who,
            self.holder.host,
            self.holder.pid,
            self.holder.action,
            secs(self.age()),
            secs(self.since_renewal()),
        )?;
        if self.expired() {
            write!(f, "lease expired")
        } else {
            write!(f, "lease expires in {}", secs(self.expires_in()))
        }
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// What [`StateStore::lock_try`] is asked.
#[derive(Clone, Debug)]
pub struct LockRequest {
    /// The would-be holder.
    pub holder: LockHolder,
    /// The lease: the lock expires this long after its last renewal.
    pub lease: Duration,
    /// Take the lock over even if its lease has not expired, provided its id is still this one
    /// (a compare-and-swap: used for locks whose holder is known to be dead).
    pub steal: Option<String>,
}

/// What [`StateStore::lock_try`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockAttempt {
    /// The lock is ours, with this id; `replaced` is the expired (or stolen) lock it replaced.
    Acquired {
        /// The new lock id.
        id: String,
        /// The lock taken over, if any.
        replaced: Option<LockInfo>,
    },
    /// Someone else holds it.
    Held(LockInfo),
}

/// The decision on a lock request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Write this new lock; it replaces `replaced`.
    Take {
        new: LockInfo,
        replaced: Option<LockInfo>,
    },
    /// The current lock stands.
    Held(LockInfo),
}

/// Decides a lock request against the current lock (for stores that read, decide and write in
/// one transaction).
pub(crate) fn decide(current: Option<LockInfo>, req: &LockRequest, now: u64) -> Decision {
    if let Some(cur) = current.as_ref() {
        let stolen = req.steal.as_deref() == Some(cur.id.as_str());
        if !cur.expired() && !stolen {
            return Decision::Held(cur.clone());
        }
    }
    let lease = u64::try_from(req.lease.as_millis()).unwrap_or(u64::MAX);
    let new = LockInfo {
        id: new_id("lock"),
        holder: req.holder.clone(),
        acquired_ms: now,
        renewed_ms: now,
        expires_ms: now.saturating_add(lease),
        now_ms: now,
    };
    Decision::Take {
        new,
        replaced: current,
    }
}

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockOptions {
    /// The lease (default 30 s): renewed every third of it while held; another writer may take
    /// the lock over once it has run out.
    pub lease: Duration,
    /// How long to wait for a held lock (default: not at all, fail at once).
    pub wait: Option<Duration>,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            lease: Duration::from_secs(30),
            wait: None,
        }
    }
}

/// A held lock. Its heartbeat renews the lease until it is released or dropped.
pub struct LockGuard {
    store: Arc<dyn StateStore>,
    system: String,
    id: String,
    lost: Arc<AtomicBool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    released: bool,
    replaced: Option<LockInfo>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("system", &self.system)
            .field("id", &self.id)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    /// Takes the lock on `system` for `holder`. Must be called inside a tokio runtime (the
    /// heartbeat is a task).
    ///
    /// Fails with [`StateError::Locked`] if another writer holds the lock (after waiting up to
    /// `opts.wait`, if given). Takes over, and records in the run history, a lock whose lease
    /// has expired or whose holder was a process of this host that no longer exists.
    pub async fn acquire(
        store: Arc<dyn StateStore>,
        system: &str,
        holder: &LockHolder,
        opts: LockOptions,
    ) -> Result<LockGuard, StateError> {
        let deadline = opts.wait.map(|w| tokio::time::Instant::now() + w);
        let poll = (opts.lease / 10).clamp(Duration::from_millis(20), Duration::from_millis(500));
        let mut steal: Option<String> = None;
        let mut steals = 0;
        loop {
            let req = LockRequest {
                holder: holder.clone(),
                lease: opts.lease,
                steal: steal.take(),
            };
            match store.lock_try(system, &req).await? {
                LockAttempt::Acquired { id, replaced } => {
                    let guard = LockGuard::start(store.clone(), system, id, opts.lease, replaced);
                    if let Some(old) = &guard.replaced {
                        let why = if old.expired() {
                            "its lease had expired"
                        } else {
                            "its process no longer exists"
                        };
                        tracing::warn!(system, old = %old, "took over a stale lock: {why}");
                        let run = RunRecord::start("lock-takeover", &holder.by())
                            .finish(RunOutcome::Succeeded)
                            .with_detail(format!("took over the lock {old}: {why}"));
                        store
                            .apply(system, Some(&guard.id), &[Change::PutRun(run)])
                            .await?;
                    }
                    return Ok(guard);
                }
                LockAttempt::Held(info) => {
                    if steals < 3
                        && !holder.machine.is_empty()
                        && info.holder.machine == holder.machine
                        && info.holder.pid != std::process::id()
                        && !pid_alive(info.holder.pid)
                    {
                        // Its holder was killed (kill -9, a crash): no need to wait for the lease.
                        steals += 1;
                        steal = Some(info.id);
                        continue;
                    }
                    match deadline {
                        Some(d) if tokio::time::Instant::now() < d => {
                            tokio::time::sleep(poll.min(d - tokio::time::Instant::now())).await;
                        }
                        _ => {
                            return Err(StateError::Locked {
                                system: system.to_string(),
                                lock: Box::new(info),
                            });
                        }
                    }
                }
            }
        }
    }

    fn start(
        store: Arc<dyn StateStore>,
        system: &str,
        id: String,
        lease: Duration,
        replaced: Option<LockInfo>,
    ) -> LockGuard {
        let lost = Arc::new(AtomicBool::new(false));
        let period = (lease / 3).max(Duration::from_millis(10));
        let heartbeat = {
            let (store, system, id, lost) =
                (store.clone(), system.to_string(), id.clone(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    match store.lock_renew(&system, &id, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(
                                system,
                                "the state lock was lost (taken over or force-unlocked)"
                            );
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => tracing::warn!(system, error = %e, "cannot renew the state lock"),
                    }
                }
            })
        };
        LockGuard {
            store,
            system: system.to_string(),
            id,
            lost,
            heartbeat: Some(heartbeat),
            released: false,
            replaced,
        }
    }

    /// The lock id: pass it as the fence of every write made under this lock.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The system locked.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// True if a heartbeat found the lock gone.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// The stale lock this one took over, if any.
    pub fn replaced(&self) -> Option<&LockInfo> {
        self.replaced.as_ref()
    }

    /// Stops the heartbeat without releasing (tests: simulates a holder that hangs).
    #[doc(hidden)]
    pub fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// Releases the lock.
    pub async fn release(mut self) -> Result<(), StateError> {
        self.stop_heartbeat();
        self.released = true;
        self.store.lock_release(&self.system, &self.id).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_heartbeat();
        if !self.released
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (store, system, id) = (self.store.clone(), self.system.clone(), self.id.clone());
            rt.spawn(async move {
                let _ = store.lock_release(&system, &id).await;
            });
        }
    }
}

/// Removes the lock on `system`, whoever holds it, and records that (with the holder removed)
/// in the run history as a `force-unlock` run by `by`. Returns the lock removed.
pub async fn force_unlock(
    store: &dyn StateStore,
    system: &str,
    by: &LockHolder,
) -> Result<Option<LockInfo>, StateError> {
    let old = store.lock_break(system).await?;
    let detail = match &old {
        Some(l) => format!("removed the lock {l}"),
        None => "no lock was held".to_string(),
    };
    tracing::warn!(system, "{detail}");
    let run = RunRecord::start("force-unlock", &by.by())
        .finish(RunOutcome::Succeeded)
        .with_detail(detail);
    store.apply(system, None, &[Change::PutRun(run)]).await?;
    Ok(old)
}

/// This process table's identity: the boot id and the pid namespace (empty where there is no
/// `/proc`).
pub fn machine_id() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if boot.trim().is_empty() {
        return String::new();
    }
    format!("{}/{ns}", boot.trim())
}

/// This host's name.
pub fn hostname() -> String {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(p)
            && !s.trim().is_empty()
        {
            return s.trim().to_string();
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
}

/// `$USER`, `$LOGNAME`, or the name `/etc/passwd` gives this process's user id.
fn user_name() -> String {
    if let Ok(u) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))
        && !u.is_empty()
    {
        return u;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    let Some(uid) = uid else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// True unless this host's process table says process `pid` is gone (or a zombie). Where
/// there is no `/proc`, every process counts as alive (locks then wait for their lease).
pub fn pid_alive(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// `now`, for stores keeping lock times on this machine's clock.
pub(crate) fn local_now() -> u64 {
    now_ms()
}
