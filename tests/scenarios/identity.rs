//! Nothing still existing is ever forgotten: a proxy for another cloud is refused before it
//! touches anything, a delete that finds its object gone says so (`absent`, not `deleted`),
//! and a teardown that finds most of its objects gone keeps them until told otherwise.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::{DeleteRequest, ErrorKind, Provisioner};
use hoist::sim::{Fault, SimCloud};
use hoist::state::{MemoryStore, ResourceStatus, StateStore};
use hoist::{EventKind, Model, Multi, Network, OrchestrationError, ResourceOutcome};
use hoist_tests::{Fleet, Recorder, assert_success, builder, resource_outcomes, sim, state_of};

/// Initiates a fleet of `n` servers on `cloud`, recorded in `store`.
async fn fleet(cloud: &SimCloud, store: &Arc<MemoryStore>, n: usize) {
    let orch = builder("fleet", cloud)
        .infra("fleet", Fleet::new(n))
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
}

/// Deletes the objects of `keys` of system `fleet` behind hoist's back.
async fn delete_out_of_band(cloud: &SimCloud, store: &MemoryStore, keys: &[&str]) {
    delete_in("fleet", cloud, store, keys).await;
}

/// Deletes the objects of `keys` of `system` behind hoist's back.
async fn delete_in(system: &str, cloud: &SimCloud, store: &MemoryStore, keys: &[&str]) {
    let state = store.load(system).await.unwrap().unwrap();
    for key in keys {
        let r = &state.resources[*key];
        let req = DeleteRequest {
            system: system.into(),
            key: r.key.clone(),
            kind: r.kind.clone(),
            id: r.provider_id.clone().unwrap(),
            outputs: r.outputs.clone(),
        };
        cloud.delete(&req).await.unwrap();
    }
}

#[tokio::test]
async fn a_run_through_another_cloud_refuses_and_forgets_nothing() {
    let (made_in, other) = (sim(Duration::ZERO), sim(Duration::ZERO));
    let store = Arc::new(MemoryStore::new());
    fleet(&made_in, &store, 3).await;
    let before = store.load("fleet").await.unwrap().unwrap();
    let recorded = before.resources["fleet/net"].identity.clone().unwrap();
    assert_eq!(recorded, made_in.identity().await.unwrap());

    let wrong = builder("fleet", &other)
        .state(store.clone())
        .build()
        .unwrap();
    for run in ["teardown", "recover"] {
        let err = match run {
            "teardown" => wrong.teardown_system().await.unwrap_err(),
            _ => wrong.recover_system().await.unwrap_err(),
        };
        let OrchestrationError::IdentityMismatch {
            provider,
            expected,
            got,
            resources,
            ..
        } = &err
        else {
            panic!("{run}: {err}");
        };
        assert_eq!((provider.as_str(), &**expected), ("sim", &recorded));
        assert_eq!(**got, other.identity().await.unwrap());
        assert_eq!(resources.len(), 5, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&recorded.account) && text.contains(&got.account),
            "names both identities: {text}"
        );
    }
    // Initiating through it is refused too: it would look objects up in the wrong cloud.
    let wrong_up = builder("fleet", &other)
        .infra("fleet", Fleet::new(3))
        .state(store.clone())
        .build()
        .unwrap();
    assert!(matches!(
        wrong_up.initiate_system().await,
        Err(OrchestrationError::IdentityMismatch { .. })
    ));
    assert_eq!(other.calls().total_deletes() + other.calls().find, 0);
    assert_eq!(other.calls().total_creates(), 0);
    let after = store.load("fleet").await.unwrap().unwrap();
    assert_eq!(after.resources, before.resources, "nothing forgotten");
    assert_eq!(made_in.count(), 5, "nothing deleted");
    let last = after.runs.last().unwrap();
    assert!(
        last.detail
            .as_deref()
            .unwrap_or_default()
            .contains("talks to"),
        "{last:?}"
    );

    // Through the right cloud it goes.
    let right = builder("fleet", &made_in)
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&right.teardown_system().await.unwrap());
    assert_eq!(made_in.count(), 0);
}

#[tokio::test]
async fn a_persistent_cloud_in_another_file_is_another_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let at = |f: &str| SimCloud::builder().persist(dir.path().join(f)).build();
    let (made_in, typo) = (at("cloud.json"), at("cloud-typo.json"));
    let store = Arc::new(MemoryStore::new());
    fleet(&made_in, &store, 2).await;
    // The same file through another process's proxy is the same cloud.
    assert_eq!(
        at("cloud.json").identity().await.unwrap(),
        made_in.identity().await.unwrap()
    );
    let err = builder("fleet", &typo)
        .state(store.clone())
        .build()
        .unwrap()
        .teardown_system()
        .await
        .unwrap_err();
    assert!(
        matches!(err, OrchestrationError::IdentityMismatch { .. }),
        "{err}"
    );
    assert_eq!(made_in.count(), 4);
    assert_eq!(
        store.load("fleet").await.unwrap().unwrap().resources.len(),
        4
    );
}

#[tokio::test]
async fn an_object_deleted_out_of_band_is_reported_absent_and_forgotten() {
    let cloud = sim(Duration::ZERO);
    let store = Arc::new(MemoryStore::new());
    fleet(&cloud, &store, 4).await;
    delete_out_of_band(&cloud, &store, &["fleet/srv[2]"]).await;
    let rec = Recorder::new();
    let orch = builder("fleet", &cloud)
        .state(store.clone())
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let report = orch.teardown_system().await.unwrap();
    assert_success(&report);
    let outcomes = resource_outcomes(&report);
    assert_eq!(outcomes["fleet/srv[2]"], ResourceOutcome::AlreadyAbsent);
    assert_eq!(
        outcomes
            .values()
            .filter(|o| **o == ResourceOutcome::Deleted)
            .count(),
        5
    );
    let absent = EventKind::ResourceFinished {
        key: "fleet/srv[2]".into(),
        outcome: ResourceOutcome::AlreadyAbsent,
    };
    let events = rec.events();
    let line = events
        .iter()
        .find(|e| e.kind == absent)
        .and_then(|e| e.progress_line())
        .expect("an absent event");
    assert!(line.ends_with("absent    fleet/srv[2]"), "{line}");
    assert!(report.to_string().contains("absent"), "{report}");
    assert!(state_of(&orch).await.resources.is_empty());
}

#[tokio::test]
async fn a_teardown_that_finds_most_objects_gone_keeps_them_until_told_to_forget() {
    let cloud = sim(Duration::ZERO);
    let store = Arc::new(MemoryStore::new());
    fleet(&cloud, &store, 4).await;
    let gone = [
        "fleet/srv[0]",
        "fleet/srv[1]",
        "fleet/srv[2]",
        "fleet/srv[3]",
    ];
    delete_out_of_band(&cloud, &store, &gone).await;
    let orch = builder("fleet", &cloud)
        .state(store.clone())
        .build()
        .unwrap();
    for _ in 0..2 {
        let report = orch.teardown_system().await.unwrap();
        assert!(!report.success, "{report}");
        let outcomes = resource_outcomes(&report);
        for k in gone {
            assert_eq!(outcomes[k], ResourceOutcome::Missing, "{report}");
        }
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("--forget-missing")),
            "{report}"
        );
        let state = state_of(&orch).await;
        assert_eq!(
            state
                .resources
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            gone.to_vec(),
            "the missing ones are kept, the rest was deleted"
        );
        assert!(
            state
                .resources
                .values()
                .all(|r| r.status == ResourceStatus::Created)
        );
    }
    let generation = state_of(&orch).await.generation;
    let forgetting = builder("fleet", &cloud)
        .state(store.clone())
        .forget_missing()
        .build()
        .unwrap();
    let report = forgetting.teardown_system().await.unwrap();
    assert_success(&report);
    assert!(
        resource_outcomes(&report)
            .values()
            .all(|o| *o == ResourceOutcome::AlreadyAbsent)
    );
    let state = state_of(&forgetting).await;
    assert!(state.resources.is_empty());
    assert_eq!(state.generation, generation + 1, "a new generation");
}

#[tokio::test]
async fn a_failed_create_that_made_nothing_is_reported_not_created() {
    let cloud = sim(Duration::ZERO);
    cloud.faults().fail_create(
        "fleet/srv[1]",
        Fault::always(ErrorKind::QuotaExceeded, "no capacity"),
    );
    let store = Arc::new(MemoryStore::new());
    let orch = builder("fleet", &cloud)
        .infra("fleet", Fleet::new(2))
        .keep_going()
        .state(store.clone())
        .build()
        .unwrap();
    assert!(!orch.initiate_system().await.unwrap().success);
    cloud.faults().clear();
    // The lookup by token is retried like any call.
    cloud.faults().fail_find(
        "fleet/srv[1]",
        Fault::once(ErrorKind::Throttled, "slow down"),
    );
    let report = orch.teardown_system().await.unwrap();
    assert_success(&report);
    let srv1 = report.resource("fleet/srv[1]").unwrap();
    assert_eq!(srv1.outcome, ResourceOutcome::NotCreated, "{report}");
    assert_eq!(srv1.attempts, 2, "one throttled lookup, then the answer");
    assert!(report.to_string().contains("not created"), "{report}");
    assert_eq!(cloud.count(), 0);
}

#[tokio::test]
async fn an_identity_that_cannot_be_had_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A state file under a regular file: the store cannot be read.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let cloud = SimCloud::builder().persist(file.join("cloud.json")).build();
    let err = builder("fleet", &cloud)
        .infra("fleet", Fleet::new(1))
        .state(Arc::new(MemoryStore::new()))
        .build()
        .unwrap()
        .initiate_system()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OrchestrationError::Identity { provider, .. } if provider == "sim"),
        "{err}"
    );
    assert_eq!(cloud.calls().total_creates(), 0);
}

/// The state is kept by default, in `.hoist/state.db` of the directory the orchestration was
/// built in; planning and reading alone never create it. (This test changes the process's
/// current directory: nextest runs every test in a process of its own.)
#[tokio::test]
async fn state_is_kept_by_default_and_planning_never_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let cloud = SimCloud::builder()
        .persist(dir.path().join("cloud.json"))
        .build();
    let orch = hoist::Orchestration::builder("fleet")
        .provisioner(Arc::new(cloud.clone()))
        .infra("fleet", Fleet::new(1))
        .build()
        .unwrap();
    let db = dir.path().join(".hoist/state.db");
    orch.plan().unwrap();
    assert!(orch.state().await.unwrap().is_none());
    assert!(!db.exists(), "planning and reading create no state file");
    assert_success(&orch.initiate_system().await.unwrap());
    assert!(db.exists());
    // Another process (here: another orchestration, with no model) finds it there.
    let later = hoist::Orchestration::builder("fleet")
        .provisioner(Arc::new(cloud.clone()))
        .build()
        .unwrap();
    assert_eq!(later.state().await.unwrap().unwrap().resources.len(), 3);
    assert_success(&later.teardown_system().await.unwrap());
    assert_eq!(cloud.count(), 0);
}

/// `n` networks, all pinned to the proxy `cloud`.
#[derive(Model)]
struct Nets {
    net: Multi<Network>,
}

impl Nets {
    fn new(cloud: &str, n: usize) -> Self {
        let net = Network {
            cloud: Some(cloud.into()),
            ..Network::new("10.40.0.0/16")
        };
        Nets {
            net: Multi::new(net).keys(0..n),
        }
    }
}

/// The guard counts each proxy's objects apart: most of one cloud's objects gone is a sign of
/// a wrong cloud, a few gone from another is not.
#[tokio::test]
async fn the_missing_objects_guard_counts_each_proxy_apart() {
    let named = |n: &str| SimCloud::builder().name(n).build();
    let (a, b) = (named("a"), named("b"));
    let store = Arc::new(MemoryStore::new());
    let orch = hoist::Orchestration::builder("two")
        .provisioner(Arc::new(a.clone()))
        .provisioner(Arc::new(b.clone()))
        .infra("in_a", Nets::new("a", 4))
        .infra("in_b", Nets::new("b", 1))
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    let in_a: Vec<String> = (0..4).map(|k| format!("in_a/net[{k}]")).collect();
    let in_a: Vec<&str> = in_a.iter().map(String::as_str).collect();
    delete_in("two", &a, &store, &in_a).await;
    delete_in("two", &b, &store, &["in_b/net[0]"]).await;
    let report = orch.teardown_system().await.unwrap();
    assert!(!report.success, "{report}");
    let outcomes = resource_outcomes(&report);
    assert_eq!(outcomes["in_b/net[0]"], ResourceOutcome::AlreadyAbsent);
    for k in 0..4 {
        assert_eq!(
            outcomes[&format!("in_a/net[{k}]")],
            ResourceOutcome::Missing
        );
    }
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("--forget-missing"));
    assert!(warning.is_some_and(|w| w.contains("`a`")), "{report}");
    let kept = store.load("two").await.unwrap().unwrap();
    assert_eq!(kept.resources.len(), 4, "only proxy a's objects are kept");
    assert!(kept.resources.keys().all(|k| k.starts_with("in_a/")));
}

/// A teardown that stops (here: its future dropped, as a killed process stops at an await)
/// after it found objects gone, before it settled what to do with them, leaves them recorded
/// as existing: the next teardown finds them gone again and applies the guard again (records
/// left as interrupted deletes would be forgotten without a count).
#[tokio::test]
async fn an_object_found_gone_stays_recorded_as_existing_until_the_teardown_settles() {
    let cloud = sim(Duration::ZERO);
    let store = Arc::new(MemoryStore::new());
    fleet(&cloud, &store, 5).await;
    let keys = Fleet::keys("fleet", 5);
    let gone: Vec<&str> = keys[2..6].iter().map(String::as_str).collect();
    delete_out_of_band(&cloud, &store, &gone).await;
    // The last server's delete keeps the teardown busy (retried for seconds) while the
    // others are found gone.
    cloud
        .faults()
        .fail_delete("fleet/srv[4]", Fault::always(ErrorKind::Transient, "busy"));
    let slow = builder("fleet", &cloud)
        .state(store.clone())
        .build()
        .unwrap();
    let found_gone = async {
        for _ in 0..500 {
            let s = store.load("fleet").await.unwrap().unwrap();
            if gone.iter().all(|k| s.resources[*k].error.is_some()) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the teardown never recorded the objects it found gone");
    };
    let state = tokio::select! {
        r = slow.teardown_system() => panic!("finished before the crash: {r:?}"),
        s = found_gone => s,
    };
    for k in &gone {
        let r = &state.resources[*k];
        assert_eq!(r.status, ResourceStatus::Created, "{k}: {r:?}");
    }
    store.lock_break("fleet").await.unwrap();
    cloud.faults().clear();
    let orch = builder("fleet", &cloud)
        .state(store.clone())
        .build()
        .unwrap();
    let report = orch.teardown_system().await.unwrap();
    let outcomes = resource_outcomes(&report);
    for k in &gone {
        assert_eq!(outcomes[*k], ResourceOutcome::Missing, "{report}");
    }
    assert_eq!(
        outcomes["fleet/srv[4]"],
        ResourceOutcome::Deleted,
        "{report}"
    );
}
