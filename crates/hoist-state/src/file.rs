//! [`FileStore`]: one JSON file per system in a directory, written atomically.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use crate::lock::{Decision, decide, local_now};
use crate::{
    Change, LockAttempt, LockInfo, LockRequest, StateError, StateStore, SystemState, check_fence,
    from_json,
};

/// One JSON file per system in a directory (`<system>.state.json`), written atomically
/// (temporary file, fsync, rename), with its lock beside it (`<system>.lock.json`). Writers
/// serialize on an advisory file lock on `<dir>/.hoist-store.lock`.
///
/// Readable and diffable, but every write rewrites the system's whole file: for tests and
/// small systems. [`SqliteStore`](crate::SqliteStore) is the default.
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore { dir: dir.into() }
    }

    fn safe(system: &str) -> String {
        system
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The file holding `system`'s state.
    pub fn path_for(&self, system: &str) -> PathBuf {
        self.dir.join(format!("{}.state.json", Self::safe(system)))
    }

    fn lock_path(&self, system: &str) -> PathBuf {
        self.dir.join(format!("{}.lock.json", Self::safe(system)))
    }

    /// Runs `f` holding the directory's writer lock, on a blocking thread.
    async fn locked<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FileStore) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&me.dir).map_err(|e| io(&me.dir, e))?;
            let lp = me.dir.join(".hoist-store.lock");
            let lf = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lp)
                .map_err(|e| io(&lp, e))?;
            lf.lock().map_err(|e| io(&lp, e))?;
            let r = f(&me);
            let _ = lf.unlock();
            r
        })
        .await
        .map_err(|e| io(&self.dir, e))?
    }

    fn read_state(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        let path = self.path_for(system);
        match std::fs::read(&path) {
            Ok(b) => from_json(&b, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn read_lock(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path(system);
        match std::fs::read(&path) {
            Ok(b) => {
                let mut l: LockInfo = serde_json::from_slice(&b).map_err(|e| io(&path, e))?;
                l.now_ms = local_now();
                Ok(Some(l))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        use std::io::Write as _;
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn write_state(&self, state: &SystemState) -> Result<(), StateError> {
        let path = self.path_for(&state.system);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io(&path, e))?;
        self.write_atomic(&path, &bytes)
    }

    fn write_lock(&self, system: &str, l: Option<&LockInfo>) -> Result<(), StateError> {
        let path = self.lock_path(system);
        match l {
            Some(l) => {
                let bytes = serde_json::to_vec_pretty(l).map_err(|e| io(&path, e))?;
                self.write_atomic(&path, &bytes)
            }
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path, e)),
                _ => Ok(()),
            },
        }
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Io {
        location: path.display().to_string(),
        message: e.to_string(),
    }
}

#[async_trait]
impl StateStore for FileStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        let (me, system) = (self.clone(), system.to_string());
        tokio::task::spawn_blocking(move || me.read_state(&system))
            .await
            .map_err(|e| io(&self.dir, e))?
    }

    async fn apply(
        &self,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError> {
        let (system, fence, changes) = (
            system.to_string(),
            fence.map(str::to_string),
            changes.to_vec(),
        );
        self.locked(move |me| {
            check_fence(&system, fence.as_deref(), me.read_lock(&system)?.as_ref())?;
            let mut s = me
                .read_state(&system)?
                .unwrap_or_else(|| SystemState::new(&system));
            s.apply_all(&changes);
            me.write_state(&s)
        })
        .await
    }

    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        let state = state.clone();
        self.locked(move |me| me.write_state(&state)).await
    }

    async fn systems(&self) -> Result<Vec<String>, StateError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(io(&dir, e)),
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.to_string_lossy().ends_with(".state.json") {
                    let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
                    let v: serde_json::Value =
                        serde_json::from_slice(&bytes).map_err(|e| io(&p, e))?;
                    if let Some(s) = v.get("system").and_then(|s| s.as_str()) {
                        out.push(s.to_string());
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| io(&self.dir, e))?
    }

    async fn lock_try(&self, system: &str, req: &LockRequest) -> Result<LockAttempt, StateError> {
        let (system, req) = (system.to_string(), req.clone());
        self.locked(move |me| {
            let cur = me.read_lock(&system)?;
            Ok(match decide(cur, &req, local_now()) {
                Decision::Take { new, replaced } => {
                    me.write_lock(&system, Some(&new))?;
                    LockAttempt::Acquired {
                        id: new.id,
                        replaced,
                    }
                }
                Decision::Held(held) => LockAttempt::Held(held),
            })
        })
        .await
    }

    async fn lock_renew(
        &self,
        system: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, StateError> {
        let (system, id) = (system.to_string(), id.to_string());
        self.locked(move |me| match me.read_lock(&system)? {
            Some(mut l) if l.id == id => {
                let now = local_now();
                l.renewed_ms = now;
                l.expires_ms =
                    now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
                me.write_lock(&system, Some(&l))?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }

    async fn lock_release(&self, system: &str, id: &str) -> Result<(), StateError> {
        let (system, id) = (system.to_string(), id.to_string());
        self.locked(move |me| {
            if me.read_lock(&system)?.is_some_and(|l| l.id == id) {
                me.write_lock(&system, None)?;
            }
            Ok(())
        })
        .await
    }

    async fn lock_info(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let (me, system) = (self.clone(), system.to_string());
        tokio::task::spawn_blocking(move || me.read_lock(&system))
            .await
            .map_err(|e| io(&self.dir, e))?
    }

    async fn lock_break(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let system = system.to_string();
        self.locked(move |me| {
            let cur = me.read_lock(&system)?;
            me.write_lock(&system, None)?;
            Ok(cur)
        })
        .await
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}
