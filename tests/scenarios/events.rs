//! The event stream: phase order, numbering, pairing, and delivery off the scheduler.

use std::time::Duration;

use hoist::{Event, EventKind};
use hoist_tests::{
    Fleet, FleetRoles, FleetTasks, Recorder, assert_success, builder, collapsed_labels, sim,
};

/// Every `*Starting` of a resource or task is followed later by its finish.
fn assert_paired(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        let later = &events[i + 1..];
        match &e.kind {
            EventKind::ResourceStarting { key, .. } => assert!(
                later.iter().any(|x| matches!(&x.kind,
                    EventKind::ResourceFinished { key: k, .. } | EventKind::ResourceFailed { key: k, .. } if k == key)),
                "ResourceStarting of `{key}` (seq {}) is never finished",
                e.seq
            ),
            EventKind::TaskStarting { key, .. } => assert!(
                later.iter().any(|x| matches!(&x.kind,
                    EventKind::TaskFinished { key: k, .. } | EventKind::TaskFailed { key: k, .. } | EventKind::TaskRetrying { key: k, .. } if k == key)),
                "TaskStarting of `{key}` (seq {}) is never finished",
                e.seq
            ),
            _ => {}
        }
    }
}

/// Numbered 0, 1, 2, … with non-decreasing times, all for `system`.
fn assert_numbered(events: &[Event], system: &str) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "event {i} has seq {}: {e:?}", e.seq);
        assert_eq!(e.system, system);
        if i > 0 {
            assert!(
                events[i - 1].elapsed <= e.elapsed,
                "time runs backwards at seq {i}"
            );
        }
    }
}

#[tokio::test]
async fn a_successful_run_reports_phases_in_order() {
    let cloud = sim(Duration::from_millis(1));
    let rec = Recorder::new();
    let orch = builder("events", &cloud)
        .infra("fleet", Fleet::new(2))
        .namespace("ns", FleetRoles::new(2))
        .config("cfg", FleetTasks::new("echo !{ID} > id.txt"))
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);

    // Every event is delivered by the time initiate returns.
    let events = rec.events();
    assert_eq!(
        collapsed_labels(&events),
        [
            "OrchestrationStarting(initiate)",
            "PhaseStarting(Provisioning)",
            "Resource",
            "PhaseFinished(Provisioning, success=true)",
            "PhaseStarting(Readiness)",
            "HostReady",
            "PhaseFinished(Readiness, success=true)",
            "PhaseStarting(Configuration)",
            "Task",
            "PhaseFinished(Configuration, success=true)",
            "OrchestrationFinished(success=true, cancelled=false)",
        ]
    );
    assert_numbered(&events, "events");
    assert_paired(&events);
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    assert_eq!(
        count(|k| matches!(k, EventKind::ResourceStarting { .. })),
        4
    );
    assert_eq!(
        count(|k| matches!(k, EventKind::ResourceFinished { .. })),
        4
    );
    assert_eq!(
        count(|k| matches!(k, EventKind::HostReady { ready: true, .. })),
        2
    );
    assert_eq!(count(|k| matches!(k, EventKind::TaskStarting { .. })), 2);
    assert_eq!(count(|k| matches!(k, EventKind::TaskFinished { .. })), 2);

    rec.clear();
    assert_success(&orch.teardown_system().await.unwrap());
    let events = rec.events();
    assert_eq!(
        collapsed_labels(&events),
        [
            "OrchestrationStarting(teardown)",
            "PhaseStarting(Teardown)",
            "Resource",
            "PhaseFinished(Teardown, success=true)",
            "OrchestrationFinished(success=true, cancelled=false)",
        ]
    );
    assert_numbered(&events, "events");
    assert_paired(&events);
}

/// The default `#[tokio::test]` runtime has one thread, like a `current_thread` main: a
/// subscriber that blocks must still not hold up the scheduler.
#[tokio::test]
async fn a_slow_subscriber_does_not_slow_the_scheduler() {
    const DELAY: Duration = Duration::from_millis(20);
    let cloud = sim(Duration::ZERO);
    let slow = Recorder::slow(DELAY);
    let orch = builder("slow", &cloud)
        .infra("fleet", Fleet::new(6))
        .namespace("ns", FleetRoles::new(6))
        .config("cfg", FleetTasks::new("echo !{ID} > id.txt"))
        .subscribe(slow.clone())
        .build()
        .unwrap();
    let t0 = std::time::Instant::now();
    let report = orch.initiate_system().await.unwrap();
    let total = t0.elapsed();
    assert_success(&report);

    let events = slow.events();
    assert_numbered(&events, "slow");
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::OrchestrationFinished { success: true, .. }
    ));
    let delivery = DELAY * u32::try_from(events.len()).unwrap();
    assert!(
        total >= delivery,
        "initiate returned before every event was delivered"
    );
    assert!(
        report.duration < delivery / 2,
        "the scheduler was held up by the subscriber: the run took {:?}, delivering {} events takes {delivery:?}",
        report.duration,
        events.len()
    );
}

/// Subscribers run off the runtime's workers but may still hand events to async code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_can_hand_events_to_async_code() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let cloud = sim(Duration::ZERO);
    let orch = builder("forward", &cloud)
        .infra("fleet", Fleet::new(1))
        .subscribe(move |e: &Event| {
            let (tx, seq) = (tx.clone(), e.seq);
            tokio::spawn(async move { tx.send(seq) });
        })
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    drop(orch);
    let mut seqs = Vec::new();
    while let Some(s) = rx.recv().await {
        seqs.push(s);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() >= 8, "{seqs:?}");
}
