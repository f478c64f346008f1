//! Shared helpers of the cross-crate scenario tests (`tests/scenarios/`): small model builders,
//! an event recorder, and accessors that turn reports, events and recorded state into plain
//! data the scenarios assert on.
//!
//! The scenarios run whole orchestrations: the simulated cloud (`hoist::sim`) for
//! infrastructure, and local sandbox directories as hosts for configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hoist::sim::SimCloud;
use hoist::state::SystemState;
use hoist::{
    Event, EventKind, EventSink, Model, Multi, MultiTask, Network, Orchestration,
    OrchestrationBuilder, Readiness, Report, ResourceAction, ResourceOutcome, Role, Server, Subnet,
    Task, TaskOutcome,
};

// ---------------------------------------------------------------------------------------------
// Models

/// `n` independent servers: a network, a subnet, and `srv[0..n]` in it.
#[derive(Model)]
pub struct Fleet {
    /// The network.
    pub net: Network,
    /// Its subnet.
    pub subnet: Subnet,
    /// The servers, keyed `0..n`.
    pub srv: Multi<Server>,
}

impl Fleet {
    /// A fleet of `n` small servers.
    pub fn new(n: usize) -> Self {
        let r = Fleet::refs();
        Fleet {
            net: Network::new("10.30.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.30.1.0/24"),
            srv: Multi::new(Server::new("debian-12", "small", r.subnet.clone())).keys(0..n),
        }
    }

    /// The resource keys of a fleet of `n` instantiated as model `model`, in dependency order.
    pub fn keys(model: &str, n: usize) -> Vec<String> {
        let mut v = vec![format!("{model}/net"), format!("{model}/subnet")];
        v.extend((0..n).map(|k| format!("{model}/srv[{k}]")));
        v
    }
}

/// One role per fleet server: `srv[k]` runs on `Fleet.srv[k]` and sees `ID = k`.
#[derive(Model)]
pub struct FleetRoles {
    /// The roles.
    pub srv: Multi<Role>,
}

impl FleetRoles {
    /// Roles for the servers `0..n` of a [`Fleet`].
    pub fn new(n: usize) -> Self {
        FleetRoles {
            srv: Multi::from_fn(|k| Role::on(Fleet::refs().srv.mine()).var("ID", k.to_string()))
                .keys(0..n),
        }
    }
}

/// One shell task per [`FleetRoles`] role.
#[derive(Model)]
pub struct FleetTasks {
    /// `work[<role>]`: the shell line, run on every role's host.
    pub work: MultiTask<Task>,
}

impl FleetTasks {
    /// Runs `line` (with `!{ID}` and friends) on every server.
    pub fn new(line: &str) -> Self {
        let line = line.to_string();
        FleetTasks {
            work: MultiTask::new(
                move |role| Task::shell(&line).role(role),
                FleetRoles::refs().srv.all(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestrations

/// A simulated cloud with `latency` per call (sandboxes under a fresh temporary root, removed
/// when the last clone is dropped).
pub fn sim(latency: Duration) -> SimCloud {
    SimCloud::builder().latency(latency).build()
}

/// Readiness checks fit for tests: few attempts, short pauses.
pub fn quick_readiness() -> Readiness {
    Readiness {
        attempts: 2,
        interval: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..Readiness::default()
    }
}

/// A builder for system `system` on `cloud`, with its state in memory and quick readiness
/// checks.
pub fn builder(system: &str, cloud: &SimCloud) -> OrchestrationBuilder {
    Orchestration::builder(system)
        .state_in_memory()
        .provisioner(Arc::new(cloud.clone()))
        .readiness(quick_readiness())
}

/// A builder for a system with no cloud (configuration of fixed or local hosts only), with
/// quick readiness checks.
pub fn local_builder(system: &str) -> OrchestrationBuilder {
    Orchestration::builder(system)
        .state_in_memory()
        .readiness(quick_readiness())
}

/// Panics with the whole report unless it succeeded.
#[track_caller]
pub fn assert_success(report: &Report) {
    assert!(report.success, "expected success, got:\n{report}");
    assert!(!report.cancelled, "unexpectedly cancelled:\n{report}");
}

// ---------------------------------------------------------------------------------------------
// Reports

/// Resource key → outcome.
pub fn resource_outcomes(report: &Report) -> BTreeMap<String, ResourceOutcome> {
    report
        .resources
        .iter()
        .map(|r| (r.key.clone(), r.outcome.clone()))
        .collect()
}

/// An expected [`resource_outcomes`] map from a literal list.
pub fn outcome_map(items: &[(&str, ResourceOutcome)]) -> BTreeMap<String, ResourceOutcome> {
    items
        .iter()
        .map(|(k, o)| ((*k).to_string(), o.clone()))
        .collect()
}

/// Task key → outcome.
pub fn task_outcomes(report: &Report) -> BTreeMap<String, TaskOutcome> {
    report
        .tasks
        .iter()
        .map(|t| (t.key.clone(), t.outcome.clone()))
        .collect()
}

/// The keys of the resources with `outcome`, sorted.
pub fn resources_with(report: &Report, outcome: &ResourceOutcome) -> Vec<String> {
    let mut v: Vec<String> = report
        .resources
        .iter()
        .filter(|r| &r.outcome == outcome)
        .map(|r| r.key.clone())
        .collect();
    v.sort();
    v
}

/// The keys of the tasks whose outcome matches `f`, sorted.
pub fn tasks_where(report: &Report, f: impl Fn(&TaskOutcome) -> bool) -> Vec<String> {
    let mut v: Vec<String> = report
        .tasks
        .iter()
        .filter(|t| f(&t.outcome))
        .map(|t| t.key.clone())
        .collect();
    v.sort();
    v
}

/// Sorted owned strings.
pub fn sorted<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Recorded state

/// The recorded state, which must exist.
pub async fn state_of(orch: &Orchestration) -> SystemState {
    orch.state()
        .await
        .expect("the state store answers")
        .expect("a state is recorded")
}

/// The `sandbox` output recorded for resource `key` (a simulated server or public IP).
#[track_caller]
pub fn sandbox_of(state: &SystemState, key: &str) -> PathBuf {
    let rec = state
        .resources
        .get(key)
        .unwrap_or_else(|| panic!("no recorded resource `{key}`"));
    let dir = rec
        .outputs
        .get("sandbox")
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("`{key}` has no sandbox output"));
    PathBuf::from(dir)
}

/// A string output recorded for resource `key`.
#[track_caller]
pub fn output_of(state: &SystemState, key: &str, field: &str) -> String {
    let rec = state
        .resources
        .get(key)
        .unwrap_or_else(|| panic!("no recorded resource `{key}`"));
    let v = rec
        .outputs
        .get(field)
        .unwrap_or_else(|| panic!("`{key}` has no `{field}` output"));
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Reads `rel` under `dir`, panicking with the path if it cannot be read.
#[track_caller]
pub fn read(dir: &Path, rel: &str) -> String {
    let p = dir.join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------------
// Events

/// An event subscriber that keeps every event; clones share the list.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    delay: Option<Duration>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Recorder::default()
    }

    /// A recorder that blocks its thread for `delay` on every event (a slow subscriber).
    pub fn slow(delay: Duration) -> Self {
        Recorder {
            delay: Some(delay),
            ..Recorder::default()
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The kinds of the events so far.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    /// Forgets the events so far (before another run).
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl EventSink for Recorder {
    fn on_event(&self, event: &Event) {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}

/// The `seq` of the `ResourceStarting` of `key` for `action`.
#[track_caller]
pub fn resource_started(events: &[Event], key: &str, action: ResourceAction) -> u64 {
    events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ResourceStarting { key: k, action: a } if k == key && *a == action))
        .unwrap_or_else(|| panic!("no ResourceStarting({action:?}) for `{key}`"))
        .seq
}

/// The `seq` of the `ResourceFinished` of `key` with `outcome`.
#[track_caller]
pub fn resource_finished(events: &[Event], key: &str, outcome: ResourceOutcome) -> u64 {
    events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ResourceFinished { key: k, outcome: o } if k == key && *o == outcome))
        .unwrap_or_else(|| panic!("no ResourceFinished({outcome:?}) for `{key}`"))
        .seq
}

/// A short name of an event kind, for order checks (`PhaseStarting(Provisioning)`, `Resource`,
/// `Task`, …).
pub fn label(kind: &EventKind) -> String {
    match kind {
        EventKind::OrchestrationStarting { action } => format!("OrchestrationStarting({action})"),
        EventKind::OrchestrationFinished { success, cancelled } => {
            format!("OrchestrationFinished(success={success}, cancelled={cancelled})")
        }
        EventKind::PhaseStarting(p) => format!("PhaseStarting({p:?})"),
        EventKind::PhaseFinished { phase, success } => {
            format!("PhaseFinished({phase:?}, success={success})")
        }
        EventKind::NothingToDo => "NothingToDo".into(),
        EventKind::ResourceStarting { .. }
        | EventKind::ResourceFinished { .. }
        | EventKind::ResourceRetrying { .. }
        | EventKind::ResourceFailed { .. } => "Resource".into(),
        EventKind::HostReady { .. } => "HostReady".into(),
        EventKind::TaskStarting { .. }
        | EventKind::TaskFinished { .. }
        | EventKind::TaskRetrying { .. }
        | EventKind::TaskFailed { .. } => "Task".into(),
        other => format!("{other:?}"),
    }
}

/// The labels of `events` with runs of equal labels collapsed to one.
pub fn collapsed_labels(events: &[Event]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for e in events {
        let l = label(&e.kind);
        if v.last() != Some(&l) {
            v.push(l);
        }
    }
    v
}
