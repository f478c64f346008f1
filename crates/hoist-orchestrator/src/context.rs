//! [`RunCx`]: the narrow view of an orchestration that a run's phases work with.

use std::sync::Arc;

use hoist_exec::Connector;
use hoist_provider::{CloudIdentity, Provisioner};

use crate::cancel::Cancel;
use crate::digest::Digester;
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
    /// The run's id: part of the token of every object the run creates, so that no two
    /// creations of one resource share a token.
    pub(crate) run_id: Arc<str>,
    /// The key that digests the secret inputs of recorded specs.
    pub(crate) digester: Arc<std::sync::Mutex<Digester>>,
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

    /// `spec` of resource `key` as recorded: secret values as keyed digests.
    pub(crate) fn recorded_spec(
        &self,
        key: &str,
        spec: &serde_json::Value,
        secrets: &[hoist_core::Secret],
    ) -> Result<serde_json::Value, String> {
        let mut d = self
            .digester
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::digest::digest_secrets(spec, secrets, &mut d, &self.system, key)
    }

    /// The identity proxy `name` reported at the start of the run.
    pub(crate) fn identity(&self, name: &str) -> Option<CloudIdentity> {
        self.identities.get(name).cloned()
    }
}
