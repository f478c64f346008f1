//! State recorded by an older hoist: migrated when read, and the first initiate with the
//! models takes it as its baseline (nothing is created or run again because of it).

use std::sync::Arc;
use std::time::Duration;

use hoist::TaskOutcome;
use hoist::provider::Provisioner as _;
use hoist::state::{FileStore, StateStore};
use hoist_tests::{Fleet, FleetRoles, FleetTasks, assert_success, builder, sim};

#[tokio::test]
async fn a_schema_2_state_keeps_its_task_results_under_their_new_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let cloud = sim(Duration::ZERO);
    let orch = builder("fleet", &cloud)
        .infra("fleet", Fleet::new(2))
        .namespace("ns", FleetRoles::new(2))
        .config("cfg", FleetTasks::new("echo !{ID} >> ran.txt"))
        .state(store.clone())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    let state = store.load("fleet").await.unwrap().unwrap();
    assert!(
        state.tasks.contains_key("cfg/work[srv[0]]"),
        "{:?}",
        state.tasks.keys()
    );

    // The same state as schema 2 recorded it: multi-task children under their role's short
    // name, no identities.
    let path = store.path_for("fleet");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["schema"] = 2.into();
    for r in v["resources"].as_object_mut().unwrap().values_mut() {
        r.as_object_mut().unwrap().remove("identity");
    }
    let tasks = v["tasks"].as_object_mut().unwrap();
    for k in 0..2 {
        let mut t = tasks.remove(&format!("cfg/work[srv[{k}]]")).unwrap();
        let old = format!("cfg/work[srv_{k}]");
        t["key"] = old.clone().into();
        tasks.insert(old, t);
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let migrated = store.load("fleet").await.unwrap().unwrap();
    assert_eq!(migrated.schema, hoist::state::SCHEMA_VERSION);
    assert!(migrated.resources.values().all(|r| r.identity.is_none()));

    let creates = cloud.calls().total_creates();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    assert!(report.nothing_to_do, "{report}");
    assert_eq!(
        report.count_tasks(|o| *o == TaskOutcome::AlreadyDone),
        2,
        "{report}"
    );
    assert_eq!(cloud.calls().total_creates(), creates);
    assert!(
        report.warnings.iter().any(|w| w.contains("identity")),
        "the identities taken on trust are announced: {report}"
    );
    let after = store.load("fleet").await.unwrap().unwrap();
    let identity = cloud.identity().await.unwrap();
    assert!(
        after
            .resources
            .values()
            .all(|r| r.identity.as_ref() == Some(&identity)),
        "the identity guard protects migrated resources from then on"
    );
    let keys: Vec<String> = after.tasks.into_keys().collect();
    assert_eq!(keys, ["cfg/work[srv[0]]", "cfg/work[srv[1]]"]);
    for dir in cloud.sandboxes() {
        let ran = std::fs::read_to_string(dir.join("ran.txt")).unwrap();
        assert_eq!(ran.lines().count(), 1, "ran once: {ran}");
    }
}
