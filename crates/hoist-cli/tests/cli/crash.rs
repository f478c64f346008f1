//! Crash tests: the initiating (or tearing-down) process is killed with `kill -9` at random
//! moments; a new process holding only the state and the cloud's location then tears the
//! system down (`hoist down --yes`), which must leave no object of the system in the cloud,
//! and a fresh initiate must create exactly one object per resource (no duplicates).
//!
//! Each scenario runs against the persistent simulated cloud and against moto (the EC2
//! emulator, reached through the standard AWS variables), with a SQLite state.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hoist::state::{ResourceStatus, RunOutcome, TaskStatus};
use hoist_cli::demo::DemoInfra;

use crate::common::{Bed, SERVERS, seed};

/// Latency per call of the simulated cloud.
const SIM_LATENCY_MS: u64 = 5;

/// Every object of an uninterrupted initiate, exactly once.
#[track_caller]
fn assert_as_expected(bed: &Bed, system: &str, expected: &BTreeMap<String, usize>, what: &str) {
    let per_key = bed.per_key(system);
    let dups: BTreeMap<&String, &usize> = per_key.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "{what}: duplicated objects: {dups:?}");
    assert_eq!(&per_key, expected, "{what}");
}

#[track_caller]
fn assert_none(bed: &Bed, system: &str, what: &str) {
    let left = bed.objects(system);
    assert!(
        left.is_empty(),
        "{what}: objects left in the cloud: {:?}",
        left.iter()
            .map(|o| (&o.key, &o.kind, &o.id))
            .collect::<Vec<_>>()
    );
}

/// Uninterrupted initiates, to time a run (kill moments are drawn from it) and to learn what
/// one leaves in the cloud: the faster of two, the first being slowed by cold caches.
fn calibrate(bed: &Bed) -> (Duration, BTreeMap<String, usize>) {
    let mut best = Duration::MAX;
    let mut expected = BTreeMap::new();
    for k in 0..2 {
        let system = format!("calibrate-{k}");
        best = best.min(bed.up(&system));
        expected = bed.per_key(&system);
        bed.down(&system);
        assert_none(bed, &system, "calibration");
    }
    assert!(
        expected.values().all(|n| *n == 1),
        "one object per resource and kind: {expected:?}"
    );
    let keys: std::collections::BTreeSet<&str> = expected
        .keys()
        .map(|k| k.split(' ').next().unwrap())
        .collect();
    assert_eq!(keys.len(), DemoInfra::resource_count(SERVERS), "{keys:?}");
    (best, expected)
}

/// The resource keys `system` has objects of.
fn keys_in_cloud(bed: &Bed, system: &str) -> Vec<String> {
    let mut v: Vec<String> = bed.objects(system).into_iter().map(|o| o.key).collect();
    v.sort();
    v.dedup();
    v
}

/// Kills `n` initiates at random moments; after each, either resumes first (a new initiate,
/// then teardown) or tears down from state first (sometimes after an explicit recover), then
/// initiates afresh. Checks that enough kills landed while a run held the lock (the next run
/// found it marked running, or took its lock over).
fn kill_initiates(bed: &Bed, test: &str, n: usize, resume_first: bool) {
    let t_all = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let (full, expected) = calibrate(bed);
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
        let state = bed.state_blocking(&system);
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
            assert_as_expected(
                bed,
                &system,
                &expected,
                &format!("resume after kill {k} at {at:?}"),
            );
            bed.down(&system);
            assert_none(bed, &system, &format!("teardown after resume, kill {k}"));
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
                let s = bed.state_blocking(&system).unwrap();
                let recorded: Vec<String> = s
                    .resources
                    .values()
                    .inspect(|r| assert_eq!(r.status, ResourceStatus::Created, "{r:?}"))
                    .map(|r| r.key.clone())
                    .collect();
                assert_eq!(
                    recorded,
                    keys_in_cloud(bed, &system),
                    "recover after kill {k} at {at:?}"
                );
            }
            // Teardown from state alone: nothing of the system is left.
            bed.down(&system);
            assert_none(
                bed,
                &system,
                &format!("teardown from state after kill {k} at {at:?}"),
            );
            let s = bed.state_blocking(&system).unwrap();
            assert!(s.resources.is_empty(), "{:?}", s.resources.keys());
            // A fresh initiate creates everything exactly once.
            bed.up(&system);
            assert_as_expected(
                bed,
                &system,
                &expected,
                &format!("fresh initiate after kill {k}"),
            );
            bed.down(&system);
            assert_none(bed, &system, &format!("final teardown, kill {k}"));
        }
        let runs = bed.state_blocking(&system).unwrap().runs;
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

/// Kills `n` teardowns at random moments; the next teardown finishes each, then a fresh
/// initiate creates everything once.
fn kill_teardowns(bed: &Bed, test: &str, n: usize) {
    let t_all = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let (_, expected) = calibrate(bed);
    // Time one teardown.
    let system = "calibrate-down";
    bed.up(system);
    let t0 = Instant::now();
    bed.down(system);
    let full = t0.elapsed();
    for k in 0..n {
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
            bed,
            &system,
            &format!("teardown after a killed teardown, kill {k} at {at:?}"),
        );
        bed.up(&system);
        assert_as_expected(bed, &system, &expected, &format!("initiate after kill {k}"));
        bed.down(&system);
        assert_none(bed, &system, &format!("final teardown, kill {k}"));
    }
    eprintln!(
        "{test}: {n} kills (full teardown {full:?}) in {:?}",
        t_all.elapsed()
    );
}

/// Kills `n` day-2 runs (an update, replacements create-first with deposed objects, and
/// deletions) at random moments. After each kill, the next run converges: exactly one object
/// per resource of the changed models, no deposed object left behind, nothing pending; then
/// `hoist down` leaves nothing.
fn kill_day2_runs(bed: &Bed, test: &str, n: usize) {
    let t_all = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let system = "calibrate-day2";
    bed.up(system);
    let full = bed.up_day2(system);
    let expected = bed.per_key(system);
    assert!(expected.values().all(|n| *n == 1), "{expected:?}");
    bed.down(system);
    assert_none(bed, system, "calibration");
    for k in 0..n {
        let system = format!("{test}-{k}");
        bed.up(&system);
        let at =
            Duration::from_micros(rng.u64(0..=u64::try_from(full.as_micros() * 11 / 10).unwrap()));
        let mut child = bed.spawn_up_day2(&system);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let state = bed.state_blocking(&system).expect("a state");
        let deposed = state
            .resources
            .values()
            .filter(|r| r.deposed_of.is_some())
            .count();
        eprintln!(
            "{test}: kill {k} at {at:?}: {} objects in the cloud, {deposed} deposed",
            bed.objects(&system).len()
        );
        bed.up_day2(&system);
        let what = format!("converged after kill {k} at {at:?}");
        assert_as_expected(bed, &system, &expected, &what);
        let state = bed.state_blocking(&system).expect("a state");
        assert!(
            state
                .resources
                .values()
                .all(|r| r.deposed_of.is_none() && r.status == ResourceStatus::Created),
            "{what}: {:?}",
            state
                .resources
                .values()
                .map(|r| (&r.key, r.status))
                .collect::<Vec<_>>()
        );
        bed.down(&system);
        assert_none(bed, &system, &format!("teardown after kill {k}"));
    }
    eprintln!(
        "{test}: {n} kills (full day-2 run {full:?}) in {:?}",
        t_all.elapsed()
    );
}

/// Runs killed (`kill -9`) at random moments after a configuration change started, before
/// its handler ran: the notification is journaled before the change (an intent), so the next
/// run restarts the service. No notification is lost: after each version every server was
/// restarted at least once per version (a handler killed after it ran and before its outcome
/// was recorded runs again).
#[test]
fn killed_runs_keep_their_handler_notifications() {
    let test = "killed_runs_keep_their_handler_notifications";
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let bed = Bed::sqlite(SIM_LATENCY_MS);
    let system = "crash-handler";
    bed.up_service(system, "1");
    let restarts = |state: &hoist::state::SystemState| -> Vec<usize> {
        (0..SERVERS)
            .map(|k| {
                let rec = &state.resources[&format!("infra/srv[{k}]")];
                let dir = rec.outputs["sandbox"].as_str().unwrap();
                std::fs::read_to_string(Path::new(dir).join("restarts.log"))
                    .map_or(0, |t| t.lines().count())
            })
            .collect()
    };
    let pending = |state: &hoist::state::SystemState| {
        state
            .tasks
            .values()
            .filter(|t| t.key.ends_with(".restart") && t.status == TaskStatus::Pending)
            .count()
    };
    for version in 2..=6 {
        // Killed at a random moment once a notification is journaled.
        let mut child = bed.spawn_up_service(system, &version.to_string());
        let t0 = Instant::now();
        let mut seen = 0;
        while t0.elapsed() < Duration::from_secs(30) && matches!(child.try_wait(), Ok(None)) {
            seen = bed.state_blocking(system).map_or(0, |s| pending(&s));
            if seen > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            seen > 0,
            "version {version}: no notification seen while the run ran"
        );
        let at = Duration::from_millis(rng.u64(0..1_500));
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let left = bed.state_blocking(system).map_or(0, |s| pending(&s));
        eprintln!("{test}: version {version} killed {at:?} after a notification; {left} pending");
        bed.up_service(system, &version.to_string());
        let state = bed.state_blocking(system).unwrap();
        assert_eq!(pending(&state), 0, "version {version}");
        let counts = restarts(&state);
        assert!(
            counts.iter().all(|&n| n >= version),
            "version {version}: every server restarted for every version: {counts:?}"
        );
    }
    bed.down(system);
    assert_none(&bed, system, "teardown");
}

/// 30 kills during day-2 runs on the simulated cloud; the next run converges.
#[test]
fn killed_day2_runs_converge_without_leaks() {
    kill_day2_runs(&Bed::sqlite(SIM_LATENCY_MS), "crash-day2", 30);
}

/// Against moto: 30 kills during day-2 runs; the next run converges.
#[test]
fn moto_killed_day2_runs_converge_without_leaks() {
    let test = "moto_killed_day2_runs_converge_without_leaks";
    let Some(url) = hoist::aws::testing::moto_url(test) else {
        return;
    };
    kill_day2_runs(&Bed::moto(&url, test), "moto-crash-day2", 30);
}

/// 16 kills during initiate; teardown from state after each, then a fresh initiate.
#[test]
fn killed_initiates_are_torn_down_from_state_without_leaks() {
    kill_initiates(&Bed::sqlite(SIM_LATENCY_MS), "crash-down", 16, false);
}

/// 16 kills during initiate; the next initiate resumes without duplicates.
#[test]
fn killed_initiates_resume_without_duplicates() {
    kill_initiates(&Bed::sqlite(SIM_LATENCY_MS), "crash-resume", 16, true);
}

/// 10 kills during teardown; the next teardown finishes it; then a fresh initiate.
#[test]
fn killed_teardowns_are_finished_by_the_next_teardown() {
    kill_teardowns(&Bed::sqlite(SIM_LATENCY_MS), "crash-teardown", 10);
}

/// Against moto: 12 kills during initiate; teardown from state after each, then a fresh
/// initiate.
#[test]
fn moto_killed_initiates_are_torn_down_from_state_without_leaks() {
    let test = "moto_killed_initiates_are_torn_down_from_state_without_leaks";
    let Some(url) = hoist::aws::testing::moto_url(test) else {
        return;
    };
    kill_initiates(&Bed::moto(&url, test), "moto-crash-down", 12, false);
}

/// Against moto: 12 kills during initiate; the next initiate resumes without duplicates.
#[test]
fn moto_killed_initiates_resume_without_duplicates() {
    let test = "moto_killed_initiates_resume_without_duplicates";
    let Some(url) = hoist::aws::testing::moto_url(test) else {
        return;
    };
    kill_initiates(&Bed::moto(&url, test), "moto-crash-resume", 12, true);
}

/// Against moto: 8 kills during teardown; the next teardown finishes it; then a fresh
/// initiate.
#[test]
fn moto_killed_teardowns_are_finished_by_the_next_teardown() {
    let test = "moto_killed_teardowns_are_finished_by_the_next_teardown";
    let Some(url) = hoist::aws::testing::moto_url(test) else {
        return;
    };
    kill_teardowns(&Bed::moto(&url, test), "moto-crash-teardown", 8);
}
