//! Recovery: every pending create (`creating` or `failed`) reconciled with the cloud, found
//! by its token (adopted) or not (forgotten). Creates and deletes nothing.

use std::time::Duration;

use hoist_provider::{Created, FindRequest, ProvisionError};
use hoist_state::{ResourceRecord, ResourceStatus, SystemState};
use tracing::Instrument as _;

use crate::context::RunCx;
use crate::dag::{DagRun, Permits, Steps, Work, drive};
use crate::error::OrchestrationError;
use crate::events::{EventKind, Phase};
use crate::journal::Journal;
use crate::provision::{created_record, find_with_retry};
use crate::report::{Report, ResourceOutcome, ResourceReport};

pub(crate) async fn recover(
    cx: &RunCx,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
) -> Result<(), OrchestrationError> {
    cx.em.emit(EventKind::PhaseStarting(Phase::Recovery));
    let pending: Vec<ResourceRecord> = state
        .resources
        .values()
        .filter(|r| matches!(r.status, ResourceStatus::Creating | ResourceStatus::Failed))
        .cloned()
        .collect();
    // Lookups are independent of each other: a graph without edges.
    let mut dag = DagRun::new(&vec![Vec::new(); pending.len()], |_| false);
    let opts = &cx.opts;
    let mut permits = Permits::new(
        opts.concurrency,
        opts.provider_limits.clone(),
        opts.concurrency,
    );
    let mut steps = Finds {
        cx,
        state,
        jr,
        report,
        pending,
    };
    let driven = drive(&mut steps, &mut dag, &mut permits, &cx.cancel, false).await?;
    report.resources.sort_by(|a, b| a.key.cmp(&b.key));
    driven.close(Phase::Recovery, &cx.em, report);
    Ok(())
}

/// Recovery: look each pending create up by its token.
struct Finds<'a> {
    cx: &'a RunCx,
    state: &'a mut SystemState,
    jr: &'a Journal,
    report: &'a mut Report,
    pending: Vec<ResourceRecord>,
}

/// What a lookup returns: the object, if found, the attempts and the time.
type FindResult = (Result<Option<Created>, ProvisionError>, u32, Duration);

impl Finds<'_> {
    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: Duration,
    ) -> &mut ResourceReport {
        let line = ResourceReport::of_record(&self.pending[i], outcome, attempts, duration);
        self.report.resources.push(line);
        let last = self.report.resources.len() - 1;
        &mut self.report.resources[last]
    }
}

impl Steps for Finds<'_> {
    type Done = FindResult;

    fn permit_key(&self, i: usize) -> String {
        self.pending[i].provider.clone()
    }

    async fn start(&mut self, i: usize) -> Result<Option<Work<FindResult>>, OrchestrationError> {
        let rec = &self.pending[i];
        let p = self.cx.proxy(&rec.provider)?;
        let cx = self.cx.clone();
        let find = FindRequest {
            system: cx.system.to_string(),
            key: rec.key.clone(),
            kind: rec.kind.clone(),
            token: rec.token.clone(),
        };
        let span = tracing::info_span!("provider.call", provider = %rec.provider, op = "find", resource = %rec.key);
        Ok(Some(Box::pin(
            async move {
                let t0 = tokio::time::Instant::now();
                let (found, attempts) = find_with_retry(&cx, &*p, &find).await;
                (found, attempts, t0.elapsed())
            }
            .instrument(span),
        )))
    }

    async fn finish(
        &mut self,
        i: usize,
        done: Option<FindResult>,
    ) -> Result<bool, OrchestrationError> {
        let (found, attempts, elapsed) = done.unwrap_or_else(|| {
            let e = ProvisionError::new(
                hoist_provider::ErrorKind::Other,
                "the worker calling the provider panicked",
            );
            (Err(e), 0, Duration::ZERO)
        });
        let rec = self.pending[i].clone();
        match found {
            Ok(Some(c)) => {
                tracing::info!(resource = %rec.key, id = %c.id, "pending create found: adopted");
                self.line(i, ResourceOutcome::Adopted, attempts, elapsed)
                    .provider_id = Some(c.id.clone());
                let key = rec.key.clone();
                let adopted = created_record(self.cx, rec, c);
                self.jr.resource(self.state, adopted).await?;
                self.cx.em.emit(EventKind::ResourceFinished {
                    key,
                    outcome: ResourceOutcome::Adopted,
                });
                Ok(true)
            }
            Ok(None) => {
                tracing::info!(resource = %rec.key, "pending create made nothing: forgotten");
                self.line(i, ResourceOutcome::NotCreated, attempts, elapsed);
                let forget = crate::teardown::forget(self.state, std::slice::from_ref(&rec.key));
                self.jr.write(self.state, forget).await?;
                self.cx.em.emit(EventKind::ResourceFinished {
                    key: rec.key,
                    outcome: ResourceOutcome::NotCreated,
                });
                Ok(true)
            }
            Err(e) => {
                let msg = e.to_string();
                self.cx.em.emit(EventKind::ResourceFailed {
                    key: rec.key.clone(),
                    error: msg.clone(),
                });
                self.line(i, ResourceOutcome::Failed, attempts, elapsed)
                    .error = Some(msg);
                Ok(false)
            }
        }
    }

    fn not_run(&mut self, i: usize) {
        self.line(i, ResourceOutcome::NotAttempted, 0, Duration::ZERO);
    }
}
