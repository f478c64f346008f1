//! Authentication (key types, passphrases, the agent, failures) and jump hosts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hoist_core::{Credentials, Secret};
use hoist_exec::{HostTarget, Transport as _};
use hoist_ssh::{SshConnector, SshError};

use crate::ok;
use crate::testbed::Testbed;

/// Generates a key pair with `ssh-keygen` and authorises it on the bed's hosts.
fn authorised_key(bed: &Testbed, dir: &Path, kind: &[&str], passphrase: &str) -> PathBuf {
    let path = dir.join(format!("id_{}", kind.join("_")));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", passphrase, "-C", "hoist-test", "-f"])
        .arg(&path)
        .arg("-t")
        .args(kind)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let keys = bed.dir.join("authorized_keys");
    let mut text = std::fs::read_to_string(&keys).unwrap();
    text.push_str(&public);
    std::fs::write(&keys, text).unwrap();
    path
}

/// A connector that knows only the given identity.
fn with_identity(bed: &Testbed, key: &Path, passphrase: Option<&str>) -> SshConnector {
    SshConnector::builder()
        .known_hosts(bed.known_hosts())
        .identity(key, passphrase.map(Secret::new))
        .default_user("root")
        .agent(false)
        .connect_timeout(Duration::from_secs(5))
        .build()
}

#[tokio::test]
async fn key_types_passphrases_and_failures() {
    let Some(bed) = Testbed::up(1) else { return };
    let dir = tempfile::TempDir::new().unwrap();
    let rsa = authorised_key(&bed, dir.path(), &["rsa", "-b", "2048"], "rsa pass phrase");
    let ecdsa = authorised_key(&bed, dir.path(), &["ecdsa", "-b", "256"], "");
    let ed = authorised_key(&bed, dir.path(), &["ed25519"], "ed-pass");

    for (key, pass) in [
        (&rsa, Some("rsa pass phrase")),
        (&ecdsa, None),
        (&ed, Some("ed-pass")),
    ] {
        let ssh = with_identity(&bed, key, pass);
        let t = ssh
            .connect_host(&bed.target(0, None))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(ok(&t, "id -un").await, "root\n");
    }

    // An encrypted key without (or with a wrong) passphrase: an error naming the key and host.
    let label = format!("{}:{}", bed.hosts[0].address, bed.hosts[0].port);
    let e = with_identity(&bed, &ed, None)
        .connect_host(&bed.target(0, None))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::Key { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("passphrase") && m.contains(&label) && m.contains("id_ed25519"),
        "{m}"
    );
    let e = with_identity(&bed, &rsa, Some("wrong"))
        .connect_host(&bed.target(0, None))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::Key { .. }), "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "never the passphrase: {e}"
    );

    // A key the host does not accept, and a password the host does not allow: named, not
    // retried.
    let stranger = dir.path().join("stranger");
    Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    let ssh = SshConnector::builder()
        .known_hosts(bed.known_hosts())
        .identity(&stranger, None)
        .password(Secret::new("not-a-password-1x9"))
        .agent(false)
        .build();
    let e = ssh
        .connect_host(&bed.target(0, Some("root")))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::Auth { .. }), "{e}");
    let m = e.to_string();
    assert!(m.contains(&format!("root@{label}")), "{m}");
    assert!(m.contains("stranger") && m.contains("password"), "{m}");
    assert!(!m.contains("not-a-password-1x9"), "{m}");
    assert!(!e.is_transient());

    // The target's key file overrides the connector's identities.
    let target = HostTarget {
        creds: Credentials {
            user: Some("hoisttest".into()),
            key_file: Some(ecdsa.clone()),
            ..Credentials::default()
        },
        ..bed.target(0, Some("hoisttest"))
    };
    let t = ssh.connect_host(&target).await.unwrap();
    assert_eq!(ok(&t, "id -un").await, "hoisttest\n");
}

/// An `ssh-agent` in the foreground, killed (by its process id) on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::TempDir::new().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }

    fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn ssh_agent_authentication() {
    let Some(bed) = Testbed::up(1) else { return };
    let dir = tempfile::TempDir::new().unwrap();
    let rsa = authorised_key(&bed, dir.path(), &["rsa", "-b", "2048"], "");
    let agent = Agent::start();
    agent.add(&bed.key());
    agent.add(&rsa);
    // No identity file at all: the agent's keys (an unrelated default key is not used).
    let ssh = SshConnector::builder()
        .known_hosts(bed.known_hosts())
        .default_user("root")
        .agent_socket(&agent.socket)
        .build();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&t, "id -un").await, "root\n");
}

#[tokio::test]
async fn jump_host_tunnels_the_target_connection() {
    let Some(bed) = Testbed::up(2) else { return };
    let ssh = bed.connector();
    let h1 = &bed.hosts[0];
    let target = HostTarget {
        jump: Some(format!("root@{}:{}", h1.address, h1.port)),
        ..bed.target(1, None)
    };
    let t = ssh.connect_host(&target).await.unwrap();
    assert_eq!(ok(&t, "hostname").await, "host2\n");
    // The connection to host2 comes from host1 (same loopback network, seen as a TCP peer).
    let peer = ok(&t, "echo $SSH_CONNECTION").await;
    assert!(peer.contains(&bed.hosts[1].address), "{peer}");
    t.put_file("through-jump", b"ok", 0o600).await.unwrap();
    assert_eq!(ok(&t, "cat through-jump").await, "ok");
    assert_eq!(ssh.connections_opened(), 2);
    // The jump connection is shared: a second target through it opens one more connection.
    let direct = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(ok(&direct, "hostname").await, "host1\n");
    assert_eq!(
        ssh.connections_opened(),
        2,
        "host1's connection is the jump connection"
    );

    // A jump host that does not answer is named.
    let bad = HostTarget {
        jump: Some(format!("{}:1", h1.address)),
        ..bed.target(1, None)
    };
    let fresh = bed
        .builder()
        .connect_retries(1, Duration::from_secs(1))
        .build();
    let e = fresh.connect_host(&bad).await.unwrap_err();
    assert!(matches!(e, SshError::Jump { .. }), "{e}");
    assert!(e.to_string().contains(&format!("{}:1", h1.address)), "{e}");
}

#[tokio::test]
async fn password_login_works_where_the_host_allows_it() {
    let Some(bed) = Testbed::up(1) else { return };
    // hoisttest may log in with its password (root may not: see the test above).
    let ssh = SshConnector::builder()
        .known_hosts(bed.known_hosts())
        .password(Secret::new(bed.sudo_password()))
        .agent(false)
        .build();
    let t = ssh
        .connect_host(&bed.target(0, Some("hoisttest")))
        .await
        .unwrap();
    assert_eq!(crate::ok(&t, "whoami").await, "hoisttest\n");
}
