//! The vocabulary of hoist: models as Rust types, typed references between them, namespaces
//! and variables, config tasks and their dependency algebra, and planning.
//!
//! This crate does no I/O and knows no cloud. The orchestrator (`hoist-orchestrator`) runs a
//! [`Plan`] against provisioner proxies and transports; users normally depend on the `hoist`
//! facade, which re-exports everything here.
//!
//! ```
//! # extern crate hoist_core as hoist;
//! use hoist_core::*;
//!
//! #[derive(Model)]
//! struct Infra { net: Network, subnet: Subnet, app: Multi<Server> }
//!
//! impl Infra {
//!     fn new() -> Self {
//!         let r = Infra::refs();
//!         Infra {
//!             net: Network::new("10.0.0.0/16"),
//!             subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
//!             app: Multi::new(Server::new("debian-12", "small", r.subnet.clone())),
//!         }
//!     }
//! }
//!
//! #[derive(Model)]
//! struct Ns { app: Multi<Role> }
//!
//! let infra = Infra::new();
//! // two app roles, each on "the infra server with my key"
//! let ns = Ns { app: Multi::new(Role::on(Infra::refs().app.mine())).keys(0..2) };
//! let plan = plan(&PlanInput::new("demo").infra("web", &infra).namespace("ns", &ns)).unwrap();
//! // the namespace made exactly app[0] and app[1] exist
//! assert_eq!(plan.resources.len(), 4);
//! ```
//! # extern crate hoist_core as hoist;

#[allow(
    unused_extern_crates,
    reason = "lets #[derive(Model)], which names `::hoist`, work inside this crate"
)]
extern crate self as hoist;

pub mod address;
pub mod component;
pub mod config;
pub mod error;
pub mod graph;
pub mod lifecycle;
pub mod namespace;
pub mod path;
pub mod plan;
pub mod reference;
pub mod resource;
pub mod secret;
pub mod select;
pub mod template;

pub use address::{Address, AddressError, AddressPattern};
pub use component::{Component, Multi, Visit, Visitor};
pub use config::{
    Action, ChangedWhen, CopySource, Credentials, DepExpr, Deps, Growth, MultiTask, RetryPolicy,
    RunWhen, Task, TaskDefaults, dep, group,
};
pub use error::{DiagKind, Diagnostic, PlanError};
pub use hoist_derive::Model;
pub use lifecycle::{Lifecycle, Manage, Managed, ReplaceMode};
pub use namespace::{Connection, HostRef, Role, Var, VarValue, Vars};
pub use path::{Key, ModelPath, SourceLoc};
pub use plan::{
    Expanded, LocalFiles, ModelKind, Outputs, Plan, PlanInput, PlannedHost, PlannedResource,
    PlannedRole, PlannedTask, ProviderCatalog, ResourceId, RoleId, TaskId, VarError, VisibleVar,
    plan,
};
pub use reference::{HasRefPath, MultiRef, Out, OutAny, Ref, RefPath, Val};
pub use resource::{
    Addressable, FixedHost, Network, PublicIp, Resource, Rule, SecurityGroup, Server, Subnet,
};
pub use secret::Secret;
pub use select::Selection;

/// A struct of components that can be given to an orchestration as a model (implemented by
/// `#[derive(Model)]`). Groups are models too: any model can be nested in another.
pub trait Model: Component {}
