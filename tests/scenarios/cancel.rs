//! Cancellation: a cancelled run schedules nothing new, lets work in flight finish and
//! records it; the orchestration stays usable (teardown, resume).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hoist::state::ResourceStatus;
use hoist::{CancelHandle, Event, EventKind, ResourceOutcome};
use hoist_tests::{Fleet, Recorder, assert_success, builder, resources_with, sim, state_of};

const N: usize = 10;

#[tokio::test]
async fn cancelling_from_a_subscriber_stops_scheduling_and_the_rest_can_be_cleaned_up() {
    let cloud = sim(Duration::from_millis(100));
    let handle: Arc<OnceLock<CancelHandle>> = Arc::default();
    let h = handle.clone();
    let rec = Recorder::new();
    let orch = builder("cancel", &cloud)
        .infra("fleet", Fleet::new(N))
        .concurrency(2)
        .subscribe(move |e: &Event| {
            if let EventKind::ResourceFinished {
                key,
                outcome: ResourceOutcome::Created,
            } = &e.kind
                && key.starts_with("fleet/srv[")
                && let Some(h) = h.get()
            {
                h.cancel();
            }
        })
        .subscribe(rec.clone())
        .build()
        .unwrap();
    handle.set(orch.cancel_handle()).ok().unwrap();

    let report = orch.initiate_system().await.unwrap();
    assert!(report.cancelled && !report.success, "{report}");
    let created = resources_with(&report, &ResourceOutcome::Created);
    let skipped = resources_with(&report, &ResourceOutcome::NotAttempted);
    assert_eq!(created.len() + skipped.len(), N + 2, "{report}");
    assert!(created.len() >= 3 && skipped.len() >= 4, "{report}");
    assert_eq!(cloud.count(), created.len(), "in-flight work finished");
    let state = state_of(&orch).await;
    assert_eq!(
        state.resources.keys().cloned().collect::<BTreeSet<_>>(),
        created.iter().cloned().collect()
    );
    assert!(
        state
            .resources
            .values()
            .all(|r| r.status == ResourceStatus::Created),
        "and was recorded"
    );
    let events = rec.events();
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::OrchestrationFinished {
            success: false,
            cancelled: true
        }
    ));
    for key in &skipped {
        assert!(
            !events
                .iter()
                .any(|e| matches!(&e.kind, EventKind::ResourceStarting { key: k, .. } if k == key))
        );
    }

    // The cancellation applied to that run only: teardown afterwards removes what was created.
    let down = orch.teardown_system().await.unwrap();
    assert_success(&down);
    assert_eq!(
        down.count_resources(&ResourceOutcome::Deleted),
        created.len(),
        "{down}"
    );
    assert_eq!(cloud.count(), 0);
}

#[tokio::test]
async fn a_cancelled_run_is_resumed_by_the_next() {
    let cloud = sim(Duration::from_millis(20));
    let orch = builder("cancel-resume", &cloud)
        .infra("fleet", Fleet::new(4))
        .concurrency(1)
        .build()
        .unwrap();
    let handle = orch.cancel_handle();
    let run = tokio::spawn({
        let orch = orch.clone();
        async move { orch.initiate_system().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.cancel();
    let first = run.await.unwrap();
    assert!(first.cancelled, "{first}");
    let done = resources_with(&first, &ResourceOutcome::Created).len();
    assert!(done < 6, "{first}");

    let second = orch.initiate_system().await.unwrap();
    assert_success(&second);
    assert_eq!(
        second.count_resources(&ResourceOutcome::AlreadyPresent),
        done,
        "{second}"
    );
    assert_eq!(
        second.count_resources(&ResourceOutcome::Created),
        6 - done,
        "{second}"
    );
    assert_eq!(cloud.count(), 6);
}

#[tokio::test]
async fn cancelling_before_a_run_starts_nothing() {
    let cloud = sim(Duration::ZERO);
    let orch = builder("cancel-early", &cloud)
        .infra("fleet", Fleet::new(2))
        .build()
        .unwrap();
    orch.cancel_handle().cancel();
    let report = orch.initiate_system().await.unwrap();
    assert!(report.cancelled && !report.success, "{report}");
    assert_eq!(
        report.count_resources(&ResourceOutcome::NotAttempted),
        4,
        "{report}"
    );
    assert_eq!(cloud.calls().total_creates(), 0, "no provider call");
    // The cancellation was spent on that run.
    assert_success(&orch.initiate_system().await.unwrap());
    assert_eq!(cloud.count(), 4);
}

#[tokio::test]
async fn a_cancelled_teardown_keeps_the_rest_recorded_and_is_resumed() {
    let cloud = sim(Duration::from_millis(20));
    let orch = builder("cancel-down", &cloud)
        .infra("fleet", Fleet::new(6))
        .concurrency(1)
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    let handle = orch.cancel_handle();
    let run = tokio::spawn({
        let orch = orch.clone();
        async move { orch.teardown_system().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.cancel();
    let first = run.await.unwrap();
    assert!(first.cancelled && !first.success, "{first}");
    let deleted = resources_with(&first, &ResourceOutcome::Deleted);
    let skipped = resources_with(&first, &ResourceOutcome::NotAttempted);
    assert_eq!(
        deleted.len() + skipped.len(),
        8,
        "every recorded resource is in the report:\n{first}"
    );
    assert!(!skipped.is_empty(), "{first}");
    assert_eq!(cloud.count(), skipped.len());
    let left: BTreeSet<String> = state_of(&orch).await.resources.keys().cloned().collect();
    assert_eq!(
        left,
        skipped.iter().cloned().collect(),
        "what is left stays recorded"
    );

    let second = orch.teardown_system().await.unwrap();
    assert_success(&second);
    assert_eq!(resources_with(&second, &ResourceOutcome::Deleted), skipped);
    assert_eq!(cloud.count(), 0);
}
