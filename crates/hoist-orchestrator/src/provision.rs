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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::dag::DagRun;
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

/// Global and per-provider permits.
pub(crate) struct Permits {
    global: Arc<Semaphore>,
    per_key: HashMap<String, Arc<Semaphore>>,
    default_per_key: usize,
    limits: HashMap<String, usize>,
}

impl Permits {
    pub(crate) fn new(
        global: usize,
        limits: HashMap<String, usize>,
        default_per_key: usize,
    ) -> Self {
        Permits {
            global: Arc::new(Semaphore::new(global)),
            per_key: HashMap::new(),
            default_per_key,
            limits,
        }
    }

    /// Both permits for `key`, if both are free now.
    pub(crate) fn try_take(
        &mut self,
        key: &str,
    ) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let n = self
            .limits
            .get(key)
            .copied()
            .unwrap_or(self.default_per_key);
        let sem = self
            .per_key
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n)))
            .clone();
        let k = sem.try_acquire_owned().ok()?;
        let g = self.global.clone().try_acquire_owned().ok()?;
        Some((g, k))
    }
}

type Permit = (OwnedSemaphorePermit, OwnedSemaphorePermit);

struct CallResult {
    node: usize,
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
    for (i, k) in keys.iter().enumerate() {
        if dag.state[i] == crate::dag::NodeState::Done {
            let r = &plan.resources[i];
            report.resources.push(ResourceReport {
                key: k.clone(),
                name: r.long_name.clone(),
                kind: r.kind.clone(),
                provider: r.provider.clone(),
                outcome: ResourceOutcome::AlreadyPresent,
                attempts: 0,
                duration: std::time::Duration::ZERO,
                provider_id: state.resources.get(k).and_then(|x| x.provider_id.clone()),
                error: None,
            });
        }
    }
    let mut permits = Permits::new(
        inner.opts.concurrency,
        inner.opts.provider_limits.clone(),
        inner.opts.concurrency,
    );
    let mut running: JoinSet<CallResult> = JoinSet::new();
    let mut waiting: Vec<usize> = Vec::new();
    let mut stop = false;
    let mut ok = true;
    loop {
        if !stop && inner.cancel.is_cancelled() {
            // Cancelled before this run started, or between two events.
            stop = true;
            report.cancelled = true;
        }
        if !stop {
            waiting.extend(dag.take_ready());
            let mut still = Vec::new();
            for i in std::mem::take(&mut waiting) {
                let r = &plan.resources[i];
                let Some(permit) = permits.try_take(&r.provider) else {
                    still.push(i);
                    continue;
                };
                start_create(o, plan, state, jr, em, &mut running, i, permit).await?;
            }
            waiting = still;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            () = inner.cancel.cancelled(), if !stop => {
                stop = true;
                report.cancelled = true;
            }
            Some(done) = running.join_next() => {
                let Ok(done) = done else { continue };
                let r = &plan.resources[done.node];
                let key = keys[done.node].clone();
                let mut rec = state.resources.get(&key).cloned().expect("intent recorded before the call");
                match done.result {
                    Ok((created, adopted)) => {
                        rec.status = ResourceStatus::Created;
                        rec.provider_id = Some(created.id.clone());
                        rec.outputs = created.outputs;
                        rec.error = None;
                        jr.resource(state, rec).await?;
                        let action = if adopted { ResourceAction::Adopt } else { ResourceAction::Create };
                        em.emit(EventKind::ResourceFinished { key: key.clone(), action });
                        tracing::info!(resource = %key, id = %created.id, adopted, "resource ready");
                        report.resources.push(ResourceReport {
                            key, name: r.long_name.clone(), kind: r.kind.clone(), provider: r.provider.clone(),
                            outcome: if adopted { ResourceOutcome::Adopted } else { ResourceOutcome::Created },
                            attempts: done.attempts, duration: done.elapsed, provider_id: Some(created.id), error: None,
                        });
                        dag.complete(done.node);
                    }
                    Err(e) => {
                        let msg = hoist_core::secret::scrub(&e.to_string(), plan.secrets());
                        rec.status = ResourceStatus::Failed;
                        rec.error = Some(msg.clone());
                        jr.resource(state, rec).await?;
                        em.emit(EventKind::ResourceFailed { key: key.clone(), error: msg.clone() });
                        tracing::warn!(resource = %key, error = %msg, "resource failed");
                        report.resources.push(ResourceReport {
                            key, name: r.long_name.clone(), kind: r.kind.clone(), provider: r.provider.clone(),
                            outcome: ResourceOutcome::Failed, attempts: done.attempts, duration: done.elapsed,
                            provider_id: None, error: Some(msg),
                        });
                        ok = false;
                        dag.fail(done.node);
                        if inner.opts.fail_fast {
                            stop = true;
                        }
                    }
                }
            }
        }
        if stop && running.is_empty() {
            break;
        }
        if !stop && running.is_empty() && !dag.has_ready() && waiting.is_empty() {
            break;
        }
    }
    // Taken from the graph but still waiting for a permit when the run stopped: not run either.
    for i in dag.not_run().into_iter().chain(waiting) {
        let r = &plan.resources[i];
        report.resources.push(ResourceReport {
            key: keys[i].clone(),
            name: r.long_name.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            outcome: ResourceOutcome::NotAttempted,
            attempts: 0,
            duration: std::time::Duration::ZERO,
            provider_id: None,
            error: None,
        });
        ok = false;
    }
    report.success &= ok && !report.cancelled;
    em.emit(EventKind::PhaseFinished {
        phase: Phase::Provisioning,
        success: ok,
    });
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "a local helper of the scheduler loop"
)]
async fn start_create(
    o: &Orchestration,
    plan: &Arc<Plan>,
    state: &mut SystemState,
    jr: &Journal,
    em: &Emitter,
    running: &mut JoinSet<CallResult>,
    i: usize,
    permit: Permit,
) -> Result<(), OrchestrationError> {
    let inner = &o.inner;
    let r = &plan.resources[i];
    let key = r.key();
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
    let Some(p) = proxy(o, &r.provider).cloned() else {
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
    jr.resource(state, intent).await?;
    em.emit(EventKind::ResourceStarting {
        key: key.clone(),
        action: ResourceAction::Create,
    });
    let policy = inner.opts.provision_retry;
    let cancel = inner.cancel.clone();
    let em = em.clone();
    let span = tracing::info_span!("provider.call", provider = %r.provider, op = "create", resource = %key);
    running.spawn(
        async move {
            let _permit = permit;
            let t0 = tokio::time::Instant::now();
            let spec = match spec {
                Ok(s) => s,
                Err(e) => {
                    let err = ProvisionError::new(
                        ErrorKind::InvalidSpec,
                        format!("cannot resolve the spec: {e}"),
                    );
                    return CallResult {
                        node: i,
                        result: Err(err),
                        attempts: 0,
                        elapsed: t0.elapsed(),
                    };
                }
            };
            if interrupted {
                let find = FindRequest {
                    system: system.clone(),
                    key: key.clone(),
                    kind: kind.clone(),
                    token: token.clone(),
                };
                if let Ok(Some(c)) = p.find(&find).await {
                    return CallResult {
                        node: i,
                        result: Ok((c, true)),
                        attempts: 1,
                        elapsed: t0.elapsed(),
                    };
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
                |attempt, e| {
                    em.emit(EventKind::ResourceRetrying {
                        key: key.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                },
                || p.create(&req),
            )
            .await;
            CallResult {
                node: i,
                result: result.map(|c| (c, false)),
                attempts,
                elapsed: t0.elapsed(),
            }
        }
        .instrument(span),
    );
    Ok(())
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
    let mut running: JoinSet<(
        usize,
        Result<bool, ProvisionError>,
        u32,
        std::time::Duration,
    )> = JoinSet::new();
    let mut waiting: Vec<usize> = Vec::new();
    let mut stop = false;
    let mut ok = true;
    loop {
        if !stop && inner.cancel.is_cancelled() {
            // Cancelled before this run started, or between two events.
            stop = true;
            report.cancelled = true;
        }
        if !stop {
            waiting.extend(dag.take_ready());
            let mut still = Vec::new();
            for i in std::mem::take(&mut waiting) {
                let rec = &recs[i];
                let Some(permit) = permits.try_take(&rec.provider) else {
                    still.push(i);
                    continue;
                };
                // The intent is durable before the call goes out.
                if let Some(r) = state
                    .resources
                    .get(&rec.key)
                    .filter(|r| r.status == ResourceStatus::Created)
                {
                    let intent = ResourceRecord {
                        status: ResourceStatus::Deleting,
                        ..r.clone()
                    };
                    jr.resource(state, intent).await?;
                }
                em.emit(EventKind::ResourceStarting {
                    key: rec.key.clone(),
                    action: ResourceAction::Delete,
                });
                let Some(p) = proxy(o, &rec.provider).cloned() else {
                    continue;
                };
                let rec = rec.clone();
                let system = inner.system.clone();
                let policy = inner.opts.teardown_retry;
                let cancel = inner.cancel.clone();
                let em = em.clone();
                let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "delete", resource = %rec.key);
                running.spawn(
                    async move {
                        let _permit = permit;
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
                                    Ok(None) => return (i, Ok(false), 1, t0.elapsed()),
                                    Err(e) => return (i, Err(e), 1, t0.elapsed()),
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
                        (i, result.map(|()| true), attempts, t0.elapsed())
                    }
                    .instrument(span),
                );
            }
            waiting = still;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            () = inner.cancel.cancelled(), if !stop => {
                stop = true;
                report.cancelled = true;
            }
            Some(done) = running.join_next() => {
                let Ok((i, result, attempts, elapsed)) = done else { continue };
                let rec = &recs[i];
                match result {
                    Ok(existed) => {
                        let mut changes = vec![Change::RemoveResource(rec.key.clone())];
                        if state.resources.len() == 1 && state.resources.contains_key(&rec.key) {
                            // The last one: everything is gone. In the same write, so no crash
                            // can leave an empty state without its new generation: the next
                            // initiate starts a new generation, and config runs anew.
                            changes.push(Change::SetGeneration(state.generation + 1));
                            changes.push(Change::ClearTasks);
                        }
                        jr.write(state, changes).await?;
                        em.emit(EventKind::ResourceFinished { key: rec.key.clone(), action: ResourceAction::Delete });
                        tracing::info!(resource = %rec.key, "resource deleted");
                        report.resources.push(ResourceReport {
                            key: rec.key.clone(), name: rec.name.clone(), kind: rec.kind.clone(), provider: rec.provider.clone(),
                            outcome: if existed { ResourceOutcome::Deleted } else { ResourceOutcome::AlreadyAbsent },
                            attempts, duration: elapsed, provider_id: rec.provider_id.clone(), error: None,
                        });
                        dag.complete(i);
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        if let Some(r) = state.resources.get(&rec.key) {
                            let r = ResourceRecord { error: Some(msg.clone()), ..r.clone() };
                            jr.resource(state, r).await?;
                        }
                        em.emit(EventKind::ResourceFailed { key: rec.key.clone(), error: msg.clone() });
                        report.resources.push(ResourceReport {
                            key: rec.key.clone(), name: rec.name.clone(), kind: rec.kind.clone(), provider: rec.provider.clone(),
                            outcome: ResourceOutcome::Failed, attempts, duration: elapsed, provider_id: rec.provider_id.clone(), error: Some(msg),
                        });
                        ok = false;
                        dag.fail(i);
                    }
                }
            }
        }
        if stop && running.is_empty() {
            break;
        }
    }
    // Taken from the graph but still waiting for a permit when the run stopped: not run either.
    for i in dag.not_run().into_iter().chain(waiting) {
        let rec = &recs[i];
        report.resources.push(ResourceReport {
            key: rec.key.clone(),
            name: rec.name.clone(),
            kind: rec.kind.clone(),
            provider: rec.provider.clone(),
            outcome: ResourceOutcome::NotAttempted,
            attempts: 0,
            duration: std::time::Duration::ZERO,
            provider_id: rec.provider_id.clone(),
            error: None,
        });
        ok = false;
    }
    if state.resources.is_empty() && ok && recs.is_empty() && !state.tasks.is_empty() {
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
    report.success &= ok && !report.cancelled;
    em.emit(EventKind::PhaseFinished {
        phase: Phase::Teardown,
        success: ok,
    });
    Ok(())
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
