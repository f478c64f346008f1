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
