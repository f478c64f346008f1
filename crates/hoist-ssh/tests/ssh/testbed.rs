//! The test bed: real OpenSSH hosts started by `scripts/testbed` in a temporary directory,
//! brought down on drop. Tests that use one are serialised, across threads and processes (an
//! exclusive lock on a file: nextest runs each test in its own process): each gets its own
//! test bed, on its own port, but the machine is small and the hosts share the test user.
//!
//! Under `CI=true` a test bed that cannot start fails the test; elsewhere a test is skipped,
//! with a printed reason, only if `sshd` is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hoist_core::Credentials;
use hoist_exec::HostTarget;
use hoist_ssh::{SshConnector, SshConnectorBuilder};

static SERIAL: Mutex<()> = Mutex::new(());

/// One host of the bed (a line of `hosts.tsv`).
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub port: u16,
}

/// A running test bed; `down` on drop, then the lock is released.
pub struct Testbed {
    pub dir: PathBuf,
    pub hosts: Vec<Host>,
    _tmp: tempfile::TempDir,
    // Dropped last (fields drop in order, after `Drop::drop`).
    _serial: MutexGuard<'static, ()>,
    _machine: std::fs::File,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testbed")
}

fn sshd_installed() -> bool {
    Path::new("/usr/sbin/sshd").exists()
        || Command::new("sh")
            .args(["-c", "command -v sshd"])
            .output()
            .is_ok_and(|o| o.status.success())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Testbed {
    /// Starts `n` hosts, or `None` (skip) when sshd is missing outside CI.
    pub fn up(n: usize) -> Option<Testbed> {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let machine = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("hoist-ssh-testbed.lock"))
            .expect("the test bed lock file");
        machine.lock().expect("locking the test bed lock file");
        if !sshd_installed() && !ci() {
            eprintln!("SKIPPED: sshd is not installed (apt-get install -y openssh-server)");
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("hoist-ssh-bed-")
            .tempdir()
            .expect("a temporary directory");
        // The test user's sshd child reads the bed's authorized_keys.
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let dir = tmp.path().join("bed");
        let mut last = String::new();
        for attempt in 0..8u32 {
            let port = 20000 + (std::process::id().wrapping_mul(7) + attempt * 977) % 20000;
            let out = Command::new(script())
                .arg("up")
                .arg("--port")
                .arg(port.to_string())
                .arg(n.to_string())
                .arg(&dir)
                .output()
                .expect("cannot run scripts/testbed");
            if out.status.success() {
                let hosts = read_hosts(&dir);
                assert_eq!(hosts.len(), n);
                for h in &hosts {
                    // The network rule: loopback only.
                    assert!(h.address.starts_with("127."), "{h:?}");
                }
                return Some(Testbed {
                    dir,
                    hosts,
                    _tmp: tmp,
                    _serial: serial,
                    _machine: machine,
                });
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last.contains("in use") {
                break;
            }
        }
        panic!("scripts/testbed up {n} failed (CI={}): {last}", ci());
    }

    /// Runs `scripts/testbed ACTION DIR HOST` (stop, start, hang, resume).
    pub fn ctl(&self, action: &str, host: &str) {
        let out = Command::new(script())
            .args([action])
            .arg(&self.dir)
            .arg(host)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "testbed {action} {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    /// The sudo password of the test user.
    pub fn sudo_password(&self) -> String {
        std::fs::read_to_string(self.dir.join("sudo_password"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// A connector builder for this bed: its known_hosts and key, user root, no agent, short
    /// timeouts.
    pub fn builder(&self) -> SshConnectorBuilder {
        SshConnector::builder()
            .known_hosts(self.known_hosts())
            .identity(self.key(), None)
            .default_user("root")
            .agent(false)
            .connect_timeout(Duration::from_secs(5))
            .connect_retries(2, Duration::from_secs(5))
    }

    pub fn connector(&self) -> SshConnector {
        self.builder().build()
    }

    /// Host `i` (0-based) as a connection target, as user `user` (`None`: the default).
    pub fn target(&self, i: usize, user: Option<&str>) -> HostTarget {
        let h = &self.hosts[i];
        HostTarget {
            address: h.address.clone(),
            port: Some(h.port),
            creds: Credentials {
                user: user.map(str::to_string),
                ..Credentials::default()
            },
            jump: None,
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let out = Command::new(script()).arg("down").arg(&self.dir).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "testbed down {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("testbed down {}: {e}", self.dir.display()),
        }
    }
}

fn read_hosts(dir: &Path) -> Vec<Host> {
    std::fs::read_to_string(dir.join("hosts.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Host {
                name: f[0].to_string(),
                address: f[1].to_string(),
                port: f[2].parse().unwrap(),
            }
        })
        .collect()
}
