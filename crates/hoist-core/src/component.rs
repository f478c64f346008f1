//! The component protocol: how a model struct exposes its parts to the planner.
//!
//! Every field of a model struct is a [`Component`]: a resource, a [`Role`], a [`Task`], a
//! [`Vars`] block, a [`Deps`] block, a [`Multi`] of components, a [`MultiTask`], or another
//! struct that derives [`Model`](crate::Model) (a group). `#[derive(Model)]` implements this
//! trait by visiting each field in declaration order; the planner is the visitor.

use std::fmt;
use std::sync::Arc;

use crate::config::{Deps, MultiTask, Task, TaskDefaults};
use crate::namespace::{Role, Vars};
use crate::path::{Key, SourceLoc};
use crate::reference::{MultiRef, RefPath};
use crate::resource::{ErasedResource, Resource};

/// A part of a model. See the [module docs](self).
pub trait Component: Send + Sync + 'static {
    /// The typed references to this component and its parts (for a resource, [`Ref<R>`];
    /// for a group, the generated `…Refs` struct).
    ///
    /// [`Ref<R>`]: crate::Ref
    type Refs: Clone;

    /// The references rooted at `at`.
    fn refs_at(at: RefPath) -> Self::Refs;

    /// Shows this component's parts to `v`.
    fn visit(&self, v: &mut dyn Visitor);
}

/// Object-safe view of a [`Component`], used by visitors.
pub trait Visit: Send + Sync {
    /// Shows this component's parts to `v`.
    fn visit_dyn(&self, v: &mut dyn Visitor);
}

impl<C: Component> Visit for C {
    fn visit_dyn(&self, v: &mut dyn Visitor) {
        self.visit(v);
    }
}

/// Receives the parts of a model. Implemented by the planner; implement it yourself only to
/// write tools that inspect models.
pub trait Visitor {
    /// A struct field named `name`, declared at `loc`. The visitor extends its current path and
    /// visits `c`.
    fn field(&mut self, name: &'static str, loc: SourceLoc, c: &dyn Visit);
    /// The current path is a struct (a group or the model root) of Rust type `type_name`.
    fn group(&mut self, type_name: &'static str);
    /// The current path is a resource.
    fn resource(&mut self, r: &dyn ErasedResource);
    /// The current path is a role.
    fn role(&mut self, r: &Role);
    /// The current path is a task.
    fn task(&mut self, t: &Task);
    /// Variables of the enclosing struct.
    fn vars(&mut self, v: &Vars);
    /// Task dependencies declared in the enclosing struct.
    fn deps(&mut self, d: &Deps);
    /// Task defaults (role, credentials) for the enclosing struct and everything inside it.
    fn defaults(&mut self, d: &TaskDefaults);
    /// The current path is a keyed multi component.
    fn multi(&mut self, m: &dyn ErasedMulti);
    /// The current path is a multi-task (a template fanned out over roles).
    fn multi_task(&mut self, m: &dyn ErasedMultiTask);
}

/// Object-safe view of a [`Multi`].
pub trait ErasedMulti: Send + Sync {
    /// Builds the child for `key` (a fresh clone of the template, or the factory's result).
    fn child(&self, key: &Key) -> Box<dyn Visit>;
    /// Keys declared up front with [`Multi::keys`].
    fn declared_keys(&self) -> &[Key];
    /// True if references may make children with other keys than the declared ones
    /// ([`Multi::open_keys`]; always, when no key is declared).
    fn takes_other_keys(&self) -> bool;
    /// Variables attached to the multi as a container.
    fn vars(&self) -> Option<&Vars>;
    /// Where the multi was declared.
    fn loc(&self) -> SourceLoc;
    /// A boxed clone (multis are cheap to clone: the template is shared).
    fn clone_box(&self) -> Box<dyn ErasedMulti>;
}

/// Object-safe view of a [`MultiTask`].
pub trait ErasedMultiTask: Send + Sync {
    /// The role selection.
    fn selection(&self) -> &crate::select::Selection;
    /// Builds the child for the role at `role` (a concrete role path in the namespace model).
    fn child(&self, role: RefPath) -> Box<dyn Visit>;
    /// Where the multi-task was declared.
    fn loc(&self) -> SourceLoc;
    /// A boxed clone.
    fn clone_box(&self) -> Box<dyn ErasedMultiTask>;
}

/// A keyed collection of components whose children come into existence lazily, when a key is
/// used (Actuator's `MultiResource`, `MultiRole`, `MultiResourceGroup`, …).
///
/// A child is made by cloning a template ([`Multi::new`]) or by calling a factory with the key
/// ([`Multi::from_fn`]). Children exist when they are declared with [`Multi::keys`], referred to
/// from another component (`infra.grid.at(3)`), or driven by the namespace (a multi-role whose
/// host is `infra.app.mine()`).
///
/// ```
/// use hoist_core::{Multi, Role};
/// // three app roles, app[0], app[1], app[2]
/// let app: Multi<Role> = Multi::new(Role::new()).keys(0..3);
/// assert_eq!(app.declared_keys().len(), 3);
/// ```
pub struct Multi<T> {
    make: Arc<dyn Fn(&Key) -> T + Send + Sync>,
    keys: Vec<Key>,
    open: bool,
    vars: Option<Vars>,
    loc: SourceLoc,
}

impl<T: Component + Clone> Multi<T> {
    /// A multi whose children are clones of `template`.
    #[track_caller]
    pub fn new(template: T) -> Self {
        Multi {
            make: Arc::new(move |_| template.clone()),
            keys: Vec::new(),
            open: false,
            vars: None,
            loc: SourceLoc::caller(),
        }
    }
}

impl<T: Component> Multi<T> {
    /// A multi whose child for key `k` is `f(k)`.
    #[track_caller]
    pub fn from_fn(f: impl Fn(&Key) -> T + Send + Sync + 'static) -> Self {
        Multi {
            make: Arc::new(f),
            keys: Vec::new(),
            open: false,
            vars: None,
            loc: SourceLoc::caller(),
        }
    }

    /// Declares children up front. A multi that declares keys has those children and no
    /// other: a reference to another key (`app.at(7)` when the keys are `0..3`) is a plan
    /// error, unless [`open_keys`](Self::open_keys) lets references add children. A multi
    /// that declares no key has the children references make.
    #[must_use]
    pub fn keys<K: Into<Key>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Lets references make children with keys beyond the declared ones (Actuator's
    /// behaviour): `app.at(7)` then adds a child `app[7]`.
    #[must_use]
    pub fn open_keys(mut self) -> Self {
        self.open = true;
        self
    }

    /// Attaches variables to the multi itself: every child sees them (between its own
    /// variables and those of the enclosing struct).
    #[must_use]
    pub fn vars(mut self, vars: Vars) -> Self {
        self.vars = Some(vars);
        self
    }

    /// The keys declared up front.
    pub fn declared_keys(&self) -> &[Key] {
        &self.keys
    }
}

impl<T: Component> Clone for Multi<T> {
    fn clone(&self) -> Self {
        Multi {
            make: self.make.clone(),
            keys: self.keys.clone(),
            open: self.open,
            vars: self.vars.clone(),
            loc: self.loc,
        }
    }
}

impl<T> fmt::Debug for Multi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multi")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<T: Component> ErasedMulti for Multi<T> {
    fn child(&self, key: &Key) -> Box<dyn Visit> {
        Box::new((self.make)(key))
    }
    fn declared_keys(&self) -> &[Key] {
        &self.keys
    }
    fn takes_other_keys(&self) -> bool {
        self.open || self.keys.is_empty()
    }
    fn vars(&self) -> Option<&Vars> {
        self.vars.as_ref()
    }
    fn loc(&self) -> SourceLoc {
        self.loc
    }
    fn clone_box(&self) -> Box<dyn ErasedMulti> {
        Box::new(self.clone())
    }
}

impl<T: Component> Component for Multi<T> {
    type Refs = MultiRef<T>;
    fn refs_at(at: RefPath) -> Self::Refs {
        MultiRef::new(at)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.multi(self);
    }
}

impl<R: Resource> Component for R {
    type Refs = crate::Ref<R>;
    fn refs_at(at: RefPath) -> Self::Refs {
        crate::Ref::at(at)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.resource(self);
    }
}

impl<T: Component> Component for Option<T> {
    type Refs = T::Refs;
    fn refs_at(at: RefPath) -> Self::Refs {
        T::refs_at(at)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        if let Some(c) = self {
            c.visit(v);
        }
    }
}

macro_rules! leaf_component {
    ($t:ty, $refs:ty, $refs_at:expr, $method:ident) => {
        impl Component for $t {
            type Refs = $refs;
            fn refs_at(at: RefPath) -> Self::Refs {
                #[allow(clippy::redundant_closure_call, reason = "macro plumbing")]
                ($refs_at)(at)
            }
            fn visit(&self, v: &mut dyn Visitor) {
                v.$method(self);
            }
        }
    };
}

leaf_component!(Role, crate::Ref<Role>, crate::Ref::at, role);
leaf_component!(Task, crate::Ref<Task>, crate::Ref::at, task);
leaf_component!(Vars, (), |_| (), vars);
leaf_component!(Deps, (), |_| (), deps);
leaf_component!(TaskDefaults, (), |_| (), defaults);

impl<T: Component> Component for MultiTask<T> {
    type Refs = crate::Ref<MultiTask<T>>;
    fn refs_at(at: RefPath) -> Self::Refs {
        crate::Ref::at(at)
    }
    fn visit(&self, v: &mut dyn Visitor) {
        v.multi_task(self);
    }
}
