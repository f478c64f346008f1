//! Selections of multi children (Actuator's `Model.q` queries): all, by key, key set, regex
//! match / no match, predicate, union, explicit lists.

use std::fmt;
use std::sync::Arc;

use crate::component::Component;
use crate::namespace::Role;
use crate::path::Key;
use crate::reference::{HasRefPath, MultiRef, Ref, RefPath};

/// A key filter.
#[derive(Clone)]
pub enum KeyFilter {
    /// Every child.
    All,
    /// Children with these keys.
    Keys(Vec<Key>),
    /// Children whose key matches (`true`) or does not match (`false`) a regular expression.
    Regex(String, bool),
    /// Children whose key satisfies a predicate.
    Pred(Arc<dyn Fn(&Key) -> bool + Send + Sync>),
}

impl fmt::Debug for KeyFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFilter::All => f.write_str("all()"),
            KeyFilter::Keys(k) => write!(f, "keys({k:?})"),
            KeyFilter::Regex(r, true) => write!(f, "match({r:?})"),
            KeyFilter::Regex(r, false) => write!(f, "no_match({r:?})"),
            KeyFilter::Pred(_) => f.write_str("pred(..)"),
        }
    }
}

/// A set of components chosen from multis; evaluated by the plan against the materialised
/// model.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Children of the multi at `multi` whose keys pass `filter`, then the `then` fields below
    /// each (to reach into multi groups).
    Children {
        /// The multi.
        multi: RefPath,
        /// Which keys.
        filter: KeyFilter,
        /// Field steps applied to each selected child.
        then: Vec<&'static str>,
    },
    /// Exactly these components.
    List(Vec<RefPath>),
    /// The union of several selections (duplicates removed).
    Union(Vec<Selection>),
}

impl Selection {
    /// Every child of the multi at `multi`.
    pub fn all(multi: RefPath) -> Self {
        Selection::Children {
            multi,
            filter: KeyFilter::All,
            then: Vec::new(),
        }
    }

    /// The children with these keys.
    pub fn keys(multi: RefPath, keys: impl IntoIterator<Item = Key>) -> Self {
        Selection::Children {
            multi,
            filter: KeyFilter::Keys(keys.into_iter().collect()),
            then: Vec::new(),
        }
    }

    /// Children whose key matches (or, with `matching = false`, does not match) `re`.
    pub fn matching(multi: RefPath, re: &str, matching: bool) -> Self {
        Selection::Children {
            multi,
            filter: KeyFilter::Regex(re.into(), matching),
            then: Vec::new(),
        }
    }

    /// Children whose key satisfies `pred`.
    pub fn pred(multi: RefPath, pred: impl Fn(&Key) -> bool + Send + Sync + 'static) -> Self {
        Selection::Children {
            multi,
            filter: KeyFilter::Pred(Arc::new(pred)),
            then: Vec::new(),
        }
    }

    /// Steps into field `name` of every selected child (for multis of groups):
    /// `ns.grid.all().field("workers")`.
    #[must_use]
    pub fn field(mut self, name: &'static str) -> Self {
        match &mut self {
            Selection::Children { then, .. } => then.push(name),
            Selection::List(v) => *v = v.iter().map(|p| p.field(name)).collect(),
            Selection::Union(v) => *v = v.drain(..).map(|s| s.field(name)).collect(),
        }
        self
    }

    /// The union of `self` and `other`.
    #[must_use]
    pub fn union(self, other: impl Into<Selection>) -> Self {
        match self {
            Selection::Union(mut v) => {
                v.push(other.into());
                Selection::Union(v)
            }
            s => Selection::Union(vec![s, other.into()]),
        }
    }
}

impl<T: Component> From<MultiRef<T>> for Selection {
    fn from(m: MultiRef<T>) -> Self {
        Selection::all(m.ref_path().clone())
    }
}

impl From<Ref<Role>> for Selection {
    fn from(r: Ref<Role>) -> Self {
        Selection::List(vec![r.ref_path().clone()])
    }
}

impl From<Vec<Ref<Role>>> for Selection {
    fn from(v: Vec<Ref<Role>>) -> Self {
        Selection::List(v.iter().map(|r| r.ref_path().clone()).collect())
    }
}

impl<const N: usize> From<[Ref<Role>; N]> for Selection {
    fn from(v: [Ref<Role>; N]) -> Self {
        Selection::List(v.iter().map(|r| r.ref_path().clone()).collect())
    }
}
