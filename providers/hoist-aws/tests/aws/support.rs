//! Shared helpers: a proxy and a plain SDK client for one test's moto account.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use hoist_aws::testing::{account_for, moto_url};
use hoist_aws::{AwsCloud, AwsCloudBuilder};
use hoist_core::Secret;
use hoist_provider::CreateRequest;

/// A valid OpenSSH public key (no private half is kept anywhere).
pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMyR5A+jR8jJ0MamSwmJYyyVKWzaplvM9ZjoOBvPaSu7 hoist-test";

/// moto's URL, or `None` if the test should skip (see `hoist_aws::testing::moto_url`).
pub fn moto(test: &str) -> Option<String> {
    moto_url(test)
}

/// A proxy builder for `test`'s own moto account at `url`.
pub fn builder(test: &str, url: &str) -> AwsCloudBuilder {
    AwsCloud::builder()
        .region("us-east-1")
        .endpoint(url)
        .static_credentials("testing", Secret::new("testing"))
        .header("x-moto-account-id", account_for(test))
        .rate_limit(200.0, 200)
        .poll_interval(Duration::from_millis(100))
        .not_found_timeout(Duration::from_secs(5))
        .dependency_timeout(Duration::from_secs(10))
        .instance_timeout(Duration::from_secs(60))
        .key_dir(std::env::temp_dir().join(format!("hoist-aws-test-keys-{}", std::process::id())))
        .image_alias("debian-12", "ami-12c6146b")
}

#[derive(Debug)]
struct Account(String);

impl Intercept for Account {
    fn name(&self) -> &'static str {
        "moto account"
    }
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// A plain SDK client on `test`'s moto account, to read back what the proxy made.
pub fn sdk(test: &str, url: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(Account(account_for(test)))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// A create request as the orchestrator makes it.
pub fn req(system: &str, key: &str, kind: &str, spec: serde_json::Value) -> CreateRequest {
    let token = format!("{system}-{}", key.replace(['/', '[', ']'], "-"));
    CreateRequest {
        system: system.into(),
        key: key.into(),
        kind: kind.into(),
        spec,
        token: token.clone(),
        tags: BTreeMap::from([
            ("hoist:system".to_string(), system.to_string()),
            ("hoist:resource".to_string(), key.to_string()),
            ("hoist:token".to_string(), token),
        ]),
    }
}

/// A resolved reference as the orchestrator passes it.
pub fn rf(key: &str, id: &str) -> serde_json::Value {
    serde_json::json!({"$ref": key, "id": id})
}

/// The value of tag `k`.
pub fn tag(tags: &[aws_sdk_ec2::types::Tag], k: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(k))
        .and_then(|t| t.value().map(str::to_string))
}
