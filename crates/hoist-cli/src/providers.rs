//! Provider proxies from the environment: how a process with no user code (`hoist down`) gets
//! the proxies the recorded state names, with credentials and endpoints as the providers read
//! them.
//!
//! | variable | proxy |
//! |---|---|
//! | `HOIST_SIM_STATE=/path/sim.json` | the simulated cloud, persistent in that file ([`SimCloudBuilder::persist`](hoist::sim::SimCloudBuilder::persist)), named `sim` (or `HOIST_SIM_NAME`), with `HOIST_SIM_LATENCY_MS` of latency per call |
//!
//! **Extension point.** Each cloud provider adds one block to [`from_env`] when its crate
//! lands, reading that cloud's standard variables (AWS: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` through `aws-config`'s own
//! environment loader), and one line to [`hint`]. Credentials stay in the environment: they
//! are never written to state.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::Provisioner;

/// The proxies configured by the environment.
pub fn from_env() -> Result<Vec<Arc<dyn Provisioner>>, String> {
    let mut out: Vec<Arc<dyn Provisioner>> = Vec::new();
    if let Some(path) = std::env::var_os("HOIST_SIM_STATE").filter(|p| !p.is_empty()) {
        let mut b = hoist::sim::SimCloud::builder().persist(path);
        if let Ok(name) = std::env::var("HOIST_SIM_NAME") {
            b = b.name(name);
        }
        if let Ok(ms) = std::env::var("HOIST_SIM_LATENCY_MS") {
            let ms: u64 = ms.parse().map_err(|_| {
                format!("HOIST_SIM_LATENCY_MS={ms:?} is not a number of milliseconds")
            })?;
            b = b.latency(Duration::from_millis(ms));
        }
        out.push(Arc::new(b.build()));
    }
    // Extension point: AWS (providers/hoist-aws) from the standard AWS variables, Azure,
    // OpenStack, ... one block each.
    Ok(out)
}

/// How to configure the proxy named `provider`, for error messages.
pub fn hint(provider: &str) -> String {
    match provider {
        "sim" => "set HOIST_SIM_STATE to the simulated cloud's state file".into(),
        other => format!(
            "configure it in the environment (a simulated cloud named `{other}`: HOIST_SIM_STATE and HOIST_SIM_NAME={other})"
        ),
    }
}
