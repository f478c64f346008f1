//! [`AwsCloud`]: the proxy, its builder, its clients and the call wrapper every EC2 call goes
//! through (rate limit, counting, error mapping, bounded "not found" retries).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{Credentials, SharedHttpClient};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use hoist_core::Secret;
use hoist_provider::{
    CloudIdentity, CreateRequest, Created, DeleteRequest, Deleted, ErrorKind, FindRequest,
    OutputMap, ProvisionError, Provisioner, ReadRequest, UpdateRequest,
};
use tracing::Instrument;

use crate::error::from_sdk;
use crate::limiter::RateLimiter;
use crate::poller::Poller;
use crate::resources::KINDS;

/// The default proxy name.
pub const DEFAULT_NAME: &str = "aws";

/// Where the proxy's AWS credentials come from.
#[derive(Clone, Debug, Default)]
pub enum AwsCredentials {
    /// The standard chain: environment (`AWS_ACCESS_KEY_ID`, …), the shared config and
    /// credentials files (`AWS_PROFILE`), web identity, container and instance metadata.
    #[default]
    Chain,
    /// A named profile of the shared config and credentials files.
    Profile(String),
    /// Explicit keys, held as secrets (never printed, logged or stored in state).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: Secret,
        /// Session token, for temporary credentials.
        session_token: Option<Secret>,
    },
}

/// The proxy's settings; from [`AwsCloudBuilder`].
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub name: String,
    pub region: Option<String>,
    pub extra_regions: Vec<String>,
    pub endpoint: Option<String>,
    pub credentials: AwsCredentials,
    pub headers: Vec<(String, String)>,
    pub max_attempts: u32,
    pub rate: f64,
    pub burst: u32,
    pub call_timeout: Duration,
    pub instance_timeout: Duration,
    pub not_found_timeout: Duration,
    pub dependency_timeout: Duration,
    pub poll_interval: Duration,
    pub image_aliases: BTreeMap<String, String>,
    pub size_aliases: BTreeMap<String, String>,
    pub key_dir: Option<PathBuf>,
}

/// Builds an [`AwsCloud`]; from [`AwsCloud::builder`].
#[derive(Clone, Debug)]
pub struct AwsCloudBuilder {
    s: Settings,
}

impl AwsCloudBuilder {
    /// The proxy name (default `"aws"`): what a resource's `cloud` pins.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.s.name = name.into();
        self
    }

    /// The default region (otherwise the standard chain's: `AWS_REGION`, the profile, …).
    /// A resource's own `region` overrides it.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.s.region = Some(region.into());
        self
    }

    /// Other regions resources of this proxy may live in: searched, besides the default
    /// region, when looking up objects an interrupted run created and when sweeping.
    #[must_use]
    pub fn extra_regions<S: Into<String>>(mut self, regions: impl IntoIterator<Item = S>) -> Self {
        self.s.extra_regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// The EC2 endpoint (an emulator such as `http://127.0.0.1:5000`, or an AWS-compatible
    /// cloud). Without it, the standard `AWS_ENDPOINT_URL` variable is honoured, else AWS's
    /// regional endpoint is used.
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.s.endpoint = Some(url.into());
        self
    }

    /// Where the credentials come from (default: the standard chain).
    #[must_use]
    pub fn credentials(mut self, c: AwsCredentials) -> Self {
        self.s.credentials = c;
        self
    }

    /// Explicit credentials, held as secrets.
    #[must_use]
    pub fn static_credentials(
        self,
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
    ) -> Self {
        self.credentials(AwsCredentials::Static {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token: None,
        })
    }

    /// Adds a header to every request (e.g. moto's `x-moto-account-id`, which gives a test an
    /// account of its own).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.s.headers.push((name.into(), value.into()));
        self
    }

    /// Attempts per call by the SDK's standard retry (throttling, 5xx, connection errors;
    /// default 5).
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.s.max_attempts = n.max(1);
        self
    }

    /// The request rate limit shared by every worker using this proxy: `rate` calls per
    /// second on average, bursts of `burst` (default 20/s, burst 40). Halved while EC2
    /// throttles, recovering on success.
    #[must_use]
    pub fn rate_limit(mut self, rate: f64, burst: u32) -> Self {
        self.s.rate = rate;
        self.s.burst = burst;
        self
    }

    /// Timeout of one call, all SDK attempts included (default 120 s).
    #[must_use]
    pub fn call_timeout(mut self, t: Duration) -> Self {
        self.s.call_timeout = t;
        self
    }

    /// How long to wait for an instance to run or to terminate (default 600 s).
    #[must_use]
    pub fn instance_timeout(mut self, t: Duration) -> Self {
        self.s.instance_timeout = t;
        self
    }

    /// How long a "not found" for an object created moments ago is retried (EC2 is
    /// eventually consistent; default 30 s).
    #[must_use]
    pub fn not_found_timeout(mut self, t: Duration) -> Self {
        self.s.not_found_timeout = t;
        self
    }

    /// How long a delete refused with `DependencyViolation` is retried (default 180 s).
    #[must_use]
    pub fn dependency_timeout(mut self, t: Duration) -> Self {
        self.s.dependency_timeout = t;
        self
    }

    /// Pause between two polls of instance states (default 2 s).
    #[must_use]
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.s.poll_interval = t.max(Duration::from_millis(10));
        self
    }

    /// An image alias: `core.server` and `aws.instance` images named `alias` launch `ami`.
    #[must_use]
    pub fn image_alias(mut self, alias: impl Into<String>, ami: impl Into<String>) -> Self {
        self.s.image_aliases.insert(alias.into(), ami.into());
        self
    }

    /// A size alias (defaults: `small` → `t3.small`, `medium` → `t3.medium`, `large` →
    /// `t3.large`).
    #[must_use]
    pub fn size_alias(
        mut self,
        alias: impl Into<String>,
        instance_type: impl Into<String>,
    ) -> Self {
        self.s
            .size_aliases
            .insert(alias.into(), instance_type.into());
        self
    }

    /// Where the private keys of key pairs EC2 creates are kept (mode 600 files; default
    /// `$HOME/.hoist/aws-keys`).
    #[must_use]
    pub fn key_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.s.key_dir = Some(dir.into());
        self
    }

    /// Builds the proxy. No call is made until the first resource is provisioned.
    pub fn build(self) -> AwsCloud {
        let limiter = RateLimiter::new(self.s.rate, self.s.burst);
        AwsCloud {
            inner: Arc::new(Inner {
                settings: self.s,
                base: tokio::sync::OnceCell::new(),
                account: tokio::sync::OnceCell::new(),
                clients: Mutex::new(HashMap::new()),
                pollers: Mutex::new(HashMap::new()),
                limiter,
                calls: Mutex::new(BTreeMap::new()),
                call_nanos: std::sync::atomic::AtomicU64::new(0),
                regions_used: Mutex::new(BTreeSet::new()),
                private_keys: Mutex::new(HashMap::new()),
                attempted: Mutex::new(std::collections::HashSet::new()),
            }),
        }
    }
}

/// The AWS provisioner proxy (EC2).
///
/// Cheap to clone (clones share clients, the rate limiter, the instance poller and the call
/// counts). See the [crate documentation](crate) for what it provisions and how.
#[derive(Clone)]
pub struct AwsCloud {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AwsCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCloud")
            .field("name", &self.inner.settings.name)
            .field("region", &self.inner.settings.region)
            .field("endpoint", &self.inner.settings.endpoint)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    base: tokio::sync::OnceCell<SdkConfig>,
    /// The account, once asked ([`Inner::account`]).
    account: tokio::sync::OnceCell<String>,
    pub(crate) clients: Mutex<HashMap<String, Client>>,
    pollers: Mutex<HashMap<String, Arc<Poller>>>,
    limiter: RateLimiter,
    calls: Mutex<BTreeMap<String, u64>>,
    /// Total time spent in calls (rate-limiter waits excluded), nanoseconds.
    call_nanos: std::sync::atomic::AtomicU64,
    regions_used: Mutex<BTreeSet<String>>,
    pub(crate) private_keys: Mutex<HashMap<String, Secret>>,
    /// Tokens this process has sent a create for: a second create with one of them is a
    /// retry, which looks the object up first (EC2 honours `ClientToken` on only a few
    /// calls, and emulators on none).
    pub(crate) attempted: Mutex<std::collections::HashSet<String>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Adds fixed headers to every request.
#[derive(Debug)]
struct Headers(Vec<(String, String)>);

impl Intercept for Headers {
    fn name(&self) -> &'static str {
        "hoist-aws headers"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let headers = context.request_mut().headers_mut();
        for (k, v) in &self.0 {
            headers.insert(k.clone(), v.clone());
        }
        Ok(())
    }
}

/// The SDK's hyper 1 client with rustls on `ring`.
fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl Inner {
    async fn base(&self) -> &SdkConfig {
        self.base
            .get_or_init(|| async {
                let s = &self.settings;
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http_client())
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(s.max_attempts)
                            .with_initial_backoff(Duration::from_millis(200))
                            .with_max_backoff(Duration::from_secs(10)),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(5))
                            .operation_attempt_timeout(Duration::from_secs(30))
                            .operation_timeout(s.call_timeout)
                            .build(),
                    );
                if let Some(r) = &s.region {
                    loader = loader.region(Region::new(r.clone()));
                }
                if let Some(e) = &s.endpoint {
                    loader = loader.endpoint_url(e.clone());
                }
                match &s.credentials {
                    AwsCredentials::Chain => {}
                    AwsCredentials::Profile(p) => loader = loader.profile_name(p.clone()),
                    AwsCredentials::Static {
                        access_key_id,
                        secret_access_key,
                        session_token,
                    } => {
                        loader = loader.credentials_provider(Credentials::new(
                            access_key_id.clone(),
                            secret_access_key.expose().to_string(),
                            session_token.as_ref().map(|t| t.expose().to_string()),
                            None,
                            "hoist",
                        ));
                    }
                }
                loader.load().await
            })
            .await
    }

    /// The account the credentials act in (STS `GetCallerIdentity`), asked once.
    pub(crate) async fn account(&self) -> Result<String, ProvisionError> {
        let account = self
            .account
            .get_or_try_init(|| async {
                let sts = aws_sdk_sts::Client::new(self.base().await);
                let out = sts.get_caller_identity().send().await.map_err(|e| {
                    let meta = aws_sdk_sts::error::ProvideErrorMetadata::meta(&e);
                    let code = meta.code().unwrap_or("GetCallerIdentity").to_string();
                    let msg = meta
                        .message()
                        .map_or_else(|| aws_sdk_sts::error::DisplayErrorContext(&e).to_string(), str::to_string);
                    ProvisionError::new(
                        crate::error::classify_code(&code),
                        format!("cannot tell which AWS account the credentials act in (STS GetCallerIdentity): {msg}"),
                    )
                    .with_code(code)
                })?;
                out.account().map(str::to_string).ok_or_else(|| {
                    ProvisionError::new(ErrorKind::Other, "STS GetCallerIdentity returned no account")
                })
            })
            .await?;
        Ok(account.clone())
    }

    /// The region a resource with `region` lives in.
    pub(crate) async fn region_of(&self, region: Option<&str>) -> Result<String, ProvisionError> {
        if let Some(r) = region {
            return Ok(r.to_string());
        }
        self.base()
            .await
            .region()
            .map(|r| r.as_ref().to_string())
            .ok_or_else(|| {
                ProvisionError::new(
                    ErrorKind::InvalidSpec,
                    "no AWS region: set one on the proxy (AwsCloud::builder().region(…)), in \
                     AWS_REGION, or in the profile",
                )
                .with_code("NoRegion")
            })
    }

    /// The client for `region`.
    pub(crate) async fn client(&self, region: &str) -> Client {
        if let Some(c) = lock(&self.clients).get(region) {
            return c.clone();
        }
        let base = self.base().await;
        let mut b =
            aws_sdk_ec2::config::Builder::from(base).region(Region::new(region.to_string()));
        if !self.settings.headers.is_empty() {
            b = b.interceptor(Headers(self.settings.headers.clone()));
        }
        let c = Client::from_conf(b.build());
        lock(&self.regions_used).insert(region.to_string());
        lock(&self.clients)
            .entry(region.to_string())
            .or_insert(c)
            .clone()
    }

    /// The instance poller of `region`.
    pub(crate) fn poller(&self, region: &str) -> Arc<Poller> {
        lock(&self.pollers)
            .entry(region.to_string())
            .or_insert_with(|| Arc::new(Poller::new()))
            .clone()
    }

    /// The regions to search for objects: the default, the configured extras and every
    /// region used by this process.
    pub(crate) async fn search_regions(&self) -> Result<Vec<String>, ProvisionError> {
        let mut set: BTreeSet<String> = self.settings.extra_regions.iter().cloned().collect();
        set.extend(lock(&self.regions_used).iter().cloned());
        let default = self.region_of(None).await?;
        let mut v = vec![default.clone()];
        v.extend(set.into_iter().filter(|r| *r != default));
        Ok(v)
    }

    /// Makes one EC2 call: waits for the rate limiter, counts it, maps its error.
    pub(crate) async fn call<T, E, F>(&self, op: &'static str, f: F) -> Result<T, ProvisionError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.limiter.acquire().await;
        *lock(&self.calls).entry(op.to_string()).or_insert(0) += 1;
        // Boxed: SDK futures are large, and nesting them inline overflows small stacks.
        let t0 = std::time::Instant::now();
        let r = Box::pin(f.instrument(tracing::debug_span!("ec2", op)))
            .await
            .map_err(|e| from_sdk(op, e));
        self.call_nanos.fetch_add(
            u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        match &r {
            Ok(_) => self.limiter.succeeded(),
            Err(e) => {
                if e.kind() == ErrorKind::Throttled {
                    self.limiter.throttled();
                }
                tracing::debug!(op, error = %e, "EC2 call failed");
            }
        }
        r
    }

    /// Makes a call that refers to objects created moments ago: a "not found" is retried
    /// (with backoff) for at most the not-found timeout, as EC2 is eventually consistent.
    pub(crate) async fn call_fresh<T, E, F, Fut>(
        &self,
        op: &'static str,
        mut f: F,
    ) -> Result<T, ProvisionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let deadline = tokio::time::Instant::now() + self.settings.not_found_timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            match Box::pin(self.call(op, f())).await {
                Err(e)
                    if e.kind() == ErrorKind::NotFound
                        && tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::debug!(op, error = %e, "not visible yet, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Makes a delete call, retrying `DependencyViolation` (with backoff) for at most the
    /// dependency timeout. "Not found" is success: the object is already gone.
    pub(crate) async fn call_delete<T, E, F, Fut>(
        &self,
        op: &'static str,
        mut f: F,
    ) -> Result<Deleted, ProvisionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let deadline = tokio::time::Instant::now() + self.settings.dependency_timeout;
        let mut delay = Duration::from_millis(500);
        loop {
            match Box::pin(self.call(op, f())).await {
                Ok(_) => return Ok(Deleted::Deleted),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Deleted::Absent),
                Err(e)
                    if e.kind() == ErrorKind::DependencyViolation
                        && tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::debug!(op, error = %e, "still in use, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The instance type an alias stands for.
    pub(crate) fn instance_type(&self, t: &str) -> String {
        self.settings
            .size_aliases
            .get(t)
            .cloned()
            .unwrap_or_else(|| t.to_string())
    }

    /// The AMI an image alias stands for.
    pub(crate) fn image(&self, i: &str) -> String {
        self.settings
            .image_aliases
            .get(i)
            .cloned()
            .unwrap_or_else(|| i.to_string())
    }
}

impl AwsCloud {
    /// A builder with the defaults.
    pub fn builder() -> AwsCloudBuilder {
        AwsCloudBuilder {
            s: Settings {
                name: DEFAULT_NAME.into(),
                region: None,
                extra_regions: Vec::new(),
                endpoint: None,
                credentials: AwsCredentials::Chain,
                headers: Vec::new(),
                max_attempts: 5,
                rate: 20.0,
                burst: 40,
                call_timeout: Duration::from_secs(120),
                instance_timeout: Duration::from_secs(600),
                not_found_timeout: Duration::from_secs(30),
                dependency_timeout: Duration::from_secs(180),
                poll_interval: Duration::from_secs(2),
                image_aliases: BTreeMap::new(),
                size_aliases: [
                    ("small", "t3.small"),
                    ("medium", "t3.medium"),
                    ("large", "t3.large"),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
                key_dir: None,
            },
        }
    }

    /// A builder configured from the environment, the way the AWS tools read it: credentials
    /// from the standard chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
    /// `AWS_PROFILE`, web identity, instance metadata), the region from `AWS_REGION` (or the
    /// profile), and the endpoint from `AWS_ENDPOINT_URL_EC2` or `AWS_ENDPOINT_URL` (both read
    /// by `aws-config` itself). Besides those:
    ///
    /// | variable | effect |
    /// |---|---|
    /// | `HOIST_AWS_NAME` | the proxy's name (default `aws`) |
    /// | `AWS_ENDPOINT_URL[_EC2]` set | instance states are polled every 200 ms, not 2 s (an emulator answers at once) |
    /// | `HOIST_AWS_EXTRA_REGIONS` | comma-separated regions searched besides the default one ([`AwsCloudBuilder::extra_regions`]) |
    ///
    /// This is how `hoist down` builds its AWS proxy: a process holding only the state and the
    /// environment.
    ///
    /// ```no_run
    /// let aws = hoist_aws::AwsCloud::from_env().build();
    /// ```
    pub fn from_env() -> AwsCloudBuilder {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut b = AwsCloud::builder();
        if let Some(name) = var("HOIST_AWS_NAME") {
            b = b.name(name.trim());
        }
        if var("AWS_ENDPOINT_URL_EC2").is_some() || var("AWS_ENDPOINT_URL").is_some() {
            b = b.poll_interval(Duration::from_millis(200));
        }
        if let Some(regions) = var("HOIST_AWS_EXTRA_REGIONS") {
            b = b.extra_regions(
                regions
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            );
        }
        b
    }

    /// EC2 calls made so far, per operation (`RunInstances`, `DescribeInstances`, …), SDK
    /// retries not included.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.calls).clone()
    }

    /// Total EC2 calls made so far.
    pub fn total_calls(&self) -> u64 {
        lock(&self.inner.calls).values().sum()
    }

    /// Forgets the call counts and times.
    pub fn reset_calls(&self) {
        lock(&self.inner.calls).clear();
        self.inner
            .call_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Mean time of one EC2 call so far (the SDK's retries included, rate-limiter waits not);
    /// `None` before the first call.
    pub fn mean_call_time(&self) -> Option<Duration> {
        let n = self.total_calls();
        let ns = self
            .inner
            .call_nanos
            .load(std::sync::atomic::Ordering::Relaxed);
        (n > 0).then(|| Duration::from_nanos(ns / n))
    }

    /// The private key of a key pair EC2 created in this process, by key name.
    pub fn private_key(&self, key_name: &str) -> Option<Secret> {
        lock(&self.inner.private_keys).get(key_name).cloned()
    }
}

#[async_trait]
impl Provisioner for AwsCloud {
    fn name(&self) -> &str {
        &self.inner.settings.name
    }

    fn supports(&self, kind: &str) -> bool {
        KINDS.contains(&kind)
    }

    fn check(&self, kind: &str, spec: &serde_json::Value) -> Vec<String> {
        crate::ops::check(&self.inner, kind, spec)
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, ProvisionError> {
        crate::ops::create(&self.inner, req).await
    }

    async fn delete(&self, req: &DeleteRequest) -> Result<Deleted, ProvisionError> {
        crate::ops::delete(&self.inner, req).await
    }

    /// The user's tags of the core kinds; everything else is replaced.
    fn updatable(&self, kind: &str) -> &'static [&'static str] {
        crate::ops::updatable(kind)
    }

    async fn update(&self, req: &UpdateRequest) -> Result<Created, ProvisionError> {
        crate::ops::update(&self.inner, req).await
    }

    /// Names, ranges, routes and rules EC2 refuses twice (`InvalidGroup.Duplicate`, …).
    fn unique_fields(&self, kind: &str, spec: &serde_json::Value) -> &'static [&'static str] {
        crate::ops::unique_fields(kind, spec)
    }

    /// `aws account <id> in <default region>`: the account from STS `GetCallerIdentity`
    /// (through the proxy's endpoint, credentials and HTTP client), asked once per proxy.
    async fn identity(&self) -> Result<CloudIdentity, ProvisionError> {
        let account = self.inner.account().await?;
        let region = self.inner.region_of(None).await?;
        Ok(CloudIdentity::new("aws", account).in_region(region))
    }

    /// Every object lives in the region recorded in its outputs (where deletes go), whatever
    /// the proxy's default region is now.
    fn identity_of(
        &self,
        proxy: &CloudIdentity,
        _kind: &str,
        outputs: &OutputMap,
    ) -> CloudIdentity {
        match outputs.get("region").and_then(serde_json::Value::as_str) {
            Some(r) => proxy.clone().in_region(r),
            None => proxy.clone(),
        }
    }

    async fn find(&self, req: &FindRequest) -> Result<Option<Created>, ProvisionError> {
        crate::ops::find(&self.inner, req).await
    }

    /// One `Describe…` call in the region the outputs record; `None` once EC2 no longer
    /// knows the object (or the instance is terminated).
    async fn read(&self, req: &ReadRequest) -> Result<Option<Created>, ProvisionError> {
        crate::ops::read(&self.inner, req).await
    }
}
