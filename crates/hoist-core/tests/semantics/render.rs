//! The rendered plan of a small web system: resources by parallel group, values known after
//! provisioning, roles with their hosts and variables, tasks by parallel group. Deterministic.

use std::time::Duration;

use hoist::*;

use crate::{Catalog, edge_set, edges, plan_of, resource_waves, task_waves};

#[derive(Model)]
struct WebInfra {
    net: Network,
    subnet: Subnet,
    fw: SecurityGroup,
    db: Server,
    app: Multi<Server>,
    lb: Server,
    lb_ip: PublicIp,
}

impl WebInfra {
    fn new() -> Self {
        let r = WebInfra::refs();
        let server = |size: &str| {
            Server::new("debian-12", size, r.subnet.clone()).with_security_group(r.fw.clone())
        };
        WebInfra {
            net: Network::new("10.0.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
            fw: SecurityGroup::new(
                r.net.clone(),
                vec![
                    Rule::tcp_in(22, "10.0.0.0/8"),
                    Rule::tcp_in(80, "0.0.0.0/0"),
                ],
            ),
            db: server("large"),
            app: Multi::new(server("small")),
            lb: server("small"),
            lb_ip: PublicIp::new(r.lb.clone()),
        }
    }
}

#[derive(Model)]
struct WebNs {
    db: Role,
    app: Multi<Role>,
    lb: Role,
    vars: Vars,
}

impl WebNs {
    fn new() -> Self {
        let i = WebInfra::refs();
        WebNs {
            db: Role::on(i.db.clone()).var("PGDATA", "/var/lib/postgresql"),
            app: Multi::new(Role::on(i.app.mine())).keys(0..3),
            lb: Role::on(i.lb_ip).var("BACKENDS", "app0 app1 app2"),
            vars: Vars::new()
                .set("DB_HOST", i.db.out().private_ip)
                .secret("DB_PASSWORD", Secret::new("s3cr3t-pw"))
                .set(
                    "DB_URL",
                    "postgres://app:!{DB_PASSWORD}@!{DB_HOST}:5432/app",
                )
                .set("APP_PORT", "8080")
                .var(Var::new("RELEASE", "2024.1").in_env(false)),
        }
    }
}

#[derive(Model, Clone)]
struct AppDeploy {
    defaults: TaskDefaults,
    install: Task,
    config: Task,
    start: Task,
    deps: Deps,
}

impl AppDeploy {
    fn new(role: Ref<Role>) -> Self {
        let s = AppDeploy::siblings();
        AppDeploy {
            defaults: TaskDefaults::role(role),
            install: Task::command("apt-get install -y myapp=!{RELEASE}"),
            config: Task::copy_content("db=!{DB_URL}\nport=!{APP_PORT}\n", "/etc/myapp.conf")
                .mode(0o600),
            start: Task::shell("systemctl restart myapp"),
            deps: Deps::new([s.install | s.config | s.start]),
        }
    }
}

#[derive(Model)]
struct WebCfg {
    defaults: TaskDefaults,
    db_install: Task,
    db_schema: Task,
    app: MultiTask<AppDeploy>,
    lb_conf: Task,
    smoke: Task,
    deps: Deps,
}

impl WebCfg {
    fn new() -> Self {
        let n = WebNs::refs();
        let r = WebCfg::refs();
        WebCfg {
            defaults: TaskDefaults::default()
                .user("deploy")
                .retry(RetryPolicy::attempts(3).linear(Duration::from_secs(5))),
            db_install: Task::command("apt-get install -y postgresql").role(n.db.clone()),
            db_schema: Task::shell("psql -f /srv/schema.sql !{DB_URL}").role(n.db),
            app: MultiTask::new(AppDeploy::new, n.app.clone()),
            lb_conf: Task::template_text(
                "{% for b in BACKENDS.split() %}server {{ b }}\n{% endfor %}",
                "/etc/haproxy/haproxy.cfg",
            )
            .role(n.lb),
            smoke: Task::local("curl -fsS http://lb/health"),
            deps: Deps::new([r.db_install | r.db_schema | r.app | r.lb_conf | r.smoke]),
        }
    }
}

fn web_plan() -> Plan {
    let (infra, ns, cfg) = (WebInfra::new(), WebNs::new(), WebCfg::new());
    plan_of(
        PlanInput::new("shop")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
            .catalog(&Catalog),
    )
}

#[test]
fn the_web_system_plan_renders_as_expected() {
    let p = web_plan();
    let text = p.render();
    assert!(
        !text.contains("s3cr3t-pw"),
        "a secret leaked into the rendered plan"
    );
    insta::assert_snapshot!("web_system_plan", text);
}

#[test]
fn the_web_system_plan_has_the_expected_graphs() {
    let p = web_plan();
    assert_eq!(
        resource_waves(&p),
        [
            vec!["net"],
            vec!["fw", "subnet"],
            vec!["app[0]", "app[1]", "app[2]", "db", "lb"],
            vec!["lb_ip"],
        ]
    );
    let mut want = edge_set(&[("db_install", "db_schema"), ("lb_conf", "smoke")]);
    for k in 0..3 {
        let c = format!("app[app[{k}]]");
        want.insert(("db_schema".into(), format!("{c}.install")));
        want.insert((format!("{c}.install"), format!("{c}.config")));
        want.insert((format!("{c}.config"), format!("{c}.start")));
        want.insert((format!("{c}.start"), "lb_conf".into()));
    }
    assert_eq!(edges(&p), want);
    assert_eq!(task_waves(&p).len(), 7);
}

#[test]
fn rendering_and_planning_are_deterministic() {
    let p1 = web_plan();
    let p2 = web_plan();
    assert_eq!(p1.render(), p1.render());
    assert_eq!(p1.render(), p2.render());
    assert_eq!(format!("{p1:?}"), format!("{p2:?}"));
    assert_eq!(p1.to_string(), p1.render());
}
