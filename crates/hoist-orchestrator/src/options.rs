//! What an orchestration was configured with: limits, retry policies, readiness, overrides.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::{Credentials, RefPath, RetryPolicy, Secret, Vars};
use hoist_provider::HostEndpoint;
use hoist_state::LockOptions;

/// How hosts are checked before configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Readiness {
    /// Connection attempts per host (0 disables the check).
    pub attempts: u32,
    /// Pause between attempts.
    pub interval: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// How long a server created in this run may refuse logins before that counts as a
    /// failure (cloud-init installs login keys late). A host that already existed, and a
    /// changed host key anywhere, fail at the first attempt. A fresh server that refuses
    /// logins is tried every `interval` until the grace is over (at most 600 times), even
    /// beyond `attempts`, which bounds the tries of a host that does not answer.
    pub login_grace: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            attempts: 20,
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            login_grace: Duration::from_secs(60),
        }
    }
}

/// Asks for the sudo password (see
/// [`OrchestrationBuilder::sudo_prompt`](crate::OrchestrationBuilder::sudo_prompt)).
pub(crate) type SudoPrompt = Arc<dyn Fn() -> Secret + Send + Sync>;

/// The builder's settings, shared read-only by every run.
pub(crate) struct Options {
    pub(crate) concurrency: usize,
    pub(crate) provider_limits: HashMap<String, usize>,
    pub(crate) host_limit: usize,
    pub(crate) fail_fast: bool,
    pub(crate) readiness: Readiness,
    pub(crate) provision_retry: RetryPolicy,
    pub(crate) teardown_retry: RetryPolicy,
    pub(crate) overrides: Vars,
    pub(crate) excludes: Vec<RefPath>,
    pub(crate) cloud_creds: BTreeMap<String, Credentials>,
    pub(crate) connect_overrides: HashMap<String, HostEndpoint>,
    pub(crate) local_dir: PathBuf,
    pub(crate) sudo_password: Option<Secret>,
    pub(crate) sudo_prompt: Option<SudoPrompt>,
    pub(crate) lock: LockOptions,
    pub(crate) version: Option<String>,
    pub(crate) forget_missing: bool,
    pub(crate) force_protected: bool,
    /// What a run is restricted to (`--target`), and what it leaves out (`--exclude`).
    pub(crate) targets: Vec<hoist_core::AddressPattern>,
    pub(crate) target_excludes: Vec<hoist_core::AddressPattern>,
    /// Read every recorded object back before an initiate.
    pub(crate) refresh_first: bool,
    /// Tasks to run whatever their fingerprints say (`--force`).
    pub(crate) force_tasks: Vec<hoist_core::AddressPattern>,
    /// Where the state key file is looked for (`.hoist/state.key` below it): the directory
    /// the orchestration was built in.
    pub(crate) state_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 10,
            provider_limits: HashMap::new(),
            host_limit: 8,
            fail_fast: true,
            readiness: Readiness::default(),
            provision_retry: RetryPolicy::attempts(4).exponential(Duration::from_millis(200), 2.0),
            teardown_retry: RetryPolicy::attempts(8).exponential(Duration::from_millis(250), 2.0),
            overrides: Vars::new(),
            excludes: Vec::new(),
            cloud_creds: BTreeMap::new(),
            connect_overrides: HashMap::new(),
            local_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            sudo_password: None,
            sudo_prompt: None,
            lock: LockOptions::default(),
            version: None,
            forget_missing: false,
            force_protected: false,
            force_tasks: Vec::new(),
            refresh_first: false,
            targets: Vec::new(),
            target_excludes: Vec::new(),
            state_dir: PathBuf::new(),
        }
    }
}
