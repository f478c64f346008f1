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

/// Where variables are looked up from: a role (its scopes, innermost first), or the roots of
/// the namespace models (what every role sees: what a resource's arguments may use).
#[derive(Clone, Copy, Debug)]
pub(crate) enum View {
    Role(RoleId),
    Global,
}

/// What an expansion computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Success or the error only (the plan's checks need no text).
    Check,
    /// The text; a name that cannot be evaluated is an error.
    Full,
    /// The text, with what cannot be evaluated left as written (`!{NAME}`).
    Partial,
}

impl Plan {
    fn scopes_of(&self, view: View) -> &[u32] {
        match view {
            View::Role(r) => &self.roles[r.index()].scopes,
            View::Global => &self.global_scopes,
        }
    }

    fn lookup(&self, view: View, name: &str) -> Option<&PVar> {
        if let Some(v) = self.overrides.vars.iter().find(|v| v.name == name) {
            return Some(v);
        }
        self.scopes_of(view)
            .iter()
            .find_map(|&s| self.scopes[s as usize].vars.iter().find(|v| v.name == name))
    }

    fn view_name(&self, view: View) -> String {
        match view {
            View::Role(r) => self.roles[r.index()].address().to_string(),
            View::Global => "the namespace's top level".to_string(),
        }
    }

    /// Evaluates variable `name` seen from `view`.
    fn eval_var(
        &self,
        view: View,
        name: &str,
        outputs: &dyn super::Outputs,
        stack: &mut Vec<String>,
        mode: Mode,
    ) -> Result<Expanded, VarError> {
        if let Some(i) = stack.iter().position(|s| s == name) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(name.to_string());
            return Err(VarError::Cycle { cycle });
        }
        let Some(var) = self.lookup(view, name) else {
            return Err(VarError::Missing {
                name: name.to_string(),
                role: self.view_name(view),
                via: stack.clone(),
            });
        };
        match &var.value {
            PVal::Text(t) => {
                stack.push(name.to_string());
                let r = self.expand_inner(view, t, outputs, stack, mode);
                stack.pop();
                r
            }
            PVal::Secret(_) | PVal::Out { .. } if mode == Mode::Check => Ok(Expanded {
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
                role: self.view_name(view),
            }),
        }
    }

    /// Expands `template` seen from `view`, as `mode` says.
    fn expand_inner(
        &self,
        view: View,
        template: &str,
        outputs: &dyn super::Outputs,
        stack: &mut Vec<String>,
        mode: Mode,
    ) -> Result<Expanded, VarError> {
        let text = mode != Mode::Check;
        if !text && !template.contains("!{") {
            // Plain text: nothing to evaluate, and nothing that can fail to parse.
            return Ok(Expanded {
                text: String::new(),
                deferred: false,
                secret: false,
            });
        }
        let pieces = match parse_template(template) {
            Ok(p) => p,
            Err(_) if mode == Mode::Partial => {
                return Ok(Expanded {
                    text: template.to_string(),
                    deferred: false,
                    secret: false,
                });
            }
            Err(e) => return Err(VarError::Template(e)),
        };
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
                Piece::Var(name) => match self.eval_var(view, name, outputs, stack, mode) {
                    // What is shown for display hides secrets.
                    Ok(v) if v.secret && mode == Mode::Partial => {
                        out.text.push_str(crate::secret::REDACTED);
                    }
                    Ok(v) => {
                        out.text.push_str(&v.text);
                        out.deferred |= v.deferred;
                        out.secret |= v.secret;
                    }
                    Err(_) if mode == Mode::Partial => {
                        out.text.push_str("!{");
                        out.text.push_str(name);
                        out.text.push('}');
                    }
                    Err(e) => return Err(e),
                },
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
        self.expand_inner(View::Role(role), text, outputs, &mut Vec::new(), Mode::Full)
    }

    /// Like [`expand`](Self::expand), but never fails: a name that cannot be evaluated (no
    /// such variable, no value, a loop) is left as written, `!{NAME}`, and a secret shows as
    /// `<redacted>`. For display and debugging.
    ///
    /// ```
    /// # extern crate hoist_core as hoist;
    /// use hoist_core::{Model, PlanInput, Role, plan};
    /// use hoist_core::plan::NoOutputs;
    /// #[derive(Model)]
    /// struct Ns { web: Role }
    /// let ns = Ns { web: Role::on("127.0.0.1").var("USER", "app") };
    /// let p = plan(&PlanInput::new("demo").namespace("ns", &ns)).unwrap();
    /// let web = p.role_by_path("ns", "web").unwrap().id;
    /// assert_eq!(p.expand_partial(web, "!{USER}@!{HOST}", &NoOutputs), "app@!{HOST}");
    /// ```
    pub fn expand_partial(&self, role: RoleId, text: &str, outputs: &dyn super::Outputs) -> String {
        self.expand_inner(
            View::Role(role),
            text,
            outputs,
            &mut Vec::new(),
            Mode::Partial,
        )
        .map_or_else(|_| text.to_string(), |e| e.text)
    }

    /// Expands `text` from `view` (a resource argument: from the role on its server, or the
    /// namespace's top level).
    pub(crate) fn expand_in(&self, view: View, text: &str) -> Result<Expanded, VarError> {
        self.expand_inner(view, text, &NoOutputs, &mut Vec::new(), Mode::Full)
    }

    /// What [`Plan::expand`] would return as an error, without building any text.
    pub(crate) fn check_expand(&self, role: RoleId, text: &str) -> Result<(), VarError> {
        self.expand_inner(
            View::Role(role),
            text,
            &NoOutputs,
            &mut Vec::new(),
            Mode::Check,
        )
        .map(|_| ())
    }

    /// What [`Plan::var_value`] would return as an error, without building any text.
    pub(crate) fn check_var(&self, role: RoleId, name: &str) -> Result<(), VarError> {
        self.eval_var(
            View::Role(role),
            name,
            &NoOutputs,
            &mut Vec::new(),
            Mode::Check,
        )
        .map(|_| ())
    }

    /// The value of variable `name` as seen from `role`.
    pub fn var_value(
        &self,
        role: RoleId,
        name: &str,
        outputs: &dyn super::Outputs,
    ) -> Result<Expanded, VarError> {
        self.eval_var(View::Role(role), name, outputs, &mut Vec::new(), Mode::Full)
    }

    /// The names of the variables visible from `role`, sorted, each with its `in_env` flag
    /// (from the nearest definition), without evaluating any.
    pub fn visible_names(&self, role: RoleId) -> BTreeMap<&str, bool> {
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
