//! Why a run could not be carried out at all.

use hoist_core::PlanError;
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
    /// The orchestration was built wrongly.
    #[error("{0}")]
    Setup(String),
}
