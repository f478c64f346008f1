//! hoist: describe a whole system as Rust types (its cloud infrastructure, the names and roles
//! that govern it, and the configuration of its hosts), then stand it up, configure it and
//! tear it down with one [`Orchestration`].
//!
//! - **Infra model**: a struct of resources ([`Network`], [`Subnet`], [`Server`], …,
//!   [`Multi`] for keyed families) with `#[derive(Model)]`.
//! - **Namespace model**: a struct of [`Role`]s with [`Vars`]; a role's host is an infra
//!   reference, a fixed address or a `!{VAR}` string.
//! - **Config model**: a struct of [`Task`]s, [`MultiTask`]s and nested config structs, with
//!   [`Deps`] (`a | b`, `a & b`).
//!
//! References between them are typed ([`Ref`], [`MultiRef`], [`Out`]): a wrong kind or field is
//! a compile error, and everything else is checked by [`Orchestration::plan`] before any cloud
//! call.
//!
//! ```
//! use hoist::*;
//!
//! #[derive(Model)]
//! struct Infra { net: Network, subnet: Subnet, web: Server }
//! #[derive(Model)]
//! struct Ns { web: Role }
//! #[derive(Model)]
//! struct Cfg { hello: Task }
//!
//! let i = Infra::refs();
//! let infra = Infra {
//!     net: Network::new("10.0.0.0/16"),
//!     subnet: Subnet::new(i.net.clone(), "10.0.1.0/24"),
//!     web: Server::new("debian-12", "small", i.subnet.clone()),
//! };
//! let ns = Ns { web: Role::on(i.web.clone()).var("GREETING", "hello") };
//! let cfg = Cfg { hello: Task::shell("echo !{GREETING} > hello.txt").role(Ns::refs().web) };
//!
//! let orch = Orchestration::builder("hello")
//!     .infra("infra", infra)
//!     .namespace("ns", ns)
//!     .config("cfg", cfg)
//!     .provisioner(std::sync::Arc::new(sim::SimCloud::builder().build()))
//!     // By default the state is kept in `.hoist/state.db`; this example keeps it in memory.
//!     .state_in_memory()
//!     .build()
//!     .unwrap();
//! let report = orch.initiate_system_blocking().unwrap();
//! assert!(report.success, "{report}");
//! assert!(orch.teardown_system_blocking().unwrap().success);
//! ```

/// For provider and connector authors: the trait objects hoist holds are
/// `#[async_trait]` traits ([`provider::Provisioner`], [`Connector`]).
pub use async_trait::async_trait;
pub use hoist_core::*;
pub use hoist_orchestrator::{
    CancelHandle, CapturedOutput, Connector, Diff, DiffAction, Drift, Event, EventKind, EventSink,
    FIXED_PROXY, FieldChange, FixedHostProxy, Found, HostTarget, Orchestration,
    OrchestrationBuilder, OrchestrationError, OutputDrift, Phase, Readiness, Report,
    ResourceAction, ResourceDiff, ResourceDrift, ResourceOutcome, ResourceReport, STATE_KEY_ENV,
    STATE_KEY_FILE, TaskDiff, TaskOutcome, TaskReason, TaskReport,
};

/// The provisioner proxy trait and its types, for provider authors.
pub mod provider {
    pub use hoist_provider::*;
}

/// Transports and the task runner.
pub mod exec {
    pub use hoist_exec::*;
}

/// Recorded state and state stores.
pub mod state {
    pub use hoist_state::*;
}

/// The built-in simulated cloud.
#[cfg(feature = "sim")]
pub mod sim {
    pub use hoist_sim::*;
}

/// The SSH transport.
#[cfg(feature = "ssh")]
pub mod ssh {
    pub use hoist_ssh::*;
}

/// Importing hosts from Ansible inventories and `ssh_config`.
#[cfg(feature = "inventory")]
pub mod inventory {
    pub use hoist_inventory::*;
}

/// The AWS provider: [`aws::AwsCloud`] and the EC2 resource kinds (feature `aws`).
#[cfg(feature = "aws")]
pub mod aws {
    pub use hoist_aws::*;
}
