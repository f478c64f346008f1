//! Injected throttling: throttled calls are retried with back-off, within the retry policy.
//! Runs on a paused clock: the back-off takes no real time.

use std::time::Duration;

use hoist::{EventKind, ResourceOutcome};
use hoist_tests::{Fleet, Recorder, assert_success, builder, sim};

fn retries(events: &[hoist::Event]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResourceRetrying {
                key,
                attempt,
                error,
            } => {
                assert!(error.contains("rate exceeded"), "{error}");
                Some((key.clone(), *attempt))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn throttled_creates_are_retried_within_the_default_policy() {
    // The default provision retry: 4 attempts, 200 ms doubling.
    // (throttled calls, expected success)
    for (throttles, ok) in [(3, true), (4, false)] {
        let cloud = sim(Duration::ZERO);
        cloud.faults().throttle_next(throttles);
        let rec = Recorder::new();
        let orch = builder("throttle", &cloud)
            .infra("fleet", Fleet::new(2))
            .subscribe(rec.clone())
            .build()
            .unwrap();
        let t0 = tokio::time::Instant::now();
        let report = orch.initiate_system().await.unwrap();
        assert_eq!(report.success, ok, "{report}");
        let net = report.resource("fleet/net").unwrap();
        assert_eq!(net.attempts, 4, "{report}");
        let expected: Vec<(String, u32)> = (1..=3).map(|a| ("fleet/net".to_string(), a)).collect();
        assert_eq!(retries(&rec.events()), expected);
        assert!(
            t0.elapsed() >= Duration::from_millis(200 + 400 + 800),
            "back-off: {:?}",
            t0.elapsed()
        );
        assert_eq!(cloud.faults().pending_throttles(), 0);
        if ok {
            assert_eq!(cloud.count(), 4);
        } else {
            assert_eq!(net.outcome, ResourceOutcome::Failed);
            assert!(net.error.as_deref().unwrap().contains("rate exceeded"));
            assert_eq!(
                report.count_resources(&ResourceOutcome::NotAttempted),
                3,
                "{report}"
            );
            assert_eq!(cloud.count(), 0);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn throttled_deletes_are_retried() {
    let cloud = sim(Duration::ZERO);
    let rec = Recorder::new();
    let orch = builder("throttle-down", &cloud)
        .infra("fleet", Fleet::new(2))
        .subscribe(rec.clone())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    cloud.faults().throttle_next(2);
    rec.clear();
    let down = orch.teardown_system().await.unwrap();
    assert_success(&down);
    assert_eq!(retries(&rec.events()).len(), 2);
    assert_eq!(cloud.count(), 0);
}
