//! The diff: what a run will do to each resource, computed from the plan and the recorded
//! state alone (no cloud call, no write).
//!
//! Each planned resource is compared with its record, field by field (the spec's top-level
//! fields): a resource with no record is created; one whose changed fields its provider
//! updates in place ([`Provisioner::updatable`](hoist_provider::Provisioner::updatable)) is
//! updated; any other change replaces it, naming the field that forces it. A reference to a
//! resource that is created or replaced is *known after provisioning*, and counts as a change
//! (so a server in a replaced subnet is replaced with it). A record no model makes any more,
//! and the old object of an unfinished replacement, is deleted. Protected resources are never
//! deleted or replaced: such a plan is refused ([`Diff::violations`]).
//!
//! A replacement makes the new object first unless the resource asks otherwise, it depends
//! on one replaced delete-first, or it keeps every field its provider wants unique
//! ([`Provisioner::unique_fields`](hoist_provider::Provisioner::unique_fields): the old and
//! the new object could not exist together); asking for create-first then is a violation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use std::sync::Arc;

use hoist_core::{Plan, ReplaceMode, ResourceId};
use hoist_provider::Provisioner;
use hoist_state::{ResourceRecord, ResourceStatus, SystemState};
use serde::Serialize;
use serde_json::Value;

use crate::digest::{Digester, digest_secrets};

/// What a run does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffAction {
    /// Nothing: the object matches its model.
    Unchanged,
    /// Make the object (there is none, or its create was interrupted).
    Create,
    /// Change fields of the object in place.
    Update,
    /// Make a new object and delete the old one.
    Replace,
    /// Delete the object: no model makes it any more (or it is the old object of a
    /// replacement).
    Delete,
}

impl DiffAction {
    /// The sign the text form shows: ` `, `+`, `~`, `-/+`, `-`.
    pub fn sign(self) -> &'static str {
        match self {
            DiffAction::Unchanged => " ",
            DiffAction::Create => "+",
            DiffAction::Update => "~",
            DiffAction::Replace => "-/+",
            DiffAction::Delete => "-",
        }
    }

    /// The action as a word.
    pub fn word(self) -> &'static str {
        match self {
            DiffAction::Unchanged => "unchanged",
            DiffAction::Create => "create",
            DiffAction::Update => "update",
            DiffAction::Replace => "replace",
            DiffAction::Delete => "delete",
        }
    }
}

/// One changed field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// The top-level spec field.
    pub field: String,
    /// The recorded value (`None`: none recorded).
    pub old: Option<Value>,
    /// The planned value (`None`: removed, or known only after provisioning).
    pub new: Option<Value>,
    /// The planned value is known only after provisioning (it refers to a resource that is
    /// created or replaced).
    pub unknown: bool,
    /// This change cannot be made in place: it forces a replacement.
    pub forces_replace: bool,
}

/// What a run does to one resource, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceDiff {
    /// Its address (`web/app[0]`), or the key of a deposed object (`web/app[0]~1`).
    pub key: String,
    /// Kind.
    pub kind: String,
    /// Proxy name.
    pub provider: String,
    /// The action.
    pub action: DiffAction,
    /// For a replacement: in which order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReplaceMode>,
    /// The changed fields (for an update or a replacement).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, in words, where the fields do not say it (`no longer in the models`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Recorded fields holding secrets that cannot be compared (no digest key, or another
    /// one): neither unchanged nor changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cannot_compare: Vec<String>,
    /// Protected from deletion and replacement.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
}

/// Why a config task will run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum TaskReason {
    /// It never ran.
    New,
    /// It failed last time.
    Failed,
    /// Forced ([`force_tasks`](crate::OrchestrationBuilder::force_tasks)).
    Forced,
    /// It runs on every run ([`Task::always`](hoist_core::Task::always)).
    Always,
    /// A task it follows changed something in a run that stopped before it ran (a handler).
    Notified,
    /// What it does changed since it succeeded: these inputs (`action`, `var NAME`,
    /// `file PATH`, `host`, `user`), some maybe known only after provisioning.
    Changed {
        /// The inputs that differ.
        inputs: Vec<String>,
    },
}

impl fmt::Display for TaskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskReason::New => f.write_str("new"),
            TaskReason::Failed => f.write_str("failed last time"),
            TaskReason::Forced => f.write_str("forced"),
            TaskReason::Always => f.write_str("runs every time"),
            TaskReason::Notified => f.write_str("notified"),
            TaskReason::Changed { inputs } => write!(f, "changed: {}", inputs.join(", ")),
        }
    }
}

/// A config task that will run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskDiff {
    /// Its address (`cfg/deploy[app[0]]`).
    pub key: String,
    /// Why it runs.
    #[serde(flatten)]
    pub reason: TaskReason,
}

impl fmt::Display for TaskDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "  > {}: {}", self.key, self.reason)
    }
}

/// What a run will do to every resource of a system, and which config tasks it will run.
/// Serializes to JSON; its `Display` is the text a person reads before saying yes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Format version of the JSON form.
    pub version: u32,
    /// The system.
    pub system: String,
    /// Planned resources in plan order, then the deletions, dependents first.
    pub resources: Vec<ResourceDiff>,
    /// Why the diff cannot be applied (a protected resource to delete or replace, replacement
    /// orders that contradict each other). Empty if it can.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// The config tasks that will run, in plan order, each with why; the others stay done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskDiff>,
    /// How many config tasks stay done.
    #[serde(skip_serializing_if = "is_zero")]
    pub tasks_done: usize,
    /// The run is targeted ([`target`](crate::OrchestrationBuilder::target),
    /// [`exclude_matching`](crate::OrchestrationBuilder::exclude_matching)): what it leaves
    /// out is not listed, and stays unconverged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub targeted: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Diff {
    /// The version of the JSON form.
    pub const VERSION: u32 = 1;

    /// How many resources take each action.
    pub fn counts(&self) -> BTreeMap<DiffAction, usize> {
        let mut m = BTreeMap::new();
        for r in &self.resources {
            *m.entry(r.action).or_insert(0) += 1;
        }
        m
    }

    /// True if some resource is created, updated, replaced or deleted, or a task will run.
    pub fn has_changes(&self) -> bool {
        !self.tasks.is_empty()
            || self
                .resources
                .iter()
                .any(|r| r.action != DiffAction::Unchanged)
    }

    /// Per planned resource (plan order): whether the run makes its object anew (its outputs
    /// are known only after provisioning).
    pub(crate) fn unstable(&self, plan: &Plan) -> Vec<bool> {
        let actions: HashMap<&str, DiffAction> = self
            .resources
            .iter()
            .map(|r| (r.key.as_str(), r.action))
            .collect();
        plan.resources
            .iter()
            .map(|r| {
                matches!(
                    actions.get(r.key().as_str()),
                    Some(DiffAction::Create | DiffAction::Replace)
                )
            })
            .collect()
    }

    /// Records which tasks run (`reasons[i]`, plan order; `None`: stays done).
    pub(crate) fn set_tasks(&mut self, plan: &Plan, reasons: Vec<Option<TaskReason>>) {
        self.tasks_done = reasons.iter().filter(|r| r.is_none()).count();
        self.tasks = plan
            .tasks
            .iter()
            .zip(reasons)
            .filter_map(|(t, r)| {
                r.map(|reason| TaskDiff {
                    key: t.key(),
                    reason,
                })
            })
            .collect();
    }

    /// The entry of task `key`, if it will run.
    pub fn task(&self, key: &str) -> Option<&TaskDiff> {
        self.tasks.iter().find(|t| t.key == key)
    }

    /// The entry of `key`.
    pub fn resource(&self, key: &str) -> Option<&ResourceDiff> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) if v.get("$ref").is_some() => v
            .get("$ref")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        Some(v) if v.get("$secret").is_some() => "(secret)".into(),
        Some(v) => v.to_string(),
    }
}

impl fmt::Display for ResourceDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>3} {} ({})", self.action.sign(), self.key, self.kind)?;
        if let Some(m) = self.mode {
            write!(f, ", {}", m.word())?;
        }
        if let Some(c) = &self.cause {
            write!(f, ": {c}")?;
        }
        if self.protected {
            f.write_str(" [protected]")?;
        }
        for c in &self.fields {
            let new = if c.unknown {
                "(known after provisioning)".to_string()
            } else {
                short(c.new.as_ref())
            };
            write!(f, "\n      {}: {} -> {new}", c.field, short(c.old.as_ref()))?;
            if c.forces_replace {
                f.write_str("  # forces replacement")?;
            }
        }
        for c in &self.cannot_compare {
            write!(f, "\n      {c}: cannot compare (digest key unavailable)")?;
        }
        Ok(())
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Changes to system `{}`:", self.system)?;
        let mut unchanged = 0;
        for r in &self.resources {
            if r.action == DiffAction::Unchanged && r.cannot_compare.is_empty() {
                unchanged += 1;
                continue;
            }
            writeln!(f, "{r}")?;
        }
        let c = self.counts();
        let n = |a| c.get(&a).copied().unwrap_or(0);
        write!(
            f,
            "{} to create, {} to update, {} to replace, {} to delete, {unchanged} unchanged.",
            n(DiffAction::Create),
            n(DiffAction::Update),
            n(DiffAction::Replace),
            n(DiffAction::Delete),
        )?;
        if !self.tasks.is_empty() || self.tasks_done > 0 {
            f.write_str("\nConfig tasks:")?;
            for t in &self.tasks {
                write!(f, "\n{t}")?;
            }
            write!(
                f,
                "\n{} to run, {} done.",
                self.tasks.len(),
                self.tasks_done
            )?;
        }
        if self.targeted {
            f.write_str(
                "\nwarning: targeted: what the run leaves out is not converged, and no version is recorded as last known good",
            )?;
        }
        for v in &self.violations {
            write!(f, "\nerror: {v}")?;
        }
        Ok(())
    }
}

/// The proxy named `name`, if there is one.
fn proxy<'a>(proxies: &'a [Arc<dyn Provisioner>], name: &str) -> Option<&'a dyn Provisioner> {
    proxies.iter().find(|p| p.name() == name).map(|p| &**p)
}

/// The marker of a value known only after provisioning.
const UNKNOWN: &str = "$unknown";

/// The spec of resource `id` as it would be sent now: references to resources that keep
/// their objects resolved from the state; the others, and references with nothing recorded
/// to resolve them from, marked unknown.
fn planned_spec(
    plan: &Plan,
    id: ResourceId,
    state: &SystemState,
    unstable: &dyn Fn(ResourceId) -> bool,
) -> Value {
    let r = &plan.resources[id.index()];
    let mut spec = r.spec.clone();
    for sr in &r.refs {
        let target = &plan.resources[sr.target.index()];
        let key = target.key();
        let rec = state
            .resources
            .get(&key)
            .filter(|t| t.status == ResourceStatus::Created);
        let rec = rec.filter(|_| !unstable(sr.target));
        let value = match (rec, &sr.field) {
            (Some(t), None) => serde_json::json!({ "$ref": key, "id": t.provider_id }),
            (Some(t), Some(f)) => t
                .outputs
                .get(f)
                .cloned()
                .unwrap_or_else(|| serde_json::json!({ UNKNOWN: key })),
            (None, _) => serde_json::json!({ UNKNOWN: key }),
        };
        if let Some(slot) = spec.pointer_mut(&sr.pointer) {
            *slot = value;
        }
    }
    spec
}

fn has_unknown(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key(UNKNOWN) || o.values().any(has_unknown),
        Value::Array(a) => a.iter().any(has_unknown),
        _ => false,
    }
}

/// A changed field; whether it forces a replacement is decided later.
fn change(field: &str, old: Option<&Value>, new: Option<&Value>, unknown: bool) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        old: old.cloned(),
        new: if unknown { None } else { new.cloned() },
        unknown,
        forces_replace: false,
    }
}

/// The fields of `new` that differ from what the object of `rec` may hold, and the fields that
/// cannot be compared: its recorded spec, and, while an update's outcome is unknown, also the
/// spec that update was sent with (either may be what the object holds).
pub(crate) fn changed_since(
    rec: &ResourceRecord,
    new: &Value,
    d: &Digester,
) -> (Vec<FieldChange>, Vec<String>) {
    let (mut changed, mut cannot) = changed_fields(rec.spec.as_ref(), new, d);
    if let Some(sent) = &rec.updating {
        let (more, more_cannot) = changed_fields(Some(sent), new, d);
        for c in more {
            if !changed.iter().any(|x| x.field == c.field) {
                changed.push(c);
            }
        }
        for f in more_cannot {
            if !cannot.contains(&f) {
                cannot.push(f);
            }
        }
        changed.sort_by(|a, b| a.field.cmp(&b.field));
    }
    (changed, cannot)
}

/// The fields of `old` and `new` that differ, and the fields that cannot be compared.
fn changed_fields(
    old: Option<&Value>,
    new: &Value,
    d: &Digester,
) -> (Vec<FieldChange>, Vec<String>) {
    let empty = serde_json::Map::new();
    let newo = new.as_object().unwrap_or(&empty);
    let Some(old) = old else {
        // No spec recorded (state of an older hoist): the models are the baseline, except
        // for what is known only after provisioning.
        let unknown = newo
            .iter()
            .filter(|(_, v)| has_unknown(v))
            .map(|(k, v)| change(k, None, Some(v), true))
            .collect();
        return (unknown, Vec::new());
    };
    let oldo = old.as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = oldo.keys().chain(newo.keys()).collect();
    fields.sort();
    fields.dedup();
    let (mut changed, mut cannot) = (Vec::new(), Vec::new());
    for f in fields {
        let (o, n) = (oldo.get(f), newo.get(f));
        if o == n {
            continue;
        }
        if n.is_some_and(has_unknown) {
            changed.push(change(f, o, n, true));
        } else if o.is_some_and(|o| d.cannot_compare(o)) {
            cannot.push(f.clone());
        } else {
            changed.push(change(f, o, n, false));
        }
    }
    (changed, cannot)
}

/// The planned resources in an order where each comes after what it depends on.
fn topological(plan: &Plan) -> Vec<usize> {
    let n = plan.resources.len();
    let mut indeg: Vec<usize> = plan.resources.iter().map(|r| r.deps.len()).collect();
    let mut succ = vec![Vec::new(); n];
    for (i, r) in plan.resources.iter().enumerate() {
        for d in &r.deps {
            succ[d.index()].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).rev().filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        out.push(i);
        for &s in succ[i].iter().rev() {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.push(s);
            }
        }
    }
    out
}

/// Computes the diff of `plan` against `state` (`None`: nothing recorded).
pub(crate) fn compute(
    system: &str,
    plan: &Plan,
    state: Option<&SystemState>,
    proxies: &[Arc<dyn Provisioner>],
    digester: &mut Digester,
) -> Diff {
    let empty = SystemState::new(system);
    let state = state.unwrap_or(&empty);
    let n = plan.resources.len();
    let mut entries: Vec<Option<ResourceDiff>> = vec![None; n];
    let mut unstable = vec![false; n];
    let mut modes: Vec<Option<ReplaceMode>> = vec![None; n];
    let mut violations = Vec::new();
    for i in topological(plan) {
        let r = &plan.resources[i];
        let key = r.key();
        let rec = state.resources.get(&key);
        let mut e = ResourceDiff {
            key: key.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            action: DiffAction::Create,
            mode: None,
            fields: Vec::new(),
            cause: None,
            cannot_compare: Vec::new(),
            protected: r.lifecycle.protect || rec.is_some_and(|x| x.protect),
        };
        // The unique fields a replacement would keep: it cannot be made create-first.
        let mut clash: Vec<&str> = Vec::new();
        match rec {
            Some(rec) if rec.status == ResourceStatus::Created => {
                let new = planned_spec(plan, r.id, state, &|t| unstable[t.index()]);
                let new = if plan.secrets().is_empty() {
                    new
                } else {
                    digest_secrets(&new, plan.secrets(), digester, system, &key).unwrap_or(new)
                };
                let (changed, cannot) = changed_since(rec, &new, digester);
                e.cannot_compare = cannot;
                let p = proxy(proxies, &r.provider);
                let allowed = p.map_or(&[][..], |p| p.updatable(&r.kind));
                e.fields = changed
                    .into_iter()
                    .map(|c| FieldChange {
                        forces_replace: !allowed.contains(&c.field.as_str()),
                        ..c
                    })
                    .collect();
                e.action = if e.fields.is_empty() {
                    DiffAction::Unchanged
                } else if e.fields.iter().any(|c| c.forces_replace) {
                    DiffAction::Replace
                } else {
                    DiffAction::Update
                };
                if rec.updating.is_some() && e.action != DiffAction::Unchanged {
                    e.cause = Some("its last update was interrupted (sent again)".to_string());
                }
                let unique = p.map_or(&[][..], |p| p.unique_fields(&r.kind, &new));
                if !unique.is_empty()
                    && unique
                        .iter()
                        .all(|u| !e.fields.iter().any(|c| c.field == *u))
                {
                    clash = unique.to_vec();
                }
            }
            Some(rec) => {
                e.cause = Some(
                    match rec.status {
                        ResourceStatus::Deleting => {
                            "its delete was interrupted: it is deleted first, then created"
                        }
                        ResourceStatus::Failed => {
                            "its last create failed (looked up by its token first)"
                        }
                        _ => "its last create was interrupted (looked up by its token first)",
                    }
                    .to_string(),
                );
            }
            None => {}
        }
        if e.action == DiffAction::Replace {
            let mode = replace_mode(plan, i, &modes, &clash, &mut violations);
            if mode == ReplaceMode::DeleteFirst && !clash.is_empty() && e.cause.is_none() {
                e.cause = Some(format!(
                    "delete first: {} must be unique and stay the same",
                    fields_list(&clash)
                ));
            }
            modes[i] = Some(mode);
            e.mode = Some(mode);
            if e.protected {
                violations.push(format!(
                    "`{key}` is protected, but the plan replaces it ({})",
                    e.fields
                        .iter()
                        .filter(|c| c.forces_replace)
                        .map(|c| format!("`{}` changed", c.field))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        unstable[i] = matches!(e.action, DiffAction::Create | DiffAction::Replace);
        entries[i] = Some(e);
    }
    let mut resources: Vec<ResourceDiff> = entries.into_iter().flatten().collect();
    let planned: HashSet<&str> = resources.iter().map(|r| r.key.as_str()).collect();
    let gone: Vec<&ResourceRecord> = state
        .resources
        .values()
        .filter(|rec| !planned.contains(rec.key.as_str()))
        .collect();
    for rec in delete_order(&gone) {
        let cause = match &rec.deposed_of {
            Some(of) => format!("the old object of `{of}`, replaced"),
            None => "no longer in the models".to_string(),
        };
        if rec.protect && rec.deposed_of.is_none() {
            violations.push(format!(
                "`{}` is protected, but it is no longer in the models: unprotect it first (a model change applied before it is removed)",
                rec.key
            ));
        }
        resources.push(ResourceDiff {
            key: rec.key.clone(),
            kind: rec.kind.clone(),
            provider: rec.provider.clone(),
            action: DiffAction::Delete,
            mode: None,
            fields: Vec::new(),
            cause: Some(cause),
            cannot_compare: Vec::new(),
            protected: rec.protect,
        });
    }
    Diff {
        version: Diff::VERSION,
        system: system.to_string(),
        resources,
        violations,
        tasks: Vec::new(),
        tasks_done: 0,
        targeted: false,
    }
}

/// How resource `i`, replaced, is replaced: as its model says, else delete-first if a
/// dependency is replaced delete-first (its object cannot outlive that one's), else
/// create-first. A resource that must be created first but depends on one deleted first is
/// a violation.
fn replace_mode(
    plan: &Plan,
    i: usize,
    modes: &[Option<ReplaceMode>],
    clash: &[&str],
    violations: &mut Vec<String>,
) -> ReplaceMode {
    let r = &plan.resources[i];
    let dbc_dep = r
        .deps
        .iter()
        .find(|d| modes[d.index()] == Some(ReplaceMode::DeleteFirst));
    match (r.lifecycle.replace, dbc_dep) {
        (Some(ReplaceMode::CreateFirst), _) if !clash.is_empty() => {
            violations.push(format!(
                "`{}` is replaced create first, but {} must be unique and stay the same: change one, or replace it delete first",
                r.key(),
                fields_list(clash)
            ));
            ReplaceMode::CreateFirst
        }
        (Some(ReplaceMode::CreateFirst), Some(d)) => {
            violations.push(format!(
                "`{}` is replaced create first, but it depends on `{}`, which is replaced delete first",
                r.key(),
                plan.resources[d.index()].key()
            ));
            ReplaceMode::CreateFirst
        }
        (Some(m), _) => m,
        (None, Some(_)) => ReplaceMode::DeleteFirst,
        (None, None) if !clash.is_empty() => ReplaceMode::DeleteFirst,
        (None, None) => ReplaceMode::CreateFirst,
    }
}

/// `` `a`, `b` `` for a message.
fn fields_list(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `recs` ordered dependents first (by their recorded dependencies among them).
pub(crate) fn delete_order<'a>(recs: &[&'a ResourceRecord]) -> Vec<&'a ResourceRecord> {
    let index: HashMap<&str, usize> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    // A record must be deleted before those it depends on.
    let mut dependents = vec![0usize; recs.len()];
    for r in recs {
        for d in &r.deps {
            if let Some(&j) = index.get(d.as_str()) {
                dependents[j] += 1;
            }
        }
    }
    let mut ready: Vec<usize> = (0..recs.len())
        .rev()
        .filter(|&i| dependents[i] == 0)
        .collect();
    let mut out = Vec::with_capacity(recs.len());
    while let Some(i) = ready.pop() {
        out.push(recs[i]);
        for d in &recs[i].deps {
            if let Some(&j) = index.get(d.as_str()) {
                dependents[j] -= 1;
                if dependents[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    // A cycle in recorded dependencies (never written by hoist): the rest, as recorded.
    for r in recs {
        if !out.iter().any(|o| o.key == r.key) {
            out.push(r);
        }
    }
    out
}
