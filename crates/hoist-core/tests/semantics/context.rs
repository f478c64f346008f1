//! Sibling and context references: a group written once refers to its own siblings wherever
//! it is placed; `mine()` / `mine_up(n)` pick the child with the referring component's key.

use hoist::*;

use crate::{edge_set, edges, plan_of, res, resource_set, role, set};

#[derive(Model, Clone)]
struct Cell {
    server: Server,
    ip: PublicIp,
}

impl Cell {
    fn new(subnet: Ref<Subnet>) -> Self {
        Cell {
            server: Server::new("debian-12", "small", subnet),
            ip: PublicIp::new(Cell::siblings().server),
        }
    }
}

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    east: Cell,
    west: Cell,
    cells: Multi<Cell>,
}

#[test]
fn a_group_written_once_refers_to_its_own_sibling_in_each_place() {
    let r = Infra::refs();
    let infra = Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        east: Cell::new(r.subnet.clone()),
        west: Cell::new(r.subnet.clone()),
        cells: Multi::new(Cell::new(r.subnet.clone())).keys([1, 2]),
    };
    let p = plan_of(PlanInput::new("t").infra("web", &infra));
    for g in ["east", "west", "cells[1]", "cells[2]"] {
        let ip = res(&p, &format!("web/{g}.ip"));
        let server = res(&p, &format!("web/{g}.server"));
        assert_eq!(ip.deps, vec![server.id], "{g}.ip depends on its own server");
        assert_eq!(ip.refs.len(), 1);
        assert_eq!(
            ip.refs[0].target, server.id,
            "{g}.ip refers to its own server"
        );
    }
}

#[derive(Model, Clone)]
struct Deploy {
    install: Task,
    start: Task,
    deps: Deps,
}

impl Deploy {
    fn new(role: Ref<Role>) -> Self {
        let s = Deploy::siblings();
        Deploy {
            install: Task::shell("apt-get install -y app").role(role.clone()),
            start: Task::shell("systemctl start app").role(role),
            deps: Deps::new([s.install | s.start]),
        }
    }
}

#[derive(Model)]
struct Ns {
    web: Role,
}

#[derive(Model)]
struct Cfg {
    blue: Deploy,
    green: Deploy,
}

#[test]
fn a_config_group_written_once_orders_its_own_tasks_in_each_place() {
    let ns = Ns {
        web: Role::on("10.0.0.1"),
    };
    let cfg = Cfg {
        blue: Deploy::new(Ns::refs().web),
        green: Deploy::new(Ns::refs().web),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(
        edges(&p),
        edge_set(&[
            ("blue.install", "blue.start"),
            ("green.install", "green.start")
        ])
    );
}

#[derive(Model)]
struct RackInfra {
    net: Network,
    subnet: Subnet,
    racks: Multi<Rack>,
}

#[derive(Model, Clone)]
struct Rack {
    switch: Server,
    nodes: Multi<Server>,
}

#[derive(Model, Clone)]
struct NsCell {
    foreman: Role,
    workers: Multi<Role>,
}

#[derive(Model)]
struct GridNs {
    grid: Multi<NsCell>,
}

fn rack_infra() -> RackInfra {
    let r = RackInfra::refs();
    let s = || Server::new("debian-12", "small", r.subnet.clone());
    RackInfra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        racks: Multi::new(Rack {
            switch: s(),
            nodes: Multi::new(s()),
        }),
    }
}

#[test]
fn mine_and_mine_up_pick_the_infra_children_matching_the_role_keys() {
    let infra = rack_infra();
    let racks = RackInfra::refs().racks;
    let ns = GridNs {
        grid: Multi::new(NsCell {
            // `grid[k].foreman` runs on `racks[k].switch`
            foreman: Role::on(racks.mine().switch),
            // `grid[k].workers[n]` runs on `racks[k].nodes[n]`
            workers: Multi::new(Role::on(racks.mine_up(1).nodes.mine())).keys(0..2),
        })
        .keys(["a", "b"]),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert_eq!(
        resource_set(&p),
        set(&[
            "web/net",
            "web/subnet",
            "web/racks[a].switch",
            "web/racks[a].nodes[0]",
            "web/racks[a].nodes[1]",
            "web/racks[b].switch",
            "web/racks[b].nodes[0]",
            "web/racks[b].nodes[1]",
        ])
    );
    for k in ["a", "b"] {
        assert_eq!(
            role(&p, &format!("grid[{k}].foreman")).host,
            PlannedHost::Resource {
                resource: res(&p, &format!("web/racks[{k}].switch")).id,
                output: "ip".into()
            }
        );
        for n in 0..2 {
            assert_eq!(
                role(&p, &format!("grid[{k}].workers[{n}]")).host,
                PlannedHost::Resource {
                    resource: res(&p, &format!("web/racks[{k}].nodes[{n}]")).id,
                    output: "ip".into()
                }
            );
        }
    }
}

#[test]
fn mine_in_a_role_variable_uses_the_role_key() {
    #[derive(Model)]
    struct Ns2 {
        app: Multi<Role>,
    }
    let infra = rack_infra();
    let racks = RackInfra::refs().racks;
    let ns = Ns2 {
        app: Multi::new(Role::on("127.0.0.1").var("SWITCH_IP", racks.mine().switch.out().ip))
            .keys([4]),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert!(resource_set(&p).contains("web/racks[4].switch"));
    assert_eq!(
        crate::var(&p, "app[4]", "SWITCH_IP").unwrap(),
        "<known after provisioning: web/racks[4].switch:ip>"
    );
}
