//! A demonstration system on the simulated cloud: a network, two subnets, a security group,
//! `n` servers (alternating between the subnets), public IPs for the first three servers, one
//! role per server, and one task per role. With 12 servers: 19 resources and 12 tasks.
//!
//! `hoist-crash-target` initiates it so the crash tests can kill it at any moment, and the
//! tests use it for locks and the secrets canary. Every task writes a file into its server's
//! sandbox; given a secret, the roles carry it as the variable `TOKEN` and the tasks use it.

use std::sync::Arc;

use hoist::provider::Provisioner;
use hoist::state::StateStore;
use hoist::{
    ChangedWhen, Deps, Model, Multi, MultiTask, Network, Orchestration, OrchestrationBuilder,
    PublicIp, Readiness, Role, Rule, Secret, SecurityGroup, Server, Subnet, Task,
};

/// The infrastructure.
#[derive(Model)]
pub struct DemoInfra {
    /// The network.
    pub net: Network,
    /// Subnet of the even servers.
    pub a: Subnet,
    /// Subnet of the odd servers.
    pub b: Subnet,
    /// The firewall.
    pub sg: SecurityGroup,
    /// The servers, keyed `0..n`.
    pub srv: Multi<Server>,
    /// Public IP of server 0.
    pub ip0: PublicIp,
    /// Public IP of server 1.
    pub ip1: PublicIp,
    /// Public IP of server 2.
    pub ip2: PublicIp,
}

impl DemoInfra {
    /// The infrastructure with `servers` servers (at least 3).
    pub fn new(servers: usize) -> Self {
        let r = DemoInfra::refs();
        let (a, b, sg) = (r.a.clone(), r.b.clone(), r.sg.clone());
        DemoInfra {
            net: Network::new("10.60.0.0/16"),
            a: Subnet::new(r.net.clone(), "10.60.1.0/24"),
            b: Subnet::new(r.net.clone(), "10.60.2.0/24"),
            sg: SecurityGroup::new(r.net.clone(), vec![Rule::tcp_in(22, "10.60.0.0/16")]),
            srv: Multi::from_fn(move |k| {
                let odd = k.as_str().parse::<usize>().unwrap_or(0) % 2 == 1;
                let subnet = if odd { b.clone() } else { a.clone() };
                Server::new("debian-12", "small", subnet).with_security_group(sg.clone())
            })
            .keys(0..servers.max(3)),
            ip0: PublicIp::new(r.srv.at(0)),
            ip1: PublicIp::new(r.srv.at(1)),
            ip2: PublicIp::new(r.srv.at(2)),
        }
    }

    /// The infrastructure after a day-2 change of [`new`](Self::new): subnet `a` tagged
    /// (an update in place), subnet `b` moved to another range (a replacement, with the odd
    /// servers on it and their public IP); with fewer `servers`, the rest are deleted.
    pub fn day2(servers: usize) -> Self {
        let mut infra = DemoInfra::new(servers);
        infra.a = infra.a.tag("team", "blue");
        infra.b.cidr = "10.60.3.0/24".into();
        infra
    }

    /// The number of resources of `DemoInfra::new(servers)`.
    pub fn resource_count(servers: usize) -> usize {
        4 + servers.max(3) + 3
    }
}

/// One role per server.
#[derive(Model)]
pub struct DemoRoles {
    /// `srv[k]` runs on `DemoInfra.srv[k]`.
    pub srv: Multi<Role>,
}

impl DemoRoles {
    /// Roles for `servers` servers, with the secret variable `TOKEN` if given.
    pub fn new(servers: usize, secret: Option<Secret>) -> Self {
        DemoRoles {
            srv: Multi::from_fn(move |k| {
                let role = Role::on(DemoInfra::refs().srv.mine()).var("ID", k.to_string());
                match &secret {
                    Some(s) => role.var("TOKEN", s.clone()),
                    None => role,
                }
            })
            .keys(0..servers.max(3)),
        }
    }
}

/// One task per role.
#[derive(Model)]
pub struct DemoTasks {
    /// `work[<role>]`.
    pub work: MultiTask<Task>,
}

impl DemoTasks {
    /// Tasks writing `ready.txt` (and, with a secret, `token.txt` from `TOKEN` in two ways).
    pub fn new(with_secret: bool) -> Self {
        let line = if with_secret {
            "echo !{ID} > ready.txt; printf '%s' \"$TOKEN\" > token.txt; echo !{TOKEN} >> token.txt"
        } else {
            "echo !{ID} > ready.txt"
        };
        DemoTasks {
            work: MultiTask::new(
                move |role| Task::shell(line).role(role),
                DemoRoles::refs().srv.all(),
            ),
        }
    }
}

/// A service per role: its configuration (naming `version`), a slow step, and a handler that
/// restarts it (appends to `restarts.log`) when either changed something.
#[derive(Model)]
pub struct DemoService {
    /// Writes `service.conf`.
    pub conf: Task,
    /// Takes a second (on every version: it names it); never counts as a change.
    pub slow: Task,
    /// The handler: runs when `conf` changed.
    pub restart: Task,
    /// `conf` and `slow`, then `restart`.
    pub deps: Deps,
}

/// [`DemoService`] on every role.
#[derive(Model)]
pub struct DemoServiceTasks {
    /// `svc[<role>]`.
    pub svc: MultiTask<DemoService>,
}

impl DemoServiceTasks {
    /// The service at `version`.
    pub fn new(version: &str) -> Self {
        let conf = format!("version={version}\n");
        let slow = format!("sleep 1 # {version}");
        DemoServiceTasks {
            svc: MultiTask::new(
                move |role| {
                    let s = DemoService::siblings();
                    DemoService {
                        conf: Task::copy_content(&conf, "service.conf").role(role.clone()),
                        slow: Task::shell(&slow)
                            .role(role.clone())
                            .changed_when(ChangedWhen::Never),
                        restart: Task::shell("echo restarted >> restarts.log")
                            .role(role)
                            .handler(),
                        deps: Deps::new([(s.conf & s.slow) | s.restart]),
                    }
                },
                DemoRoles::refs().srv.all(),
            ),
        }
    }
}

/// The demo orchestration for `system` on `cloud` with `store`: infra named `infra`, roles
/// `ns`, tasks `cfg`.
pub fn builder(
    system: &str,
    cloud: Arc<dyn Provisioner>,
    store: Arc<dyn StateStore>,
    servers: usize,
    secret: Option<Secret>,
) -> OrchestrationBuilder {
    let with_secret = secret.is_some();
    infra_builder(system, cloud, store, servers)
        .namespace("ns", DemoRoles::new(servers, secret))
        .config("cfg", DemoTasks::new(with_secret))
        .readiness(readiness())
}

/// The demo with [`DemoServiceTasks`] at `version` instead of [`DemoTasks`].
pub fn service_builder(
    system: &str,
    cloud: Arc<dyn Provisioner>,
    store: Arc<dyn StateStore>,
    servers: usize,
    version: &str,
) -> OrchestrationBuilder {
    infra_builder(system, cloud, store, servers)
        .namespace("ns", DemoRoles::new(servers, None))
        .config("cfg", DemoServiceTasks::new(version))
        .readiness(readiness())
}

/// Readiness checks fit for sandbox hosts: few attempts, short pauses.
fn readiness() -> Readiness {
    Readiness {
        attempts: 3,
        interval: std::time::Duration::from_millis(20),
        timeout: std::time::Duration::from_secs(5),
        ..Readiness::default()
    }
}

/// The demo's infrastructure alone (no roles, no tasks): what runs on a cloud whose hosts
/// must not be dialled, such as an emulator.
pub fn infra_builder(
    system: &str,
    cloud: Arc<dyn Provisioner>,
    store: Arc<dyn StateStore>,
    servers: usize,
) -> OrchestrationBuilder {
    with_infra(system, cloud, store, DemoInfra::new(servers))
}

/// An orchestration of `infra` alone.
pub fn with_infra(
    system: &str,
    cloud: Arc<dyn Provisioner>,
    store: Arc<dyn StateStore>,
    infra: DemoInfra,
) -> OrchestrationBuilder {
    Orchestration::builder(system)
        .provisioner(cloud)
        .state(store)
        .infra("infra", infra)
}
