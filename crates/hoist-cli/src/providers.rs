//! Provider proxies from the environment: how a process with no user code (`hoist down`) gets
//! the proxies the recorded state names, with credentials and endpoints as the providers read
//! them. Credentials stay in the environment: they are never written to state.
//!
//! | proxy | configured by |
//! |---|---|
//! | the simulated cloud | `HOIST_SIM_STATE=/path/sim.json`: persistent in that file ([`SimCloudBuilder::persist`](hoist::sim::SimCloudBuilder::persist)); without it, the project's [`.hoist/sim/cloud.json`](hoist::sim::DEFAULT_PERSIST_PATH) if there is one (the quick start's); named `sim` (or `HOIST_SIM_NAME`), with `HOIST_SIM_LATENCY_MS` of latency per call |
//! | AWS (feature `aws`, on by default) | the standard AWS variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL` (see [`AwsCloud::from_env`](hoist::aws::AwsCloud::from_env)); named `aws` (or `HOIST_AWS_NAME`) |
//!
//! The AWS proxy is always present (it makes no call, and reads no credential, until a
//! resource of its needs one). Each new cloud provider adds one block to [`from_env`] and
//! one line to [`hint`].

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::Provisioner;

/// The proxies configured by the environment.
pub fn from_env() -> Result<Vec<Arc<dyn Provisioner>>, String> {
    let mut out: Vec<Arc<dyn Provisioner>> = Vec::new();
    let project_sim = std::path::Path::new(hoist::sim::DEFAULT_PERSIST_PATH);
    let sim_path = std::env::var_os("HOIST_SIM_STATE")
        .filter(|p| !p.is_empty())
        .or_else(|| project_sim.exists().then(|| project_sim.into()));
    if let Some(path) = sim_path {
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
    #[cfg(feature = "aws")]
    {
        let aws = hoist::aws::AwsCloud::from_env().build();
        if out.iter().all(|p| p.name() != aws.name()) {
            out.push(Arc::new(aws));
        }
    }
    Ok(out)
}

/// How to configure the proxy named `provider`, for error messages.
pub fn hint(provider: &str) -> String {
    match provider {
        "sim" => format!(
            "HOIST_SIM_STATE names the simulated cloud's state file; without it, {} is used if it exists",
            hoist::sim::DEFAULT_PERSIST_PATH
        ),
        "aws" if cfg!(feature = "aws") => "the standard AWS variables name the account and region (AWS_REGION, the credentials, AWS_ENDPOINT_URL for an emulator)".into(),
        "aws" => "this hoist was built without AWS support (feature `aws` of hoist-cli)".into(),
        other => format!(
            "configure it in the environment (an AWS proxy named `{other}`: HOIST_AWS_NAME={other}; a simulated cloud: HOIST_SIM_STATE and HOIST_SIM_NAME={other})"
        ),
    }
}
