//! Which commit first wrote each MST node, when records are created one commit each: what orders
//! the reference PDS's `getRepo` CAR. Computed from the keys alone, without building, encoding or
//! hashing any of the intermediate trees.
//!
//! A node is determined by its layer and the set of keys under it, and in the tree of a key set K a
//! node at layer L (for L up to K's top layer) is exactly a non-empty run of K between two
//! consecutive keys of height above L. A node of the final tree holds a run of consecutive keys of
//! the final key order, named by its first key's rank and its size; an earlier run is that node
//! when it has the same layer, first key and size, and no key missing in between. Adding key k
//! changes, at each layer, only the run that takes k in (layers at or above k's height) or the two
//! runs k now separates (layers below it): those are the nodes the commit wrote. Replaying that
//! with a counting tree over ranks and one ordered set of separators per layer costs a few
//! logarithmic steps per layer per record, where re-encoding the path cost kilobytes of hashing.

use std::collections::{BTreeSet, HashMap};

use crate::mst::key_height;

/// A node: its layer, the rank of the first key under it, and how many keys are under it.
type NodeId = (u32, usize, usize);

/// For each node of the final tree over `keys` (given in the order they were added, all
/// distinct), in pre-order (root, left subtree, then each entry's right subtree): the index of the
/// first key whose addition produced that node. Empty when `keys` is.
pub(crate) fn first_writes(keys: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|a, b| keys.get(*a).cmp(&keys.get(*b)));
    // rank[i]: position of keys[i] in key order; heights are indexed by rank.
    let mut rank = vec![0usize; keys.len()];
    for (r, &i) in order.iter().enumerate() {
        if let Some(slot) = rank.get_mut(i) {
            *slot = r;
        }
    }
    let heights: Vec<u32> = order
        .iter()
        .map(|&i| keys.get(i).map_or(0, |k| key_height(k.as_bytes())))
        .collect();
    let Some(&top) = heights.iter().max() else {
        return Vec::new();
    };
    let mut nodes = Vec::new();
    pre_order(&heights, top, 0, heights.len(), &mut nodes);
    let wanted: HashMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut steps = vec![usize::MAX; nodes.len()];

    let mut present = Counts::new(keys.len());
    // separators[L]: ranks added so far whose height is above L.
    let mut separators: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); top as usize + 1];
    let mut root_layer = 0;
    for (step, &r) in rank.iter().enumerate() {
        let height = heights.get(r).copied().unwrap_or(0);
        present.add(r);
        for set in separators.iter_mut().take(height as usize) {
            set.insert(r);
        }
        root_layer = root_layer.max(height);
        for layer in 0..=root_layer {
            let Some(set) = separators.get(layer as usize) else {
                continue;
            };
            let below = set.range(..r).next_back().map_or(0, |s| s + 1);
            let above = set.range(r + 1..).next().copied().unwrap_or(keys.len());
            let runs = if height > layer {
                [(below, r), (r + 1, above)]
            } else {
                [(below, above), (0, 0)]
            };
            for (from, to) in runs {
                let count = present.between(from, to);
                if count == 0 {
                    continue;
                }
                let first = present.first_from(from);
                // A run with the same first key and size is that node only if it has no holes.
                if present.between(first, first + count) == count
                    && let Some(&node) = wanted.get(&(layer, first, count))
                    && let Some(slot) = steps.get_mut(node)
                    && *slot == usize::MAX
                {
                    *slot = step;
                }
            }
        }
    }
    // Every final node exists once the last key is in; none is left unset.
    let last = keys.len().saturating_sub(1);
    steps
        .into_iter()
        .map(|s| if s == usize::MAX { last } else { s })
        .collect()
}

/// Appends the nodes of the subtree at `layer` over ranks `from..to` in pre-order, as the tree
/// builder emits them.
fn pre_order(heights: &[u32], layer: u32, from: usize, to: usize, out: &mut Vec<NodeId>) {
    if from >= to {
        return;
    }
    out.push((layer, from, to - from));
    if layer == 0 {
        return;
    }
    let mut gap_start = from;
    for r in from..to {
        if heights.get(r).copied() == Some(layer) {
            pre_order(heights, layer - 1, gap_start, r, out);
            gap_start = r + 1;
        }
    }
    pre_order(heights, layer - 1, gap_start, to, out);
}

/// Which ranks have been added, with prefix counts (a Fenwick tree).
struct Counts {
    tree: Vec<usize>,
}

impl Counts {
    fn new(len: usize) -> Self {
        Self {
            tree: vec![0; len + 1],
        }
    }

    fn add(&mut self, rank: usize) {
        let mut i = rank + 1;
        while let Some(slot) = self.tree.get_mut(i) {
            *slot += 1;
            i += i & i.wrapping_neg();
        }
    }

    /// Added ranks below `end`.
    fn below(&self, end: usize) -> usize {
        let mut i = end.min(self.tree.len().saturating_sub(1));
        let mut sum = 0;
        while i > 0 {
            sum += self.tree.get(i).copied().unwrap_or(0);
            i &= i - 1;
        }
        sum
    }

    /// Added ranks in `from..to`.
    fn between(&self, from: usize, to: usize) -> usize {
        if to <= from {
            return 0;
        }
        self.below(to) - self.below(from)
    }

    /// The smallest added rank at or after `from` (the caller knows there is one).
    fn first_from(&self, from: usize) -> usize {
        // Find the smallest position whose prefix count exceeds the count below `from`.
        let mut remaining = self.below(from);
        let mut position = 0;
        let mut step = (self.tree.len()).next_power_of_two();
        while step > 0 {
            let next = position + step;
            if let Some(&count) = self.tree.get(next)
                && count <= remaining
            {
                position = next;
                remaining -= count;
            }
            step >>= 1;
        }
        position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answer_ranges_and_successors() {
        let mut counts = Counts::new(10);
        for r in [7, 2, 5] {
            counts.add(r);
        }
        assert_eq!(counts.between(0, 10), 3);
        assert_eq!(counts.between(3, 7), 1);
        assert_eq!(counts.between(6, 6), 0);
        assert_eq!(counts.first_from(0), 2);
        assert_eq!(counts.first_from(3), 5);
        assert_eq!(counts.first_from(6), 7);
    }

    #[test]
    fn one_key_is_written_by_its_own_commit() {
        assert_eq!(first_writes(&["app.bsky.feed.post/a"]), vec![0]);
        assert!(first_writes(&[]).is_empty());
    }
}
