//! Which shard a key is in, and how servers reach each other. Given; do not change.

use std::sync::Arc;

use labrpc::ClientEnd;
use shardmaster::NSHARDS;

/// The shard of `key`: its first byte modulo [`NSHARDS`] (0 for the empty key). The tests use
/// decimal keys, so "0" to "9" land on ten different shards.
pub fn key2shard(key: &str) -> usize {
    key.as_bytes().first().map_or(0, |&b| b as usize % NSHARDS)
}

/// Makes an end to the server of the given name (as listed in a [`shardmaster::Config`]'s
/// groups), connected and enabled. Each call makes a new end.
pub type MakeEnd = Arc<dyn Fn(&str) -> ClientEnd + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_keys_cover_every_shard() {
        let shards: Vec<usize> = (0..10).map(|k| key2shard(&k.to_string())).collect();
        assert_eq!(shards, [8, 9, 0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(key2shard(""), 0);
    }
}
