//! [`SimCloud`]: the provisioner proxy, its builder, and the inspection API tests use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use hoist_provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, FindRequest,
    HostEndpoint, OutputMap, ProvisionError, Provisioner, ReadRequest, UpdateRequest,
};
use serde_json::Value;
use tracing::debug;

use crate::faults::{FaultState, Faults, Op};
use crate::state::{Kind, State, check_spec};
use crate::{DEFAULT_NAME, SimObject};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts of the calls a [`SimCloud`] received, failed ones included; from
/// [`SimCloud::calls`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// `create` calls per kind.
    pub create: BTreeMap<String, u64>,
    /// `delete` calls per kind.
    pub delete: BTreeMap<String, u64>,
    /// `find` calls (any kind).
    pub find: u64,
    /// `update` calls per kind.
    pub update: BTreeMap<String, u64>,
    /// `read` calls (any kind).
    pub read: u64,
}

impl Calls {
    /// `create` calls for `kind`.
    pub fn creates(&self, kind: &str) -> u64 {
        self.create.get(kind).copied().unwrap_or(0)
    }

    /// `delete` calls for `kind`.
    pub fn deletes(&self, kind: &str) -> u64 {
        self.delete.get(kind).copied().unwrap_or(0)
    }

    /// `create` calls of every kind.
    pub fn total_creates(&self) -> u64 {
        self.create.values().sum()
    }

    /// `delete` calls of every kind.
    pub fn total_deletes(&self) -> u64 {
        self.delete.values().sum()
    }

    /// `update` calls of every kind.
    pub fn total_updates(&self) -> u64 {
        self.update.values().sum()
    }
}

/// The shared state behind every clone of a [`SimCloud`].
pub(crate) struct Inner {
    name: String,
    latency_nanos: AtomicU64,
    sandbox_root: PathBuf,
    /// True if the root was made up by the builder: removed when the last clone is dropped.
    owns_root: bool,
    /// The state file of a persistent cloud (see [`SimCloudBuilder::persist`]).
    persist: Option<PathBuf>,
    /// The state (for a persistent cloud: the copy read last, reloaded on every call).
    state: Mutex<State>,
    faults: Mutex<FaultState>,
    calls: Mutex<Calls>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Inner {
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    /// Runs `f` on the current state. For a persistent cloud: under an exclusive lock on the
    /// state file, reloaded first and, if `write`, written back atomically (temporary file,
    /// rename) after, so processes sharing the file (and one killed at any instant) see
    /// every call wholly done or not at all.
    fn with_state<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut State) -> T,
    ) -> Result<T, ProvisionError> {
        let mut cached = lock(&self.state);
        let Some(path) = &self.persist else {
            return Ok(f(&mut cached));
        };
        let file_err = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
            ProvisionError::new(
                ErrorKind::Other,
                format!("simulated cloud: cannot {what} {}: {e}", p.display()),
            )
            .with_code("SimStateFile")
        };
        let lock_path = path.with_extension("lock");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| file_err("create", dir, &e))?;
        }
        let lf = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| file_err("open", &lock_path, &e))?;
        lf.lock().map_err(|e| file_err("lock", &lock_path, &e))?;
        let mut state = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| file_err("read", path, &e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::new(),
            Err(e) => return Err(file_err("read", path, &e)),
        };
        let out = f(&mut state);
        if write {
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            let bytes = serde_json::to_vec(&state).map_err(|e| file_err("encode", path, &e))?;
            std::fs::write(&tmp, bytes).map_err(|e| file_err("write", &tmp, &e))?;
            std::fs::rename(&tmp, path).map_err(|e| file_err("replace", path, &e))?;
        }
        *cached = state;
        drop(lf);
        Ok(out)
    }

    /// [`with_state`](Self::with_state) for inspection: a state file that cannot be read is
    /// logged, and the copy read last is used.
    fn read_state<T>(&self, f: impl Fn(&State) -> T) -> T {
        match self.with_state(false, |s| f(s)) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "simulated cloud: using the state read last");
                f(&lock(&self.state))
            }
        }
    }

    fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    async fn round_trip(&self) {
        let l = self.latency();
        if !l.is_zero() {
            tokio::time::sleep(l).await;
        }
    }

    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    fn count(&self, op: Op, kind: &str) {
        let mut c = lock(&self.calls);
        let map = match op {
            Op::Create => &mut c.create,
            Op::Delete => &mut c.delete,
            Op::Update => &mut c.update,
            // Lookups are counted per call, not per kind (`Calls::find`).
            Op::Find => return,
        };
        *map.entry(kind.to_string()).or_insert(0) += 1;
    }

    fn throttled(&self) -> Result<(), ProvisionError> {
        if self.faults().take_throttle() {
            return Err(
                ProvisionError::new(ErrorKind::Throttled, "rate exceeded").with_code("Throttling")
            );
        }
        Ok(())
    }

    fn do_create(&self, req: &CreateRequest, kind: Kind) -> Result<Created, ProvisionError> {
        self.throttled()?;
        let fault = self.faults().take(Op::Create, &req.key);
        if let Some(f) = fault.as_ref().filter(|f| !f.takes_effect()) {
            return Err(f.error());
        }
        let root = &self.sandbox_root;
        let created = self.with_state(true, |s| {
            s.id.get_or_insert_with(new_store_id);
            s.create(req, kind, root)
        })??;
        match fault {
            Some(f) => Err(f.error()),
            None => Ok(created),
        }
    }

    /// The store's id, made (and, for a persistent cloud, written to its file) on first use.
    fn store_id(&self) -> Result<String, ProvisionError> {
        if let Some(id) = self.with_state(false, |s| s.id.clone())? {
            return Ok(id);
        }
        self.with_state(true, |s| s.id.get_or_insert_with(new_store_id).clone())
    }

    fn do_update(&self, req: &UpdateRequest, kind: Kind) -> Result<Created, ProvisionError> {
        self.throttled()?;
        let fault = self.faults().take(Op::Update, &req.key);
        if let Some(f) = fault.as_ref().filter(|f| !f.takes_effect()) {
            return Err(f.error());
        }
        let updated = self.with_state(true, |s| s.update(req, kind))??;
        match fault {
            Some(f) => Err(f.error()),
            None => Ok(updated),
        }
    }

    fn do_delete(&self, req: &DeleteRequest, kind: Kind) -> Result<bool, ProvisionError> {
        self.throttled()?;
        let fault = self.faults().take(Op::Delete, &req.key);
        if let Some(f) = fault.as_ref().filter(|f| !f.takes_effect()) {
            return Err(f.error());
        }
        let existed = self.with_state(true, |s| s.delete(req, kind))??;
        match fault {
            Some(f) => Err(f.error()),
            None => Ok(existed),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.owns_root {
            let _ = std::fs::remove_dir_all(&self.sandbox_root);
        }
    }
}

/// Counts a create/delete call as in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fresh store id: 64 random bits (from the standard library's randomly keyed hasher), in
/// hex.
fn new_store_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("store-{:016x}", h.finish())
}

fn unsupported(kind: &str) -> ProvisionError {
    ProvisionError::new(
        ErrorKind::InvalidSpec,
        format!(
            "the simulated cloud does not provision {kind:?} (it provisions: {})",
            Kind::ALL.map(Kind::as_str).join(", ")
        ),
    )
    .with_code("UnsupportedKind")
}

fn fmt_result<T>(r: &Result<T, ProvisionError>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    }
}

/// Builds a [`SimCloud`]; from [`SimCloud::builder`].
#[derive(Clone, Debug, Default)]
pub struct SimCloudBuilder {
    name: Option<String>,
    latency: Duration,
    sandbox_root: Option<PathBuf>,
    persist: Option<PathBuf>,
}

impl SimCloudBuilder {
    /// The proxy name (default `"sim"`), what a resource's `cloud` pins.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Latency of every call (create, delete, find), simulated with `tokio::time::sleep`
    /// (default: none).
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The directory server sandboxes are created in (`<root>/srv-0001/`, …). It is created on
    /// demand and left in place when the cloud is dropped. Default: a fresh directory under
    /// [`std::env::temp_dir`], removed when the last clone of the cloud is dropped.
    #[must_use]
    pub fn sandbox_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.sandbox_root = Some(root.into());
        self
    }

    /// Keeps the cloud's objects in the JSON file `path` instead of in memory, so that it
    /// outlives the process: several processes (and one killed with `kill -9` at any instant)
    /// share one simulated cloud. Every call takes an exclusive lock on `<path>.lock`, reloads
    /// the file, and a create or delete writes it back atomically (temporary file, rename)
    /// before the lock is released. Faults, call counts and latency stay per process. Server
    /// sandboxes default to `<path>.sandboxes/` (kept when the cloud is dropped).
    #[must_use]
    pub fn persist(mut self, path: impl Into<PathBuf>) -> Self {
        self.persist = Some(path.into());
        self
    }

    /// Builds the cloud.
    pub fn build(self) -> SimCloud {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (sandbox_root, owns_root) = match (self.sandbox_root, &self.persist) {
            (Some(r), _) => (r, false),
            (None, Some(p)) => {
                let mut dir = p.clone().into_os_string();
                dir.push(".sandboxes");
                (PathBuf::from(dir), false)
            }
            (None, None) => {
                let n = COUNTER.fetch_add(1, Ordering::Relaxed);
                let dir = format!("hoist-sim-{}-{n}", std::process::id());
                (std::env::temp_dir().join(dir), true)
            }
        };
        SimCloud {
            inner: Arc::new(Inner {
                name: self.name.unwrap_or_else(|| DEFAULT_NAME.to_string()),
                latency_nanos: AtomicU64::new(
                    u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX),
                ),
                sandbox_root,
                owns_root,
                state: Mutex::new(State::with_id(
                    // In memory, the cloud is this value: its identity is made with it.
                    self.persist.is_none().then(new_store_id),
                )),
                persist: self.persist,
                faults: Mutex::new(FaultState::default()),
                calls: Mutex::new(Calls::default()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }),
        }
    }
}

/// The built-in simulated cloud: an in-memory provisioner proxy for the provider-neutral kinds
/// (`core.network`, `core.subnet`, `core.security_group`, `core.server`, `core.public_ip`)
/// whose servers are real local sandbox directories.
///
/// Cheap to clone: clones share one cloud. See the [crate docs](crate) for its behaviour.
#[derive(Clone)]
pub struct SimCloud {
    inner: Arc<Inner>,
}

impl Default for SimCloud {
    fn default() -> Self {
        SimCloud::new()
    }
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCloud")
            .field("name", &self.inner.name)
            .field("latency", &self.inner.latency())
            .field("sandbox_root", &self.inner.sandbox_root)
            .field("objects", &self.count())
            .finish()
    }
}

impl SimCloud {
    /// A cloud named `"sim"` with no latency and a fresh temporary sandbox root.
    pub fn new() -> Self {
        SimCloud::builder().build()
    }

    /// A builder.
    pub fn builder() -> SimCloudBuilder {
        SimCloudBuilder::default()
    }

    /// The state file, for a persistent cloud ([`SimCloudBuilder::persist`]).
    pub fn persist_path(&self) -> Option<&Path> {
        self.inner.persist.as_deref()
    }

    /// The directory server sandboxes are created in.
    pub fn sandbox_root(&self) -> &Path {
        &self.inner.sandbox_root
    }

    /// The per-call latency.
    pub fn latency(&self) -> Duration {
        self.inner.latency()
    }

    /// Changes the per-call latency for calls that start from now on.
    pub fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.inner.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The failure-injection handle.
    pub fn faults(&self) -> Faults {
        Faults {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Snapshots of every live object, in creation order.
    pub fn objects(&self) -> Vec<SimObject> {
        self.inner.read_state(State::snapshot)
    }

    /// Snapshots of the live objects of `kind` (`core.server`, …), in creation order.
    pub fn objects_of(&self, kind: &str) -> Vec<SimObject> {
        self.objects()
            .into_iter()
            .filter(|o| o.kind == kind)
            .collect()
    }

    /// A snapshot of the live object `id`.
    pub fn object(&self, id: &str) -> Option<SimObject> {
        self.inner.read_state(|s| s.get(id))
    }

    /// Number of live objects.
    pub fn count(&self) -> usize {
        self.inner.read_state(State::len)
    }

    /// Sandbox directories of the live servers.
    pub fn sandboxes(&self) -> Vec<PathBuf> {
        self.inner.read_state(State::sandboxes)
    }

    /// Counts of the calls received so far.
    pub fn calls(&self) -> Calls {
        lock(&self.inner.calls).clone()
    }

    /// The number of create/delete calls running right now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// The highest number of create/delete calls that ran at the same time so far.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    /// Resets [`calls`](Self::calls) and [`max_in_flight`](Self::max_in_flight) (objects and
    /// faults are kept).
    pub fn reset_stats(&self) {
        *lock(&self.inner.calls) = Calls::default();
        self.inner
            .max_in_flight
            .store(self.in_flight(), Ordering::SeqCst);
    }
}

#[async_trait]
impl Provisioner for SimCloud {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn supports(&self, kind: &str) -> bool {
        Kind::parse(kind).is_some()
    }

    fn check(&self, kind: &str, spec: &Value) -> Vec<String> {
        check_spec(kind, spec)
    }

    /// `sim account store-…`: the store's id, made when the store is first used (for a
    /// persistent cloud, kept in its file), so another file, or another in-memory cloud, is
    /// another cloud.
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        Ok(CloudIdentity::new("sim", self.inner.store_id()?))
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError> {
        let inner = &self.inner;
        inner.count(Op::Create, &req.kind);
        let _guard = inner.enter();
        inner.round_trip().await;
        let result = match Kind::parse(&req.kind) {
            Some(kind) => inner.do_create(req, kind),
            None => Err(unsupported(&req.kind)),
        };
        debug!(
            proxy = %inner.name,
            op = "create",
            kind = %req.kind,
            key = %req.key,
            token = %req.token,
            id = result.as_ref().map(|c| c.id.as_str()).unwrap_or("-"),
            result = %fmt_result(&result),
            "sim call"
        );
        result
    }

    async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        let inner = &self.inner;
        inner.count(Op::Delete, &req.kind);
        let _guard = inner.enter();
        inner.round_trip().await;
        let result = match Kind::parse(&req.kind) {
            Some(kind) => inner.do_delete(req, kind),
            None => Err(unsupported(&req.kind)),
        };
        debug!(
            proxy = %inner.name,
            op = "delete",
            kind = %req.kind,
            key = %req.key,
            id = %req.id,
            existed = result.as_ref().is_ok_and(|e| *e),
            result = %fmt_result(&result),
            "sim call"
        );
        result.map(|existed| {
            if existed {
                Deleted::Deleted
            } else {
                Deleted::Absent
            }
        })
    }

    async fn find(&self, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        let inner = &self.inner;
        lock(&inner.calls).find += 1;
        inner.round_trip().await;
        let fault = inner.faults().take(Op::Find, &req.key);
        let result = inner.throttled().and_then(|()| match fault {
            Some(f) => Err(f.error()),
            None => inner.with_state(false, |state| {
                state
                    .by_token(&req.token)
                    .filter(|(kind, key, _)| kind.as_str() == req.kind && *key == req.key)
                    .map(|(_, _, created)| created)
            }),
        });
        debug!(
            proxy = %inner.name,
            op = "find",
            kind = %req.kind,
            key = %req.key,
            token = %req.token,
            found = result.as_ref().ok().and_then(|c| c.as_ref()).map(|c| c.id.as_str()).unwrap_or("-"),
            result = %fmt_result(&result),
            "sim call"
        );
        result
    }

    fn updatable(&self, kind: &str) -> &'static [&'static str] {
        Kind::parse(kind).map_or(&[], State::updatable)
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Created, ProvisionError> {
        let inner = &self.inner;
        inner.count(Op::Update, &req.kind);
        let _guard = inner.enter();
        inner.round_trip().await;
        let result = match Kind::parse(&req.kind) {
            Some(kind) => inner.do_update(req, kind),
            None => Err(unsupported(&req.kind)),
        };
        debug!(
            proxy = %inner.name,
            op = "update",
            kind = %req.kind,
            key = %req.key,
            id = %req.id,
            fields = %req.changed.join(","),
            result = %fmt_result(&result),
            "sim call"
        );
        result
    }

    async fn read(&self, req: &ReadRequest) -> Result<Option<Created>, ProvisionError> {
        let inner = &self.inner;
        lock(&inner.calls).read += 1;
        inner.round_trip().await;
        let kind = Kind::parse(&req.kind).ok_or_else(|| unsupported(&req.kind))?;
        inner.throttled()?;
        inner.with_state(false, |s| s.read(&req.id, kind))
    }

    fn endpoint(&self, kind: &str, outputs: &OutputMap) -> Option<HostEndpoint> {
        if kind != Kind::Server.as_str() && kind != Kind::PublicIp.as_str() {
            return None;
        }
        let dir = outputs.get("sandbox").and_then(Value::as_str)?;
        Some(HostEndpoint::Local {
            dir: PathBuf::from(dir),
        })
    }
}
