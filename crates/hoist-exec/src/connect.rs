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

/// Opens transports to hosts reached by address (SSH is one). Connectors are asked in the
/// order they were added; the first that answers `Some` wins.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A transport to `target`, `Ok(None)` if this connector does not handle it, or `Err` with
    /// a message naming the host if connecting failed.
    async fn connect(&self, target: &HostTarget) -> Result<Option<Arc<dyn Transport>>, String>;
}
