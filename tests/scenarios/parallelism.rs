//! Bounded parallelism: the global limit, per-provider limits, and the makespan they give.
//! Runs on a paused clock: the simulated latency is exact and takes no real time.

use std::time::Duration;

use hoist::OrchestrationBuilder;
use hoist::sim::SimCloud;
use hoist_tests::{Fleet, assert_success, builder, sim};

const N: usize = 30;
const LATENCY: Duration = Duration::from_millis(50);

/// Provisions `N` servers with `configure` applied; returns the run's duration and the cloud.
async fn provision(
    configure: impl FnOnce(OrchestrationBuilder) -> OrchestrationBuilder,
) -> (Duration, SimCloud, hoist::Orchestration) {
    let cloud = sim(LATENCY);
    let orch = configure(builder("par", &cloud).infra("fleet", Fleet::new(N)))
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    assert_eq!(cloud.count(), N + 2);
    (report.duration, cloud, orch)
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_stay_within_the_limits() {
    // (concurrency, sim provider limit, expected maximum in flight)
    for (concurrency, provider_limit, max) in
        [(4, None, 4), (10, Some(2), 2), (10, None, 10), (1, None, 1)]
    {
        let (_, cloud, orch) = provision(|b| {
            let b = b.concurrency(concurrency);
            match provider_limit {
                Some(n) => b.provider_limit("sim", n),
                None => b,
            }
        })
        .await;
        assert_eq!(
            cloud.max_in_flight(),
            max,
            "concurrency {concurrency}, provider limit {provider_limit:?}"
        );

        cloud.reset_stats();
        assert_success(&orch.teardown_system().await.unwrap());
        assert_eq!(cloud.count(), 0);
        assert!(
            cloud.max_in_flight() <= max,
            "teardown: {} in flight",
            cloud.max_in_flight()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn parallel_provisioning_is_much_faster_than_serial() {
    let (serial, ..) = provision(|b| b.concurrency(1)).await;
    let (parallel, ..) = provision(|b| b.concurrency(10)).await;
    let calls = u32::try_from(N + 2).unwrap();
    assert!(serial >= LATENCY * calls, "serial: {serial:?}");
    // net, subnet, then 30 servers in waves of 10: 5 latencies.
    assert!(parallel < LATENCY * 7, "parallel: {parallel:?}");
    assert!(
        parallel * 4 < serial,
        "parallel {parallel:?} vs serial {serial:?}"
    );
}
