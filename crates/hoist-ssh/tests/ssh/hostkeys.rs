//! Host key policy against real hosts: verified by default, a changed key aborts, an unknown
//! host fails unless trusted on first use (then it is recorded).

use hoist_exec::Connector as _;
use hoist_ssh::SshError;
use hoist_ssh::known_hosts::{fingerprint, hash_host_name, host_key_name};
use russh::keys::PublicKey;

use crate::ok;
use crate::testbed::Testbed;

/// The key recorded for host `i` in the bed's known_hosts.
fn recorded_key(bed: &Testbed, i: usize) -> PublicKey {
    let h = &bed.hosts[i];
    let name = host_key_name(&h.address, h.port);
    let text = std::fs::read_to_string(bed.known_hosts()).unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .unwrap();
    let mut f = line.split_whitespace().skip(1);
    PublicKey::from_openssh(&format!("{} {}", f.next().unwrap(), f.next().unwrap())).unwrap()
}

#[tokio::test]
async fn a_changed_host_key_aborts_naming_host_and_fingerprints() {
    let Some(bed) = Testbed::up(2) else { return };
    let real = recorded_key(&bed, 0);
    let other = recorded_key(&bed, 1);
    // A copy of known_hosts where host1 is recorded with host2's key.
    let dir = tempfile::TempDir::new().unwrap();
    let kh = dir.path().join("known_hosts");
    let h1 = host_key_name(&bed.hosts[0].address, bed.hosts[0].port);
    let text = std::fs::read_to_string(bed.known_hosts()).unwrap();
    let wrong: String = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{h1} ")) {
                format!("{h1} {}\n", other.to_openssh().unwrap())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&kh, &wrong).unwrap();

    for tofu in [false, true] {
        let ssh = bed
            .builder()
            .known_hosts(&kh)
            .trust_on_first_use(tofu)
            .build();
        let err = ssh.connect_host(&bed.target(0, None)).await.unwrap_err();
        assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err}");
        let msg = err.to_string();
        let label = format!("{}:{}", bed.hosts[0].address, bed.hosts[0].port);
        assert!(msg.contains(&label), "{msg}");
        assert!(msg.contains(&fingerprint(&real)), "the offered key: {msg}");
        assert!(
            msg.contains(&fingerprint(&other)),
            "the recorded key: {msg}"
        );
        assert!(msg.contains("CHANGED"), "{msg}");
        // Nothing was connected, nothing rewritten, and the connector error names the host.
        assert_eq!(ssh.connections_opened(), 0);
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), wrong);
        let e = ssh.connect(&bed.target(0, None)).await.err().unwrap();
        assert!(e.message.contains(&label), "{e}");
        assert_eq!(e.failure, hoist_exec::ConnectFailure::HostKey);
        // host2 is still fine.
        let t2 = ssh.connect_host(&bed.target(1, None)).await.unwrap();
        assert_eq!(ok(&t2, "hostname").await, "host2\n");
    }
}

#[tokio::test]
async fn unknown_hosts_fail_without_tofu_and_are_recorded_with_it() {
    let Some(bed) = Testbed::up(2) else { return };
    let dir = tempfile::TempDir::new().unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "# empty\n").unwrap();
    let label = format!("{}:{}", bed.hosts[0].address, bed.hosts[0].port);
    let real = recorded_key(&bed, 0);

    let strict = bed.builder().known_hosts(&kh).build();
    let err = strict.connect_host(&bed.target(0, None)).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains(&label) && msg.contains(&fingerprint(&real)),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "# empty\n");

    // Trust on first use: recorded as `[address]:port`, then verified like any known host.
    let tofu = bed
        .builder()
        .known_hosts(&kh)
        .trust_on_first_use(true)
        .build();
    let t = tofu.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&t, "hostname").await, "host1\n");
    let text = std::fs::read_to_string(&kh).unwrap();
    let name = host_key_name(&bed.hosts[0].address, bed.hosts[0].port);
    assert_eq!(text.matches(&name).count(), 1, "{text}");
    assert!(text.contains(&format!("{name} ssh-ed25519 ")), "{text}");
    let strict = bed.builder().known_hosts(&kh).build();
    strict.connect_host(&bed.target(0, None)).await.unwrap();
    assert!(strict.connect_host(&bed.target(1, None)).await.is_err());

    // A missing known_hosts file: unknown without TOFU (no file created), created with it.
    let missing = dir.path().join("sub/none");
    let e = bed
        .builder()
        .known_hosts(&missing)
        .build()
        .connect_host(&bed.target(1, None))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::HostKeyUnknown { .. }), "{e}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn hashed_known_hosts_entries_are_understood() {
    let Some(bed) = Testbed::up(1) else { return };
    let dir = tempfile::TempDir::new().unwrap();
    let kh = dir.path().join("known_hosts");
    let h = &bed.hosts[0];
    let key = recorded_key(&bed, 0);
    std::fs::write(
        &kh,
        format!(
            "{} {}\n",
            hash_host_name(&host_key_name(&h.address, h.port), b"some-twenty-bytes!!!"),
            key.to_openssh().unwrap()
        ),
    )
    .unwrap();
    let ssh = bed.builder().known_hosts(&kh).build();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&t, "hostname").await, "host1\n");

    // And one hashed by OpenSSH itself.
    let kh2 = dir.path().join("known_hosts2");
    std::fs::copy(bed.known_hosts(), &kh2).unwrap();
    let status = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&kh2)
        .output()
        .unwrap();
    assert!(status.status.success());
    let text = std::fs::read_to_string(&kh2).unwrap();
    assert!(text.starts_with("|1|"), "{text}");
    let ssh = bed.builder().known_hosts(&kh2).build();
    ssh.connect_host(&bed.target(0, None)).await.unwrap();
}

/// Readiness stops at the first attempt on a changed host key, and on a refused login to a
/// host that already existed (a fixed host), instead of trying 20 times as for a host that is
/// still booting.
#[tokio::test]
async fn readiness_stops_at_once_on_a_changed_key_or_a_refused_login() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use hoist_core::{Model, Role, Task};
    use hoist_orchestrator::{Orchestration, Readiness, TaskOutcome};

    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Ns {
        a: Role,
    }
    #[derive(Model)]
    #[hoist(crate = "hoist_core")]
    struct Cfg {
        hello: Task,
    }

    let Some(bed) = Testbed::up(2) else { return };
    let dir = tempfile::TempDir::new().unwrap();
    // host1 recorded with host2's key.
    let kh = dir.path().join("known_hosts");
    let h1 = host_key_name(&bed.hosts[0].address, bed.hosts[0].port);
    let other = recorded_key(&bed, 1).to_openssh().unwrap();
    let text = std::fs::read_to_string(bed.known_hosts()).unwrap();
    let wrong: String = text
        .lines()
        .map(|l| match l.starts_with(&format!("{h1} ")) {
            true => format!("{h1} {other}\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&kh, wrong).unwrap();
    // A key no host accepts.
    let stranger = dir.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());

    for (ssh, why) in [
        (bed.builder().known_hosts(&kh).build(), "CHANGED"),
        (
            hoist_ssh::SshConnector::builder()
                .known_hosts(bed.known_hosts())
                .identity(&stranger, None)
                .default_user("root")
                .agent(false)
                .build(),
            "authentication failed",
        ),
    ] {
        let orch = Orchestration::builder("ready")
            .state_in_memory()
            .namespace(
                "ns",
                Ns {
                    a: Role::on(bed.hosts[0].address.as_str()).port(bed.hosts[0].port),
                },
            )
            .config(
                "cfg",
                Cfg {
                    hello: Task::shell("echo hi").role(Ns::refs().a),
                },
            )
            .connector(Arc::new(ssh))
            .readiness(Readiness {
                attempts: 20,
                interval: Duration::from_millis(500),
                ..Readiness::default()
            })
            .build()
            .unwrap();
        let t0 = Instant::now();
        let report = orch.initiate_system().await.unwrap();
        let took = t0.elapsed();
        let t = report.task("cfg/hello").unwrap();
        assert_eq!(t.outcome, TaskOutcome::Failed, "{report}");
        let err = t.error.as_deref().unwrap_or_default();
        assert!(
            err.contains("after 1 attempt") && err.contains(why),
            "one attempt: {err}"
        );
        assert!(took < Duration::from_secs(5), "no retries: {took:?}");
    }
}
