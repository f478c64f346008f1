//! The scheduler's core: ready-queue bookkeeping for a dependency graph ([`DagRun`]), the
//! global and per-key permits that bound parallelism ([`Permits`]), and the one loop that
//! drives every phase ([`drive`]) — provisioning, teardown and configuration differ only in
//! their [`Steps`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::cancel::Cancel;
use crate::error::OrchestrationError;
use crate::events::{Emitter, EventKind, Phase};
use crate::report::Report;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Blocked,
}

/// Tracks which nodes of a DAG may start: a node is ready when all its predecessors are done.
pub(crate) struct DagRun {
    remaining: Vec<usize>,
    succs: Vec<Vec<u32>>,
    pub(crate) state: Vec<NodeState>,
    ready: Vec<usize>,
}

impl DagRun {
    /// `preds[i]`: nodes that must be done before `i`; `done(i)`: already done before this run.
    pub(crate) fn new(preds: &[Vec<u32>], done: impl Fn(usize) -> bool) -> Self {
        let n = preds.len();
        let mut succs = vec![Vec::new(); n];
        let mut state = vec![NodeState::Waiting; n];
        for (i, st) in state.iter_mut().enumerate() {
            if done(i) {
                *st = NodeState::Done;
            }
        }
        let mut remaining = vec![0usize; n];
        for (i, ps) in preds.iter().enumerate() {
            for &p in ps {
                succs[p as usize].push(u32::try_from(i).unwrap_or(u32::MAX));
                if state[p as usize] != NodeState::Done {
                    remaining[i] += 1;
                }
            }
        }
        let mut ready = Vec::new();
        for i in (0..n).rev() {
            if state[i] == NodeState::Waiting && remaining[i] == 0 {
                state[i] = NodeState::Ready;
                ready.push(i);
            }
        }
        DagRun {
            remaining,
            succs,
            state,
            ready,
        }
    }

    /// Nodes that may start now (marked running), in index order.
    pub(crate) fn take_ready(&mut self) -> Vec<usize> {
        let mut v = std::mem::take(&mut self.ready);
        v.sort_unstable();
        for &i in &v {
            self.state[i] = NodeState::Running;
        }
        v
    }

    /// Marks `i` done; its successors whose predecessors are all done become ready.
    pub(crate) fn complete(&mut self, i: usize) {
        self.state[i] = NodeState::Done;
        for k in 0..self.succs[i].len() {
            let s = self.succs[i][k] as usize;
            self.remaining[s] = self.remaining[s].saturating_sub(1);
            if self.remaining[s] == 0 && self.state[s] == NodeState::Waiting {
                self.state[s] = NodeState::Ready;
                self.ready.push(s);
            }
        }
    }

    /// Marks `i` failed and every node that (transitively) depends on it blocked.
    pub(crate) fn fail(&mut self, i: usize) {
        self.state[i] = NodeState::Failed;
        let mut stack: Vec<usize> = self.succs[i].iter().map(|&s| s as usize).collect();
        while let Some(s) = stack.pop() {
            if matches!(self.state[s], NodeState::Waiting | NodeState::Ready) {
                self.state[s] = NodeState::Blocked;
                self.ready.retain(|&r| r != s);
                stack.extend(self.succs[s].iter().map(|&x| x as usize));
            }
        }
    }

    /// True if some node is ready.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Nodes that never ran (waiting, ready or blocked).
    pub(crate) fn not_run(&self) -> Vec<usize> {
        (0..self.state.len())
            .filter(|&i| {
                matches!(
                    self.state[i],
                    NodeState::Waiting | NodeState::Ready | NodeState::Blocked
                )
            })
            .collect()
    }
}

/// Global and per-key (provider or host) permits.
pub(crate) struct Permits {
    global: Arc<Semaphore>,
    per_key: HashMap<String, Arc<Semaphore>>,
    default_per_key: usize,
    limits: HashMap<String, usize>,
}

/// A global permit and a per-key permit, held while a node's work runs.
pub(crate) type Permit = (OwnedSemaphorePermit, OwnedSemaphorePermit);

impl Permits {
    /// `global` in flight in all; per key, `limits[key]` or `default_per_key`.
    pub(crate) fn new(
        global: usize,
        limits: HashMap<String, usize>,
        default_per_key: usize,
    ) -> Self {
        Permits {
            global: Arc::new(Semaphore::new(global)),
            per_key: HashMap::new(),
            default_per_key,
            limits,
        }
    }

    /// Both permits for `key`, if both are free now.
    pub(crate) fn try_take(&mut self, key: &str) -> Option<Permit> {
        let n = self
            .limits
            .get(key)
            .copied()
            .unwrap_or(self.default_per_key);
        let sem = self
            .per_key
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(n)))
            .clone();
        let k = sem.try_acquire_owned().ok()?;
        let g = self.global.clone().try_acquire_owned().ok()?;
        Some((g, k))
    }
}

/// The work of one node, run on a worker task.
pub(crate) type Work<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a phase does with each node of its graph. Only [`drive`] calls these, from the one
/// scheduler loop, so implementations may write state: workers (the [`Work`] futures) only
/// call providers or run tasks.
pub(crate) trait Steps {
    /// What a node's work returns.
    type Done: Send + 'static;
    /// The key of the per-key permit node `i` needs (its provider, or its host).
    fn permit_key(&self, i: usize) -> String;
    /// Records the intent of node `i` and returns its work, or `None` if it failed before any
    /// work could start (already reported).
    async fn start(&mut self, i: usize) -> Result<Option<Work<Self::Done>>, OrchestrationError>;
    /// Records the outcome of node `i` (`None`: its worker panicked); true if it succeeded.
    async fn finish(
        &mut self,
        i: usize,
        done: Option<Self::Done>,
    ) -> Result<bool, OrchestrationError>;
    /// Reports node `i`, which never ran (something it needs failed, or the run stopped).
    fn not_run(&mut self, i: usize);
}

/// How a phase ended.
pub(crate) struct Driven {
    /// Every node succeeded.
    pub(crate) ok: bool,
    /// The run was cancelled.
    pub(crate) cancelled: bool,
}

impl Driven {
    /// Folds the outcome into `report` and announces the end of `phase`.
    pub(crate) fn close(self, phase: Phase, em: &Emitter, report: &mut Report) {
        report.cancelled |= self.cancelled;
        report.success &= self.ok && !report.cancelled;
        em.emit(EventKind::PhaseFinished {
            phase,
            success: self.ok,
        });
    }
}

/// Runs `dag` with `steps`: starts every ready node as permits allow, records outcomes, stops
/// scheduling on cancellation (and, with `fail_fast`, on the first failure) while work in
/// flight finishes, and reports what never ran.
pub(crate) async fn drive<S: Steps>(
    steps: &mut S,
    dag: &mut DagRun,
    permits: &mut Permits,
    cancel: &Cancel,
    fail_fast: bool,
) -> Result<Driven, OrchestrationError> {
    let mut running: JoinSet<(usize, S::Done)> = JoinSet::new();
    let mut node_of: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut waiting: Vec<usize> = Vec::new();
    let (mut stop, mut ok, mut cancelled) = (false, true, false);
    loop {
        if !stop && cancel.is_cancelled() {
            // Cancelled before this run started, or between two outcomes.
            stop = true;
            cancelled = true;
        }
        if !stop {
            waiting.extend(dag.take_ready());
            let mut still = Vec::new();
            for i in std::mem::take(&mut waiting) {
                let Some(permit) = permits.try_take(&steps.permit_key(i)) else {
                    still.push(i);
                    continue;
                };
                match steps.start(i).await? {
                    Some(work) => {
                        let h = running.spawn(async move {
                            let _permit = permit;
                            (i, work.await)
                        });
                        node_of.insert(h.id(), i);
                    }
                    None => {
                        dag.fail(i);
                        ok = false;
                        stop |= fail_fast;
                    }
                }
            }
            waiting = still;
        }
        if running.is_empty() {
            if stop || (!dag.has_ready() && waiting.is_empty()) {
                break;
            }
            continue;
        }
        tokio::select! {
            () = cancel.cancelled(), if !stop => {
                stop = true;
                cancelled = true;
            }
            Some(joined) = running.join_next_with_id() => {
                let (i, done) = match joined {
                    Ok((id, (i, done))) => {
                        node_of.remove(&id);
                        (i, Some(done))
                    }
                    Err(e) => match node_of.remove(&e.id()) {
                        Some(i) => (i, None),
                        None => continue,
                    },
                };
                if steps.finish(i, done).await? {
                    dag.complete(i);
                } else {
                    dag.fail(i);
                    ok = false;
                    stop |= fail_fast;
                }
            }
        }
    }
    // Taken from the graph but still waiting for a permit when the run stopped: not run either.
    for i in dag.not_run().into_iter().chain(waiting) {
        steps.not_run(i);
        ok = false;
    }
    Ok(Driven { ok, cancelled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_completion_and_failure_blocks_descendants() {
        // 0 -> 1 -> 2, 0 -> 3
        let preds = vec![vec![], vec![0], vec![1], vec![0]];
        let mut d = DagRun::new(&preds, |_| false);
        assert_eq!(d.take_ready(), vec![0]);
        d.complete(0);
        assert_eq!(d.take_ready(), vec![1, 3]);
        d.fail(1);
        d.complete(3);
        assert!(!d.has_ready());
        assert_eq!(d.not_run(), vec![2]);
        assert_eq!(d.state[2], NodeState::Blocked);
    }

    #[test]
    fn already_done_nodes_do_not_hold_back_successors() {
        let preds = vec![vec![], vec![0]];
        let mut d = DagRun::new(&preds, |i| i == 0);
        assert_eq!(d.take_ready(), vec![1]);
    }
}
