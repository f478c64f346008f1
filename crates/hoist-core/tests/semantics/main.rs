//! The semantics suite of `hoist-core`: one integration test binary, one module per area.
//!
//! Every test names the behaviour it checks. The helpers below keep the tests data-driven
//! (paths and names as strings, edge sets, variable maps), so they survive API churn.

// `#[derive(Model)]` generates code that names `::hoist`.
extern crate hoist_core as hoist;

mod checks;
mod compile_fail;
mod context;
mod defaults;
mod deps;
mod errors;
mod multi;
mod multitask;
mod namespace;
mod refs;
mod render;
mod vars;

use std::collections::{BTreeMap, BTreeSet};

use hoist::{
    DiagKind, Diagnostic, Outputs, Plan, PlanError, PlanInput, PlannedResource, PlannedRole,
    PlannedTask, ProviderCatalog, ResourceId, VarError,
};

/// Plans `input`, panicking with the full error text if the models are rejected.
#[track_caller]
pub fn plan_of(input: PlanInput<'_>) -> Plan {
    match hoist::plan(&input) {
        Ok(p) => p,
        Err(e) => panic!("expected a plan, got errors:\n{e}"),
    }
}

/// Plans `input`, expecting it to be rejected; every diagnostic must carry a model name and a
/// source location in a `.rs` file.
#[track_caller]
pub fn errors_of(input: PlanInput<'_>) -> PlanError {
    match hoist::plan(&input) {
        Ok(p) => panic!("expected plan errors, got a plan:\n{}", p.render()),
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "a PlanError with no diagnostics");
            assert_located(&e);
            e
        }
    }
}

/// Every diagnostic names its model and a source location (`*.rs`, line > 0) in the user's
/// code: never in a `src/` file of a hoist crate.
#[track_caller]
pub fn assert_located(e: &PlanError) {
    assert_in_user_code(&e.diagnostics);
}

/// [`assert_located`] for a list of diagnostics (warnings).
#[track_caller]
pub fn assert_in_user_code(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        assert!(
            !(d.loc.file.contains("hoist-") && d.loc.file.contains("/src/")),
            "a diagnostic located in hoist's own source: {d:?}"
        );
        assert!(!d.model.is_empty(), "diagnostic without a model: {d}");
        assert!(
            d.loc.file.ends_with(".rs"),
            "diagnostic without a source file: {d:?}"
        );
        assert!(d.loc.line > 0, "diagnostic without a source line: {d:?}");
    }
}

/// The diagnostics of `kind`; panics (showing all of them) if there are none.
#[track_caller]
pub fn diags_of(e: &PlanError, kind: DiagKind) -> Vec<&Diagnostic> {
    let v: Vec<&Diagnostic> = e.diagnostics.iter().filter(|d| d.kind == kind).collect();
    assert!(!v.is_empty(), "no {kind:?} diagnostic in:\n{e}");
    v
}

/// The single diagnostic of `kind`.
#[track_caller]
pub fn diag_of(e: &PlanError, kind: DiagKind) -> &Diagnostic {
    let v = diags_of(e, kind);
    assert_eq!(v.len(), 1, "expected one {kind:?} diagnostic in:\n{e}");
    v[0]
}

/// `(kind, model, path)` of every diagnostic, in report order.
pub fn diag_keys(e: &PlanError) -> Vec<(DiagKind, String, String)> {
    e.diagnostics
        .iter()
        .map(|d| (d.kind, d.model.clone(), d.path.to_string()))
        .collect()
}

/// Resource keys `<model>/<path>`, in plan order.
pub fn resource_keys(p: &Plan) -> Vec<String> {
    p.resources.iter().map(PlannedResource::key).collect()
}

/// Resource keys, sorted, as a set.
pub fn resource_set(p: &Plan) -> BTreeSet<String> {
    p.resources.iter().map(PlannedResource::key).collect()
}

/// Builds a set of strings.
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The resource with key `<model>/<path>`.
#[track_caller]
pub fn res<'p>(p: &'p Plan, key: &str) -> &'p PlannedResource {
    p.resource_by_key(key)
        .unwrap_or_else(|| panic!("no resource `{key}`; resources: {:?}", resource_keys(p)))
}

/// Role paths (`<model>/<path>`), in plan order.
pub fn role_keys(p: &Plan) -> Vec<String> {
    p.roles
        .iter()
        .map(|r| format!("{}/{}", r.model, r.path))
        .collect()
}

/// The role at `path` (in whichever model has it; must be unique).
#[track_caller]
pub fn role<'p>(p: &'p Plan, path: &str) -> &'p PlannedRole {
    let v: Vec<&PlannedRole> = p
        .roles
        .iter()
        .filter(|r| r.path.to_string() == path)
        .collect();
    assert_eq!(
        v.len(),
        1,
        "role `{path}` not found exactly once; roles: {:?}",
        role_keys(p)
    );
    v[0]
}

/// Task paths, in plan order.
pub fn task_paths(p: &Plan) -> Vec<String> {
    p.tasks.iter().map(|t| t.path.to_string()).collect()
}

/// The task at `path` (in whichever config model has it; must be unique).
#[track_caller]
pub fn task<'p>(p: &'p Plan, path: &str) -> &'p PlannedTask {
    let v: Vec<&PlannedTask> = p
        .tasks
        .iter()
        .filter(|t| t.path.to_string() == path)
        .collect();
    assert_eq!(
        v.len(),
        1,
        "task `{path}` not found exactly once; tasks: {:?}",
        task_paths(p)
    );
    v[0]
}

/// The path of the role a task's variables come from.
pub fn task_role(p: &Plan, t: &str) -> String {
    p.roles[task(p, t).role.index()].path.to_string()
}

/// The path of the role whose host a task runs on.
pub fn task_host_role(p: &Plan, t: &str) -> String {
    p.roles[task(p, t).run_on.index()].path.to_string()
}

/// Every task dependency edge as `(before, after)` task paths.
pub fn edges(p: &Plan) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for t in &p.tasks {
        for d in &t.deps {
            out.insert((p.tasks[d.index()].path.to_string(), t.path.to_string()));
        }
    }
    out
}

/// Builds an edge set.
pub fn edge_set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect()
}

/// Task waves as task paths, each wave sorted.
pub fn task_waves(p: &Plan) -> Vec<Vec<String>> {
    p.task_waves
        .iter()
        .map(|w| {
            let mut v: Vec<String> = w
                .iter()
                .map(|t| p.tasks[t.index()].path.to_string())
                .collect();
            v.sort();
            v
        })
        .collect()
}

/// Resource waves as resource paths, each wave sorted.
pub fn resource_waves(p: &Plan) -> Vec<Vec<String>> {
    p.resource_waves
        .iter()
        .map(|w| {
            let mut v: Vec<String> = w
                .iter()
                .map(|r| p.resources[r.index()].path.to_string())
                .collect();
            v.sort();
            v
        })
        .collect()
}

/// Nothing is provisioned yet (plan time).
pub struct NotYet;

impl Outputs for NotYet {
    fn output(&self, _: ResourceId, _: &str) -> Option<serde_json::Value> {
        None
    }
    fn provider_id(&self, _: ResourceId) -> Option<String> {
        None
    }
}

/// Provisioning results keyed by resource key (`<model>/<path>`), as a provider would report
/// them.
pub struct Provisioned<'p> {
    plan: &'p Plan,
    outputs: BTreeMap<(String, String), serde_json::Value>,
    ids: BTreeMap<String, String>,
}

impl<'p> Provisioned<'p> {
    /// No results yet.
    pub fn new(plan: &'p Plan) -> Self {
        Provisioned {
            plan,
            outputs: BTreeMap::new(),
            ids: BTreeMap::new(),
        }
    }

    /// Records that resource `key` was provisioned with id `id`.
    pub fn id(mut self, key: &str, id: &str) -> Self {
        self.ids.insert(key.to_string(), id.to_string());
        self
    }

    /// Records output `field` of resource `key`.
    pub fn out(mut self, key: &str, field: &str, v: impl Into<serde_json::Value>) -> Self {
        self.outputs
            .insert((key.to_string(), field.to_string()), v.into());
        self
    }
}

impl Outputs for Provisioned<'_> {
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value> {
        let key = self.plan.resources[r.index()].key();
        self.outputs.get(&(key, field.to_string())).cloned()
    }
    fn provider_id(&self, r: ResourceId) -> Option<String> {
        self.ids.get(&self.plan.resources[r.index()].key()).cloned()
    }
}

/// The value of variable `name` seen from the role at `role` (plan time).
#[track_caller]
pub fn var(p: &Plan, role_path: &str, name: &str) -> Result<String, VarError> {
    p.var_value(role(p, role_path).id, name, &NotYet)
        .map(|e| e.text)
}

/// `text` expanded from the role at `role` (plan time).
#[track_caller]
pub fn expand(p: &Plan, role_path: &str, text: &str) -> Result<String, VarError> {
    p.expand(role(p, role_path).id, text, &NotYet)
        .map(|e| e.text)
}

/// The task environment of the role at `role` (plan time) and the names of variables left
/// out because they failed.
#[track_caller]
pub fn env(p: &Plan, role_path: &str) -> (BTreeMap<String, String>, Vec<VarError>) {
    let (vars, errs) = p.task_env(role(p, role_path).id, &NotYet);
    (vars.into_iter().collect(), errs)
}

/// A provisioner catalog: every kind goes to the proxy named by the resource's `cloud`, or
/// `sim`; the cloud `nowhere` has no proxy.
pub struct Catalog;

impl ProviderCatalog for Catalog {
    fn assign(&self, kind: &str, cloud: Option<&str>) -> Result<String, String> {
        match cloud {
            Some("nowhere") => Err(format!(
                "no provisioner proxy named `nowhere` handles {kind}"
            )),
            Some(c) => Ok(c.to_string()),
            None => Ok("sim".to_string()),
        }
    }
}
