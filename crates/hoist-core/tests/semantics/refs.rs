//! Reference identity and paths: typed references built from `X::refs()` name components by
//! path; one path is one component, however many times it is referred to.

use hoist::reference::{Base, KeyExpr, RefSeg};
use hoist::*;

use crate::{NotYet, Provisioned, plan_of, res, resource_keys, role, var};

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    db: Server,
    web: Server,
    app: Multi<Server>,
    racks: Multi<Rack>,
}

#[derive(Model, Clone)]
struct Rack {
    switch: Server,
    nodes: Multi<Server>,
}

fn server() -> Server {
    Server::new("debian-12", "small", Infra::refs().subnet)
}

impl Infra {
    fn new() -> Self {
        let r = Infra::refs();
        Infra {
            net: Network::new("10.0.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
            db: server(),
            web: server(),
            app: Multi::new(server()),
            racks: Multi::new(Rack {
                switch: server(),
                nodes: Multi::new(server()),
            }),
        }
    }
}

#[derive(Model)]
struct Ns {
    db: Role,
    a: Role,
    b: Role,
    vars: Vars,
}

#[test]
fn refs_from_model_type_are_rooted_at_the_model_with_field_and_key_steps() {
    let r = Infra::refs();
    assert_eq!(r.db.ref_path().to_string(), "Infra.db");
    assert_eq!(r.db.ref_path(), &RefPath::model::<Infra>().field("db"));
    assert_eq!(r.db.ref_path().model_short_name(), Some("Infra"));
    assert!(
        matches!(&r.db.ref_path().base, Base::Model(n) if n.ends_with("::Infra")),
        "base is the full type name of the model"
    );

    assert_eq!(r.app.ref_path().to_string(), "Infra.app");
    assert_eq!(r.app.at(3).ref_path().to_string(), "Infra.app[3]");
    assert_eq!(
        r.app.at(3).ref_path(),
        &RefPath::model::<Infra>().field("app").key(3)
    );
    assert_eq!(r.app.at("eu").ref_path().to_string(), "Infra.app[eu]");
    assert_eq!(
        r.racks.at(2).nodes.at(5).ref_path().to_string(),
        "Infra.racks[2].nodes[5]"
    );
    assert!(
        r.racks.at(2).nodes.at(5).ref_path().segs.as_ref()
            == [
                RefSeg::Field("racks".into()),
                RefSeg::Key(KeyExpr::Lit(Key::from(2))),
                RefSeg::Field("nodes".into()),
                RefSeg::Key(KeyExpr::Lit(Key::from(5))),
            ]
    );
}

#[test]
fn integer_keys_are_stringified_so_at_3_and_at_str_3_are_the_same_reference() {
    let r = Infra::refs();
    assert_eq!(r.app.at(3), r.app.at("3"));
    assert_eq!(r.app.at(3u8), r.app.at(3i64));
    assert_ne!(r.app.at(3), r.app.at(4));
    assert_eq!(Key::from(3).as_str(), "3");
}

#[test]
fn contextual_refs_have_relative_paths() {
    let r = Infra::refs();
    assert_eq!(r.app.mine().ref_path().to_string(), "Infra.app[<my key>]");
    assert_eq!(
        r.racks.mine_up(1).nodes.mine().ref_path().to_string(),
        "Infra.racks[<my key+1>].nodes[<my key>]"
    );
    assert_eq!(
        Rack::siblings().switch.ref_path().to_string(),
        "<container>.switch"
    );
    assert!(Rack::siblings().switch.ref_path().base == Base::Container { up: 0 });
}

#[test]
fn output_refs_name_the_resource_and_the_field() {
    let ip = Infra::refs().db.out().ip;
    assert_eq!(ip.field(), "ip");
    assert_eq!(ip.ref_path().to_string(), "Infra.db");
    assert_eq!(format!("{:?}", ip.erase()), "Infra.db.ip");
}

#[test]
fn a_resource_referred_to_many_times_is_planned_once_and_every_ref_resolves_to_it() {
    let infra = Infra::new();
    let r = Infra::refs();
    let ns = Ns {
        db: Role::on(r.app.at(3)),
        a: Role::on(r.app.at(3)),
        b: Role::on(r.app.at("3")),
        vars: Vars::new()
            .set("APP_IP", r.app.at(3).out().ip)
            .set("DB_IP", r.db.out().ip),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    let app3 = res(&p, "web/app[3]").id;
    assert_eq!(
        resource_keys(&p)
            .iter()
            .filter(|k| k.starts_with("web/app"))
            .collect::<Vec<_>>(),
        ["web/app[3]"]
    );
    for rl in ["db", "a", "b"] {
        assert_eq!(
            role(&p, rl).host,
            PlannedHost::Resource {
                resource: app3,
                output: "ip".into()
            },
            "role {rl}"
        );
    }
    // db and web share one subnet: the same resource id in both dependency lists
    let subnet = res(&p, "web/subnet").id;
    assert_eq!(res(&p, "web/db").deps, vec![subnet]);
    assert_eq!(res(&p, "web/web").deps, vec![subnet]);
    assert_eq!(res(&p, "web/app[3]").deps, vec![subnet]);
    // the variable names the same resource
    assert_eq!(
        var(&p, "a", "APP_IP").unwrap(),
        "<known after provisioning: web/app[3]:ip>"
    );
}

#[test]
fn cross_model_refs_make_a_namespace_role_run_on_an_infra_server() {
    let infra = Infra::new();
    let r = Infra::refs();
    let ns = Ns {
        db: Role::on(r.db),
        a: Role::on(r.web.clone()),
        b: Role::new(),
        vars: Vars::new(),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(
        role(&p, "db").host,
        PlannedHost::Resource {
            resource: res(&p, "web/db").id,
            output: "ip".into()
        }
    );
    assert_eq!(
        role(&p, "a").host,
        PlannedHost::Resource {
            resource: res(&p, "web/web").id,
            output: "ip".into()
        }
    );
    assert_eq!(role(&p, "b").host, PlannedHost::None);
    assert_eq!(role(&p, "db").model, "ns");
}

#[test]
fn spec_refs_become_dependency_edges_and_resolve_to_provider_ids_and_outputs() {
    #[derive(Model)]
    struct I2 {
        net: Network,
        subnet: Subnet,
        db: Server,
        app: Server,
    }
    let r = I2::refs();
    let mut app = Server::new("debian-12", "small", r.subnet.clone());
    app.user_data = Some(r.db.out().private_ip.into());
    let infra = I2 {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        db: Server::new("debian-12", "small", r.subnet.clone()),
        app,
    };
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    let app = res(&p, "web/app");
    let (db, subnet) = (res(&p, "web/db").id, res(&p, "web/subnet").id);
    let mut deps = app.deps.clone();
    deps.sort();
    let mut want = vec![db, subnet];
    want.sort();
    assert_eq!(deps, want);
    let refs: Vec<(String, ResourceId, Option<String>)> = app
        .refs
        .iter()
        .map(|r| (r.pointer.clone(), r.target, r.field.clone()))
        .collect();
    assert!(refs.contains(&("/subnet".into(), subnet, None)), "{refs:?}");
    assert!(
        refs.contains(&("/user_data".into(), db, Some("private_ip".into()))),
        "{refs:?}"
    );

    // before provisioning, the spec cannot be resolved, and the error names what is missing
    let err = p.resolve_spec(app.id, &NotYet).unwrap_err();
    assert!(
        err.contains("web/subnet") || err.contains("web/db"),
        "{err}"
    );

    let outs = Provisioned::new(&p)
        .id("web/subnet", "subnet-1")
        .id("web/db", "i-db")
        .out("web/db", "private_ip", "10.0.1.5");
    let spec = p.resolve_spec(app.id, &outs).unwrap();
    assert_eq!(
        spec["subnet"],
        serde_json::json!({ "$ref": "web/subnet", "id": "subnet-1" })
    );
    assert_eq!(spec["user_data"], serde_json::json!("10.0.1.5"));
    assert_eq!(spec["image"], serde_json::json!("debian-12"));
}
