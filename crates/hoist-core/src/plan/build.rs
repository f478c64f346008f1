//! Building a [`Plan`]: collect, materialise, resolve, fan out, order, check.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::vars::NoOutputs;
use super::{
    InputModel, ModelKind, PVal, PVar, Plan, PlanInput, PlannedHost, PlannedResource, PlannedRole,
    PlannedTask, ResourceId, RoleId, Scope, SpecRef, TaskId,
};
use crate::component::{ErasedMulti, ErasedMultiTask, Visit, Visitor};
use crate::config::{Action, CopySource, DepExpr, Deps, Task, TaskDefaults};
use crate::error::{DiagKind, Diagnostic, PlanError};
use crate::graph::Dag;
use crate::namespace::{HostRef, Role, VarValue, Vars, is_valid_var_name};
use crate::path::{Key, ModelPath, Seg, SourceLoc, container_len};
use crate::reference::{Base, KeyExpr, RefPath, RefSeg, decode_placeholder};
use crate::resource::ErasedResource;
use crate::secret::Secret;
use crate::select::{KeyFilter, Selection};

/// A component's location: model index and path.
type Loc = (usize, ModelPath);

/// The planner's hash maps: hashbrown's, so that a location can be looked up by a [`LocRef`]
/// without building its path, with a fast, fixed-seed hasher (the keys are the user's own model
/// paths, hashed many times per component: hash flooding is no concern here).
type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

/// A location borrowed from a path being walked. It hashes as the [`Loc`] it equals.
struct LocRef<'a>(usize, &'a [Seg]);

impl std::hash::Hash for LocRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        state.write_u64(crate::path::segs_hash(self.1));
    }
}

impl hashbrown::Equivalent<Loc> for LocRef<'_> {
    fn equivalent(&self, key: &Loc) -> bool {
        self.0 == key.0 && self.1 == key.1.segs()
    }
}

/// The locations in `it` that pass `keep`, in model order (model index, then path).
fn sorted_locs<'a, V: 'a>(
    it: impl Iterator<Item = (&'a Loc, &'a V)>,
    keep: impl Fn(&Loc, &V) -> bool,
) -> Vec<Loc> {
    let mut v: Vec<Loc> = it
        .filter(|(l, n)| keep(l, n))
        .map(|(l, _)| l.clone())
        .collect();
    v.sort_unstable();
    v
}

enum Entry {
    Group,
    // Boxed: nodes are many, and the map's slots stay small.
    Resource(Box<ResEntry>),
    Role(Box<Role>),
    /// `None` once the task has gone into the plan.
    Task(Option<Box<Task>>),
    Multi,
    MultiTask {
        expanded: bool,
    },
    Other,
}

impl Entry {
    fn what(&self) -> &'static str {
        match self {
            Entry::Group => "a group",
            Entry::Resource(_) => "a resource",
            Entry::Role(_) => "a role",
            Entry::Task(_) => "a task",
            Entry::Multi => "a multi component",
            Entry::MultiTask { .. } => "a multi-task",
            Entry::Other => "a variables, dependencies or defaults block",
        }
    }
}

struct ResEntry {
    kind: &'static str,
    spec: Result<Value, String>,
    address: Option<&'static str>,
    problems: Vec<String>,
    cloud: Option<String>,
    lifecycle: crate::Lifecycle,
}

struct Node {
    entry: Entry,
    loc: SourceLoc,
}

struct ModelInfo {
    kind: ModelKind,
    name: String,
    type_key: &'static str,
}

/// A block of variables: where it applies (scope), where it was declared (referrer of its
/// references) and the variables.
struct VarsBlock {
    scope: Loc,
    referrer: Loc,
    vars: Vars,
}

#[derive(Default)]
struct Tree {
    models: Vec<ModelInfo>,
    nodes: FastMap<Loc, Node>,
    /// The keys of each multi's materialised children (in materialisation order).
    children: FastMap<Loc, Vec<Key>>,
    queue: Vec<Loc>,
    multis: FastMap<Loc, Box<dyn ErasedMulti>>,
    multi_tasks: FastMap<Loc, Box<dyn ErasedMultiTask>>,
    vars: Vec<VarsBlock>,
    deps: Vec<(Loc, Deps)>,
    defaults: FastMap<Loc, (Loc, TaskDefaults)>,
    // resolutions
    spec_refs: FastMap<Loc, Vec<(String, Loc, Option<String>)>>,
    role_hosts: FastMap<Loc, Loc>,
    task_roles: FastMap<Loc, (Option<Loc>, Option<Loc>)>,
    default_roles: FastMap<Loc, (Option<Loc>, Option<Loc>)>,
    var_outs: FastMap<(usize, usize), Loc>,
    /// What each node of a `Deps` resolved to: (index in `deps`, the node's number in
    /// declaration order).
    dep_nodes: FastMap<(usize, usize), Loc>,
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

struct Collector<'t> {
    t: &'t mut Tree,
    model: usize,
    /// The path being visited, extended and shortened in place.
    path: Vec<Seg>,
    loc: SourceLoc,
}

impl Collector<'_> {
    fn here(&self) -> Loc {
        (self.model, ModelPath::from_slice(&self.path))
    }
}

impl Visitor for Collector<'_> {
    fn field(&mut self, name: &'static str, loc: SourceLoc, c: &dyn Visit) {
        self.path.push(Seg::Field(name.into()));
        let saved_loc = std::mem::replace(&mut self.loc, loc);
        c.visit_dyn(self);
        self.path.pop();
        self.loc = saved_loc;
    }

    fn group(&mut self, _type_name: &'static str) {
        self.t.insert(self.here(), Entry::Group, self.loc);
    }

    fn resource(&mut self, r: &dyn ErasedResource) {
        let e = ResEntry {
            kind: r.kind(),
            spec: r.spec(),
            address: r.address_output(),
            problems: r.validate(),
            cloud: r.cloud(),
            lifecycle: r.lifecycle(),
        };
        self.t
            .insert(self.here(), Entry::Resource(Box::new(e)), self.loc);
    }

    fn role(&mut self, r: &Role) {
        let loc = if r.loc().is_known() {
            r.loc()
        } else {
            self.loc
        };
        if !r.own_vars().is_empty() {
            self.t.vars.push(VarsBlock {
                scope: self.here(),
                referrer: self.here(),
                vars: r.own_vars().clone(),
            });
        }
        self.t
            .insert(self.here(), Entry::Role(Box::new(r.clone())), loc);
    }

    fn task(&mut self, t: &Task) {
        let loc = if t.loc().is_known() {
            t.loc()
        } else {
            self.loc
        };
        self.t
            .insert(self.here(), Entry::Task(Some(Box::new(t.clone()))), loc);
    }

    fn vars(&mut self, v: &Vars) {
        let here = self.here();
        self.t.vars.push(VarsBlock {
            scope: (self.model, here.1.container()),
            referrer: here.clone(),
            vars: v.clone(),
        });
        self.t.insert(here, Entry::Other, self.loc);
    }

    fn deps(&mut self, d: &Deps) {
        let here = self.here();
        self.t.deps.push((here.clone(), d.clone()));
        self.t.insert(here, Entry::Other, self.loc);
    }

    fn defaults(&mut self, d: &TaskDefaults) {
        let here = self.here();
        let container = (self.model, here.1.container());
        self.t.defaults.insert(container, (here.clone(), d.clone()));
        self.t.insert(here, Entry::Other, self.loc);
    }

    fn multi(&mut self, m: &dyn ErasedMulti) {
        let here = self.here();
        if let Some(v) = m.vars() {
            self.t.vars.push(VarsBlock {
                scope: here.clone(),
                referrer: here.clone(),
                vars: v.clone(),
            });
        }
        self.t.insert(here.clone(), Entry::Multi, self.loc);
        self.t.multis.insert(here.clone(), m.clone_box());
        let keys = m.declared_keys();
        for (i, k) in keys.iter().enumerate() {
            let before = self.t.nodes.len();
            self.t.materialise(&here, k.clone());
            if i == 0 {
                self.t.reserve_like(before, keys.len() - 1);
            }
        }
    }

    fn multi_task(&mut self, m: &dyn ErasedMultiTask) {
        let loc = if m.loc().is_known() {
            m.loc()
        } else {
            self.loc
        };
        self.t.multi_tasks.insert(self.here(), m.clone_box());
        self.t
            .insert(self.here(), Entry::MultiTask { expanded: false }, loc);
    }
}

fn short_type(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

impl Tree {
    fn insert(&mut self, loc: Loc, entry: Entry, src: SourceLoc) {
        if self.nodes.contains_key(&loc) {
            return;
        }
        if let Some((Seg::Key(k), parent)) = loc.1.segs().split_last() {
            match self.children.get_mut(&LocRef(loc.0, parent)) {
                Some(keys) => keys.push(k.clone()),
                None => {
                    self.children
                        .insert((loc.0, loc.1.parent()), vec![k.clone()]);
                }
            }
        }
        // Only these have references for `scan` to resolve.
        if matches!(entry, Entry::Resource(_) | Entry::Role(_) | Entry::Task(_)) {
            self.queue.push(loc.clone());
        }
        self.nodes.insert(loc, Node { entry, loc: src });
    }

    /// Makes room for `more` siblings of the component just collected (whose nodes came after
    /// the first `before`): they are most likely the same size, and the tables grow once.
    fn reserve_like(&mut self, before: usize, more: usize) {
        let per_child = self.nodes.len().saturating_sub(before);
        self.nodes.reserve(per_child * more);
        self.queue.reserve(per_child * more);
    }

    fn entry(&self, loc: &Loc) -> Option<&Entry> {
        self.nodes.get(loc).map(|n| &n.entry)
    }

    fn entry_at(&self, loc: LocRef<'_>) -> Option<&Entry> {
        self.nodes.get(&loc).map(|n| &n.entry)
    }

    fn collect(&mut self, model: usize, path: ModelPath, loc: SourceLoc, c: &dyn Visit) {
        let mut col = Collector {
            t: self,
            model,
            path: path.segs().to_vec(),
            loc,
        };
        c.visit_dyn(&mut col);
    }

    fn materialise(&mut self, multi: &Loc, key: Key) {
        let child_loc: Loc = (multi.0, multi.1.key(key.clone()));
        if self.nodes.contains_key(&child_loc) {
            return;
        }
        let Some(decl) = self.multis.get(multi) else {
            return;
        };
        let loc = decl.loc();
        let child = decl.child(&key);
        let src = self.nodes.get(multi).map_or(loc, |n| n.loc);
        self.collect(child_loc.0, child_loc.1, src, &*child);
    }

    /// A diagnostic about the component at `at`, located where it was declared.
    fn located(
        &self,
        kind: DiagKind,
        at: &Loc,
        loc: Option<SourceLoc>,
        message: String,
    ) -> Diagnostic {
        let model = self
            .models
            .get(at.0)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        Diagnostic {
            kind,
            model,
            path: at.1.clone(),
            loc: loc.unwrap_or_else(|| self.nodes.get(at).map(|n| n.loc).unwrap_or_default()),
            message,
        }
    }

    fn diag(&mut self, kind: DiagKind, at: &Loc, message: String) {
        let d = self.located(kind, at, None, message);
        self.diags.push(d);
    }

    /// An error about the component at `at`, located at `loc` in the user's source.
    fn diag_at(&mut self, kind: DiagKind, at: &Loc, loc: SourceLoc, message: String) {
        let d = self.located(kind, at, Some(loc), message);
        self.diags.push(d);
    }

    fn warn(&mut self, kind: DiagKind, at: &Loc, message: String) {
        let d = self.located(kind, at, None, message);
        self.warnings.push(d);
    }

    /// A warning about the component at `at`, located at `loc` in the user's source.
    fn warn_at(&mut self, kind: DiagKind, at: &Loc, loc: SourceLoc, message: String) {
        let d = self.located(kind, at, Some(loc), message);
        self.warnings.push(d);
    }

    /// Resolves `r`, held by the component at `referrer`, materialising multi children.
    fn resolve(&mut self, referrer: &Loc, r: &RefPath) -> Result<Loc, String> {
        // The path is extended in place, one step at a time, and looked up without copies.
        let (model, mut here): (usize, Vec<Seg>) = match &r.base {
            Base::Model(name) => {
                let mut found = self
                    .models
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.type_key == name.as_ref())
                    .map(|(i, _)| i);
                match (found.next(), found.next()) {
                    (Some(i), None) => (i, Vec::new()),
                    (None, _) => {
                        let short = short_type(name);
                        return Err(format!(
                            "`{r}` refers to model type `{short}`, which is not part of this orchestration \
                             (inside a reusable group, refer to siblings with `{short}::siblings()`)"
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(format!(
                            "`{r}` is ambiguous: several models of type `{}` are part of this orchestration",
                            short_type(name)
                        ));
                    }
                }
            }
            Base::Container { up } => {
                let mut p = &referrer.1.segs()[..container_len(referrer.1.segs())];
                for _ in 0..*up {
                    if p.is_empty() {
                        return Err(format!("`{r}` goes above the root of the model"));
                    }
                    p = &p[..container_len(p)];
                }
                (referrer.0, p.to_vec())
            }
        };
        let loc = |segs: &[Seg]| (model, ModelPath::from_slice(segs));
        for seg in r.segs.iter() {
            match seg {
                RefSeg::Field(n) => {
                    if matches!(self.entry_at(LocRef(model, &here)), Some(Entry::Multi)) {
                        let path = self.address(&loc(&here));
                        return Err(format!(
                            "`{path}` is a multi component: pick a child with a key before `.{n}` (in `{r}`)"
                        ));
                    }
                    here.push(Seg::Field(n.clone()));
                }
                RefSeg::Key(k) => {
                    let key = match k {
                        KeyExpr::Lit(k) => k.clone(),
                        KeyExpr::Mine { up } => referrer
                            .1
                            .keys_innermost_first()
                            .nth(usize::from(*up))
                            .cloned()
                            .ok_or_else(|| {
                                let at = self.address(referrer);
                                format!("`{at}` has no key at level {up} to use in `{r}`")
                            })?,
                    };
                    match self.entry_at(LocRef(model, &here)) {
                        Some(Entry::Multi) => {}
                        Some(e) => {
                            return Err(format!(
                                "`{}` is {}, not a multi component; it cannot be indexed with [{key}]",
                                self.address(&loc(&here)),
                                e.what()
                            ));
                        }
                        None => {
                            let path = self.address(&loc(&here));
                            return Err(format!("`{path}` does not exist (in `{r}`)"));
                        }
                    }
                    // Most children exist already: look before materialising.
                    here.push(Seg::Key(key.clone()));
                    if !self.nodes.contains_key(&LocRef(model, &here)) {
                        here.pop();
                        let multi = loc(&here);
                        self.check_key(&multi, &key, r)?;
                        self.materialise(&multi, key.clone());
                        here.push(Seg::Key(key));
                    }
                }
            }
        }
        match self.nodes.get_key_value(&LocRef(model, &here)) {
            // The stored location: its path is shared, not copied.
            Some((l, _)) => Ok(l.clone()),
            None => Err(format!(
                "`{}` does not exist (in `{r}`)",
                self.address(&loc(&here))
            )),
        }
    }

    /// The address of the component at `l`.
    fn address(&self, l: &Loc) -> crate::Address {
        let model = self
            .models
            .get(l.0)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        crate::Address::new(model, l.1.clone())
    }

    /// A reference may make a child of `multi` with `key` only if the multi takes keys other
    /// than those it declares.
    fn check_key(&self, multi: &Loc, key: &Key, r: &RefPath) -> Result<(), String> {
        let Some(decl) = self.multis.get(multi) else {
            return Ok(());
        };
        if decl.takes_other_keys() {
            return Ok(());
        }
        let keys = decl.declared_keys();
        let mut declared: Vec<String> = keys.iter().take(5).map(ToString::to_string).collect();
        if keys.len() > 5 {
            declared.push(format!("and {} more", keys.len() - 5));
        }
        let path = self.address(&(multi.0, multi.1.key(key.clone())));
        Err(format!(
            "`{r}` refers to `{path}`, but the multi declares only the keys {}: declare the key with `.keys(…)`, or let references add keys with `.open_keys()`",
            declared.join(", ")
        ))
    }

    fn resolve_kind(
        &mut self,
        referrer: &Loc,
        r: &RefPath,
        want: fn(&Entry) -> bool,
        what: &str,
    ) -> Option<Loc> {
        match self.resolve(referrer, r) {
            Ok(l) => {
                let ok = self.entry(&l).is_some_and(want);
                if ok {
                    Some(l)
                } else {
                    let got = self.entry(&l).map_or("nothing", Entry::what);
                    self.diag(
                        DiagKind::WrongKind,
                        referrer,
                        format!("`{r}` is {got}, but {what} is needed here"),
                    );
                    None
                }
            }
            Err(e) => {
                self.diag(DiagKind::UnresolvedReference, referrer, e);
                None
            }
        }
    }

    fn scan(&mut self, loc: Loc) {
        enum Work {
            Spec(Vec<(String, RefPath, Option<String>)>),
            Host(RefPath),
            TaskRoles(Option<RefPath>, Option<RefPath>),
            None,
        }
        let work = match self.entry(&loc) {
            Some(Entry::Resource(r)) => match &r.spec {
                Ok(v) => {
                    let mut found = Vec::new();
                    super::json::walk(v, &mut |ptr, x| match decode_placeholder(x) {
                        Some((rp, field)) => {
                            found.push((ptr.to_string(), rp, field));
                            false
                        }
                        None => true,
                    });
                    Work::Spec(found)
                }
                Err(_) => Work::None,
            },
            Some(Entry::Role(r)) => match r.host_ref() {
                Some(HostRef::Resource { path, .. }) => Work::Host(path.clone()),
                _ => Work::None,
            },
            Some(Entry::Task(Some(t))) => Work::TaskRoles(
                t.task_role()
                    .map(|r| crate::HasRefPath::ref_path(r).clone()),
                t.run_from_role()
                    .map(|r| crate::HasRefPath::ref_path(r).clone()),
            ),
            _ => Work::None,
        };
        match work {
            Work::Spec(found) => {
                let mut out = Vec::new();
                for (ptr, rp, field) in found {
                    if let Some(t) = self.resolve_kind(
                        &loc,
                        &rp,
                        |e| matches!(e, Entry::Resource(_)),
                        "a resource",
                    ) {
                        out.push((ptr, t, field));
                    }
                }
                self.spec_refs.insert(loc, out);
            }
            Work::Host(rp) => {
                if let Some(t) = self.resolve_kind(
                    &loc,
                    &rp,
                    |e| matches!(e, Entry::Resource(r) if r.address.is_some()),
                    "an addressable resource (a server, public IP or fixed host)",
                ) {
                    self.role_hosts.insert(loc, t);
                }
            }
            Work::TaskRoles(role, from) => {
                let is_role = |e: &Entry| matches!(e, Entry::Role(_));
                let role = role.and_then(|r| self.resolve_kind(&loc, &r, is_role, "a role"));
                let from = from.and_then(|r| self.resolve_kind(&loc, &r, is_role, "a role"));
                self.task_roles.insert(loc, (role, from));
            }
            Work::None => {}
        }
    }

    fn scan_vars(&mut self, i: usize, masked: &BTreeSet<String>) {
        let referrer = self.vars[i].referrer.clone();
        let outs: Vec<(usize, RefPath)> = self.vars[i]
            .vars
            .iter()
            .enumerate()
            .filter_map(|(j, v)| match &v.value {
                VarValue::Out(o) if !masked.contains(&v.name) => Some((j, o.path.clone())),
                _ => None,
            })
            .collect();
        for (j, rp) in outs {
            if let Some(t) = self.resolve_kind(
                &referrer,
                &rp,
                |e| matches!(e, Entry::Resource(_)),
                "a resource",
            ) {
                self.var_outs.insert((i, j), t);
            }
        }
    }

    fn scan_defaults(&mut self, container: Loc) {
        let Some((field, d)) = self.defaults.get(&container).cloned() else {
            return;
        };
        let is_role = |e: &Entry| matches!(e, Entry::Role(_));
        let role = d.role.as_ref().and_then(|r| {
            self.resolve_kind(&field, crate::HasRefPath::ref_path(r), is_role, "a role")
        });
        let from = d.run_from.as_ref().and_then(|r| {
            self.resolve_kind(&field, crate::HasRefPath::ref_path(r), is_role, "a role")
        });
        self.default_roles.insert(container, (role, from));
    }

    fn scan_deps(&mut self, i: usize) {
        // Taken out while its references are resolved (which needs `&mut self`), then put back.
        let (at, deps) =
            std::mem::replace(&mut self.deps[i], ((0, ModelPath::root()), Deps::none()));
        let mut node = 0;
        for expr in deps.exprs() {
            self.scan_dep_expr(i, &at, expr, &mut node);
        }
        self.deps[i] = (at, deps);
    }

    /// Resolves the nodes of `expr`, numbering them in declaration order from `*node`.
    fn scan_dep_expr(&mut self, i: usize, at: &Loc, expr: &DepExpr, node: &mut usize) {
        match expr {
            DepExpr::Node(rp) => {
                let n = *node;
                *node += 1;
                let ok = |e: &Entry| {
                    matches!(
                        e,
                        Entry::Task(_) | Entry::Group | Entry::MultiTask { .. } | Entry::Multi
                    )
                };
                if let Some(t) =
                    self.resolve_kind(at, rp, ok, "a task, a multi-task or a struct of tasks")
                {
                    self.dep_nodes.insert((i, n), t);
                }
            }
            DepExpr::Seq(v) | DepExpr::Par(v) => {
                for e in v {
                    self.scan_dep_expr(i, at, e, node);
                }
            }
        }
    }

    /// The components `sel` picks; an error says what kind of mistake it is.
    fn select(&mut self, referrer: &Loc, sel: &Selection) -> Result<Vec<Loc>, (DiagKind, String)> {
        let unresolved = |e: String| (DiagKind::UnresolvedReference, e);
        match sel {
            Selection::List(v) => v
                .iter()
                .map(|r| self.resolve(referrer, r).map_err(unresolved))
                .collect(),
            Selection::Union(v) => {
                let mut out: Vec<Loc> = Vec::new();
                for s in v {
                    for l in self.select(referrer, s)? {
                        if !out.contains(&l) {
                            out.push(l);
                        }
                    }
                }
                Ok(out)
            }
            Selection::Children {
                multi,
                filter,
                then,
            } => {
                let m = self.resolve(referrer, multi).map_err(unresolved)?;
                if !matches!(self.entry(&m), Some(Entry::Multi)) {
                    return Err((
                        DiagKind::WrongKind,
                        format!(
                            "`{multi}` is not a multi component; only a multi's children can be selected"
                        ),
                    ));
                }
                let re = match filter {
                    KeyFilter::Regex(r, _) => Some(regex::Regex::new(r).map_err(|e| {
                        // regex's syntax errors span several lines; keep the last, which says what is wrong
                        let e = e.to_string();
                        let why = e
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim_start_matches("error: ")
                            .to_string();
                        (
                            DiagKind::BadArgument,
                            format!("bad regular expression {r:?}: {why}"),
                        )
                    })?),
                    _ => None,
                };
                let mut keys: Vec<Key> = self.children.get(&m).cloned().unwrap_or_default();
                keys.sort();
                let keep = |k: &Key| match filter {
                    KeyFilter::All => true,
                    KeyFilter::Keys(ks) => ks.contains(k),
                    KeyFilter::Regex(_, want) => {
                        re.as_ref().is_some_and(|r| r.is_match(k.as_str()) == *want)
                    }
                    KeyFilter::Pred(p) => p(k),
                };
                let mut out = Vec::new();
                for k in keys.into_iter().filter(keep) {
                    let mut p = m.1.key(k);
                    for f in then {
                        p = p.field(*f);
                    }
                    if !self.nodes.contains_key(&(m.0, p.clone())) {
                        let at = self.address(&(m.0, p));
                        return Err(unresolved(format!("`{at}` does not exist")));
                    }
                    out.push((m.0, p));
                }
                Ok(out)
            }
        }
    }

    fn expand_multi_task(&mut self, loc: Loc) {
        let Some(decl) = self.multi_tasks.get(&loc).map(|d| d.clone_box()) else {
            return;
        };
        if let Some(Node {
            entry: Entry::MultiTask { expanded },
            ..
        }) = self.nodes.get_mut(&loc)
        {
            *expanded = true;
        }
        let roles = match self.select(&loc, decl.selection()) {
            Ok(r) => r,
            Err((kind, e)) => {
                self.diag(kind, &loc, e);
                return;
            }
        };
        if roles.is_empty() {
            self.warn(
                DiagKind::EmptySelection,
                &loc,
                "the multi-task's selection picks no role, so it makes no task (a key filter that matches no key?)".into(),
            );
        }
        let mut used: BTreeSet<String> = BTreeSet::new();
        let count = roles.len();
        for (i, r) in roles.into_iter().enumerate() {
            if !matches!(self.entry(&r), Some(Entry::Role(_))) {
                let what = self.entry(&r).map_or("nothing", Entry::what);
                self.diag(
                    DiagKind::WrongKind,
                    &loc,
                    format!(
                        "multi-task selection picked `{}`, which is {what}, not a role",
                        self.address(&r)
                    ),
                );
                continue;
            }
            // A child is keyed by its role's path (`apps[app[3]]`, `deploy[grid[a].leader]`),
            // so its address names the role it is for, and does not change when the
            // selection does; by the role's address when roles of several models share a path.
            let mut name = r.1.to_string();
            if !used.insert(name.clone()) {
                name = format!("{}/{name}", self.models[r.0].name);
                used.insert(name.clone());
            }
            let child = decl.child(RefPath::concrete(self.models[r.0].type_key, &r.1));
            let src = self.nodes.get(&loc).map(|n| n.loc).unwrap_or_default();
            let before = self.nodes.len();
            self.collect(loc.0, loc.1.key(Key::from(name)), src, &*child);
            if i == 0 {
                self.reserve_like(before, count - 1);
            }
        }
    }
}

/// The containers with `TaskDefaults` that apply to the tasks of one container, innermost
/// first. Tasks come in path order, so consecutive tasks usually share their container.
#[derive(Default)]
struct DefaultsChain {
    container: Option<Loc>,
    chain: Vec<Loc>,
}

impl DefaultsChain {
    fn for_task(&mut self, t: &Tree, l: &Loc) -> &[Loc] {
        let segs = l.1.segs();
        let len = segs
            .iter()
            .rposition(|s| matches!(s, Seg::Field(_)))
            .unwrap_or(0);
        let same = self
            .container
            .as_ref()
            .is_some_and(|c| c.0 == l.0 && c.1.segs() == &segs[..len]);
        if !same {
            let container: Loc = (l.0, l.1.container());
            self.chain.clear();
            let mut c = container.clone();
            loop {
                if t.defaults.contains_key(&c) {
                    self.chain.push(c.clone());
                }
                if c.1.is_root() {
                    break;
                }
                c.1 = c.1.container();
            }
            self.container = Some(container);
        }
        &self.chain
    }
}

/// What a task is planned from: the resolved tree, the planned roles and resources.
struct TaskPlanner<'a> {
    t: &'a Tree,
    role_ids: &'a FastMap<Loc, RoleId>,
    roles: &'a [PlannedRole],
    resources: &'a [PlannedResource],
    cloud_creds: &'a std::collections::BTreeMap<String, crate::config::Credentials>,
}

impl TaskPlanner<'_> {
    /// The planned task `id` at `l`, and its problems.
    fn task(
        &self,
        chain: &mut DefaultsChain,
        id: usize,
        l: &Loc,
        nloc: SourceLoc,
        task: Task,
    ) -> (PlannedTask, Vec<(DiagKind, String)>) {
        let t = self.t;
        let mut problems: Vec<(DiagKind, String)> = task
            .problems()
            .iter()
            .map(|p| (DiagKind::BadArgument, p.clone()))
            .collect();
        let (mut role, mut from) = t
            .task_roles
            .get(l)
            .map_or((None, None), |(r, f)| (r.as_ref(), f.as_ref()));
        // Credentials: the task's own, then its role's, then its cloud's, then the enclosing
        // defaults (innermost first): the more specific setting wins.
        let mut creds = task.credentials().clone();
        let mut default_creds = crate::config::Credentials::default();
        let mut retry = task.retry_policy();
        // A role named on the task or in its defaults that does not resolve is reported
        // there; "no role" is for tasks that name none.
        let mut named = task.task_role().is_some();
        for key in chain.for_task(t, l) {
            if let Some((_, d)) = t.defaults.get(key) {
                named |= d.role.is_some();
                let (drole, dfrom) = t
                    .default_roles
                    .get(key)
                    .map_or((None, None), |(r, f)| (r.as_ref(), f.as_ref()));
                if role.is_none() && task.task_role().is_none() {
                    role = drole;
                }
                if from.is_none() && task.run_from_role().is_none() {
                    from = dfrom;
                }
                default_creds = default_creds.or(&d.creds);
                if retry.is_none() {
                    retry = d.retry;
                }
            }
        }
        let role_id = role.and_then(|r| self.role_ids.get(r).copied());
        let from_id = from.and_then(|r| self.role_ids.get(r).copied());
        let run_on = from_id.or(role_id);
        let local = task.action().is_local();
        if role_id.is_none() && !local && !named {
            problems.push((
                DiagKind::NoRole,
                "no task role: set one on the task or in the enclosing `TaskDefaults`".into(),
            ));
        }
        if let Some(ro) = run_on
            && !local
        {
            let r = &self.roles[ro.index()];
            if r.host == PlannedHost::None {
                problems.push((
                    DiagKind::NoHost,
                    format!("the task runs on role `{}`, which has no host", r.address()),
                ));
            } else {
                creds = creds.or(&r.conn.creds);
            }
            if let PlannedHost::Resource { resource, .. } = r.host
                && let Some(cc) = self
                    .cloud_creds
                    .get(&self.resources[resource.index()].provider)
            {
                creds = creds.or(cc);
            }
        }
        let creds = creds.or(&default_creds);
        if let Some(why) = creds.password.as_ref().and_then(crate::secret::too_short) {
            problems.push((DiagKind::BadArgument, format!("password: {why}")));
        }
        // a timeout set on the task applies to the inherited policy too
        let retry = retry.unwrap_or_default();
        let retry = task.attempt_timeout().map_or(retry, |t| retry.timeout(t));
        let run_when = task.run_when();
        let (action, become_user, changed_when) = task.into_action();
        let planned = PlannedTask {
            id: TaskId(u32::try_from(id).unwrap_or(u32::MAX)),
            model: t.models[l.0].name.clone(),
            path: l.1.clone(),
            action,
            role: role_id.unwrap_or(RoleId(u32::MAX)),
            run_on: run_on.unwrap_or(RoleId(u32::MAX)),
            creds,
            retry,
            become_user,
            run_when,
            changed_when,
            deps: Vec::new(),
            loc: nloc,
        };
        (planned, problems)
    }
}

fn action_strings(a: &Action) -> Vec<&str> {
    fn opt(o: &Option<String>) -> Option<&str> {
        o.as_deref()
    }
    match a {
        Action::Null | Action::Ping => Vec::new(),
        Action::Command {
            argv,
            chdir,
            creates,
            removes,
        } => {
            let mut v: Vec<&str> = argv.iter().map(String::as_str).collect();
            v.extend(opt(chdir));
            v.extend(opt(creates));
            v.extend(opt(removes));
            v
        }
        Action::Shell {
            line,
            chdir,
            creates,
            removes,
        } => {
            let mut v = vec![line.as_str()];
            v.extend(opt(chdir));
            v.extend(opt(creates));
            v.extend(opt(removes));
            v
        }
        Action::Script {
            args,
            creates,
            removes,
            ..
        } => {
            let mut v: Vec<&str> = args.iter().map(String::as_str).collect();
            v.extend(opt(creates));
            v.extend(opt(removes));
            v
        }
        Action::Copy {
            src,
            dest,
            owner,
            group,
            ..
        } => {
            let mut v = vec![dest.as_str()];
            v.extend(opt(owner));
            v.extend(opt(group));
            if let CopySource::Path(p) = src {
                v.extend(p.to_str());
            }
            v
        }
        Action::Template { src, dest, .. } => {
            let mut v = vec![dest.as_str()];
            if let CopySource::Content(c) = src {
                v.push(c.as_str());
            }
            v
        }
        Action::Local { argv, .. } => argv.iter().map(String::as_str).collect(),
    }
}

/// Makes a [`Plan`] from the models in `input`, or reports every mistake found.
///
/// Pure: no provider is called, no file is read.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let mut t = Tree::default();
    // Models, and duplicate model names.
    let mut names = BTreeSet::new();
    let mut duplicates = Vec::new();
    for (
        i,
        InputModel {
            kind,
            name,
            type_key,
            ..
        },
    ) in input.models.iter().enumerate()
    {
        t.models.push(ModelInfo {
            kind: *kind,
            name: name.clone(),
            type_key,
        });
        if !names.insert(name.clone()) {
            duplicates.push(i);
        }
    }
    for (i, m) in input.models.iter().enumerate() {
        // the model root is located where the model was added to the input
        t.collect(i, ModelPath::root(), m.loc, m.root);
    }
    for i in duplicates {
        let name = &input.models[i].name;
        t.diag(
            DiagKind::DuplicateName,
            &(i, ModelPath::root()),
            format!("two models are named `{name}`"),
        );
    }
    for (i, m) in input.models.iter().enumerate() {
        if !crate::address::is_valid_model_name(&m.name) {
            t.diag(
                DiagKind::BadArgument,
                &(i, ModelPath::root()),
                format!(
                    "a model's name is the first part of every address in it (`web/app[0]`): use letters, digits, `_` and `-`, not {:?}",
                    m.name
                ),
            );
        }
    }
    let masked: BTreeSet<String> = input.overrides.iter().map(|v| v.name.clone()).collect();
    // Global overrides whose value is an infra output: resolved like any output variable
    // (materialising what they name), on behalf of the first model.
    let override_outs: HashMap<String, Loc> = input
        .overrides
        .iter()
        .filter_map(|v| match &v.value {
            VarValue::Out(o) => Some((v.name.clone(), o.path.clone())),
            _ => None,
        })
        .filter_map(|(name, rp)| {
            let at = (0, ModelPath::root());
            let what = format!("a resource (for the override of `{name}`)");
            t.resolve_kind(&at, &rp, |e| matches!(e, Entry::Resource(_)), &what)
                .map(|l| (name, l))
        })
        .collect();

    // Resolve until nothing new appears; then fan out multi-tasks; repeat.
    let (mut qi, mut vi, mut di) = (0, 0, 0);
    let mut scanned_defaults: BTreeSet<Loc> = BTreeSet::new();
    loop {
        loop {
            let mut progressed = false;
            while qi < t.queue.len() {
                let l = std::mem::take(&mut t.queue[qi]);
                qi += 1;
                t.scan(l);
                progressed = true;
            }
            while vi < t.vars.len() {
                t.scan_vars(vi, &masked);
                vi += 1;
                progressed = true;
            }
            let pending: Vec<Loc> = t
                .defaults
                .keys()
                .filter(|k| !scanned_defaults.contains(*k))
                .cloned()
                .collect();
            for c in pending {
                scanned_defaults.insert(c.clone());
                t.scan_defaults(c);
                progressed = true;
            }
            while di < t.deps.len() {
                t.scan_deps(di);
                di += 1;
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let pending = sorted_locs(t.nodes.iter(), |_, n| {
            matches!(n.entry, Entry::MultiTask { expanded: false })
        });
        if pending.is_empty() {
            break;
        }
        for l in pending {
            t.expand_multi_task(l);
        }
    }

    // Components in the wrong kind of model.
    let mut misplaced: Vec<(Loc, String)> = t
        .nodes
        .iter()
        .filter_map(|(l, n)| {
            let mk = t.models[l.0].kind;
            let bad = match (&n.entry, mk) {
                (Entry::Resource(_), ModelKind::Infra)
                | (Entry::Role(_), ModelKind::Namespace)
                | (Entry::Task(_) | Entry::MultiTask { .. }, ModelKind::Config) => None,
                (Entry::Resource(_), _) => Some("a resource belongs in an infra model"),
                (Entry::Role(_), _) => Some("a role belongs in a namespace model"),
                (Entry::Task(_) | Entry::MultiTask { .. }, _) => {
                    Some("a task belongs in a config model")
                }
                _ => None,
            };
            bad.map(|b| {
                (
                    l.clone(),
                    format!("{b}, but `{}` is a {mk} model", t.models[l.0].name),
                )
            })
        })
        .collect();
    // Variables, dependencies and defaults only mean something in their own kind of model;
    // elsewhere they would be silently ignored. (A role's own variables are reported with
    // the role.)
    let in_kind = |l: &Loc, want: ModelKind| t.models[l.0].kind == want;
    let blocks = t
        .vars
        .iter()
        .filter(|b| {
            !in_kind(&b.referrer, ModelKind::Namespace)
                && !matches!(t.entry(&b.referrer), Some(Entry::Role(_)))
        })
        .map(|b| (b.referrer.clone(), "variables belong in a namespace model"))
        .chain(
            t.deps
                .iter()
                .filter(|(l, _)| !in_kind(l, ModelKind::Config))
                .map(|(l, _)| (l.clone(), "task dependencies belong in a config model")),
        )
        .chain(
            t.defaults
                .values()
                .filter(|(l, _)| !in_kind(l, ModelKind::Config))
                .map(|(l, _)| (l.clone(), "task defaults belong in a config model")),
        );
    misplaced.extend(blocks.map(|(l, b)| {
        let m = format!(
            "{b}, but `{}` is a {} model",
            t.models[l.0].name, t.models[l.0].kind
        );
        (l, m)
    }));
    misplaced.sort_unstable();
    misplaced.dedup();
    for (l, m) in misplaced {
        t.diag(DiagKind::WrongModel, &l, m);
    }

    // Exclusions.
    let mut excluded: Vec<Loc> = Vec::new();
    for rp in &input.exclude {
        let root = (0usize, ModelPath::root());
        match t.resolve(&root, rp) {
            Ok(l) => excluded.push(l),
            Err(e) => {
                t.diag(
                    DiagKind::UnresolvedReference,
                    &root,
                    format!("exclusion: {e}"),
                );
            }
        }
    }
    let is_excluded = |l: &Loc| excluded.iter().any(|x| x.0 == l.0 && l.1.starts_with(&x.1));
    // Nothing is materialised from here on: free what only that needed (the peak memory of
    // planning a large model is reached below).
    t.queue = Vec::new();
    t.multis = FastMap::default();
    t.multi_tasks = FastMap::default();
    t.children = FastMap::default();

    // ---- resources
    let mut res_ids: FastMap<Loc, ResourceId> = FastMap::default();
    let res_locs = sorted_locs(t.nodes.iter(), |l, n| {
        matches!(n.entry, Entry::Resource(_))
            && t.models[l.0].kind == ModelKind::Infra
            && !is_excluded(l)
    });
    let mut resources: Vec<PlannedResource> = Vec::with_capacity(res_locs.len());
    res_ids.reserve(res_locs.len());
    for l in &res_locs {
        let id = ResourceId(u32::try_from(resources.len()).unwrap_or(u32::MAX));
        res_ids.insert(l.clone(), id);
        let Some(n) = t.nodes.get_mut(l) else {
            continue;
        };
        let Entry::Resource(r) = &mut n.entry else {
            continue;
        };
        let model = t.models[l.0].name.clone();
        // The spec moves into the plan; the tree keeps only a failed serialization's error.
        let spec = match &mut r.spec {
            Ok(v) => std::mem::take(v),
            Err(_) => Value::Null,
        };
        resources.push(PlannedResource {
            id,
            model: model.clone(),
            path: l.1.clone(),
            kind: r.kind.to_string(),
            provider: String::new(),
            spec,
            refs: Vec::new(),
            deps: Vec::new(),
            address_output: r.address.map(str::to_string),
            short_name: l.1.short_name("_"),
            lifecycle: r.lifecycle,
            loc: n.loc,
        });
    }
    for l in &res_locs {
        let id = res_ids[l];
        let (kind, spec_err, problems, cloud) = match &t.nodes[l].entry {
            Entry::Resource(r) => (
                r.kind,
                r.spec.as_ref().err().cloned(),
                r.problems.clone(),
                r.cloud.clone(),
            ),
            _ => continue,
        };
        if let Some(e) = &spec_err {
            t.diag(
                DiagKind::BadArgument,
                l,
                format!("the spec of this {kind} cannot be serialized: {e}"),
            );
        }
        for p in problems {
            t.diag(DiagKind::BadArgument, l, p);
        }
        if let Some(c) = input.catalog {
            // The provider's checks of the spec come once its arguments are final.
            match c.assign(kind, cloud.as_deref()) {
                Ok(p) => resources[id.index()].provider = p,
                Err(e) => t.diag(DiagKind::NoProvider, l, e),
            }
        } else {
            resources[id.index()].provider = cloud.unwrap_or_else(|| "-".into());
        }
        let mut deps = BTreeSet::new();
        let refs = t.spec_refs.remove(l).unwrap_or_default();
        for (ptr, target, field) in refs {
            match res_ids.get(&target) {
                Some(&tid) => {
                    if tid != id {
                        deps.insert(tid);
                    }
                    resources[id.index()].refs.push(SpecRef {
                        pointer: ptr,
                        target: tid,
                        field,
                    });
                }
                None => t.diag(
                    DiagKind::UnresolvedReference,
                    l,
                    format!(
                        "refers to `{}`, which is excluded from provisioning",
                        t.address(&target)
                    ),
                ),
            }
        }
        resources[id.index()].deps = deps.into_iter().collect();
    }
    let rdag = Dag::new(
        resources
            .iter()
            .map(|r| r.deps.iter().map(|d| d.0).collect())
            .collect(),
    );
    let resource_waves = match rdag.waves() {
        Ok(w) => w
            .into_iter()
            .map(|w| w.into_iter().map(ResourceId).collect())
            .collect(),
        Err(cyc) => {
            let names: Vec<String> = cyc.iter().map(|&i| resources[i as usize].key()).collect();
            let l = res_locs[cyc[0] as usize].clone();
            t.diag(
                DiagKind::ResourceCycle,
                &l,
                format!(
                    "resources refer to each other in a loop: {}",
                    names.join(" -> ")
                ),
            );
            Vec::new()
        }
    };

    // ---- variable scopes
    let mut scopes: Vec<Scope> = Vec::new();
    let mut scope_ids: FastMap<Loc, u32> = FastMap::default();
    let mut secrets: Vec<Secret> = Vec::new();
    let blocks = std::mem::take(&mut t.vars);
    for (bi, b) in blocks.iter().enumerate() {
        let sid = *scope_ids.entry(b.scope.clone()).or_insert_with(|| {
            scopes.push(Scope::default());
            u32::try_from(scopes.len() - 1).unwrap_or(u32::MAX)
        });
        for (vj, v) in b.vars.iter().enumerate() {
            if !is_valid_var_name(&v.name) {
                t.diag(DiagKind::BadArgument, &b.referrer, format!("`{}` is not a valid variable name (letters, digits, `_`, `.`, `-`; not starting with a digit)", v.name));
            }
            let value = match &v.value {
                VarValue::Text(s) => PVal::Text(s.clone()),
                VarValue::Secret(s) => {
                    if let Some(why) = crate::secret::too_short(s) {
                        let msg = format!("variable `{}`: {why}", v.name);
                        t.diag_at(DiagKind::BadArgument, &b.referrer, v.loc, msg);
                    }
                    secrets.push(s.clone());
                    PVal::Secret(s.clone())
                }
                VarValue::Unset => PVal::Unset,
                VarValue::Out(o) => match t.var_outs.get(&(bi, vj)).and_then(|l| res_ids.get(l)) {
                    Some(&rid) => PVal::Out {
                        resource: rid,
                        field: o.field.to_string(),
                    },
                    None => PVal::Broken,
                },
            };
            let s = &mut scopes[sid as usize];
            if let Some(i) = s.vars.iter().position(|x| x.name == v.name) {
                let first = s.vars.remove(i).loc;
                t.warn_at(
                    DiagKind::DuplicateVariable,
                    &b.referrer,
                    v.loc,
                    format!(
                        "variable `{}` is set twice in one scope (first at {first}); this value wins",
                        v.name
                    ),
                );
            }
            s.vars.push(PVar {
                name: v.name.clone(),
                value,
                in_env: v.in_env,
                loc: v.loc,
            });
        }
        for (first, again) in b.vars.replaced() {
            t.warn_at(
                DiagKind::DuplicateVariable,
                &b.referrer,
                *again,
                format!(
                    "variable `{}` is set twice in one scope (first at {}); this value wins",
                    first.name, first.loc
                ),
            );
        }
    }
    // An override of a variable that no namespace declares changes nothing: a typo, most
    // likely.
    for v in input.overrides.iter() {
        let declared = scopes
            .iter()
            .any(|s| s.vars.iter().any(|x| x.name == v.name));
        if !declared {
            let at = (
                t.models
                    .iter()
                    .position(|m| m.kind == ModelKind::Namespace)
                    .unwrap_or(0),
                ModelPath::root(),
            );
            t.warn_at(
                DiagKind::UnknownOverride,
                &at,
                v.loc,
                format!(
                    "the override of `{}` changes nothing: no namespace declares a variable `{}`",
                    v.name, v.name
                ),
            );
        }
    }
    drop(blocks);
    t.var_outs = FastMap::default();
    let overrides = Scope {
        vars: input
            .overrides
            .iter()
            .map(|v| PVar {
                name: v.name.clone(),
                loc: v.loc,
                value: match &v.value {
                    VarValue::Text(s) => PVal::Text(s.clone()),
                    VarValue::Secret(s) => {
                        if let Some(why) = crate::secret::too_short(s) {
                            let at = (0, ModelPath::root());
                            let msg = format!("the override of `{}`: {why}", v.name);
                            t.diag_at(DiagKind::BadArgument, &at, v.loc, msg);
                        }
                        secrets.push(s.clone());
                        PVal::Secret(s.clone())
                    }
                    VarValue::Unset => PVal::Unset,
                    VarValue::Out(o) => {
                        match override_outs.get(&v.name).and_then(|l| res_ids.get(l)) {
                            Some(&rid) => PVal::Out {
                                resource: rid,
                                field: o.field.to_string(),
                            },
                            None => PVal::Broken,
                        }
                    }
                },
                in_env: v.in_env,
            })
            .collect(),
    };

    // ---- roles
    let role_locs = sorted_locs(t.nodes.iter(), |l, n| {
        matches!(n.entry, Entry::Role(_)) && t.models[l.0].kind == ModelKind::Namespace
    });
    let mut role_ids: FastMap<Loc, RoleId> =
        FastMap::with_capacity_and_hasher(role_locs.len(), Default::default());
    let mut roles: Vec<PlannedRole> = Vec::with_capacity(role_locs.len());
    for l in &role_locs {
        let id = RoleId(u32::try_from(roles.len()).unwrap_or(u32::MAX));
        role_ids.insert(l.clone(), id);
        let n = &t.nodes[l];
        let Entry::Role(r) = &n.entry else { continue };
        let (host_ref, nloc, conn) = (r.host_ref().cloned(), n.loc, r.conn().clone());
        let (host, template) = match host_ref.as_ref() {
            None => (PlannedHost::None, None),
            Some(HostRef::Local(d)) => (PlannedHost::Local(d.clone()), None),
            Some(HostRef::Address(a)) => (PlannedHost::Address(a.clone()), Some(a.clone())),
            Some(HostRef::Resource { address_output, .. }) => {
                match t
                    .role_hosts
                    .get(l)
                    .and_then(|h| res_ids.get(h).map(|id| (h, id)))
                {
                    Some((_, &rid)) => {
                        let out = resources[rid.index()]
                            .address_output
                            .clone()
                            .unwrap_or_else(|| (*address_output).to_string());
                        (
                            PlannedHost::Resource {
                                resource: rid,
                                output: out,
                            },
                            None,
                        )
                    }
                    None => {
                        if let Some(h) = t.role_hosts.get(l).cloned() {
                            t.diag(
                                DiagKind::NoHost,
                                l,
                                format!(
                                    "the host `{}` is excluded from provisioning",
                                    t.address(&h)
                                ),
                            );
                        }
                        (PlannedHost::None, None)
                    }
                }
            }
        };
        let mut chain = Vec::new();
        let segs = l.1.segs();
        for len in (0..=segs.len()).rev() {
            if let Some(&s) = scope_ids.get(&LocRef(l.0, &segs[..len])) {
                chain.push(s);
            }
        }
        roles.push(PlannedRole {
            id,
            model: t.models[l.0].name.clone(),
            path: l.1.clone(),
            name: l.1.short_name("_"),
            host,
            host_template: template.filter(|a| crate::namespace::has_refs(a)),
            conn,
            scopes: chain,
            loc: nloc,
        });
    }

    // ---- tasks
    // Taken out of the tree, whose copy is not needed after this (planning a large model
    // reaches its peak memory further down). A task's id is its index in `task_locs`.
    let mut task_locs: Vec<Loc> = Vec::new();
    let mut taken: Vec<(SourceLoc, Box<Task>)> = Vec::new();
    for l in sorted_locs(t.nodes.iter(), |l, n| {
        matches!(n.entry, Entry::Task(Some(_))) && t.models[l.0].kind == ModelKind::Config
    }) {
        if let Some(Node {
            entry: Entry::Task(slot),
            loc,
        }) = t.nodes.get_mut(&l)
            && let Some(task) = slot.take()
        {
            taken.push((*loc, task));
            task_locs.push(l);
        }
    }
    let mut task_ids: FastMap<Loc, TaskId> =
        FastMap::with_capacity_and_hasher(task_locs.len(), Default::default());
    for (i, l) in task_locs.iter().enumerate() {
        task_ids.insert(l.clone(), TaskId(u32::try_from(i).unwrap_or(u32::MAX)));
    }
    let planner = TaskPlanner {
        t: &t,
        role_ids: &role_ids,
        roles: &roles,
        resources: &resources,
        cloud_creds: &input.cloud_creds,
    };
    let mut chain = DefaultsChain::default();
    let mut tasks: Vec<PlannedTask> = Vec::with_capacity(task_locs.len());
    let mut task_problems: Vec<(Loc, DiagKind, String)> = Vec::new();
    for (i, (nloc, task)) in taken.into_iter().enumerate() {
        let l = &task_locs[i];
        let (task, problems) = planner.task(&mut chain, i, l, nloc, *task);
        if let Some(p) = &task.creds.password {
            secrets.push(p.clone());
        }
        task_problems.extend(problems.into_iter().map(|(k, m)| (l.clone(), k, m)));
        tasks.push(task);
    }
    for (l, k, m) in task_problems {
        t.diag(k, &l, m);
    }
    t.task_roles = FastMap::default();
    t.default_roles = FastMap::default();
    t.role_hosts = FastMap::default();

    // ---- task dependencies: innermost declarations first, so a group's entries and exits
    // reflect the order declared inside it.
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); tasks.len()];
    let mut order: Vec<usize> = (0..t.deps.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(t.deps[i].0.1.segs().len()));
    // Which `Deps` made each edge (the first that did), to point at it if a loop is found.
    let mut edge_by: FastMap<(u32, u32), usize> = FastMap::default();
    for i in order {
        let deps = &t.deps[i].1;
        let mut node = 0;
        let mut edges = Edges {
            preds: &mut preds,
            by: &mut edge_by,
            deps: i,
        };
        for expr in deps.exprs() {
            dep_ends(&t, &task_locs, &task_ids, &mut edges, expr, &mut node);
        }
    }
    drop(task_ids);
    let deps_at: Vec<(Loc, SourceLoc)> = t.deps.iter().map(|(l, d)| (l.clone(), d.loc())).collect();
    t.deps = Vec::new();
    t.dep_nodes = FastMap::default();
    for (i, mut p) in preds.into_iter().enumerate() {
        p.sort_unstable();
        p.dedup();
        tasks[i].deps = p.into_iter().map(TaskId).collect();
    }
    let tdag = Dag::new(
        tasks
            .iter()
            .map(|t| t.deps.iter().map(|d| d.0).collect())
            .collect(),
    );
    let task_waves = match tdag.waves() {
        Ok(w) => w
            .into_iter()
            .map(|w| w.into_iter().map(TaskId).collect())
            .collect(),
        Err(cyc) => {
            let names: Vec<String> = cyc.iter().map(|&i| tasks[i as usize].key()).collect();
            let msg = format!(
                "tasks depend on each other in a loop: {}",
                names.join(" -> ")
            );
            // Pointed at the `Deps` declared last among those that made the loop's edges.
            let closing = cyc
                .windows(2)
                .filter_map(|w| {
                    edge_by
                        .get(&(w[0], w[1]))
                        .or_else(|| edge_by.get(&(w[1], w[0])))
                })
                .max()
                .and_then(|&i| deps_at.get(i));
            match closing {
                Some((at, src)) => t.diag_at(DiagKind::TaskCycle, at, *src, msg),
                None => {
                    let l = task_locs[cyc[0] as usize].clone();
                    t.diag(DiagKind::TaskCycle, &l, msg);
                }
            }
            Vec::new()
        }
    };

    let global_scopes: Vec<u32> = t
        .models
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind == ModelKind::Namespace)
        .filter_map(|(i, _)| scope_ids.get(&(i, ModelPath::root())).copied())
        .collect();
    let mut p = Plan {
        system: input.system.clone(),
        resources,
        resource_waves,
        roles,
        tasks,
        task_waves,
        warnings: Vec::new(),
        scopes,
        global_scopes,
        overrides,
        secrets,
    };

    // ---- resource arguments from variables, and the checks of the final arguments
    let (mut problems, expanded) = super::args::expand(&mut p);
    problems.extend(super::args::check(&p, &expanded, input.catalog));
    for (id, kind, msg) in problems {
        t.diag(kind, &res_locs[id.index()].clone(), msg);
    }

    // ---- variables used by roles' hosts and tasks
    let outs = NoOutputs;
    for (i, l) in role_locs.iter().enumerate() {
        let Some(tpl) = p.roles[i].host_template.clone() else {
            continue;
        };
        match p.expand(RoleId(u32::try_from(i).unwrap_or(u32::MAX)), &tpl, &outs) {
            Ok(e) => p.roles[i].host = PlannedHost::Address(e.text),
            Err(e) => t.diag(var_kind(&e), l, format!("host {tpl:?}: {e}")),
        }
    }
    let mut warned: BTreeSet<(u32, String)> = BTreeSet::new();
    // A role's variables are the same for all its tasks: evaluate them once per role.
    let mut vars_checked = vec![false; p.roles.len()];
    let mut sources = super::sources::Sources::new(input.files);
    for (i, l) in task_locs.iter().enumerate() {
        let task = &p.tasks[i];
        for (kind, msg) in sources.check(&p, task) {
            t.diag(kind, l, msg);
        }
        if task.role.0 == u32::MAX {
            continue;
        }
        let role = task.role;
        for s in action_strings(&task.action) {
            if let Err(e) = p.check_expand(role, s) {
                t.diag(var_kind(&e), l, format!("in {s:?}: {e}"));
            }
        }
        if std::mem::replace(&mut vars_checked[role.index()], true) {
            continue;
        }
        for (name, in_env) in p.visible_names(role) {
            if in_env
                && let Err(e) = p.check_var(role, name)
                && warned.insert((role.0, name.to_string()))
            {
                let rl = role_locs[role.index()].clone();
                t.warn(
                    var_kind(&e),
                    &rl,
                    format!("variable `{name}` is left out of task environments: {e}"),
                );
            }
        }
    }

    if t.diags.is_empty() {
        p.warnings = std::mem::take(&mut t.warnings);
        Ok(p)
    } else {
        let mut d = t.diags;
        d.sort_by(|a, b| {
            (&a.model, &a.path, a.kind, &a.message).cmp(&(&b.model, &b.path, b.kind, &b.message))
        });
        d.dedup();
        Err(PlanError { diagnostics: d })
    }
}

fn var_kind(e: &super::VarError) -> DiagKind {
    match e {
        super::VarError::Cycle { .. } => DiagKind::VariableCycle,
        super::VarError::Template(_) => DiagKind::BadArgument,
        _ => DiagKind::MissingVariable,
    }
}

/// The task graph's edges as they are added, and which `Deps` (by index) adds them.
struct Edges<'a> {
    /// Per task, the tasks before it (with repeats until the edges are all in).
    preds: &'a mut Vec<Vec<u32>>,
    by: &'a mut FastMap<(u32, u32), usize>,
    deps: usize,
}

impl Edges<'_> {
    /// `a` before `b`.
    fn add(&mut self, a: u32, b: u32) {
        self.preds[b as usize].push(a);
        self.by.entry((a, b)).or_insert(self.deps);
    }
}

/// Adds the edges of `expr` and returns its (entries, exits).
fn dep_ends(
    t: &Tree,
    task_locs: &[Loc],
    task_ids: &FastMap<Loc, TaskId>,
    edges: &mut Edges<'_>,
    expr: &DepExpr,
    node: &mut usize,
) -> (Vec<u32>, Vec<u32>) {
    let deps_i = edges.deps;
    match expr {
        DepExpr::Node(_) => {
            // numbered as `Tree::scan_dep_expr` numbered them
            let n = *node;
            *node += 1;
            let Some(l) = t.dep_nodes.get(&(deps_i, n)) else {
                return (Vec::new(), Vec::new());
            };
            if let Some(id) = task_ids.get(l) {
                return (vec![id.0], vec![id.0]);
            }
            // a group, multi or multi-task: the tasks under it
            // `task_locs` is sorted, and a task's id is its index there.
            // The tasks under it are a range of ids.
            let id = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
            let start = task_locs.partition_point(|x| x < l);
            let len = task_locs[start..]
                .iter()
                .take_while(|x| x.0 == l.0 && x.1.starts_with(&l.1))
                .count();
            let inside = id(start)..id(start + len);
            let entries: Vec<u32> = inside
                .clone()
                .filter(|&i| !edges.preds[i as usize].iter().any(|p| inside.contains(p)))
                .collect();
            let mut has_succ_inside = vec![false; len];
            for i in inside.clone() {
                for p in edges.preds[i as usize]
                    .iter()
                    .filter(|p| inside.contains(p))
                {
                    has_succ_inside[(p - inside.start) as usize] = true;
                }
            }
            let exits: Vec<u32> = inside
                .clone()
                .filter(|&i| !has_succ_inside[(i - inside.start) as usize])
                .collect();
            (entries, exits)
        }
        DepExpr::Par(v) => {
            let mut en = Vec::new();
            let mut ex = Vec::new();
            for e in v {
                let (a, b) = dep_ends(t, task_locs, task_ids, edges, e, node);
                en.extend(a);
                ex.extend(b);
            }
            (en, ex)
        }
        DepExpr::Seq(v) => {
            let mut first: Option<Vec<u32>> = None;
            let mut prev_exits: Vec<u32> = Vec::new();
            for e in v {
                let (en, ex) = dep_ends(t, task_locs, task_ids, edges, e, node);
                if en.is_empty() && ex.is_empty() {
                    continue;
                }
                // `a | a` (or a task after a group holding it) is a loop, as in Actuator:
                // the self-edge makes the cycle check report it.
                for &b in &en {
                    for &a in &prev_exits {
                        edges.add(a, b);
                    }
                }
                if first.is_none() {
                    first = Some(en);
                }
                prev_exits = ex;
            }
            (first.unwrap_or_default(), prev_exits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_location_finds_the_stored_one() {
        let stored = ModelPath::root()
            .field("grid")
            .key(Key::from(3))
            .field("foreman");
        let mut map: FastMap<Loc, u32> = FastMap::default();
        map.insert((1, stored.clone()), 7);
        // Built separately: no segment shares its text with the stored path.
        let segs = vec![
            Seg::Field(String::from("grid").into()),
            Seg::Key(Key::from("3")),
            Seg::Field(String::from("foreman").into()),
        ];
        assert_eq!(map.get(&LocRef(1, &segs)), Some(&7));
        assert_eq!(map.get(&LocRef(0, &segs)), None);
        assert_eq!(map.get(&LocRef(1, &segs[..2])), None);
    }
}
