//! The AWS provisioner proxy: EC2 resources on `aws-sdk-ec2`.
//!
//! [`AwsCloud`] provisions the AWS kinds of this crate ([`Vpc`], [`Subnet`],
//! [`InternetGateway`], [`RouteTable`], [`Route`], [`SecurityGroup`], [`SecurityGroupRule`],
//! [`KeyPair`], [`NetworkInterface`], [`Instance`], [`ElasticIp`]) and maps hoist's
//! provider-neutral kinds, so a model written against them (such as the quick start's web
//! system) runs on AWS unchanged:
//!
//! | core kind | on AWS |
//! |---|---|
//! | `core.network` | a VPC with an internet gateway and a default route in its main route table |
//! | `core.subnet` | a subnet |
//! | `core.security_group` | a security group with its rules |
//! | `core.server` | an instance (images and sizes through aliases: `small` → `t3.small`, …) |
//! | `core.public_ip` | an Elastic IP associated with the instance |
//!
//! No SDK type crosses this crate's API: specs come in as JSON, ids and outputs go out as
//! strings and JSON, and errors are [`ProvisionError`](hoist_provider::ProvisionError)s with a
//! provider-neutral kind ([`classify_code`]).
//!
//! # Configuration
//!
//! ```no_run
//! use hoist_aws::AwsCloud;
//! use hoist_core::Secret;
//!
//! // The standard credential chain (environment, profile, …) and region.
//! let aws = AwsCloud::builder().build();
//! // Explicit credentials (held as secrets), a default region, an emulator endpoint.
//! let moto = AwsCloud::builder()
//!     .region("us-east-1")
//!     .static_credentials("testing", Secret::new("testing"))
//!     .endpoint("http://127.0.0.1:5000")
//!     .build();
//! ```
//!
//! A resource's own `region` overrides the default region (each region gets its own client).
//! The endpoint defaults to the standard `AWS_ENDPOINT_URL` variable, else AWS's.
//!
//! # Safety
//!
//! - **Tags.** Every object is tagged at creation with `hoist:system`, `hoist:resource` (the
//!   resource's model path), `hoist:token` and a `Name`.
//! - **Idempotency.** The orchestrator records a deterministic token before each create.
//!   `RunInstances`, `CreateNetworkInterface` and `CreateRouteTable` carry it as their
//!   `ClientToken`; [`find`](hoist_provider::Provisioner::find) looks any kind up by its
//!   `hoist:token` tag, finishes what an interrupted run left half-made (an unattached
//!   gateway, an unassociated address) and returns it for adoption. A create whose follow-up
//!   step fails removes what it made before returning the error.
//! - **Errors and retries.** SDK errors become provider-neutral kinds (not found, already
//!   exists, dependency violation, throttled, quota, unauthorized, invalid spec, transient).
//!   The SDK's standard retry handles throttling, 5xx and connection errors; this crate
//!   retries only what the SDK does not, both bounded: a "not found" right after a create
//!   (EC2 is eventually consistent) and `DependencyViolation` during teardown. One rate
//!   limiter is shared by every worker of a proxy.
//! - **Waiting.** Instances are waited for (running after create, terminated after delete)
//!   with a timeout, by a shared poller that describes every waited-for instance of a region
//!   in one call.
//! - **Teardown** is idempotent ("not found" is done), and [`AwsCloud::sweep`] deletes
//!   whatever is still tagged with a system.
//! - **Secrets.** Explicit credentials are [`Secret`](hoist_core::Secret)s; the private key of
//!   a key pair EC2 creates is kept in a mode-600 file (its path is an output), never in state.
//!
//! [`testing`] has what the tests need: moto's URL from the environment, an account per test,
//! and a loopback fault proxy.

mod cloud;
mod error;
mod limiter;
#[cfg(test)]
mod mock_tests;
mod ops;
mod poller;
mod resources;
mod sweep;
pub mod testing;

pub use cloud::{AwsCloud, AwsCloudBuilder, AwsCredentials, DEFAULT_NAME};
pub use error::classify_code;
pub use ops::{TAG_RESOURCE, TAG_SYSTEM, TAG_TOKEN};
pub use resources::{
    ElasticIp, ElasticIpOutputs, Instance, InstanceOutputs, InternetGateway,
    InternetGatewayOutputs, KINDS, KeyPair, KeyPairOutputs, NetworkInterface,
    NetworkInterfaceOutputs, Route, RouteOutputs, RouteTable, RouteTableOutputs, SecurityGroup,
    SecurityGroupOutputs, SecurityGroupRule, SecurityGroupRuleOutputs, Subnet, SubnetOutputs, Vpc,
    VpcOutputs,
};
pub use sweep::AwsObject;
