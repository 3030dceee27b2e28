//! Unit tests of the checks (plain tests, no simulation): each check accepts what a correct
//! shard master makes and rejects a concrete bad configuration, with its message.
//!
//! Two rebalancers written here drive the minimal-move tests: [`round_robin`] recomputes the
//! assignment from scratch on every change (balanced, but it shuffles shards among groups that
//! were there all along), and [`minimal`] moves only what it must.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use shardmaster::{Config, Gid, NSHARDS};

use super::*;

/// Server names for group `gid`.
fn servers(gid: Gid) -> Vec<String> {
    vec![format!("s{gid}a"), format!("s{gid}b")]
}

fn groups(gids: &[Gid]) -> BTreeMap<Gid, Vec<String>> {
    gids.iter().map(|&g| (g, servers(g))).collect()
}

fn config(num: u64, gids: &[Gid], shards: [Gid; NSHARDS]) -> Config {
    Config {
        num,
        shards,
        groups: groups(gids),
    }
}

fn join(gids: &[Gid]) -> Change {
    Change::Join(groups(gids))
}

fn leave(gids: &[Gid]) -> Change {
    Change::Leave(gids.to_vec())
}

/// A bad rebalancer: shard `s` goes to the `s % k`-th of the `k` groups in gid order, whatever
/// it was on before. Always balanced, far from minimal.
fn round_robin(_shards: &[Gid; NSHARDS], gids: &[Gid]) -> [Gid; NSHARDS] {
    let sorted: Vec<Gid> = gids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if sorted.is_empty() {
        return [0; NSHARDS];
    }
    std::array::from_fn(|s| sorted[s % sorted.len()])
}

/// A minimal rebalancer: shards of no group go one by one to the group with the fewest (ties
/// by gid), then one shard at a time moves from a group with the most to one with the fewest
/// until they differ by at most one.
fn minimal(shards: &[Gid; NSHARDS], gids: &[Gid]) -> [Gid; NSHARDS] {
    if gids.is_empty() {
        return [0; NSHARDS];
    }
    let mut out = *shards;
    let count = |out: &[Gid; NSHARDS], g: Gid| out.iter().filter(|&&x| x == g).count();
    let fewest = |out: &[Gid; NSHARDS]| {
        let key = |&g: &Gid| (count(out, g), g);
        gids.iter().copied().min_by_key(key).expect("some group")
    };
    for s in 0..NSHARDS {
        if !gids.contains(&out[s]) {
            out[s] = fewest(&out);
        }
    }
    loop {
        let key = |&g: &Gid| (count(&out, g), Reverse(g));
        let most = gids.iter().copied().max_by_key(key).expect("some group");
        let least = fewest(&out);
        if count(&out, most) <= count(&out, least) + 1 {
            return out;
        }
        let s = (0..NSHARDS)
            .find(|&s| out[s] == most)
            .expect("most has shards");
        out[s] = least;
    }
}

type Rebalance = fn(&[Gid; NSHARDS], &[Gid]) -> [Gid; NSHARDS];

/// The configuration `rebalance` makes from `before` by `change`.
fn next(before: &Config, change: &Change, rebalance: Rebalance) -> Config {
    let groups = change.groups_after(&before.groups);
    let gids: Vec<Gid> = groups.keys().copied().collect();
    let shards = match change {
        Change::Move(shard, gid) => {
            let mut s = before.shards;
            s[*shard] = *gid;
            s
        }
        _ => rebalance(&before.shards, &gids),
    };
    Config {
        num: before.num + 1,
        shards,
        groups,
    }
}

/// Runs `changes` from configuration 0 with `rebalance`; all configurations, the first included.
fn run(changes: &[Change], rebalance: Rebalance) -> Vec<Config> {
    let mut configs = vec![Config::default()];
    for change in changes {
        let c = next(configs.last().expect("config 0"), change, rebalance);
        configs.push(c);
    }
    configs
}

#[test]
fn balance_accepts_within_one() {
    assert_eq!(check_balance(&Config::default()), Ok(()));
    assert_eq!(
        check_balance(&config(1, &[1, 2, 3], [1, 1, 1, 1, 2, 2, 2, 3, 3, 3])),
        Ok(())
    );
    // More groups than shards: some hold one, some none.
    let gids: Vec<Gid> = (1..=12).collect();
    let c = config(1, &gids, std::array::from_fn(|s| s as Gid + 1));
    assert_eq!(check_balance(&c), Ok(()));
}

#[test]
fn balance_rejects_a_spread_of_two() {
    let c = config(4, &[1, 2, 3], [1, 1, 1, 1, 1, 2, 2, 2, 3, 3]);
    let e = check_balance(&c).unwrap_err();
    assert!(e.starts_with("max 5 too much larger than min 2"), "{e}");
    // A group with no shard counts as 0.
    let c = config(4, &[1, 2, 3], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    let e = check_balance(&c).unwrap_err();
    assert!(e.starts_with("max 5 too much larger than min 0"), "{e}");
}

#[test]
fn check_config_is_mits_check() {
    let c = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    assert_eq!(check_config(&c, &[1, 2]), Ok(()));
    assert_eq!(check_config(&Config::default(), &[]), Ok(()));
    let e = check_config(&c, &[1]).unwrap_err();
    assert!(e.starts_with("wanted 1 groups, got 2"), "{e}");
    let e = check_config(&c, &[1, 3]).unwrap_err();
    assert!(e.starts_with("missing group 3"), "{e}");
    let c = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 0]);
    let e = check_config(&c, &[1, 2]).unwrap_err();
    assert!(e.starts_with("shard 9 -> invalid group 0"), "{e}");
}

#[test]
fn same_config_compares_everything() {
    let a = config(3, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    assert_eq!(check_same_config(&a, &a.clone()), Ok(()));
    let mut b = a.clone();
    b.num = 4;
    assert!(check_same_config(&b, &a)
        .unwrap_err()
        .starts_with("Num wrong"));
    let mut b = a.clone();
    b.shards[0] = 2;
    assert!(check_same_config(&b, &a)
        .unwrap_err()
        .starts_with("Shards wrong"));
    let mut b = a.clone();
    b.groups.remove(&2);
    let e = check_same_config(&b, &a).unwrap_err();
    assert!(e.starts_with("number of Groups is wrong"), "{e}");
    let mut b = a.clone();
    b.groups.get_mut(&2).expect("group 2").reverse();
    assert!(check_same_config(&b, &a)
        .unwrap_err()
        .starts_with("Groups wrong"));
    let mut b = a.clone();
    b.groups.get_mut(&2).expect("group 2").pop();
    let e = check_same_config(&b, &a).unwrap_err();
    assert!(e.starts_with("len(Groups) wrong"), "{e}");
}

#[test]
fn round_robin_is_rejected_on_a_join() {
    // Groups 1 and 2 hold 1,2,1,2,...; joining 3 makes 1,2,3,1,2,3,...: shard 3 goes from
    // group 2 to group 1, both there before.
    let before = next(&run(&[join(&[1])], minimal)[1], &join(&[2]), round_robin);
    assert_eq!(before.shards, [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
    let change = join(&[3]);
    let after = next(&before, &change, round_robin);
    let e = check_minimal_moves(&before, &after, &change).unwrap_err();
    assert!(
        e.starts_with(
            "non-minimal transfer after Join([3]): shard 3 moved from group 2 to group 1"
        ),
        "{e}"
    );
    // The transition as a whole fails the same way (it is balanced and has the right groups).
    assert_eq!(check_transition(&before, &after, &change), Err(e));
    // The minimal rebalancer makes it from the same configuration.
    let after = next(&before, &change, minimal);
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
}

#[test]
fn round_robin_is_rejected_on_a_leave() {
    // Groups 1, 2, 3 hold 1,2,3,1,2,3,...; after group 2 leaves, 1,3,1,3,...: shard 2 goes from
    // group 3, which stays, to group 1.
    let before = config(5, &[1, 2, 3], round_robin(&[0; NSHARDS], &[1, 2, 3]));
    let change = leave(&[2]);
    let after = next(&before, &change, round_robin);
    assert_eq!(after.shards, [1, 3, 1, 3, 1, 3, 1, 3, 1, 3]);
    let e = check_minimal_moves(&before, &after, &change).unwrap_err();
    assert!(
        e.starts_with(
            "non-minimal transfer after Leave([2]): shard 2 moved from group 3, which stays, \
             to group 1"
        ),
        "{e}"
    );
    let after = next(&before, &change, minimal);
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
}

#[test]
fn a_join_must_not_give_the_new_group_more_than_balance_needs() {
    // 5 and 5; the new group needs 3. Giving it 4 moves only old -> new, and is balanced
    // (3, 3, 4), but one shard more than needed.
    let before = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    let change = join(&[3]);
    let mut after = config(3, &[1, 2, 3], [3, 3, 1, 1, 1, 3, 3, 2, 2, 2]);
    let e = check_transition(&before, &after, &change).unwrap_err();
    assert!(
        e.starts_with(
            "non-minimal transfer after Join([3]): 4 shards moved ([0, 1, 5, 6]) where 3 would do"
        ),
        "{e}"
    );
    after.shards = [3, 3, 1, 1, 1, 3, 2, 2, 2, 2];
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
}

#[test]
fn with_more_groups_than_shards_a_join_moves_nothing() {
    let gids: Vec<Gid> = (1..=10).collect();
    let before = config(10, &gids, std::array::from_fn(|s| s as Gid + 1));
    let change = join(&[11]);
    let mut after = next(&before, &change, minimal);
    assert_eq!(after.shards, before.shards);
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
    // Handing the new group a shard is balanced and moves old -> new, but is not minimal.
    after.shards[0] = 11;
    let e = check_transition(&before, &after, &change).unwrap_err();
    assert!(e.contains("1 shards moved ([0]) where 0 would do"), "{e}");
}

#[test]
fn min_moves_counts_what_must_move() {
    let set = |gids: &[Gid]| gids.iter().copied().collect::<BTreeSet<Gid>>();
    let c = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    assert_eq!(min_moves(&c, &set(&[1, 2])), 0);
    assert_eq!(min_moves(&c, &set(&[1, 2, 3])), 3);
    assert_eq!(min_moves(&c, &set(&[1, 2, 3, 4])), 4);
    assert_eq!(min_moves(&c, &set(&[2])), 5);
    assert_eq!(min_moves(&c, &set(&[])), 10);
    assert_eq!(min_moves(&Config::default(), &set(&[7])), 10);
    assert_eq!(min_moves(&Config::default(), &set(&[])), 0);
    // Unbalanced by Moves: 8 and 2 over the same groups need 3 moves.
    let c = config(9, &[1, 2], [1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
    assert_eq!(min_moves(&c, &set(&[1, 2])), 3);
}

#[test]
fn minimal_passes_a_long_run_and_round_robin_does_not() {
    let changes = vec![
        join(&[1]),
        join(&[2]),
        join(&[3]),
        join(&[4, 5]),
        join(&[6]),
        join(&[7, 8, 9, 10, 11]),
        join(&[12]),
        leave(&[5]),
        leave(&[1, 12, 7]),
        join(&[13]),
        leave(&[3, 2]),
        leave(&[9]),
        leave(&[4, 6, 8, 10]),
        leave(&[11, 13]),
        join(&[1, 2, 3]),
    ];
    let configs = run(&changes, minimal);
    for (i, change) in changes.iter().enumerate() {
        let (before, after) = (&configs[i], &configs[i + 1]);
        assert_eq!(check_transition(before, after, change), Ok(()), "{change}");
    }
    assert_eq!(configs[14].shards, [0; NSHARDS]);
    let bad = run(&changes, round_robin);
    let failures = (0..changes.len())
        .filter(|&i| check_minimal_moves(&bad[i], &bad[i + 1], &changes[i]).is_err())
        .count();
    assert!(failures >= 5, "round robin failed only {failures} checks");
}

#[test]
fn moves_change_exactly_one_shard() {
    let before = config(3, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    let change = Change::Move(0, 2);
    let after = next(&before, &change, minimal);
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
    let mut worse = after.clone();
    worse.shards[9] = 1;
    let e = check_transition(&before, &worse, &change).unwrap_err();
    assert!(
        e.starts_with("Move(shard 0 to 2) also moved shard 9"),
        "{e}"
    );
    let mut wrong = after.clone();
    wrong.shards[0] = 1;
    wrong.shards[1] = 2;
    let e = check_transition(&before, &wrong, &change).unwrap_err();
    assert!(
        e.starts_with("after Move(shard 0 to 2), shard 0 is on group 1"),
        "{e}"
    );
    // From the Moved (unbalanced) configuration a Leave may move only what the count allows.
    let moved = config(4, &[1, 2, 3], [3, 3, 3, 3, 3, 3, 1, 1, 2, 2]);
    let change = leave(&[1]);
    let after = next(&moved, &change, minimal);
    assert_eq!(check_transition(&moved, &after, &change), Ok(()));
}

#[test]
fn transitions_check_number_groups_and_gid_zero() {
    let before = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    let change = join(&[3]);
    let mut after = next(&before, &change, minimal);
    after.num = 4;
    let e = check_transition(&before, &after, &change).unwrap_err();
    assert!(
        e.starts_with("Join([3]) made configuration 4 from configuration 2"),
        "{e}"
    );
    let mut after = next(&before, &change, minimal);
    after.groups.insert(3, vec!["s3b".into(), "s3a".into()]);
    let e = check_transition(&before, &after, &change).unwrap_err();
    assert!(
        e.starts_with("after Join([3]), configuration 3 has groups"),
        "{e}"
    );
    // The last group leaves: every shard back on gid 0.
    let before = config(7, &[2], [2; NSHARDS]);
    let change = leave(&[2]);
    let mut after = next(&before, &change, minimal);
    assert_eq!(after.shards, [0; NSHARDS]);
    assert_eq!(check_transition(&before, &after, &change), Ok(()));
    after.shards = [2; NSHARDS];
    let e = check_transition(&before, &after, &change).unwrap_err();
    assert!(e.contains("not all on gid 0"), "{e}");
}

/// Two clerks, each Join(g + 1000), Join(g), Leave(g + 1000): TestBasic's concurrent step.
fn clerk_ops(gid: Gid) -> Vec<Change> {
    vec![join(&[gid + 1000]), join(&[gid]), leave(&[gid + 1000])]
}

#[test]
fn history_accepts_an_interleaving() {
    let issued = vec![clerk_ops(100), clerk_ops(110)];
    let order = [(0, 0), (1, 0), (1, 1), (0, 1), (1, 2), (0, 2)];
    let changes: Vec<Change> = order.iter().map(|&(c, i)| issued[c][i].clone()).collect();
    let configs = run(&changes, minimal);
    assert_eq!(check_history(&configs, &issued), Ok(()));
    assert_eq!(check_config(&configs[6], &[100, 110]), Ok(()));
}

#[test]
fn history_rejects_missing_reordered_and_bad_configurations() {
    let issued = vec![clerk_ops(100), clerk_ops(110)];
    let take = |order: &[(usize, usize)]| -> Vec<Change> {
        order.iter().map(|&(c, i)| issued[c][i].clone()).collect()
    };
    // Clerk 1's Leave never made a configuration.
    let configs = run(&take(&[(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]), minimal);
    let e = check_history(&configs, &issued).unwrap_err();
    assert!(
        e.starts_with("operations that returned but made no configuration"),
        "{e}"
    );
    assert!(e.contains("clerk 1: Leave([1110])"), "{e}");
    // Clerk 0's Join(100) took effect before its Join(1100).
    let configs = run(&take(&[(0, 1), (0, 0), (0, 2)]), minimal);
    let e = check_history(&configs, &issued).unwrap_err();
    assert!(e.starts_with("configuration 1 (groups [100])"), "{e}");
    // The same configuration twice (an operation applied twice).
    let mut configs = run(&take(&[(0, 0), (0, 1)]), minimal);
    let mut again = configs[2].clone();
    again.num = 3;
    configs.push(again);
    assert!(check_history(&configs, &issued).is_err());
    // A rebalance that shuffles the old groups' shards.
    let configs = run(&take(&[(0, 0), (1, 0), (1, 1), (0, 1)]), round_robin);
    let e = check_history(&configs, &issued).unwrap_err();
    assert!(e.contains("non-minimal transfer"), "{e}");
}

#[test]
fn kept_checks_the_groups_given() {
    let set = |gids: &[Gid]| gids.iter().copied().collect::<BTreeSet<Gid>>();
    let before = config(2, &[1, 2], [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    let good = config(3, &[1, 2, 3], [3, 3, 1, 1, 1, 3, 2, 2, 2, 2]);
    assert_eq!(check_kept(&good, &before, &set(&[1, 2]), "Join()s"), Ok(()));
    assert_eq!(
        check_kept(&before, &good, &set(&[1, 2]), "Join()s"),
        Err(check_kept(&before, &good, &set(&[1]), "Join()s").unwrap_err())
    );
    let bad = config(3, &[1, 2, 3], [3, 3, 2, 1, 1, 3, 1, 2, 2, 2]);
    let e = check_kept(&bad, &before, &set(&[1, 2]), "Join()s").unwrap_err();
    assert!(
        e.starts_with("non-minimal transfer after Join()s: shard 2 is on group 2"),
        "{e}"
    );
    // MIT's gids 1..=10 against groups 100 and 110: nothing to check, anything passes.
    let before = config(
        2,
        &[100, 110],
        [100, 100, 100, 100, 100, 110, 110, 110, 110, 110],
    );
    let shuffled = config(
        3,
        &[100, 110],
        [110, 110, 110, 110, 110, 100, 100, 100, 100, 100],
    );
    let mit: Vec<Gid> = (1..=10).collect();
    assert_eq!(
        check_kept(&shuffled, &before, &set(&mit), "Join()s"),
        Ok(())
    );
    assert!(check_kept(&shuffled, &before, &set(&[100, 110]), "Join()s").is_err());
}
