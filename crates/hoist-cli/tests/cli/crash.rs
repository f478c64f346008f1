//! Crash tests: the initiating (or tearing-down) process is killed with `kill -9` at random
//! moments; a new process holding only the state and the cloud's location then tears the
//! system down (`hoist down --yes`), which must leave no object of the system in the cloud,
//! and a fresh initiate must create exactly one object per resource (no duplicates).
//!
//! Against the persistent simulated cloud, with a SQLite state. (Against moto, the AWS
//! emulator: not yet, the AWS provider lands in a later issue.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hoist::state::{ResourceStatus, RunOutcome};
use hoist_cli::demo::DemoInfra;

use crate::common::{Bed, SERVERS, seed};

const LATENCY_MS: u64 = 5;

/// Every resource of the demo system, exactly once.
fn assert_one_each(bed: &Bed, system: &str, what: &str) {
    let per_key = bed.per_key(system);
    let dups: BTreeMap<&String, &usize> = per_key.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "{what}: duplicated objects: {dups:?}");
    assert_eq!(
        per_key.len(),
        DemoInfra::resource_count(SERVERS),
        "{what}: {per_key:?}"
    );
}

#[track_caller]
fn assert_none(bed: &Bed, system: &str, what: &str) {
    let left = bed.objects(system);
    assert!(
        left.is_empty(),
        "{what}: objects left in the cloud: {:?}",
        left.iter().map(|o| (&o.key, &o.id)).collect::<Vec<_>>()
    );
}

/// Uninterrupted initiates, to time a run (kill moments are drawn from it): the faster of two,
/// the first being slowed by cold caches.
fn calibrate(bed: &Bed) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..2 {
        best = best.min(bed.up("calibrate"));
        bed.down("calibrate");
        assert_none(bed, "calibrate", "calibration");
    }
    best
}

/// Kills `n` initiates at random moments; after each, either resumes first (a new initiate,
/// then teardown) or tears down from state first (sometimes after an explicit recover), then
/// initiates afresh. Checks that enough kills landed while a run held the lock (the next run
/// found it marked running, or took its lock over).
async fn kill_initiates(test: &str, n: usize, resume_first: bool) {
    let t_all = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let bed = Bed::sqlite(LATENCY_MS);
    let full = calibrate(&bed);
    let mut mid_run = 0;
    for k in 0..n {
        let system = format!("{test}-{k}");
        let at =
            Duration::from_micros(rng.u64(0..=u64::try_from(full.as_micros() * 11 / 10).unwrap()));
        let mut child = bed.spawn_up(&system);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let before = bed.objects(&system).len();
        let state = bed.state(&system).await;
        let pending = state.as_ref().map_or(0, |s| {
            s.resources
                .values()
                .filter(|r| r.status != ResourceStatus::Created)
                .count()
        });
        eprintln!(
            "{test}: kill {k} at {at:?}: {before} objects in the cloud, {pending} pending intents"
        );
        if resume_first {
            // Resume: the new run adopts what the dead one made, and creates the rest once.
            bed.up(&system);
            assert_one_each(&bed, &system, &format!("resume after kill {k} at {at:?}"));
            bed.down(&system);
            assert_none(&bed, &system, &format!("teardown after resume, kill {k}"));
        } else {
            if k % 2 == 1 && state.is_some() {
                // An explicit recover first: every pending intent is adopted or forgotten, and
                // the state then records exactly what the cloud holds.
                let out = bed.hoist(&["recover", "--system", &system]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let s = bed.state(&system).await.unwrap();
                let recorded: Vec<&String> = s
                    .resources
                    .values()
                    .inspect(|r| assert_eq!(r.status, ResourceStatus::Created, "{r:?}"))
                    .map(|r| &r.key)
                    .collect();
                let in_cloud = bed.per_key(&system);
                assert_eq!(
                    recorded,
                    in_cloud.keys().collect::<Vec<_>>(),
                    "recover after kill {k} at {at:?}"
                );
            }
            // Teardown from state alone: nothing of the system is left.
            bed.down(&system);
            assert_none(
                &bed,
                &system,
                &format!("teardown from state after kill {k} at {at:?}"),
            );
            let s = bed.state(&system).await.unwrap();
            assert!(s.resources.is_empty(), "{:?}", s.resources.keys());
            // A fresh initiate creates everything exactly once.
            bed.up(&system);
            assert_one_each(&bed, &system, &format!("fresh initiate after kill {k}"));
            bed.down(&system);
            assert_none(&bed, &system, &format!("final teardown, kill {k}"));
        }
        let runs = bed.state(&system).await.unwrap().runs;
        if runs
            .iter()
            .any(|r| r.outcome == RunOutcome::Interrupted || r.action == "lock-takeover")
        {
            mid_run += 1;
        }
        assert!(
            runs.iter().all(|r| r.outcome != RunOutcome::Running),
            "no run is left marked running: {runs:?}"
        );
    }
    eprintln!(
        "{test}: {n} kills ({mid_run} mid-run, full run {full:?}) in {:?}",
        t_all.elapsed()
    );
    assert!(
        mid_run >= n / 4,
        "too few kills landed while the run held its lock: {mid_run} of {n}"
    );
}

/// 16 kills during initiate; teardown from state after each, then a fresh initiate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_initiates_are_torn_down_from_state_without_leaks() {
    kill_initiates("crash-down", 16, false).await;
}

/// 16 kills during initiate; the next initiate resumes without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_initiates_resume_without_duplicates() {
    kill_initiates("crash-resume", 16, true).await;
}

/// 10 kills during teardown; the next teardown finishes it; then a fresh initiate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_teardowns_are_finished_by_the_next_teardown() {
    let test = "crash-teardown";
    let t_all = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let bed = Bed::sqlite(LATENCY_MS);
    // Time one teardown.
    bed.up("calibrate");
    let t0 = Instant::now();
    bed.down("calibrate");
    let full = t0.elapsed();
    for k in 0..10 {
        let system = format!("{test}-{k}");
        bed.up(&system);
        let at = Duration::from_micros(rng.u64(0..=u64::try_from(full.as_micros()).unwrap()));
        let mut child = bed.spawn_hoist(&["down", "--yes", "--system", &system]);
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let left = bed.objects(&system).len();
        eprintln!("{test}: kill {k} at {at:?}: {left} objects left");
        bed.down(&system);
        assert_none(
            &bed,
            &system,
            &format!("teardown after a killed teardown, kill {k} at {at:?}"),
        );
        bed.up(&system);
        assert_one_each(&bed, &system, &format!("initiate after kill {k}"));
        bed.down(&system);
        assert_none(&bed, &system, &format!("final teardown, kill {k}"));
    }
    eprintln!(
        "{test}: 10 kills (full teardown {full:?}) in {:?}",
        t_all.elapsed()
    );
}
