//! The `Orchestration`, its builder, and the run wrapper every run goes through.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::{
    Credentials, HasRefPath, Model, ModelKind, Plan, PlanError, PlanInput, ProviderCatalog,
    RetryPolicy, Secret, VarValue, Visit,
};
use hoist_exec::Connector;
use hoist_provider::{HostEndpoint, Provisioner};
use hoist_state::{Change, MemoryStore, RunOutcome, StateStore, SystemState, VersionRecord};
use tracing::Instrument as _;

use crate::cancel::{Cancel, CancelHandle};
use crate::context::RunCx;
use crate::error::OrchestrationError;
use crate::events::{Emitter, EventKind, EventSink};
use crate::fixed::FixedHostProxy;
use crate::identity::Identities;
use crate::journal::RunScope;
use crate::options::{Options, Readiness};
use crate::report::{Report, ResourceOutcome, TaskOutcome};
use crate::store::StoreSlot;

pub(crate) struct OwnedModel {
    /// Where the user added it.
    pub(crate) loc: hoist_core::SourceLoc,
    pub(crate) kind: ModelKind,
    pub(crate) name: String,
    pub(crate) type_key: &'static str,
    pub(crate) root: Box<dyn Visit>,
}

pub(crate) struct Inner {
    pub(crate) system: String,
    pub(crate) models: Vec<OwnedModel>,
    pub(crate) proxies: Arc<[Arc<dyn Provisioner>]>,
    pub(crate) store: StoreSlot,
    pub(crate) sinks: Vec<Arc<dyn EventSink>>,
    pub(crate) connectors: Arc<[Arc<dyn Connector>]>,
    pub(crate) opts: Arc<Options>,
    pub(crate) cancel: Cancel,
}

/// Joins models, provisioner proxies and a state store; plans, initiates and tears down the
/// system they describe. Build one with [`Orchestration::builder`].
///
/// Any subset of models works: infra only; namespace + config against fixed hosts (the usual
/// way to develop a config model); the whole system; or no models at all, to tear down a
/// system from its recorded state.
#[derive(Clone)]
pub struct Orchestration {
    pub(crate) inner: Arc<Inner>,
}

/// Builds an [`Orchestration`].
pub struct OrchestrationBuilder {
    system: String,
    models: Vec<OwnedModel>,
    proxies: Vec<Arc<dyn Provisioner>>,
    store: Option<Arc<dyn StateStore>>,
    sinks: Vec<Arc<dyn EventSink>>,
    connectors: Vec<Arc<dyn Connector>>,
    opts: Options,
}

/// The kinds of run; each is one pass of [`Orchestration::run`].
enum RunKind {
    /// Provision and configure what the plan describes.
    Initiate(Arc<Plan>),
    /// Delete every recorded resource.
    Teardown,
    /// Reconcile pending intents with the cloud.
    Recover,
}

impl RunKind {
    fn action(&self) -> &'static str {
        match self {
            RunKind::Initiate(_) => "initiate",
            RunKind::Teardown => "teardown",
            RunKind::Recover => "recover",
        }
    }
}

impl Orchestration {
    /// A builder for the system named `system` (the name its state is kept under).
    pub fn builder(system: &str) -> OrchestrationBuilder {
        OrchestrationBuilder {
            system: system.to_string(),
            models: Vec::new(),
            proxies: Vec::new(),
            store: None,
            sinks: Vec::new(),
            connectors: Vec::new(),
            opts: Options::default(),
        }
    }

    /// The system name.
    pub fn system(&self) -> &str {
        &self.inner.system
    }

    /// A handle that cancels the current (or next) run.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.inner.cancel.clone())
    }

    /// The plan: what will be created, in which order and parallel groups, which values are
    /// known only after provisioning, and which hosts each task runs on. Calls no provider.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let i = &self.inner;
        let catalog = Catalog(&i.proxies);
        let files = LocalDir(&i.opts.local_dir);
        let mut input = PlanInput::new(&i.system).catalog(&catalog).files(&files);
        for m in &i.models {
            input = input.model_dyn(m.kind, &m.name, m.type_key, &*m.root, m.loc);
        }
        for v in i.opts.overrides.iter() {
            input = input.override_var(&v.name, v.value.clone());
        }
        for e in &i.opts.excludes {
            input = input.exclude(e);
        }
        for (p, c) in &i.opts.cloud_creds {
            input = input.cloud_credentials(p, c.clone());
        }
        hoist_core::plan(&input)
    }

    /// The recorded state of the system, if any.
    pub async fn state(&self) -> Result<Option<SystemState>, OrchestrationError> {
        Ok(self.inner.store.load(&self.inner.system).await?)
    }

    /// What an initiate would do to each resource now: the plan compared with the recorded
    /// state (create, update, replace, delete or unchanged, with the fields that decide it).
    /// Reads only: no cloud call, no lock, and no state file or key file is created.
    ///
    /// The diff is also data: serialize it (`serde_json::to_string(&diff)`), or print it.
    pub async fn diff(&self) -> Result<crate::Diff, OrchestrationError> {
        let state = self.state().await?;
        self.diff_against(state)
    }

    /// Reads every recorded object back through its proxy ([`Provisioner::read`]) and says
    /// what changed outside hoist: objects deleted, outputs that differ. Reads only: no lock,
    /// no write, no state file created; the proxies must talk to the clouds the objects were
    /// made in (the identity guard), as for any run.
    ///
    /// [`Provisioner::read`]: hoist_provider::Provisioner::read
    pub async fn refresh(&self) -> Result<crate::Drift, OrchestrationError> {
        let Some(state) = self.state().await? else {
            return Ok(crate::Drift {
                system: self.inner.system.clone(),
                resources: Vec::new(),
            });
        };
        self.read_back(&state).await
    }

    /// The [`diff`](Self::diff) against the state as a refresh would leave it: an object
    /// deleted outside hoist is created again, outputs are the ones read. Reads only; returns
    /// the drift too.
    pub async fn diff_refreshed(&self) -> Result<(crate::Drift, crate::Diff), OrchestrationError> {
        let Some(mut state) = self.state().await? else {
            return Ok((crate::Drift::default(), self.diff_against(None)?));
        };
        let drift = self.read_back(&state).await?;
        state.apply_all(&drift.changes(&state));
        Ok((drift, self.diff_against(Some(state))?))
    }

    /// [`refresh`](Self::refresh) of `state`.
    async fn read_back(&self, state: &SystemState) -> Result<crate::Drift, OrchestrationError> {
        let i = &self.inner;
        self.check_providers(state)?;
        let providers = state
            .resources
            .values()
            .map(|r| r.provider.clone())
            .collect();
        let policy = &i.opts.provision_retry;
        crate::identity::check(&i.system, &i.proxies, &providers, state, policy, &i.cancel).await?;
        let secrets = self
            .plan()
            .map(|p| p.secrets().to_vec())
            .unwrap_or_default();
        Ok(crate::drift::read_back(&i.proxies, state, &secrets, i.opts.concurrency).await)
    }

    /// The diff of the plan against `state`, with the config tasks that will run.
    fn diff_against(&self, state: Option<SystemState>) -> Result<crate::Diff, OrchestrationError> {
        let plan = self.plan()?;
        let mut d = crate::digest::Digester::load(&self.inner.opts.state_dir).read_only();
        let mut diff = crate::diff::compute(
            &self.inner.system,
            &plan,
            state.as_ref(),
            &self.inner.proxies,
            &mut d,
        );
        let empty = SystemState::new(&self.inner.system);
        let selection = crate::target::for_initiate(
            &plan,
            state.as_ref().unwrap_or(&empty),
            &self.inner.opts.targets,
            &self.inner.opts.target_excludes,
        );
        if let Some(sel) = &selection {
            diff.resources
                .retain(|r| sel.has_resource(&plan, r.key.split('~').next().unwrap_or(&r.key)));
            diff.targeted = true;
        }
        let left_out = |i: usize| selection.as_ref().is_some_and(|s| !s.tasks[i]);
        if let Some(state) = &state {
            let unstable: Vec<bool> = diff.unstable(&plan);
            let outputs = crate::hosts::Snapshot::hiding(&plan, state, &unstable);
            let hosts = crate::hosts::Hosts {
                opts: &self.inner.opts,
                proxies: &self.inner.proxies,
            };
            let reasons = crate::task_plan::TaskPlan::reasons(
                hosts,
                &plan,
                state,
                &outputs,
                &mut d,
                &self.inner.system,
            )?;
            let reasons = reasons
                .into_iter()
                .enumerate()
                .map(|(i, r)| r.filter(|_| !left_out(i)))
                .collect();
            diff.set_tasks(&plan, reasons);
        } else {
            let reasons = (0..plan.tasks.len())
                .map(|i| (!left_out(i)).then_some(crate::TaskReason::New))
                .collect();
            diff.set_tasks(&plan, reasons);
        }
        drop_in_background((plan, state));
        Ok(diff)
    }

    /// The variables role `role` (its address: `ns/app[0]`) sees, with the values
    /// provisioning gave them (read from the recorded state): what its tasks see. A value
    /// whose resource is not provisioned yet is [`deferred`](hoist_core::Expanded::deferred);
    /// a secret's value is there in clear, marked [`secret`](hoist_core::Expanded::secret).
    /// Reads only.
    pub async fn role_vars(
        &self,
        role: &str,
    ) -> Result<Vec<hoist_core::VisibleVar>, OrchestrationError> {
        let plan = self.plan()?;
        let Some(r) = plan.roles.iter().find(|r| r.address().to_string() == role) else {
            return Err(OrchestrationError::Setup(format!(
                "no role `{role}` in the models of `{}`",
                self.inner.system
            )));
        };
        let state = self
            .state()
            .await?
            .unwrap_or_else(|| SystemState::new(&self.inner.system));
        let outputs = crate::provision::StateOutputs {
            plan: &plan,
            state: &state,
        };
        Ok(plan.visible_vars(r.id, &outputs))
    }

    /// Provisions what the infra model describes and runs the config tasks: only what is not
    /// already done. Returns a report; `Err` only if the run could not start (plan errors,
    /// state store failures, the system's lock held by another run) or could not record its
    /// progress.
    ///
    /// The run holds the system's lock (see [`OrchestrationBuilder::lock_lease`]) and records
    /// itself in the run history, and, given a [`version`](OrchestrationBuilder::version),
    /// records it as the last known good (or bad) version.
    pub async fn initiate_system(&self) -> Result<Report, OrchestrationError> {
        let plan = Arc::new(self.plan()?);
        self.run(RunKind::Initiate(plan)).await
    }

    /// [`initiate_system`](Self::initiate_system) for programs without an async runtime.
    pub fn initiate_system_blocking(&self) -> Result<Report, OrchestrationError> {
        block_on(self.initiate_system())
    }

    /// Deletes every resource recorded for this system, in reverse dependency order, from the
    /// recorded state alone (no model is needed). Creates that were interrupted (recorded as
    /// `creating` or `failed`) are looked up by their token first, and deleted if found
    /// ([`NotCreated`](crate::ResourceOutcome::NotCreated) if not). An object found already
    /// gone is reported [`AlreadyAbsent`](crate::ResourceOutcome::AlreadyAbsent) and
    /// forgotten, unless most of the objects are (at least 3, and more than half): then they
    /// are kept and reported [`Missing`](crate::ResourceOutcome::Missing), and the run fails,
    /// until [`forget_missing`](OrchestrationBuilder::forget_missing). After a complete
    /// teardown, initiating again provisions anew.
    ///
    /// Like every run, it first asks each proxy which cloud it talks to and refuses
    /// ([`OrchestrationError::IdentityMismatch`]) to touch resources recorded in another one.
    /// Holds the system's lock, like [`initiate_system`](Self::initiate_system).
    pub async fn teardown_system(&self) -> Result<Report, OrchestrationError> {
        self.run(RunKind::Teardown).await
    }

    /// [`teardown_system`](Self::teardown_system) for programs without an async runtime.
    pub fn teardown_system_blocking(&self) -> Result<Report, OrchestrationError> {
        block_on(self.teardown_system())
    }

    /// Reconciles the pending intents of the recorded state with the cloud, creating and
    /// deleting nothing: every resource recorded as `creating` or `failed` is looked up by its
    /// idempotency token and adopted (recorded as created, with its id and outputs) if found,
    /// or forgotten if not. Resources recorded as `deleting` are left to teardown, whose deletes
    /// by id are idempotent. Like teardown, it needs the state and the proxies, no model.
    ///
    /// [`initiate_system`](Self::initiate_system) and
    /// [`teardown_system`](Self::teardown_system) reconcile too (each pending intent when they
    /// reach it); `recover` does it for all of them at once, without going further.
    pub async fn recover_system(&self) -> Result<Report, OrchestrationError> {
        self.run(RunKind::Recover).await
    }

    /// The context the phases of one run work with.
    fn cx(&self, em: Emitter, identities: Identities, run_id: &str) -> RunCx {
        let i = &self.inner;
        let digester = crate::digest::Digester::load(&i.opts.state_dir);
        RunCx {
            run_id: Arc::from(run_id),
            digester: Arc::new(std::sync::Mutex::new(digester)),
            system: Arc::from(i.system.as_str()),
            proxies: i.proxies.clone(),
            connectors: i.connectors.clone(),
            opts: i.opts.clone(),
            cancel: i.cancel.clone(),
            em,
            identities: Arc::new(identities),
        }
    }

    /// What a run checks before it touches anything: a run from state needs a proxy for every
    /// provider the state names; every run needs each proxy it uses to talk to the cloud the
    /// recorded resources were made in. Returns the proxies' identities.
    async fn preflight(
        &self,
        kind: &RunKind,
        state: &SystemState,
    ) -> Result<Identities, OrchestrationError> {
        let i = &self.inner;
        let recorded = state.resources.values().map(|r| r.provider.clone());
        let providers: BTreeSet<String> = match kind {
            RunKind::Initiate(plan) => plan
                .resources
                .iter()
                .map(|r| r.provider.clone())
                .chain(recorded)
                .collect(),
            RunKind::Teardown | RunKind::Recover => {
                self.check_providers(state)?;
                recorded.collect()
            }
        };
        let policy = &i.opts.provision_retry;
        crate::identity::check(&i.system, &i.proxies, &providers, state, policy, &i.cancel).await
    }

    /// Every run: in a `run` span, under the system's lock, recorded in the run history, with
    /// its events delivered before it returns.
    async fn run(&self, kind: RunKind) -> Result<Report, OrchestrationError> {
        let span = tracing::info_span!(
            "run",
            system = %self.inner.system,
            action = kind.action(),
            run = tracing::field::Empty,
        );
        self.run_locked(kind).instrument(span).await
    }

    async fn run_locked(&self, kind: RunKind) -> Result<Report, OrchestrationError> {
        let i = &self.inner;
        let action = kind.action();
        let store = i.store.open().await?;
        let mut scope = RunScope::begin(&store, &i.system, action, i.opts.lock).await?;
        tracing::Span::current().record("run", scope.run.id.as_str());
        let identities = match self.preflight(&kind, &scope.state).await {
            Ok(ids) => ids,
            Err(e) => {
                scope.run.detail = Some(e.to_string());
                let saved = scope.finish(RunOutcome::Failed, Vec::new()).await;
                // A cancellation asked for while the run checked its proxies was for it.
                i.cancel.spend();
                saved?;
                return Err(e);
            }
        };
        let t0 = tokio::time::Instant::now();
        let (em, delivery) = Emitter::start(&i.system, i.sinks.clone());
        let cx = self.cx(em.clone(), identities, &scope.run.id);
        em.emit(EventKind::OrchestrationStarting { action });
        let mut report = Report::new(&i.system, action);
        let res = match &kind {
            RunKind::Initiate(plan) => initiate(&cx, plan, &mut scope, &mut report).await,
            RunKind::Teardown => {
                crate::teardown::teardown(&cx, &mut scope.state, &scope.journal, &mut report).await
            }
            RunKind::Recover => {
                crate::recover::recover(&cx, &mut scope.state, &scope.journal, &mut report).await
            }
        };
        report.duration = t0.elapsed();
        report.nothing_to_do = report.success
            && !report.cancelled
            && match kind {
                RunKind::Initiate(_) => {
                    report
                        .resources
                        .iter()
                        .all(|r| r.outcome == ResourceOutcome::AlreadyPresent)
                        && report
                            .tasks
                            .iter()
                            .all(|t| t.outcome == TaskOutcome::AlreadyDone)
                }
                RunKind::Teardown | RunKind::Recover => report.resources.is_empty(),
            };
        if report.nothing_to_do {
            em.emit(EventKind::NothingToDo);
        }
        em.emit(EventKind::OrchestrationFinished {
            success: report.success,
            cancelled: report.cancelled,
        });
        let outcome = if res.is_err() {
            RunOutcome::Failed
        } else {
            crate::journal::outcome(&report)
        };
        let mut extra = Vec::new();
        let targeted = !i.opts.targets.is_empty() || !i.opts.target_excludes.is_empty();
        if let (RunKind::Initiate(_), Some(v), false) = (&kind, &i.opts.version, targeted) {
            let rec = Some(VersionRecord {
                version: v.clone(),
                run: scope.run.id.clone(),
                at: now_secs(),
            });
            match outcome {
                RunOutcome::Succeeded => extra.push(Change::SetLastKnownGood(rec)),
                RunOutcome::Failed => extra.push(Change::SetLastKnownBad(rec)),
                _ => {}
            }
            scope.run.detail = Some(format!("version {v}"));
        }
        let saved = scope.finish(outcome, extra).await;
        // Delivery ends when the last emitter is gone.
        drop((cx, em));
        let _ = delivery.await;
        // A cancellation requested during this run (even by a subscriber, from an event
        // delivered late) was for this run.
        i.cancel.spend();
        res?;
        saved?;
        Ok(report)
    }

    /// Every provider the recorded resources name must have been given.
    fn check_providers(&self, state: &SystemState) -> Result<(), OrchestrationError> {
        let i = &self.inner;
        for r in state.resources.values() {
            if !i.proxies.iter().any(|p| p.name() == r.provider) {
                return Err(OrchestrationError::MissingProvider {
                    system: i.system.clone(),
                    provider: r.provider.clone(),
                    example: r.key.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The body of an initiate: provisioning, then (if it succeeded) configuration.
async fn initiate(
    cx: &RunCx,
    plan: &Arc<Plan>,
    scope: &mut RunScope,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    report
        .warnings
        .extend(plan.warnings.iter().map(ToString::to_string));
    let (state, jr) = (&mut scope.state, &scope.journal);
    let mut migrated = crate::legacy::rename_v2_task_keys(plan, state);
    let stamped = crate::legacy::stamp_identities(cx, state);
    if !stamped.is_empty() {
        report.warnings.push(format!(
            "{} resource(s) recorded before hoist knew cloud identities now record the identity of the proxy this run uses: check that it is the cloud they were made in",
            stamped.len()
        ));
    }
    migrated.extend(stamped);
    if !migrated.is_empty() {
        jr.write(state, migrated).await?;
    }
    if cx.opts.refresh_first {
        let drift =
            crate::drift::read_back(&cx.proxies, state, plan.secrets(), cx.opts.concurrency).await;
        if drift.has_drift() {
            report.warnings.push(drift.to_string());
        }
        let changes = drift.changes(state);
        if !changes.is_empty() {
            jr.write(state, changes).await?;
        }
    }
    let diff = {
        let mut d = cx
            .digester
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::diff::compute(&cx.system, plan, Some(state), &cx.proxies, &mut d)
    };
    let selection =
        crate::target::for_initiate(plan, state, &cx.opts.targets, &cx.opts.target_excludes);
    let mut diff = diff;
    if let Some(sel) = &selection {
        diff.resources
            .retain(|r| sel.has_resource(plan, r.key.split('~').next().unwrap_or(&r.key)));
        report.warnings.push(
            "this run was targeted: what it left out is not converged, and no version is recorded as last known good"
                .into(),
        );
    }
    if !diff.violations.is_empty() {
        return Err(OrchestrationError::Refused(diff.violations));
    }
    crate::day2::apply(cx, plan, &diff, state, jr, report, selection.as_ref()).await?;
    if report.success && !report.cancelled && !plan.tasks.is_empty() {
        crate::configure::configure(cx, plan, state, jr, report, selection.as_ref()).await?;
    }
    crate::day2::delete_deposed(cx, plan, state, jr, report, selection.as_ref()).await
}

/// Frees `big` (a plan, a state: millions of small allocations) on a thread of its own, so
/// that the caller does not wait for it (as rust-analyzer drops large trees). If no thread
/// can be started, the closure, and `big` with it, is dropped here.
fn drop_in_background<T: Send + 'static>(big: T) {
    let _ = std::thread::Builder::new()
        .name("hoist-drop".into())
        .spawn(move || drop(big));
}

/// `.hoist/state.db` in the current directory, as an absolute path.
fn default_state_path() -> Result<PathBuf, OrchestrationError> {
    let cwd = std::env::current_dir().map_err(|e| {
        OrchestrationError::Setup(format!(
            "cannot tell the current directory, where the state is kept by default ({e}); give a state store"
        ))
    })?;
    Ok(cwd.join(hoist_state::DEFAULT_STATE_PATH))
}

fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, OrchestrationError>>,
) -> Result<T, OrchestrationError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(OrchestrationError::Setup(
            "a blocking call was made from inside an async runtime; use the async form with `.await`".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| OrchestrationError::Setup(format!("cannot start an async runtime: {e}")))?;
    rt.block_on(f)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl OrchestrationBuilder {
    #[track_caller]
    fn model<M: Model>(mut self, kind: ModelKind, name: &str, m: M) -> Self {
        self.models.push(OwnedModel {
            loc: hoist_core::SourceLoc::caller(),
            kind,
            name: name.to_string(),
            type_key: std::any::type_name::<M>(),
            root: Box::new(m),
        });
        self
    }

    /// Adds an infra model instance named `name`.
    #[must_use]
    #[track_caller]
    pub fn infra<M: Model>(self, name: &str, m: M) -> Self {
        self.model(ModelKind::Infra, name, m)
    }

    /// Adds a namespace model instance.
    #[must_use]
    #[track_caller]
    pub fn namespace<M: Model>(self, name: &str, m: M) -> Self {
        self.model(ModelKind::Namespace, name, m)
    }

    /// Adds a config model instance.
    #[must_use]
    #[track_caller]
    pub fn config<M: Model>(self, name: &str, m: M) -> Self {
        self.model(ModelKind::Config, name, m)
    }

    /// Adds a provisioner proxy.
    #[must_use]
    pub fn provisioner(mut self, p: Arc<dyn Provisioner>) -> Self {
        self.proxies.push(p);
        self
    }

    /// The state store. By default the state is kept in `.hoist/state.db` (SQLite) in the
    /// directory the orchestration is built in, created by the first run that needs it
    /// (planning never creates it), so that `hoist status` and `hoist down` there find it
    /// and a crash loses nothing. Give a [`SqliteStore`](hoist_state::SqliteStore) elsewhere,
    /// a [`PgStore`](hoist_state::PgStore) for a team, or see
    /// [`state_in_memory`](Self::state_in_memory).
    #[must_use]
    pub fn state(mut self, s: Arc<dyn StateStore>) -> Self {
        self.store = Some(s);
        self
    }

    /// Keeps the state in memory, for this process only: for tests. Nothing survives the
    /// process, so a crash forgets what a run created.
    #[must_use]
    pub fn state_in_memory(self) -> Self {
        self.state(Arc::new(MemoryStore::new()))
    }

    /// Adds an event subscriber.
    #[must_use]
    pub fn subscribe(mut self, s: impl EventSink) -> Self {
        self.sinks.push(Arc::new(s));
        self
    }

    /// Adds a transport connector (e.g. SSH), asked in order for hosts reached by address.
    #[must_use]
    pub fn connector(mut self, c: Arc<dyn Connector>) -> Self {
        self.connectors.push(c);
        self
    }

    /// Maximum provider calls and tasks in flight at once (default 10).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.opts.concurrency = n.max(1);
        self
    }

    /// Maximum calls in flight to the proxy named `provider`.
    #[must_use]
    pub fn provider_limit(mut self, provider: &str, n: usize) -> Self {
        self.opts
            .provider_limits
            .insert(provider.to_string(), n.max(1));
        self
    }

    /// Maximum tasks in flight on one host (default 8, below OpenSSH's `MaxSessions` of 10).
    #[must_use]
    pub fn host_limit(mut self, n: usize) -> Self {
        self.opts.host_limit = n.max(1);
        self
    }

    /// Stop scheduling at the first failure (the default); in-flight work finishes.
    #[must_use]
    pub fn fail_fast(mut self) -> Self {
        self.opts.fail_fast = true;
        self
    }

    /// Keep going after a failure: only what depends on the failed work is skipped.
    #[must_use]
    pub fn keep_going(mut self) -> Self {
        self.opts.fail_fast = false;
        self
    }

    /// How hosts are checked before configuration.
    #[must_use]
    pub fn readiness(mut self, r: Readiness) -> Self {
        self.opts.readiness = r;
        self
    }

    /// Retry policy for provider calls that fail with a retryable error (throttling, transient).
    #[must_use]
    pub fn provision_retry(mut self, p: RetryPolicy) -> Self {
        self.opts.provision_retry = p;
        self
    }

    /// Overrides a variable for every role.
    #[must_use]
    #[track_caller]
    pub fn override_var(mut self, name: &str, value: impl Into<VarValue>) -> Self {
        self.opts.overrides = self.opts.overrides.override_var(name, value);
        self
    }

    /// Excludes a resource (or a group / multi) from provisioning.
    #[must_use]
    pub fn exclude(mut self, r: &impl HasRefPath) -> Self {
        self.opts.excludes.push(r.ref_path().clone());
        self
    }

    /// Credentials for hosts provisioned by the proxy `provider`.
    #[must_use]
    pub fn cloud_credentials(mut self, provider: &str, c: Credentials) -> Self {
        self.opts.cloud_creds.insert(provider.to_string(), c);
        self
    }

    /// Reach the host known as `host` (an address, or a resource key `<model>/<path>`) at
    /// `endpoint` instead. This is how tests map addresses an emulator returns (never to be
    /// dialled) to loopback test hosts.
    #[must_use]
    pub fn connect_override(mut self, host: &str, endpoint: HostEndpoint) -> Self {
        self.opts
            .connect_overrides
            .insert(host.to_string(), endpoint);
        self
    }

    /// The directory relative local paths (scripts, templates, copy sources) are resolved
    /// against (default: the current directory).
    #[must_use]
    pub fn local_dir(mut self, d: impl Into<PathBuf>) -> Self {
        self.opts.local_dir = d.into();
        self
    }

    /// The sudo password for tasks with a become user (`Task::sudo`, `Task::become_user`): one
    /// password shared by every host, fed to `sudo -S` on standard input and scrubbed from all
    /// output. Without it (and without [`sudo_prompt`](Self::sudo_prompt)) such tasks run
    /// `sudo -n`, which fails if a host asks for a password.
    #[must_use]
    pub fn sudo_password(mut self, password: Secret) -> Self {
        self.opts.sudo_password = Some(password);
        self
    }

    /// Asks for the sudo password when it is first needed: at most once per run, when the
    /// first task with a become user starts (never if no such task runs). The answer is used
    /// for every host, like [`sudo_password`](Self::sudo_password), which takes precedence.
    /// The prompt runs on a blocking thread, so it may read a terminal.
    #[must_use]
    pub fn sudo_prompt(mut self, prompt: impl Fn() -> Secret + Send + Sync + 'static) -> Self {
        self.opts.sudo_prompt = Some(Arc::new(prompt));
        self
    }

    /// The lease of the system's lock (default 30 s): while a run holds the lock, a heartbeat
    /// renews it every third of the lease; a run that stops renewing (a hung or killed process
    /// on another host) loses the lock once the lease has run out, and another run may take
    /// it over. (A killed process of the same host is noticed at once.)
    #[must_use]
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.opts.lock.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Wait up to `wait` for the system's lock if another run holds it (default: fail at once
    /// with [`StateError::Locked`](hoist_state::StateError::Locked), which names the holder, its host and the lock's age).
    #[must_use]
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.opts.lock.wait = Some(wait);
        self
    }

    /// Lets a teardown forget objects it finds gone even when most of them are (the library
    /// form of `hoist down --forget-missing`). By default a teardown that finds at least 3
    /// of its objects gone, and more than half, deletes what it finds but forgets none of the
    /// missing ones, reports them [`Missing`](crate::ResourceOutcome::Missing) and fails:
    /// that many vanished objects usually mean the proxy talks to another cloud than the
    /// state was made in. (Objects found gone are otherwise forgotten, reported
    /// [`AlreadyAbsent`](crate::ResourceOutcome::AlreadyAbsent).)
    #[must_use]
    pub fn forget_missing(mut self) -> Self {
        self.opts.forget_missing = true;
        self
    }

    /// Lets a teardown delete protected resources too (`hoist down --force`). Without it, a
    /// teardown of a system with a protected resource is refused before it deletes anything.
    #[must_use]
    pub fn force_protected(mut self) -> Self {
        self.opts.force_protected = true;
        self
    }

    /// Makes each initiate read every recorded object back first ([`Orchestration::refresh`])
    /// and record what it found: an object deleted outside hoist is created again, changed
    /// outputs are recorded. The drift is among the report's warnings.
    #[must_use]
    pub fn refresh_first(mut self) -> Self {
        self.opts.refresh_first = true;
        self
    }

    /// Restricts runs to the resources and tasks whose addresses match `pattern`, with what
    /// they depend on (a task's host and the tasks it follows, a resource's dependencies),
    /// like `--target`; a teardown deletes the matching resources with everything that
    /// depends on them. A targeted run leaves the rest unconverged (the report says so) and
    /// never records a version as last known good. May be given several times.
    #[must_use]
    pub fn target(mut self, pattern: &str) -> Self {
        self.opts
            .targets
            .push(hoist_core::AddressPattern::new(pattern));
        self
    }

    /// Leaves the resources and tasks whose addresses match `pattern` out of runs, with what
    /// depends on them, like `--exclude`; a teardown keeps them with everything they depend
    /// on. (Unlike [`exclude`](Self::exclude), which takes a resource out of the plan.)
    #[must_use]
    pub fn exclude_matching(mut self, pattern: &str) -> Self {
        self.opts
            .target_excludes
            .push(hoist_core::AddressPattern::new(pattern));
        self
    }

    /// Runs the tasks whose addresses match `pattern` (`cfg/deploy[*]`, or `*` for all; see
    /// [`AddressPattern`](hoist_core::AddressPattern)) whatever their fingerprints say, like
    /// `--force`. Handlers among them run too.
    #[must_use]
    pub fn force_tasks(mut self, pattern: &str) -> Self {
        self.opts
            .force_tasks
            .push(hoist_core::AddressPattern::new(pattern));
        self
    }

    /// The version of the system being deployed (a release label): a successful initiate
    /// records it as the last known good version of the system, a failed one as the last
    /// known bad (what rollouts roll back to and away from).
    #[must_use]
    pub fn version(mut self, version: &str) -> Self {
        self.opts.version = Some(version.to_string());
        self
    }

    /// Builds the orchestration.
    pub fn build(mut self) -> Result<Orchestration, OrchestrationError> {
        if let Some(why) = self
            .opts
            .sudo_password
            .as_ref()
            .and_then(hoist_core::secret::too_short)
        {
            return Err(OrchestrationError::Setup(format!(
                "the sudo password: {why}"
            )));
        }
        if !self.proxies.iter().any(|p| p.supports("core.fixed_host")) {
            self.proxies.push(Arc::new(FixedHostProxy));
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.proxies {
            if !names.insert(p.name().to_string()) {
                return Err(OrchestrationError::Setup(format!(
                    "two provisioner proxies are named `{}`",
                    p.name()
                )));
            }
        }
        if self.opts.state_dir.as_os_str().is_empty() {
            self.opts.state_dir = std::env::current_dir().unwrap_or_default();
        }
        Ok(Orchestration {
            inner: Arc::new(Inner {
                system: self.system,
                models: self.models,
                proxies: self.proxies.into(),
                store: match self.store {
                    Some(s) => StoreSlot::Given(s),
                    None => StoreSlot::default_at(default_state_path()?),
                },
                sinks: self.sinks,
                connectors: self.connectors.into(),
                opts: Arc::new(self.opts),
                cancel: Cancel::default(),
            }),
        })
    }
}

/// The controller's files, relative paths against the orchestration's local directory (what
/// the task runner reads them from).
struct LocalDir<'a>(&'a std::path::Path);

impl hoist_core::LocalFiles for LocalDir<'_> {
    fn read_text(&self, path: &std::path::Path) -> Result<String, String> {
        std::fs::read_to_string(self.0.join(path)).map_err(|e| e.to_string())
    }
    fn exists(&self, path: &std::path::Path) -> bool {
        self.0.join(path).exists()
    }
}

/// Chooses proxies by Actuator's rules: exactly one supporter (whose name matches `cloud` if
/// set), or among several the one named by `cloud`.
struct Catalog<'a>(&'a [Arc<dyn Provisioner>]);

impl ProviderCatalog for Catalog<'_> {
    fn assign(&self, kind: &str, cloud: Option<&str>) -> Result<String, String> {
        let sup: Vec<&Arc<dyn Provisioner>> = self.0.iter().filter(|p| p.supports(kind)).collect();
        let names = || {
            sup.iter()
                .map(|p| format!("`{}`", p.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (sup.as_slice(), cloud) {
            ([], _) => {
                let all: Vec<String> = self.0.iter().map(|p| format!("`{}`", p.name())).collect();
                Err(format!(
                    "no provisioner proxy supports `{kind}` (proxies given: {})",
                    all.join(", ")
                ))
            }
            ([p], None) => Ok(p.name().to_string()),
            ([p], Some(c)) if p.name() == c => Ok(c.to_string()),
            ([p], Some(c)) => Err(format!(
                "`{kind}` is pinned to proxy `{c}`, but the only proxy supporting it is `{}`",
                p.name()
            )),
            (_, None) => Err(format!(
                "several proxies support `{kind}` ({}); pin one with `cloud`",
                names()
            )),
            (_, Some(c)) => {
                if sup.iter().any(|p| p.name() == c) {
                    Ok(c.to_string())
                } else {
                    Err(format!(
                        "none of the proxies supporting `{kind}` ({}) is named `{c}`",
                        names()
                    ))
                }
            }
        }
    }

    fn check(&self, provider: &str, kind: &str, spec: &serde_json::Value) -> Vec<String> {
        self.0
            .iter()
            .find(|p| p.name() == provider)
            .map(|p| p.check(kind, spec))
            .unwrap_or_default()
    }
}
