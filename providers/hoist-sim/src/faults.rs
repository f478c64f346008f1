//! Failure injection: make the simulated cloud fail chosen calls, throttle, or "crash" after
//! doing the work, so the orchestrator's retries, resume and adoption can be tested.

use std::collections::HashMap;
use std::sync::Arc;

use hoist_provider::{ErrorKind, ProvisionError};

use crate::cloud::Inner;

/// A failure to inject into the calls for one resource key.
///
/// ```
/// use hoist_provider::ErrorKind;
/// use hoist_sim::Fault;
///
/// let f = Fault::once(ErrorKind::QuotaExceeded, "vCPU limit reached");
/// assert_eq!(f.remaining(), Some(1));
/// let f = Fault::always(ErrorKind::Unauthorized, "bad key").taking_effect();
/// assert!(f.takes_effect());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    kind: ErrorKind,
    message: String,
    remaining: Option<u32>,
    takes_effect: bool,
}

impl Fault {
    /// Fails the next call only; later calls succeed.
    pub fn once(kind: ErrorKind, message: impl Into<String>) -> Self {
        Fault::times(1, kind, message)
    }

    /// Fails the next `n` calls; later calls succeed.
    pub fn times(n: u32, kind: ErrorKind, message: impl Into<String>) -> Self {
        Fault {
            kind,
            message: message.into(),
            remaining: Some(n),
            takes_effect: false,
        }
    }

    /// Fails every call until [`Faults::clear`].
    pub fn always(kind: ErrorKind, message: impl Into<String>) -> Self {
        Fault {
            kind,
            message: message.into(),
            remaining: None,
            takes_effect: false,
        }
    }

    /// The call does its work (the object is created or deleted) and then reports the error,
    /// like a response lost after the request reached the cloud.
    #[must_use]
    pub fn taking_effect(mut self) -> Self {
        self.takes_effect = true;
        self
    }

    /// The error kind reported.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// How many more calls fail (`None`: every call).
    pub fn remaining(&self) -> Option<u32> {
        self.remaining
    }

    /// True if the call does its work before failing.
    pub fn takes_effect(&self) -> bool {
        self.takes_effect
    }

    pub(crate) fn error(&self) -> ProvisionError {
        ProvisionError::new(self.kind, self.message.clone()).with_code("InjectedFault")
    }
}

/// The operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Create,
    Delete,
    Find,
    Update,
}

/// Armed faults (behind the cloud's lock).
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    by_key: HashMap<(Op, String), Fault>,
    throttle: u32,
}

impl FaultState {
    /// Consumes one throttled call, if any are armed.
    pub(crate) fn take_throttle(&mut self) -> bool {
        if self.throttle > 0 {
            self.throttle -= 1;
            true
        } else {
            false
        }
    }

    /// Consumes one use of the fault armed for `op` on `key`, if any.
    pub(crate) fn take(&mut self, op: Op, key: &str) -> Option<Fault> {
        let k = (op, key.to_string());
        let f = self.by_key.get_mut(&k)?;
        let out = f.clone();
        match &mut f.remaining {
            Some(n) if *n <= 1 => {
                self.by_key.remove(&k);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(out)
    }
}

/// A handle that arms and clears injected failures at runtime; from [`SimCloud::faults`].
/// Cheap to clone; every clone controls the same cloud.
///
/// [`SimCloud::faults`]: crate::SimCloud::faults
///
/// ```
/// use hoist_provider::ErrorKind;
/// use hoist_sim::{Fault, SimCloud};
///
/// let sim = SimCloud::new();
/// sim.faults()
///     .fail_create("Infra/db", Fault::once(ErrorKind::Transient, "503"))
///     .crash_after_create("Infra/web")
///     .throttle_next(2);
/// assert_eq!(sim.faults().pending_throttles(), 2);
/// sim.faults().clear();
/// assert_eq!(sim.faults().pending_throttles(), 0);
/// ```
#[derive(Clone)]
pub struct Faults {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("state", &*self.inner.faults())
            .finish()
    }
}

impl Faults {
    /// Makes creating resource `key` fail as `fault` says (replacing an earlier create fault
    /// for `key`).
    pub fn fail_create(&self, key: impl Into<String>, fault: Fault) -> &Self {
        self.inner
            .faults()
            .by_key
            .insert((Op::Create, key.into()), fault);
        self
    }

    /// Makes deleting resource `key` fail as `fault` says (replacing an earlier delete fault
    /// for `key`).
    pub fn fail_delete(&self, key: impl Into<String>, fault: Fault) -> &Self {
        self.inner
            .faults()
            .by_key
            .insert((Op::Delete, key.into()), fault);
        self
    }

    /// Makes updating resource `key` fail as `fault` says (replacing an earlier update fault
    /// for `key`).
    pub fn fail_update(&self, key: impl Into<String>, fault: Fault) -> &Self {
        self.inner
            .faults()
            .by_key
            .insert((Op::Update, key.into()), fault);
        self
    }

    /// Makes looking up resource `key` by its token fail as `fault` says (replacing an
    /// earlier lookup fault for `key`).
    pub fn fail_find(&self, key: impl Into<String>, fault: Fault) -> &Self {
        self.inner
            .faults()
            .by_key
            .insert((Op::Find, key.into()), fault);
        self
    }

    /// The next create of `key` creates the object but reports [`ErrorKind::Transient`], as if
    /// the controller lost the response (the object must then be adopted, not duplicated).
    pub fn crash_after_create(&self, key: impl Into<String>) -> &Self {
        let f = Fault::once(
            ErrorKind::Transient,
            "connection reset after the request was sent",
        );
        self.fail_create(key, f.taking_effect())
    }

    /// The next delete of `key` deletes the object but reports [`ErrorKind::Transient`].
    pub fn crash_after_delete(&self, key: impl Into<String>) -> &Self {
        let f = Fault::once(
            ErrorKind::Transient,
            "connection reset after the request was sent",
        );
        self.fail_delete(key, f.taking_effect())
    }

    /// The next `n` calls (create, delete or find, any resource) fail with
    /// [`ErrorKind::Throttled`] and have no effect. Adds to throttles already armed.
    pub fn throttle_next(&self, n: u32) -> &Self {
        let mut f = self.inner.faults();
        f.throttle = f.throttle.saturating_add(n);
        drop(f);
        self
    }

    /// Throttled calls still to come.
    pub fn pending_throttles(&self) -> u32 {
        self.inner.faults().throttle
    }

    /// Removes every armed fault and throttle.
    pub fn clear(&self) -> &Self {
        *self.inner.faults() = FaultState::default();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_times_and_always_are_consumed_as_promised() {
        let mut s = FaultState::default();
        s.by_key
            .insert((Op::Create, "a".into()), Fault::once(ErrorKind::Other, "x"));
        s.by_key.insert(
            (Op::Create, "b".into()),
            Fault::times(2, ErrorKind::Other, "x"),
        );
        s.by_key.insert(
            (Op::Delete, "c".into()),
            Fault::always(ErrorKind::Other, "x"),
        );
        assert!(s.take(Op::Create, "a").is_some());
        assert!(s.take(Op::Create, "a").is_none());
        assert!(s.take(Op::Create, "b").is_some());
        assert!(s.take(Op::Create, "b").is_some());
        assert!(s.take(Op::Create, "b").is_none());
        assert!(
            s.take(Op::Create, "c").is_none(),
            "a delete fault does not fire on create"
        );
        for _ in 0..5 {
            assert!(s.take(Op::Delete, "c").is_some());
        }
    }

    #[test]
    fn throttles_count_down() {
        let mut s = FaultState {
            throttle: 2,
            ..FaultState::default()
        };
        assert!(s.take_throttle());
        assert!(s.take_throttle());
        assert!(!s.take_throttle());
    }
}
