//! Re-running: after a success there is nothing to do (and no provider call); after a
//! teardown, initiating provisions anew.

use std::collections::BTreeSet;
use std::time::Duration;

use hoist::sim::Calls;
use hoist::{EventKind, ResourceOutcome, TaskOutcome};
use hoist_tests::{
    Fleet, FleetRoles, FleetTasks, Recorder, assert_success, builder, read, sandbox_of, sim,
    state_of, tasks_where,
};

const N: usize = 3;

#[tokio::test]
async fn rerun_after_success_does_nothing_and_after_teardown_provisions_anew() {
    let cloud = sim(Duration::ZERO);
    let rec = Recorder::new();
    let orch = builder("rerun", &cloud)
        .infra("fleet", Fleet::new(N))
        .namespace("ns", FleetRoles::new(N))
        .config("cfg", FleetTasks::new("echo !{ID} >> runs.log"))
        .subscribe(rec.clone())
        .build()
        .unwrap();

    let first = orch.initiate_system().await.unwrap();
    assert_success(&first);
    assert!(!first.nothing_to_do);
    let ids1: BTreeSet<String> = cloud.objects().into_iter().map(|o| o.id).collect();
    let tokens1: BTreeSet<String> = state_of(&orch)
        .await
        .resources
        .values()
        .map(|r| r.token.clone())
        .collect();

    cloud.reset_stats();
    rec.clear();
    let again = orch.initiate_system().await.unwrap();
    assert_success(&again);
    assert!(again.nothing_to_do, "{again}");
    assert_eq!(
        again.count_resources(&ResourceOutcome::AlreadyPresent),
        N + 2,
        "{again}"
    );
    assert_eq!(
        tasks_where(&again, |o| *o != TaskOutcome::AlreadyDone),
        Vec::<String>::new(),
        "{again}"
    );
    assert_eq!(cloud.calls(), Calls::default(), "no provider call at all");
    assert!(rec.kinds().contains(&EventKind::NothingToDo));
    let state = state_of(&orch).await;
    for k in 0..N {
        let log = read(&sandbox_of(&state, &format!("fleet/srv[{k}]")), "runs.log");
        assert_eq!(log, format!("{k}\n"), "task on srv[{k}] ran once");
    }

    assert_success(&orch.teardown_system().await.unwrap());
    assert_eq!(cloud.count(), 0);

    let third = orch.initiate_system().await.unwrap();
    assert_success(&third);
    assert!(!third.nothing_to_do);
    assert_eq!(
        third.count_resources(&ResourceOutcome::Created),
        N + 2,
        "{third}"
    );
    assert_eq!(
        third.count_tasks(|o| *o == TaskOutcome::Changed),
        N,
        "config runs anew: {third}"
    );
    assert_eq!(cloud.count(), N + 2);
    let ids3: BTreeSet<String> = cloud.objects().into_iter().map(|o| o.id).collect();
    assert!(
        ids1.is_disjoint(&ids3),
        "new objects, not the deleted ones: {ids1:?} vs {ids3:?}"
    );
    let tokens3: BTreeSet<String> = state_of(&orch)
        .await
        .resources
        .values()
        .map(|r| r.token.clone())
        .collect();
    assert!(tokens1.is_disjoint(&tokens3), "a new generation of tokens");
    let state = state_of(&orch).await;
    assert_eq!(read(&sandbox_of(&state, "fleet/srv[0]"), "runs.log"), "0\n");
    assert_success(&orch.teardown_system().await.unwrap());
}
