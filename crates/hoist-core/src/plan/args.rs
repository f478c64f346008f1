//! Resource arguments from the namespace: a string argument may use `!{NAME}`, expanded from
//! the role that runs on the resource (a server's size from its role's `!{APP_SIZE}`), or, for
//! a resource no role runs on, from the namespace's top level; overrides apply as anywhere.
//! Then the checks that need the final values: CIDRs, a subnet inside its network, the
//! provider's own checks.

use serde_json::Value;

use super::{Plan, PlannedHost, ProviderCatalog, ResourceId, View};
use crate::error::DiagKind;
use crate::resource::{check_cidr, subnet_within_network};

/// The problems found, per resource.
pub(super) type Problems = Vec<(ResourceId, DiagKind, String)>;

/// Expands the `!{}` of every resource's string arguments, in place. Returns the problems,
/// and which resources had arguments expanded.
pub(super) fn expand(p: &mut Plan) -> (Problems, Vec<bool>) {
    let mut problems = Problems::new();
    let mut expanded = vec![false; p.resources.len()];
    // The roles on each resource.
    let mut on: Vec<Vec<View>> = vec![Vec::new(); p.resources.len()];
    for r in &p.roles {
        if let PlannedHost::Resource { resource, .. } = r.host {
            on[resource.index()].push(View::Role(r.id));
        }
    }
    for i in 0..p.resources.len() {
        // Placeholders of references are objects, never strings.
        let mut strings = Vec::new();
        super::json::walk(&p.resources[i].spec, &mut |ptr, v| {
            if let Value::String(s) = v
                && s.contains("!{")
            {
                strings.push((ptr.to_string(), s.clone()));
            }
            true
        });
        if strings.is_empty() {
            continue;
        }
        expanded[i] = true;
        let views = if on[i].is_empty() {
            vec![View::Global]
        } else {
            on[i].clone()
        };
        let id = p.resources[i].id;
        for (ptr, text) in strings {
            match value_for(p, &views, &text) {
                Ok(v) => {
                    if let Some(slot) = p.resources[i].spec.pointer_mut(&ptr) {
                        *slot = Value::String(v);
                    }
                }
                Err((kind, why)) => {
                    problems.push((id, kind, format!("{}: {why}", ptr.trim_start_matches('/'))));
                }
            }
        }
    }
    (problems, expanded)
}

/// The one value `text` has for every view.
fn value_for(p: &Plan, views: &[View], text: &str) -> Result<String, (DiagKind, String)> {
    let mut value: Option<(String, View)> = None;
    for &view in views {
        let e = p.expand_in(view, text).map_err(|e| {
            let kind = match e {
                super::VarError::Cycle { .. } => DiagKind::VariableCycle,
                super::VarError::Template(_) => DiagKind::BadArgument,
                _ => DiagKind::MissingVariable,
            };
            (kind, format!("{text:?}: {e}"))
        })?;
        if e.deferred {
            return Err((
                DiagKind::BadArgument,
                format!(
                    "{text:?} uses a value known only after provisioning: {}",
                    e.text
                ),
            ));
        }
        match &value {
            Some((v, first)) if *v != e.text => {
                let name = |w: View| match w {
                    View::Role(r) => format!("`{}`", p.roles[r.index()].address()),
                    View::Global => "the namespace".into(),
                };
                return Err((
                    DiagKind::BadArgument,
                    format!(
                        "{text:?} is {v:?} for role {} but {:?} for role {}: the roles on one resource must agree",
                        name(*first),
                        e.text,
                        name(view)
                    ),
                ));
            }
            Some(_) => {}
            None => value = Some((e.text, view)),
        }
    }
    Ok(value.map(|v| v.0).unwrap_or_default())
}

/// A string argument known at plan time (one whose `!{}` could not be expanded was reported).
fn known(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.contains("!{"))
}

/// The checks of the final arguments: CIDRs that came from variables, a subnet inside its
/// network, and the provider's own checks (unknown images, sizes).
pub(super) fn check(
    p: &Plan,
    expanded: &[bool],
    catalog: Option<&dyn ProviderCatalog>,
) -> Problems {
    let mut problems = Problems::new();
    for r in &p.resources {
        if expanded[r.id.index()]
            && let Some(cidr) = r.spec.get("cidr").and_then(known)
            && let Err(e) = check_cidr(cidr)
        {
            problems.push((r.id, DiagKind::BadArgument, format!("cidr: {e}")));
        }
        if r.kind == "core.subnet"
            && let (Some(cidr), Some(net)) = (
                r.spec.get("cidr").and_then(known),
                r.refs.iter().find(|x| x.pointer == "/network"),
            )
            && let Some(ncidr) = p.resources[net.target.index()]
                .spec
                .get("cidr")
                .and_then(known)
            && !subnet_within_network(cidr, ncidr)
        {
            problems.push((
                r.id,
                DiagKind::BadArgument,
                format!("cidr: {cidr} is not inside the network's {ncidr}"),
            ));
        }
        if let Some(c) = catalog
            && !r.provider.is_empty()
        {
            for msg in c.check(&r.provider, &r.kind, &r.spec) {
                problems.push((r.id, DiagKind::BadArgument, msg));
            }
        }
    }
    problems
}
