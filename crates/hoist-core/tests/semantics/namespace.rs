//! The namespace drives the infra: multi-roles whose host is "the infra child with my key"
//! create exactly the matching servers; overrides and exclusions take resources out.

use hoist::*;

use crate::{diag_of, errors_of, plan_of, res, resource_keys, resource_set, role, set, var};

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    db: Server,
    app: Multi<Server>,
    query: Multi<Server>,
    extra: Server,
}

fn infra() -> Infra {
    let r = Infra::refs();
    let s = || Server::new("debian-12", "small", r.subnet.clone());
    Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        db: s(),
        app: Multi::new(s()),
        query: Multi::new(s()),
        extra: s(),
    }
}

#[derive(Model)]
struct Ns {
    db: Role,
    app: Multi<Role>,
    vars: Vars,
}

fn ns(vars: Vars) -> Ns {
    let r = Infra::refs();
    Ns {
        db: Role::on(r.db),
        app: Multi::new(Role::on(r.app.mine())).keys(0..3),
        vars,
    }
}

fn app_and_query(p: &Plan) -> Vec<String> {
    resource_keys(p)
        .into_iter()
        .filter(|k| k.starts_with("web/app") || k.starts_with("web/query"))
        .collect()
}

#[test]
fn a_multi_role_on_infra_app_mine_creates_exactly_the_matching_servers() {
    let infra = infra();
    let ns = ns(Vars::new());
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]"]
    );
    for k in 0..3 {
        assert_eq!(
            role(&p, &format!("app[{k}]")).host,
            PlannedHost::Resource {
                resource: res(&p, &format!("web/app[{k}]")).id,
                output: "ip".into()
            }
        );
    }
}

#[test]
fn a_variable_holding_an_infra_output_makes_its_resource_exist() {
    let infra = infra();
    let ns = ns(Vars::new().set("QUERY_HOST", Infra::refs().query.at(10).out().ip));
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]", "web/query[10]"]
    );
}

#[test]
fn plan_input_override_of_an_output_variable_removes_its_resource() {
    let infra = infra();
    let ns = ns(Vars::new().set("QUERY_HOST", Infra::refs().query.at(10).out().ip));
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .override_var("QUERY_HOST", "query.example.com"),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]"]
    );
    assert_eq!(
        var(&p, "app[1]", "QUERY_HOST").unwrap(),
        "query.example.com"
    );
}

#[test]
fn vars_override_of_an_output_variable_removes_its_resource() {
    let infra = infra();
    let ns = ns(Vars::new()
        .set("QUERY_HOST", Infra::refs().query.at(10).out().ip)
        .override_var("QUERY_HOST", "query.example.com"));
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]"]
    );
    assert_eq!(var(&p, "db", "QUERY_HOST").unwrap(), "query.example.com");
}

#[test]
fn plan_input_override_with_another_infra_output_uses_that_resource() {
    let infra = infra();
    let ns = ns(Vars::new().set("QUERY_HOST", Infra::refs().query.at(10).out().ip));
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .override_var("QUERY_HOST", Infra::refs().query.at(20).out().private_ip),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]", "web/query[20]"]
    );
    assert_eq!(
        var(&p, "db", "QUERY_HOST").unwrap(),
        "<known after provisioning: web/query[20]:private_ip>"
    );
}

#[test]
fn exclude_removes_a_resource_from_the_plan() {
    let infra = infra();
    let ns = ns(Vars::new());
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .exclude(&Infra::refs().extra),
    );
    assert!(!resource_set(&p).contains("web/extra"));
    assert!(resource_set(&p).contains("web/db"));
}

#[test]
fn excluding_a_multi_removes_all_its_children_and_its_output_variables_become_warnings() {
    #[derive(Model)]
    struct Cfg {
        t: Task,
    }
    let infra = infra();
    let ns = ns(Vars::new().set("QUERY_HOST", Infra::refs().query.at(10).out().ip));
    let cfg = Cfg {
        t: Task::shell("true").role(Ns::refs().db),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
            .exclude(&Infra::refs().query),
    );
    assert_eq!(
        app_and_query(&p),
        ["web/app[0]", "web/app[1]", "web/app[2]"]
    );
    assert!(var(&p, "db", "QUERY_HOST").is_err());
    assert!(
        p.warnings.iter().any(|w| w.message.contains("QUERY_HOST")),
        "warnings: {:?}",
        p.warnings
    );
}

#[test]
fn excluding_a_role_host_is_reported_naming_the_host() {
    let infra = infra();
    let ns = ns(Vars::new());
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .exclude(&Infra::refs().app.at(1)),
    );
    let d = diag_of(&e, DiagKind::NoHost);
    assert_eq!(
        (d.model.as_str(), d.path.to_string().as_str()),
        ("ns", "app[1]")
    );
    assert!(
        d.message.contains("app[1]") && d.message.contains("excluded"),
        "{d}"
    );
}

#[test]
fn excluding_a_resource_another_resource_needs_is_reported() {
    let infra = infra();
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .exclude(&Infra::refs().subnet),
    );
    let d: Vec<String> = crate::diags_of(&e, DiagKind::UnresolvedReference)
        .iter()
        .map(|d| d.path.to_string())
        .collect();
    assert_eq!(d, ["db", "extra"], "{e}");
    assert!(e.to_string().contains("excluded from provisioning"), "{e}");
}

#[test]
fn literal_and_templated_host_addresses_work_next_to_an_infra_model() {
    #[derive(Model)]
    struct Ns2 {
        fixed: Role,
        templated: Role,
        local: Role,
        on_fixed_host: Role,
    }
    #[derive(Model)]
    struct Hosts {
        bastion: FixedHost,
    }
    let infra = infra();
    let hosts = Hosts {
        bastion: FixedHost::new("192.0.2.7"),
    };
    let ns = Ns2 {
        fixed: Role::on("10.1.2.3"),
        templated: Role::on("!{NAME}.example.com").var("NAME", "web1"),
        local: Role::on(HostRef::local("/tmp/sandbox")),
        on_fixed_host: Role::on(Hosts::refs().bastion),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .infra("hosts", &hosts)
            .namespace("ns", &ns),
    );
    assert_eq!(
        role(&p, "fixed").host,
        PlannedHost::Address("10.1.2.3".into())
    );
    assert_eq!(
        role(&p, "templated").host,
        PlannedHost::Address("web1.example.com".into())
    );
    assert_eq!(
        role(&p, "templated").host_template.as_deref(),
        Some("!{NAME}.example.com")
    );
    assert_eq!(
        role(&p, "local").host,
        PlannedHost::Local("/tmp/sandbox".into())
    );
    assert_eq!(
        role(&p, "on_fixed_host").host,
        PlannedHost::Resource {
            resource: res(&p, "hosts/bastion").id,
            output: "ip".into()
        }
    );
    // nothing in the namespace refers to the app multi: no app servers
    assert_eq!(app_and_query(&p), Vec::<String>::new());
    assert_eq!(
        resource_set(&p),
        set(&[
            "web/net",
            "web/subnet",
            "web/db",
            "web/extra",
            "hosts/bastion"
        ])
    );
}

#[test]
fn a_templated_host_using_an_infra_output_keeps_its_template_for_after_provisioning() {
    #[derive(Model)]
    struct Ns2 {
        r: Role,
        vars: Vars,
    }
    let infra = infra();
    let ns = Ns2 {
        r: Role::on("!{QUERY_IP}"),
        vars: Vars::new().set("QUERY_IP", Infra::refs().query.at(1).out().ip),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert!(resource_set(&p).contains("web/query[1]"));
    let r = role(&p, "r");
    let tpl = r.host_template.clone().unwrap();
    assert_eq!(tpl, "!{QUERY_IP}");
    let outs = crate::Provisioned::new(&p).out("web/query[1]", "ip", "10.0.1.77");
    assert_eq!(p.expand(r.id, &tpl, &outs).unwrap().text, "10.0.1.77");
}
