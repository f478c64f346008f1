//! A small web system as hoist models: a network, a database server, N app servers and a
//! load balancer ([`WebInfra`]); roles with variables that wire the database address into the
//! apps' configuration and the apps' addresses into the load balancer's ([`WebNamespace`]);
//! and the tasks that render and verify those configuration files ([`WebConfig`]).
//!
//! The models depend on no provider: the quick start runs them on the simulated cloud, and
//! the same models run on any cloud whose proxy supports the core kinds.
//!
//! ```
//! use hoist_webapp::{WebInfra, WebNamespace, WebConfig, WebParams};
//! let p = WebParams { apps: 2, ..WebParams::default() };
//! let plan = hoist::plan(
//!     &hoist::PlanInput::new("shop")
//!         .infra("web", &WebInfra::new(&p))
//!         .namespace("ns", &WebNamespace::new(&p))
//!         .config("cfg", &WebConfig::new()),
//! ).unwrap();
//! // network, subnet, security group, db, 2 apps, lb, lb's public IP
//! assert_eq!(plan.resources.len(), 8);
//! ```

use hoist::{
    Connection, Deps, Model, Multi, MultiTask, Network, PublicIp, Role, Rule, Secret,
    SecurityGroup, Server, Subnet, Task, TaskDefaults, Vars,
};

/// Parameters of the web system.
#[derive(Clone, Debug)]
pub struct WebParams {
    /// Number of app servers.
    pub apps: usize,
    /// Image of every server.
    pub image: String,
    /// Size of the app servers.
    pub app_size: String,
    /// Network range.
    pub cidr: String,
    /// Subnet range.
    pub subnet_cidr: String,
    /// Port the apps listen on.
    pub app_port: u16,
    /// Database name.
    pub db_name: String,
    /// Database password (a secret: never shown in plans, logs, reports or state).
    pub db_password: Secret,
}

impl Default for WebParams {
    fn default() -> Self {
        WebParams {
            apps: 3,
            image: "debian-12".into(),
            app_size: "small".into(),
            cidr: "10.20.0.0/16".into(),
            subnet_cidr: "10.20.1.0/24".into(),
            app_port: 8080,
            db_name: "shop".into(),
            db_password: Secret::new("change-me-please"),
        }
    }
}

/// The infrastructure.
#[derive(Model)]
pub struct WebInfra {
    /// The private network.
    pub net: Network,
    /// Its subnet.
    pub subnet: Subnet,
    /// Firewall: HTTP in, app port inside the network, database port inside the network.
    pub sg: SecurityGroup,
    /// The database server.
    pub db: Server,
    /// The app servers, one per key; which exist is decided by the namespace's `app` roles.
    pub app: Multi<Server>,
    /// The load balancer.
    pub lb: Server,
    /// The load balancer's public address.
    pub lb_ip: PublicIp,
}

impl WebInfra {
    /// The infrastructure for `p`.
    pub fn new(p: &WebParams) -> Self {
        let r = WebInfra::refs();
        let server = |size: &str| {
            Server::new(p.image.as_str(), size, r.subnet.clone()).with_security_group(r.sg.clone())
        };
        WebInfra {
            net: Network::new(p.cidr.as_str()),
            subnet: hoist::Subnet::new(r.net.clone(), p.subnet_cidr.as_str()),
            sg: SecurityGroup::new(
                r.net.clone(),
                vec![
                    Rule::tcp_in(80, "0.0.0.0/0"),
                    Rule::tcp_in(p.app_port, &p.cidr),
                    Rule::tcp_in(5432, &p.cidr),
                ],
            ),
            db: server("medium"),
            app: Multi::new(server(&p.app_size)),
            lb: server("small"),
            lb_ip: PublicIp::new(r.lb.clone()),
        }
    }
}

/// The roles and their variables.
#[derive(Model)]
pub struct WebNamespace {
    /// Variables every role sees.
    pub vars: Vars,
    /// The database.
    pub db: Role,
    /// One app role per app server: `app[k]` runs on `WebInfra.app[k]`.
    pub app: Multi<Role>,
    /// The load balancer.
    pub lb: Role,
}

impl WebNamespace {
    /// The namespace for `p`: `p.apps` app roles, each on the infra app server with its key.
    pub fn new(p: &WebParams) -> Self {
        let infra = WebInfra::refs();
        let backends: Vec<String> = (0..p.apps)
            .map(|k| format!("    server app{k} !{{APP_{k}_IP}}:!{{APP_PORT}} check"))
            .collect();
        let mut lb_vars = Vars::new().set("BACKENDS", backends.join("\n"));
        for k in 0..p.apps {
            lb_vars = lb_vars.set(&format!("APP_{k}_IP"), infra.app.at(k).out().private_ip);
        }
        WebNamespace {
            vars: common_vars(p).set("DB_HOST", infra.db.out().private_ip),
            db: Role::on(infra.db.clone()),
            app: Multi::from_fn(|k| {
                Role::on(WebInfra::refs().app.mine()).var("APP_NAME", format!("app-{k}"))
            })
            .keys(0..p.apps),
            lb: Role::on(infra.lb_ip.clone()).vars(lb_vars),
        }
    }
}

impl WebNamespace {
    /// The namespace on existing hosts, for config-only runs (no infra model): the database on
    /// `db`, one app role per address in `apps`, the load balancer on `lb`, all reached with
    /// `conn` (port, user, key).
    pub fn on_hosts(p: &WebParams, db: &str, apps: &[&str], lb: &str, conn: &Connection) -> Self {
        let backends: Vec<String> = (0..apps.len())
            .map(|k| format!("    server app{k} !{{APP_{k}_IP}}:!{{APP_PORT}} check"))
            .collect();
        let mut lb_vars = Vars::new().set("BACKENDS", backends.join("\n"));
        for (k, a) in apps.iter().enumerate() {
            lb_vars = lb_vars.set(&format!("APP_{k}_IP"), *a);
        }
        let addrs: Vec<String> = apps.iter().map(|a| (*a).to_string()).collect();
        let app_conn = conn.clone();
        WebNamespace {
            vars: common_vars(p).set("DB_HOST", db),
            db: Role::on(db).connection(conn.clone()),
            app: Multi::from_fn(move |k| {
                let addr = k
                    .as_str()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| addrs.get(i))
                    .cloned();
                let role = Role::new()
                    .connection(app_conn.clone())
                    .var("APP_NAME", format!("app-{k}"));
                match addr {
                    Some(a) => role.host(a),
                    None => role,
                }
            })
            .keys(0..apps.len()),
            lb: Role::on(lb).connection(conn.clone()).vars(lb_vars),
        }
    }
}

/// The variables every role sees (the database address is added by the constructors).
fn common_vars(p: &WebParams) -> Vars {
    Vars::new()
        .set("APP_PORT", p.app_port.to_string())
        .set("DB_PORT", "5432")
        .set("DB_NAME", p.db_name.as_str())
        .set("DB_USER", "app")
        .secret("DB_PASSWORD", p.db_password.clone())
        .set("CONF_DIR", "etc")
}

/// The configuration of one app server: make its config directory, render its config file,
/// then check it.
#[derive(Model)]
pub struct AppConfig {
    /// Make the config directory.
    pub mkdir: Task,
    /// Render `etc/app.conf` from the template.
    pub render: Task,
    /// Check the file names the database host.
    pub verify: Task,
    /// `mkdir | render | verify`.
    pub deps: Deps,
}

/// The app configuration template (minijinja; `!{}` variables are expanded first).
pub const APP_CONF: &str = include_str!("../templates/app.conf.j2");
/// The load balancer configuration template.
pub const LB_CONF: &str = include_str!("../templates/lb.conf.j2");

impl AppConfig {
    /// The tasks for the app role `role`.
    pub fn new(role: hoist::Ref<Role>) -> Self {
        let s = AppConfig::siblings();
        AppConfig {
            mkdir: Task::command("mkdir -p !{CONF_DIR}").role(role.clone()),
            render: Task::template_text(APP_CONF, "!{CONF_DIR}/app.conf")
                .mode(0o640)
                .role(role.clone()),
            verify: Task::shell(
                "test -s !{CONF_DIR}/app.conf && grep -q 'host = !{DB_HOST}' !{CONF_DIR}/app.conf",
            )
            .role(role),
            deps: Deps::new([s.mkdir | s.render | s.verify]),
        }
    }
}

/// The configuration of the whole system.
#[derive(Model)]
pub struct WebConfig {
    /// Default role: the database (tasks below name their own where it differs).
    pub defaults: TaskDefaults,
    /// Every host answers.
    pub ping: MultiTask<Task>,
    /// Prepare the database directory and its init script.
    pub db_setup: Task,
    /// Configure every app server.
    pub apps: MultiTask<AppConfig>,
    /// Render the load balancer's configuration with one backend per app.
    pub lb_config: Task,
    /// Check the load balancer lists every app.
    pub lb_verify: Task,
    /// Order: ping, then the database, then the apps, then the load balancer.
    pub deps: Deps,
}

impl WebConfig {
    /// The configuration.
    #[allow(
        clippy::new_without_default,
        reason = "mirrors the other models' constructors"
    )]
    pub fn new() -> Self {
        let ns = WebNamespace::refs();
        let me = WebConfig::refs();
        WebConfig {
            defaults: TaskDefaults::role(ns.db.clone()),
            ping: MultiTask::new(|role| Task::ping().role(role), ns.app.all().union(ns.db.clone()).union(ns.lb.clone())),
            db_setup: Task::shell(
                "mkdir -p data && printf 'CREATE DATABASE %s OWNER %s;\\n' !{DB_NAME} !{DB_USER} > data/init.sql",
            )
            .creates("data/init.sql"),
            apps: MultiTask::new(AppConfig::new, ns.app.all()),
            lb_config: Task::template_text(LB_CONF, "lb.conf").role(ns.lb.clone()),
            lb_verify: Task::shell("grep -c ' server app' lb.conf").role(ns.lb.clone()),
            deps: Deps::new([me.ping | me.db_setup | me.apps | me.lb_config | me.lb_verify]),
        }
    }
}
