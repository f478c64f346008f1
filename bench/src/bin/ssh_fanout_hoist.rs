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
//! over the first N of those roles of a struct of 10 command tasks (`/bin/echo 0` …
//! `/bin/echo 9`) and one copy of the 1 MB payload, chained with `Deps` so each host runs them
//! one after the other, like Ansible, pyinfra and the floor do. Everything else is hoist's
//! default (readiness check: connect and ping each host first; SSH: at most 32 handshakes at
//! once, 8 channels per connection) except the concurrency, 50 tasks in flight like Ansible's
//! 50 forks. Host keys are verified against the test bed's `known_hosts`. The state store is
//! the default (in memory), so every run does all the work. Prints a `RESULT` line (see
//! `hoist_bench::fanout`); exits 1 if anything failed.
//!
//! Two flags help find where the time goes:
//! - `--timeline`: prints (to stderr) when the readiness and configuration phases ended and
//!   the median duration of the command tasks and of the upload, from the run's events;
//! - `--transport-only`: the same work through `hoist::ssh` alone (`SshConnector` and
//!   `Transport::exec` / `put_file`, one task per host), without the orchestrator. Its result
//!   line says `tool=hoist-transport`.
//!
//! With `--rerun`, the same orchestration then initiates again, nothing having changed, and
//! prints a `RERUN` line: the time of that run, and the connections and readiness checks it
//! made (both must be 0: every task's fingerprint matches, no host is touched).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hoist::exec::{ExecRequest, HostTarget, Transport as _};
use hoist::inventory::{Inventory, InventoryNamespace};
use hoist::ssh::SshConnector;
use hoist::{
    Deps, Event, EventKind, Model, MultiTask, Orchestration, Phase, Ref, Role, Task, TaskOutcome,
};
use hoist_bench::fanout::{self, Args, Stopwatch};

const USAGE: &str = "usage: ssh_fanout_hoist --testbed DIR --hosts N --payload FILE --dest PATH \
                     [--concurrency N (default 50)] [--timeline] [--transport-only] [--rerun]";
const FLAGS: &[&str] = &["--timeline", "--transport-only", "--rerun"];

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
    let ssh = connector(&args);
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let mut builder = Orchestration::builder("ssh-fanout")
        .state_in_memory()
        .namespace("inv", inv.namespace())
        .config("cfg", cfg)
        .connector(Arc::new(ssh.clone()))
        .concurrency(args.concurrency);
    if args.flag("--timeline") || args.flag("--rerun") {
        let events = events.clone();
        builder = builder.subscribe(move |e: &Event| {
            events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(e.clone());
        });
    }
    let orch = builder.build().map_err(|e| e.to_string())?;
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
        return Err(format!(
            "{changed} tasks changed, {want} expected:\n{report}"
        ));
    }
    watch.report("hoist", hosts.len(), ssh.connections_opened());
    if args.flag("--rerun") {
        rerun(&orch, &ssh, &events, hosts.len()).await?;
    }
    if args.flag("--timeline") {
        timeline(
            &events
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
    Ok(())
}

/// Initiates again, nothing having changed: prints the time, the connections opened and the
/// readiness checks (from the events; `--timeline` records them).
async fn rerun(
    orch: &Orchestration,
    ssh: &SshConnector,
    events: &Mutex<Vec<Event>>,
    hosts: usize,
) -> Result<(), String> {
    let lock = || {
        events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    lock().clear();
    let connections = ssh.connections_opened();
    let t0 = std::time::Instant::now();
    let report = orch.initiate_system().await.map_err(|e| e.to_string())?;
    let took = t0.elapsed();
    if !report.nothing_to_do {
        return Err(format!("the re-run had something to do:\n{report}"));
    }
    let checks = lock()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::HostReady { .. }))
        .count();
    println!(
        "RERUN tool=hoist hosts={hosts} wall_ms={:.1} connections={} readiness_checks={checks}",
        took.as_secs_f64() * 1e3,
        ssh.connections_opened() - connections
    );
    Ok(())
}

fn connector(args: &Args) -> SshConnector {
    SshConnector::builder()
        .known_hosts(args.testbed.join("known_hosts"))
        .identity(args.testbed.join("id_ed25519"), None)
        .agent(false)
        .build()
}

/// Prints the phase ends and the median task durations of a run's events.
fn timeline(events: &[Event]) {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mut started = std::collections::HashMap::new();
    let (mut commands, mut uploads) = (Vec::new(), Vec::new());
    for e in events {
        match &e.kind {
            EventKind::PhaseFinished { phase, .. } => {
                let name = match phase {
                    Phase::Readiness => "readiness (connect + ping)",
                    Phase::Configuration => "configuration",
                    _ => continue,
                };
                eprintln!("timeline: {name} done at {}", ms(e.elapsed));
            }
            EventKind::TaskStarting { key, .. } => {
                started.insert(key.clone(), e.elapsed);
            }
            EventKind::TaskFinished { key, .. } => {
                if let Some(t0) = started.get(key) {
                    let d = e.elapsed.saturating_sub(*t0);
                    if key.ends_with("upload") {
                        uploads.push(d);
                    } else {
                        commands.push(d);
                    }
                }
            }
            _ => {}
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    eprintln!(
        "timeline: median command task {}, median upload task {} ({} and {} tasks)",
        ms(median(&mut commands)),
        ms(median(&mut uploads)),
        commands.len(),
        uploads.len()
    );
}

/// The same work through the SSH transport alone: no plan, no scheduler, no state.
async fn run_transport_only(args: Args) -> Result<(), String> {
    let hosts = fanout::testbed_hosts(&args.testbed, args.hosts)?;
    let payload = Arc::new(
        std::fs::read(&args.payload).map_err(|e| format!("{}: {e}", args.payload.display()))?,
    );
    let watch = Stopwatch::start();
    let ssh = connector(&args);
    let mut set = tokio::task::JoinSet::new();
    for h in &hosts {
        let ssh = ssh.clone();
        let target = HostTarget {
            address: h.address.clone(),
            port: Some(h.port),
            creds: hoist::Credentials {
                user: Some(h.user.clone()),
                ..Default::default()
            },
            jump: None,
        };
        let (payload, dest) = (payload.clone(), args.dest.clone());
        set.spawn(async move {
            let t0 = std::time::Instant::now();
            let t = ssh.connect_host(&target).await.map_err(|e| e.to_string())?;
            let t1 = t0.elapsed();
            for i in 0..fanout::COMMANDS {
                let line = fanout::command(i);
                let argv: Vec<&str> = line.split(' ').collect();
                let out = t
                    .exec(&ExecRequest::argv(argv))
                    .await
                    .map_err(|e| e.to_string())?;
                if !out.success() {
                    return Err(format!(
                        "{}: `{line}` {}",
                        target.address,
                        out.status_text()
                    ));
                }
            }
            let t2 = t0.elapsed();
            t.put_file(&dest, &payload, 0o644)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>([t1, t2 - t1, t0.elapsed() - t2])
        });
    }
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    while let Some(r) = set.join_next().await {
        let times = r.map_err(|e| e.to_string())??;
        for (v, t) in phases.iter_mut().zip(times) {
            v.push(t);
        }
    }
    watch.report("hoist-transport", hosts.len(), ssh.connections_opened());
    if args.flag("--timeline") {
        let [connect, commands, upload] = phases.map(|mut v| {
            v.sort();
            let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize].as_secs_f64() * 1000.0;
            format!("median {:.0} ms, max {:.0} ms", q(0.5), q(1.0))
        });
        eprintln!("timeline: per host: connect {connect}; 10 commands {commands}; upload {upload}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(USAGE, FLAGS) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = if args.flag("--transport-only") {
        run_transport_only(args).await
    } else {
        run(args).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh_fanout_hoist: {e}");
            ExitCode::FAILURE
        }
    }
}
