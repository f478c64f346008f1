//! Handlers, tasks that run every time, forced tasks and `changed_when`: a handler runs when
//! a task it follows changed something, not after a no-op, and a notification survives a run
//! that stops before the handler ran.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hoist::sim::SimCloud;
use hoist::state::{MemoryStore, StateStore, TaskStatus};
use hoist::{
    CancelHandle, ChangedWhen, Deps, Event, EventKind, Model, MultiTask, Task, TaskOutcome,
    TaskReason,
};
use hoist_tests::{Fleet, FleetRoles, assert_success, builder, read, sandbox_of, sim};

#[derive(Model)]
struct Service {
    /// The configuration file.
    conf: Task,
    /// Takes a while (the handler waits for it too).
    slow: Task,
    /// Restarts the service when the configuration changed.
    restart: Task,
    /// A health check, every run.
    health: Task,
    /// A query that never counts as a change.
    query: Task,
    deps: Deps,
}

#[derive(Model)]
struct Cfg {
    svc: MultiTask<Service>,
}

fn cfg(conf: &'static str, slow: &'static str) -> Cfg {
    Cfg {
        svc: MultiTask::new(
            move |role| {
                let s = Service::siblings();
                Service {
                    conf: Task::copy_content(conf, "svc.conf").role(role.clone()),
                    slow: Task::shell(slow)
                        .role(role.clone())
                        .changed_when(ChangedWhen::Never),
                    restart: Task::shell("echo restarted >> restarts.log")
                        .role(role.clone())
                        .handler(),
                    health: Task::shell("echo ok >> health.log")
                        .role(role.clone())
                        .always(),
                    query: Task::shell("echo queried >> queries.log")
                        .role(role)
                        .changed_when(ChangedWhen::Never),
                    deps: Deps::new([(s.conf & s.slow & s.query) | s.restart]),
                }
            },
            FleetRoles::refs().srv.all(),
        ),
    }
}

fn orch(
    cloud: &SimCloud,
    store: &Arc<MemoryStore>,
    conf: &'static str,
) -> hoist::OrchestrationBuilder {
    builder("svc", cloud)
        .infra("fleet", Fleet::new(1))
        .namespace("ns", FleetRoles::new(1))
        .config("cfg", cfg(conf, "true"))
        .state(store.clone())
}

async fn log(store: &Arc<MemoryStore>, name: &str) -> usize {
    let state = store.load("svc").await.unwrap().unwrap();
    read(&sandbox_of(&state, "fleet/srv[0]"), name)
        .lines()
        .count()
}

fn outcome(report: &hoist::Report, task: &str) -> TaskOutcome {
    report
        .task(&format!("cfg/svc[srv[0]].{task}"))
        .unwrap_or_else(|| panic!("no {task} in {report}"))
        .outcome
        .clone()
}

#[tokio::test]
async fn a_handler_runs_after_a_change_and_not_after_a_no_op() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    let up = |conf: &'static str, force: Option<&str>| {
        let mut b = orch(&cloud, &store, conf);
        if let Some(p) = force {
            b = b.force_tasks(p);
        }
        let orch = b.build().unwrap();
        async move {
            let report = orch.initiate_system().await.unwrap();
            assert_success(&report);
            report
        }
    };
    let first = up("port=1\n", None).await;
    assert_eq!(outcome(&first, "restart"), TaskOutcome::Changed, "{first}");
    assert_eq!(outcome(&first, "query"), TaskOutcome::Unchanged, "{first}");
    assert_eq!(log(&store, "restarts.log").await, 1);

    // Nothing changed: the health check runs, the handler does not.
    let diff = orch(&cloud, &store, "port=1\n")
        .build()
        .unwrap()
        .diff()
        .await
        .unwrap();
    let planned: Vec<(&str, &TaskReason)> = diff
        .tasks
        .iter()
        .map(|t| (t.key.as_str(), &t.reason))
        .collect();
    assert_eq!(
        planned,
        [("cfg/svc[srv[0]].health", &TaskReason::Always)],
        "{diff}"
    );
    let again = up("port=1\n", None).await;
    assert_eq!(outcome(&again, "restart"), TaskOutcome::AlreadyDone);
    assert_eq!(
        (
            log(&store, "health.log").await,
            log(&store, "restarts.log").await
        ),
        (2, 1)
    );

    // Forced, the configuration is written again, but the host has it: a no-op, no restart.
    let forced = up("port=1\n", Some("cfg/svc[*].conf")).await;
    assert_eq!(outcome(&forced, "conf"), TaskOutcome::Unchanged, "{forced}");
    assert!(
        matches!(outcome(&forced, "restart"), TaskOutcome::Skipped(_)),
        "{forced}"
    );
    assert_eq!(log(&store, "restarts.log").await, 1);

    // Another configuration: written, and the service restarted.
    let changed = up("port=2\n", None).await;
    assert_eq!(outcome(&changed, "conf"), TaskOutcome::Changed);
    assert_eq!(outcome(&changed, "restart"), TaskOutcome::Changed);
    assert_eq!(log(&store, "restarts.log").await, 2);

    // Forcing everything runs the handler too.
    up("port=2\n", Some("*")).await;
    assert_eq!(log(&store, "restarts.log").await, 3);
}

#[tokio::test]
async fn a_notification_survives_a_run_that_stops_before_the_handler() {
    let (cloud, store) = (sim(Duration::ZERO), Arc::new(MemoryStore::new()));
    orch(&cloud, &store, "port=1\n")
        .build()
        .unwrap()
        .initiate_system()
        .await
        .unwrap();

    // The configuration changes; the run is stopped as soon as it is written, while the
    // handler still waits for the slow task.
    let handle: Arc<OnceLock<CancelHandle>> = Arc::default();
    let h = handle.clone();
    let stopped = builder("svc", &cloud)
        .infra("fleet", Fleet::new(1))
        .namespace("ns", FleetRoles::new(1))
        .config("cfg", cfg("port=2\n", "sleep 1"))
        .state(store.clone())
        .subscribe(move |e: &Event| {
            if let EventKind::TaskFinished { key, .. } = &e.kind
                && key.ends_with(".conf")
                && let Some(h) = h.get()
            {
                h.cancel();
            }
        })
        .build()
        .unwrap();
    handle.set(stopped.cancel_handle()).ok().unwrap();
    let report = stopped.initiate_system().await.unwrap();
    assert!(report.cancelled, "{report}");
    assert_eq!(outcome(&report, "restart"), TaskOutcome::NotRun, "{report}");
    let state = store.load("svc").await.unwrap().unwrap();
    let pending = &state.tasks["cfg/svc[srv[0]].restart"];
    assert_eq!(
        pending.status,
        TaskStatus::Pending,
        "written with the change"
    );

    // The next run has nothing else to do, but runs the handler.
    let next = orch(&cloud, &store, "port=2\n").build().unwrap();
    let diff = next.diff().await.unwrap();
    let restart = diff.task("cfg/svc[srv[0]].restart").unwrap();
    assert_eq!(restart.reason, TaskReason::Notified, "{diff}");
    let report = next.initiate_system().await.unwrap();
    assert_success(&report);
    assert_eq!(outcome(&report, "conf"), TaskOutcome::AlreadyDone);
    assert_eq!(outcome(&report, "restart"), TaskOutcome::Changed);
    assert_eq!(log(&store, "restarts.log").await, 2);
    let state = store.load("svc").await.unwrap().unwrap();
    assert_eq!(
        state.tasks["cfg/svc[srv[0]].restart"].status,
        TaskStatus::Succeeded
    );
}
