//! Task retries and per-attempt time limits.

use std::time::Duration;

use hoist::{EventKind, HostRef, Model, RetryPolicy, Role, Task, TaskOutcome};
use hoist_tests::{Recorder, local_builder};

#[derive(Model)]
struct Ns {
    host: Role,
}

#[derive(Model)]
struct One {
    t: Task,
}

/// Runs the single task `t` on a local host; returns the report, the events and the host dir.
async fn run_one(t: Task) -> (hoist::Report, Vec<hoist::Event>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::new();
    let orch = local_builder("retry")
        .namespace(
            "ns",
            Ns {
                host: Role::on(HostRef::local(dir.path())),
            },
        )
        .config(
            "cfg",
            One {
                t: t.role(Ns::refs().host),
            },
        )
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    (report, rec.events(), dir)
}

/// Fails until it has been run three times (a counter file in the sandbox).
const FLAKY: &str =
    "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]";

#[tokio::test]
async fn a_flaky_task_succeeds_within_its_attempts() {
    // (attempts allowed, expected success, attempts made)
    for (allowed, ok, made) in [(3, true, 3), (5, true, 3), (2, false, 2)] {
        let policy = RetryPolicy::attempts(allowed).constant(Duration::from_millis(10));
        let (report, events, dir) = run_one(Task::shell(FLAKY).retry(policy)).await;
        assert_eq!(report.success, ok, "{report}");
        let t = report.task("cfg/t").unwrap();
        assert_eq!(t.attempts, made, "{report}");
        assert_eq!(
            t.outcome,
            if ok {
                TaskOutcome::Changed
            } else {
                TaskOutcome::Failed
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("count"))
                .unwrap()
                .trim(),
            made.to_string()
        );
        let retrying: Vec<u32> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::TaskRetrying {
                    key,
                    attempt,
                    delay,
                    ..
                } if key == "cfg/t" => {
                    assert_eq!(*delay, Duration::from_millis(10));
                    Some(*attempt)
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            retrying,
            (1..made).collect::<Vec<u32>>(),
            "one TaskRetrying per failed attempt but the last"
        );
        let starting: Vec<u32> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::TaskStarting { attempt, .. } => Some(*attempt),
                _ => None,
            })
            .collect();
        assert_eq!(starting, (1..=made).collect::<Vec<u32>>());
    }
}

#[tokio::test]
async fn an_attempt_that_runs_too_long_is_stopped_and_reported() {
    let t0 = std::time::Instant::now();
    let (report, events, _dir) =
        run_one(Task::shell("sleep 5").timeout(Duration::from_millis(200))).await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the time limit did not stop the command: {:?}",
        t0.elapsed()
    );
    assert!(!report.success);
    let t = report.task("cfg/t").unwrap();
    assert_eq!((t.outcome.clone(), t.attempts), (TaskOutcome::Failed, 1));
    let err = t.error.as_deref().unwrap();
    assert!(err.contains("timed out after 200ms"), "{err}");
    assert!(events.iter().any(
        |e| matches!(&e.kind, EventKind::TaskFailed { error, .. } if error.contains("timed out"))
    ));

    // Each attempt gets its own limit.
    let policy = RetryPolicy::attempts(2).timeout(Duration::from_millis(150));
    let (report, _, _dir) = run_one(Task::shell("sleep 5").retry(policy)).await;
    let t = report.task("cfg/t").unwrap();
    assert_eq!(
        (t.outcome.clone(), t.attempts),
        (TaskOutcome::Failed, 2),
        "{report}"
    );
    assert!(t.error.as_deref().unwrap().contains("timed out"));
}
