//! Ready-queue bookkeeping for running a dependency graph (the scheduler's core).

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
