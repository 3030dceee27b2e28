//! Rebalancing: the fewest shard moves that leave every group within one shard of the others.

use std::collections::BTreeMap;

use crate::{Gid, NSHARDS};

/// Reassigns `shards` among `groups` (the groups of the new configuration): shards of no group
/// (gid 0, or a group that left) and shards above a group's fair share move to groups below
/// theirs; no other shard moves.
///
/// Fair shares are `NSHARDS / n`, plus one for `NSHARDS % n` groups, and those extra shards go
/// to the groups that hold the most now (ties by gid), so that a group never gives up a shard
/// only to receive another. From a balanced assignment this moves the minimum: after a Join,
/// shards go only from old groups to new ones; after a Leave, only the leaving groups' shards
/// move. Everything is ordered by gid and shard number, so every server computes the same.
pub fn rebalance(shards: &mut [Gid; NSHARDS], groups: &BTreeMap<Gid, Vec<String>>) {
    if groups.is_empty() {
        *shards = [0; NSHARDS];
        return;
    }
    let mut held: BTreeMap<Gid, Vec<usize>> = groups.keys().map(|&g| (g, Vec::new())).collect();
    let mut free = Vec::new();
    for (shard, gid) in shards.iter().enumerate() {
        match held.get_mut(gid) {
            Some(list) => list.push(shard),
            None => free.push(shard),
        }
    }
    // Most shards first, then by gid: these groups get the larger shares.
    let mut order: Vec<Gid> = held.keys().copied().collect();
    order.sort_by_key(|g| (std::cmp::Reverse(held[g].len()), *g));
    let n = order.len();
    let share = |rank: usize| NSHARDS / n + usize::from(rank < NSHARDS % n);

    for (rank, gid) in order.iter().enumerate() {
        let list = held.get_mut(gid).expect("every group is in the map");
        while list.len() > share(rank) {
            free.push(list.pop().expect("above its share, so not empty"));
        }
    }
    free.sort_unstable();
    let mut free = free.into_iter();
    for (rank, gid) in order.iter().enumerate() {
        let list = held.get_mut(gid).expect("every group is in the map");
        while list.len() < share(rank) {
            list.push(free.next().expect("shares add up to NSHARDS"));
        }
    }
    for (gid, list) in held {
        for shard in list {
            shards[shard] = gid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(gids: &[Gid]) -> BTreeMap<Gid, Vec<String>> {
        gids.iter().map(|&g| (g, vec![format!("s{g}")])).collect()
    }

    fn counts(shards: &[Gid; NSHARDS]) -> BTreeMap<Gid, usize> {
        let mut c = BTreeMap::new();
        for &g in shards {
            *c.entry(g).or_insert(0) += 1;
        }
        c
    }

    fn moved(a: &[Gid; NSHARDS], b: &[Gid; NSHARDS]) -> Vec<(Gid, Gid)> {
        (0..NSHARDS)
            .filter(|&s| a[s] != b[s])
            .map(|s| (a[s], b[s]))
            .collect()
    }

    #[test]
    fn joins_then_leaves_move_only_what_they_must() {
        let mut shards = [0; NSHARDS];
        let mut live: Vec<Gid> = Vec::new();
        // Join 1..=12 one at a time, then leave them in a scrambled order.
        for g in 1..=12 {
            let before = shards;
            live.push(g);
            rebalance(&mut shards, &groups(&live));
            let c = counts(&shards);
            let (max, min) = if live.len() <= NSHARDS {
                (c.values().max().copied(), c.values().min().copied())
            } else {
                (Some(1), Some(1))
            };
            assert!(
                max.unwrap() - min.unwrap() <= 1,
                "unbalanced after join {g}: {c:?}"
            );
            for (from, to) in moved(&before, &shards) {
                assert!(to == g, "join {g} moved a shard {from} -> {to}");
            }
        }
        for g in [5, 1, 12, 7, 3, 2, 11, 9, 4, 6, 10, 8] {
            let before = shards;
            live.retain(|&x| x != g);
            rebalance(&mut shards, &groups(&live));
            for (from, _) in moved(&before, &shards) {
                assert_eq!(from, g, "leave {g} moved a shard of another group");
            }
            if !live.is_empty() {
                let c = counts(&shards);
                let active = c.len();
                assert!(active == live.len().min(NSHARDS), "{c:?}");
                assert!(c.values().max().unwrap() - c.values().min().unwrap() <= 1);
            }
        }
        assert_eq!(shards, [0; NSHARDS]);
    }
}
