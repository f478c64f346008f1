//! Teardown: the scheduler steps that delete every recorded resource, dependents first, from
//! the recorded state alone.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hoist_provider::{DeleteRequest, Deleted, ErrorKind, FindRequest, ProvisionError, Provisioner};
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
    let keys = crate::target::for_teardown(state, &cx.opts.targets, &cx.opts.target_excludes);
    let targeted = keys.len() < state.resources.len();
    let protected: Vec<&str> = state
        .resources
        .values()
        .filter(|r| r.protect && keys.contains(&r.key))
        .map(|r| r.key.as_str())
        .collect();
    if !protected.is_empty() && !cx.opts.force_protected {
        return Err(OrchestrationError::Protected {
            resources: protected.iter().map(ToString::to_string).collect(),
            detail: "a teardown deletes them: tear down with --force (`force_protected()` in a program) to delete them too".into(),
        });
    }
    if targeted {
        report.warnings.push(format!(
            "this teardown was targeted: {} recorded resource(s) are kept",
            state.resources.len() - keys.len()
        ));
    }
    let had_resources = !state.resources.is_empty();
    let ok = delete_records(cx, state, jr, report, &keys, Phase::Teardown).await?;
    if state.resources.is_empty() && ok && !had_resources && !state.tasks.is_empty() {
        // Nothing was provisioned (config only): config runs anew after a teardown.
        let changes = vec![
            Change::SetGeneration(state.generation + 1),
            Change::ClearTasks,
        ];
        jr.write(state, changes).await?;
    }
    Ok(())
}

/// Deletes the recorded resources `keys`, dependents first, in `phase`. True if every one
/// was deleted (or found gone and forgotten).
pub(crate) async fn delete_records(
    cx: &RunCx,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
    keys: &BTreeSet<String>,
    phase: Phase,
) -> Result<bool, OrchestrationError> {
    cx.em.emit(EventKind::PhaseStarting(phase));
    let recs: Vec<ResourceRecord> = state
        .resources
        .values()
        .filter(|r| keys.contains(&r.key))
        .cloned()
        .collect();
    let mut dag = DagRun::new(&reverse_edges(&recs), |_| false);
    let opts = &cx.opts;
    let mut permits = Permits::new(
        opts.concurrency,
        opts.provider_limits.clone(),
        opts.concurrency,
    );
    // Deletion is best effort: it keeps going past a failure, and what the failed resource
    // depends on stays.
    let mut steps = Deletes {
        cx,
        state,
        jr,
        report,
        recs,
        absent: Vec::new(),
    };
    let driven = drive(&mut steps, &mut dag, &mut permits, &cx.cancel, false).await?;
    let kept = steps.settle_absent().await?;
    let ok = driven.ok && !kept;
    driven.close(phase, &cx.em, report);
    report.success &= !kept;
    Ok(ok)
}

/// The changes that forget `keys`: when nothing else is left, in the same write the system
/// moves to a new generation and forgets its task results, so no crash can leave an empty
/// state on the old generation (the next initiate starts anew, and config runs again).
pub(crate) fn forget(state: &SystemState, keys: &[String]) -> Vec<Change> {
    let mut changes: Vec<Change> = keys.iter().cloned().map(Change::RemoveResource).collect();
    if state.resources.keys().all(|k| keys.contains(k)) {
        changes.push(Change::SetGeneration(state.generation + 1));
        changes.push(Change::ClearTasks);
    }
    changes
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
    /// The resources whose objects were found gone, with the attempts and time it took:
    /// forgotten, or kept, at the end ([`Deletes::settle_absent`]).
    absent: Vec<(usize, u32, Duration)>,
}

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gone {
    /// The object existed and is deleted.
    Deleted,
    /// The object was already gone.
    Absent,
    /// A create that failed or was interrupted made no object (its token finds none).
    NotCreated,
}

/// What a delete returns: what it found, attempts, time.
type DeleteResult = (Result<Gone, ProvisionError>, u32, Duration);

/// A teardown that finds at least this many of its objects gone, and more than half of them,
/// stops before forgetting them.
const MISSING_AT_LEAST: usize = 3;

/// The error recorded for an object found gone, until the teardown forgets it.
const NOT_FOUND: &str = "not found in the cloud: kept in the state";

impl Deletes<'_> {
    /// Forgets the resources found gone, unless most of a proxy's objects were (at least
    /// [`MISSING_AT_LEAST`], and more than half): then they stay in the state, reported
    /// missing, unless the orchestration forgets missing objects. True if some were kept.
    async fn settle_absent(&mut self) -> Result<bool, OrchestrationError> {
        let absent = std::mem::take(&mut self.absent);
        let (mut kept_any, mut forget_keys, mut lines) = (false, Vec::new(), Vec::new());
        let providers: BTreeSet<String> = absent
            .iter()
            .map(|a| self.recs[a.0].provider.clone())
            .collect();
        for provider in providers {
            let mine: Vec<&(usize, u32, Duration)> = absent
                .iter()
                .filter(|a| self.recs[a.0].provider == provider)
                .collect();
            // The objects of this proxy the state knew as existing (not those whose delete an
            // interrupted run had sent).
            let objects = self
                .recs
                .iter()
                .filter(|r| r.provider == provider && r.status == ResourceStatus::Created)
                .count();
            let n = mine.len();
            let keep = n >= MISSING_AT_LEAST && 2 * n > objects && !self.cx.opts.forget_missing;
            if keep {
                let why = format!(
                    "{n} of the {objects} objects of proxy `{provider}` in this teardown were not found in the cloud, which usually means that the proxy talks to another cloud (account, region, store) than the state was made in: none of them was forgotten. If they were deleted outside hoist, tear down again with --forget-missing (`forget_missing()` in a program)"
                );
                tracing::warn!("{why}");
                self.report.warnings.push(why);
                kept_any = true;
            } else {
                forget_keys.extend(mine.iter().map(|a| self.recs[a.0].key.clone()));
            }
            let outcome = if keep {
                ResourceOutcome::Missing
            } else {
                ResourceOutcome::AlreadyAbsent
            };
            lines.extend(
                mine.into_iter()
                    .map(|&(i, n, d)| (i, n, d, outcome.clone())),
            );
        }
        if !forget_keys.is_empty() {
            self.jr
                .write(self.state, forget(self.state, &forget_keys))
                .await?;
        }
        for (i, attempts, elapsed, outcome) in lines {
            let key = self.recs[i].key.clone();
            self.cx.em.emit(EventKind::ResourceFinished {
                key,
                outcome: outcome.clone(),
            });
            let error = (outcome == ResourceOutcome::Missing).then(|| NOT_FOUND.to_string());
            self.line(i, outcome, attempts, elapsed, error);
        }
        Ok(kept_any)
    }

    fn line(
        &mut self,
        i: usize,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: Duration,
        error: Option<String>,
    ) {
        let line = ResourceReport::of_record(&self.recs[i], outcome, attempts, duration);
        self.report.resources.push(ResourceReport { error, ..line });
    }
}

/// True if the state knows the object of `rec` by its id (it was created, or its delete
/// was sent): a delete that finds it gone says something about the cloud.
fn has_object(rec: &ResourceRecord) -> bool {
    rec.provider_id.is_some()
        && matches!(
            rec.status,
            ResourceStatus::Created | ResourceStatus::Deleting
        )
}

/// Deletes the object of `rec`; one that was never recorded as created is found by its token
/// first.
async fn delete(
    cx: &RunCx,
    p: &dyn Provisioner,
    rec: ResourceRecord,
) -> (Result<Gone, ProvisionError>, u32) {
    let (id, outputs, mut attempts) = match &rec.provider_id {
        Some(id) if has_object(&rec) => (id.clone(), rec.outputs.clone(), 0),
        _ => {
            let find = FindRequest {
                system: cx.system.to_string(),
                key: rec.key.clone(),
                kind: rec.kind.clone(),
                token: rec.token.clone(),
            };
            match find_with_retry(cx, p, &find).await {
                (Ok(Some(c)), n) => (c.id, c.outputs, n),
                (Ok(None), n) => return (Ok(Gone::NotCreated), n),
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
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(Deleted::Absent),
                other => other,
            }
        },
    )
    .await;
    attempts += n;
    let gone = result.map(|d| match d {
        Deleted::Deleted => Gone::Deleted,
        Deleted::Absent => Gone::Absent,
    });
    (gone, attempts)
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
            Ok(Gone::Absent) if self.recs[i].status == ResourceStatus::Created => {
                // Recorded as created again at once (a crash now must not leave it as an
                // interrupted delete, which would be forgotten), then forgotten or kept at
                // the end, once it is known how many were gone.
                if let Some(r) = self.state.resources.get(&key) {
                    let r = ResourceRecord {
                        status: ResourceStatus::Created,
                        error: Some(NOT_FOUND.to_string()),
                        ..r.clone()
                    };
                    self.jr.resource(self.state, r).await?;
                }
                self.absent.push((i, attempts, elapsed));
                Ok(true)
            }
            Ok(gone) => {
                // An object gone after its delete was sent (by a run that was interrupted) is
                // what the journal expects: forgotten at once.
                self.jr
                    .write(self.state, forget(self.state, std::slice::from_ref(&key)))
                    .await?;
                let outcome = match gone {
                    Gone::Deleted => ResourceOutcome::Deleted,
                    Gone::Absent => ResourceOutcome::AlreadyAbsent,
                    Gone::NotCreated => ResourceOutcome::NotCreated,
                };
                tracing::info!(resource = %key, outcome = outcome.word(), "resource gone");
                self.cx.em.emit(EventKind::ResourceFinished {
                    key,
                    outcome: outcome.clone(),
                });
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
