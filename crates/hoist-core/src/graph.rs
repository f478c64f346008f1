//! Dependency graphs over dense ids: parallel waves (Kahn) and cycle extraction.

/// A directed graph over `0..n` given as predecessor lists: `preds[i]` must finish before `i`.
#[derive(Clone, Debug, Default)]
pub struct Dag {
    preds: Vec<Vec<u32>>,
}

impl Dag {
    /// A graph from predecessor lists.
    pub fn new(preds: Vec<Vec<u32>>) -> Self {
        Dag { preds }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.preds.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.preds.is_empty()
    }

    /// Predecessors of `i`.
    pub fn preds(&self, i: u32) -> &[u32] {
        &self.preds[i as usize]
    }

    /// Successor lists.
    pub fn succs(&self) -> Vec<Vec<u32>> {
        let mut s = vec![Vec::new(); self.preds.len()];
        for (i, ps) in self.preds.iter().enumerate() {
            for &p in ps {
                s[p as usize].push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        s
    }

    /// Nodes in parallel waves: wave `k` holds the nodes whose longest chain of predecessors
    /// has length `k`. `Err` holds one cycle (as node ids, first node repeated at the end).
    pub fn waves(&self) -> Result<Vec<Vec<u32>>, Vec<u32>> {
        let n = self.preds.len();
        let succs = self.succs();
        let mut indeg: Vec<usize> = self.preds.iter().map(Vec::len).collect();
        let mut level = vec![0usize; n];
        let mut queue: Vec<u32> = (0..n)
            .filter(|&i| indeg[i] == 0)
            .map(|i| i as u32)
            .collect();
        let mut done = 0usize;
        let mut waves: Vec<Vec<u32>> = Vec::new();
        let mut head = 0;
        while head < queue.len() {
            let i = queue[head];
            head += 1;
            done += 1;
            let l = level[i as usize];
            if waves.len() <= l {
                waves.resize_with(l + 1, Vec::new);
            }
            waves[l].push(i);
            for &s in &succs[i as usize] {
                let su = s as usize;
                level[su] = level[su].max(l + 1);
                indeg[su] -= 1;
                if indeg[su] == 0 {
                    queue.push(s);
                }
            }
        }
        if done == n {
            for w in &mut waves {
                w.sort_unstable();
            }
            Ok(waves)
        } else {
            let remaining: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
            Err(self.find_cycle(&remaining))
        }
    }

    fn find_cycle(&self, in_scope: &[bool]) -> Vec<u32> {
        // Walk predecessors from any node left over; every such node has a predecessor left
        // over, so the walk must revisit a node: that loop is a cycle.
        let Some(start) = in_scope.iter().position(|&b| b) else {
            return Vec::new();
        };
        let mut seen = vec![usize::MAX; self.preds.len()];
        let mut path: Vec<u32> = Vec::new();
        let mut cur = start as u32;
        loop {
            if seen[cur as usize] != usize::MAX {
                let from = seen[cur as usize];
                let mut cyc: Vec<u32> = path[from..].to_vec();
                cyc.reverse();
                cyc.push(cyc[0]);
                return cyc;
            }
            seen[cur as usize] = path.len();
            path.push(cur);
            let Some(&next) = self.preds[cur as usize]
                .iter()
                .find(|&&p| in_scope[p as usize])
            else {
                return path;
            };
            cur = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_follow_longest_chain() {
        // 0 -> 1 -> 3, 0 -> 2, 2 -> 3
        let g = Dag::new(vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(g.waves().unwrap(), vec![vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn cycle_is_reported_in_order() {
        // 0 -> 1 -> 2 -> 0, 3 independent
        let g = Dag::new(vec![vec![2], vec![0], vec![1], vec![]]);
        let c = g.waves().unwrap_err();
        assert_eq!(c.first(), c.last());
        assert_eq!(c.len(), 4);
        // consecutive entries are edges in forward direction
        for w in c.windows(2) {
            assert!(g.preds(w[1]).contains(&w[0]), "{c:?}");
        }
    }
}
