//! The `hoist` command line, as a library: [`Cli`] (its arguments, parsed with `clap`) and
//! [`run`], so a program of its own can embed the same commands.
//!
//! Every command works from the recorded state alone, with no user model and no user code:
//!
//! | command | what it does |
//! |---|---|
//! | `hoist down --yes` | tears the system down, dependents first ([`Orchestration::teardown_system`](hoist::Orchestration::teardown_system)) |
//! | `hoist status` | the recorded resources, tasks, versions, lock and recent runs |
//! | `hoist recover` | reconciles pending intents with the cloud ([`Orchestration::recover_system`](hoist::Orchestration::recover_system)) |
//! | `hoist unlock --force` | removes the system's lock, recording it in the run history |
//! | `hoist state export` | prints the state as JSON |
//! | `hoist state import FILE` | reads a state exported by this or an older hoist |
//! | `hoist state list` | the systems in the store |
//! | `hoist state mv FROM TO` | records what is at one address under another (a renamed model field), touching no cloud |
//! | `hoist state rm ADDRESS…` | forgets what is at these addresses, touching no cloud |
//!
//! The state is `.hoist/state.db` in the current directory (SQLite), or what `--state`
//! (or `HOIST_STATE`) names: another file, or a `postgres://` URL. The system is the only one
//! in the store, or the one `--system` names. Provider proxies come from the environment, as
//! the providers read it ([`providers`]).

pub mod demo;
pub mod providers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hoist::state::{LockHolder, StateError, StateStore, SystemState};
use hoist::{Orchestration, OrchestrationError};

/// The `hoist` command line.
#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about = "Stand systems up, configure them, tear them down: the hoist command line"
)]
pub struct Cli {
    /// Where the state is: a SQLite file, or a postgres:// URL.
    #[arg(long, global = true, env = "HOIST_STATE", default_value = hoist::state::DEFAULT_STATE_PATH)]
    pub state: String,
    /// The system (default: the only system in the state).
    #[arg(long, short = 's', global = true, env = "HOIST_SYSTEM")]
    pub system: Option<String>,
    /// Wait this long for the system's lock if another run holds it (e.g. `30s`, `500ms`;
    /// default: fail at once, naming the holder).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// No progress lines while `down` or `recover` run (the final report is still printed).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// A `hoist` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tear the system down from its recorded state, dependents first.
    Down {
        /// Really delete everything (required).
        #[arg(long)]
        yes: bool,
        /// Forget objects found gone even when most of them are. Without it, a teardown that
        /// finds at least 3 of its objects gone, and more than half, keeps them in the state
        /// and fails: that usually means the cloud is not the one the state was made in.
        #[arg(long)]
        forget_missing: bool,
        /// Delete protected resources too (`.protect()` in the models). Without it, a
        /// teardown of a system with a protected resource deletes nothing.
        #[arg(long)]
        force: bool,
    },
    /// Show the recorded resources, tasks, versions, lock and recent runs.
    Status {
        /// As JSON (the state, plus the lock).
        #[arg(long)]
        json: bool,
    },
    /// Reconcile pending intents with the cloud: adopt what was created, forget what was not.
    Recover,
    /// Remove the system's lock (recorded in the run history).
    Unlock {
        /// Really remove it, whoever holds it (required).
        #[arg(long)]
        force: bool,
    },
    /// Export, import or list recorded states.
    #[command(subcommand)]
    State(StateCommand),
}

/// `hoist state …`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the system's state as JSON.
    Export,
    /// Read a state exported as JSON (by this or an older hoist) into the store.
    Import {
        /// The JSON file (`-`: standard input).
        file: PathBuf,
        /// Replace the system's state if the store already has one.
        #[arg(long)]
        replace: bool,
    },
    /// List the systems in the store.
    List,
    /// Record what is at one address under another, touching no cloud: after renaming a
    /// model field, so the next run sees the same objects instead of deleting
    /// and creating them. Everything below the address moves too (`web/app` moves
    /// `web/app[0]`, `web/app[1]`, …), and so do the dependency edges that name it.
    Mv {
        /// The address now recorded (`web/app`, `web/app[0]`, `cfg/deploy[app[0]]`).
        from: String,
        /// The address it moves to.
        to: String,
    },
    /// Forget what is at these addresses (and below them), touching no cloud: for objects
    /// gone for good, or that hoist should stop managing.
    Rm {
        /// Addresses (`web/app[3]`, `web/app`).
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Forget resources whose create or delete is in progress too (an object an
        /// interrupted create made can then no longer be found: run `hoist recover` first).
        #[arg(long)]
        force: bool,
    },
}

/// Parses `250ms`, `30s`, `2m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 30s or 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// What a command failed with.
#[derive(Debug)]
pub enum CliError {
    /// A message for the user (exit 1).
    Message(String),
    /// The state store failed (exit 1; exit 75 if the system is locked).
    State(StateError),
    /// The orchestration failed (exit 1).
    Orchestration(OrchestrationError),
}

impl std::error::Error for CliError {}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Message(m) => f.write_str(m),
            CliError::State(e) => write!(f, "{e}"),
            CliError::Orchestration(e) => write!(f, "{e}"),
        }
    }
}

impl From<hoist::state::EditError> for CliError {
    fn from(e: hoist::state::EditError) -> Self {
        CliError::Message(e.to_string())
    }
}

impl From<StateError> for CliError {
    fn from(e: StateError) -> Self {
        CliError::State(e)
    }
}

impl From<OrchestrationError> for CliError {
    fn from(e: OrchestrationError) -> Self {
        match e {
            OrchestrationError::State(s) => CliError::State(s),
            OrchestrationError::MissingProvider {
                system,
                provider,
                example,
            } => CliError::Message(format!(
                "the recorded state of `{system}` has resources of provider `{provider}` (e.g. `{example}`), \
                 but no proxy named `{provider}` is configured ({})",
                providers::hint(&provider)
            )),
            OrchestrationError::IdentityMismatch { ref provider, .. } => {
                let hint = providers::hint(provider);
                CliError::Message(format!(
                    "{e} (proxy `{provider}` comes from the environment: {hint})"
                ))
            }
            other => CliError::Orchestration(other),
        }
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::State(StateError::Locked { .. }) => ExitCode::from(75),
            _ => ExitCode::from(1),
        }
    }
}

/// Runs a parsed command line, printing to standard output (results) and standard error
/// (progress, errors). Returns the process exit code.
///
/// While `down` or `recover` runs, the first Ctrl-C (or SIGTERM) stops it gracefully: calls in
/// flight finish and are recorded, nothing new starts, the lock is released, and the partial
/// report is printed (exit code 130). A second one exits at once; the journal then holds
/// what was in flight, for the next run to reconcile. This installs a process-wide handler.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hoist: error: {e}");
            e.exit_code()
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    // Only an import creates a state file; every other command reads an existing one.
    let is_file = !cli.state.contains("://") && !cli.state.contains(':');
    if is_file
        && !matches!(cli.command, Command::State(StateCommand::Import { .. }))
        && !std::path::Path::new(&cli.state).exists()
    {
        return Err(CliError::Message(format!(
            "no hoist state at {} (run hoist in the project directory, or give --state PATH|URL)",
            cli.state
        )));
    }
    let store = hoist::state::open(&cli.state).await?;
    if let Command::State(StateCommand::List) = cli.command {
        for s in store.systems().await? {
            println!("{s}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::State(StateCommand::Import { file, replace }) = &cli.command {
        return import(&store, &cli, file, *replace).await;
    }
    if matches!(cli.command, Command::Down { .. })
        && cli.system.is_none()
        && store.systems().await?.is_empty()
    {
        // Every run records its intents before its first cloud call: an empty store means no
        // run through it ever touched the cloud.
        eprintln!(
            "nothing to tear down: no system is recorded in {}",
            store.location()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let system = pick_system(&*store, cli.system.as_deref()).await?;
    match cli.command {
        Command::Down {
            yes,
            forget_missing,
            force,
        } => {
            let state = store
                .load(&system)
                .await?
                .unwrap_or_else(|| SystemState::new(&system));
            if !yes {
                return Err(CliError::Message(format!(
                    "`hoist down` deletes every resource of system `{system}` ({} recorded in {}); run it again with --yes",
                    state.resources.len(),
                    store.location()
                )));
            }
            let flags = DownFlags {
                forget_missing,
                force,
            };
            let orch = orchestration(&system, store, &cli, flags)?;
            Ok(outcome(&orch.teardown_system().await?))
        }
        Command::Recover => {
            let orch = orchestration(&system, store, &cli, DownFlags::default())?;
            Ok(outcome(&orch.recover_system().await?))
        }
        Command::Status { json } => status(&*store, &system, json).await,
        Command::Unlock { force } => {
            let lock = store.lock_info(&system).await?;
            if !force {
                let what = match &lock {
                    Some(l) => format!("system `{system}` is locked: {l}"),
                    None => format!("system `{system}` is not locked"),
                };
                return Err(CliError::Message(format!(
                    "{what}. `hoist unlock --force` removes the lock whoever holds it; make sure that run is dead first"
                )));
            }
            match hoist::state::force_unlock(&*store, &system, &LockHolder::current("unlock"))
                .await?
            {
                Some(l) => println!("removed the lock on `{system}`: {l}"),
                None => println!("system `{system}` was not locked (recorded anyway)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Export) => {
            let Some(state) = store.load(&system).await? else {
                return Err(CliError::Message(format!(
                    "no state for system `{system}` in {}",
                    store.location()
                )));
            };
            let text = serde_json::to_string_pretty(&state)
                .map_err(|e| CliError::Message(e.to_string()))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Mv { ref from, ref to }) => {
            for a in [from, to] {
                parse_address(a)?;
            }
            let detail = format!("{from} -> {to}");
            edit(&store, &system, &cli, "state-mv", detail, |s| {
                Ok(s.moved(from, to)?)
            })
            .await
        }
        Command::State(StateCommand::Rm {
            ref addresses,
            force,
        }) => {
            for a in addresses {
                parse_address(a)?;
            }
            let detail = addresses.join(" ");
            edit(&store, &system, &cli, "state-rm", detail, |s| {
                let mut s = s.clone();
                let mut changes = Vec::new();
                for a in addresses {
                    let c = s.removed(a, force)?;
                    s.apply_all(&c);
                    changes.extend(c);
                }
                Ok(changes)
            })
            .await
        }
        Command::State(StateCommand::Import { .. } | StateCommand::List) => Ok(ExitCode::SUCCESS),
    }
}

/// `text` as an address, or an error saying what is wrong with it.
fn parse_address(text: &str) -> Result<hoist::Address, CliError> {
    text.parse()
        .map_err(|e: hoist::AddressError| CliError::Message(e.to_string()))
}

/// Applies the changes `f` makes from the state of `system`, under its lock, recorded in its
/// run history as `action` with `detail`.
async fn edit(
    store: &Arc<dyn StateStore>,
    system: &str,
    cli: &Cli,
    action: &str,
    detail: String,
    f: impl FnOnce(&SystemState) -> Result<Vec<hoist::state::Change>, CliError>,
) -> Result<ExitCode, CliError> {
    let opts = hoist::state::LockOptions {
        wait: cli.wait,
        ..Default::default()
    };
    let holder = LockHolder::current(action);
    let guard = hoist::state::LockGuard::acquire(store.clone(), system, &holder, opts).await?;
    let result = async {
        let state = store.load(system).await?.ok_or_else(|| {
            CliError::Message(format!(
                "no state for system `{system}` in {}",
                store.location()
            ))
        })?;
        let mut changes = f(&state)?;
        let n = changes.len();
        let run = hoist::state::RunRecord::start(action, &holder.by())
            .finish(hoist::state::RunOutcome::Succeeded)
            .with_detail(detail.clone());
        changes.push(hoist::state::Change::PutRun(run));
        store.apply(system, Some(guard.id()), &changes).await?;
        Ok::<_, CliError>(n)
    }
    .await;
    guard.release().await?;
    let n = result?;
    eprintln!("{action} {detail}: {n} change(s) recorded for system `{system}`");
    Ok(ExitCode::SUCCESS)
}

/// The only system in the store, or the one named.
async fn pick_system(store: &dyn StateStore, named: Option<&str>) -> Result<String, CliError> {
    if let Some(s) = named {
        return Ok(s.to_string());
    }
    let systems = store.systems().await?;
    match systems.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::Message(format!(
            "no system is recorded in {} (run hoist where the state is, or give --state)",
            store.location()
        ))),
        many => Err(CliError::Message(format!(
            "{} holds several systems ({}): name one with --system",
            store.location(),
            many.join(", ")
        ))),
    }
}

/// What `hoist down` may do beyond deleting what it finds.
#[derive(Clone, Copy, Default)]
struct DownFlags {
    /// Forget objects found gone even when most of them are.
    forget_missing: bool,
    /// Delete protected resources too.
    force: bool,
}

/// An orchestration with no models: the proxies from the environment, and the store.
fn orchestration(
    system: &str,
    store: Arc<dyn StateStore>,
    cli: &Cli,
    flags: DownFlags,
) -> Result<Orchestration, CliError> {
    let mut b = Orchestration::builder(system).state(store);
    if flags.forget_missing {
        b = b.forget_missing();
    }
    if flags.force {
        b = b.force_protected();
    }
    for p in providers::from_env().map_err(CliError::Message)? {
        b = b.provisioner(p);
    }
    if let Some(w) = cli.wait {
        b = b.lock_wait(w);
    }
    if !cli.quiet {
        b = b.subscribe(progress);
    }
    let orch = b.build()?;
    cancel_on_interrupt(orch.cancel_handle());
    Ok(orch)
}

/// Prints a run's report; its exit code: 0 if it succeeded, 130 if it was interrupted, else 1.
fn outcome(report: &hoist::Report) -> ExitCode {
    eprint!("{report}");
    if report.success {
        ExitCode::SUCCESS
    } else if report.cancelled {
        eprintln!(
            "hoist: stopped on request; the state records what was done (run the command again to go on)"
        );
        ExitCode::from(130)
    } else {
        ExitCode::from(1)
    }
}

/// Makes Ctrl-C and SIGTERM cancel the run of `handle` (the first time) or exit at once (the
/// second time). One handler per process, pointed at the latest run.
fn cancel_on_interrupt(handle: hoist::CancelHandle) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Mutex, OnceLock};
    static CURRENT: OnceLock<Mutex<Option<hoist::CancelHandle>>> = OnceLock::new();
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let current = CURRENT.get_or_init(|| {
        let installed = ctrlc::set_handler(|| {
            if SEEN.fetch_add(1, Ordering::SeqCst) > 0 {
                eprintln!(
                    "hoist: interrupted again: stopping now (the journal holds what was in flight; `hoist recover` reconciles it)"
                );
                std::process::exit(130);
            }
            eprintln!(
                "hoist: interrupted: letting the calls in flight finish and recording them (interrupt again to stop at once)"
            );
            let current = CURRENT
                .get()
                .and_then(|m| m.lock().ok().and_then(|h| h.clone()));
            if let Some(h) = current {
                h.cancel();
            }
        });
        if let Err(e) = installed {
            tracing::warn!(error = %e, "cannot install the interrupt handler");
        }
        Mutex::new(None)
    });
    if let Ok(mut h) = current.lock() {
        *h = Some(handle);
    }
}

/// Progress lines on standard error (resources deleted, adopted, retried, failed).
fn progress(e: &hoist::Event) {
    if let Some(line) = e.progress_line() {
        eprintln!("{line}");
    }
}

async fn status(store: &dyn StateStore, system: &str, json: bool) -> Result<ExitCode, CliError> {
    let state = store.load(system).await?;
    let lock = store.lock_info(system).await?;
    if json {
        let v = serde_json::json!({ "state": state, "lock": lock });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| CliError::Message(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(s) = state else {
        println!("system `{system}`: no state in {}", store.location());
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "system `{system}` in {} (schema {}, generation {})",
        store.location(),
        s.schema,
        s.generation
    );
    match &lock {
        Some(l) => println!("lock: {l}"),
        None => println!("lock: free"),
    }
    for (what, v) in [("last known good", &s.lkg), ("last known bad", &s.lkb)] {
        if let Some(v) = v {
            println!("{what}: {} (run {})", v.version, v.run);
        }
    }
    println!("resources: {}", s.resources.len());
    // The clouds they were made in, per proxy: what a teardown's proxies must talk to.
    let mut clouds: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in s.resources.values() {
        let made_in = r
            .identity
            .as_ref()
            .map_or_else(|| "(not recorded)".to_string(), ToString::to_string);
        *clouds.entry((r.provider.clone(), made_in)).or_default() += 1;
    }
    for ((provider, made_in), n) in clouds {
        println!("  via `{provider}`: {n} made in {made_in}");
    }
    for r in s.resources.values() {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "  {:<32} {:<20} {:<8} {:<9} {}",
            r.key,
            r.kind,
            r.provider,
            status,
            r.provider_id.as_deref().unwrap_or("-")
        );
    }
    let ok = s
        .tasks
        .values()
        .filter(|t| t.status == hoist::state::TaskStatus::Succeeded)
        .count();
    let pending = s
        .tasks
        .values()
        .filter(|t| t.status == hoist::state::TaskStatus::Pending)
        .count();
    let pending = if pending > 0 {
        format!(", {pending} handler(s) notified and not run yet")
    } else {
        String::new()
    };
    println!("tasks: {} recorded, {ok} succeeded{pending}", s.tasks.len());
    println!("runs: {} (latest last)", s.runs.len());
    for r in s.runs.iter().rev().take(5).rev() {
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "  {:<14} {:<11} by {} at {}{}",
            r.action,
            outcome,
            r.by,
            r.started,
            r.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(
    store: &Arc<dyn StateStore>,
    cli: &Cli,
    file: &PathBuf,
    replace: bool,
) -> Result<ExitCode, CliError> {
    let bytes = if file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| CliError::Message(format!("cannot read standard input: {e}")))?;
        b
    } else {
        std::fs::read(file)
            .map_err(|e| CliError::Message(format!("cannot read {}: {e}", file.display())))?
    };
    let state = hoist::state::from_json(&bytes, &file.display().to_string())?;
    if let Some(named) = &cli.system
        && *named != state.system
    {
        return Err(CliError::Message(format!(
            "{} holds the state of system `{}`, not `{named}`",
            file.display(),
            state.system
        )));
    }
    let system = state.system.clone();
    let opts = hoist::state::LockOptions {
        wait: cli.wait,
        ..Default::default()
    };
    let holder = LockHolder::current("import");
    let guard = hoist::state::LockGuard::acquire(store.clone(), &system, &holder, opts).await?;
    let result = async {
        if !replace && store.load(&system).await?.is_some() {
            return Err(CliError::Message(format!(
                "{} already has a state for system `{system}`: use --replace to overwrite it",
                store.location()
            )));
        }
        store.save(&state).await?;
        let run = hoist::state::RunRecord::start("import", &holder.by())
            .finish(hoist::state::RunOutcome::Succeeded)
            .with_detail(format!("from {}", file.display()));
        store
            .apply(
                &system,
                Some(guard.id()),
                &[hoist::state::Change::PutRun(run)],
            )
            .await?;
        Ok(())
    }
    .await;
    guard.release().await?;
    result?;
    eprintln!(
        "imported system `{system}` ({} resources, {} tasks, {} runs) into {}",
        state.resources.len(),
        state.tasks.len(),
        state.runs.len(),
        store.location()
    );
    Ok(ExitCode::SUCCESS)
}

/// Installs the `tracing` subscriber of the binaries: to standard error, filtered by
/// `RUST_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
