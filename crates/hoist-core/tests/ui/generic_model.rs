// Models are plain structs; generics are refused with a clear message.
extern crate hoist_core as hoist;
use hoist_core::Model;

#[derive(Model)]
struct Infra<T> {
    x: T,
}

fn main() {}
