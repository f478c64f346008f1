// A subnet belongs to a network, not to a server.
extern crate hoist_core as hoist;
use hoist_core::{Model, Server, Subnet};

#[derive(Model)]
struct Infra {
    db: Server,
}

fn main() {
    let _ = Subnet::new(Infra::refs().db, "10.0.1.0/24");
}
