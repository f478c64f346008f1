//! The recorded state: [`SystemState`] and its records, and the [`Change`]s the scheduler
//! journals one at a time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hoist_provider::CloudIdentity;
use serde::{Deserialize, Serialize};

/// The version of the state format this crate writes (JSON and SQL alike).
///
/// History:
/// - **1**: resources (key, kind, provider, deps, status, token, provider id, outputs, error),
///   task results, runs (`action`, `started`, `finished`, `success`, `by`), generation.
/// - **2**: resources gain `tags` and the `generation` they were created in; runs gain an `id`,
///   an `outcome` (`running`, `succeeded`, …, replacing `success`), an optional `finished` and
///   a `detail`, and are recorded when they start; the system gains the last-known-good and
///   last-known-bad versions (`lkg`, `lkb`) that rollouts need.
/// - **3**: resources gain the `identity` of the cloud they were made in (see
///   [`CloudIdentity`]); task keys follow the one addressing scheme (a multi-task's child is
///   keyed by its role's path, `cfg/deploy[app[0]]`, where it was keyed by the role's short
///   name, `cfg/deploy[app_0]`): the orchestrator renames such records at the first initiate
///   that has the models, so nothing runs again because of the migration.
/// - **4**: resources gain the resolved `spec` they were last made or changed with (secret
///   values as keyed digests, never in clear), the `incarnation` of their object, whether they
///   are protected (`protect`), and, for the old object of a replacement that is not deleted
///   yet, the key of the resource it was deposed from (`deposed_of`). Records migrated from
///   schema 3 have no spec: the first run with the models takes the current models as their
///   baseline, so the migration by itself changes nothing.
/// - **5**: resources gain the spec of an in-place update whose outcome is unknown
///   (`updating`): an update is journaled intent-first, as creates and deletes are. Tasks
///   gain the `fingerprint` of what they did; records without one take the models as their
///   baseline, so the migration by itself runs nothing again.
///
/// State written with an older version is migrated when it is read ([`crate::from_json`] for
/// JSON, the SQL stores' migrations for databases); a newer version is refused.
pub const SCHEMA_VERSION: u32 = 5;

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
    /// Stable key, the resource's model path: `<model>/<path>`.
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
    /// The last error, if the last create or delete failed (scrubbed of secrets).
    #[serde(default)]
    pub error: Option<String>,
    /// The tags the object was created with (`hoist:system`, `hoist:resource`, `hoist:token`):
    /// how it is found in the cloud without its id. Since schema 2.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The generation of the system the resource was created in. Since schema 2.
    #[serde(default)]
    pub generation: u64,
    /// The cloud (account, region, store) the object was made in: a run refuses to touch the
    /// resource through a proxy that reports another identity. `None` for resources recorded
    /// before schema 3.
    #[serde(default)]
    pub identity: Option<CloudIdentity>,
    /// The resolved spec the object was last created or changed with: references as
    /// `{"$ref": key, "id": provider_id}`, secret values as keyed digests
    /// (`{"$secret": "hmac-sha256:…", "key": "<key id>"}`). `None` for resources recorded
    /// before schema 4 (the next run records its models' spec as the baseline). Since schema 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<serde_json::Value>,
    /// How many times the resource's object was replaced: each object has its own
    /// incarnation, and its own token. Since schema 4.
    #[serde(default)]
    pub incarnation: u32,
    /// Never deleted or replaced unless forced (copied from the model's `.protect()`).
    /// Since schema 4.
    #[serde(default)]
    pub protect: bool,
    /// For the old object of a replacement that is not deleted yet (a *deposed* object, kept
    /// under [`deposed_key`]): the key of the resource it was replaced in. Since schema 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposed_of: Option<String>,
    /// The spec (recorded form) an in-place update was sent with, while its outcome is
    /// unknown: written before the call, cleared when it succeeded. Until then the object may
    /// hold either spec, so the next diff compares the models with both. Since schema 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updating: Option<serde_json::Value>,
}

/// The key under which incarnation `incarnation` of resource `key` is kept once a
/// replacement has deposed it: `web/subnet~0`.
pub fn deposed_key(key: &str, incarnation: u32) -> String {
    format!("{key}~{incarnation}")
}

/// Outcome of a recorded task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Succeeded (changed, unchanged or skipped by `creates`/`removes`): not run again
    /// unless its [`fingerprint`](TaskRecord::fingerprint) changes.
    Succeeded,
    /// Failed after all attempts: run again on resume.
    Failed,
    /// A handler a task notified (it changed something) that has not run since: it runs on
    /// the next run, even after a crash. Since schema 5.
    Pending,
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
    /// What the task did when it last succeeded, input by input (its action as written,
    /// each variable it reads, each local file it sends, its host and users), each as a
    /// digest (secret values keyed, never in clear): it runs again when one changes. `None`
    /// for records of schema 4 and older (the next run takes the models as the baseline).
    /// Since schema 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<BTreeMap<String, String>>,
}

/// How a recorded run ended (or that it has not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Started, not finished (yet: a run found in this state by a later run that holds the
    /// lock died, and is marked [`Interrupted`](Self::Interrupted)).
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with failures.
    Failed,
    /// Cancelled; work in flight finished.
    Cancelled,
    /// The process died while the run was in progress.
    Interrupted,
}

/// One run: an initiate, a teardown, a recover, an import, a lock take-over or a forced
/// unlock. Recorded when it starts and again when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id (`run-<ms>-<pid>-<n>`), the key under which the run is updated.
    pub id: String,
    /// `initiate`, `teardown`, `recover`, `import`, `force-unlock` or `lock-takeover`.
    pub action: String,
    /// Start, seconds since the Unix epoch.
    pub started: u64,
    /// End, seconds since the Unix epoch (`None` while running).
    #[serde(default)]
    pub finished: Option<u64>,
    /// Outcome.
    pub outcome: RunOutcome,
    /// Who ran it (`user@host`).
    #[serde(default)]
    pub by: String,
    /// Details (the lock that was broken, the version deployed, …).
    #[serde(default)]
    pub detail: Option<String>,
}

impl RunRecord {
    /// A run of `action` by `by`, starting now, with a fresh id.
    pub fn start(action: &str, by: &str) -> Self {
        RunRecord {
            id: new_run_id(),
            action: action.to_string(),
            started: now_secs(),
            finished: None,
            outcome: RunOutcome::Running,
            by: by.to_string(),
            detail: None,
        }
    }

    /// This run, finished now with `outcome`.
    #[must_use]
    pub fn finish(mut self, outcome: RunOutcome) -> Self {
        self.finished = Some(now_secs());
        self.outcome = outcome;
        self
    }

    /// This run with `detail`.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// True if it finished successfully.
    pub fn success(&self) -> bool {
        self.outcome == RunOutcome::Succeeded
    }
}

/// A version of the system that a run deployed: the last known good or bad one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The version label given to the orchestration.
    pub version: String,
    /// The id of the run that deployed it.
    pub run: String,
    /// When, seconds since the Unix epoch.
    pub at: u64,
}

/// Everything recorded about one system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemState {
    /// Format version ([`SCHEMA_VERSION`] when written or read by this crate).
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
    /// The last version deployed successfully (for rollouts). Since schema 2.
    #[serde(default)]
    pub lkg: Option<VersionRecord>,
    /// The last version whose deployment failed (for rollouts). Since schema 2.
    #[serde(default)]
    pub lkb: Option<VersionRecord>,
}

/// One journaled change to a system's state. The scheduler writes each intent and each
/// outcome as a change (or a few, atomically) through
/// [`StateStore::apply`](crate::StateStore::apply); stores write only what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "changes live for one journal write, a few at a time; boxing would only add noise"
)]
pub enum Change {
    /// Inserts or replaces the resource with this key.
    PutResource(ResourceRecord),
    /// Removes the resource with this key (absent: nothing to do).
    RemoveResource(String),
    /// Inserts or replaces the task result with this key.
    PutTask(TaskRecord),
    /// Removes the task result with this key (absent: nothing to do).
    RemoveTask(String),
    /// Forgets every task result (config runs anew).
    ClearTasks,
    /// Sets the generation.
    SetGeneration(u64),
    /// Sets the last known good version.
    SetLastKnownGood(Option<VersionRecord>),
    /// Sets the last known bad version.
    SetLastKnownBad(Option<VersionRecord>),
    /// Inserts the run with this id, or updates it in place.
    PutRun(RunRecord),
}

impl SystemState {
    /// An empty state for `system`.
    pub fn new(system: &str) -> Self {
        SystemState {
            schema: crate::SCHEMA_VERSION,
            system: system.to_string(),
            generation: 0,
            resources: BTreeMap::new(),
            tasks: BTreeMap::new(),
            runs: Vec::new(),
            lkg: None,
            lkb: None,
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
        self.token_with(key, "")
    }

    /// The idempotency token of a new object of resource `key` made by the run `run` (its
    /// id): every creation of a resource has its own token, so a replacement's create, or the
    /// create of a resource removed and added again, never finds an earlier object.
    ///
    /// ```
    /// let s = hoist_state::SystemState::new("demo");
    /// assert_ne!(s.token_for_run("web/db", "run-1"), s.token_for_run("web/db", "run-2"));
    /// ```
    pub fn token_for_run(&self, key: &str, run: &str) -> String {
        self.token_with(key, run)
    }

    fn token_with(&self, key: &str, salt: &str) -> String {
        // FNV-1a over system, key, generation (and salt): stable across processes and
        // versions.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .system
            .bytes()
            .chain([0])
            .chain(key.bytes())
            .chain([0])
            .chain(self.generation.to_le_bytes())
            .chain(salt.bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("hoist-{h:016x}-g{}", self.generation)
    }

    /// True if nothing is recorded as existing in the cloud.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Applies one change in memory (what a store does on disk).
    ///
    /// ```
    /// use hoist_state::{Change, SystemState};
    /// let mut s = SystemState::new("demo");
    /// s.apply(&Change::SetGeneration(3));
    /// assert_eq!(s.generation, 3);
    /// ```
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutResource(r) => {
                self.resources.insert(r.key.clone(), r.clone());
            }
            Change::RemoveResource(k) => {
                self.resources.remove(k);
            }
            Change::PutTask(t) => {
                self.tasks.insert(t.key.clone(), t.clone());
            }
            Change::RemoveTask(k) => {
                self.tasks.remove(k);
            }
            Change::ClearTasks => self.tasks.clear(),
            Change::SetGeneration(g) => self.generation = *g,
            Change::SetLastKnownGood(v) => self.lkg.clone_from(v),
            Change::SetLastKnownBad(v) => self.lkb.clone_from(v),
            Change::PutRun(r) => match self.runs.iter_mut().find(|x| x.id == r.id) {
                Some(x) => *x = r.clone(),
                None => self.runs.push(r.clone()),
            },
        }
    }

    /// Applies changes in order.
    pub fn apply_all(&mut self, changes: &[Change]) {
        for c in changes {
            self.apply(c);
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch (this machine's clock).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh run (or lock) id: unique across processes on one machine and, with the time in
/// it, across machines in practice.
pub(crate) fn new_run_id() -> String {
    new_id("run")
}

pub(crate) fn new_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:x}-{:x}-{n}", now_ms(), std::process::id())
}
