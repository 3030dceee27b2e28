//! The shard master's clerk. Part of the 4A handout.
//!
//! Like Lab 3's clerk: send each operation to the servers until the leader has committed and
//! applied it, remember the leader, sleep (about 100 ms) after a full round of failures, and
//! number the operations that change the configuration so that the servers apply each once.
//! A network error or `WrongLeader` means: try the next server.

use std::collections::BTreeMap;

use labrpc::ClientEnd;

use crate::{Config, Gid};

/// A client of the shard master.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    // Your data here: client id, next sequence number, last known leader.
}

impl Clerk {
    /// A clerk that talks to `servers` (in a random order: server `i` is not `servers[i]`).
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk { servers }
    }

    /// Configuration `num`, or the latest one for `None` (or a number past the latest). The
    /// latest reflects every Join, Leave and Move that returned before this call.
    pub async fn query(&mut self, num: Option<u64>) -> Config {
        // Your code here: send `QueryArgs` until a server answers, with code like
        // `let reply = self.servers[i].call(&args).await;` (an `Err` is a network error).
        let _ = (num, &self.servers);
        todo!("Clerk::query (shardmaster/src/client.rs)")
    }

    /// Adds the replica groups in `servers` (gid to server names) and rebalances.
    pub async fn join(&mut self, servers: BTreeMap<Gid, Vec<String>>) {
        let _ = servers;
        todo!("Clerk::join (shardmaster/src/client.rs)")
    }

    /// Removes the groups `gids` and gives their shards to the others.
    pub async fn leave(&mut self, gids: Vec<Gid>) {
        let _ = gids;
        todo!("Clerk::leave (shardmaster/src/client.rs)")
    }

    /// Assigns `shard` to group `gid` (a later Join or Leave may move it again).
    pub async fn move_shard(&mut self, shard: usize, gid: Gid) {
        let _ = (shard, gid);
        todo!("Clerk::move_shard (shardmaster/src/client.rs)")
    }
}
