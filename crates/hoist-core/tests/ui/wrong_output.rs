// A server has no `cidr` output.
extern crate hoist_core as hoist;
use hoist_core::{Model, Server, Vars};

#[derive(Model)]
struct Infra {
    db: Server,
}

fn main() {
    let _ = Vars::new().set("X", Infra::refs().db.out().cidr);
}
