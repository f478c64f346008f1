//! Planning at scale: the quality bar "planning a model of 10,000 resources, 10,000 roles and
//! 50,000 tasks takes under 1 s and under 300 MB", and `plan()` alone under 0.5 s (issue 10).
//!
//! ```text
//! cargo run --release -p hoist-bench --bin plan_scale [-- --iterations N]
//! ```
//!
//! Builds three models with `#[derive(Model)]`:
//! - an infra model: a network, a security group, subnets, a database server with a public IP,
//!   and a `Multi<Server>` whose children are made by the namespace (one per role);
//! - a namespace model: a `Multi<Role>` of 10,000 roles, each on `infra.app.mine()`, with
//!   variables at three scopes, one of them wired to the role's own server's output;
//! - a config model: a `MultiTask` fanning a five-task struct (with its own `Deps`) out over
//!   every role.
//!
//! Model construction and `hoist_core::plan` are timed separately over several iterations
//! (medians reported); peak RSS is read from `/proc/self/status` (`VmHWM`, reset before each
//! iteration through `/proc/self/clear_refs` where the kernel allows it). The table is printed
//! as Markdown; the process exits with status 1 if a bar is missed.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hoist_core::{PlanInput, plan};

/// The time bar for construction + plan.
const TIME_BAR: Duration = Duration::from_secs(1);
/// The time bar for `plan()` alone (issue 10: "back under 0.5 s").
const PLAN_BAR: Duration = Duration::from_millis(500);
/// The memory bar: 300 MB (decimal), in KiB.
const RSS_BAR_KIB: u64 = 300_000_000 / 1024;

use hoist_bench::scale::{Cfg, Infra, Ns, TASKS_PER_ROLE};

/// One iteration's measurements.
struct Sample {
    construct: Duration,
    plan: Duration,
    rss_kib: Option<u64>,
    counts: (usize, usize, usize),
    waves: (usize, usize),
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak RSS to the current RSS (Linux >= 4.0); false if the kernel refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn run_once() -> Result<Sample, String> {
    let t0 = Instant::now();
    let infra = Infra::new();
    let ns = Ns::new();
    let cfg = Cfg::new();
    let input = PlanInput::new("bench")
        .infra("infra", &infra)
        .namespace("ns", &ns)
        .config("cfg", &cfg);
    let construct = t0.elapsed();

    let t1 = Instant::now();
    let p = plan(&input).map_err(|e| format!("the benchmark model does not plan:\n{e}"))?;
    let plan_time = t1.elapsed();

    let rss_kib = status_kib("VmHWM:");
    let s = Sample {
        construct,
        plan: plan_time,
        rss_kib,
        counts: (p.resources.len(), p.roles.len(), p.tasks.len()),
        waves: (p.resource_waves.len(), p.task_waves.len()),
    };
    drop(p);
    Ok(s)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn main() -> ExitCode {
    let mut iterations = 7usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|n| n.parse().ok())) {
            ("--iterations" | "-n", Some(n)) if n > 0 => iterations = n,
            _ => {
                eprintln!("usage: plan_scale [--iterations N]");
                return ExitCode::from(2);
            }
        }
    }

    let per_iteration_peak = reset_peak_rss();
    let baseline_kib = status_kib("VmRSS:");
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        if per_iteration_peak {
            reset_peak_rss();
        }
        match run_once() {
            Ok(s) => {
                eprintln!(
                    "iteration {}/{iterations}: construct {}, plan {}, peak RSS {}",
                    i + 1,
                    ms(s.construct),
                    ms(s.plan),
                    s.rss_kib.map_or_else(|| "?".into(), mb)
                );
                samples.push(s);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    }

    let (resources, roles, tasks) = samples[0].counts;
    let (rwaves, twaves) = samples[0].waves;
    let construct = median(samples.iter().map(|s| s.construct).collect());
    let plan_med = median(samples.iter().map(|s| s.plan).collect());
    let plan_min = samples.iter().map(|s| s.plan).min().unwrap_or_default();
    let plan_max = samples.iter().map(|s| s.plan).max().unwrap_or_default();
    let total = median(samples.iter().map(|s| s.construct + s.plan).collect());
    let rss = samples.iter().filter_map(|s| s.rss_kib).max();

    let time_ok = total < TIME_BAR;
    let plan_ok = plan_med < PLAN_BAR;
    let rss_ok = rss.is_some_and(|k| k < RSS_BAR_KIB);
    let mark = |ok: bool| if ok { "ok" } else { "MISSED" };
    let counts_ok = resources >= 10_000 && roles >= 10_000 && tasks >= 50_000;

    println!(
        "Model: {resources} resources ({rwaves} parallel groups), {roles} roles, {tasks} tasks ({twaves} parallel groups); {iterations} iterations, medians."
    );
    println!();
    println!("| measure | value | bar | result |");
    println!("|---|---|---|---|");
    println!("| model construction | {} | | |", ms(construct));
    println!(
        "| `plan()` | {} (min {}, max {}) | < 0.5 s | {} |",
        ms(plan_med),
        ms(plan_min),
        ms(plan_max),
        mark(plan_ok)
    );
    println!(
        "| construction + plan | {} | < 1 s | {} |",
        ms(total),
        mark(time_ok)
    );
    println!(
        "| peak RSS (VmHWM{}) | {} | < 300 MB | {} |",
        if per_iteration_peak {
            ", per iteration"
        } else {
            ", whole process"
        },
        rss.map_or_else(|| "unknown".into(), mb),
        mark(rss_ok)
    );
    if let Some(b) = baseline_kib {
        println!("| RSS before the first iteration | {} | | |", mb(b));
    }
    if !counts_ok {
        eprintln!("the model is smaller than the bar's model (10,000 / 10,000 / 50,000)");
    }
    debug_assert_eq!(tasks, roles * TASKS_PER_ROLE);
    if time_ok && plan_ok && rss_ok && counts_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
