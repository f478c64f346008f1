//! `hoist-crash-target`: a test fixture, not a tool. The crash and lock tests of `hoist-cli`
//! run it as a separate process so they can kill it (`kill -9`) or stop it at any moment.
//!
//! ```text
//! hoist-crash-target up   --state PATH --system NAME [--servers 12] [--concurrency 4] [--cloud sim|aws] [--day2]
//!     initiates the demo system (hoist_cli::demo) with its state in PATH (or a URL), on the
//!     simulated cloud that the environment names (HOIST_SIM_STATE, HOIST_SIM_LATENCY_MS), or
//!     with `--cloud aws` on the AWS endpoint it names (AWS_ENDPOINT_URL, AWS_REGION, ...;
//!     the demo's infrastructure alone, its image `debian-12` launching the AMI `--image`,
//!     default `ami-12c6146b`); with `--day2`, the demo's infrastructure after a day-2 change
//!     (`DemoInfra::day2`: an update, replacements, and deletions if `--servers` is smaller);
//!     with `--service V`, the demo's tasks replaced by a service at version V on every
//!     server, restarted by a handler (`demo::DemoServiceTasks`)
//! hoist-crash-target hold --state URL --system NAME --lease-ms L --hold-ms H [--then-write]
//!     takes the system's lock, prints `locked <id>`, holds it H ms (heartbeating), then
//!     (with --then-write) tries a write fenced with its lock and prints `wrote` or
//!     `write refused: <error>` (exit 3), and releases the lock
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hoist::provider::Provisioner;
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
        #[arg(long, default_value = "sim")]
        cloud: String,
        #[arg(long, default_value = "ami-12c6146b")]
        image: String,
        #[arg(long)]
        day2: bool,
        /// Configure a service at this version on every server (its restart is a handler).
        #[arg(long)]
        service: Option<String>,
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

/// The proxy `--cloud` names, from the environment.
fn proxy(cloud: &str, image: &str) -> Result<Arc<dyn Provisioner>, Box<dyn std::error::Error>> {
    #[cfg(feature = "aws")]
    if cloud == "aws" {
        return Ok(Arc::new(
            hoist::aws::AwsCloud::from_env()
                .image_alias("debian-12", image)
                .build(),
        ));
    }
    let _ = image;
    hoist_cli::providers::from_env()?
        .into_iter()
        .find(|p| p.name() == cloud)
        .ok_or_else(|| {
            format!(
                "no proxy named `{cloud}`: {}",
                hoist_cli::providers::hint(cloud)
            )
            .into()
        })
}

async fn run(cmd: Cmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cmd {
        Cmd::Up {
            state,
            system,
            servers,
            concurrency,
            cloud,
            image,
            day2,
            service,
        } => {
            let store = hoist::state::open(&state).await?;
            // On AWS (an emulator: its hosts must never be dialled) the infrastructure alone.
            let b = if day2 {
                let infra = hoist_cli::demo::DemoInfra::day2(servers);
                hoist_cli::demo::with_infra(&system, proxy(&cloud, &image)?, store, infra)
            } else if let Some(version) = service {
                let cloud = proxy(&cloud, &image)?;
                hoist_cli::demo::service_builder(&system, cloud, store, servers, &version)
            } else if cloud == "aws" {
                hoist_cli::demo::infra_builder(&system, proxy(&cloud, &image)?, store, servers)
            } else {
                hoist_cli::demo::builder(&system, proxy(&cloud, &image)?, store, servers, None)
            };
            let orch = b.concurrency(concurrency).build()?;
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
