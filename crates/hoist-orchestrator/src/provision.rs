//! The provisioning and teardown schedulers.
//!
//! One loop per phase owns the state: it records each intent (and its idempotency token)
//! before the call is made, starts calls as permits allow, and records each outcome. Workers
//! only call providers.

use std::collections::HashMap;
use std::sync::Arc;

use hoist_core::{Outputs, Plan, ResourceId, RetryPolicy};
use hoist_provider::{
    CreateRequest, Created, DeleteRequest, ErrorKind, FindRequest, OutputMap, ProvisionError,
    Provisioner,
};
use hoist_state::{Change, ResourceRecord, ResourceStatus, SystemState};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::dag::{DagRun, Permits, Steps, Work, drive};
use crate::events::{Emitter, EventKind, Phase, ResourceAction};
use crate::journal::Journal;
use crate::orchestration::{Cancel, Orchestration, OrchestrationError};
use crate::report::{Report, ResourceOutcome, ResourceReport};

/// Outputs of the resources recorded as created, as the plan needs them.
pub(crate) struct StateOutputs<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) state: &'a SystemState,
}

impl Outputs for StateOutputs<'_> {
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value> {
        let rec = self
            .state
            .resources
            .get(&self.plan.resources[r.index()].key())?;
        if rec.status != ResourceStatus::Created {
            return None;
        }
        rec.outputs.get(field).cloned()
    }
    fn provider_id(&self, r: ResourceId) -> Option<String> {
        let rec = self
            .state
            .resources
            .get(&self.plan.resources[r.index()].key())?;
        if rec.status != ResourceStatus::Created {
            return None;
        }
        rec.provider_id.clone()
    }
}

/// What a create returns: the object and whether it was adopted (found by its token).
struct CallResult {
    result: Result<(Created, bool), ProvisionError>,
    attempts: u32,
    elapsed: std::time::Duration,
}

fn proxy<'a>(o: &'a Orchestration, name: &str) -> Option<&'a Arc<dyn Provisioner>> {
    o.inner.proxies.iter().find(|p| p.name() == name)
}

/// Calls `op` until it succeeds, fails with a non-retryable error, runs out of attempts, or
/// the run is cancelled. `retryable` decides which errors are worth another attempt.
async fn with_retry<T, F, Fut>(
    policy: RetryPolicy,
    cancel: &Cancel,
    retryable: impl Fn(&ProvisionError) -> bool,
    mut on_retry: impl FnMut(u32, &ProvisionError),
    mut op: F,
) -> (Result<T, ProvisionError>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProvisionError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(v) => return (Ok(v), attempt),
            Err(e) if retryable(&e) && attempt < policy.attempts && !cancel.is_cancelled() => {
                on_retry(attempt, &e);
                tokio::select! {
                    () = cancel.cancelled() => return (Err(e), attempt),
                    () = tokio::time::sleep(policy.delay_before(attempt + 1)) => {}
                }
            }
            Err(e) => return (Err(e), attempt),
        }
    }
}

pub(crate) async fn provision(
    o: &Orchestration,
    plan: &Arc<Plan>,
    state: &mut SystemState,
    jr: &Journal,
    em: &Emitter,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    let inner = &o.inner;
    em.emit(EventKind::PhaseStarting(Phase::Provisioning));
    let preds: Vec<Vec<u32>> = plan
        .resources
        .iter()
        .map(|r| r.deps.iter().map(|d| d.0).collect())
        .collect();
    let keys: Vec<String> = plan.resources.iter().map(|r| r.key()).collect();
    let mut dag = DagRun::new(&preds, |i| {
        state
            .resources
            .get(&keys[i])
            .is_some_and(|r| r.status == ResourceStatus::Created)
    });
    let mut steps = Creates {
        o,
        plan,
        state,
        jr,
        em,
        report,
        keys,
    };
    for i in 0..plan.resources.len() {
        if dag.state[i] == crate::dag::NodeState::Done {
            let id = steps
                .state
                .resources
                .get(&steps.keys[i])
                .and_then(|x| x.provider_id.clone());
            steps.line(
                i,
                ResourceOutcome::AlreadyPresent,
                0,
                std::time::Duration::ZERO,
                id,
                None,
            );
        }
    }
    let mut permits = Permits::new(
        inner.opts.concurrency,
        inner.opts.provider_limits.clone(),
        inner.opts.concurrency,
    );
    let driven = drive(
        &mut steps,
        &mut dag,
        &mut permits,
        &inner.cancel,
        inner.opts.fail_fast,
    )
    .await?;
    driven.close(Phase::Provisioning, em, report);
    Ok(())
}

/// Provisioning: create (or adopt) each planned resource.
struct Creates<'a> {
    o: &'a Orchestration,
    plan: &'a Arc<Plan>,
    state: &'a mut SystemState,
    jr: &'a Journal,
    em: &'a Emitter,
    report: &'a mut Report,
    keys: Vec<String>,
}

impl Creates<'_> {
    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: std::time::Duration,
        provider_id: Option<String>,
        error: Option<String>,
    ) {
        let r = &self.plan.resources[i];
        self.report.resources.push(ResourceReport {
            key: self.keys[i].clone(),
            name: r.long_name.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            outcome,
            attempts,
            duration,
            provider_id,
            error,
        });
    }
}

impl Steps for Creates<'_> {
    type Done = CallResult;

    fn permit_key(&self, i: usize) -> String {
        self.plan.resources[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<CallResult>>, OrchestrationError> {
        let (plan, state) = (self.plan, &mut *self.state);
        let inner = &self.o.inner;
        let r = &plan.resources[i];
        let key = self.keys[i].clone();
        let prev = state.resources.get(&key).cloned();
        // A create that was sent but whose outcome was never recorded (or that failed in a way
        // that may have created something) is looked up by its token before creating again.
        let interrupted = prev
            .as_ref()
            .is_some_and(|p| p.status != ResourceStatus::Created);
        let token = match &prev {
            Some(p) if interrupted => p.token.clone(),
            _ => state.token_for(&key),
        };
        let spec = plan.resolve_spec(r.id, &StateOutputs { plan, state });
        let deps: Vec<String> = r
            .deps
            .iter()
            .map(|d| plan.resources[d.index()].key())
            .collect();
        let Some(p) = proxy(self.o, &r.provider).cloned() else {
            return Err(OrchestrationError::Setup(format!(
                "no proxy named `{}`",
                r.provider
            )));
        };
        let system = inner.system.clone();
        let kind = r.kind.clone();
        let tags: std::collections::BTreeMap<String, String> = [
            ("hoist:system".to_string(), system.clone()),
            ("hoist:resource".to_string(), key.clone()),
            ("hoist:token".to_string(), token.clone()),
        ]
        .into();
        // The intent, with its token and tags, is durable before the call goes out.
        let intent = ResourceRecord {
            key: key.clone(),
            name: r.long_name.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            deps,
            status: ResourceStatus::Creating,
            token: token.clone(),
            provider_id: None,
            outputs: OutputMap::new(),
            error: None,
            tags: tags.clone(),
            generation: match &prev {
                Some(p) if interrupted => p.generation,
                _ => state.generation,
            },
        };
        self.jr.resource(state, intent).await?;
        self.em.emit(EventKind::ResourceStarting {
            key: key.clone(),
            action: ResourceAction::Create,
        });
        let policy = inner.opts.provision_retry;
        let cancel = inner.cancel.clone();
        let em = self.em.clone();
        let span = tracing::info_span!("provider.call", provider = %r.provider, op = "create", resource = %key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let done = |result, attempts| CallResult {
                    result,
                    attempts,
                    elapsed: t0.elapsed(),
                };
                let spec = match spec {
                    Ok(s) => s,
                    Err(e) => {
                        let msg = format!("cannot resolve the spec: {e}");
                        return done(Err(ProvisionError::new(ErrorKind::InvalidSpec, msg)), 0);
                    }
                };
                let retrying = |attempt, e: &ProvisionError| {
                    em.emit(EventKind::ResourceRetrying {
                        key: key.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                };
                if interrupted {
                    // An interrupted create may have made the object: look it up first. A
                    // lookup that keeps failing fails the resource rather than risking a
                    // duplicate (the next run looks again).
                    let find = FindRequest {
                        system: system.clone(),
                        key: key.clone(),
                        kind: kind.clone(),
                        token: token.clone(),
                    };
                    let (found, attempts) = with_retry(
                        policy,
                        &cancel,
                        ProvisionError::is_retryable,
                        &retrying,
                        || p.find(&find),
                    )
                    .await;
                    match found {
                        Ok(Some(c)) => return done(Ok((c, true)), attempts),
                        Ok(None) => {}
                        Err(e) => {
                            let mut why = ProvisionError::new(
                                e.kind(),
                                format!(
                                    "cannot tell whether an interrupted create made the object, so not creating it again: {}",
                                    e.message()
                                ),
                            );
                            if let Some(c) = e.code() {
                                why = why.with_code(c);
                            }
                            return done(Err(why), attempts);
                        }
                    }
                }
                let req = CreateRequest {
                    system,
                    key: key.clone(),
                    kind,
                    spec,
                    token,
                    tags,
                };
                let (result, attempts) = with_retry(
                    policy,
                    &cancel,
                    ProvisionError::is_retryable,
                    &retrying,
                    || p.create(&req),
                )
                .await;
                done(result.map(|c| (c, false)), attempts)
            }
            .instrument(span),
        )))
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
            elapsed: std::time::Duration::ZERO,
        });
        let key = self.keys[i].clone();
        let mut rec = self
            .state
            .resources
            .get(&key)
            .cloned()
            .expect("intent recorded before the call");
        match done.result {
            Ok((created, adopted)) => {
                rec.status = ResourceStatus::Created;
                rec.provider_id = Some(created.id.clone());
                rec.outputs = created.outputs;
                rec.error = None;
                self.jr.resource(self.state, rec).await?;
                let action = if adopted {
                    ResourceAction::Adopt
                } else {
                    ResourceAction::Create
                };
                self.em.emit(EventKind::ResourceFinished {
                    key: key.clone(),
                    action,
                });
                tracing::info!(resource = %key, id = %created.id, adopted, "resource ready");
                let outcome = if adopted {
                    ResourceOutcome::Adopted
                } else {
                    ResourceOutcome::Created
                };
                self.line(
                    i,
                    outcome,
                    done.attempts,
                    done.elapsed,
                    Some(created.id),
                    None,
                );
                Ok(true)
            }
            Err(e) => {
                let msg = hoist_core::secret::scrub(&e.to_string(), self.plan.secrets());
                rec.status = ResourceStatus::Failed;
                rec.error = Some(msg.clone());
                self.jr.resource(self.state, rec).await?;
                self.em.emit(EventKind::ResourceFailed {
                    key: key.clone(),
                    error: msg.clone(),
                });
                tracing::warn!(resource = %key, error = %msg, "resource failed");
                self.line(
                    i,
                    ResourceOutcome::Failed,
                    done.attempts,
                    done.elapsed,
                    None,
                    Some(msg),
                );
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        self.line(
            i,
            ResourceOutcome::NotAttempted,
            0,
            std::time::Duration::ZERO,
            None,
            None,
        );
    }
}

/// Deletes every recorded resource, dependents first.
pub(crate) async fn teardown(
    o: &Orchestration,
    state: &mut SystemState,
    jr: &Journal,
    em: &Emitter,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    let inner = &o.inner;
    em.emit(EventKind::PhaseStarting(Phase::Teardown));
    let recs: Vec<ResourceRecord> = state.resources.values().cloned().collect();
    let index: HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    // In reverse: a resource waits for every resource that depends on it.
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); recs.len()];
    for (i, r) in recs.iter().enumerate() {
        for d in &r.deps {
            if let Some(&j) = index.get(d.as_str()) {
                preds[j].push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }
    let mut dag = DagRun::new(&preds, |_| false);
    let mut permits = Permits::new(
        inner.opts.concurrency,
        inner.opts.provider_limits.clone(),
        inner.opts.concurrency,
    );
    let had_resources = !recs.is_empty();
    // Teardown is best effort: it keeps going past a failure, and what the failed resource
    // depends on stays.
    let mut steps = Deletes {
        o,
        state,
        jr,
        em,
        report,
        recs,
    };
    let driven = drive(&mut steps, &mut dag, &mut permits, &inner.cancel, false).await?;
    if state.resources.is_empty() && driven.ok && !had_resources && !state.tasks.is_empty() {
        // Nothing was provisioned (config only): config runs anew after a teardown.
        jr.write(
            state,
            vec![
                Change::SetGeneration(state.generation + 1),
                Change::ClearTasks,
            ],
        )
        .await?;
    }
    driven.close(Phase::Teardown, em, report);
    Ok(())
}

/// Teardown: delete each recorded resource, dependents first.
struct Deletes<'a> {
    o: &'a Orchestration,
    state: &'a mut SystemState,
    jr: &'a Journal,
    em: &'a Emitter,
    report: &'a mut Report,
    recs: Vec<ResourceRecord>,
}

/// What a delete returns: whether the object existed, attempts, time.
type DeleteResult = (Result<bool, ProvisionError>, u32, std::time::Duration);

impl Deletes<'_> {
    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: std::time::Duration,
        error: Option<String>,
    ) {
        let rec = &self.recs[i];
        self.report.resources.push(ResourceReport {
            key: rec.key.clone(),
            name: rec.name.clone(),
            kind: rec.kind.clone(),
            provider: rec.provider.clone(),
            outcome,
            attempts,
            duration,
            provider_id: rec.provider_id.clone(),
            error,
        });
    }
}

impl Steps for Deletes<'_> {
    type Done = DeleteResult;

    fn permit_key(&self, i: usize) -> String {
        self.recs[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<DeleteResult>>, OrchestrationError> {
        let inner = &self.o.inner;
        let rec = self.recs[i].clone();
        // The intent is durable before the call goes out.
        if let Some(r) = self
            .state
            .resources
            .get(&rec.key)
            .filter(|r| r.status == ResourceStatus::Created)
        {
            let intent = ResourceRecord {
                status: ResourceStatus::Deleting,
                ..r.clone()
            };
            self.jr.resource(self.state, intent).await?;
        }
        self.em.emit(EventKind::ResourceStarting {
            key: rec.key.clone(),
            action: ResourceAction::Delete,
        });
        let Some(p) = proxy(self.o, &rec.provider).cloned() else {
            return Err(OrchestrationError::Setup(format!(
                "no proxy named `{}`",
                rec.provider
            )));
        };
        let system = inner.system.clone();
        let policy = inner.opts.teardown_retry;
        let cancel = inner.cancel.clone();
        let em = self.em.clone();
        let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "delete", resource = %rec.key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                // Something never recorded as created may still exist: find it by token.
                let (id, outputs) = match (&rec.provider_id, rec.status) {
                    (Some(id), ResourceStatus::Created | ResourceStatus::Deleting) => {
                        (id.clone(), rec.outputs.clone())
                    }
                    _ => {
                        let find = FindRequest {
                            system: system.clone(),
                            key: rec.key.clone(),
                            kind: rec.kind.clone(),
                            token: rec.token.clone(),
                        };
                        match p.find(&find).await {
                            Ok(Some(c)) => (c.id, c.outputs),
                            Ok(None) => return (Ok(false), 1, t0.elapsed()),
                            Err(e) => return (Err(e), 1, t0.elapsed()),
                        }
                    }
                };
                let req = DeleteRequest {
                    system,
                    key: rec.key.clone(),
                    kind: rec.kind.clone(),
                    id,
                    outputs,
                };
                let retryable = |e: &ProvisionError| {
                    e.is_retryable() || e.kind() == ErrorKind::DependencyViolation
                };
                let (result, attempts) = with_retry(
                    policy,
                    &cancel,
                    retryable,
                    |attempt, e| {
                        em.emit(EventKind::ResourceRetrying {
                            key: rec.key.clone(),
                            attempt,
                            error: e.to_string(),
                        });
                    },
                    || async {
                        match p.delete(&req).await {
                            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                            other => other,
                        }
                    },
                )
                .await;
                (result.map(|()| true), attempts, t0.elapsed())
            }
            .instrument(span),
        )))
    }

    async fn finish(
        &mut self,
        i: usize,
        done: Option<DeleteResult>,
    ) -> Result<bool, OrchestrationError> {
        let (result, attempts, elapsed) = done.unwrap_or_else(|| {
            let e =
                ProvisionError::new(ErrorKind::Other, "the worker calling the provider panicked");
            (Err(e), 0, std::time::Duration::ZERO)
        });
        let key = self.recs[i].key.clone();
        match result {
            Ok(existed) => {
                let mut changes = vec![Change::RemoveResource(key.clone())];
                if self.state.resources.len() == 1 && self.state.resources.contains_key(&key) {
                    // The last one: everything is gone. In the same write, so no crash can
                    // leave an empty state without its new generation: the next initiate
                    // starts a new generation, and config runs anew.
                    changes.push(Change::SetGeneration(self.state.generation + 1));
                    changes.push(Change::ClearTasks);
                }
                self.jr.write(self.state, changes).await?;
                self.em.emit(EventKind::ResourceFinished {
                    key: key.clone(),
                    action: ResourceAction::Delete,
                });
                tracing::info!(resource = %key, "resource deleted");
                let outcome = if existed {
                    ResourceOutcome::Deleted
                } else {
                    ResourceOutcome::AlreadyAbsent
                };
                self.line(i, outcome, attempts, elapsed, None);
                Ok(true)
            }
            Err(e) => {
                let msg = e.to_string();
                if let Some(r) = self.state.resources.get(&key) {
                    let r = ResourceRecord {
                        error: Some(msg.clone()),
                        ..r.clone()
                    };
                    self.jr.resource(self.state, r).await?;
                }
                self.em.emit(EventKind::ResourceFailed {
                    key,
                    error: msg.clone(),
                });
                self.line(i, ResourceOutcome::Failed, attempts, elapsed, Some(msg));
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        self.line(
            i,
            ResourceOutcome::NotAttempted,
            0,
            std::time::Duration::ZERO,
            None,
        );
    }
}

/// Reconciles every pending create (`creating` or `failed`) with the cloud: found by its token
/// (adopted) or not (forgotten). Creates and deletes nothing.
pub(crate) async fn recover(
    o: &Orchestration,
    state: &mut SystemState,
    jr: &Journal,
    em: &Emitter,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    let inner = &o.inner;
    em.emit(EventKind::PhaseStarting(Phase::Recovery));
    let pending: Vec<ResourceRecord> = state
        .resources
        .values()
        .filter(|r| matches!(r.status, ResourceStatus::Creating | ResourceStatus::Failed))
        .cloned()
        .collect();
    let sem = Arc::new(Semaphore::new(inner.opts.concurrency));
    let mut running: JoinSet<(
        ResourceRecord,
        Result<Option<Created>, ProvisionError>,
        std::time::Duration,
    )> = JoinSet::new();
    for rec in pending {
        let Some(p) = proxy(o, &rec.provider).cloned() else {
            continue;
        };
        let (sem, system) = (sem.clone(), inner.system.clone());
        let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "find", resource = %rec.key);
        running.spawn(
            async move {
                let _permit = sem.acquire_owned().await;
                let t0 = tokio::time::Instant::now();
                let find = FindRequest {
                    system,
                    key: rec.key.clone(),
                    kind: rec.kind.clone(),
                    token: rec.token.clone(),
                };
                let found = p.find(&find).await;
                (rec, found, t0.elapsed())
            }
            .instrument(span),
        );
    }
    let mut ok = true;
    while let Some(done) = running.join_next().await {
        let Ok((rec, found, elapsed)) = done else {
            continue;
        };
        let mut line = ResourceReport {
            key: rec.key.clone(),
            name: rec.name.clone(),
            kind: rec.kind.clone(),
            provider: rec.provider.clone(),
            outcome: ResourceOutcome::AlreadyAbsent,
            attempts: 1,
            duration: elapsed,
            provider_id: None,
            error: None,
        };
        match found {
            Ok(Some(c)) => {
                tracing::info!(resource = %rec.key, id = %c.id, "pending create found: adopted");
                line.outcome = ResourceOutcome::Adopted;
                line.provider_id = Some(c.id.clone());
                let adopted = ResourceRecord {
                    status: ResourceStatus::Created,
                    provider_id: Some(c.id),
                    outputs: c.outputs,
                    error: None,
                    ..rec.clone()
                };
                jr.resource(state, adopted).await?;
                em.emit(EventKind::ResourceFinished {
                    key: rec.key.clone(),
                    action: ResourceAction::Adopt,
                });
            }
            Ok(None) => {
                tracing::info!(resource = %rec.key, "pending create not found: marked absent");
                jr.write(state, vec![Change::RemoveResource(rec.key.clone())])
                    .await?;
            }
            Err(e) => {
                let msg = e.to_string();
                em.emit(EventKind::ResourceFailed {
                    key: rec.key.clone(),
                    error: msg.clone(),
                });
                line.outcome = ResourceOutcome::Failed;
                line.error = Some(msg);
                ok = false;
            }
        }
        report.resources.push(line);
    }
    report.resources.sort_by(|a, b| a.key.cmp(&b.key));
    report.success &= ok;
    em.emit(EventKind::PhaseFinished {
        phase: Phase::Recovery,
        success: ok,
    });
    Ok(())
}
