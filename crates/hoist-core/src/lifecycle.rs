//! What a run may do to a resource's object besides creating it: whether it may be deleted or
//! replaced at all ([`Lifecycle::protect`]), and in which order a replacement makes the new
//! object and deletes the old one ([`ReplaceMode`]).
//!
//! A resource takes these options through [`Manage`]: `Server::new(…).protect()` is a
//! [`Managed<Server>`], a model field like any resource, referred to as a `Ref<Server>`.
//!
//! ```
//! use hoist_core::{Manage, Model, Network, ReplaceMode, Subnet};
//!
//! #[derive(Model)]
//! # #[hoist(crate = "hoist_core")]
//! struct Infra {
//!     net: hoist_core::Managed<Network>,
//!     subnet: hoist_core::Managed<Subnet>,
//! }
//!
//! let r = Infra::refs();
//! let infra = Infra {
//!     net: Network::new("10.0.0.0/16").protect(),
//!     subnet: Subnet::new(r.net, "10.0.1.0/24").replace_mode(ReplaceMode::DeleteFirst),
//! };
//! assert!(infra.net.lifecycle().protect);
//! ```

use serde::{Deserialize, Serialize};

use crate::reference::RefPath;
use crate::resource::{ErasedResource, Resource};

/// In which order a replacement makes the new object and deletes the old one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceMode {
    /// Create the new object, move the dependents to it, then delete the old one (the
    /// default: there is never a moment with neither). Needs the two to coexist: a field
    /// that must be unique (a fixed address, a name) must change too.
    #[default]
    CreateFirst,
    /// Delete the old object (and the dependents that are replaced with it, first), then
    /// create the new one: for objects that cannot coexist with their replacement.
    DeleteFirst,
}

impl ReplaceMode {
    /// `create first` or `delete first`.
    pub fn word(self) -> &'static str {
        match self {
            ReplaceMode::CreateFirst => "create first",
            ReplaceMode::DeleteFirst => "delete first",
        }
    }
}

/// A resource's lifecycle options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Never deleted or replaced: a plan that would is refused, naming it, and a teardown
    /// refuses unless forced. Recorded in state, so removing the resource from the models
    /// does not lift it.
    pub protect: bool,
    /// How a replacement is ordered; `None`: the default ([`ReplaceMode::CreateFirst`]).
    pub replace: Option<ReplaceMode>,
}

/// A resource with [`Lifecycle`] options: a model field like the resource itself.
#[derive(Clone, Debug)]
pub struct Managed<R> {
    resource: R,
    lifecycle: Lifecycle,
}

impl<R> Managed<R> {
    /// The resource.
    pub fn resource(&self) -> &R {
        &self.resource
    }

    /// Its lifecycle options.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Protects it from deletion and replacement.
    #[must_use]
    pub fn protect(mut self) -> Self {
        self.lifecycle.protect = true;
        self
    }

    /// Orders its replacements as `mode` says.
    #[must_use]
    pub fn replace_mode(mut self, mode: ReplaceMode) -> Self {
        self.lifecycle.replace = Some(mode);
        self
    }
}

/// Lifecycle options on any resource: `Server::new(…).protect()`.
pub trait Manage: Resource + Sized {
    /// This resource, protected from deletion and replacement.
    fn protect(self) -> Managed<Self> {
        self.managed().protect()
    }

    /// This resource, replaced as `mode` says.
    fn replace_mode(self, mode: ReplaceMode) -> Managed<Self> {
        self.managed().replace_mode(mode)
    }

    /// This resource, with default lifecycle options to add to.
    fn managed(self) -> Managed<Self> {
        Managed {
            resource: self,
            lifecycle: Lifecycle::default(),
        }
    }
}

impl<R: Resource> Manage for R {}

impl<R: Resource> ErasedResource for Managed<R> {
    fn kind(&self) -> &'static str {
        R::KIND
    }
    fn spec(&self) -> Result<serde_json::Value, String> {
        serde_json::to_value(&self.resource).map_err(|e| e.to_string())
    }
    fn address_output(&self) -> Option<&'static str> {
        R::ADDRESS_OUTPUT
    }
    fn validate(&self) -> Vec<String> {
        self.resource.validate()
    }
    fn cloud(&self) -> Option<String> {
        self.resource.cloud().map(str::to_string)
    }
    fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }
}

impl<R: Resource> crate::component::Component for Managed<R> {
    type Refs = crate::Ref<R>;
    fn refs_at(at: RefPath) -> Self::Refs {
        crate::Ref::at(at)
    }
    fn visit(&self, v: &mut dyn crate::component::Visitor) {
        v.resource(self);
    }
}
