//! Lazy multi components: children exist only when declared or referred to; keys, short
//! names (`<field>_<key>`) and long names (`<model>.<path>.<name>`, repeats collapsed).

use hoist::*;

use crate::{diag_of, errors_of, plan_of, res, resource_keys, resource_set, role, role_keys, set};

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    grid: Multi<Server>,
}

fn server() -> Server {
    Server::new("debian-12", "small", Infra::refs().subnet)
}

impl Infra {
    fn with(grid: Multi<Server>) -> Self {
        let r = Infra::refs();
        Infra {
            net: Network::new("10.0.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
            grid,
        }
    }
}

fn grid_keys(p: &Plan) -> Vec<String> {
    resource_keys(p)
        .into_iter()
        .filter(|k| k.starts_with("web/grid"))
        .collect()
}

#[test]
fn a_multi_with_no_keys_provisions_nothing() {
    let infra = Infra::with(Multi::new(server()));
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(resource_keys(&p), ["web/net", "web/subnet"]);
}

#[test]
fn declared_keys_make_exactly_those_children() {
    let infra = Infra::with(Multi::new(server()).keys(0..3));
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(grid_keys(&p), ["web/grid[0]", "web/grid[1]", "web/grid[2]"]);
}

#[test]
fn referring_to_a_key_from_a_role_makes_exactly_that_child_exist() {
    #[derive(Model)]
    struct Ns {
        r: Role,
    }
    let infra = Infra::with(Multi::new(server()));
    let ns = Ns {
        r: Role::on(Infra::refs().grid.at(3)),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(grid_keys(&p), ["web/grid[3]"]);
    assert_eq!(
        role(&p, "r").host,
        PlannedHost::Resource {
            resource: res(&p, "web/grid[3]").id,
            output: "ip".into()
        }
    );
}

#[test]
fn referring_to_a_key_from_a_variable_makes_exactly_that_child_exist() {
    #[derive(Model)]
    struct Ns {
        vars: Vars,
    }
    let infra = Infra::with(Multi::new(server()));
    let ns = Ns {
        vars: Vars::new().set("GRID3", Infra::refs().grid.at(3).out().ip),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(grid_keys(&p), ["web/grid[3]"]);
}

#[test]
fn referring_to_a_key_from_another_resource_makes_that_child_exist() {
    #[derive(Model)]
    struct I2 {
        net: Network,
        subnet: Subnet,
        grid: Multi<Server>,
        ip: PublicIp,
    }
    let r = I2::refs();
    let infra = I2 {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        grid: Multi::new(Server::new("debian-12", "small", r.subnet.clone())),
        ip: PublicIp::new(r.grid.at(5)),
    };
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(
        resource_set(&p),
        set(&["web/net", "web/subnet", "web/grid[5]", "web/ip"])
    );
    assert_eq!(res(&p, "web/ip").deps, vec![res(&p, "web/grid[5]").id]);
}

#[test]
fn declared_and_referred_keys_combine_without_duplicates_when_keys_are_open() {
    #[derive(Model)]
    struct Ns {
        a: Role,
        b: Role,
    }
    let infra = Infra::with(Multi::new(server()).keys(0..2).open_keys());
    let r = Infra::refs();
    let ns = Ns {
        a: Role::on(r.grid.at(1)),
        b: Role::on(r.grid.at(7)),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(grid_keys(&p), ["web/grid[0]", "web/grid[1]", "web/grid[7]"]);
}

#[test]
fn a_reference_to_a_key_a_multi_does_not_declare_is_an_error() {
    #[derive(Model)]
    struct Ns {
        b: Role,
    }
    let infra = Infra::with(Multi::new(server()).keys(0..3));
    let ns = Ns {
        b: Role::on(Infra::refs().grid.at(7)),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    let d = diag_of(&e, DiagKind::UnresolvedReference);
    assert_eq!(d.path.to_string(), "b");
    assert!(
        d.message.contains("`web/grid[7]`")
            && d.message.contains("0, 1, 2")
            && d.message.contains(".open_keys()"),
        "{d}"
    );
}

#[test]
fn string_keys_work_and_integer_keys_sort_numerically_before_strings() {
    let infra = Infra::with(Multi::new(server()).keys(["us", "eu"]).keys([10, 2]));
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(
        grid_keys(&p),
        [
            "web/grid[2]",
            "web/grid[10]",
            "web/grid[eu]",
            "web/grid[us]"
        ]
    );
    assert_eq!(res(&p, "web/grid[eu]").short_name, "grid_eu");
    assert_eq!(res(&p, "web/grid[10]").short_name, "grid_10");
}

#[test]
fn from_fn_builds_each_child_from_its_key() {
    let infra = Infra::with(
        Multi::from_fn(|k| {
            Server::new(
                "debian-12",
                format!("size-{k}").as_str(),
                Infra::refs().subnet,
            )
        })
        .keys(["s", "m"]),
    );
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(res(&p, "web/grid[s]").spec["size"], "size-s");
    assert_eq!(res(&p, "web/grid[m]").spec["size"], "size-m");
}

#[test]
fn children_are_addressed_by_key_and_keep_actuators_short_names() {
    let infra = Infra::with(Multi::new(server()).keys([3]));
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    let g = res(&p, "web/grid[3]");
    assert_eq!(g.short_name, "grid_3");
    assert_eq!(g.address().to_string(), "web/grid[3]");
    assert_eq!(res(&p, "web/net").short_name, "net");
    assert_eq!(res(&p, "web/net").key(), "web/net");
}

#[derive(Model)]
struct Racks {
    net: Network,
    subnet: Subnet,
    racks: Multi<Rack>,
    lb: Lb,
}

#[derive(Model, Clone)]
struct Rack {
    switch: Server,
    nodes: Multi<Server>,
}

#[derive(Model)]
struct Lb {
    lb: Server,
}

fn rack_server() -> Server {
    Server::new("debian-12", "small", Racks::refs().subnet)
}

#[test]
fn nested_multi_of_groups_with_keys_at_two_levels() {
    let r = Racks::refs();
    let infra = Racks {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        racks: Multi::new(Rack {
            switch: rack_server(),
            nodes: Multi::new(rack_server()).keys(0..2),
        })
        .keys(["a", "b"]),
        lb: Lb { lb: rack_server() },
    };
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(
        resource_set(&p),
        set(&[
            "web/net",
            "web/subnet",
            "web/lb.lb",
            "web/racks[a].switch",
            "web/racks[a].nodes[0]",
            "web/racks[a].nodes[1]",
            "web/racks[b].switch",
            "web/racks[b].nodes[0]",
            "web/racks[b].nodes[1]",
        ])
    );
    let n = res(&p, "web/racks[b].nodes[1]");
    assert_eq!(n.short_name, "nodes_1");
    assert_eq!(n.key(), "web/racks[b].nodes[1]");
}

#[test]
fn referring_into_a_nested_multi_makes_only_the_path_to_it_exist() {
    #[derive(Model)]
    struct Ns {
        n: Role,
    }
    let r = Racks::refs();
    let infra = Racks {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        racks: Multi::new(Rack {
            switch: rack_server(),
            nodes: Multi::new(rack_server()),
        }),
        lb: Lb { lb: rack_server() },
    };
    let ns = Ns {
        n: Role::on(r.racks.at("c").nodes.at(9)),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    // the rack group exists (its plain members with it), and of its nodes only node 9
    let racks: Vec<String> = resource_keys(&p)
        .into_iter()
        .filter(|k| k.starts_with("web/racks"))
        .collect();
    assert_eq!(racks, ["web/racks[c].nodes[9]", "web/racks[c].switch"]);
}

#[test]
fn multi_roles_are_lazy_too_and_named_field_underscore_key() {
    #[derive(Model)]
    struct Ns {
        app: Multi<Role>,
        idle: Multi<Role>,
    }
    let ns = Ns {
        app: Multi::new(Role::on("10.0.0.1")).keys(["eu", "us"]),
        idle: Multi::new(Role::on("10.0.0.2")),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(role_keys(&p), ["ns/app[eu]", "ns/app[us]"]);
    assert_eq!(role(&p, "app[eu]").name, "app_eu");
}

#[test]
fn addresses_stay_distinct_when_a_group_repeats_the_model_name() {
    #[derive(Model)]
    struct Web {
        net: Network,
        web: Nets,
    }
    #[derive(Model)]
    struct Nets {
        net: Network,
    }
    let infra = Web {
        net: Network::new("10.0.0.0/16"),
        web: Nets {
            net: Network::new("10.1.0.0/16"),
        },
    };
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    assert_eq!(res(&p, "web/net").key(), "web/net");
    assert_eq!(res(&p, "web/web.net").key(), "web/web.net");
}
