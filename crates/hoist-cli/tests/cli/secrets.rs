//! The secrets canary, across a whole run: a known secret, carried by a role variable and
//! really used by tasks (one of which fails printing it), goes through initiate, status,
//! export and teardown (in process and through the `hoist` binary), and then appears in no
//! log line (every `tracing` event at TRACE level, captured), no report, no event, no state
//! file (SQLite database, WAL and shared-memory files; the simulated cloud's file) and no
//! database row (PostgreSQL).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use hoist::{Event, Model, MultiTask, Secret, Task, TaskOutcome};
use hoist_cli::demo::{self, DemoRoles};

use crate::common::{Bed, pg_drop, pg_url};

const CANARY: &str = "canary-7d41e0c9";

/// Everything every `tracing` subscriber-less event in this process writes, at TRACE.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let w = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .init();
        logs
    })
}

/// A task that fails printing the secret (its error and output are recorded, scrubbed).
#[derive(Model)]
struct Leak {
    leak: MultiTask<Task>,
}

fn leak() -> Leak {
    Leak {
        leak: MultiTask::new(
            |role| Task::shell("echo out !{TOKEN}; echo \"err $TOKEN\" >&2; exit 3").role(role),
            DemoRoles::refs().srv.key(0),
        ),
    }
}

/// Runs the whole canary against `state` (a SQLite path or a PostgreSQL URL); returns every
/// text the run showed.
async fn whole_run(bed: &Bed, system: &str, state: &str) -> Vec<(String, String)> {
    let store = hoist::state::open(state).await.unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let ev = events.clone();
    let cloud = hoist::sim::SimCloud::builder().persist(&bed.sim).build();
    let orch = demo::builder(
        system,
        Arc::new(cloud),
        store.clone(),
        4,
        Some(Secret::new(CANARY)),
    )
    .config("leak", leak())
    .keep_going()
    .subscribe(move |e: &Event| ev.lock().unwrap().push(format!("{e:?}")))
    .build()
    .unwrap();
    let plan = orch.plan().unwrap();
    let report = orch.initiate_system().await.unwrap();

    // It was really used.
    let s = store.load(system).await.unwrap().unwrap();
    let sandbox = s.resources["infra/srv[1]"].outputs["sandbox"]
        .as_str()
        .unwrap()
        .to_string();
    let token = std::fs::read_to_string(std::path::Path::new(&sandbox).join("token.txt")).unwrap();
    assert_eq!(token, format!("{CANARY}{CANARY}\n"));
    let leaked = report
        .tasks
        .iter()
        .find(|t| t.key.starts_with("leak/"))
        .expect("the leaking task ran");
    let leak_key = leaked.key.clone();
    assert_eq!(leaked.outcome, TaskOutcome::Failed, "{report}");
    assert!(
        leaked.output.as_ref().unwrap().stdout.starts_with("out "),
        "{report}"
    );
    let recorded = s.tasks[&leak_key].error.clone().unwrap_or_default();
    assert!(
        recorded.contains("<redacted>"),
        "the failure is recorded, scrubbed: {recorded}"
    );

    let mut shown = vec![
        ("report".to_string(), format!("{report}\n{report:?}")),
        ("plan".to_string(), format!("{plan}\n{plan:?}")),
        ("events".to_string(), events.lock().unwrap().join("\n")),
        (
            "state (JSON)".to_string(),
            serde_json::to_string(&s).unwrap(),
        ),
    ];
    // The stored bytes while the run's records are all there.
    if let Some(pg) = store_as_pg(state).await {
        let rows = pg.dump().await.unwrap();
        assert!(
            rows.iter().any(|r| r.contains(&leak_key)),
            "the rows are there: {rows:?}"
        );
        shown.push(("database rows after initiate".into(), rows.join("\n")));
    } else {
        shown.push(("SQLite files after initiate".into(), sqlite_bytes(state)));
    }
    // The binary, with every log line on.
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(crate::common::HOIST);
        c.args(args)
            .args(["--system", system, "--state", state])
            .env("HOIST_SIM_STATE", &bed.sim)
            .env("RUST_LOG", "trace");
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "hoist {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    shown.push(("hoist status".into(), cli(&["status"])));
    shown.push(("hoist status --json".into(), cli(&["status", "--json"])));
    shown.push(("hoist state export".into(), cli(&["state", "export"])));
    let down = cli(&["down", "--yes"]);
    assert!(
        down.contains("TRACE") || down.contains("DEBUG"),
        "logs were on: {down}"
    );
    shown.push(("hoist down (with RUST_LOG=trace)".into(), down));
    // And in process: another initiate and teardown.
    let again = orch.initiate_system().await.unwrap();
    shown.push(("second report".into(), format!("{again}\n{again:?}")));
    let td = orch.teardown_system().await.unwrap();
    assert!(td.success, "{td}");
    shown.push(("teardown report".into(), format!("{td}\n{td:?}")));
    shown.push((
        "events (all runs)".into(),
        events.lock().unwrap().join("\n"),
    ));
    if let Some(pg) = store_as_pg(state).await {
        let rows = pg.dump().await.unwrap();
        shown.push(("database rows after teardown".into(), rows.join("\n")));
    } else {
        shown.push(("SQLite files after teardown".into(), sqlite_bytes(state)));
    }
    shown.push((
        "simulated cloud file".into(),
        String::from_utf8_lossy(&std::fs::read(&bed.sim).unwrap()).into_owned(),
    ));
    shown
}

/// The SQLite database, write-ahead log and shared-memory files, as (lossy) text.
fn sqlite_bytes(path: &str) -> String {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
            all.extend_from_slice(&b);
        }
    }
    assert!(!all.is_empty(), "no SQLite file at {path}");
    String::from_utf8_lossy(&all).into_owned()
}

async fn store_as_pg(state: &str) -> Option<hoist::state::PgStore> {
    if !state.starts_with("postgres") {
        return None;
    }
    let (base, schema) = state
        .split_once("?hoist_schema=")
        .or_else(|| state.split_once("&hoist_schema="))?;
    Some(
        hoist::state::PgStore::connect_in(base, schema)
            .await
            .unwrap(),
    )
}

fn assert_clean(shown: &[(String, String)]) {
    for (what, text) in shown {
        assert!(
            !text.contains(CANARY),
            "the secret shows in the {what}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_goes_through_a_whole_run_and_shows_nowhere() {
    let logs = logs();
    let bed = Bed::sqlite(1);
    let mut shown = whole_run(&bed, "canary", &bed.state).await;
    let mut pg = None;
    if let Some((url, schema)) = pg_url("canary") {
        shown.extend(whole_run(&bed, "canary-pg", &url).await);
        pg = Some((url, schema));
    }
    let captured = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        captured.contains("sim call") && captured.contains("task failed"),
        "the logs were captured: {} bytes",
        captured.len()
    );
    shown.push(("log lines".into(), captured));
    assert_clean(&shown);
    // Still readable by its store.
    let store = hoist::state::open(&bed.state).await.unwrap();
    assert!(
        store
            .load("canary")
            .await
            .unwrap()
            .unwrap()
            .resources
            .is_empty()
    );
    if let Some((url, schema)) = pg {
        pg_drop(&url, &schema).await;
    }
}
