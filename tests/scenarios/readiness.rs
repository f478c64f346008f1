//! Readiness: hosts are checked before configuration; the tasks of a host that is not ready
//! fail as "not reachable", and (keep going) the other hosts' tasks still run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hoist::exec::{ConnectError, ConnectFailure, Connector, HostTarget, LocalTransport, Transport};
use hoist::provider::HostEndpoint;
use hoist::{Deps, EventKind, HostRef, Model, Phase, Readiness, Role, Task, TaskOutcome};
use hoist_tests::{
    Fleet, FleetRoles, FleetTasks, Recorder, assert_success, builder, local_builder, read, sim,
    task_outcomes,
};

#[derive(Model)]
struct Ns {
    good: Role,
    bad: Role,
}

#[derive(Model)]
struct Cfg {
    g1: Task,
    g2: Task,
    b1: Task,
    b2: Task,
    deps: Deps,
}

fn cfg() -> Cfg {
    let ns = Ns::refs();
    let r = Cfg::refs();
    Cfg {
        g1: Task::shell("touch g1").role(ns.good.clone()),
        g2: Task::shell("touch g2").role(ns.good),
        b1: Task::shell("touch b1").role(ns.bad.clone()),
        b2: Task::shell("touch b2").role(ns.bad),
        deps: Deps::new([r.g1 | r.g2, r.b1 | r.b2]),
    }
}

#[tokio::test]
async fn tasks_on_a_host_that_is_not_ready_fail_and_others_keep_going() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    // A sandbox under a regular file cannot be created, not even by root.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("sandbox");
    let ns = Ns {
        good: Role::on(HostRef::local(&good)),
        bad: Role::on(HostRef::local(&bad)),
    };
    let rec = Recorder::new();
    let orch = local_builder("ready")
        .namespace("ns", ns)
        .config("cfg", cfg())
        .keep_going()
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let t0 = Instant::now();
    let report = orch.initiate_system().await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "readiness is bounded: {:?}",
        t0.elapsed()
    );
    assert!(!report.success, "{report}");
    let o = task_outcomes(&report);
    assert_eq!(
        (&o["cfg/g1"], &o["cfg/g2"]),
        (&TaskOutcome::Changed, &TaskOutcome::Changed),
        "{report}"
    );
    assert_eq!(
        (&o["cfg/b1"], &o["cfg/b2"]),
        (&TaskOutcome::Failed, &TaskOutcome::NotRun),
        "{report}"
    );
    let err = report.task("cfg/b1").unwrap().error.clone().unwrap();
    assert!(
        err.contains("not reachable") && err.contains("sandbox"),
        "{err}"
    );
    assert!(good.join("g2").exists());

    let kinds = rec.kinds();
    let ready: Vec<(String, bool)> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::HostReady { host, ready } => Some((host.clone(), *ready)),
            _ => None,
        })
        .collect();
    assert_eq!(ready.len(), 2, "{ready:?}");
    assert!(
        ready.iter().any(|(h, r)| h.contains("plain-file") && !r),
        "{ready:?}"
    );
    assert!(
        ready.iter().any(|(h, r)| h.ends_with("good") && *r),
        "{ready:?}"
    );
    assert!(kinds.contains(&EventKind::PhaseFinished {
        phase: Phase::Readiness,
        success: false
    }));
}

#[tokio::test]
async fn a_missing_sandbox_directory_is_created_on_first_use() {
    #[derive(Model)]
    struct One {
        host: Role,
    }
    #[derive(Model)]
    struct Touch {
        t: Task,
    }
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("not/there/yet");
    let orch = local_builder("ready-mkdir")
        .namespace(
            "ns",
            One {
                host: Role::on(HostRef::local(&host)),
            },
        )
        .config(
            "cfg",
            Touch {
                t: Task::shell("echo here > f").role(One::refs().host),
            },
        )
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
    assert_eq!(read(&host, "f"), "here\n");
}

/// A connector that refuses the first `refusals` logins (as a server whose login keys
/// cloud-init has not installed yet), or never answers, then lets in to a local sandbox.
struct LateKeys {
    refusals: u32,
    failure: ConnectFailure,
    calls: AtomicU32,
    dir: PathBuf,
}

#[hoist::async_trait]
impl Connector for LateKeys {
    async fn connect(&self, _: &HostTarget) -> Result<Option<Arc<dyn Transport>>, ConnectError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.refusals {
            return Err(ConnectError::new(self.failure, "not yet"));
        }
        Ok(Some(Arc::new(LocalTransport::sandbox(&self.dir))))
    }
}

/// A server created in this run may refuse logins for its login grace, beyond the attempts
/// that bound a host that does not answer; a host that does not answer gets those attempts.
#[tokio::test]
async fn a_fresh_server_may_refuse_logins_for_its_grace_and_no_longer() {
    let dir = tempfile::tempdir().unwrap();
    for (failure, refusals, ready) in [
        (ConnectFailure::Refused, 10, true),
        (ConnectFailure::Unreachable, 10, false),
        (ConnectFailure::Refused, 1000, false),
    ] {
        let cloud = sim(Duration::ZERO);
        let keys = Arc::new(LateKeys {
            refusals,
            failure,
            calls: AtomicU32::new(0),
            dir: dir.path().to_path_buf(),
        });
        let endpoint = HostEndpoint::Network {
            address: "127.0.0.1".into(),
            port: Some(1),
        };
        let orch = builder("grace", &cloud)
            .infra("fleet", Fleet::new(1))
            .namespace("ns", FleetRoles::new(1))
            .config("cfg", FleetTasks::new("true"))
            .connect_override("fleet/srv[0]", endpoint)
            .connector(keys.clone())
            .readiness(Readiness {
                attempts: 3,
                interval: Duration::from_millis(10),
                timeout: Duration::from_secs(5),
                login_grace: Duration::from_millis(300),
            })
            .build()
            .unwrap();
        let report = orch.initiate_system().await.unwrap();
        let calls = keys.calls.load(Ordering::SeqCst);
        assert_eq!(report.success, ready, "{failure:?} x{refusals}: {report}");
        match (failure, ready) {
            (ConnectFailure::Refused, true) => assert_eq!(calls, 11, "{report}"),
            (ConnectFailure::Unreachable, _) => assert_eq!(calls, 3, "{report}"),
            _ => assert!((3..=31).contains(&calls), "within the grace: {calls}"),
        }
    }
}
