//! The checks on configurations, as pure functions (unit-tested in `checks/tests.rs`).
//!
//! * [`check_config`] is MIT's `check(groups)`: the expected groups, every shard on one of
//!   them, and balance ([`check_balance`]).
//! * [`check_same_config`] is MIT's `check_same_config`.
//! * [`check_minimal_moves`] is the minimal-transfer check MIT means to make but does not (see
//!   its doc comment); [`check_transition`] adds to it what one operation must do to the
//!   configuration before it, and [`check_history`] applies that to every configuration that
//!   concurrent clerks made.
//!
//! Every check returns `Err` with a message; the tests panic with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use shardmaster::{Config, Gid, NSHARDS};

/// An operation that changes the configuration, as a clerk issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// New groups (not in the configuration before), gid to server names.
    Join(BTreeMap<Gid, Vec<String>>),
    /// Groups to remove.
    Leave(Vec<Gid>),
    /// Shard to group.
    Move(usize, Gid),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Join(groups) => write!(f, "Join({:?})", groups.keys().collect::<Vec<_>>()),
            Change::Leave(gids) => write!(f, "Leave({gids:?})"),
            Change::Move(shard, gid) => write!(f, "Move(shard {shard} to {gid})"),
        }
    }
}

impl Change {
    /// The groups of the configuration this operation makes from one with `groups`.
    pub fn groups_after(&self, groups: &BTreeMap<Gid, Vec<String>>) -> BTreeMap<Gid, Vec<String>> {
        let mut after = groups.clone();
        match self {
            Change::Join(joined) => after.extend(joined.clone()),
            Change::Leave(gids) => after.retain(|gid, _| !gids.contains(gid)),
            Change::Move(..) => {}
        }
        after
    }
}

/// MIT's `check(groups)`, on the configuration a `Query(-1)` returned:
/// 1. it has as many groups as `groups`;
/// 2. every gid in `groups` is one of them;
/// 3. if there are groups, every shard is on one of them;
/// 4. it is balanced ([`check_balance`]).
pub fn check_config(c: &Config, groups: &[Gid]) -> Result<(), String> {
    if c.groups.len() != groups.len() {
        return Err(format!(
            "wanted {} groups, got {} (config {}: groups {:?})",
            groups.len(),
            c.groups.len(),
            c.num,
            c.groups.keys().collect::<Vec<_>>()
        ));
    }
    if let Some(gid) = groups.iter().find(|g| !c.groups.contains_key(g)) {
        return Err(format!("missing group {gid} (config {}: {c:?})", c.num));
    }
    if !groups.is_empty() {
        if let Some(s) = (0..NSHARDS).find(|&s| !c.groups.contains_key(&c.shards[s])) {
            return Err(format!(
                "shard {s} -> invalid group {} (config {}: shards {:?})",
                c.shards[s], c.num, c.shards
            ));
        }
    }
    check_balance(c)
}

/// How many shards each group of `c` holds (0 for a group with none), by gid.
pub fn shard_counts(c: &Config) -> BTreeMap<Gid, usize> {
    let mut counts: BTreeMap<Gid, usize> = c.groups.keys().map(|&g| (g, 0)).collect();
    for gid in &c.shards {
        if let Some(n) = counts.get_mut(gid) {
            *n += 1;
        }
    }
    counts
}

/// MIT's balance check: among the groups of `c`, the most shards any holds is at most one more
/// than the fewest any holds (with more groups than shards, some hold none and others one).
/// Shards on gids that are not groups of `c` are not counted (step 3 of [`check_config`]
/// rejects them).
pub fn check_balance(c: &Config) -> Result<(), String> {
    let counts = shard_counts(c);
    let (Some(&max), Some(&min)) = (counts.values().max(), counts.values().min()) else {
        return Ok(()); // no groups
    };
    if max > min + 1 {
        return Err(format!(
            "max {max} too much larger than min {min} (config {}: shards per group {counts:?})",
            c.num
        ));
    }
    Ok(())
}

/// MIT's `check_same_config`: the same number, shard assignment and groups, each with the same
/// servers in the same order. (MIT's messages, with the two configurations appended.)
pub fn check_same_config(got: &Config, want: &Config) -> Result<(), String> {
    let wrong = |what: &str| Err(format!("{what}: got {got:?}, want {want:?}"));
    if got.num != want.num {
        return wrong("Num wrong");
    }
    if got.shards != want.shards {
        return wrong("Shards wrong");
    }
    if got.groups.len() != want.groups.len() {
        return wrong("number of Groups is wrong");
    }
    for (gid, servers) in &want.groups {
        match got.groups.get(gid) {
            Some(got_servers) if got_servers.len() == servers.len() => {
                if got_servers != servers {
                    return wrong("Groups wrong");
                }
            }
            _ => return wrong("len(Groups) wrong"),
        }
    }
    Ok(())
}

/// The fewest shards that must change groups to turn `before`'s assignment into a balanced one
/// over the groups `groups` (with none, every shard goes to gid 0).
///
/// A balanced assignment of `NSHARDS` shards to `k` groups gives each `q = NSHARDS / k` shards
/// and one more to `r = NSHARDS % k` of them. A group can keep at most `min(held, q)` of its
/// shards, plus one for up to `r` of the groups that hold more than `q`; everything else moves.
pub fn min_moves(before: &Config, groups: &BTreeSet<Gid>) -> usize {
    if groups.is_empty() {
        return before.shards.iter().filter(|&&g| g != 0).count();
    }
    let (k, mut held) = (groups.len(), BTreeMap::<Gid, usize>::new());
    for gid in before.shards.iter().filter(|g| groups.contains(g)) {
        *held.entry(*gid).or_default() += 1;
    }
    let (q, r) = (NSHARDS / k, NSHARDS % k);
    let kept: usize = held.values().map(|&n| n.min(q)).sum::<usize>()
        + r.min(held.values().filter(|&&n| n > q).count());
    NSHARDS - kept
}

/// The minimal-transfer check: `after`, made from `before` by `change`, moves as few shards as
/// possible (the handout: "move as few shards as possible" to rebalance).
///
/// MIT's version compares the configurations before and after a series of Joins (and of
/// Leaves) for the gids `1..=npara` (1 to 10) only: a shard such a group holds after the Joins
/// it must have held before, and after the Leaves it must still hold. In both tests those gids
/// are not groups at that point (TestBasic's groups are 100..190, TestMulti's 1000..1009), so
/// nothing is ever checked. This is the check it means, per operation:
///
/// * **Join**: no shard moves between two groups that were both there before: a shard moves
///   only from an old group to a joined one, or off a gid that is no group (gid 0).
/// * **Leave**: only the leaving groups' shards move (all of them, to the groups that stay or
///   to gid 0 when none do); every other shard keeps its group.
/// * **Join and Leave**: no more shards move than [`min_moves`] says must. After a Leave from a
///   balanced configuration that is what the rule above already says; after a Join it also
///   rejects giving a joined group more shards than balance needs (10 shards on 2 groups, 5 and
///   5: a third group must get 3, not 4).
/// * **Move**: only `shard` changes group, to `gid`.
///
/// The two rules hold only when `before` is balanced, as every configuration a Join or Leave
/// makes is; from one that Moves unbalanced, rebalancing may need other moves, so then only
/// the count is checked. The tests apply this to every Join, Leave and Move whose
/// configurations before and after they know (see `check_history` for concurrent clerks).
pub fn check_minimal_moves(before: &Config, after: &Config, change: &Change) -> Result<(), String> {
    let moved: Vec<usize> = (0..NSHARDS)
        .filter(|&s| before.shards[s] != after.shards[s])
        .collect();
    let describe = || {
        format!(
            "config {} {:?} -> config {} {:?}",
            before.num, before.shards, after.num, after.shards
        )
    };
    let rules = check_balance(before).is_ok();
    match change {
        Change::Join(joined) => {
            for &s in moved.iter().filter(|_| rules) {
                let (from, to) = (before.shards[s], after.shards[s]);
                if before.groups.contains_key(&from) && !joined.contains_key(&to) {
                    return Err(format!(
                        "non-minimal transfer after {change}: shard {s} moved from group \
                         {from} to group {to}, both there before ({})",
                        describe()
                    ));
                }
            }
        }
        Change::Leave(gids) => {
            for &s in moved.iter().filter(|_| rules) {
                let (from, to) = (before.shards[s], after.shards[s]);
                if before.groups.contains_key(&from) && !gids.contains(&from) {
                    return Err(format!(
                        "non-minimal transfer after {change}: shard {s} moved from group \
                         {from}, which stays, to group {to} ({})",
                        describe()
                    ));
                }
            }
        }
        Change::Move(shard, gid) => {
            if after.shards[*shard] != *gid {
                return Err(format!(
                    "after {change}, shard {shard} is on group {} ({})",
                    after.shards[*shard],
                    describe()
                ));
            }
            if let Some(s) = moved.iter().find(|&s| s != shard) {
                return Err(format!("{change} also moved shard {s} ({})", describe()));
            }
            return Ok(());
        }
    }
    let groups: BTreeSet<Gid> = after.groups.keys().copied().collect();
    let least = min_moves(before, &groups);
    if moved.len() > least {
        return Err(format!(
            "non-minimal transfer after {change}: {} shards moved ({moved:?}) where {least} \
             would do ({})",
            moved.len(),
            describe()
        ));
    }
    Ok(())
}

/// MIT's minimal-transfer check over a series of operations, with the gids that are groups:
/// every shard that one of `gids` holds in `holder` is held by the same group in `other`.
///
/// MIT runs it twice, with `gids` = 1..=10: after a series of Joins (`holder` = after,
/// `other` = before: what an old group holds now, it held before) and after a series of Leaves
/// of the joined groups (`holder` = before the Leaves, `other` = after: what an old group
/// held, it still holds). The tests pass the groups there before the Joins, which is what MIT
/// means; `what` names the series in the message, as MIT's "non-minimal transfer after
/// Join()s".
pub fn check_kept(
    holder: &Config,
    other: &Config,
    gids: &BTreeSet<Gid>,
    what: &str,
) -> Result<(), String> {
    for s in 0..NSHARDS {
        let gid = holder.shards[s];
        if gids.contains(&gid) && other.shards[s] != gid {
            return Err(format!(
                "non-minimal transfer after {what}: shard {s} is on group {gid} in configuration \
                 {} but on {} in configuration {} ({:?} vs {:?})",
                holder.num, other.shards[s], other.num, holder.shards, other.shards
            ));
        }
    }
    Ok(())
}

/// What one operation must do to the configuration before it: `after` is the next
/// configuration (number one higher), its groups are `before`'s with `change` applied (server
/// lists included), it moves shards minimally ([`check_minimal_moves`]), and after a Join or
/// Leave every shard is on a group (gid 0 if there are none) and the groups are balanced.
///
/// Apply it only to operations that make a configuration: every Join and Leave, and a Move that
/// changes the shard's group.
pub fn check_transition(before: &Config, after: &Config, change: &Change) -> Result<(), String> {
    if after.num != before.num + 1 {
        return Err(format!(
            "{change} made configuration {} from configuration {}: one operation makes one \
             new configuration",
            after.num, before.num
        ));
    }
    let groups = change.groups_after(&before.groups);
    if after.groups != groups {
        return Err(format!(
            "after {change}, configuration {} has groups {:?}, expected {groups:?} \
             (configuration {} had {:?})",
            after.num, after.groups, before.num, before.groups
        ));
    }
    if let Change::Join(_) | Change::Leave(_) = change {
        let gids: Vec<Gid> = groups.keys().copied().collect();
        check_config(after, &gids).map_err(|e| format!("after {change}: {e}"))?;
        if gids.is_empty() && after.shards != [0; NSHARDS] {
            return Err(format!(
                "after {change} no groups are left, but configuration {} has shards {:?}, \
                 not all on gid 0",
                after.num, after.shards
            ));
        }
    }
    check_minimal_moves(before, after, change)
}

/// Checks the configurations made while clerks ran operations concurrently.
///
/// `configs` are every configuration from the one before the clerks started to the last, as
/// `Query(num)` returned them, and `issued[c]` the operations clerk `c` ran, one after the
/// other. Operations of different clerks touch different gids, so the groups of configuration
/// `n + 1` tell which operation made it: the next one of some clerk (a clerk's operations take
/// effect in the order it ran them, since each returned before the next began). Each
/// configuration must be made by exactly one operation, and every operation must make one,
/// each passing [`check_transition`] (and so [`check_minimal_moves`]) against the configuration
/// before it.
pub fn check_history(configs: &[Config], issued: &[Vec<Change>]) -> Result<(), String> {
    let mut next = vec![0; issued.len()];
    for pair in configs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let pending = || {
            (0..issued.len())
                .filter_map(|c| issued[c].get(next[c]).map(|op| format!("clerk {c}: {op}")))
                .collect::<Vec<_>>()
        };
        let clerk = (0..issued.len())
            .find(|&c| {
                issued[c]
                    .get(next[c])
                    .is_some_and(|op| op.groups_after(&before.groups) == after.groups)
            })
            .ok_or_else(|| {
                format!(
                    "configuration {} (groups {:?}) is not what any clerk's next operation makes \
                     of configuration {} (groups {:?}); next operations: {:?}",
                    after.num,
                    after.groups.keys().collect::<Vec<_>>(),
                    before.num,
                    before.groups.keys().collect::<Vec<_>>(),
                    pending()
                )
            })?;
        check_transition(before, after, &issued[clerk][next[clerk]])?;
        next[clerk] += 1;
    }
    let missing: Vec<String> = (0..issued.len())
        .flat_map(|c| {
            issued[c][next[c]..]
                .iter()
                .map(move |op| format!("clerk {c}: {op}"))
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "operations that returned but made no configuration (up to {}): {missing:?}",
            configs.last().map_or(0, |c| c.num)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
