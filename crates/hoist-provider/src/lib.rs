//! The provisioner proxy: what a cloud provider implements so the orchestrator can create and
//! delete its resources.
//!
//! The orchestrator holds proxies as `Arc<dyn Provisioner>` (object-safe through
//! `#[async_trait]`; one boxed future per cloud call is noise next to the call itself). It
//! hands each call a [`CreateRequest`] whose spec has every reference already resolved, and a
//! deterministic idempotency token recorded in state before the call, so that a provider can
//! find and adopt what an interrupted run created ([`Provisioner::find`]).
//!
//! No cloud SDK type crosses this API: errors are [`ProvisionError`]s with a provider-neutral
//! [`ErrorKind`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Outputs of a provisioned resource: `ip`, `id`, `private_ip`, …
pub type OutputMap = BTreeMap<String, serde_json::Value>;

/// A request to create one resource.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    /// System (deployment) name.
    pub system: String,
    /// Stable key of the resource in the system: `<model>/<path>`.
    pub key: String,
    /// Resource kind (`core.server`, …).
    pub kind: String,
    /// The spec with every reference resolved: a reference to a resource is
    /// `{"$ref": key, "id": provider_id}`, an output is its value.
    pub spec: serde_json::Value,
    /// Deterministic idempotency token: the same for every retry and every resumed run of this
    /// resource's current generation. Pass it to the cloud (EC2 `ClientToken`) or tag with it.
    pub token: String,
    /// Tags to put on the object: system, resource key, token.
    pub tags: BTreeMap<String, String>,
}

/// A created (or adopted) resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Created {
    /// The provider's id of the object.
    pub id: String,
    /// Outputs (addresses, ids of sub-objects, …).
    pub outputs: OutputMap,
}

/// A request to delete one resource.
#[derive(Clone, Debug)]
pub struct DeleteRequest {
    /// System name.
    pub system: String,
    /// Resource key.
    pub key: String,
    /// Kind.
    pub kind: String,
    /// Provider id recorded at creation.
    pub id: String,
    /// Outputs recorded at creation.
    pub outputs: OutputMap,
}

/// A request to change an existing object in place.
#[derive(Clone, Debug)]
pub struct UpdateRequest {
    /// System name.
    pub system: String,
    /// Resource key.
    pub key: String,
    /// Kind.
    pub kind: String,
    /// Provider id of the object.
    pub id: String,
    /// The whole new spec, references resolved as in a [`CreateRequest`].
    pub spec: serde_json::Value,
    /// The top-level fields of the spec that changed: the ones to change.
    pub changed: Vec<String>,
    /// The outputs recorded for the object.
    pub outputs: OutputMap,
}

/// A request to read an existing object back.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    /// System name.
    pub system: String,
    /// Resource key.
    pub key: String,
    /// Kind.
    pub kind: String,
    /// Provider id of the object.
    pub id: String,
    /// The outputs recorded for the object.
    pub outputs: OutputMap,
}

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    /// The object existed and was deleted.
    Deleted,
    /// The object was already gone (deleted out of band, or never made): nothing was deleted.
    Absent,
}

/// Which cloud a proxy talks to: the kind of cloud, the account (or subscription, project,
/// store) and the region. Recorded with every resource, and compared before a run touches
/// it, so that a proxy for another account, region or store than the one a resource was made
/// in never deletes (or forgets) it.
///
/// ```
/// use hoist_provider::CloudIdentity;
/// let a = CloudIdentity::new("aws", "123456789012").in_region("us-east-1");
/// assert_eq!(a.to_string(), "aws account 123456789012 in us-east-1");
/// assert_ne!(a, CloudIdentity::new("aws", "123456789012").in_region("eu-west-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CloudIdentity {
    /// The kind of cloud (`aws`, `sim`, `fixed`, …).
    pub cloud: String,
    /// The account, subscription, project or store.
    pub account: String,
    /// The region, for clouds that have regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl CloudIdentity {
    /// The identity of `account` in a cloud of kind `cloud`, with no region.
    pub fn new(cloud: impl Into<String>, account: impl Into<String>) -> Self {
        CloudIdentity {
            cloud: cloud.into(),
            account: account.into(),
            region: None,
        }
    }

    /// This identity in `region`.
    #[must_use]
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}

impl fmt::Display for CloudIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} account {}", self.cloud, self.account)?;
        if let Some(r) = &self.region {
            write!(f, " in {r}")?;
        }
        Ok(())
    }
}

/// A request to look up an object an interrupted run may have created.
#[derive(Clone, Debug)]
pub struct FindRequest {
    /// System name.
    pub system: String,
    /// Resource key.
    pub key: String,
    /// Kind.
    pub kind: String,
    /// The token the interrupted create carried.
    pub token: String,
}

impl From<&CreateRequest> for FindRequest {
    /// The lookup of the object a create may have made.
    fn from(req: &CreateRequest) -> Self {
        FindRequest {
            system: req.system.clone(),
            key: req.key.clone(),
            kind: req.kind.clone(),
            token: req.token.clone(),
        }
    }
}

/// How a host provisioned by this provider is reached for configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEndpoint {
    /// A local execution sandbox on the controller (the simulated cloud's servers).
    Local {
        /// The sandbox directory.
        dir: PathBuf,
    },
    /// A network address (reached over SSH).
    Network {
        /// Address.
        address: String,
        /// Port, if not the default.
        port: Option<u16>,
    },
}

/// A provisioner proxy (Actuator's `ProvisionerProxy`).
#[async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// The proxy's name: what a resource's `cloud` pins, and the key of per-provider limits and
    /// cloud credentials.
    fn name(&self) -> &str;

    /// True if this proxy can provision resources of `kind`.
    fn supports(&self, kind: &str) -> bool;

    /// Which cloud this proxy talks to (AWS: the account from STS `GetCallerIdentity`, and
    /// the default region; the simulated cloud: its store). Called once per run, before the
    /// run touches any resource of this proxy: a resource recorded with another identity is
    /// refused rather than deleted, looked up or forgotten through the wrong cloud.
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError>;

    /// The identity the object of a resource of `kind` with `outputs` lives under, given the
    /// proxy's own ([`identity`](Self::identity)): where a resource can live elsewhere (an
    /// AWS resource pinned to another region), say so here. Default: the proxy's.
    fn identity_of(
        &self,
        proxy: &CloudIdentity,
        _kind: &str,
        _outputs: &OutputMap,
    ) -> CloudIdentity {
        proxy.clone()
    }

    /// Checks a spec without calling the cloud (unknown images, bad sizes): one message per
    /// problem. Called by the plan.
    fn check(&self, _kind: &str, _spec: &serde_json::Value) -> Vec<String> {
        Vec::new()
    }

    /// Creates the resource. Must be safe to call again with the same token after a crash
    /// (the orchestrator calls [`find`](Self::find) first when a create was interrupted).
    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError>;

    /// Deletes the resource. Idempotent: an object that is already gone is success, reported
    /// as [`Deleted::Absent`] (never as [`Deleted::Deleted`]: the orchestrator stops a
    /// teardown that finds most of its objects gone, since that usually means the proxy talks
    /// to another cloud than the state was made in).
    async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, ProvisionError>;

    /// Looks up an object created with `req.token` (by token or tag). `Ok(None)` if none.
    async fn find(&self, _req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        Ok(None)
    }

    /// The top-level spec fields of `kind` that [`update`](Self::update) changes in place;
    /// a change of any other field replaces the object. Default: none (every change
    /// replaces).
    fn updatable(&self, _kind: &str) -> &'static [&'static str] {
        &[]
    }

    /// The fields of `kind` whose values, together, must be unique among the objects that
    /// exist at one time (an AWS security group's name in its VPC), given the resource's
    /// spec (some kinds are unique only in some forms). A replacement that changes none of
    /// them cannot make the new object while the old one still exists, so it is made
    /// delete-first, and a resource that asks for create-first is refused at plan time.
    /// Default: none.
    fn unique_fields(&self, _kind: &str, _spec: &serde_json::Value) -> &'static [&'static str] {
        &[]
    }

    /// Changes the fields `req.changed` (all of them [`updatable`](Self::updatable)) of an
    /// existing object to their values in `req.spec`, and returns its outputs. Must be safe
    /// to call again with the same request (a run that was cut off sends it again).
    async fn update(&self, req: &UpdateRequest) -> Result<Created, ProvisionError> {
        Err(ProvisionError::new(
            ErrorKind::InvalidSpec,
            format!(
                "{} cannot change {} in place ({})",
                self.name(),
                req.kind,
                req.changed.join(", ")
            ),
        ))
    }

    /// Reads an existing object back: `Ok(None)` if it is gone. Never changes anything.
    async fn read(&self, req: &ReadRequest) -> Result<Option<Created>, ProvisionError> {
        Err(ProvisionError::new(
            ErrorKind::Other,
            format!("{} cannot read {} objects back", self.name(), req.kind),
        ))
    }

    /// How to reach a host of kind `kind` with these outputs for configuration. `None` means
    /// "over the network, at its address output".
    fn endpoint(&self, _kind: &str, _outputs: &OutputMap) -> Option<HostEndpoint> {
        None
    }
}

/// What went wrong in a provider call, independent of the cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object does not exist.
    NotFound,
    /// An object with this name or token already exists.
    AlreadyExists,
    /// Another object still depends on this one (retry after it is gone).
    DependencyViolation,
    /// The cloud asked us to slow down.
    Throttled,
    /// A quota or capacity limit.
    QuotaExceeded,
    /// Bad or missing credentials.
    Unauthorized,
    /// The spec is wrong (unknown image, bad size).
    InvalidSpec,
    /// A transient failure (5xx, timeout); the request may have been sent.
    Transient,
    /// Anything else.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::DependencyViolation => "dependency violation",
            ErrorKind::Throttled => "throttled",
            ErrorKind::QuotaExceeded => "quota exceeded",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::InvalidSpec => "invalid spec",
            ErrorKind::Transient => "transient failure",
            ErrorKind::Other => "error",
        })
    }
}

/// A provider call failed.
///
/// ```
/// use hoist_provider::{ErrorKind, ProvisionError};
/// let e = ProvisionError::new(ErrorKind::Throttled, "slow down").with_code("RequestLimitExceeded");
/// assert!(e.is_retryable());
/// assert_eq!(e.to_string(), "throttled: slow down (RequestLimitExceeded)");
/// ```
#[derive(Clone, Debug, thiserror::Error)]
pub struct ProvisionError {
    kind: ErrorKind,
    message: String,
    code: Option<String>,
}

impl ProvisionError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProvisionError {
            kind,
            message: message.into(),
            code: None,
        }
    }

    /// Adds the provider's error code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The provider's error code, if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True for kinds worth retrying: throttling and transient failures.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(c) = &self.code {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}
