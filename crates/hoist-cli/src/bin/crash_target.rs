//! `hoist-crash-target`: a test fixture, not a tool. The crash and lock tests of `hoist-cli`
//! run it as a separate process so they can kill it (`kill -9`) or stop it at any moment.
//!
//! ```text
//! hoist-crash-target up   --state PATH --system NAME [--servers 12] [--concurrency 4]
//!     initiates the demo system (hoist_cli::demo) on the simulated cloud that the environment
//!     names (HOIST_SIM_STATE, HOIST_SIM_LATENCY_MS), with its state in PATH (or a URL)
//! hoist-crash-target hold --state URL --system NAME --lease-ms L --hold-ms H [--then-write]
//!     takes the system's lock, prints `locked <id>`, holds it H ms (heartbeating), then
//!     (with --then-write) tries a write fenced with its lock and prints `wrote` or
//!     `write refused: <error>` (exit 3), and releases the lock
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hoist::state::{Change, LockGuard, LockHolder, LockOptions, RunOutcome, RunRecord};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Up {
        #[arg(long)]
        state: String,
        #[arg(long)]
        system: String,
        #[arg(long, default_value_t = 12)]
        servers: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    Hold {
        #[arg(long)]
        state: String,
        #[arg(long)]
        system: String,
        #[arg(long)]
        lease_ms: u64,
        #[arg(long)]
        hold_ms: u64,
        #[arg(long)]
        then_write: bool,
    },
}

fn main() -> ExitCode {
    hoist_cli::init_logging();
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(args.cmd)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hoist-crash-target: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(cmd: Cmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cmd {
        Cmd::Up {
            state,
            system,
            servers,
            concurrency,
        } => {
            let store = hoist::state::open(&state).await?;
            let cloud = hoist_cli::providers::from_env()?
                .pop()
                .ok_or("set HOIST_SIM_STATE to the simulated cloud's state file")?;
            let orch = hoist_cli::demo::builder(&system, cloud, store, servers, None)
                .concurrency(concurrency)
                .build()?;
            let report = orch.initiate_system().await?;
            println!("success={}", report.success);
            Ok(if report.success {
                ExitCode::SUCCESS
            } else {
                eprint!("{report}");
                ExitCode::from(1)
            })
        }
        Cmd::Hold {
            state,
            system,
            lease_ms,
            hold_ms,
            then_write,
        } => {
            let store = hoist::state::open(&state).await?;
            let opts = LockOptions {
                lease: Duration::from_millis(lease_ms),
                wait: None,
            };
            let holder = LockHolder::current("hold");
            let guard = LockGuard::acquire(store.clone(), &system, &holder, opts).await?;
            println!("locked {}", guard.id());
            std::io::stdout().flush()?;
            tokio::time::sleep(Duration::from_millis(hold_ms)).await;
            let mut code = ExitCode::SUCCESS;
            if then_write {
                let run = RunRecord::start("hold", &holder.by()).finish(RunOutcome::Succeeded);
                match store
                    .apply(&system, Some(guard.id()), &[Change::PutRun(run)])
                    .await
                {
                    Ok(()) => println!("wrote"),
                    Err(e) => {
                        println!("write refused: {e}");
                        code = ExitCode::from(3);
                    }
                }
            }
            guard.release().await?;
            Ok(code)
        }
    }
}
