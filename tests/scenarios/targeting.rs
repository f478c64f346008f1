//! Targeting: initiates restricted to named resources or tasks with what they depend on, or
//! without some and what depends on them; teardowns the other way round. A targeted run says
//! it left the rest unconverged and records no last known good version.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hoist::sim::SimCloud;
use hoist::state::{MemoryStore, StateStore};
use hoist::{ResourceOutcome, TaskOutcome};
use hoist_tests::{Fleet, FleetRoles, FleetTasks, assert_success, builder, sim, tasks_where};

fn orch(cloud: &SimCloud, store: &Arc<MemoryStore>) -> hoist::OrchestrationBuilder {
    builder("tgt", cloud)
        .infra("fleet", Fleet::new(3))
        .namespace("ns", FleetRoles::new(3))
        .config("cfg", FleetTasks::new("echo !{ID} >> runs.log"))
        .state(store.clone())
}

async fn recorded(store: &Arc<MemoryStore>) -> BTreeSet<String> {
    match store.load("tgt").await.unwrap() {
        Some(s) => s.resources.keys().cloned().collect(),
        None => BTreeSet::new(),
    }
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_string()).collect()
}

/// Initiates what `b` builds; the report of a run that succeeded.
async fn up(b: hoist::OrchestrationBuilder) -> hoist::Report {
    let report = b.build().unwrap().initiate_system().await.unwrap();
    assert_success(&report);
    report
}

fn ran(report: &hoist::Report) -> Vec<String> {
    tasks_where(report, |o| {
        !matches!(o, TaskOutcome::AlreadyDone | TaskOutcome::NotRun)
    })
}

#[tokio::test]
async fn initiates_take_targets_with_what_they_need_and_leave_excluded_ones_out() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));

    // A resource and what it depends on; no task.
    let o = orch(&cloud, &store)
        .target("fleet/srv[0]")
        .version("1.0")
        .build()
        .unwrap();
    let diff = o.diff().await.unwrap();
    assert!(diff.targeted && diff.tasks.is_empty(), "{diff}");
    assert!(diff.to_string().contains("not converged"), "{diff}");
    let report = o.initiate_system().await.unwrap();
    assert_success(&report);
    assert!(report.warnings.iter().any(|w| w.contains("targeted")));
    assert_eq!(
        recorded(&store).await,
        set(&["fleet/net", "fleet/subnet", "fleet/srv[0]"])
    );
    assert!(ran(&report).is_empty(), "{report}");
    let state = store.load("tgt").await.unwrap().unwrap();
    assert_eq!(state.lkg, None, "a targeted run records no last known good");

    // A task, with its host and what that needs.
    let report = up(orch(&cloud, &store).target("cfg/work[srv[1]]")).await;
    assert_eq!(ran(&report), ["cfg/work[srv[1]]"], "{report}");
    assert!(recorded(&store).await.contains("fleet/srv[1]"));
    assert!(!recorded(&store).await.contains("fleet/srv[2]"));

    // Everything but a server: its task is left out with it.
    let report = up(orch(&cloud, &store).exclude_matching("fleet/srv[2]")).await;
    assert_eq!(ran(&report), ["cfg/work[srv[0]]"], "{report}");
    let outcome = report
        .resources
        .iter()
        .find(|r| r.key == "fleet/srv[2]")
        .map(|r| r.outcome.clone());
    assert_eq!(outcome, Some(ResourceOutcome::NotAttempted), "{report}");
    assert_eq!(cloud.objects_of("core.server").len(), 2);

    // Untargeted, the rest converges, and the version is recorded.
    let report = up(orch(&cloud, &store).version("1.1")).await;
    assert_eq!(ran(&report), ["cfg/work[srv[2]]"], "{report}");
    let state = store.load("tgt").await.unwrap().unwrap();
    assert_eq!(state.lkg.map(|v| v.version).as_deref(), Some("1.1"));
}

#[tokio::test]
async fn teardowns_take_dependents_with_targets_and_keep_what_excluded_ones_need() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    let down = |b: hoist::OrchestrationBuilder| async move {
        let report = b.build().unwrap().teardown_system().await.unwrap();
        assert_success(&report);
        report
    };
    up(orch(&cloud, &store)).await;

    // Keeping one server keeps the subnet and network it needs.
    let report = down(orch(&cloud, &store).exclude_matching("fleet/srv[0]")).await;
    assert!(report.warnings.iter().any(|w| w.contains("targeted")));
    assert_eq!(
        recorded(&store).await,
        set(&["fleet/net", "fleet/subnet", "fleet/srv[0]"])
    );
    assert_eq!(cloud.objects_of("core.server").len(), 1);

    // The subnet goes with the server in it; the network stays.
    down(orch(&cloud, &store).target("fleet/subnet")).await;
    assert_eq!(recorded(&store).await, set(&["fleet/net"]));
    assert_eq!(cloud.count(), 1);

    down(orch(&cloud, &store)).await;
    assert_eq!(cloud.count(), 0);
}
