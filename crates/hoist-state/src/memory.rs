//! [`MemoryStore`]: states and locks in memory, shared by the store's clones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::lock::{Decision, decide, local_now};
use crate::{
    Change, LockAttempt, LockInfo, LockRequest, StateError, StateStore, SystemState, check_fence,
};

#[derive(Default)]
struct Inner {
    states: HashMap<String, SystemState>,
    locks: HashMap<String, LockInfo>,
}

/// An in-memory store, shared by its clones (tests; one process; nothing survives it).
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn with_now(mut l: LockInfo) -> LockInfo {
    l.now_ms = local_now();
    l
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        Ok(self.inner().states.get(system).cloned())
    }

    async fn apply(
        &self,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError> {
        let mut inner = self.inner();
        let lock = inner.locks.get(system).cloned().map(with_now);
        check_fence(system, fence, lock.as_ref())?;
        inner
            .states
            .entry(system.to_string())
            .or_insert_with(|| SystemState::new(system))
            .apply_all(changes);
        Ok(())
    }

    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        self.inner()
            .states
            .insert(state.system.clone(), state.clone());
        Ok(())
    }

    async fn systems(&self) -> Result<Vec<String>, StateError> {
        let mut v: Vec<String> = self.inner().states.keys().cloned().collect();
        v.sort();
        Ok(v)
    }

    async fn lock_try(&self, system: &str, req: &LockRequest) -> Result<LockAttempt, StateError> {
        let mut inner = self.inner();
        let cur = inner.locks.get(system).cloned().map(with_now);
        Ok(match decide(cur, req, local_now()) {
            Decision::Take { new, replaced } => {
                let id = new.id.clone();
                inner.locks.insert(system.to_string(), new);
                LockAttempt::Acquired { id, replaced }
            }
            Decision::Held(held) => LockAttempt::Held(held),
        })
    }

    async fn lock_renew(
        &self,
        system: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, StateError> {
        let mut inner = self.inner();
        Ok(match inner.locks.get_mut(system) {
            Some(l) if l.id == id => {
                let now = local_now();
                l.renewed_ms = now;
                l.expires_ms =
                    now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
                true
            }
            _ => false,
        })
    }

    async fn lock_release(&self, system: &str, id: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        if inner.locks.get(system).is_some_and(|l| l.id == id) {
            inner.locks.remove(system);
        }
        Ok(())
    }

    async fn lock_info(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        Ok(self.inner().locks.get(system).cloned().map(with_now))
    }

    async fn lock_break(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        Ok(self.inner().locks.remove(system).map(with_now))
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
