//! The planning-at-scale model: 10,000 resources, 10,000 roles and 50,000 tasks, used by
//! `plan_scale` (planning) and `diff_scale` (the diff against a recorded state).
//!
//! - an infra model: a network, a security group, subnets, a database server with a public IP,
//!   and a `Multi<Server>` whose children are made by the namespace (one per role);
//! - a namespace model: a `Multi<Role>` of 10,000 roles, each on `infra.app.mine()`, with
//!   variables at three scopes, one of them wired to the role's own server's output;
//! - a config model: a `MultiTask` fanning a five-task struct (with its own `Deps`) out over
//!   every role.

use std::collections::BTreeMap;
use std::sync::Arc;

use hoist::sim::SimCloud;
use hoist::state::{
    ResourceRecord, ResourceStatus, SqliteStore, StateStore, SystemState, TaskRecord, TaskStatus,
};
use hoist::{
    Deps, Model, Multi, MultiTask, Network, Orchestration, OrchestrationBuilder, Outputs, Plan,
    PublicIp, Ref, ResourceId, Role, Rule, SecurityGroup, Server, Subnet, Task, TaskDefaults, Vars,
};

/// Roles in the namespace (each one materialises one app server).
pub const ROLES: usize = 10_000;
/// Subnets the app servers are spread over.
pub const SUBNETS: usize = 16;
/// Tasks per role in the fanned-out struct.
pub const TASKS_PER_ROLE: usize = 5;

/// The infrastructure: a network, a security group, subnets, a database server with a public
/// IP, and app servers made by the namespace (one per role).
#[derive(Model)]
pub struct Infra {
    net: Network,
    sg: SecurityGroup,
    subnets: Multi<Subnet>,
    db: Server,
    db_ip: PublicIp,
    app: Multi<Server>,
}

impl Infra {
    /// The benchmark's instance.
    #[allow(
        clippy::new_without_default,
        reason = "built once per iteration, by name"
    )]
    pub fn new() -> Self {
        let r = Infra::refs();
        let (subnets, sg) = (r.subnets.clone(), r.sg.clone());
        Infra {
            net: Network::new("10.0.0.0/16"),
            sg: SecurityGroup::new(
                r.net.clone(),
                vec![
                    Rule::tcp_in(22, "0.0.0.0/0"),
                    Rule::tcp_in(8080, "10.0.0.0/16"),
                ],
            ),
            subnets: Multi::from_fn(|k| Subnet::new(Infra::refs().net, format!("10.0.{k}.0/24")))
                .keys(0..SUBNETS),
            db: Server::new("debian-12", "large", r.subnets.at(0))
                .with_security_group(r.sg.clone()),
            db_ip: PublicIp::new(r.db.clone()),
            // No declared keys: the namespace's roles make the servers exist.
            app: Multi::from_fn(move |k| {
                let i: usize = k.as_str().parse().unwrap_or(0);
                Server::new("debian-12", "small", subnets.at(i % SUBNETS))
                    .with_security_group(sg.clone())
            }),
        }
    }
}

/// The namespace: [`ROLES`] roles, each on its own app server, with variables at three
/// scopes.
#[derive(Model)]
pub struct Ns {
    vars: Vars,
    app: Multi<Role>,
}

impl Ns {
    /// The benchmark's instance.
    #[allow(
        clippy::new_without_default,
        reason = "built once per iteration, by name"
    )]
    pub fn new() -> Self {
        let infra = Infra::refs();
        let role = Role::on(infra.app.mine())
            .var("NODE_IP", infra.app.mine().out().private_ip)
            .var("URL", "http://!{NODE_IP}:!{APP_PORT}/");
        Ns {
            vars: Vars::new()
                .set("DOMAIN", "bench.example")
                .set("APP_PORT", "8080")
                .set("DB_HOST", infra.db_ip.out().ip),
            app: Multi::new(role)
                .vars(Vars::new().set("TIER", "app"))
                .keys(0..ROLES),
        }
    }
}

/// The tasks of one role.
#[derive(Model)]
pub struct Deploy {
    ping: Task,
    install: Task,
    configure: Task,
    start: Task,
    check: Task,
    deps: Deps,
}

/// The tasks of `role`.
pub fn deploy(role: Ref<Role>) -> Deploy {
    let s = Deploy::siblings();
    Deploy {
        ping: Task::ping().role(role.clone()),
        install: Task::command("apt-get install -y nginx").role(role.clone()),
        configure: Task::template_text(
            "listen !{APP_PORT}; server_name !{TIER}.!{DOMAIN}; upstream !{DB_HOST};",
            "/etc/app.conf",
        )
        .role(role.clone()),
        start: Task::shell("systemctl restart app && echo !{URL}").role(role.clone()),
        check: Task::command("curl -fsS http://!{NODE_IP}:!{APP_PORT}/health").role(role),
        deps: Deps::new([s.ping | (s.install & s.configure) | s.start | s.check]),
    }
}

/// The config: [`Deploy`] fanned out over every role.
#[derive(Model)]
pub struct Cfg {
    defaults: TaskDefaults,
    deploy: MultiTask<Deploy>,
}

impl Cfg {
    /// The benchmark's instance.
    #[allow(
        clippy::new_without_default,
        reason = "built once per iteration, by name"
    )]
    pub fn new() -> Self {
        Cfg {
            defaults: TaskDefaults::default().user("hoist"),
            deploy: MultiTask::new(deploy, Ns::refs().app.all()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The recorded state of the model (for the diff and re-run benchmarks)

/// The model as system `bench` on `cloud`, with its state in `store`, to build.
pub fn builder(store: Arc<dyn StateStore>, cloud: SimCloud) -> OrchestrationBuilder {
    Orchestration::builder("bench")
        .provisioner(Arc::new(cloud))
        .state(store)
        .infra("infra", Infra::new())
        .namespace("ns", Ns::new())
        .config("cfg", Cfg::new())
}

/// The model as system `bench` on `cloud`, with its state in `store`.
pub fn orchestration(store: Arc<dyn StateStore>, cloud: SimCloud) -> Result<Orchestration, String> {
    builder(store, cloud).build().map_err(|e| e.to_string())
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
pub fn recorded(plan: &Plan) -> Result<SystemState, String> {
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

/// Writes the recorded state to the SQLite file `file` (in a process of its own, so that
/// what it allocates does not count in the measuring process's peak RSS).
pub async fn record(file: &std::path::Path) -> Result<(), String> {
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(file).map_err(|e| e.to_string())?);
    let plan = orchestration(store.clone(), SimCloud::new())?
        .plan()
        .map_err(|e| e.to_string())?;
    let state = recorded(&plan)?;
    store.save(&state).await.map_err(|e| e.to_string())
}

/// Records the state in a new SQLite file under `dir`, in a child process (this program run
/// again with `--record FILE`, which [`main`] answers), so that what recording allocates does
/// not count in the measuring process; returns the file's store.
pub fn record_in_child(dir: &std::path::Path) -> Result<Arc<dyn StateStore>, String> {
    let file = dir.join("state.db");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = std::process::Command::new(exe)
        .arg("--record")
        .arg(&file)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("recording the state failed: {status}"));
    }
    Ok(Arc::new(
        SqliteStore::open(&file).map_err(|e| e.to_string())?,
    ))
}

/// The `main` of a benchmark over the recorded state: parses `[--iterations N]` (default 5)
/// and `--record FILE` (see [`record_in_child`]), runs `run(iterations)` on a Tokio runtime,
/// and exits 1 if it returns `false` or an error, 2 on bad arguments.
pub fn main<F, Fut>(name: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce(usize) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    use std::process::ExitCode;
    let mut iterations = 5usize;
    let mut record_to = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--iterations" | "-n", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                iterations = n.parse().unwrap_or(iterations);
            }
            ("--record", Some(path)) => record_to = Some(std::path::PathBuf::from(path)),
            _ => {
                eprintln!("usage: {name} [--iterations N]");
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
    let result = match record_to {
        Some(file) => rt.block_on(record(&file)).map(|()| true),
        None => rt.block_on(run(iterations)),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
