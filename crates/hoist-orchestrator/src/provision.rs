//! Provisioning: the scheduler steps that create (or adopt) each planned resource.
//!
//! The loop records each intent (and its idempotency token) before the call is made, starts
//! calls as permits allow, and records each outcome. Workers only call providers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::{Outputs, Plan, ResourceId};
use hoist_provider::{
    CreateRequest, Created, ErrorKind, FindRequest, OutputMap, ProvisionError, Provisioner,
};
use hoist_state::{ResourceRecord, ResourceStatus, SystemState};
use tracing::Instrument as _;

use crate::context::RunCx;
use crate::dag::{DagRun, NodeState, Permits, Steps, Work, drive};
use crate::error::OrchestrationError;
use crate::events::{EventKind, Phase, ResourceAction};
use crate::journal::Journal;
use crate::report::{Report, ResourceOutcome, ResourceReport};
use crate::retry::retry;

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

/// What a create returns: the object and whether it was adopted (found by its token).
struct CallResult {
    result: Result<(Created, bool), ProvisionError>,
    attempts: u32,
    elapsed: Duration,
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
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    cx.em.emit(EventKind::PhaseStarting(Phase::Provisioning));
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
        cx,
        plan,
        state,
        jr,
        report,
        keys,
    };
    for i in 0..plan.resources.len() {
        if dag.state[i] == NodeState::Done {
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
    /// returns it, with whether an earlier create of it was interrupted.
    async fn record_intent(
        &mut self,
        i: usize,
    ) -> Result<(ResourceRecord, bool), OrchestrationError> {
        let (plan, state) = (self.plan, &mut *self.state);
        let r = &plan.resources[i];
        let key = self.keys[i].clone();
        let prev = state.resources.get(&key).cloned();
        // A create that was sent but whose outcome was never recorded (or that failed in a way
        // that may have created something) is looked up by its token before creating again.
        let interrupted = prev
            .as_ref()
            .is_some_and(|p| p.status != ResourceStatus::Created);
        let (token, generation) = match &prev {
            Some(p) if interrupted => (p.token.clone(), p.generation),
            _ => (state.token_for(&key), state.generation),
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
        };
        self.jr.resource(state, intent.clone()).await?;
        Ok((intent, interrupted))
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
        let find = FindRequest {
            system: req.system.clone(),
            key: req.key.clone(),
            kind: req.kind.clone(),
            token: req.token.clone(),
        };
        let (found, n) = find_with_retry(cx, p, &find).await;
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

impl Steps for Creates<'_> {
    type Done = CallResult;

    fn permit_key(&self, i: usize) -> String {
        self.plan.resources[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<CallResult>>, OrchestrationError> {
        let p = self.cx.proxy(&self.plan.resources[i].provider)?;
        let (intent, interrupted) = self.record_intent(i).await?;
        let spec = self.plan.resolve_spec(
            self.plan.resources[i].id,
            &StateOutputs {
                plan: self.plan,
                state: self.state,
            },
        );
        self.cx.em.emit(EventKind::ResourceStarting {
            key: intent.key.clone(),
            action: ResourceAction::Create,
        });
        let cx = self.cx.clone();
        let span = tracing::info_span!("provider.call", provider = %intent.provider, op = "create", resource = %intent.key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let (result, attempts) = match spec {
                    Ok(spec) => {
                        let req = CreateRequest {
                            system: cx.system.to_string(),
                            key: intent.key,
                            kind: intent.kind,
                            spec,
                            token: intent.token,
                            tags: intent.tags,
                        };
                        create_or_adopt(&cx, &*p, req, interrupted).await
                    }
                    Err(e) => {
                        let msg = format!("cannot resolve the spec: {e}");
                        (Err(ProvisionError::new(ErrorKind::InvalidSpec, msg)), 0)
                    }
                };
                CallResult {
                    result,
                    attempts,
                    elapsed: t0.elapsed(),
                }
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
            elapsed: Duration::ZERO,
        });
        let key = self.keys[i].clone();
        let Some(mut rec) = self.state.resources.get(&key).cloned() else {
            return Err(OrchestrationError::Setup(format!(
                "the intent of `{key}` is not in the state"
            )));
        };
        match done.result {
            Ok((created, adopted)) => {
                let id = Some(created.id.clone());
                let rec = created_record(self.cx, rec, created);
                self.jr.resource(self.state, rec).await?;
                let outcome = if adopted {
                    ResourceOutcome::Adopted
                } else {
                    ResourceOutcome::Created
                };
                self.cx.em.emit(EventKind::ResourceFinished {
                    key: key.clone(),
                    outcome: outcome.clone(),
                });
                tracing::info!(resource = %key, id = ?id, adopted, "resource ready");
                self.line(i, outcome, done.attempts, done.elapsed, id, None);
                Ok(true)
            }
            Err(e) => {
                let msg = hoist_core::secret::scrub(&e.to_string(), self.plan.secrets());
                rec.status = ResourceStatus::Failed;
                rec.error = Some(msg.clone());
                self.jr.resource(self.state, rec).await?;
                self.cx.em.emit(EventKind::ResourceFailed {
                    key: key.clone(),
                    error: msg.clone(),
                });
                tracing::warn!(resource = %key, error = %msg, "resource failed");
                let outcome = ResourceOutcome::Failed;
                self.line(i, outcome, done.attempts, done.elapsed, None, Some(msg));
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        let outcome = ResourceOutcome::NotAttempted;
        self.line(i, outcome, 0, Duration::ZERO, None, None);
    }
}
