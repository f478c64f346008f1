//! [`RunCx`]: the narrow view of an orchestration that a run's phases work with.

use std::sync::Arc;

use hoist_exec::Connector;
use hoist_provider::{CloudIdentity, Provisioner};

use crate::cancel::Cancel;
use crate::error::OrchestrationError;
use crate::events::Emitter;
use crate::identity::Identities;
use crate::options::Options;

/// What the phases of one run need: the system's name, the proxies and connectors, the
/// options, the cancellation and the event emitter. Cheap to clone, so workers take their own
/// copy; the state and its journal are not part of it (only the scheduler loop writes state).
#[derive(Clone)]
pub(crate) struct RunCx {
    pub(crate) system: Arc<str>,
    pub(crate) proxies: Arc<[Arc<dyn Provisioner>]>,
    pub(crate) connectors: Arc<[Arc<dyn Connector>]>,
    pub(crate) opts: Arc<Options>,
    pub(crate) cancel: Cancel,
    pub(crate) em: Emitter,
    /// The identity of each proxy the run uses, checked against the state before the run
    /// touched anything.
    pub(crate) identities: Arc<Identities>,
}

impl RunCx {
    /// The proxy named `name`.
    pub(crate) fn proxy(&self, name: &str) -> Result<Arc<dyn Provisioner>, OrchestrationError> {
        self.proxies
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .ok_or_else(|| OrchestrationError::Setup(format!("no proxy named `{name}`")))
    }

    /// The identity proxy `name` reported at the start of the run.
    pub(crate) fn identity(&self, name: &str) -> Option<CloudIdentity> {
        self.identities.get(name).cloned()
    }
}
