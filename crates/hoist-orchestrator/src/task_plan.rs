//! Which config tasks a run starts, and why: each task's fingerprint against its record
//! ([`TaskPlan`]), handlers that may be notified, and the records the plan no longer has.

use std::collections::{BTreeSet, HashMap};

use hoist_core::{Plan, RoleId, RunWhen};
use hoist_state::{Change, SystemState, TaskRecord, TaskStatus};

use crate::dag::{DagRun, NodeState};
use crate::diff::TaskReason;
use crate::digest::Digester;
use crate::error::OrchestrationError;
use crate::fingerprint::{Fingerprint, Fingerprinter, changed_inputs};
use crate::hosts::{HostSpec, Hosts, Snapshot, resolve_host};
use crate::journal::Journal;

/// Where each task runs, what it does there, and whether and why it runs.
pub(crate) struct TaskPlan {
    /// The host of each task that runs on one (not the local ones).
    pub(crate) host_of: HashMap<usize, Result<(HostSpec, String), String>>,
    /// Each task's fingerprint.
    pub(crate) fingerprints: Vec<Fingerprint>,
    /// Why each task runs; `None`: it succeeded before, with the same fingerprint (or one
    /// recorded before fingerprints), and stays done.
    pub(crate) reasons: Vec<Option<TaskReason>>,
}

impl TaskPlan {
    /// The task plan of `plan` against `state`, with `outputs` (a value it cannot know yet
    /// counts as a change), for a run.
    pub(crate) fn new(
        hosts: Hosts<'_>,
        plan: &Plan,
        state: &SystemState,
        outputs: &Snapshot<'_>,
        d: &mut Digester,
        system: &str,
    ) -> Result<Self, OrchestrationError> {
        Self::build(hosts, plan, state, outputs, d, system, true)
    }

    /// Only the reasons of the task plan (for a diff: nothing else is kept).
    pub(crate) fn reasons(
        hosts: Hosts<'_>,
        plan: &Plan,
        state: &SystemState,
        outputs: &Snapshot<'_>,
        d: &mut Digester,
        system: &str,
    ) -> Result<Vec<Option<TaskReason>>, OrchestrationError> {
        Ok(Self::build(hosts, plan, state, outputs, d, system, false)?.reasons)
    }

    fn build(
        hosts: Hosts<'_>,
        plan: &Plan,
        state: &SystemState,
        outputs: &Snapshot<'_>,
        d: &mut Digester,
        system: &str,
        keep: bool,
    ) -> Result<Self, OrchestrationError> {
        // Hosts are resolved once per role.
        let mut by_role: HashMap<RoleId, Result<(HostSpec, String), String>> = HashMap::new();
        for t in &plan.tasks {
            if !t.action.is_local() && t.run_on.index() < plan.roles.len() {
                by_role
                    .entry(t.run_on)
                    .or_insert_with(|| resolve_host(hosts, plan, outputs, t.run_on));
            }
        }
        let host = |i: usize| {
            let t = &plan.tasks[i];
            (!t.action.is_local())
                .then(|| by_role.get(&t.run_on))
                .flatten()
        };
        // (Fingerprinting on several threads was measured slower: the allocator's arenas.)
        let mut f = Fingerprinter::new(plan, outputs, &hosts.opts.local_dir);
        let n = plan.tasks.len();
        let mut fingerprints = Vec::with_capacity(if keep { n } else { 0 });
        let mut reasons = Vec::with_capacity(n);
        for (i, t) in plan.tasks.iter().enumerate() {
            let desc = match host(i) {
                Some(Ok((_, desc))) => desc.as_str(),
                Some(Err(_)) => crate::fingerprint::UNKNOWN,
                None => "controller",
            };
            let fp = f.task(i, desc, d, system).map_err(|e| {
                OrchestrationError::Setup(format!("cannot fingerprint task `{}`: {e}", t.key()))
            })?;
            let key = t.key();
            let forced = hosts.opts.force_tasks.iter().any(|p| p.matches(&key));
            reasons.push(reason(t.run_when, state.tasks.get(&key), forced, &fp));
            if keep {
                fingerprints.push(fp);
            }
        }
        let host_of = if keep {
            (0..n)
                .filter_map(|i| host(i).map(|h| (i, h.clone())))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(TaskPlan {
            host_of,
            fingerprints,
            reasons,
        })
    }
}

/// Why a task with run policy `when`, recorded as `rec`, whose fingerprint is now `fp`, runs
/// (`None`: it stays done).
fn reason(
    when: RunWhen,
    rec: Option<&TaskRecord>,
    forced: bool,
    fp: &Fingerprint,
) -> Option<TaskReason> {
    match (when, rec) {
        _ if forced => Some(TaskReason::Forced),
        (RunWhen::Always, _) => Some(TaskReason::Always),
        (_, Some(r)) if r.status == TaskStatus::Pending => Some(TaskReason::Notified),
        // A handler that failed had been notified: it runs until it succeeds.
        (RunWhen::Notified, Some(r)) if r.status == TaskStatus::Failed => {
            Some(TaskReason::Notified)
        }
        (RunWhen::Notified, _) => None,
        (_, None) => Some(TaskReason::New),
        (_, Some(r)) if r.status == TaskStatus::Failed => Some(TaskReason::Failed),
        (_, Some(r)) => match &r.fingerprint {
            Some(old) if old != fp => Some(TaskReason::Changed {
                inputs: changed_inputs(old, fp),
            }),
            _ => None,
        },
    }
}

/// The handlers that may be notified in this run: a task they follow runs (or may be notified
/// itself). They are scheduled, and run only if notified by then.
pub(crate) fn may_be_notified(
    plan: &Plan,
    preds: &[Vec<u32>],
    reasons: &[Option<TaskReason>],
) -> Vec<bool> {
    let mut runs: Vec<bool> = reasons.iter().map(Option::is_some).collect();
    let mut waits = vec![false; runs.len()];
    // To a fixed point: each pass settles at least one more link of a chain of handlers.
    for _ in 0..=runs.len() {
        let mut more = false;
        for (i, t) in plan.tasks.iter().enumerate() {
            if t.run_when == RunWhen::Notified
                && !runs[i]
                && preds[i].iter().any(|&p| runs[p as usize])
            {
                (runs[i], waits[i], more) = (true, true, true);
            }
        }
        if !more {
            break;
        }
    }
    waits
}

/// Per task, the handlers that list it among their dependencies.
pub(crate) fn handlers_after(plan: &Plan) -> Vec<Vec<usize>> {
    let mut after = vec![Vec::new(); plan.tasks.len()];
    for (h, t) in plan.tasks.iter().enumerate() {
        if t.run_when == RunWhen::Notified {
            for d in &t.deps {
                after[d.index()].push(h);
            }
        }
    }
    after
}

/// Forgets the task records no planned task has any more (a removed role's): they are never
/// run, and a role added back later runs its tasks anew.
pub(crate) async fn forget_unplanned(
    state: &mut SystemState,
    jr: &Journal,
    keys: &[String],
) -> Result<(), OrchestrationError> {
    let planned: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let gone: Vec<Change> = state
        .tasks
        .keys()
        .filter(|k| !planned.contains(k.as_str()))
        .map(|k| Change::RemoveTask(k.clone()))
        .collect();
    if !gone.is_empty() {
        tracing::info!(tasks = gone.len(), "forgetting the tasks of removed roles");
        jr.write(state, gone).await?;
    }
    Ok(())
}

/// Records the fingerprint of succeeded tasks that have none (state of an older hoist): the
/// models they are planned from now are their baseline, and nothing runs again for it.
pub(crate) async fn stamp_baseline(
    state: &mut SystemState,
    jr: &Journal,
    keys: &[String],
    dag: &DagRun,
    fingerprints: &[Fingerprint],
) -> Result<(), OrchestrationError> {
    let stamped: Vec<Change> = keys
        .iter()
        .enumerate()
        .filter(|&(i, _)| dag.state[i] == NodeState::Done)
        .filter_map(|(i, k)| {
            let t = state.tasks.get(k).filter(|t| t.fingerprint.is_none())?;
            Some(Change::PutTask(TaskRecord {
                fingerprint: Some(fingerprints[i].clone()),
                ..t.clone()
            }))
        })
        .collect();
    if !stamped.is_empty() {
        jr.write(state, stamped).await?;
    }
    Ok(())
}
