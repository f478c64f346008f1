//! Planning: from models to a [`Plan`].
//!
//! [`plan`] walks the models given in a [`PlanInput`], materialises the multi children that
//! are referred to, resolves every reference, fans out multi-tasks, derives the resource and
//! task dependency graphs and checks variables, all without I/O. Every mistake is collected
//! into one [`PlanError`](crate::PlanError) naming model, path and source line.
//!
//! The [`Plan`] is also what the orchestrator runs from: it holds the resolved graph, and it
//! evaluates variables and resource specs once provisioning has produced outputs.

mod args;
mod build;
mod json;
mod render;
mod sources;
mod vars;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use build::plan;
pub(crate) use vars::View;
pub use vars::{Expanded, NoOutputs, Outputs, VarError, VisibleVar};

use crate::Model;
use crate::address::Address;
use crate::component::Visit;
use crate::config::{Action, Credentials, RetryPolicy};
use crate::namespace::{Var, VarValue, Vars};
use crate::path::{ModelPath, SourceLoc};
use crate::reference::{HasRefPath, RefPath};
use crate::secret::Secret;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u32);
        impl $name {
            /// The id as an index.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}
id_type!(
    /// A resource's index in [`Plan::resources`].
    ResourceId
);
id_type!(
    /// A role's index in [`Plan::roles`].
    RoleId
);
id_type!(
    /// A task's index in [`Plan::tasks`].
    TaskId
);

/// Which part of the system a model describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelKind {
    /// Cloud resources.
    Infra,
    /// Roles and variables.
    Namespace,
    /// Config tasks.
    Config,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Infra => "infra",
            ModelKind::Namespace => "namespace",
            ModelKind::Config => "config",
        })
    }
}

/// Chooses the provisioner proxy for each resource (implemented by the orchestrator from the
/// proxies it was given) and checks specs that only a provider understands (unknown images).
pub trait ProviderCatalog {
    /// The name of the proxy that handles `kind`, given the resource's pinned `cloud` name.
    fn assign(&self, kind: &str, cloud: Option<&str>) -> Result<String, String>;
    /// Provider-specific checks of a spec that need no cloud call.
    fn check(&self, _provider: &str, _kind: &str, _spec: &serde_json::Value) -> Vec<String> {
        Vec::new()
    }
}

/// The controller's local files the plan checks (template, copy and script sources): given
/// by the caller, so that planning itself does no I/O. Relative paths are the caller's to
/// resolve (the orchestrator: against its local directory).
pub trait LocalFiles {
    /// The text of the file at `path`, or why it cannot be read.
    fn read_text(&self, path: &std::path::Path) -> Result<String, String>;
    /// True if something (a file or a directory) is at `path`.
    fn exists(&self, path: &std::path::Path) -> bool;
}

pub(crate) struct InputModel<'a> {
    pub(crate) kind: ModelKind,
    pub(crate) name: String,
    pub(crate) type_key: &'static str,
    pub(crate) root: &'a dyn Visit,
    /// Where the model was added to the input: the location of diagnostics about the model
    /// as a whole (duplicate names, bad exclusions).
    pub(crate) loc: SourceLoc,
}

/// What to plan: the models, and the options that change what they mean.
///
/// ```
/// # extern crate hoist_core as hoist;
/// use hoist_core::{FixedHost, Model, PlanInput, Role, Task, Vars, plan};
///
/// #[derive(Model)]
/// struct Ns { web: Role }
/// #[derive(Model)]
/// struct Cfg { hello: Task }
///
/// let ns = Ns { web: Role::on("127.0.0.1").vars(Vars::new().set("WHO", "world")) };
/// let cfg = Cfg { hello: Task::shell("echo hello !{WHO}").role(Ns::refs().web) };
/// let p = plan(&PlanInput::new("demo").namespace("ns", &ns).config("cfg", &cfg)).unwrap();
/// assert_eq!(p.tasks.len(), 1);
/// ```
pub struct PlanInput<'a> {
    pub(crate) system: String,
    pub(crate) models: Vec<InputModel<'a>>,
    pub(crate) overrides: Vars,
    pub(crate) exclude: Vec<RefPath>,
    pub(crate) catalog: Option<&'a dyn ProviderCatalog>,
    pub(crate) files: Option<&'a dyn LocalFiles>,
    pub(crate) cloud_creds: BTreeMap<String, Credentials>,
}

impl<'a> PlanInput<'a> {
    /// An empty input for the system `system`.
    pub fn new(system: &str) -> Self {
        PlanInput {
            system: system.to_string(),
            models: Vec::new(),
            overrides: Vars::new(),
            exclude: Vec::new(),
            catalog: None,
            files: None,
            cloud_creds: BTreeMap::new(),
        }
    }

    #[track_caller]
    fn add<M: Model>(mut self, kind: ModelKind, name: &str, m: &'a M) -> Self {
        let loc = SourceLoc::caller();
        self.models.push(InputModel {
            kind,
            name: name.to_string(),
            type_key: std::any::type_name::<M>(),
            root: m,
            loc,
        });
        self
    }

    /// Adds a model given as a trait object (for owners of type-erased models, like the
    /// orchestrator); `type_key` must be `std::any::type_name` of the model's type, and `loc`
    /// is where the user added it (what diagnostics about the model as a whole point at).
    #[must_use]
    pub fn model_dyn(
        mut self,
        kind: ModelKind,
        name: &str,
        type_key: &'static str,
        root: &'a dyn Visit,
        loc: SourceLoc,
    ) -> Self {
        self.models.push(InputModel {
            kind,
            name: name.to_string(),
            type_key,
            root,
            loc,
        });
        self
    }

    /// Adds an infra model instance named `name`.
    #[must_use]
    #[track_caller]
    pub fn infra<M: Model>(self, name: &str, m: &'a M) -> Self {
        self.add(ModelKind::Infra, name, m)
    }

    /// Adds a namespace model instance.
    #[must_use]
    #[track_caller]
    pub fn namespace<M: Model>(self, name: &str, m: &'a M) -> Self {
        self.add(ModelKind::Namespace, name, m)
    }

    /// Adds a config model instance.
    #[must_use]
    #[track_caller]
    pub fn config<M: Model>(self, name: &str, m: &'a M) -> Self {
        self.add(ModelKind::Config, name, m)
    }

    /// Overrides a variable for every role (highest priority). An override of a variable whose
    /// value was an infra output also stops that output from making its resource exist.
    #[must_use]
    #[track_caller]
    pub fn override_var(mut self, name: &str, value: impl Into<VarValue>) -> Self {
        self.overrides = self.overrides.override_var(name, value);
        self
    }

    /// Removes a resource (and everything inside it, for a group or multi) from what gets
    /// provisioned.
    #[must_use]
    pub fn exclude(mut self, r: &impl HasRefPath) -> Self {
        self.exclude.push(r.ref_path().clone());
        self
    }

    /// The proxies' catalog.
    #[must_use]
    pub fn catalog(mut self, c: &'a dyn ProviderCatalog) -> Self {
        self.catalog = Some(c);
        self
    }

    /// The local files template, copy and script sources are read from: with them, the plan
    /// checks that each source exists and that each template parses and names only
    /// variables its role can see. (Inline templates are checked either way.)
    #[must_use]
    pub fn files(mut self, f: &'a dyn LocalFiles) -> Self {
        self.files = Some(f);
        self
    }

    /// Credentials used for hosts provisioned by the proxy named `provider`, after the task's
    /// own and the model's defaults.
    #[must_use]
    pub fn cloud_credentials(mut self, provider: &str, creds: Credentials) -> Self {
        self.cloud_creds.insert(provider.to_string(), creds);
        self
    }
}

/// A reference found in a resource spec, resolved to the resource it names.
#[derive(Clone, Debug)]
pub struct SpecRef {
    /// JSON pointer of the placeholder inside the spec.
    pub pointer: String,
    /// The referenced resource.
    pub target: ResourceId,
    /// The output field, or `None` for a reference to the resource itself.
    pub field: Option<String>,
}

/// A resource the plan will provision.
#[derive(Clone, Debug)]
pub struct PlannedResource {
    /// Index.
    pub id: ResourceId,
    /// Model instance name.
    pub model: String,
    /// Path in the model.
    pub path: ModelPath,
    /// Kind (`core.server`, …).
    pub kind: String,
    /// Name of the proxy that provisions it.
    pub provider: String,
    /// Spec with placeholders where values are known only after provisioning.
    pub spec: serde_json::Value,
    /// References inside the spec.
    pub refs: Vec<SpecRef>,
    /// Resources that must be provisioned first.
    pub deps: Vec<ResourceId>,
    /// Output naming the address, for addressable kinds.
    pub address_output: Option<String>,
    /// Actuator's short name (`app_3`: the field, then the keys); the resource's name is its
    /// [`address`](Self::address).
    pub short_name: String,
    /// Whether it is protected, and how it is replaced.
    pub lifecycle: crate::Lifecycle,
    /// Where it was declared.
    pub loc: SourceLoc,
}

impl PlannedResource {
    /// Its address (`web/app[3]`): its name everywhere.
    pub fn address(&self) -> Address {
        Address::new(self.model.clone(), self.path.clone())
    }

    /// Its address as text: its key in state.
    pub fn key(&self) -> String {
        self.address().to_string()
    }
}

/// Where a role's tasks run, as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedHost {
    /// The address output of a planned resource.
    Resource {
        /// The resource.
        resource: ResourceId,
        /// Its address output.
        output: String,
    },
    /// A fixed address (after `!{}` expansion, if it is known at plan time).
    Address(String),
    /// A local sandbox directory on the controller.
    Local(PathBuf),
    /// No host (tasks on this role are a plan error).
    None,
}

/// A role.
#[derive(Clone, Debug)]
pub struct PlannedRole {
    /// Index.
    pub id: RoleId,
    /// Model instance name.
    pub model: String,
    /// Path.
    pub path: ModelPath,
    /// Short name (`app_3`).
    pub name: String,
    /// Host.
    pub host: PlannedHost,
    /// The unexpanded host template, when the host is `!{}`-based.
    pub host_template: Option<String>,
    /// How the host is reached (port, credentials, jump host).
    pub conn: crate::namespace::Connection,
    pub(crate) scopes: Vec<u32>,
    /// Where it was declared.
    pub loc: SourceLoc,
}

impl PlannedRole {
    /// Its address (`ns/app[3]`): its name everywhere.
    pub fn address(&self) -> Address {
        Address::new(self.model.clone(), self.path.clone())
    }
}

/// A config task.
#[derive(Clone, Debug)]
pub struct PlannedTask {
    /// Index.
    pub id: TaskId,
    /// Model instance name.
    pub model: String,
    /// Path (`deploy[app[3]]`).
    pub path: ModelPath,
    /// The action (strings not yet `!{}`-expanded).
    pub action: Action,
    /// The task role: its variables are the task's.
    pub role: RoleId,
    /// The role whose host the task runs on (the task role unless `run_from` is set).
    pub run_on: RoleId,
    /// Resolved credentials.
    pub creds: Credentials,
    /// Resolved retry policy.
    pub retry: RetryPolicy,
    /// The user the task runs as through `sudo`, if any.
    pub become_user: Option<String>,
    /// When it runs again after it succeeded.
    pub run_when: crate::RunWhen,
    /// When it counts as having changed something.
    pub changed_when: crate::ChangedWhen,
    /// Tasks that must succeed first.
    pub deps: Vec<TaskId>,
    /// Where it was declared.
    pub loc: SourceLoc,
}

impl PlannedTask {
    /// Its address (`cfg/deploy[app[3]]`): its name everywhere.
    pub fn address(&self) -> Address {
        Address::new(self.model.clone(), self.path.clone())
    }

    /// Its address as text: its key in state.
    pub fn key(&self) -> String {
        self.address().to_string()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum PVal {
    Text(String),
    Secret(Secret),
    Out { resource: ResourceId, field: String },
    Unset,
    Broken,
}

#[derive(Clone, Debug)]
pub(crate) struct PVar {
    pub(crate) name: String,
    pub(crate) value: PVal,
    pub(crate) in_env: bool,
    /// Where it was set.
    pub(crate) loc: SourceLoc,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    pub(crate) vars: Vec<PVar>,
}

/// The result of planning: the resolved resource graph, roles, tasks and their order.
#[derive(Clone, Debug)]
pub struct Plan {
    /// System name.
    pub system: String,
    /// Resources to provision, by model and then path.
    pub resources: Vec<PlannedResource>,
    /// Resources in parallel groups: group `k` needs only groups before it.
    pub resource_waves: Vec<Vec<ResourceId>>,
    /// Roles.
    pub roles: Vec<PlannedRole>,
    /// Tasks.
    pub tasks: Vec<PlannedTask>,
    /// Tasks in parallel groups.
    pub task_waves: Vec<Vec<TaskId>>,
    /// Things that are allowed but probably not meant.
    pub warnings: Vec<crate::Diagnostic>,
    pub(crate) scopes: Vec<Scope>,
    /// The scopes of the namespace models' roots: what every role sees.
    pub(crate) global_scopes: Vec<u32>,
    pub(crate) overrides: Scope,
    pub(crate) secrets: Vec<Secret>,
}

impl Plan {
    /// Every secret value the models hold (secret variables, passwords): what must be scrubbed
    /// from anything shown.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// The resource with key `<model>/<path>`.
    pub fn resource_by_key(&self, key: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.key() == key)
    }

    /// The role at `path` in model `model`.
    pub fn role_by_path(&self, model: &str, path: &str) -> Option<&PlannedRole> {
        self.roles
            .iter()
            .find(|r| r.model == model && r.path.to_string() == path)
    }

    /// The task at `path` in model `model`.
    pub fn task_by_path(&self, model: &str, path: &str) -> Option<&PlannedTask> {
        self.tasks
            .iter()
            .find(|t| t.model == model && t.path.to_string() == path)
    }

    /// The spec of resource `id` with every reference replaced by its resolved value, or `Err`
    /// naming the first value not yet known.
    pub fn resolve_spec(
        &self,
        id: ResourceId,
        outputs: &dyn Outputs,
    ) -> Result<serde_json::Value, String> {
        let r = &self.resources[id.index()];
        let mut spec = r.spec.clone();
        for sr in &r.refs {
            let target = &self.resources[sr.target.index()];
            let value = match &sr.field {
                None => {
                    let pid = outputs
                        .provider_id(sr.target)
                        .ok_or_else(|| format!("{} has no provider id yet", target.key()))?;
                    serde_json::json!({ "$ref": target.key(), "id": pid })
                }
                Some(f) => outputs
                    .output(sr.target, f)
                    .ok_or_else(|| format!("{}:{f} is not known yet", target.key()))?,
            };
            if let Some(slot) = spec.pointer_mut(&sr.pointer) {
                *slot = value;
            }
        }
        Ok(spec)
    }
}

#[allow(dead_code, reason = "keeps Var in scope for docs")]
type _VarForDocs = Var;
