//! The quick start's configuration model, run against fixed hosts over SSH: a config-only run,
//! the usual way to develop a config model. No infra model, no cloud.
//!
//! The hosts come from an Ansible inventory (`hoist::inventory`); here, the one the project's
//! test bed writes. Either pass a running test bed's directory, or let the example start one
//! (five real `sshd` hosts on 127.0.1.1–5, which needs root and `openssh-server`):
//!
//! ```sh
//! scripts/testbed up 5 /tmp/tb && cargo run --example fixed_hosts -- /tmp/tb
//! cargo run --example fixed_hosts            # starts and stops its own test bed
//! ```
//!
//! Host keys are verified against the test bed's `known_hosts`; the example never connects
//! anywhere but the inventory's loopback addresses.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use hoist::inventory::Inventory;
use hoist::ssh::SshConnector;
use hoist::{Orchestration, Readiness};
use hoist_webapp::{WebConfig, WebNamespace, WebParams};

/// A test bed this example started, stopped on drop.
struct OwnTestbed(PathBuf);

impl Drop for OwnTestbed {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("down").arg(&self.0).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/testbed")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();

    let given = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("HOIST_TESTBED").ok());
    let (dir, _own) = match given {
        Some(d) => (PathBuf::from(d), None),
        None => {
            let dir =
                std::env::temp_dir().join(format!("hoist-fixed-hosts-{}", std::process::id()));
            println!("Starting a test bed of 5 sshd hosts in {}…", dir.display());
            let ok = Command::new(script())
                .args(["up", "5"])
                .arg(&dir)
                .status()?
                .success();
            if !ok {
                return Err("could not start the test bed (needs root and openssh-server)".into());
            }
            (dir.clone(), Some(OwnTestbed(dir)))
        }
    };

    // Hosts from the inventory: db on the first, apps on the middle ones, lb on the last.
    let inv = Inventory::load(dir.join("inventory.ini"))?;
    let names = inv.group_hosts("testbed");
    if names.len() < 3 {
        return Err(format!(
            "the inventory needs at least 3 hosts, it has {}",
            names.len()
        )
        .into());
    }
    let hosts: Vec<_> = names.iter().filter_map(|n| inv.resolve(n)).collect();
    let addrs: Vec<&str> = hosts.iter().map(|h| h.address.as_str()).collect();
    let (db, rest) = addrs.split_first().ok_or("no hosts")?;
    let (lb, apps) = rest.split_last().ok_or("no hosts")?;
    let conn = hosts[0].connection();

    let params = WebParams {
        apps: apps.len(),
        ..WebParams::default()
    };
    let ssh = SshConnector::builder()
        .known_hosts(dir.join("known_hosts"))
        .identity(dir.join("id_ed25519"), None)
        .build();
    let orch = Orchestration::builder("fixed-hosts")
        .namespace("ns", WebNamespace::on_hosts(&params, db, apps, lb, &conn))
        .config("cfg", WebConfig::new())
        .connector(Arc::new(ssh))
        .readiness(Readiness {
            attempts: 5,
            ..Readiness::default()
        })
        .build()?;

    println!("{}", orch.plan()?);
    let report = orch.initiate_system().await?;
    println!("{report}");
    if !report.success {
        return Err("the configuration failed (see the report above)".into());
    }
    let again = orch.initiate_system().await?;
    println!(
        "Running it again does nothing: nothing_to_do = {}",
        again.nothing_to_do
    );
    // The state (`.hoist/state.db`) records what ran where; tearing a configuration-only
    // system down forgets it, so the next run configures the hosts anew.
    let down = orch.teardown_system().await?;
    println!("{down}");
    Ok(())
}
