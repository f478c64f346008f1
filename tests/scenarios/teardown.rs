//! Teardown from the recorded state alone: a new orchestration with no models, the same state
//! file and the same cloud.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::ErrorKind;
use hoist::sim::Fault;
use hoist::state::{FileStore, StateStore, SystemState};
use hoist::{EventKind, Orchestration, OrchestrationError, ResourceAction, ResourceOutcome};
use hoist_tests::{
    Recorder, assert_success, builder, resource_finished, resource_started, sim, sorted,
};
use hoist_webapp::{WebInfra, WebNamespace, WebParams};

#[tokio::test]
async fn teardown_from_the_state_file_alone_goes_in_reverse_dependency_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let cloud = sim(Duration::from_millis(2));
    let params = WebParams {
        apps: 2,
        ..WebParams::default()
    };
    {
        let orch = builder("shop", &cloud)
            .infra("web", WebInfra::new(&params))
            .namespace("ns", WebNamespace::new(&params))
            .state(store.clone())
            .build()
            .unwrap();
        assert_success(&orch.initiate_system().await.unwrap());
    }
    let planned = cloud.count();
    assert_eq!(planned, 4 + 2 + 2);

    // What the state file says, read as a file.
    let text = std::fs::read_to_string(store.path_for("shop")).unwrap();
    let recorded: SystemState = serde_json::from_str(&text).unwrap();
    assert_eq!(recorded.resources.len(), planned);
    let edges: Vec<(String, String)> = recorded
        .resources
        .values()
        .flat_map(|r| r.deps.iter().map(|d| (r.key.clone(), d.clone())))
        .collect();
    assert!(
        edges.contains(&("web/subnet".into(), "web/net".into())),
        "{edges:?}"
    );
    assert!(
        edges.contains(&("web/lb_ip".into(), "web/lb".into())),
        "{edges:?}"
    );
    assert!(
        edges
            .iter()
            .any(|(r, d)| r == "web/app[1]" && d == "web/subnet"),
        "{edges:?}"
    );

    let rec = Recorder::new();
    let orch = Orchestration::builder("shop")
        .provisioner(Arc::new(cloud.clone()))
        .state(store.clone())
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let down = orch.teardown_system().await.unwrap();
    assert_success(&down);
    assert_eq!(
        sorted(down.resources.iter().map(|r| r.key.clone())),
        sorted(recorded.resources.keys())
    );
    assert!(
        down.resources
            .iter()
            .all(|r| r.outcome == ResourceOutcome::Deleted),
        "{down}"
    );
    assert_eq!(cloud.count(), 0);

    let events = rec.events();
    for (dependent, dep) in &edges {
        let done = resource_finished(&events, dependent, ResourceOutcome::Deleted);
        let start = resource_started(&events, dep, ResourceAction::Delete);
        assert!(
            done < start,
            "`{dep}` was deleted (seq {start}) before its dependent `{dependent}` was gone (seq {done})"
        );
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ResourceRetrying { .. })),
        "no delete was refused for dependents still present"
    );
    let after = store.load("shop").await.unwrap().unwrap();
    assert!(after.resources.is_empty());
    assert_eq!(after.generation, recorded.generation + 1);

    // Again: nothing left to do.
    let before = cloud.calls();
    let again = orch.teardown_system().await.unwrap();
    assert_success(&again);
    assert!(again.nothing_to_do && again.resources.is_empty(), "{again}");
    assert_eq!(cloud.calls(), before, "no provider call");
}

#[tokio::test]
async fn teardown_names_a_missing_provider_before_doing_anything() {
    let cloud = sim(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let orch = builder("shop", &cloud)
        .infra("fleet", hoist_tests::Fleet::new(1))
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());

    let bare = Orchestration::builder("shop").state(store).build().unwrap();
    match bare.teardown_system().await {
        Err(OrchestrationError::MissingProvider { provider, .. }) => assert_eq!(provider, "sim"),
        other => panic!(
            "expected MissingProvider, got {:?}",
            other.map(|r| r.to_string())
        ),
    }
    assert_eq!(cloud.count(), 3, "nothing was deleted");
}

#[tokio::test]
async fn a_failed_delete_keeps_what_it_depends_on_and_a_rerun_finishes() {
    let cloud = sim(Duration::ZERO);
    let orch = builder("down-fail", &cloud)
        .infra("fleet", hoist_tests::Fleet::new(2))
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    let generation = orch.state().await.unwrap().unwrap().generation;
    cloud.faults().fail_delete(
        "fleet/srv[0]",
        Fault::always(ErrorKind::Unauthorized, "not allowed"),
    );

    let first = orch.teardown_system().await.unwrap();
    assert!(!first.success && !first.cancelled, "{first}");
    let o = hoist_tests::resource_outcomes(&first);
    assert_eq!(o["fleet/srv[0]"], ResourceOutcome::Failed);
    assert_eq!(o["fleet/srv[1]"], ResourceOutcome::Deleted);
    assert_eq!(o["fleet/subnet"], ResourceOutcome::NotAttempted, "{first}");
    assert_eq!(o["fleet/net"], ResourceOutcome::NotAttempted, "{first}");
    let state = orch.state().await.unwrap().unwrap();
    assert_eq!(
        sorted(state.resources.keys()),
        ["fleet/net", "fleet/srv[0]", "fleet/subnet"]
    );
    assert!(
        state.resources["fleet/srv[0]"]
            .error
            .as_deref()
            .unwrap()
            .contains("not allowed")
    );
    assert_eq!(
        state.generation, generation,
        "an incomplete teardown starts no new generation"
    );
    assert_eq!(cloud.count(), 3);

    cloud.faults().clear();
    let second = orch.teardown_system().await.unwrap();
    assert_success(&second);
    assert_eq!(second.resources.len(), 3, "{second}");
    assert_eq!(cloud.count(), 0);
    assert_eq!(
        orch.state().await.unwrap().unwrap().generation,
        generation + 1
    );
}
