//! Teardown: the scheduler steps that delete every recorded resource, dependents first, from
//! the recorded state alone.

use std::collections::HashMap;
use std::time::Duration;

use hoist_provider::{DeleteRequest, ErrorKind, FindRequest, ProvisionError, Provisioner};
use hoist_state::{Change, ResourceRecord, ResourceStatus, SystemState};
use tracing::Instrument as _;

use crate::context::RunCx;
use crate::dag::{DagRun, Permits, Steps, Work, drive};
use crate::error::OrchestrationError;
use crate::events::{EventKind, Phase, ResourceAction};
use crate::journal::Journal;
use crate::provision::{find_with_retry, on_retry};
use crate::report::{Report, ResourceOutcome, ResourceReport};
use crate::retry::retry;

/// Deletes every recorded resource, dependents first.
pub(crate) async fn teardown(
    cx: &RunCx,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    cx.em.emit(EventKind::PhaseStarting(Phase::Teardown));
    let recs: Vec<ResourceRecord> = state.resources.values().cloned().collect();
    let mut dag = DagRun::new(&reverse_edges(&recs), |_| false);
    let opts = &cx.opts;
    let mut permits = Permits::new(
        opts.concurrency,
        opts.provider_limits.clone(),
        opts.concurrency,
    );
    let had_resources = !recs.is_empty();
    // Teardown is best effort: it keeps going past a failure, and what the failed resource
    // depends on stays.
    let mut steps = Deletes {
        cx,
        state,
        jr,
        report,
        recs,
    };
    let driven = drive(&mut steps, &mut dag, &mut permits, &cx.cancel, false).await?;
    if state.resources.is_empty() && driven.ok && !had_resources && !state.tasks.is_empty() {
        // Nothing was provisioned (config only): config runs anew after a teardown.
        let changes = vec![
            Change::SetGeneration(state.generation + 1),
            Change::ClearTasks,
        ];
        jr.write(state, changes).await?;
    }
    driven.close(Phase::Teardown, &cx.em, report);
    Ok(())
}

/// The recorded edges reversed: a resource waits for every resource that depends on it.
fn reverse_edges(recs: &[ResourceRecord]) -> Vec<Vec<u32>> {
    let index: HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); recs.len()];
    for (i, r) in recs.iter().enumerate() {
        for d in &r.deps {
            if let Some(&j) = index.get(d.as_str()) {
                preds[j].push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }
    preds
}

/// Teardown: delete each recorded resource, dependents first.
struct Deletes<'a> {
    cx: &'a RunCx,
    state: &'a mut SystemState,
    jr: &'a Journal,
    report: &'a mut Report,
    recs: Vec<ResourceRecord>,
}

/// What a delete returns: whether the object existed, attempts, time.
type DeleteResult = (Result<bool, ProvisionError>, u32, Duration);

impl Deletes<'_> {
    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: Duration,
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

/// Deletes the object of `rec`; one that was never recorded as created is found by its token
/// first. `Ok(false)`: there was nothing to delete.
async fn delete(
    cx: &RunCx,
    p: &dyn Provisioner,
    rec: ResourceRecord,
) -> (Result<bool, ProvisionError>, u32) {
    let (id, outputs, mut attempts) = match (&rec.provider_id, rec.status) {
        (Some(id), ResourceStatus::Created | ResourceStatus::Deleting) => {
            (id.clone(), rec.outputs.clone(), 0)
        }
        _ => {
            let find = FindRequest {
                system: cx.system.to_string(),
                key: rec.key.clone(),
                kind: rec.kind.clone(),
                token: rec.token.clone(),
            };
            match find_with_retry(cx, p, &find).await {
                (Ok(Some(c)), n) => (c.id, c.outputs, n),
                (Ok(None), n) => return (Ok(false), n),
                (Err(e), n) => return (Err(e), n),
            }
        }
    };
    let req = DeleteRequest {
        system: cx.system.to_string(),
        key: rec.key.clone(),
        kind: rec.kind.clone(),
        id,
        outputs,
    };
    let retryable =
        |e: &ProvisionError| e.is_retryable() || e.kind() == ErrorKind::DependencyViolation;
    let (result, n) = retry(
        &cx.opts.teardown_retry,
        &cx.cancel,
        retryable,
        on_retry(cx, &rec.key),
        |_| async {
            match p.delete(&req).await {
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                other => other,
            }
        },
    )
    .await;
    attempts += n;
    (result.map(|()| true), attempts)
}

impl Steps for Deletes<'_> {
    type Done = DeleteResult;

    fn permit_key(&self, i: usize) -> String {
        self.recs[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<DeleteResult>>, OrchestrationError> {
        let rec = self.recs[i].clone();
        let p = self.cx.proxy(&rec.provider)?;
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
        self.cx.em.emit(EventKind::ResourceStarting {
            key: rec.key.clone(),
            action: ResourceAction::Delete,
        });
        let cx = self.cx.clone();
        let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "delete", resource = %rec.key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let (result, attempts) = delete(&cx, &*p, rec).await;
                (result, attempts, t0.elapsed())
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
            (Err(e), 0, Duration::ZERO)
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
                self.cx.em.emit(EventKind::ResourceFinished {
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
                self.cx.em.emit(EventKind::ResourceFailed {
                    key,
                    error: msg.clone(),
                });
                self.line(i, ResourceOutcome::Failed, attempts, elapsed, Some(msg));
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        self.line(i, ResourceOutcome::NotAttempted, 0, Duration::ZERO, None);
    }
}
