//! Targeting: a run restricted to the resources and tasks some patterns name, with what they
//! depend on (`--target`), or to everything but some, and what depends on those
//! (`--exclude`). A teardown reverses the direction: a targeted resource goes with everything
//! that depends on it, and an excluded one stays with everything it depends on.

use std::collections::{BTreeSet, HashMap};

use hoist_core::{AddressPattern, Plan, PlannedHost};
use hoist_state::SystemState;

/// What a targeted initiate touches, in plan order.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    /// Per planned resource.
    pub(crate) resources: Vec<bool>,
    /// Per planned task.
    pub(crate) tasks: Vec<bool>,
    /// Records no model plans any more that the run may delete.
    pub(crate) gone: BTreeSet<String>,
}

impl Selection {
    /// True if the planned resource `key` is in the selection.
    pub(crate) fn has_resource(&self, plan: &Plan, key: &str) -> bool {
        plan.resources
            .iter()
            .position(|r| r.key() == key)
            .map_or_else(|| self.gone.contains(key), |i| self.resources[i])
    }
}

fn any(patterns: &[AddressPattern], key: &str) -> bool {
    patterns.iter().any(|p| p.matches(key))
}

/// The selection of an initiate, or `None` when the run is not targeted.
pub(crate) fn for_initiate(
    plan: &Plan,
    state: &SystemState,
    targets: &[AddressPattern],
    excludes: &[AddressPattern],
) -> Option<Selection> {
    if targets.is_empty() && excludes.is_empty() {
        return None;
    }
    let everything = targets.is_empty();
    let mut res: Vec<bool> = plan
        .resources
        .iter()
        .map(|r| everything || any(targets, &r.key()))
        .collect();
    let mut tasks: Vec<bool> = plan
        .tasks
        .iter()
        .map(|t| everything || any(targets, &t.key()))
        .collect();
    // What the targets depend on: a task's tasks and its host, a resource's resources.
    let host = |t: usize| match plan
        .roles
        .get(plan.tasks[t].run_on.index())
        .map(|r| &r.host)
    {
        Some(PlannedHost::Resource { resource, .. }) => Some(resource.index()),
        _ => None,
    };
    let mut stack: Vec<usize> = (0..tasks.len()).filter(|&t| tasks[t]).collect();
    while let Some(t) = stack.pop() {
        if let Some(h) = host(t) {
            res[h] = true;
        }
        for d in &plan.tasks[t].deps {
            if !std::mem::replace(&mut tasks[d.index()], true) {
                stack.push(d.index());
            }
        }
    }
    let mut stack: Vec<usize> = (0..res.len()).filter(|&r| res[r]).collect();
    while let Some(r) = stack.pop() {
        for d in &plan.resources[r].deps {
            if !std::mem::replace(&mut res[d.index()], true) {
                stack.push(d.index());
            }
        }
    }
    // What depends on an excluded one is excluded too.
    let mut out_res: Vec<bool> = plan
        .resources
        .iter()
        .map(|r| any(excludes, &r.key()))
        .collect();
    let mut out_tasks: Vec<bool> = plan.tasks.iter().map(|t| any(excludes, &t.key())).collect();
    loop {
        let mut more = false;
        for (i, r) in plan.resources.iter().enumerate() {
            if !out_res[i] && r.deps.iter().any(|d| out_res[d.index()]) {
                (out_res[i], more) = (true, true);
            }
        }
        for (i, t) in plan.tasks.iter().enumerate() {
            if !out_tasks[i]
                && (t.deps.iter().any(|d| out_tasks[d.index()])
                    || host(i).is_some_and(|h| out_res[h]))
            {
                (out_tasks[i], more) = (true, true);
            }
        }
        if !more {
            break;
        }
    }
    let planned: BTreeSet<String> = plan.resources.iter().map(|r| r.key()).collect();
    let gone = state
        .resources
        .keys()
        .filter(|k| !planned.contains(*k))
        .filter(|k| (everything || any(targets, k)) && !any(excludes, k))
        .cloned()
        .collect();
    Some(Selection {
        resources: res.iter().zip(&out_res).map(|(a, b)| *a && !b).collect(),
        tasks: tasks
            .iter()
            .zip(&out_tasks)
            .map(|(a, b)| *a && !b)
            .collect(),
        gone,
    })
}

/// The records a targeted teardown deletes (all of them when it is not targeted): a target
/// with every record that depends on it, less the excluded ones and what they depend on.
pub(crate) fn for_teardown(
    state: &SystemState,
    targets: &[AddressPattern],
    excludes: &[AddressPattern],
) -> BTreeSet<String> {
    let keys: Vec<&String> = state.resources.keys().collect();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in state.resources.values() {
        for d in &r.deps {
            dependents
                .entry(d.as_str())
                .or_default()
                .push(r.key.as_str());
        }
    }
    let mut chosen: BTreeSet<&str> = keys
        .iter()
        .filter(|k| targets.is_empty() || any(targets, k))
        .map(|k| k.as_str())
        .collect();
    let mut stack: Vec<&str> = chosen.iter().copied().collect();
    while let Some(k) = stack.pop() {
        for d in dependents.get(k).into_iter().flatten() {
            if chosen.insert(d) {
                stack.push(d);
            }
        }
    }
    let mut kept: BTreeSet<&str> = keys
        .iter()
        .filter(|k| any(excludes, k))
        .map(|k| k.as_str())
        .collect();
    let mut stack: Vec<&str> = kept.iter().copied().collect();
    while let Some(k) = stack.pop() {
        for d in state.resources.get(k).into_iter().flat_map(|r| &r.deps) {
            if kept.insert(d.as_str()) {
                stack.push(d.as_str());
            }
        }
    }
    chosen
        .into_iter()
        .filter(|k| !kept.contains(k))
        .map(str::to_string)
        .collect()
}
