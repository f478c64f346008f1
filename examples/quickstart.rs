//! The quick start: a small web system (a network, a database server, three app servers from
//! a multi-role, a load balancer) on the built-in simulated cloud. It plans, initiates, reports
//! and tears down, printing what it does. No cloud account is needed: the simulated servers are
//! local sandbox directories, and the config tasks really run in them.
//!
//! Run it with `cargo run --example quickstart`. Its state is kept in `.hoist/state.db` and
//! the simulated cloud's objects in `.hoist/sim/` (in the current directory): stopped half-way
//! (Ctrl-C, `kill -9`), it resumes when run again, and `hoist down --yes` there removes what
//! it made.

use std::sync::Arc;

use hoist::sim::SimCloud;
use hoist::{Event, Orchestration};
use hoist_webapp::{WebConfig, WebInfra, WebNamespace, WebParams};

fn progress(e: &Event) {
    if let Some(line) = e.progress_line() {
        println!("{line}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();

    let params = WebParams::default();
    // A simulated cloud that outlives the process, like a real one, next to the state.
    let cloud = SimCloud::builder()
        .persist(hoist::sim::DEFAULT_PERSIST_PATH)
        .latency(std::time::Duration::from_millis(40))
        .build();
    let orch = Orchestration::builder("quickstart")
        .infra("web", WebInfra::new(&params))
        .namespace("ns", WebNamespace::new(&params))
        .config("cfg", WebConfig::new())
        .provisioner(Arc::new(cloud.clone()))
        .subscribe(progress)
        .build()?;

    println!("{}", orch.plan()?);

    println!("Initiating the system on the simulated cloud…");
    let report = orch.initiate_system().await?;
    println!("\n{report}");
    if !report.success {
        return Err("initiate failed (see the report above)".into());
    }

    // Look inside the load balancer's sandbox: its configuration lists every app server.
    let state = orch.state().await?.ok_or("no state recorded")?;
    if let Some(sandbox) = state
        .resources
        .get("web/lb")
        .and_then(|r| r.outputs.get("sandbox"))
        .and_then(|v| v.as_str())
    {
        let conf = std::fs::read_to_string(std::path::Path::new(sandbox).join("lb.conf"))?;
        println!("lb.conf on the load balancer:\n{conf}");
    }

    // The diff of the models against what is recorded: nothing left to change.
    println!("{}\n", orch.diff().await?);
    println!("Running initiate again does nothing:");
    let again = orch.initiate_system().await?;
    println!("  nothing_to_do = {}\n", again.nothing_to_do);

    println!("Tearing the system down…");
    let down = orch.teardown_system().await?;
    println!("\n{down}");
    let left = cloud
        .objects()
        .into_iter()
        .filter(|o| o.tags.get("hoist:system").map(String::as_str) == Some("quickstart"))
        .count();
    println!("Objects of the system left in the simulated cloud: {left}");
    if !down.success || left != 0 {
        return Err("teardown left something behind".into());
    }
    Ok(())
}
