//! The cloud examples' code, as a library so that the tests run exactly what the examples run.
//!
//! [`aws_web`] is `cargo run -p hoist-cloud-examples --example aws_web`: the quick start's web
//! system on AWS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hoist::aws::AwsCloud;
use hoist::provider::HostEndpoint;
use hoist::ssh::SshConnector;
use hoist::{Credentials, Event, Orchestration, Readiness, Secret};
use hoist_webapp::{WebConfig, WebInfra, WebNamespace, WebParams};

/// Boxed error of the examples.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What [`aws_web`] runs against.
#[derive(Clone, Debug, Default)]
pub struct AwsWebOptions {
    /// The system name (default `aws-web`).
    pub system: String,
    /// An EC2 endpoint override (an emulator); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The default region (default: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// The AMI the servers launch (`debian-12` in the model is an alias for it).
    pub image: String,
    /// A test-bed directory (`scripts/testbed up N DIR`): its hosts stand in for the instances
    /// in the configuration phase.
    pub testbed: Option<PathBuf>,
    /// Extra headers for every EC2 request (moto's `x-moto-account-id`, for tests).
    pub headers: Vec<(String, String)>,
    /// Where the state is kept: a SQLite file (the default, `.hoist/state.db` in the current
    /// directory, so that `hoist down --yes` there can tear the system down after a crash)
    /// or a `postgres://` URL.
    pub state: String,
}

impl AwsWebOptions {
    /// From the environment: `AWS_ENDPOINT_URL` (the standard variable), `AWS_REGION`,
    /// `HOIST_AWS_IMAGE`, `HOIST_TESTBED`, `HOIST_STATE` and `HOIST_SYSTEM` (the system's name,
    /// default `aws-web`).
    pub fn from_env() -> Result<Self, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let endpoint = var("AWS_ENDPOINT_URL");
        let image = match (var("HOIST_AWS_IMAGE"), &endpoint) {
            (Some(i), _) => i,
            // Emulators accept any AMI id.
            (None, Some(_)) => "ami-12c6146b".into(),
            (None, None) => {
                return Err(
                    "on AWS itself, set HOIST_AWS_IMAGE to an AMI id of your region \
                            (or set AWS_ENDPOINT_URL to run against an emulator such as moto)"
                        .into(),
                );
            }
        };
        Ok(AwsWebOptions {
            system: var("HOIST_SYSTEM").unwrap_or_else(|| "aws-web".into()),
            endpoint,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            image,
            testbed: var("HOIST_TESTBED").map(PathBuf::from),
            headers: Vec::new(),
            state: var("HOIST_STATE").unwrap_or_else(|| hoist::state::DEFAULT_STATE_PATH.into()),
        })
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct AwsWebSummary {
    /// Initiate succeeded.
    pub initiated: bool,
    /// The configuration phase ran (a test bed was given).
    pub configured: bool,
    /// Teardown succeeded.
    pub torn_down: bool,
    /// Objects tagged with the system still in the cloud after teardown.
    pub left_behind: usize,
    /// EC2 calls made, in total.
    pub calls: u64,
}

impl AwsWebSummary {
    /// Everything went well and nothing was left behind.
    pub fn success(&self) -> bool {
        self.initiated && self.torn_down && self.left_behind == 0
    }
}

fn progress(e: &Event) {
    if let Some(line) = e.progress_line() {
        println!("{line}");
    }
}

/// The test bed's hosts: `(address, port)` per line of `hosts.tsv`.
fn testbed_hosts(dir: &Path) -> Result<Vec<(String, u16)>, Error> {
    let text = std::fs::read_to_string(dir.join("hosts.tsv"))
        .map_err(|e| format!("{}: {e}", dir.join("hosts.tsv").display()))?;
    let mut v = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (addr, port) = (
            f.get(1).ok_or("bad hosts.tsv")?,
            f.get(2).ok_or("bad hosts.tsv")?,
        );
        let ip: std::net::IpAddr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
        if !ip.is_loopback() {
            return Err(format!("test-bed host {addr} is not a loopback address").into());
        }
        v.push((addr.to_string(), port.parse()?));
    }
    Ok(v)
}

/// Plans, initiates, reports and tears down the web system on AWS (or an emulator), writing
/// what it does to `out`.
///
/// Without a test bed, an endpoint override means an emulator whose addresses must never be
/// dialled, so the configuration phase is skipped (and `out` says so). With a test bed, every
/// host of the system is mapped to a test-bed host through an explicit address override
/// (`Orchestration::connect_override`), so the configuration runs there over SSH.
pub async fn aws_web(opts: &AwsWebOptions, out: &mut dyn Write) -> Result<AwsWebSummary, Error> {
    let system = if opts.system.is_empty() {
        "aws-web"
    } else {
        opts.system.as_str()
    };
    let hosts = match &opts.testbed {
        Some(d) => Some(testbed_hosts(d)?),
        None => None,
    };
    let apps = hosts
        .as_ref()
        .map_or(2, |h| h.len().saturating_sub(2).max(1));
    if hosts.as_ref().is_some_and(|h| h.len() < 3) {
        return Err("the test bed needs at least 3 hosts (db, app, lb)".into());
    }
    let params = WebParams {
        apps,
        app_size: "t3.micro".into(),
        ..WebParams::default()
    };

    let mut b = AwsCloud::builder()
        .region(opts.region.clone())
        .image_alias("debian-12", opts.image.clone());
    if let Some(e) = &opts.endpoint {
        b = b
            .endpoint(e.clone())
            .poll_interval(Duration::from_millis(200));
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            // An emulator accepts any key; never send real ones there by accident.
            b = b.static_credentials("testing", Secret::new("testing"));
        }
    }
    for (k, v) in &opts.headers {
        b = b.header(k.clone(), v.clone());
    }
    let cloud = b.build();

    let state_path = if opts.state.is_empty() {
        hoist::state::DEFAULT_STATE_PATH
    } else {
        opts.state.as_str()
    };
    let store = hoist::state::open(state_path).await?;
    writeln!(out, "State: {}", store.location())?;
    let mut ob = Orchestration::builder(system)
        .state(store)
        .infra("web", WebInfra::new(&params))
        .namespace("ns", WebNamespace::new(&params))
        .provisioner(Arc::new(cloud.clone()))
        .subscribe(progress);
    let configured = match (&hosts, &opts.endpoint) {
        (Some(hosts), _) => {
            let dir = opts.testbed.as_ref().ok_or("no test bed")?;
            // db, app[0..n], lb (its role is on the load balancer's public IP).
            let mut keys = vec!["web/db".to_string()];
            keys.extend((0..apps).map(|k| format!("web/app[{k}]")));
            keys.push("web/lb_ip".into());
            for (key, (addr, port)) in keys.iter().zip(hosts) {
                writeln!(
                    out,
                    "host {key} is reached at the test-bed host {addr}:{port}"
                )?;
                ob = ob.connect_override(
                    key,
                    HostEndpoint::Network {
                        address: addr.clone(),
                        port: Some(*port),
                    },
                );
            }
            let ssh = SshConnector::builder()
                .known_hosts(dir.join("known_hosts"))
                .identity(dir.join("id_ed25519"), None)
                .build();
            ob = ob
                .config("cfg", WebConfig::new())
                .connector(Arc::new(ssh))
                .cloud_credentials(
                    cloud_name(&cloud),
                    Credentials {
                        user: Some("root".into()),
                        ..Credentials::default()
                    },
                )
                .readiness(Readiness {
                    attempts: 5,
                    ..Readiness::default()
                });
            true
        }
        (None, Some(e)) => {
            writeln!(
                out,
                "Endpoint override {e} and no test bed (HOIST_TESTBED): skipping the \
                 configuration phase, since the addresses an emulator returns are never dialled."
            )?;
            false
        }
        (None, None) => {
            ob = ob.config("cfg", WebConfig::new());
            true
        }
    };
    let orch = ob.build()?;

    writeln!(out, "{}", orch.plan()?)?;
    writeln!(
        out,
        "Initiating the system on {}…",
        opts.endpoint.as_deref().unwrap_or("AWS")
    )?;
    let report = orch.initiate_system().await?;
    writeln!(out, "\n{report}")?;
    let mut summary = AwsWebSummary {
        initiated: report.success,
        configured,
        ..Default::default()
    };
    if let Some(state) = orch.state().await? {
        for (key, rec) in &state.resources {
            if let Some(ip) = rec.outputs.get("private_ip").and_then(|v| v.as_str()) {
                let public = rec
                    .outputs
                    .get("public_ip")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                writeln!(
                    out,
                    "  {key:<12} {}  private {ip}  public {public}",
                    rec.provider_id.as_deref().unwrap_or("?")
                )?;
            }
        }
    }

    writeln!(out, "Tearing the system down…")?;
    let down = orch.teardown_system().await?;
    writeln!(out, "\n{down}")?;
    summary.torn_down = down.success;
    summary.left_behind = cloud.inventory(system).await?.len();
    summary.calls = cloud.total_calls();
    writeln!(
        out,
        "Objects of the system left in the cloud: {} ({} EC2 calls in all)",
        summary.left_behind, summary.calls
    )?;
    Ok(summary)
}

fn cloud_name(c: &AwsCloud) -> &str {
    use hoist::provider::Provisioner;
    c.name()
}
