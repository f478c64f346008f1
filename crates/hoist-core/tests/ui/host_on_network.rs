// A role's host must be addressable: a network is not.
extern crate hoist_core as hoist;
use hoist_core::{Model, Network, Role};

#[derive(Model)]
struct Infra {
    net: Network,
}

fn main() {
    let _ = Role::on(Infra::refs().net);
}
