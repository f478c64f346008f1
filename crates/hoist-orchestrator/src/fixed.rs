//! The built-in proxy for fixed hosts (existing servers by address): provisioning is a no-op
//! that records the address.

use async_trait::async_trait;
use hoist_provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, HostEndpoint,
    OutputMap, ProvisionError, Provisioner,
};

/// Handles `core.fixed_host` resources. Always present in an orchestration.
pub struct FixedHostProxy;

/// The name of the built-in fixed-host proxy.
pub const FIXED_PROXY: &str = "fixed";

#[async_trait]
impl Provisioner for FixedHostProxy {
    fn name(&self) -> &str {
        FIXED_PROXY
    }
    fn supports(&self, kind: &str) -> bool {
        kind == "core.fixed_host"
    }
    /// Fixed hosts are where their addresses say: one identity for all.
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        Ok(CloudIdentity::new(FIXED_PROXY, "hosts"))
    }
    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError> {
        let addr = req
            .spec
            .get("address")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ProvisionError::new(ErrorKind::InvalidSpec, "fixed host without an address")
            })?;
        Ok(Created {
            id: addr.to_string(),
            outputs: [
                ("ip".to_string(), serde_json::json!(addr)),
                ("cidr4".to_string(), serde_json::json!(format!("{addr}/32"))),
            ]
            .into(),
        })
    }
    /// Releasing a fixed host deletes nothing; the host is still there, and counts as
    /// deleted from the system.
    async fn delete(&self, _req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        Ok(Deleted::Deleted)
    }
    /// A `local:<dir>` address is a local sandbox host, as it is for a role's literal address;
    /// any other address is reached over the network.
    fn endpoint(&self, _kind: &str, outputs: &OutputMap) -> Option<HostEndpoint> {
        let dir = outputs.get("ip")?.as_str()?.strip_prefix("local:")?;
        Some(HostEndpoint::Local { dir: dir.into() })
    }
}
