//! The recorded state of a system and the stores that keep it.
//!
//! [`SystemState`] is what teardown and resume run from: the concrete resource graph (keys,
//! kinds, providers, recorded dependency edges, provider ids, outputs, idempotency tokens),
//! the task results and the run history. It is a versioned DTO, separate from the model types,
//! so that state written by one version of hoist is read by the next
//! ([`SCHEMA_VERSION`]). Secrets are never part of it.
//!
//! Only the orchestrator's scheduler writes state, through a [`StateStore`]. Two stores ship
//! here: [`MemoryStore`] (tests, one process) and [`FileStore`] (one JSON file per system,
//! written atomically: temporary file, fsync, rename).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The version of the state format this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Lifecycle of a recorded resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// A create was sent (or is about to be) with the recorded token; outcome unknown. On the
    /// next run the provider is asked to find the object by token and it is adopted, or the
    /// create is sent again with the same token.
    Creating,
    /// Created; provider id and outputs recorded.
    Created,
    /// The last create failed (nothing to delete unless the provider finds one by token).
    Failed,
    /// A delete was sent; outcome unknown.
    Deleting,
}

/// One resource of the system, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Stable key: `<model>/<path>`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Kind (`core.server`).
    pub kind: String,
    /// Proxy name.
    pub provider: String,
    /// Keys of the resources this one depends on (recorded at creation; teardown order).
    pub deps: Vec<String>,
    /// Status.
    pub status: ResourceStatus,
    /// Idempotency token of the current create.
    pub token: String,
    /// Provider id, once created.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Outputs, once created.
    #[serde(default)]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// The last error, if the last create or delete failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Outcome of a recorded task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Succeeded (changed, unchanged or skipped by `creates`/`removes`): not run again.
    Succeeded,
    /// Failed after all attempts: run again on resume.
    Failed,
}

/// One task result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Stable key: `<model>/<path>`.
    pub key: String,
    /// Outcome.
    pub status: TaskStatus,
    /// Attempts made in the last run.
    pub attempts: u32,
    /// The host it ran on.
    pub host: String,
    /// The last error (scrubbed of secrets).
    #[serde(default)]
    pub error: Option<String>,
}

/// One initiate or teardown run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `initiate` or `teardown`.
    pub action: String,
    /// Start, seconds since the Unix epoch.
    pub started: u64,
    /// End, seconds since the Unix epoch.
    pub finished: u64,
    /// Whether it succeeded.
    pub success: bool,
    /// Who ran it (user@host).
    #[serde(default)]
    pub by: String,
}

/// Everything recorded about one system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemState {
    /// Format version ([`SCHEMA_VERSION`] when written by this crate).
    pub schema: u32,
    /// System name.
    pub system: String,
    /// Bumped by every completed teardown; part of every idempotency token, so a re-initiate
    /// after teardown creates new objects rather than finding deleted ones.
    pub generation: u64,
    /// Resources by key.
    pub resources: BTreeMap<String, ResourceRecord>,
    /// Task results by key.
    pub tasks: BTreeMap<String, TaskRecord>,
    /// Run history, oldest first.
    pub runs: Vec<RunRecord>,
}

impl SystemState {
    /// An empty state for `system`.
    pub fn new(system: &str) -> Self {
        SystemState {
            schema: SCHEMA_VERSION,
            system: system.to_string(),
            generation: 0,
            resources: BTreeMap::new(),
            tasks: BTreeMap::new(),
            runs: Vec::new(),
        }
    }

    /// The deterministic idempotency token of resource `key` in this generation.
    ///
    /// ```
    /// let s = hoist_state::SystemState::new("demo");
    /// assert_eq!(s.token_for("web/db"), s.token_for("web/db"));
    /// assert_ne!(s.token_for("web/db"), s.token_for("web/app[0]"));
    /// ```
    pub fn token_for(&self, key: &str) -> String {
        // FNV-1a over system, key and generation: stable across processes and versions.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.system.bytes().chain([0]).chain(key.bytes()).chain([0]).chain(self.generation.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("hoist-{h:016x}-g{}", self.generation)
    }

    /// True if nothing is recorded as existing in the cloud.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

/// A state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state store {location}: {message}")]
    Io {
        /// Where (a path or URL).
        location: String,
        /// What happened.
        message: String,
    },
    /// The stored state cannot be read.
    #[error("state of system `{system}` at {location} is corrupt: {message}")]
    Corrupt {
        /// System.
        system: String,
        /// Where.
        location: String,
        /// Why.
        message: String,
    },
    /// The state was written by a newer hoist.
    #[error("state of system `{system}` has schema version {found}, newer than this hoist understands ({SCHEMA_VERSION}); upgrade hoist")]
    TooNew {
        /// System.
        system: String,
        /// Version found.
        found: u32,
    },
}

/// Where system states are kept.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The state of `system`, or `None` if it has none.
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError>;
    /// Replaces the state of `state.system`. Must be durable when it returns.
    async fn save(&self, state: &SystemState) -> Result<(), StateError>;
    /// A description for messages (a path or URL).
    fn location(&self) -> String;
}

fn check_schema(s: &SystemState) -> Result<(), StateError> {
    if s.schema > SCHEMA_VERSION {
        return Err(StateError::TooNew { system: s.system.clone(), found: s.schema });
    }
    Ok(())
}

/// An in-memory store, shared by its clones.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<HashMap<String, SystemState>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        Ok(self.inner.lock().map_err(|_| poisoned())?.get(system).cloned())
    }
    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        self.inner.lock().map_err(|_| poisoned())?.insert(state.system.clone(), state.clone());
        Ok(())
    }
    fn location(&self) -> String {
        "memory".into()
    }
}

fn poisoned() -> StateError {
    StateError::Io { location: "memory".into(), message: "lock poisoned".into() }
}

/// One JSON file per system in a directory (default `.hoist/`), written atomically.
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore { dir: dir.into() }
    }

    /// The file holding `system`'s state.
    pub fn path_for(&self, system: &str) -> PathBuf {
        let safe: String =
            system.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
        self.dir.join(format!("{safe}.state.json"))
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Io { location: path.display().to_string(), message: e.to_string() }
}

#[async_trait]
impl StateStore for FileStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        let path = self.path_for(system);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let s: SystemState = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            system: system.into(),
            location: path.display().to_string(),
            message: e.to_string(),
        })?;
        check_schema(&s)?;
        Ok(Some(s))
    }

    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        let path = self.path_for(&state.system);
        let dir = self.dir.clone();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io(&path, e))?;
        tokio::task::spawn_blocking(move || -> Result<(), StateError> {
            use std::io::Write as _;
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await
        .map_err(|e| io(&self.dir, e))?
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SystemState {
        let mut s = SystemState::new("demo");
        s.resources.insert(
            "web/db".into(),
            ResourceRecord {
                key: "web/db".into(),
                name: "db".into(),
                kind: "core.server".into(),
                provider: "sim".into(),
                deps: vec!["web/subnet".into()],
                status: ResourceStatus::Created,
                token: s.token_for("web/db"),
                provider_id: Some("srv-0001".into()),
                outputs: [("ip".to_string(), serde_json::json!("10.0.1.4"))].into(),
                error: None,
            },
        );
        s
    }

    #[tokio::test]
    async fn file_store_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let st = FileStore::new(dir.path().join(".hoist"));
        assert_eq!(st.load("demo").await.unwrap(), None);
        st.save(&sample()).await.unwrap();
        let again = FileStore::new(dir.path().join(".hoist"));
        assert_eq!(again.load("demo").await.unwrap(), Some(sample()));
    }

    #[tokio::test]
    async fn newer_schema_is_refused_and_corruption_named() {
        let dir = tempfile::tempdir().unwrap();
        let st = FileStore::new(dir.path());
        let mut s = sample();
        s.schema = SCHEMA_VERSION + 1;
        st.save(&s).await.unwrap();
        assert!(matches!(st.load("demo").await, Err(StateError::TooNew { found, .. }) if found == SCHEMA_VERSION + 1));
        std::fs::write(st.path_for("demo"), b"{ not json").unwrap();
        let e = st.load("demo").await.unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("demo"), "{e}");
    }

    #[test]
    fn tokens_change_with_generation() {
        let mut s = SystemState::new("demo");
        let a = s.token_for("web/db");
        s.generation += 1;
        assert_ne!(a, s.token_for("web/db"));
    }
}
