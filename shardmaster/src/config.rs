//! The configuration: which replica group serves which shard. Given; do not change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The number of shards keys are divided into.
pub const NSHARDS: usize = 10;

/// A replica group's id. 0 is not a group: in configuration 0 every shard is assigned to it.
pub type Gid = u64;

/// One configuration: a numbered assignment of shards to replica groups.
///
/// Configuration 0 is [`Config::default`]: number 0, no groups, every shard on gid 0. Each
/// Join, Leave and Move that changes anything makes the next number. Groups are in a
/// `BTreeMap`, so iterating them goes in gid order on every server alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The configuration's number.
    pub num: u64,
    /// Shard `s` is served by group `shards[s]`.
    pub shards: [Gid; NSHARDS],
    /// Each group's servers (names to make ends with), in the order the group was joined with.
    pub groups: BTreeMap<Gid, Vec<String>>,
}

impl Config {
    /// The shards group `gid` serves.
    pub fn shards_of(&self, gid: Gid) -> Vec<usize> {
        (0..NSHARDS).filter(|&s| self.shards[s] == gid).collect()
    }
}
