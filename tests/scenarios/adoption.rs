//! Crash adoption: a create whose response was lost is found by its idempotency token and
//! adopted, never duplicated.

use std::time::Duration;

use hoist::state::ResourceStatus;
use hoist::{EventKind, ResourceOutcome, RetryPolicy};
use hoist_tests::{Fleet, Recorder, assert_success, builder, sim, state_of};

const KEY: &str = "fleet/srv[1]";

fn objects_with_key(cloud: &hoist::sim::SimCloud, key: &str) -> Vec<hoist::sim::SimObject> {
    cloud
        .objects()
        .into_iter()
        .filter(|o| o.key == key)
        .collect()
}

#[tokio::test]
async fn an_interrupted_create_is_adopted_on_the_next_run() {
    let cloud = sim(Duration::ZERO);
    cloud.faults().crash_after_create(KEY);
    let rec = Recorder::new();
    let orch = builder("adopt", &cloud)
        .infra("fleet", Fleet::new(2))
        .provision_retry(RetryPolicy::attempts(1))
        .subscribe(rec.clone())
        .build()
        .unwrap();

    let first = orch.initiate_system().await.unwrap();
    assert!(!first.success, "{first}");
    assert_eq!(
        first.resource(KEY).unwrap().outcome,
        ResourceOutcome::Failed
    );
    let state = state_of(&orch).await;
    let r = &state.resources[KEY];
    assert!(
        matches!(r.status, ResourceStatus::Creating | ResourceStatus::Failed),
        "{:?}",
        r.status
    );
    assert!(r.provider_id.is_none());
    let objs = objects_with_key(&cloud, KEY);
    assert_eq!(objs.len(), 1, "the object was created despite the error");
    assert_eq!(objs[0].token, r.token, "and carries the recorded token");

    let creates = cloud.calls().creates("core.server");
    rec.clear();
    let second = orch.initiate_system().await.unwrap();
    assert_success(&second);
    assert_eq!(
        second.resource(KEY).unwrap().outcome,
        ResourceOutcome::Adopted,
        "{second}"
    );
    assert_eq!(
        second.resource(KEY).unwrap().provider_id.as_deref(),
        Some(objs[0].id.as_str())
    );
    assert_eq!(
        cloud.calls().creates("core.server"),
        creates,
        "adopted, not created again"
    );
    assert_eq!(objects_with_key(&cloud, KEY).len(), 1);
    assert_eq!(cloud.count(), 4);
    assert!(rec.kinds().contains(&EventKind::ResourceFinished {
        key: KEY.into(),
        outcome: ResourceOutcome::Adopted
    }));
    let state = state_of(&orch).await;
    assert_eq!(state.resources[KEY].status, ResourceStatus::Created);
    assert_eq!(
        state.resources[KEY].provider_id.as_deref(),
        Some(objs[0].id.as_str())
    );
}

#[tokio::test]
async fn a_lost_response_retried_with_the_same_token_creates_no_duplicate() {
    let cloud = sim(Duration::ZERO);
    cloud.faults().crash_after_create(KEY);
    let orch = builder("adopt-retry", &cloud)
        .infra("fleet", Fleet::new(2))
        .provision_retry(RetryPolicy::attempts(2))
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    let r = report.resource(KEY).unwrap();
    assert_eq!(
        (r.outcome.clone(), r.attempts),
        (ResourceOutcome::Created, 2),
        "{report}"
    );
    assert_eq!(objects_with_key(&cloud, KEY).len(), 1);
    assert_eq!(cloud.count(), 4);
}

#[tokio::test]
async fn teardown_finds_an_interrupted_create_by_its_token() {
    let cloud = sim(Duration::ZERO);
    cloud.faults().crash_after_create(KEY);
    let orch = builder("adopt-down", &cloud)
        .infra("fleet", Fleet::new(2))
        .provision_retry(RetryPolicy::attempts(1))
        .build()
        .unwrap();
    assert!(!orch.initiate_system().await.unwrap().success);
    assert_eq!(
        cloud.count(),
        4,
        "every object exists, one of them unrecorded"
    );
    let down = orch.teardown_system().await.unwrap();
    assert_success(&down);
    assert_eq!(
        down.resource(KEY).unwrap().outcome,
        ResourceOutcome::Deleted,
        "{down}"
    );
    assert_eq!(cloud.count(), 0);
}

#[tokio::test]
async fn an_interrupted_create_is_not_repeated_while_its_lookup_fails() {
    use hoist::provider::ErrorKind;
    use hoist::sim::Fault;

    let cloud = sim(Duration::ZERO);
    let orch = builder("adopt-unsure", &cloud)
        .infra("fleet", Fleet::new(2))
        .provision_retry(RetryPolicy::attempts(2))
        .build()
        .unwrap();
    // The first run's create makes the object but answers with an error that is not retried:
    // the object exists, unrecorded, its intent pending.
    cloud.faults().fail_create(
        KEY,
        Fault::once(
            ErrorKind::Unauthorized,
            "connection reset after the request was sent",
        )
        .taking_effect(),
    );
    assert!(!orch.initiate_system().await.unwrap().success);
    assert_eq!(objects_with_key(&cloud, KEY).len(), 1);

    // The lookup of the interrupted create fails: the resource fails, and nothing is created
    // a second time.
    cloud
        .faults()
        .fail_find(KEY, Fault::always(ErrorKind::Unauthorized, "token expired"));
    let creates = cloud.calls().creates("core.server");
    let second = orch.initiate_system().await.unwrap();
    assert!(!second.success, "{second}");
    let r = second.resource(KEY).unwrap();
    assert_eq!(r.outcome, ResourceOutcome::Failed, "{second}");
    let err = r.error.as_deref().unwrap_or_default();
    assert!(
        err.contains("cannot tell whether an interrupted create made the object")
            && err.contains("token expired"),
        "{err}"
    );
    assert_eq!(
        cloud.calls().creates("core.server"),
        creates,
        "no new create"
    );
    assert_eq!(objects_with_key(&cloud, KEY).len(), 1);

    // Once the lookup works again, the object is adopted.
    cloud.faults().clear();
    let third = orch.initiate_system().await.unwrap();
    assert_success(&third);
    assert_eq!(
        third.resource(KEY).unwrap().outcome,
        ResourceOutcome::Adopted,
        "{third}"
    );
    assert_eq!(objects_with_key(&cloud, KEY).len(), 1);
    assert_eq!(cloud.count(), 4);
}
