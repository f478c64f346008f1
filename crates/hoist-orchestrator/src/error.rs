//! Why a run could not be carried out at all.

use hoist_core::PlanError;
use hoist_provider::{CloudIdentity, ProvisionError};
use hoist_state::StateError;

/// A run could not be carried out at all. (A run that starts and fails part-way returns a
/// [`Report`](crate::Report) with `success == false` instead.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestrationError {
    /// The models have mistakes; nothing was provisioned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The recorded state names a provider that was not given.
    #[error(
        "the recorded state of `{system}` has resources of provider `{provider}` (e.g. `{example}`), but no proxy named `{provider}` was given"
    )]
    MissingProvider {
        /// System.
        system: String,
        /// Provider name.
        provider: String,
        /// A resource key.
        example: String,
    },
    /// A proxy talks to another cloud (account, region, store) than the one recorded
    /// resources were made in: the run refused to touch anything.
    #[error(
        "proxy `{provider}` talks to {got}, but {} recorded resource{} of system `{system}` {} made in {expected} ({}): refusing to touch {}. \
         Give a proxy for the cloud the state was made in (the same account, region or store); \
         if those objects are gone for good, remove them from the state with `hoist state rm`",
        .resources.len(),
        if .resources.len() == 1 { "" } else { "s" },
        if .resources.len() == 1 { "was" } else { "were" },
        crate::report::list_some(.resources, 3),
        if .resources.len() == 1 { "it" } else { "them" },
    )]
    IdentityMismatch {
        /// System.
        system: String,
        /// The proxy's name.
        provider: String,
        /// The identity the resources were recorded with.
        expected: Box<CloudIdentity>,
        /// The identity the proxy reports now.
        got: Box<CloudIdentity>,
        /// The keys of the resources recorded with `expected`.
        resources: Vec<String>,
    },
    /// A proxy could not say which cloud it talks to, so the run could not check that it is
    /// the one the state was made in.
    #[error(
        "cannot tell which cloud proxy `{provider}` talks to, so system `{system}` was not touched: {error}"
    )]
    Identity {
        /// System.
        system: String,
        /// The proxy's name.
        provider: String,
        /// Why.
        error: ProvisionError,
    },
    /// The run would delete or replace protected resources: nothing was touched.
    #[error(
        "protected resource{} {}: {detail}",
        if .resources.len() == 1 { "" } else { "s" },
        crate::report::list_some(.resources, 5),
    )]
    Protected {
        /// Their keys.
        resources: Vec<String>,
        /// What the run would have done, and how to go on.
        detail: String,
    },
    /// The diff cannot be applied (a protected resource to replace or delete, replacement
    /// orders that contradict each other): nothing was touched.
    #[error("the plan cannot be applied:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
    /// The orchestration was built wrongly.
    #[error("{0}")]
    Setup(String),
}
