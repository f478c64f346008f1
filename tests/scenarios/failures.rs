//! Keep going vs fail fast, for tasks and for resources.

use std::path::Path;
use std::time::Duration;

use hoist::provider::ErrorKind;
use hoist::sim::Fault;
use hoist::{Deps, EventKind, HostRef, Model, ResourceOutcome, Role, Task, TaskOutcome};
use hoist_tests::{
    Fleet, Recorder, builder, local_builder, resources_with, sim, sorted, task_outcomes,
};

#[derive(Model)]
struct Ns {
    a: Role,
    b: Role,
}

/// Branch A: `bad | after_bad` on host a; branch B: `b1 | b2 | b3` on host b.
#[derive(Model)]
struct Branches {
    bad: Task,
    after_bad: Task,
    b1: Task,
    b2: Task,
    b3: Task,
    deps: Deps,
}

fn branches() -> Branches {
    let ns = Ns::refs();
    let r = Branches::refs();
    Branches {
        bad: Task::shell("echo partial; echo oops >&2; exit 3").role(ns.a.clone()),
        after_bad: Task::shell("touch after_bad").role(ns.a),
        // b1 is still running when `bad` fails.
        b1: Task::shell("sleep 0.3; touch b1").role(ns.b.clone()),
        b2: Task::shell("touch b2").role(ns.b.clone()),
        b3: Task::shell("touch b3").role(ns.b),
        deps: Deps::new([r.bad | r.after_bad, r.b1 | r.b2 | r.b3]),
    }
}

async fn run_branches(keep_going: bool) -> (hoist::Report, Vec<hoist::Event>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ns = Ns {
        a: Role::on(HostRef::local(dir.path().join("a"))),
        b: Role::on(HostRef::local(dir.path().join("b"))),
    };
    let rec = Recorder::new();
    let b = local_builder(if keep_going {
        "keep-going"
    } else {
        "fail-fast"
    })
    .namespace("ns", ns)
    .config("cfg", branches())
    .subscribe(rec.clone());
    let b = if keep_going {
        b.keep_going()
    } else {
        b.fail_fast()
    };
    let report = b.build().unwrap().initiate_system().await.unwrap();
    (report, rec.events(), dir)
}

fn exists(dir: &Path, host: &str, file: &str) -> bool {
    dir.join(host).join(file).exists()
}

#[tokio::test]
async fn a_failed_task_reports_its_output_and_exit_code() {
    let (report, events, _dir) = run_branches(true).await;
    let bad = report.task("cfg/bad").expect("reported");
    assert_eq!(bad.outcome, TaskOutcome::Failed);
    let out = bad.output.as_ref().expect("captured output");
    assert_eq!(out.exit_code, Some(3), "{report}");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.stdout, "partial\n");
    assert!(bad.error.as_deref().unwrap().contains('3'), "{report}");
    let text = report.to_string();
    assert!(text.contains("FAILED") && text.contains("| oops"), "{text}");
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::TaskFailed { key, .. } if key == "cfg/bad"))
    );
}

#[tokio::test]
async fn keep_going_runs_the_independent_branch() {
    let (report, _events, dir) = run_branches(true).await;
    assert!(!report.success, "{report}");
    let o = task_outcomes(&report);
    assert_eq!(o["cfg/bad"], TaskOutcome::Failed);
    assert_eq!(
        o["cfg/after_bad"],
        TaskOutcome::NotRun,
        "depends on the failed task"
    );
    for t in ["cfg/b1", "cfg/b2", "cfg/b3"] {
        assert_eq!(o[t], TaskOutcome::Changed, "{report}");
    }
    assert!(exists(dir.path(), "b", "b3"));
    assert!(!exists(dir.path(), "a", "after_bad"));
}

#[tokio::test]
async fn fail_fast_starts_nothing_new_but_lets_running_work_finish() {
    let (report, events, dir) = run_branches(false).await;
    assert!(!report.success, "{report}");
    let o = task_outcomes(&report);
    assert_eq!(o["cfg/bad"], TaskOutcome::Failed);
    assert_eq!(
        o["cfg/b1"],
        TaskOutcome::Changed,
        "in flight when `bad` failed: {report}"
    );
    for t in ["cfg/after_bad", "cfg/b2", "cfg/b3"] {
        assert_eq!(o[t], TaskOutcome::NotRun, "{report}");
    }
    assert!(exists(dir.path(), "b", "b1") && !exists(dir.path(), "b", "b2"));
    let started: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskStarting { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sorted(started), ["cfg/b1", "cfg/bad"]);
}

#[tokio::test]
async fn provisioning_keep_going_vs_fail_fast() {
    // One call at a time: the failing server is created before the others start.
    for keep_going in [false, true] {
        let cloud = sim(Duration::ZERO);
        cloud.faults().fail_create(
            "fleet/srv[0]",
            Fault::always(ErrorKind::InvalidSpec, "no such image here"),
        );
        let b = builder("prov", &cloud)
            .infra("fleet", Fleet::new(4))
            .concurrency(1);
        let b = if keep_going {
            b.keep_going()
        } else {
            b.fail_fast()
        };
        let report = b.build().unwrap().initiate_system().await.unwrap();
        assert!(!report.success, "{report}");
        assert_eq!(
            resources_with(&report, &ResourceOutcome::Failed),
            ["fleet/srv[0]"]
        );
        let rest = ["fleet/srv[1]", "fleet/srv[2]", "fleet/srv[3]"];
        if keep_going {
            assert_eq!(
                resources_with(&report, &ResourceOutcome::Created).len(),
                2 + 3,
                "{report}"
            );
            assert_eq!(cloud.count(), 5);
        } else {
            assert_eq!(
                resources_with(&report, &ResourceOutcome::NotAttempted),
                rest,
                "{report}"
            );
            assert_eq!(cloud.count(), 2);
        }
    }
}

/// Tasks held back by the per-host limit when a failure stops the run are reported as not run.
#[tokio::test]
async fn fail_fast_reports_tasks_still_waiting_for_their_host() {
    #[derive(Model)]
    struct One {
        host: Role,
    }
    #[derive(Model)]
    struct Three {
        bad: Task,
        t1: Task,
        t2: Task,
    }
    let dir = tempfile::tempdir().unwrap();
    let role = One::refs().host;
    let orch = local_builder("host-limit")
        .namespace(
            "ns",
            One {
                host: Role::on(HostRef::local(dir.path())),
            },
        )
        .config(
            "cfg",
            Three {
                bad: Task::shell("exit 1").role(role.clone()),
                t1: Task::shell("touch t1").role(role.clone()),
                t2: Task::shell("touch t2").role(role),
            },
        )
        .host_limit(1)
        .fail_fast()
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert!(!report.success);
    let o = task_outcomes(&report);
    assert_eq!(o.len(), 3, "every task is in the report:\n{report}");
    assert_eq!(
        (&o["cfg/bad"], &o["cfg/t1"], &o["cfg/t2"]),
        (
            &TaskOutcome::Failed,
            &TaskOutcome::NotRun,
            &TaskOutcome::NotRun
        )
    );
    assert!(!dir.path().join("t1").exists());
}
