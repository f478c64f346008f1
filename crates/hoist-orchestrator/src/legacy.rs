//! What state schema 2 recorded differently, brought up to date by the first initiate (which
//! has the models and the proxies the migration lacks):
//!
//! - task records under their old keys: a multi-task's child was keyed by its role's short
//!   name (`cfg/deploy[app_0]`), it is now keyed by the role's path (`cfg/deploy[app[0]]`);
//!   renamed, so nothing runs again because of the migration;
//! - resources without the identity of the cloud they were made in: they take the identity
//!   of the proxy the initiate uses (trusted on first use, with a warning in the report), so
//!   the identity guard protects them from then on.

use hoist_core::address::parse_path;
use hoist_core::path::Seg;
use hoist_core::{Address, ModelPath, Plan, PlannedTask};
use hoist_state::{Change, ResourceRecord, SystemState, TaskRecord};

use crate::context::RunCx;

/// The key task `t` had under schema 2, if it differs from its address.
fn v2_key(t: &PlannedTask) -> Option<String> {
    let mut changed = false;
    let segs = t
        .path
        .segs()
        .iter()
        .map(|s| match s {
            // A multi-task child of a role in its model's root (`app[0]`) was keyed by the
            // role's short name (`app_0`); one of a nested role by its path, as now.
            Seg::Key(k) => match parse_path(k.as_str()) {
                Ok(role)
                    if role.segs().len() > 1
                        && role
                            .segs()
                            .iter()
                            .filter(|s| matches!(s, Seg::Field(_)))
                            .count()
                            == 1 =>
                {
                    changed = true;
                    Seg::Key(role.short_name("_").into())
                }
                _ => s.clone(),
            },
            field => field.clone(),
        })
        .collect();
    changed.then(|| Address::new(t.model.clone(), ModelPath::from_segs(segs)).to_string())
}

/// The changes that rename the task records of `state` kept under their schema-2 keys.
pub(crate) fn rename_v2_task_keys(plan: &Plan, state: &SystemState) -> Vec<Change> {
    let mut changes = Vec::new();
    for t in &plan.tasks {
        let key = t.key();
        if state.tasks.contains_key(&key) {
            continue;
        }
        let Some(old) = v2_key(t).and_then(|k| state.tasks.get(&k)) else {
            continue;
        };
        tracing::info!(from = %old.key, to = %key, "task record renamed to its address");
        changes.push(Change::RemoveTask(old.key.clone()));
        changes.push(Change::PutTask(TaskRecord { key, ..old.clone() }));
    }
    changes
}

/// The changes that record, for each resource recorded without an identity, the identity of
/// the proxy this run uses for it.
pub(crate) fn stamp_identities(cx: &RunCx, state: &SystemState) -> Vec<Change> {
    state
        .resources
        .values()
        .filter(|r| r.identity.is_none())
        .filter_map(|r| {
            let (p, base) = (cx.proxy(&r.provider).ok()?, cx.identity(&r.provider)?);
            let identity = Some(p.identity_of(&base, &r.kind, &r.outputs));
            Some(Change::PutResource(ResourceRecord {
                identity,
                ..r.clone()
            }))
        })
        .collect()
}
