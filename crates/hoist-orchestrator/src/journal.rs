//! The run's journal: how the scheduler writes state.
//!
//! Every write goes to the store first (durable when it returns, fenced with the run's lock id,
//! so a run whose lock was taken over cannot write), then to the in-memory copy the scheduler
//! reads. A write costs what it changes ([`Change`]), not the size of the state.

use std::sync::Arc;

use hoist_state::{
    Change, LockGuard, LockHolder, LockOptions, ResourceRecord, RunOutcome, RunRecord, StateError,
    StateStore, SystemState,
};

pub(crate) struct Journal {
    store: Arc<dyn StateStore>,
    system: String,
    fence: String,
}

impl Journal {
    /// Applies `changes` to the store, then to `state`.
    pub(crate) async fn write(
        &self,
        state: &mut SystemState,
        changes: Vec<Change>,
    ) -> Result<(), StateError> {
        self.store
            .apply(&self.system, Some(&self.fence), &changes)
            .await?;
        state.apply_all(&changes);
        Ok(())
    }

    /// Records `rec` (an intent or an outcome).
    pub(crate) async fn resource(
        &self,
        state: &mut SystemState,
        rec: ResourceRecord,
    ) -> Result<(), StateError> {
        self.write(state, vec![Change::PutResource(rec)]).await
    }
}

/// A run in progress: its lock, its journal, its state and its run record.
pub(crate) struct RunScope {
    pub(crate) guard: LockGuard,
    pub(crate) journal: Journal,
    pub(crate) state: SystemState,
    pub(crate) run: RunRecord,
}

impl RunScope {
    /// Takes the system's lock, loads its state, marks runs left `running` by dead processes
    /// as interrupted, and records this run as started.
    pub(crate) async fn begin(
        store: &Arc<dyn StateStore>,
        system: &str,
        action: &str,
        lock: LockOptions,
    ) -> Result<RunScope, StateError> {
        let holder = LockHolder::current(action);
        let guard = LockGuard::acquire(store.clone(), system, &holder, lock).await?;
        let mut state = store
            .load(system)
            .await?
            .unwrap_or_else(|| SystemState::new(system));
        let journal = Journal {
            store: store.clone(),
            system: system.to_string(),
            fence: guard.id().to_string(),
        };
        let run = RunRecord::start(action, &holder.by());
        // We hold the lock: a run still marked running died without finishing.
        let mut changes: Vec<Change> = state
            .runs
            .iter()
            .filter(|r| r.outcome == RunOutcome::Running)
            .map(|r| Change::PutRun(r.clone().finish(RunOutcome::Interrupted)))
            .collect();
        changes.push(Change::PutRun(run.clone()));
        journal.write(&mut state, changes).await?;
        Ok(RunScope {
            guard,
            journal,
            state,
            run,
        })
    }

    /// Records the end of the run (with `extra` changes, atomically) and releases the lock.
    pub(crate) async fn finish(
        mut self,
        outcome: RunOutcome,
        mut extra: Vec<Change>,
    ) -> Result<SystemState, StateError> {
        extra.push(Change::PutRun(self.run.clone().finish(outcome)));
        let written = self.journal.write(&mut self.state, extra).await;
        let released = self.guard.release().await;
        written?;
        released?;
        Ok(self.state)
    }
}

/// The outcome of a run from its report.
pub(crate) fn outcome(report: &crate::Report) -> RunOutcome {
    if report.cancelled {
        RunOutcome::Cancelled
    } else if report.success {
        RunOutcome::Succeeded
    } else {
        RunOutcome::Failed
    }
}
