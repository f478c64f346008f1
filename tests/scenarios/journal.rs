//! The journal, the run history and the lock, as an orchestration uses them: explicit
//! recovery of pending intents, one writer per system, runs left running by a dead process,
//! last known good and bad versions.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::ErrorKind;
use hoist::sim::Fault;
use hoist::state::{
    Change, MemoryStore, ResourceStatus, RunOutcome, RunRecord, StateError, StateStore,
};
use hoist::{EventKind, OrchestrationError, Phase, ResourceOutcome, RetryPolicy};
use hoist_tests::{Fleet, Recorder, assert_success, builder, sim, state_of};

#[tokio::test]
async fn recover_adopts_interrupted_creates_and_forgets_the_rest() {
    let cloud = sim(Duration::ZERO);
    cloud.faults().crash_after_create("fleet/srv[1]");
    cloud.faults().fail_create(
        "fleet/srv[0]",
        Fault::once(ErrorKind::QuotaExceeded, "no room"),
    );
    let store = Arc::new(MemoryStore::new());
    let rec = Recorder::new();
    let orch = builder("recover", &cloud)
        .infra("fleet", Fleet::new(2))
        .state(store.clone())
        .provision_retry(RetryPolicy::attempts(1))
        .keep_going()
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let first = orch.initiate_system().await.unwrap();
    assert!(!first.success, "{first}");
    let made = cloud
        .objects()
        .into_iter()
        .find(|o| o.key == "fleet/srv[1]")
        .expect("created despite the error");

    // Recovery needs no model: the state and the proxy.
    let bare = hoist::Orchestration::builder("recover")
        .provisioner(Arc::new(cloud.clone()))
        .state(store.clone())
        .subscribe(rec.clone())
        .build()
        .unwrap();
    rec.clear();
    let creates = cloud.calls().total_creates();
    let report = bare.recover_system().await.unwrap();
    assert_success(&report);
    let outcomes = hoist_tests::resource_outcomes(&report);
    assert_eq!(
        outcomes["fleet/srv[1]"],
        ResourceOutcome::Adopted,
        "{report}"
    );
    assert_eq!(
        outcomes["fleet/srv[0]"],
        ResourceOutcome::NotCreated,
        "{report}"
    );
    assert_eq!(outcomes.len(), 2, "only pending intents are reconciled");
    assert_eq!(cloud.calls().total_creates(), creates, "nothing is created");
    let state = state_of(&bare).await;
    let srv1 = &state.resources["fleet/srv[1]"];
    assert_eq!(srv1.status, ResourceStatus::Created);
    assert_eq!(srv1.provider_id.as_deref(), Some(made.id.as_str()));
    assert!(!state.resources.contains_key("fleet/srv[0]"));
    let last = state.runs.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome),
        ("recover", RunOutcome::Succeeded)
    );
    assert!(
        rec.kinds()
            .contains(&EventKind::PhaseStarting(Phase::Recovery))
    );

    // The next initiate creates only what is missing.
    let second = orch.initiate_system().await.unwrap();
    assert_success(&second);
    assert_eq!(
        hoist_tests::resource_outcomes(&second)["fleet/srv[0]"],
        ResourceOutcome::Created
    );
    assert_eq!(cloud.objects_of("core.server").len(), 2);
    assert_success(&orch.teardown_system().await.unwrap());
    assert_eq!(cloud.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_system() {
    let cloud = sim(Duration::from_millis(100));
    let store = Arc::new(MemoryStore::new());
    let make = || {
        builder("one-writer", &cloud)
            .infra("fleet", Fleet::new(1))
            .state(store.clone())
            .build()
            .unwrap()
    };
    let first = make();
    let running = tokio::spawn(async move { first.initiate_system().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    match make().teardown_system().await {
        Err(OrchestrationError::State(e @ StateError::Locked { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains("initiate") && msg.contains("pid"),
                "names the holder: {msg}"
            );
        }
        other => panic!("expected Locked, got {:?}", other.map(|r| r.to_string())),
    }
    // One that waits runs once the first is done.
    let waiting = builder("one-writer", &cloud)
        .infra("fleet", Fleet::new(1))
        .state(store.clone())
        .lock_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let again = waiting.initiate_system().await.unwrap();
    assert_success(&running.await.unwrap().unwrap());
    assert!(again.nothing_to_do, "{again}");
    assert_eq!(
        store.lock_info("one-writer").await.unwrap(),
        None,
        "released"
    );
    assert_success(&waiting.teardown_system().await.unwrap());
}

#[tokio::test]
async fn runs_are_recorded_and_a_dead_run_is_marked_interrupted() {
    let cloud = sim(Duration::ZERO);
    let store = Arc::new(MemoryStore::new());
    // A run that died: recorded as running, never finished, its lock gone.
    let dead = RunRecord::start("initiate", "ghost@elsewhere");
    store
        .apply("runs", None, &[Change::PutRun(dead.clone())])
        .await
        .unwrap();
    let orch = builder("runs", &cloud)
        .infra("fleet", Fleet::new(1))
        .state(store.clone())
        .version("1.0")
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    let state = state_of(&orch).await;
    assert_eq!(state.runs[0].id, dead.id);
    assert_eq!(state.runs[0].outcome, RunOutcome::Interrupted);
    let run = &state.runs[1];
    assert_eq!(
        (run.action.as_str(), run.outcome),
        ("initiate", RunOutcome::Succeeded)
    );
    assert!(run.finished.is_some() && run.by.contains('@'));
    assert_eq!(state.lkg.as_ref().unwrap().version, "1.0");
    assert_eq!(state.lkg.as_ref().unwrap().run, run.id);
    assert!(state.lkb.is_none());

    // A failed deployment of 1.1 is the last known bad; 1.0 stays the last known good.
    cloud
        .faults()
        .fail_create("fleet/srv[0]", Fault::always(ErrorKind::Unauthorized, "no"));
    assert_success(&orch.teardown_system().await.unwrap());
    let bad = builder("runs", &cloud)
        .infra("fleet", Fleet::new(1))
        .state(store.clone())
        .version("1.1")
        .build()
        .unwrap();
    assert!(!bad.initiate_system().await.unwrap().success);
    let state = state_of(&bad).await;
    assert_eq!(state.lkg.as_ref().unwrap().version, "1.0");
    assert_eq!(state.lkb.as_ref().unwrap().version, "1.1");
    let actions: Vec<(&str, RunOutcome)> = state
        .runs
        .iter()
        .map(|r| (r.action.as_str(), r.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            ("initiate", RunOutcome::Interrupted),
            ("initiate", RunOutcome::Succeeded),
            ("teardown", RunOutcome::Succeeded),
            ("initiate", RunOutcome::Failed),
        ]
    );
    assert_eq!(state.runs[3].detail.as_deref(), Some("version 1.1"));
    cloud.faults().clear();
    assert_success(&bad.teardown_system().await.unwrap());
}
