//! Provisioning: the scheduler steps that create (or adopt), update or replace each planned
//! resource, as the diff says.
//!
//! The loop records each intent (and its idempotency token) before the call is made, starts
//! calls as permits allow, and records each outcome with the spec it applied. Workers only
//! call providers. Each resource's action is computed again from concrete values just before
//! its call: one that needs more than the diff said (a replacement where it said update)
//! fails instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hoist_core::{Outputs, Plan, ReplaceMode, ResourceId};
use hoist_provider::{
    CreateRequest, Created, ErrorKind, FindRequest, OutputMap, ProvisionError, Provisioner,
    UpdateRequest,
};
use hoist_state::{Change, ResourceRecord, ResourceStatus, SystemState, deposed_key};
use serde_json::Value;
use tracing::Instrument as _;

use crate::context::RunCx;
use crate::dag::{DagRun, NodeState, Permits, Steps, Work, drive};
use crate::diff::{Diff, DiffAction};
use crate::error::OrchestrationError;
use crate::events::{EventKind, Phase, ResourceAction};
use crate::journal::Journal;
use crate::report::{Report, ResourceOutcome, ResourceReport};
use crate::retry::retry;
use crate::target::Selection;

/// Outputs of the resources recorded as created, as the plan needs them.
pub(crate) struct StateOutputs<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) state: &'a SystemState,
}

impl StateOutputs<'_> {
    fn created(&self, r: ResourceId) -> Option<&ResourceRecord> {
        let rec = self
            .state
            .resources
            .get(&self.plan.resources[r.index()].key())?;
        (rec.status == ResourceStatus::Created).then_some(rec)
    }
}

impl Outputs for StateOutputs<'_> {
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value> {
        self.created(r)?.outputs.get(field).cloned()
    }
    fn provider_id(&self, r: ResourceId) -> Option<String> {
        self.created(r)?.provider_id.clone()
    }
}

/// `rec` recorded as created (or adopted) as `created`, with the identity of the cloud its
/// object lives in.
pub(crate) fn created_record(cx: &RunCx, rec: ResourceRecord, created: Created) -> ResourceRecord {
    let identity = match (cx.proxy(&rec.provider), cx.identity(&rec.provider)) {
        (Ok(p), Some(base)) => Some(p.identity_of(&base, &rec.kind, &created.outputs)),
        _ => rec.identity,
    };
    ResourceRecord {
        status: ResourceStatus::Created,
        provider_id: Some(created.id),
        outputs: created.outputs,
        error: None,
        identity,
        ..rec
    }
}

/// What a call did to the object.
enum Applied {
    /// Created (`true`: adopted, found by its token).
    Created(Created, bool),
    /// Changed in place.
    Updated(Created),
    /// Nothing to do (the record is brought up to date).
    Unchanged,
}

/// What a resource's call returns.
struct CallResult {
    result: Result<Applied, ProvisionError>,
    attempts: u32,
    elapsed: Duration,
    /// The call failed and a lookup by its token found nothing: it definitely made nothing.
    nothing_made: bool,
}

impl CallResult {
    fn now(result: Result<Applied, ProvisionError>) -> Work<CallResult> {
        Box::pin(async move {
            CallResult {
                result,
                attempts: 0,
                elapsed: Duration::ZERO,
                nothing_made: false,
            }
        })
    }
}

/// Emits a `ResourceRetrying` event for each failed attempt that will be retried.
pub(crate) fn on_retry(cx: &RunCx, key: &str) -> impl Fn(u32, &ProvisionError, Duration) {
    let (em, key) = (cx.em.clone(), key.to_string());
    move |attempt, e, _delay| {
        em.emit(EventKind::ResourceRetrying {
            key: key.clone(),
            attempt,
            error: e.to_string(),
        });
    }
}

/// Looks up the object an interrupted create made, with the policy's bounded retries of
/// throttling and transient failures. Returns the lookup and the attempts made.
pub(crate) async fn find_with_retry(
    cx: &RunCx,
    p: &dyn Provisioner,
    req: &FindRequest,
) -> (Result<Option<Created>, ProvisionError>, u32) {
    retry(
        &cx.opts.provision_retry,
        &cx.cancel,
        ProvisionError::is_retryable,
        on_retry(cx, &req.key),
        |_| p.find(req),
    )
    .await
}

pub(crate) async fn provision(
    cx: &RunCx,
    plan: &Arc<Plan>,
    diff: &Diff,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
    selection: Option<&Selection>,
) -> Result<(), OrchestrationError> {
    cx.em.emit(EventKind::PhaseStarting(Phase::Provisioning));
    let left_out = |i: usize| selection.is_some_and(|s| !s.resources[i]);
    let preds: Vec<Vec<u32>> = plan
        .resources
        .iter()
        .map(|r| r.deps.iter().map(|d| d.0).collect())
        .collect();
    let keys: Vec<String> = plan.resources.iter().map(|r| r.key()).collect();
    let by_key: HashMap<&str, &crate::diff::ResourceDiff> =
        diff.resources.iter().map(|d| (d.key.as_str(), d)).collect();
    let planned: Vec<(DiffAction, Option<ReplaceMode>)> = keys
        .iter()
        .map(|k| {
            by_key
                .get(k.as_str())
                .map_or((DiffAction::Create, None), |d| (d.action, d.mode))
        })
        .collect();
    // Unchanged, and recorded as it should be: nothing to do, not even a write.
    let mut dag = DagRun::new(&preds, |i| {
        left_out(i)
            || planned[i].0 == DiffAction::Unchanged
                && state.resources.get(&keys[i]).is_some_and(|r| {
                    r.status == ResourceStatus::Created
                        && r.spec.is_some()
                        && r.protect == plan.resources[i].lifecycle.protect
                })
    });
    let mut steps = Creates {
        cx,
        plan,
        state,
        jr,
        report,
        keys,
        planned,
        specs: HashMap::new(),
    };
    for i in 0..plan.resources.len() {
        if left_out(i) {
            steps.line(
                i,
                ResourceOutcome::NotAttempted,
                0,
                Duration::ZERO,
                None,
                None,
            );
        } else if dag.state[i] == NodeState::Done {
            let id = steps
                .state
                .resources
                .get(&steps.keys[i])
                .and_then(|x| x.provider_id.clone());
            steps.line(
                i,
                ResourceOutcome::AlreadyPresent,
                0,
                Duration::ZERO,
                id,
                None,
            );
        }
    }
    let opts = &cx.opts;
    let mut permits = Permits::new(
        opts.concurrency,
        opts.provider_limits.clone(),
        opts.concurrency,
    );
    let driven = drive(
        &mut steps,
        &mut dag,
        &mut permits,
        &cx.cancel,
        opts.fail_fast,
    )
    .await?;
    driven.close(Phase::Provisioning, &cx.em, report);
    Ok(())
}

/// Provisioning: create (or adopt) each planned resource.
struct Creates<'a> {
    cx: &'a RunCx,
    plan: &'a Arc<Plan>,
    state: &'a mut SystemState,
    jr: &'a Journal,
    report: &'a mut Report,
    keys: Vec<String>,
    /// What the diff said for each resource.
    planned: Vec<(DiffAction, Option<ReplaceMode>)>,
    /// What each started resource is being made or changed with.
    specs: HashMap<usize, Started>,
}

impl Creates<'_> {
    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: Duration,
        provider_id: Option<String>,
        error: Option<String>,
    ) {
        let r = &self.plan.resources[i];
        self.report.resources.push(ResourceReport {
            key: self.keys[i].clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            outcome,
            attempts,
            duration,
            provider_id,
            error,
        });
    }

    /// Records the intent of creating resource `i` (durable before the call goes out) and
    /// returns it, with whether an earlier create of it was interrupted. `replacing`: the
    /// record of the object it replaces (create first), deposed in the same write.
    async fn record_intent(
        &mut self,
        i: usize,
        replacing: Option<ResourceRecord>,
    ) -> Result<(ResourceRecord, bool), OrchestrationError> {
        let (plan, state) = (self.plan, &mut *self.state);
        let r = &plan.resources[i];
        let key = self.keys[i].clone();
        let prev = state.resources.get(&key).cloned();
        // A create that was sent but whose outcome was never recorded (or that failed in a way
        // that may have created something) is looked up by its token before creating again.
        let interrupted = replacing.is_none()
            && prev
                .as_ref()
                .is_some_and(|p| p.status != ResourceStatus::Created);
        let (token, generation, incarnation) = match (&prev, &replacing) {
            (Some(p), None) if interrupted => (p.token.clone(), p.generation, p.incarnation),
            (_, Some(old)) => (
                state.token_for_run(&key, &self.cx.run_id),
                state.generation,
                old.incarnation + 1,
            ),
            _ => (
                state.token_for_run(&key, &self.cx.run_id),
                state.generation,
                0,
            ),
        };
        let tags: BTreeMap<String, String> = [
            ("hoist:system".to_string(), self.cx.system.to_string()),
            ("hoist:resource".to_string(), key.clone()),
            ("hoist:token".to_string(), token.clone()),
        ]
        .into();
        let intent = ResourceRecord {
            name: key.clone(),
            key,
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            deps: r
                .deps
                .iter()
                .map(|d| plan.resources[d.index()].key())
                .collect(),
            status: ResourceStatus::Creating,
            token,
            provider_id: None,
            outputs: OutputMap::new(),
            error: None,
            tags,
            generation,
            identity: self.cx.identity(&r.provider),
            spec: None,
            incarnation,
            protect: r.lifecycle.protect,
            deposed_of: None,
            updating: None,
        };
        let mut changes = Vec::new();
        if let Some(old) = replacing {
            changes.push(Change::PutResource(deposed(state, old)));
        }
        changes.push(Change::PutResource(intent.clone()));
        self.jr.write(state, changes).await?;
        Ok((intent, interrupted))
    }

    /// What resource `i` needs now that its dependencies are done: the action from concrete
    /// values, the spec to send and the spec to record, and the fields that changed.
    fn now_needed(&self, i: usize, rec: &ResourceRecord) -> Result<Needed, String> {
        let r = &self.plan.resources[i];
        let outputs = StateOutputs {
            plan: self.plan,
            state: self.state,
        };
        let spec = self.plan.resolve_spec(r.id, &outputs)?;
        let recorded = self
            .cx
            .recorded_spec(&self.keys[i], &spec, self.plan.secrets())?;
        // The same comparison as the diff's, of concrete values (no spec recorded: the models
        // are the baseline; a secret that cannot be compared is no change).
        let changed: Vec<String> = {
            let d = self
                .cx
                .digester
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (fields, _) = crate::diff::changed_since(rec, &recorded, &d);
            fields.into_iter().map(|c| c.field).collect()
        };
        let allowed = self.cx.proxy(&r.provider).map_err(|e| e.to_string())?;
        let allowed = allowed.updatable(&r.kind);
        let action = if changed.is_empty() {
            DiffAction::Unchanged
        } else if changed.iter().all(|f| allowed.contains(&f.as_str())) {
            DiffAction::Update
        } else {
            DiffAction::Replace
        };
        Ok(Needed {
            action,
            spec,
            recorded,
            changed,
        })
    }
}

/// What a recorded resource needs, computed just before its call.
struct Needed {
    action: DiffAction,
    spec: Value,
    recorded: Value,
    changed: Vec<String>,
}

/// `old`, the current object of its resource, as a deposed object: kept under its own key
/// until the replacement is done, depending on what it depended on and on the deposed
/// objects of those (so that it is deleted before them).
fn deposed(state: &SystemState, old: ResourceRecord) -> ResourceRecord {
    let mut deps = old.deps.clone();
    for d in &old.deps {
        deps.extend(
            state
                .resources
                .values()
                .filter(|r| r.deposed_of.as_deref() == Some(d.as_str()))
                .map(|r| r.key.clone()),
        );
    }
    ResourceRecord {
        key: deposed_key(&old.key, old.incarnation),
        name: deposed_key(&old.key, old.incarnation),
        deposed_of: Some(old.key.clone()),
        deps,
        ..old
    }
}

/// Looks up an interrupted create's object, then creates it if there is none.
async fn create_or_adopt(
    cx: &RunCx,
    p: &dyn Provisioner,
    req: CreateRequest,
    interrupted: bool,
) -> (Result<(Created, bool), ProvisionError>, u32) {
    let mut attempts = 0;
    if interrupted {
        // A lookup that keeps failing fails the resource rather than risking a duplicate (the
        // next run looks again).
        let (found, n) = find_with_retry(cx, p, &FindRequest::from(&req)).await;
        attempts = n;
        match found {
            Ok(Some(c)) => return (Ok((c, true)), attempts),
            Ok(None) => {}
            Err(e) => {
                let msg = format!(
                    "cannot tell whether an interrupted create made the object, so not creating it again: {}",
                    e.message()
                );
                let mut why = ProvisionError::new(e.kind(), msg);
                if let Some(c) = e.code() {
                    why = why.with_code(c);
                }
                return (Err(why), attempts);
            }
        }
    }
    let (result, n) = retry(
        &cx.opts.provision_retry,
        &cx.cancel,
        ProvisionError::is_retryable,
        on_retry(cx, &req.key),
        |_| p.create(&req),
    )
    .await;
    (result.map(|c| (c, false)), attempts + n)
}

/// What a started resource is being made or changed with.
struct Started {
    /// What the call does.
    action: DiffAction,
    /// The spec to record once it succeeded.
    recorded: Option<Value>,
}

fn invalid(msg: String) -> ProvisionError {
    ProvisionError::new(ErrorKind::InvalidSpec, msg)
}

impl Creates<'_> {
    /// Starts the create of resource `i` (or of the new object of its replacement).
    async fn start_create(
        &mut self,
        i: usize,
        p: Arc<dyn Provisioner>,
        replacing: Option<ResourceRecord>,
    ) -> Result<Option<Work<CallResult>>, OrchestrationError> {
        let action = if replacing.is_some() {
            DiffAction::Replace
        } else {
            DiffAction::Create
        };
        let (intent, interrupted) = self.record_intent(i, replacing).await?;
        let spec = self.plan.resolve_spec(
            self.plan.resources[i].id,
            &StateOutputs {
                plan: self.plan,
                state: self.state,
            },
        );
        let recorded = match &spec {
            Ok(s) => self
                .cx
                .recorded_spec(&intent.key, s, self.plan.secrets())
                .ok(),
            Err(_) => None,
        };
        self.specs.insert(i, Started { action, recorded });
        self.cx.em.emit(EventKind::ResourceStarting {
            key: intent.key.clone(),
            action: match action {
                DiffAction::Replace => ResourceAction::Replace,
                _ => ResourceAction::Create,
            },
        });
        let cx = self.cx.clone();
        let span = tracing::info_span!("provider.call", provider = %intent.provider, op = "create", resource = %intent.key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let spec = match spec {
                    Ok(spec) => spec,
                    Err(e) => {
                        return CallResult {
                            result: Err(invalid(format!("cannot resolve the spec: {e}"))),
                            attempts: 0,
                            elapsed: t0.elapsed(),
                            // nothing was sent
                            nothing_made: true,
                        };
                    }
                };
                let req = CreateRequest {
                    system: cx.system.to_string(),
                    key: intent.key,
                    kind: intent.kind,
                    spec,
                    token: intent.token,
                    tags: intent.tags,
                };
                let (mut result, mut attempts) =
                    create_or_adopt(&cx, &*p, req.clone(), interrupted).await;
                let mut nothing_made = false;
                if result.is_err() && action == DiffAction::Replace {
                    // Whether the replacement's create made anything decides whether the old
                    // object can be current again.
                    let (found, n) = find_with_retry(&cx, &*p, &FindRequest::from(&req)).await;
                    attempts += n;
                    match found {
                        Ok(Some(c)) => result = Ok((c, true)),
                        Ok(None) => nothing_made = true,
                        Err(_) => {}
                    }
                }
                CallResult {
                    result: result.map(|(c, adopted)| Applied::Created(c, adopted)),
                    attempts,
                    elapsed: t0.elapsed(),
                    nothing_made,
                }
            }
            .instrument(span),
        )))
    }

    /// Starts the in-place update of resource `i`, recorded as `rec`: records the spec it
    /// sends as `updating` first (cleared when it succeeds), so an update cut off by a crash
    /// is planned again whatever the models say by then.
    async fn start_update(
        &mut self,
        p: Arc<dyn Provisioner>,
        rec: ResourceRecord,
        needed: Needed,
    ) -> Result<Work<CallResult>, OrchestrationError> {
        let rec = ResourceRecord {
            updating: Some(needed.recorded),
            ..rec
        };
        self.jr.resource(self.state, rec.clone()).await?;
        self.cx.em.emit(EventKind::ResourceStarting {
            key: rec.key.clone(),
            action: ResourceAction::Update,
        });
        let req = UpdateRequest {
            system: self.cx.system.to_string(),
            key: rec.key.clone(),
            kind: rec.kind.clone(),
            id: rec.provider_id.clone().unwrap_or_default(),
            spec: needed.spec,
            changed: needed.changed,
            outputs: rec.outputs.clone(),
        };
        let cx = self.cx.clone();
        let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "update", resource = %rec.key);
        Ok(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                // An update sets fields to values: sending it again is safe.
                let (result, attempts) = retry(
                    &cx.opts.provision_retry,
                    &cx.cancel,
                    ProvisionError::is_retryable,
                    on_retry(&cx, &req.key),
                    |_| p.update(&req),
                )
                .await;
                CallResult {
                    result: result.map(Applied::Updated),
                    attempts,
                    elapsed: t0.elapsed(),
                    nothing_made: false,
                }
            }
            .instrument(span),
        ))
    }

    /// After the create of a replacement definitely made nothing, makes the object it was to
    /// replace current again (as Terraform restores a deposed object): the resource is as it
    /// was before the run, and the next run plans the replacement anew. `rec`: the intent of
    /// the replacement, which this overwrites.
    async fn restore_deposed(
        &mut self,
        rec: &ResourceRecord,
    ) -> Result<Option<ResourceRecord>, OrchestrationError> {
        let Some(incarnation) = rec.incarnation.checked_sub(1) else {
            return Ok(None);
        };
        let old_key = deposed_key(&rec.key, incarnation);
        let state = &mut *self.state;
        let Some(old) = state
            .resources
            .get(&old_key)
            .filter(|o| o.deposed_of.as_deref() == Some(rec.key.as_str()))
            .cloned()
        else {
            return Ok(None);
        };
        // Its own dependencies again, without the deposed objects a deposed object waits for.
        let deps = old
            .deps
            .iter()
            .filter(|d| {
                state
                    .resources
                    .get(*d)
                    .is_none_or(|r| r.deposed_of.is_none())
            })
            .cloned()
            .collect();
        let current = ResourceRecord {
            key: rec.key.clone(),
            name: rec.key.clone(),
            deposed_of: None,
            deps,
            ..old
        };
        let changes = vec![
            Change::RemoveResource(old_key),
            Change::PutResource(current.clone()),
        ];
        self.jr.write(state, changes).await?;
        Ok(Some(current))
    }

    /// Records the outcome of a call that failed; `intact`: `rec` is an object that is still
    /// there as it was (it stays created).
    async fn failed(
        &mut self,
        i: usize,
        mut rec: ResourceRecord,
        intact: bool,
        e: &ProvisionError,
        (attempts, elapsed): (u32, Duration),
    ) -> Result<bool, OrchestrationError> {
        let key = self.keys[i].clone();
        let msg = hoist_core::secret::scrub(&e.to_string(), self.plan.secrets());
        if !intact {
            rec.status = ResourceStatus::Failed;
        }
        rec.error = Some(msg.clone());
        self.jr.resource(self.state, rec).await?;
        self.cx.em.emit(EventKind::ResourceFailed {
            key: key.clone(),
            error: msg.clone(),
        });
        tracing::warn!(resource = %key, error = %msg, "resource failed");
        let outcome = ResourceOutcome::Failed;
        self.line(i, outcome, attempts, elapsed, None, Some(msg));
        Ok(false)
    }
}

impl Steps for Creates<'_> {
    type Done = CallResult;

    fn permit_key(&self, i: usize) -> String {
        self.plan.resources[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<CallResult>>, OrchestrationError> {
        let p = self.cx.proxy(&self.plan.resources[i].provider)?;
        let existing = self
            .state
            .resources
            .get(&self.keys[i])
            .filter(|r| r.status == ResourceStatus::Created)
            .cloned();
        let Some(rec) = existing else {
            return self.start_create(i, p, None).await;
        };
        let (planned, mode) = self.planned[i];
        let needed = match self.now_needed(i, &rec) {
            Ok(n) => n,
            Err(e) => {
                self.specs.insert(
                    i,
                    Started {
                        action: DiffAction::Unchanged,
                        recorded: None,
                    },
                );
                let e = invalid(format!("cannot resolve the spec: {e}"));
                return Ok(Some(CallResult::now(Err(e))));
            }
        };
        let refused = match (planned, mode, needed.action) {
            (DiffAction::Replace, Some(ReplaceMode::DeleteFirst), DiffAction::Replace) => Some(
                "its old object had to be deleted first, and was not: nothing was created"
                    .to_string(),
            ),
            (DiffAction::Replace, _, _) | (_, _, DiffAction::Unchanged | DiffAction::Update) => {
                None
            }
            (p, _, _) => Some(format!(
                "the plan said {}, but applying it needs a replacement ({} changed since): plan again",
                p.word(),
                needed.changed.join(", ")
            )),
        };
        if let Some(why) = refused {
            self.specs.insert(
                i,
                Started {
                    action: DiffAction::Unchanged,
                    recorded: None,
                },
            );
            return Ok(Some(CallResult::now(Err(invalid(why)))));
        }
        let recorded = Some(needed.recorded.clone());
        match needed.action {
            DiffAction::Update => {
                self.specs.insert(
                    i,
                    Started {
                        action: DiffAction::Update,
                        recorded,
                    },
                );
                Ok(Some(self.start_update(p, rec, needed).await?))
            }
            DiffAction::Replace => self.start_create(i, p, Some(rec)).await,
            _ => {
                self.specs.insert(
                    i,
                    Started {
                        action: DiffAction::Unchanged,
                        recorded,
                    },
                );
                Ok(Some(CallResult::now(Ok(Applied::Unchanged))))
            }
        }
    }

    async fn finish(
        &mut self,
        i: usize,
        done: Option<CallResult>,
    ) -> Result<bool, OrchestrationError> {
        let done = done.unwrap_or_else(|| CallResult {
            result: Err(ProvisionError::new(
                ErrorKind::Other,
                "the worker calling the provider panicked",
            )),
            attempts: 0,
            elapsed: Duration::ZERO,
            nothing_made: false,
        });
        let key = self.keys[i].clone();
        let Some(rec) = self.state.resources.get(&key).cloned() else {
            return Err(OrchestrationError::Setup(format!(
                "the intent of `{key}` is not in the state"
            )));
        };
        let started = self.specs.remove(&i).unwrap_or(Started {
            action: DiffAction::Create,
            recorded: None,
        });
        let protect = self.plan.resources[i].lifecycle.protect;
        let (rec, outcome) = match done.result {
            Err(e) => {
                let took = (done.attempts, done.elapsed);
                let restored = if started.action == DiffAction::Replace && done.nothing_made {
                    self.restore_deposed(&rec).await?
                } else {
                    None
                };
                // A failed update, or a replacement that gave the old object back, leaves an
                // object as it was: still created.
                let intact = restored.is_some()
                    || matches!(started.action, DiffAction::Update | DiffAction::Unchanged);
                let rec = restored.unwrap_or(rec);
                return self.failed(i, rec, intact, &e, took).await;
            }
            Ok(Applied::Created(created, adopted)) => {
                let outcome = match (adopted, started.action) {
                    (true, _) => ResourceOutcome::Adopted,
                    (false, DiffAction::Replace) => ResourceOutcome::Replaced,
                    _ => ResourceOutcome::Created,
                };
                (created_record(self.cx, rec, created), outcome)
            }
            Ok(Applied::Updated(updated)) => {
                let rec = ResourceRecord {
                    outputs: updated.outputs,
                    error: None,
                    ..rec
                };
                (rec, ResourceOutcome::Updated)
            }
            Ok(Applied::Unchanged) => (rec, ResourceOutcome::AlreadyPresent),
        };
        // Updated or unchanged, the object now holds the recorded spec.
        let rec = ResourceRecord {
            spec: started.recorded.or(rec.spec.clone()),
            protect,
            updating: None,
            ..rec
        };
        let id = rec.provider_id.clone();
        if self.state.resources.get(&key) != Some(&rec) {
            self.jr.resource(self.state, rec).await?;
        }
        if outcome != ResourceOutcome::AlreadyPresent {
            self.cx.em.emit(EventKind::ResourceFinished {
                key: key.clone(),
                outcome: outcome.clone(),
            });
            tracing::info!(resource = %key, id = ?id, outcome = outcome.word(), "resource ready");
        }
        self.line(i, outcome, done.attempts, done.elapsed, id, None);
        Ok(true)
    }

    fn not_run(&mut self, i: usize) {
        let outcome = ResourceOutcome::NotAttempted;
        self.line(i, outcome, 0, Duration::ZERO, None, None);
    }
}
