//! Connectors: how the orchestrator obtains a transport for a host reached by address.

use std::sync::Arc;

use async_trait::async_trait;
use hoist_core::Credentials;

use crate::Transport;

/// A host to connect to over the network.
#[derive(Clone, Debug)]
pub struct HostTarget {
    /// Address (name or IP).
    pub address: String,
    /// Port, if not the default.
    pub port: Option<u16>,
    /// Login credentials resolved for the task.
    pub creds: Credentials,
    /// A jump host (bastion) to go through: `[user@]host[:port]`.
    pub jump: Option<String>,
}

/// What kind of failure a [`ConnectError`] is: what decides whether trying again may help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The host could not be reached or did not answer in time (down, booting, a network
    /// problem): worth trying again.
    Unreachable,
    /// The host's key is not the one recorded for it (changed, unknown, revoked): never tried
    /// again, whatever the cause.
    HostKey,
    /// The host refused every login: tried again only while a server created in this run may
    /// still be installing its keys (cloud-init does that late).
    Refused,
    /// A setting is unusable (a key file, a jump host): never tried again.
    Config,
}

/// Connecting to a host failed.
///
/// ```
/// use hoist_exec::{ConnectError, ConnectFailure};
/// let e = ConnectError::new(ConnectFailure::Refused, "authentication failed for root@10.0.0.1:22");
/// assert_eq!(e.to_string(), "authentication failed for root@10.0.0.1:22");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// What kind of failure.
    pub failure: ConnectFailure,
    /// What happened, naming the host.
    pub message: String,
}

impl ConnectError {
    /// A failure of `kind`.
    pub fn new(failure: ConnectFailure, message: impl Into<String>) -> Self {
        ConnectError {
            failure,
            message: message.into(),
        }
    }
}

/// Opens transports to hosts reached by address (SSH is one). Connectors are asked in the
/// order they were added; the first that answers `Some` wins.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A transport to `target`, `Ok(None)` if this connector does not handle it, or the
    /// failure, naming the host.
    async fn connect(
        &self,
        target: &HostTarget,
    ) -> Result<Option<Arc<dyn Transport>>, ConnectError>;
}
