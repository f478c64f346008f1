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

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist::sim::SimCloud;
use hoist::state::{
    ResourceRecord, ResourceStatus, SqliteStore, StateStore, SystemState, TaskRecord, TaskStatus,
};
use hoist::{DiffAction, Orchestration, Outputs, Plan, ResourceId};
use hoist_bench::scale::{Cfg, Infra, Ns};

/// The time bar for the diff, state loading included.
const TIME_BAR: Duration = Duration::from_secs(1);
/// The memory bar: 300 MB (decimal), in KiB.
const RSS_BAR_KIB: u64 = 300_000_000 / 1024;

fn orchestration(store: Arc<dyn StateStore>) -> Result<Orchestration, String> {
    Orchestration::builder("bench")
        .provisioner(Arc::new(SimCloud::new()))
        .state(store)
        .infra("infra", Infra::new())
        .namespace("ns", Ns::new())
        .config("cfg", Cfg::new())
        .build()
        .map_err(|e| e.to_string())
}

/// Outputs of the records made so far.
struct Made<'a>(&'a Plan, &'a BTreeMap<String, ResourceRecord>);

impl Outputs for Made<'_> {
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value> {
        let rec = self.1.get(&self.0.resources[r.index()].key())?;
        rec.outputs.get(field).cloned()
    }
    fn provider_id(&self, r: ResourceId) -> Option<String> {
        self.1
            .get(&self.0.resources[r.index()].key())?
            .provider_id
            .clone()
    }
}

/// The state a run of `plan` would have left: every resource created, with made-up ids and
/// outputs, and the spec it was made with.
fn recorded(plan: &Plan) -> Result<SystemState, String> {
    let mut s = SystemState::new("bench");
    let mut recs = BTreeMap::new();
    for (i, r) in plan.resources.iter().enumerate() {
        let key = r.key();
        let outputs: BTreeMap<String, serde_json::Value> = [
            ("id", format!("obj-{i}")),
            ("ip", format!("10.1.{}.{}", i / 250, i % 250 + 1)),
            ("private_ip", format!("10.0.{}.{}", i / 250, i % 250 + 1)),
            ("cidr", "10.0.0.0/24".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect();
        let rec = ResourceRecord {
            key: key.clone(),
            name: key.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            deps: r
                .deps
                .iter()
                .map(|d| plan.resources[d.index()].key())
                .collect(),
            status: ResourceStatus::Created,
            token: s.token_for(&key),
            provider_id: Some(format!("obj-{i}")),
            outputs,
            error: None,
            tags: BTreeMap::new(),
            generation: 0,
            identity: None,
            spec: None,
            incarnation: 0,
            protect: false,
            deposed_of: None,
            updating: None,
        };
        recs.insert(key, rec);
    }
    let specs: Vec<(String, serde_json::Value)> = plan
        .resources
        .iter()
        .map(|r| Ok((r.key(), plan.resolve_spec(r.id, &Made(plan, &recs))?)))
        .collect::<Result<_, String>>()?;
    for (key, spec) in specs {
        if let Some(rec) = recs.get_mut(&key) {
            rec.spec = Some(spec);
        }
    }
    s.resources = recs;
    // Every task succeeded (recorded without a fingerprint, as by an older hoist: the diff
    // still fingerprints each task, and takes the models as the baseline).
    for t in &plan.tasks {
        let key = t.key();
        let rec = TaskRecord {
            key: key.clone(),
            status: TaskStatus::Succeeded,
            attempts: 1,
            host: String::new(),
            error: None,
            fingerprint: None,
        };
        s.tasks.insert(key, rec);
    }
    Ok(s)
}

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

/// Writes the recorded state to the SQLite file `file` (in a process of its own, so that
/// what it allocates does not count in the measuring process's peak RSS).
async fn record(file: &std::path::Path) -> Result<(), String> {
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(file).map_err(|e| e.to_string())?);
    let plan = orchestration(store.clone())?
        .plan()
        .map_err(|e| e.to_string())?;
    let state = recorded(&plan)?;
    store.save(&state).await.map_err(|e| e.to_string())
}

async fn run(iterations: usize) -> Result<bool, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("state.db");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = std::process::Command::new(exe)
        .arg("--record")
        .arg(&file)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("recording the state failed: {status}"));
    }
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&file).map_err(|e| e.to_string())?);
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
        let orch = orchestration(store.clone())?;
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
    let mut iterations = 5usize;
    let mut record_to = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        match (a.as_str(), value) {
            ("--iterations" | "-n", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                iterations = n.parse().unwrap_or(iterations);
            }
            ("--record", Some(path)) => record_to = Some(std::path::PathBuf::from(path)),
            _ => {
                eprintln!("usage: diff_scale [--iterations N]");
                return ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Some(file) = record_to {
        return match rt.block_on(record(&file)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        };
    }
    match rt.block_on(run(iterations)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
