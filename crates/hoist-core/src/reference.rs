//! Typed references between components and typed deferred values.
//!
//! A reference is a [`RefPath`]: a base (the root of a model type, or the struct that contains
//! the referring component) plus field and key steps. The typed wrappers [`Ref<T>`],
//! [`MultiRef<T>`], [`Out<T>`] and [`Val<T>`] make a wrong kind or a wrong field a compile error;
//! the plan step resolves the path against the materialised models and reports anything that
//! does not resolve, with the model path of the component that holds the reference.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::component::Component;
use crate::path::{Key, Name};

/// Where a [`RefPath`] starts.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Base {
    /// The root of the model of this Rust type (`std::any::type_name` of the model struct).
    Model(Name),
    /// Relative: the struct that contains the referring component (`up = 0`), or the struct
    /// containing that one (`up = 1`), and so on. Actuator's `ctxt.comp.container`.
    Container {
        /// How many struct levels to go up beyond the immediate container.
        up: u8,
    },
}

/// A key inside a reference: literal, or taken from the referring component's own path.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyExpr {
    /// A literal key: `grid[3]`.
    Lit(Key),
    /// The referring component's own key (`up = 0`), or an enclosing multi's key (`up = 1`, …):
    /// Actuator's `ctxt.name` / `ctxt.comp.container.key`.
    Mine {
        /// 0 = innermost key of the referring component's path.
        up: u8,
    },
}

/// One step of a [`RefPath`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefSeg {
    /// A field.
    Field(Name),
    /// A key into a multi.
    Key(KeyExpr),
}

/// An untyped reference path. Users rarely touch it; the typed wrappers hold one.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RefPath {
    /// Where the path starts.
    pub base: Base,
    /// The steps from the base.
    pub segs: Arc<[RefSeg]>,
}

impl RefPath {
    /// The root of the model whose Rust type is `M`.
    pub fn model<M: ?Sized + 'static>() -> Self {
        RefPath {
            base: Base::Model(Name::Borrowed(std::any::type_name::<M>())),
            segs: Arc::new([]),
        }
    }

    /// A reference to the concrete component at `path` of the model of type `type_key`.
    pub fn concrete(type_key: &'static str, path: &crate::ModelPath) -> Self {
        let segs: Vec<RefSeg> = path
            .segs()
            .iter()
            .map(|s| match s {
                crate::path::Seg::Field(n) => RefSeg::Field(n.clone()),
                crate::path::Seg::Key(k) => RefSeg::Key(KeyExpr::Lit(k.clone())),
            })
            .collect();
        RefPath {
            base: Base::Model(Name::Borrowed(type_key)),
            segs: segs.into(),
        }
    }

    /// The struct containing the referring component, `up` levels further out.
    pub fn container(up: u8) -> Self {
        RefPath {
            base: Base::Container { up },
            segs: Arc::new([]),
        }
    }

    fn push(&self, seg: RefSeg) -> Self {
        let mut v: Vec<RefSeg> = self.segs.to_vec();
        v.push(seg);
        RefPath {
            base: self.base.clone(),
            segs: v.into(),
        }
    }

    /// Extends the path by a field.
    #[must_use]
    pub fn field(&self, name: &'static str) -> Self {
        self.push(RefSeg::Field(Name::Borrowed(name)))
    }

    /// Extends the path by a literal key.
    #[must_use]
    pub fn key(&self, key: impl Into<Key>) -> Self {
        self.push(RefSeg::Key(KeyExpr::Lit(key.into())))
    }

    /// Extends the path by "the referring component's own key, `up` levels out".
    #[must_use]
    pub fn key_mine(&self, up: u8) -> Self {
        self.push(RefSeg::Key(KeyExpr::Mine { up }))
    }

    /// The short type name of a model base (`WebInfra` for `my_crate::WebInfra`).
    pub fn model_short_name(&self) -> Option<&str> {
        match &self.base {
            Base::Model(n) => Some(n.rsplit("::").next().unwrap_or(n)),
            Base::Container { .. } => None,
        }
    }
}

impl fmt::Display for RefPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            Base::Model(_) => write!(f, "{}", self.model_short_name().unwrap_or("?"))?,
            Base::Container { up: 0 } => f.write_str("<container>")?,
            Base::Container { up } => write!(f, "<container+{up}>")?,
        }
        for s in self.segs.iter() {
            match s {
                RefSeg::Field(n) => write!(f, ".{n}")?,
                RefSeg::Key(KeyExpr::Lit(k)) => write!(f, "[{k}]")?,
                RefSeg::Key(KeyExpr::Mine { up: 0 }) => f.write_str("[<my key>]")?,
                RefSeg::Key(KeyExpr::Mine { up }) => write!(f, "[<my key+{up}>]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RefPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefPath({self})")
    }
}

/// Anything that is (or holds) a reference path.
pub trait HasRefPath {
    /// The reference path.
    fn ref_path(&self) -> &RefPath;
}

/// A typed reference to a component of kind `T` (a resource, a [`Role`](crate::Role), a
/// [`Task`](crate::Task)). Built from the refs struct that `#[derive(Model)]` generates:
/// `WebInfra::refs().db` is a `Ref<Server>`.
///
/// In a resource's spec, a `Ref` is a dependency edge; once provisioned it resolves to the
/// referenced resource's provider id (see [`Ref::resolved_id`]).
pub struct Ref<T: ?Sized> {
    path: RefPath,
    resolved: Option<Resolved>,
    _t: PhantomData<fn() -> T>,
}

/// The resolved form of a [`Ref`], as providers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// The concrete path of the referenced component.
    pub path: String,
    /// The provider id of the referenced resource.
    pub id: String,
}

impl<T: ?Sized> Ref<T> {
    /// A reference at `path`. Normally generated; public for hand-written components.
    pub fn at(path: RefPath) -> Self {
        Ref {
            path,
            resolved: None,
            _t: PhantomData,
        }
    }

    /// The provider id of the referenced resource, once resolved (providers only see resolved
    /// specs, so for them this is always `Some`).
    pub fn resolved_id(&self) -> Option<&str> {
        self.resolved.as_ref().map(|r| r.id.as_str())
    }

    /// The resolved reference, if any.
    pub fn resolved(&self) -> Option<&Resolved> {
        self.resolved.as_ref()
    }
}

impl HasRefPath for RefPath {
    fn ref_path(&self) -> &RefPath {
        self
    }
}

impl<T: ?Sized> HasRefPath for Ref<T> {
    fn ref_path(&self) -> &RefPath {
        &self.path
    }
}

impl<T: ?Sized> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref {
            path: self.path.clone(),
            resolved: self.resolved.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ?Sized> PartialEq for Ref<T> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl<T: ?Sized> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({})", self.path)
    }
}

/// JSON tag that marks an unresolved reference inside a resource spec.
pub const PLACEHOLDER_TAG: &str = "$hoist";

#[derive(Serialize, Deserialize)]
struct RefPlaceholder<'a> {
    #[serde(rename = "$hoist")]
    tag: &'a str,
    to: RefPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<Name>,
}

#[derive(Serialize, Deserialize)]
struct ResolvedRefForm {
    #[serde(rename = "$ref")]
    path: String,
    id: String,
}

impl<T: ?Sized> Serialize for Ref<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.resolved {
            Some(r) => ResolvedRefForm {
                path: r.path.clone(),
                id: r.id.clone(),
            }
            .serialize(s),
            None => RefPlaceholder {
                tag: "ref",
                to: self.path.clone(),
                field: None,
            }
            .serialize(s),
        }
    }
}

impl<'de, T: ?Sized> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ResolvedRefForm::deserialize(d)?;
        Ok(Ref {
            path: RefPath::container(0),
            resolved: Some(Resolved {
                path: r.path,
                id: r.id,
            }),
            _t: PhantomData,
        })
    }
}

/// Decodes a placeholder object written by a [`Ref`] or [`Out`] serializer.
/// Returns the reference path and, for an output, the field name.
pub fn decode_placeholder(v: &serde_json::Value) -> Option<(RefPath, Option<String>)> {
    let obj = v.as_object()?;
    obj.get(PLACEHOLDER_TAG)?;
    let p: RefPlaceholder<'_> = RefPlaceholder::deserialize(v).ok()?;
    Some((p.to, p.field.map(|f| f.into_owned())))
}

/// A typed deferred value: output `field` of the resource at `path`, known only after that
/// resource is provisioned (a server's IP, a subnet's id).
///
/// Obtained from a resource reference: `infra.db.out().ip` is an `Out<String>`.
pub struct Out<T> {
    path: RefPath,
    field: &'static str,
    _t: PhantomData<fn() -> T>,
}

impl<T> Out<T> {
    /// The output `field` of the resource at `path`. Normally called by a resource kind's
    /// outputs struct.
    pub fn new(path: RefPath, field: &'static str) -> Self {
        Out {
            path,
            field,
            _t: PhantomData,
        }
    }

    /// The output field name.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The untyped form.
    pub fn erase(&self) -> OutAny {
        OutAny {
            path: self.path.clone(),
            field: Name::Borrowed(self.field),
        }
    }
}

impl<T> HasRefPath for Out<T> {
    fn ref_path(&self) -> &RefPath {
        &self.path
    }
}

impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        Out {
            path: self.path.clone(),
            field: self.field,
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Out<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Out({}.{})", self.path, self.field)
    }
}

impl<T> Serialize for Out<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RefPlaceholder {
            tag: "out",
            to: self.path.clone(),
            field: Some(Name::Borrowed(self.field)),
        }
        .serialize(s)
    }
}

/// An untyped deferred output value (used by variables, whose values are text).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutAny {
    /// The resource.
    pub path: RefPath,
    /// The output field.
    pub field: Name,
}

impl fmt::Debug for OutAny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.path, self.field)
    }
}

impl<T> From<Out<T>> for OutAny {
    fn from(o: Out<T>) -> Self {
        o.erase()
    }
}

/// A resource argument that is either a literal value or another resource's output.
///
/// Providers see resolved specs only, so for them [`Val::get`] always returns a value.
///
/// ```
/// use hoist_core::Val;
/// let v: Val<String> = "10.0.0.0/16".into();
/// assert_eq!(v.get().map(String::as_str), Some("10.0.0.0/16"));
/// ```
#[derive(Clone, Debug)]
pub enum Val<T> {
    /// A literal.
    Lit(T),
    /// Another resource's output, known after it is provisioned.
    Out(Out<T>),
}

impl<T> Val<T> {
    /// The literal (or resolved) value.
    pub fn get(&self) -> Option<&T> {
        match self {
            Val::Lit(v) => Some(v),
            Val::Out(_) => None,
        }
    }
}

impl<T: Default> Default for Val<T> {
    fn default() -> Self {
        Val::Lit(T::default())
    }
}

impl<T> From<Out<T>> for Val<T> {
    fn from(o: Out<T>) -> Self {
        Val::Out(o)
    }
}

impl From<&str> for Val<String> {
    fn from(s: &str) -> Self {
        Val::Lit(s.to_string())
    }
}

impl From<String> for Val<String> {
    fn from(s: String) -> Self {
        Val::Lit(s)
    }
}

impl<T: Serialize> Serialize for Val<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Lit(v) => v.serialize(s),
            Val::Out(o) => o.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Val<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Val::Lit)
    }
}

/// A typed reference to a [`Multi`](crate::Multi) component: index it to refer to a child.
///
/// Referring to a child makes it exist: `infra.grid.at(3)` materialises `grid[3]` when the plan
/// is computed. `mine()` refers to "the child with my key", for templates written once.
pub struct MultiRef<T: Component> {
    path: RefPath,
    _t: PhantomData<fn() -> T>,
}

impl<T: Component> MultiRef<T> {
    /// A multi reference at `path`. Normally generated.
    pub fn new(path: RefPath) -> Self {
        MultiRef {
            path,
            _t: PhantomData,
        }
    }

    /// The child with key `key` (materialised on use).
    pub fn at(&self, key: impl Into<Key>) -> T::Refs {
        T::refs_at(self.path.key(key))
    }

    /// The child whose key is the referring component's own key: a role `app[3]` referring to
    /// `infra.app.mine()` means `infra.app[3]`.
    pub fn mine(&self) -> T::Refs {
        T::refs_at(self.path.key_mine(0))
    }

    /// Like [`mine`](Self::mine) but with the key of an enclosing multi, `up` levels out.
    pub fn mine_up(&self, up: u8) -> T::Refs {
        T::refs_at(self.path.key_mine(up))
    }

    /// A selection of this multi's children, starting with all of them.
    pub fn all(&self) -> crate::select::Selection {
        crate::select::Selection::all(self.path.clone())
    }

    /// A selection of the child with key `key`.
    pub fn key(&self, key: impl Into<Key>) -> crate::select::Selection {
        crate::select::Selection::keys(self.path.clone(), [key.into()])
    }

    /// A selection of the children whose keys are in `keys`.
    pub fn keys<K: Into<Key>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> crate::select::Selection {
        crate::select::Selection::keys(self.path.clone(), keys.into_iter().map(Into::into))
    }

    /// A selection of the children whose key matches the regular expression `re`.
    ///
    /// An invalid expression is reported by the plan, naming the task that uses it.
    pub fn matching(&self, re: &str) -> crate::select::Selection {
        crate::select::Selection::matching(self.path.clone(), re, true)
    }

    /// A selection of the children whose key does not match `re`.
    pub fn not_matching(&self, re: &str) -> crate::select::Selection {
        crate::select::Selection::matching(self.path.clone(), re, false)
    }

    /// A selection of the children whose key satisfies `pred`.
    pub fn filter(
        &self,
        pred: impl Fn(&Key) -> bool + Send + Sync + 'static,
    ) -> crate::select::Selection {
        crate::select::Selection::pred(self.path.clone(), pred)
    }
}

impl<T: Component> HasRefPath for MultiRef<T> {
    fn ref_path(&self) -> &RefPath {
        &self.path
    }
}

impl<T: Component> Clone for MultiRef<T> {
    fn clone(&self) -> Self {
        MultiRef {
            path: self.path.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Component> fmt::Debug for MultiRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiRef({})", self.path)
    }
}
