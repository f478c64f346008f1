//! The built-in simulated cloud: a [`Provisioner`](hoist_provider::Provisioner) that needs no
//! cloud account, used by the quick start and most tests.
//!
//! [`SimCloud`] provisions the provider-neutral kinds of `hoist-core` (`core.network`,
//! `core.subnet`, `core.security_group`, `core.server`, `core.public_ip`; fixed hosts are the
//! orchestrator's business) in memory, and behaves like a real cloud where it matters to the
//! orchestrator:
//!
//! - **Deterministic ids and addresses.** Ids count per kind: `net-0001`, `subnet-0001`,
//!   `sg-0001`, `srv-0001`, `pip-0001`. A subnet hands out private addresses from its CIDR
//!   lowest-free-first from `.4` (the first four and the broadcast address are reserved, as
//!   on AWS); a server's `ip` output is its `private_ip`. Public IPs come from the RFC 5737
//!   documentation ranges (`203.0.113.0/24`, then `198.51.100.0/24`, then `192.0.2.0/24`).
//!   None of these addresses is ever dialled.
//! - **Servers are real local sandboxes**: a directory per server, `<root>/srv-0001/`, holding a
//!   [`MARKER_FILE`] (and the user data, [`USER_DATA_FILE`]). Its path is the server's (and
//!   its public IP's) `sandbox` output, and
//!   [`endpoint`](hoist_provider::Provisioner::endpoint) returns
//!   [`HostEndpoint::Local`](hoist_provider::HostEndpoint::Local) for it. Deleting the server
//!   removes the directory.
//! - **References are checked**: a subnet of an unknown network, a server in an unknown subnet
//!   or with an unknown security group fail with [`ErrorKind::NotFound`]; a subnet outside its
//!   network's range or overlapping a sibling, a security group from another network, an
//!   unknown image or size fail with [`ErrorKind::InvalidSpec`].
//! - **Deletes are idempotent and ordered**: an unknown id is success, reported
//!   [`Deleted::Absent`](hoist_provider::Deleted::Absent); deleting an object that
//!   others still depend on (a network with subnets, a server with a public IP) fails with
//!   [`ErrorKind::DependencyViolation`].
//! - **Idempotency tokens**: a create with a token already used returns the object created
//!   with it (like EC2's `ClientToken`), and [`find`](hoist_provider::Provisioner::find) looks
//!   an object up by token, so an interrupted run's objects are adopted, never duplicated.
//! - **Latency and failure injection**: a per-call latency ([`SimCloudBuilder::latency`]), and
//!   [`Faults`] to fail chosen calls once or always, throttle, or "crash" after the work is done.
//! - **Persistence** (optional): with [`SimCloudBuilder::persist`] the objects live in a JSON
//!   file, reloaded and written back atomically under an exclusive file lock on every call, so
//!   several processes (and one killed with `kill -9` at any instant) share one cloud. The
//!   `hoist` binary and the cross-process crash tests use it.
//! - **Identity**: each store has an id of its own, made when it is first used (and kept in
//!   the file of a persistent cloud): what [`identity`](hoist_provider::Provisioner::identity)
//!   reports, so that state made with one cloud is never torn down through another.
//! - **Inspection**: [`SimCloud::objects`], [`SimCloud::count`], [`SimCloud::calls`] and
//!   [`SimCloud::max_in_flight`] (to check that the orchestrator bounds its parallelism).
//!
//! [`check`](hoist_provider::Provisioner::check) validates images ([`IMAGES`]) and sizes
//! ([`SIZES`]) at plan time, before any call.
//!
//! Every call emits a `tracing` debug event.
//!
//! ```
//! use std::collections::BTreeMap;
//! use hoist_provider::{CreateRequest, DeleteRequest, ErrorKind, Provisioner};
//! use hoist_sim::SimCloud;
//! use serde_json::json;
//!
//! let sim = SimCloud::builder().name("sim").build();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let req = |key: &str, kind: &str, spec| CreateRequest {
//!         system: "demo".into(),
//!         key: key.into(),
//!         kind: kind.into(),
//!         spec,
//!         token: format!("demo/{key}/1"),
//!         tags: BTreeMap::new(),
//!     };
//!     let net = sim.create(&req("Infra/net", "core.network", json!({"cidr": "10.0.0.0/16"}))).await?;
//!     assert_eq!(net.id, "net-0001");
//!     assert_eq!(net.outputs["cidr"], "10.0.0.0/16");
//!
//!     let spec = json!({"network": {"$ref": "Infra/net", "id": net.id}, "cidr": "10.0.1.0/24"});
//!     let subnet = sim.create(&req("Infra/subnet", "core.subnet", spec)).await?;
//!     assert_eq!(subnet.id, "subnet-0001");
//!
//!     // The network still has a subnet: deleting it first is refused.
//!     let del = DeleteRequest {
//!         system: "demo".into(),
//!         key: "Infra/net".into(),
//!         kind: "core.network".into(),
//!         id: net.id.clone(),
//!         outputs: net.outputs.clone(),
//!     };
//!     let err = sim.delete(&del).await.unwrap_err();
//!     assert_eq!(err.kind(), ErrorKind::DependencyViolation);
//!     Ok::<_, hoist_provider::ProvisionError>(())
//! })
//! .unwrap();
//! assert_eq!(sim.count(), 2);
//! ```

mod cloud;
mod faults;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

#[cfg(doc)]
use hoist_provider::ErrorKind;
use hoist_provider::OutputMap;

pub use cloud::{Calls, SimCloud, SimCloudBuilder};
pub use faults::{Fault, Faults};

/// The default proxy name.
pub const DEFAULT_NAME: &str = "sim";

/// Where a project keeps its persistent simulated cloud, next to its state
/// (`.hoist/state.db`): the quick start's cloud, and the one the `hoist` command uses when
/// `HOIST_SIM_STATE` does not name another.
pub const DEFAULT_PERSIST_PATH: &str = ".hoist/sim/cloud.json";

/// The images the simulated cloud knows.
pub const IMAGES: &[&str] = &["debian-12", "ubuntu-24.04", "alpine-3.20"];

/// The server sizes the simulated cloud knows.
pub const SIZES: &[&str] = &["small", "medium", "large"];

/// The file every server sandbox holds: JSON with the server's `id`, `system`, `key`, `image`,
/// `size` and `private_ip`.
pub const MARKER_FILE: &str = ".hoist-sim-server";

/// The file a server sandbox holds its boot-time user data in, if it has any.
pub const USER_DATA_FILE: &str = ".hoist-sim-user-data";

/// A snapshot of one object in a [`SimCloud`]; from [`SimCloud::objects`].
#[derive(Clone, Debug, PartialEq)]
pub struct SimObject {
    /// The provider id (`srv-0001`).
    pub id: String,
    /// The kind (`core.server`).
    pub kind: String,
    /// The resource key it was created for.
    pub key: String,
    /// The idempotency token it was created with.
    pub token: String,
    /// The tags it was created with.
    pub tags: BTreeMap<String, String>,
    /// The spec it was created from (references resolved).
    pub spec: serde_json::Value,
    /// Its outputs.
    pub outputs: OutputMap,
}
