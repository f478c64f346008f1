//! Applying a [`Diff`]: the order in which an initiate deletes, creates, updates and
//! replaces.
//!
//! 1. **Deletion first**: the objects no model makes any more, the old objects of
//!    replacements ordered delete-first, and the objects whose delete an earlier run left
//!    unfinished, dependents first. A deleted record is forgotten; a
//!    resource deleted to be replaced is created again in step 2, with a new token.
//! 2. **Provisioning** ([`crate::provision`]): creates, updates, and create-first
//!    replacements, whose old objects are *deposed*: kept in the state under their own key
//!    (`web/subnet~0`) until they are deleted, so no crash loses track of them.
//! 3. Configuration, then **deletion last** ([`delete_deposed`]): once every resource and
//!    task succeeded, the deposed objects, dependents first. A run that failed keeps them for
//!    the next one (their dependents may still use them).

use std::collections::BTreeSet;
use std::sync::Arc;

use hoist_core::{Plan, ReplaceMode};
use hoist_state::{ResourceStatus, SystemState};

use crate::context::RunCx;
use crate::diff::{Diff, DiffAction};
use crate::error::OrchestrationError;
use crate::events::Phase;
use crate::journal::Journal;
use crate::report::Report;
use crate::target::Selection;

/// Steps 1 and 2: deletes what goes first, then provisions.
pub(crate) async fn apply(
    cx: &RunCx,
    plan: &Arc<Plan>,
    diff: &Diff,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
    selection: Option<&Selection>,
) -> Result<(), OrchestrationError> {
    let first: BTreeSet<String> = diff
        .resources
        .iter()
        .filter(|r| {
            if selection.is_some_and(|s| !s.has_resource(plan, &r.key)) {
                return false;
            }
            let rec = state.resources.get(&r.key);
            match r.action {
                DiffAction::Delete => rec.is_some_and(|rec| rec.deposed_of.is_none()),
                DiffAction::Replace => r.mode == Some(ReplaceMode::DeleteFirst),
                // A delete that was interrupted is finished before the resource is made
                // again (its old object must never be adopted as the new one).
                _ => rec.is_some_and(|rec| rec.status == ResourceStatus::Deleting),
            }
        })
        .map(|r| r.key.clone())
        .collect();
    if !first.is_empty() {
        crate::teardown::delete_records(cx, state, jr, report, &first, Phase::Deletion).await?;
    }
    if !plan.resources.is_empty() {
        crate::provision::provision(cx, plan, diff, state, jr, report, selection).await?;
    }
    Ok(())
}

/// Step 3: deletes the deposed objects if the run succeeded; otherwise says they are kept.
pub(crate) async fn delete_deposed(
    cx: &RunCx,
    plan: &Plan,
    state: &mut SystemState,
    jr: &Journal,
    report: &mut Report,
    selection: Option<&Selection>,
) -> Result<(), OrchestrationError> {
    let deposed: BTreeSet<String> = state
        .resources
        .values()
        .filter(|r| {
            r.deposed_of
                .as_ref()
                .is_some_and(|of| selection.is_none_or(|s| s.has_resource(plan, of)))
        })
        .map(|r| r.key.clone())
        .collect();
    if deposed.is_empty() {
        return Ok(());
    }
    if report.success && !report.cancelled {
        crate::teardown::delete_records(cx, state, jr, report, &deposed, Phase::Deletion).await?;
    } else {
        report.warnings.push(format!(
            "{} old object(s) of replacements are kept (deposed) until a run succeeds, since something may still use them: {}",
            deposed.len(),
            crate::report::list_some(&deposed.into_iter().collect::<Vec<_>>(), 5)
        ));
    }
    Ok(())
}
