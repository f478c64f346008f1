//! The `Orchestration`: joins infra, namespace and config models, plans them, drives the
//! provisioner proxies, runs the config tasks on the hosts, and tears everything down again.
//!
//! ```no_run
//! # use hoist_orchestrator::Orchestration;
//! # async fn f(sim: std::sync::Arc<dyn hoist_provider::Provisioner>) -> Result<(), Box<dyn std::error::Error>> {
//! # #[derive(hoist_core::Model)] #[hoist(crate = "hoist_core")] struct Infra { }
//! let orch = Orchestration::builder("demo").infra("web", Infra {}).provisioner(sim).build()?;
//! println!("{}", orch.plan()?);
//! let report = orch.initiate_system().await?;
//! println!("{report}");
//! orch.teardown_system().await?;
//! # Ok(()) }
//! ```
//!
//! # How a run goes
//!
//! 1. **Plan** ([`Orchestration::plan`]): pure; every modelling mistake is reported before any
//!    provider is called.
//! 2. **Provision**: the run takes the system's lock (one writer per system; a lease renewed
//!    by a heartbeat) and records itself in the run history. Resources are created in
//!    dependency order, in parallel within a global limit and per-provider limits. Before each
//!    create the scheduler journals the intent and a deterministic idempotency token in the
//!    state store (one durable write, fenced by the lock); after it, the provider id and
//!    outputs. A resource recorded as created is not created again (resume); one whose create
//!    was interrupted is looked up by its token and adopted
//!    ([`Orchestration::recover_system`] does that for all of them at once).
//! 3. **Readiness**: every host that tasks will run on is connected to and pinged, with
//!    bounded retries (instead of a fixed pause).
//! 4. **Configure**: tasks in dependency order, in parallel within the global limit and a
//!    per-host limit, each with its retry policy; succeeded tasks are recorded with a
//!    fingerprint of what they did, and run again only when that changes.
//! 5. **Teardown** ([`Orchestration::teardown_system`]): from the recorded state alone, in
//!    reverse dependency order.
//!
//! Only the scheduler (the loop in this crate) writes state. Events go to subscribers through
//! a channel, so a slow subscriber never blocks the scheduler.

mod cancel;
mod configure;
mod context;
mod dag;
mod day2;
mod diff;
mod digest;
mod drift;
mod error;
mod events;
mod fingerprint;
mod fixed;
mod hosts;
mod identity;
mod journal;
mod legacy;
mod options;
mod orchestration;
mod provision;
mod recover;
mod report;
mod retry;
mod store;
mod target;
mod task_plan;
mod teardown;

pub use cancel::CancelHandle;
pub use diff::{Diff, DiffAction, FieldChange, ResourceDiff, TaskDiff, TaskReason};
pub use digest::{STATE_KEY_ENV, STATE_KEY_FILE};
pub use drift::{Drift, Found, OutputDrift, ResourceDrift};
pub use error::OrchestrationError;
pub use events::{Event, EventKind, EventSink, Phase, ResourceAction};
pub use fixed::{FIXED_PROXY, FixedHostProxy};
pub use hoist_exec::{Connector, HostTarget};
pub use options::Readiness;
pub use orchestration::{Orchestration, OrchestrationBuilder};
pub use report::{
    CapturedOutput, Report, ResourceOutcome, ResourceReport, TaskOutcome, TaskReport,
};
