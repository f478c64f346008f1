//! Variable evaluation from a role's point of view: `!{NAME}` expansion with scoping,
//! overrides, deferred infra outputs, escapes and cycle detection.

use std::collections::BTreeMap;

use super::{PVal, PVar, Plan, ResourceId, RoleId};
use crate::namespace::{Piece, parse_template};

/// Provisioning results, as the plan needs them to resolve deferred values.
pub trait Outputs {
    /// Output `field` of resource `r`, if known.
    fn output(&self, r: ResourceId, field: &str) -> Option<serde_json::Value>;
    /// Provider id of resource `r`, if provisioned.
    fn provider_id(&self, r: ResourceId) -> Option<String>;
}

/// No outputs known (plan time).
pub struct NoOutputs;

impl Outputs for NoOutputs {
    fn output(&self, _: ResourceId, _: &str) -> Option<serde_json::Value> {
        None
    }
    fn provider_id(&self, _: ResourceId) -> Option<String> {
        None
    }
}

/// A variable could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarError {
    /// `!{name}` names no visible variable.
    #[error("no variable `{name}` is visible from role `{role}`{}", via_text(.via))]
    Missing {
        /// The missing name.
        name: String,
        /// The role asking.
        role: String,
        /// Variables being expanded when it was needed, outermost first.
        via: Vec<String>,
    },
    /// The variable is declared without a value.
    #[error("variable `{name}` is declared but has no value (seen from role `{role}`)")]
    Unset {
        /// The name.
        name: String,
        /// The role asking.
        role: String,
    },
    /// Variables refer to each other in a loop.
    #[error("variables refer to each other in a loop: {}", .cycle.join(" -> "))]
    Cycle {
        /// The loop, first name repeated at the end.
        cycle: Vec<String>,
    },
    /// A malformed `!{` pattern.
    #[error("{0}")]
    Template(String),
}

fn via_text(via: &[String]) -> String {
    if via.is_empty() {
        String::new()
    } else {
        format!(" (needed by {})", via.join(" -> "))
    }
}

/// An evaluated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    /// The text; deferred parts are shown as `<known after provisioning: …>`.
    pub text: String,
    /// True if some part is known only after provisioning.
    pub deferred: bool,
    /// True if a secret went into the text.
    pub secret: bool,
}

/// One variable as seen from a role.
#[derive(Clone, Debug)]
pub struct VisibleVar {
    /// Name.
    pub name: String,
    /// Value, or why it has none.
    pub value: Result<Expanded, VarError>,
    /// Exported to task environments.
    pub in_env: bool,
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Plan {
    fn lookup(&self, role: RoleId, name: &str) -> Option<&PVar> {
        if let Some(v) = self.overrides.vars.iter().find(|v| v.name == name) {
            return Some(v);
        }
        let r = &self.roles[role.index()];
        r.scopes
            .iter()
            .find_map(|&s| self.scopes[s as usize].vars.iter().find(|v| v.name == name))
    }

    /// Evaluates variable `name` for `role`. With `text` false only success or the error is
    /// computed (the returned text is empty): the plan's checks need no text.
    fn eval_var(
        &self,
        role: RoleId,
        name: &str,
        outputs: &dyn super::Outputs,
        stack: &mut Vec<String>,
        text: bool,
    ) -> Result<Expanded, VarError> {
        if let Some(i) = stack.iter().position(|s| s == name) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(name.to_string());
            return Err(VarError::Cycle { cycle });
        }
        let role_name = || self.roles[role.index()].address().to_string();
        let Some(var) = self.lookup(role, name) else {
            return Err(VarError::Missing {
                name: name.to_string(),
                role: role_name(),
                via: stack.clone(),
            });
        };
        match &var.value {
            PVal::Text(t) => {
                stack.push(name.to_string());
                let r = self.expand_inner(role, t, outputs, stack, text);
                stack.pop();
                r
            }
            PVal::Secret(_) | PVal::Out { .. } if !text => Ok(Expanded {
                text: String::new(),
                deferred: false,
                secret: false,
            }),
            PVal::Secret(s) => Ok(Expanded {
                text: s.expose().to_string(),
                deferred: false,
                secret: true,
            }),
            PVal::Out { resource, field } => match outputs.output(*resource, field) {
                Some(v) => Ok(Expanded {
                    text: json_text(&v),
                    deferred: false,
                    secret: false,
                }),
                None => Ok(Expanded {
                    text: format!(
                        "<known after provisioning: {}:{field}>",
                        self.resources[resource.index()].key()
                    ),
                    deferred: true,
                    secret: false,
                }),
            },
            PVal::Unset | PVal::Broken => Err(VarError::Unset {
                name: name.to_string(),
                role: role_name(),
            }),
        }
    }

    /// Expands `template`; with `text` false, see [`Plan::eval_var`].
    fn expand_inner(
        &self,
        role: RoleId,
        template: &str,
        outputs: &dyn super::Outputs,
        stack: &mut Vec<String>,
        text: bool,
    ) -> Result<Expanded, VarError> {
        if !text && !template.contains("!{") {
            // Plain text: nothing to evaluate, and nothing that can fail to parse.
            return Ok(Expanded {
                text: String::new(),
                deferred: false,
                secret: false,
            });
        }
        let pieces = parse_template(template).map_err(VarError::Template)?;
        let cap = if text { template.len() } else { 0 };
        let mut out = Expanded {
            text: String::with_capacity(cap),
            deferred: false,
            secret: false,
        };
        for p in pieces {
            match p {
                Piece::Lit(_) | Piece::EscapedOpen if !text => {}
                Piece::Lit(s) => out.text.push_str(s),
                Piece::EscapedOpen => out.text.push_str("!{"),
                Piece::Var(name) => {
                    let v = self.eval_var(role, name, outputs, stack, text)?;
                    out.text.push_str(&v.text);
                    out.deferred |= v.deferred;
                    out.secret |= v.secret;
                }
            }
        }
        Ok(out)
    }

    /// Expands `!{NAME}` patterns in `text` from the point of view of `role`.
    ///
    /// Values known only after provisioning appear as `<known after provisioning: …>` and set
    /// [`Expanded::deferred`] when `outputs` does not know them yet.
    pub fn expand(
        &self,
        role: RoleId,
        text: &str,
        outputs: &dyn super::Outputs,
    ) -> Result<Expanded, VarError> {
        self.expand_inner(role, text, outputs, &mut Vec::new(), true)
    }

    /// What [`Plan::expand`] would return as an error, without building any text.
    pub(crate) fn check_expand(&self, role: RoleId, text: &str) -> Result<(), VarError> {
        self.expand_inner(role, text, &NoOutputs, &mut Vec::new(), false)
            .map(|_| ())
    }

    /// What [`Plan::var_value`] would return as an error, without building any text.
    pub(crate) fn check_var(&self, role: RoleId, name: &str) -> Result<(), VarError> {
        self.eval_var(role, name, &NoOutputs, &mut Vec::new(), false)
            .map(|_| ())
    }

    /// The value of variable `name` as seen from `role`.
    pub fn var_value(
        &self,
        role: RoleId,
        name: &str,
        outputs: &dyn super::Outputs,
    ) -> Result<Expanded, VarError> {
        self.eval_var(role, name, outputs, &mut Vec::new(), true)
    }

    /// The names of the variables visible from `role`, sorted, each with its `in_env` flag
    /// (from the nearest definition).
    pub(crate) fn visible_names(&self, role: RoleId) -> BTreeMap<&str, bool> {
        let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
        let r = &self.roles[role.index()];
        let all = self.overrides.vars.iter().chain(
            r.scopes
                .iter()
                .flat_map(|&s| self.scopes[s as usize].vars.iter()),
        );
        for v in all {
            seen.entry(v.name.as_str()).or_insert(v.in_env);
        }
        seen
    }

    /// Every variable visible from `role` (nearest definition wins), evaluated.
    pub fn visible_vars(&self, role: RoleId, outputs: &dyn super::Outputs) -> Vec<VisibleVar> {
        self.visible_names(role)
            .into_iter()
            .map(|(name, in_env)| VisibleVar {
                name: name.to_string(),
                value: self.var_value(role, name, outputs),
                in_env,
            })
            .collect()
    }

    /// The environment of a task running for `role`: every visible `in_env` variable that
    /// evaluates, plus the errors of those that do not (one broken variable does not break
    /// the task; the caller reports the errors as warnings).
    pub fn task_env(
        &self,
        role: RoleId,
        outputs: &dyn super::Outputs,
    ) -> (Vec<(String, String)>, Vec<VarError>) {
        let mut env = Vec::new();
        let mut errs = Vec::new();
        for v in self.visible_vars(role, outputs) {
            if !v.in_env {
                continue;
            }
            match v.value {
                Ok(e) if !e.deferred => env.push((v.name, e.text)),
                Ok(_) => {}
                Err(e) => errs.push(e),
            }
        }
        (env, errs)
    }

    /// Every variable visible from `role` as a name → text map for templates (deferred and
    /// failing variables left out).
    pub fn template_context(
        &self,
        role: RoleId,
        outputs: &dyn super::Outputs,
    ) -> BTreeMap<String, String> {
        self.visible_vars(role, outputs)
            .into_iter()
            .filter_map(|v| match v.value {
                Ok(e) if !e.deferred => Some((v.name, e.text)),
                _ => None,
            })
            .collect()
    }
}
