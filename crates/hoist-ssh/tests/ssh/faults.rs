//! Hosts that are down or hung are reported (with the host and a timeout) while the others
//! work.

use std::time::{Duration, Instant};

use hoist_exec::{ExecRequest, Transport as _};
use hoist_ssh::SshError;

use crate::ok;
use crate::testbed::Testbed;

#[tokio::test]
async fn stopped_and_hung_hosts_are_reported_while_others_succeed() {
    let Some(bed) = Testbed::up(3) else { return };
    let label = |i: usize| format!("{}:{}", bed.hosts[i].address, bed.hosts[i].port);

    // Connected first; then host3 hangs: its commands time out, the others' do not.
    let ssh = bed.connector();
    let mut hosts = Vec::new();
    for i in 0..3 {
        hosts.push(ssh.connect_host(&bed.target(i, None)).await.unwrap());
    }
    assert_eq!(bed.hosts[2].name, "host3");
    bed.ctl("hang", "host3");
    let req = ExecRequest::shell("hostname").with_timeout(Some(Duration::from_secs(1)));
    let (a, b, c) = tokio::join!(
        hosts[0].exec(&req),
        hosts[1].exec(&req),
        hosts[2].exec(&req)
    );
    assert_eq!(a.unwrap().stdout, "host1\n");
    assert_eq!(b.unwrap().stdout, "host2\n");
    let e = c.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(e.host(), label(2));
    assert!(e.to_string().contains(&label(2)), "{e}");

    // New connections: host2 stopped (refused), host3 hung (no banner): bounded, named.
    bed.ctl("stop", "host2");
    let fresh = bed
        .builder()
        .connect_timeout(Duration::from_secs(1))
        .connect_retries(2, Duration::from_secs(4))
        .build();
    let t0 = Instant::now();
    let targets: Vec<_> = (0..3).map(|i| bed.target(i, None)).collect();
    let (r1, r2, r3) = tokio::join!(
        fresh.connect_host(&targets[0]),
        fresh.connect_host(&targets[1]),
        fresh.connect_host(&targets[2]),
    );
    let took = t0.elapsed();
    assert_eq!(ok(&r1.unwrap(), "hostname").await, "host1\n");
    let e2 = r2.unwrap_err();
    assert!(matches!(e2, SshError::Connect { .. }), "{e2}");
    assert!(e2.to_string().contains(&label(1)), "{e2}");
    assert!(e2.to_string().to_lowercase().contains("refused"), "{e2}");
    let e3 = r3.unwrap_err();
    assert!(matches!(e3, SshError::Timeout { .. }), "{e3}");
    let m3 = e3.to_string();
    assert!(m3.contains(&label(2)) && m3.contains("timed out"), "{m3}");
    // Two attempts of 1 s plus one pause: bounded.
    assert!(took < Duration::from_secs(6), "{took:?}");

    // Back to life: host2 restarted (same key), host3 resumed.
    bed.ctl("start", "host2");
    bed.ctl("resume", "host3");
    let t = fresh.connect_host(&bed.target(1, None)).await.unwrap();
    assert_eq!(ok(&t, "hostname").await, "host2\n");
    // The first connector's host2 connection was cut by the stop: it reconnects on use.
    assert_eq!(ok(&hosts[1], "hostname").await, "host2\n");
    assert_eq!(ok(&hosts[2], "hostname").await, "host3\n");
}

#[tokio::test]
async fn orchestration_reports_an_unreachable_host_and_runs_the_others() {
    use std::sync::Arc;

    use hoist_core::{Model, Role, Task};
    use hoist_orchestrator::{Orchestration, Readiness, TaskOutcome};

    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Ns {
        a: Role,
        b: Role,
    }

    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Cfg {
        on_a: Task,
        on_b: Task,
    }

    let Some(bed) = Testbed::up(2) else { return };
    let role = |i: usize| Role::on(bed.hosts[i].address.as_str()).port(bed.hosts[i].port);
    let r = Ns::refs();
    bed.ctl("hang", "host2");
    let ssh = bed
        .builder()
        .connect_timeout(Duration::from_secs(1))
        .connect_retries(1, Duration::from_secs(1))
        .build();
    let orch = Orchestration::builder("faults")
        .state_in_memory()
        .namespace(
            "ns",
            Ns {
                a: role(0),
                b: role(1),
            },
        )
        .config(
            "cfg",
            Cfg {
                on_a: Task::shell("echo a > /root/ran").role(r.a),
                on_b: Task::shell("echo b > /root/ran").role(r.b),
            },
        )
        .connector(Arc::new(ssh.clone()))
        .readiness(Readiness {
            attempts: 2,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(3),
            ..Readiness::default()
        })
        .keep_going()
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert!(!report.success, "{report}");
    assert_eq!(
        report.task("cfg/on_a").unwrap().outcome,
        TaskOutcome::Changed,
        "{report}"
    );
    let b = report.task("cfg/on_b").unwrap();
    assert_eq!(b.outcome, TaskOutcome::Failed, "{report}");
    let err = b.error.as_deref().unwrap();
    let label = format!("{}:{}", bed.hosts[1].address, bed.hosts[1].port);
    assert!(err.contains(&label) && err.contains("timed out"), "{err}");
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&t, "cat /root/ran").await, "a\n");
    bed.ctl("resume", "host2");
}

/// A host that hangs in the middle of a run: its running task times out and is reported with
/// the host and the task; with keep-going the other hosts finish their work, with fail-fast
/// the run stops scheduling (work in flight finishes, the rest is reported as not run).
async fn hang_mid_run(keep_going: bool) {
    use std::sync::Arc;

    use hoist_core::{Deps, Model, Multi, MultiTask, Role, Task};
    use hoist_orchestrator::{EventKind, Orchestration, Readiness, TaskOutcome};

    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Ns {
        host: Multi<Role>,
    }

    /// Per host: a quick task; one with a 3 s limit that host2 hangs in (the others finish it
    /// in 1 s); a 4 s one, in flight on the others when host2's fails (at about 3 s); a last
    /// one, which starts after the failure.
    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Chain {
        first: Task,
        slow: Task,
        mid: Task,
        last: Task,
        deps: Deps,
    }

    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Cfg {
        chains: MultiTask<Chain>,
    }

    let Some(bed) = Testbed::up(3) else { return };
    let hosts = bed.hosts.clone();
    let ns = Ns {
        host: Multi::from_fn(move |k| {
            let h = &hosts[k.as_str().parse::<usize>().unwrap_or(0)];
            Role::on(h.address.as_str()).port(h.port)
        })
        .keys(0..3),
    };
    let chain = |role: hoist_core::Ref<Role>| {
        let s = Chain::siblings();
        Chain {
            first: Task::shell("hostname").role(role.clone()),
            slow: Task::shell("sleep 1")
                .timeout(Duration::from_secs(3))
                .role(role.clone()),
            mid: Task::shell("sleep 4").role(role.clone()),
            last: Task::shell("echo done > /root/done").role(role),
            deps: Deps::new([s.first | s.slow | s.mid | s.last]),
        }
    };
    let cfg = Cfg {
        chains: MultiTask::new(chain, Ns::refs().host.all()),
    };
    let hang_once = Arc::new(std::sync::Once::new());
    let once = hang_once.clone();
    // The test bed's own fault control, run from the event thread.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testbed");
    let dir = bed.dir.clone();
    let mut b = Orchestration::builder("hang")
        .state_in_memory()
        .namespace("ns", ns)
        .config("cfg", cfg)
        .connector(Arc::new(
            bed.builder()
                .connect_timeout(Duration::from_secs(2))
                .build(),
        ))
        .readiness(Readiness {
            attempts: 2,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(3),
            ..Readiness::default()
        })
        // Events are delivered on their own thread: hanging the host there is fine.
        .subscribe(move |e: &hoist_orchestrator::Event| {
            if let EventKind::TaskStarting { key, .. } = &e.kind
                && key == "cfg/chains[host[1]].slow"
            {
                once.call_once(|| {
                    let st = std::process::Command::new(&script)
                        .arg("hang")
                        .arg(&dir)
                        .arg("host2")
                        .status();
                    assert!(st.is_ok_and(|s| s.success()), "testbed hang failed");
                });
            }
        });
    b = if keep_going {
        b.keep_going()
    } else {
        b.fail_fast()
    };
    let report = b.build().unwrap().initiate_system().await.unwrap();
    assert!(!report.success, "{report}");
    assert!(
        hang_once.is_completed(),
        "the hang was never injected\n{report}"
    );

    let failed = report.task("cfg/chains[host[1]].slow").unwrap();
    assert_eq!(failed.outcome, TaskOutcome::Failed, "{report}");
    let label = format!("{}:{}", bed.hosts[1].address, bed.hosts[1].port);
    let err = failed.error.as_deref().unwrap_or_default();
    assert!(failed.host.contains(&bed.hosts[1].address), "{report}");
    assert!(err.contains(&label) || err.contains("timed out"), "{err}");
    for stage in ["mid", "last"] {
        let t = report
            .task(&format!("cfg/chains[host[1]].{stage}"))
            .unwrap();
        assert_eq!(t.outcome, TaskOutcome::NotRun, "{report}");
    }
    for other in ["host[0]", "host[2]"] {
        // Started before the failure: finished either way.
        for stage in ["slow", "mid"] {
            let t = report
                .task(&format!("cfg/chains[{other}].{stage}"))
                .unwrap();
            assert_eq!(t.outcome, TaskOutcome::Changed, "{report}");
        }
        let last = report.task(&format!("cfg/chains[{other}].last")).unwrap();
        let want = if keep_going {
            TaskOutcome::Changed
        } else {
            TaskOutcome::NotRun
        };
        assert_eq!(last.outcome, want, "{report}");
    }
    bed.ctl("resume", "host2");
}

#[tokio::test]
async fn a_host_hanging_mid_run_with_keep_going_lets_the_others_finish() {
    hang_mid_run(true).await;
}

#[tokio::test]
async fn a_host_hanging_mid_run_with_fail_fast_stops_the_run() {
    hang_mid_run(false).await;
}
