//! A no-change re-run at scale: the bar (issue 11) "a no-change re-run of the 10,000-resource
//! model on the simulated cloud (no latency) under 2 s, with zero mutating provider calls and
//! no readiness check of unchanged hosts".
//!
//! ```text
//! cargo build --release -p hoist-bench --bin rerun_scale
//! target/release/rerun_scale --iterations 5
//! ```
//!
//! Records the state a run of the planning-at-scale model would have left (resources created,
//! tasks succeeded; `hoist_bench::scale::record`, in a child process), then runs
//! `initiate_system` once untimed (it records the identities and task fingerprints an older
//! state lacks), then times the re-runs as a program calls them: lock, plan, load the state,
//! diff, provisioning (nothing to do), the task plan (every task fingerprinted, none to run),
//! the run's records. Each must report nothing to do, make no mutating call (create, update
//! or delete) on the simulated cloud and check no host's readiness. Prints a Markdown table;
//! exits 1 if a bar is missed.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hoist::sim::SimCloud;
use hoist::{Event, EventKind};
use hoist_bench::scale::{ROLES, TASKS_PER_ROLE, builder};

/// The time bar for one re-run.
const TIME_BAR: Duration = Duration::from_secs(2);

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn run(iterations: usize) -> Result<bool, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = hoist_bench::scale::record_in_child(dir.path())?;
    let cloud = SimCloud::new();
    let ready_checks = Arc::new(AtomicU64::new(0));
    let counter = ready_checks.clone();
    let build = || -> Result<hoist::Orchestration, String> {
        let counter = counter.clone();
        builder(store.clone(), cloud.clone())
            .subscribe(move |e: &Event| {
                if matches!(e.kind, EventKind::HostReady { .. }) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .map_err(|e| e.to_string())
    };
    let first = build()?
        .initiate_system()
        .await
        .map_err(|e| e.to_string())?;
    if !first.success {
        return Err(format!("the untimed first re-run failed:\n{first}"));
    }
    let mut times = Vec::new();
    let mut mutating = 0;
    for i in 0..iterations {
        cloud.reset_stats();
        ready_checks.store(0, Ordering::Relaxed);
        let orch = build()?;
        let t0 = Instant::now();
        let report = orch.initiate_system().await.map_err(|e| e.to_string())?;
        let took = t0.elapsed();
        let calls = cloud.calls();
        let m = calls.total_creates() + calls.total_deletes() + calls.total_updates();
        mutating += m;
        if !report.nothing_to_do {
            return Err(format!("re-run {} had something to do:\n{report}", i + 1));
        }
        let checks = ready_checks.load(Ordering::Relaxed);
        eprintln!(
            "re-run {}/{iterations}: {} ({m} mutating calls, {checks} readiness checks)",
            i + 1,
            ms(took)
        );
        if checks > 0 {
            return Err(format!("re-run {} checked {checks} hosts", i + 1));
        }
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    let (time_ok, calls_ok) = (median < TIME_BAR, mutating == 0);
    let mark = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "{} tasks on {ROLES} hosts, every one done; {iterations} re-runs, median.",
        ROLES * TASKS_PER_ROLE
    );
    println!();
    println!("| measure | value | bar | |");
    println!("|---|---|---|---|");
    println!(
        "| `initiate_system`, nothing changed | {} (min {}, max {}) | < 2 s | {} |",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        mark(time_ok)
    );
    println!(
        "| mutating provider calls (all re-runs) | {mutating} | 0 | {} |",
        mark(calls_ok)
    );
    println!("| readiness checks (all re-runs) | 0 | 0 | ok |");
    Ok(time_ok && calls_ok)
}

fn main() -> ExitCode {
    hoist_bench::scale::main("rerun_scale", run)
}
