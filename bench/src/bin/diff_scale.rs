//! The diff at scale: the quality bar "the diff of the 10,000-resource / 10,000-role /
//! 50,000-task model against a recorded state of the same system, state loading included,
//! takes under 1 s and under 300 MB".
//!
//! ```text
//! cargo run --release -p hoist-bench --bin diff_scale [-- --iterations N]
//! ```
//!
//! Records the state a run of the planning-at-scale model (`hoist_bench::scale`) would have
//! left, every resource created with its outputs and the spec it was made with, and every
//! task succeeded, in a SQLite file (`SqliteStore::save`, in a child process: not timed, and
//! not in the measured peak RSS). The diff fingerprints
//! all 50,000 tasks to say which would run. Then times `Orchestration::diff` as a program calls
//! it: plan the models, load the state from the file, compare (the models are built before
//! the clock starts, as in `plan_scale`). Every resource must come out unchanged. Peak RSS
//! from `/proc/self/status` (`VmHWM`). Prints a Markdown table; exits 1 if a bar is missed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hoist::DiffAction;
use hoist::sim::SimCloud;
use hoist_bench::scale::orchestration;

/// The time bar for the diff, state loading included.
const TIME_BAR: Duration = Duration::from_secs(1);
/// The memory bar: 300 MB (decimal), in KiB.
const RSS_BAR_KIB: u64 = 300_000_000 / 1024;

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

async fn run(iterations: usize) -> Result<bool, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = hoist_bench::scale::record_in_child(dir.path())?;
    let n = store
        .load("bench")
        .await
        .map_err(|e| e.to_string())?
        .map_or(0, |s| s.resources.len());
    let mut times = Vec::new();
    let mut parts = Vec::new();
    let mut peak = 0;
    for i in 0..iterations {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let orch = orchestration(store.clone(), SimCloud::new())?;
        let t0 = Instant::now();
        let diff = orch.diff().await.map_err(|e| e.to_string())?;
        let took = t0.elapsed();
        let unchanged = diff
            .counts()
            .get(&DiffAction::Unchanged)
            .copied()
            .unwrap_or(0);
        if unchanged != n || diff.has_changes() {
            return Err(format!("expected {n} unchanged resources:\n{diff}"));
        }
        let rss = status_kib("VmHWM:").unwrap_or(0);
        peak = peak.max(rss);
        // Where the time goes: planning, and loading the state, alone (once the diff's plan
        // and state, freed in the background, are gone).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t1 = Instant::now();
        drop(orch.plan().map_err(|e| e.to_string())?);
        let plan_t = t1.elapsed();
        let t2 = Instant::now();
        drop(orch.state().await.map_err(|e| e.to_string())?);
        let load_t = t2.elapsed();
        eprintln!(
            "iteration {}/{iterations}: diff {} (plan alone {}, state load alone {}), peak RSS {}",
            i + 1,
            ms(took),
            ms(plan_t),
            ms(load_t),
            mb(rss)
        );
        times.push(took);
        parts.push((plan_t, load_t));
    }
    times.sort();
    let median = times[times.len() / 2];
    let (time_ok, rss_ok) = (median < TIME_BAR, peak < RSS_BAR_KIB);
    let mark = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!("Recorded state: {n} resources in SQLite; {iterations} iterations, median.");
    println!();
    println!("| measure | value | bar | |");
    println!("|---|---|---|---|");
    println!(
        "| `Orchestration::diff` (plan + load state + compare) | {} (min {}, max {}) | < 1 s | {} |",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        mark(time_ok)
    );
    parts.sort();
    let (plan_t, load_t) = parts[parts.len() / 2];
    println!("| of which: `plan()` alone | {} | | |", ms(plan_t));
    println!(
        "| of which: loading the state alone (SQLite) | {} | | |",
        ms(load_t)
    );
    println!("| peak RSS | {} | < 300 MB | {} |", mb(peak), mark(rss_ok));
    Ok(time_ok && rss_ok)
}

fn main() -> ExitCode {
    hoist_bench::scale::main("diff_scale", run)
}
