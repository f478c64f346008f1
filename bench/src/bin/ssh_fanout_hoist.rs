//! SSH fan-out, hoist: a config-only `Orchestration` against N fixed hosts of the test bed.
//!
//! ```text
//! scripts/testbed up --port 2400 50 /tmp/tb
//! cargo run --release -p hoist-bench --bin ssh_fanout_hoist -- \
//!     --testbed /tmp/tb --hosts 50 --payload /tmp/payload.bin --dest /tmp/payload.bin
//! ```
//!
//! The namespace is the test bed's Ansible inventory (`Inventory::namespace`: one fixed-host
//! role per host, with its address, port, user and key). The config model is a `MultiTask`
//! over the first N of those roles of a struct of 10 command tasks (`echo 0` … `echo 9`) and
//! one copy of the 1 MB payload, chained with `Deps` so each host runs them one after the
//! other, like Ansible, pyinfra and the floor do. Host keys are verified against the test
//! bed's `known_hosts`. The state store is the default (in memory), so every run does all the
//! work. Prints a `RESULT` line (see `hoist_bench::fanout`); exits 1 if anything failed.

use std::process::ExitCode;
use std::sync::Arc;

use hoist::inventory::{Inventory, InventoryNamespace};
use hoist::ssh::SshConnector;
use hoist::{Deps, Model, MultiTask, Orchestration, Ref, Role, Task, TaskOutcome};
use hoist_bench::fanout::{self, Args, Stopwatch};

const USAGE: &str = "usage: ssh_fanout_hoist --testbed DIR --hosts N --payload FILE --dest PATH \
                     [--concurrency N (default 50)]";

/// The work on one host: 10 commands, then the upload, in this order.
#[derive(Model)]
struct HostWork {
    c0: Task,
    c1: Task,
    c2: Task,
    c3: Task,
    c4: Task,
    c5: Task,
    c6: Task,
    c7: Task,
    c8: Task,
    c9: Task,
    upload: Task,
    deps: Deps,
}

fn host_work(role: Ref<Role>, payload: &std::path::Path, dest: &str) -> HostWork {
    let cmd = |i: usize| Task::command(&fanout::command(i)).role(role.clone());
    let s = HostWork::siblings();
    HostWork {
        c0: cmd(0),
        c1: cmd(1),
        c2: cmd(2),
        c3: cmd(3),
        c4: cmd(4),
        c5: cmd(5),
        c6: cmd(6),
        c7: cmd(7),
        c8: cmd(8),
        c9: cmd(9),
        upload: Task::copy(payload, dest).role(role.clone()),
        deps: Deps::new([s.c0
            | s.c1
            | s.c2
            | s.c3
            | s.c4
            | s.c5
            | s.c6
            | s.c7
            | s.c8
            | s.c9
            | s.upload]),
    }
}

#[derive(Model)]
struct Cfg {
    work: MultiTask<HostWork>,
}

async fn run(args: Args) -> Result<(), String> {
    let hosts = fanout::testbed_hosts(&args.testbed, args.hosts)?;
    let payload = std::path::absolute(&args.payload)
        .map_err(|e| format!("{}: {e}", args.payload.display()))?;
    let watch = Stopwatch::start();

    let inv = Inventory::load(args.testbed.join("inventory.ini")).map_err(|e| e.to_string())?;
    // The roles of the first N hosts; each must be the test bed's loopback address.
    let refs = InventoryNamespace::refs();
    let mut roles = Vec::new();
    for h in &hosts {
        let r = inv
            .resolve(&h.name)
            .ok_or_else(|| format!("{} is not in the inventory", h.name))?;
        if r.address != h.address || r.port != Some(h.port) {
            return Err(format!(
                "{}: the inventory says {}:{:?}, hosts.tsv {}:{}",
                h.name, r.address, r.port, h.address, h.port
            ));
        }
        roles.push(refs.hosts.at(h.name.as_str()));
    }
    let dest = args.dest.clone();
    let cfg = Cfg {
        work: MultiTask::new(move |role| host_work(role, &payload, &dest), roles),
    };
    let ssh = SshConnector::builder()
        .known_hosts(args.testbed.join("known_hosts"))
        .identity(args.testbed.join("id_ed25519"), None)
        .agent(false)
        .build();
    let orch = Orchestration::builder("ssh-fanout")
        .namespace("inv", inv.namespace())
        .config("cfg", cfg)
        .connector(Arc::new(ssh.clone()))
        .concurrency(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let report = orch.initiate_system().await.map_err(|e| e.to_string())?;
    if !report.success {
        return Err(format!("the run failed:\n{report}"));
    }
    let changed = report
        .tasks
        .iter()
        .filter(|t| t.outcome == TaskOutcome::Changed)
        .count();
    let want = hosts.len() * (fanout::COMMANDS + 1);
    if changed != want {
        return Err(format!("{changed} tasks changed, {want} expected:\n{report}"));
    }
    watch.report("hoist", hosts.len(), ssh.connections_opened());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(USAGE) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh_fanout_hoist: {e}");
            ExitCode::FAILURE
        }
    }
}
