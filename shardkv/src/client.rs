//! The clerk. Part of the 4B handout.
//!
//! A clerk keeps a copy of a configuration from the shard master. For an operation on `key` it
//! finds the group serving `key2shard(key)` in that configuration and sends the operation to
//! the group's servers (ends made with `make_end(name)`) until one answers:
//!
//! * `Ok` (or `NoKey` for a Get): done;
//! * `WrongGroup`: the configuration is stale (or the group has not received the shard yet):
//!   ask the shard master for the latest (`query(None)`) and try again;
//! * `WrongLeader` or a network error: the next server of the group; after a full round,
//!   sleep about 100 ms and fetch the latest configuration.
//!
//! Number operations as in Lab 3: the duplicate check is per client, and the servers must carry
//! it along when a shard moves, since a retry may reach the shard's next owner.
//! Cache ends per server name rather than making new ones for every call.

use labrpc::ClientEnd;

use crate::MakeEnd;

/// A client of the sharded store.
pub struct Clerk {
    masters: shardmaster::Clerk,
    make_end: MakeEnd,
    // Your data here: the configuration, client id, sequence number, ends by server name.
}

impl Clerk {
    /// A clerk that asks the shard master through `masters` and reaches the groups' servers
    /// through `make_end`.
    pub fn new(masters: Vec<ClientEnd>, make_end: MakeEnd) -> Clerk {
        Clerk {
            masters: shardmaster::Clerk::new(masters),
            make_end,
        }
    }

    /// The current value of `key`, or "" if it has none. Keeps trying.
    pub async fn get(&mut self, key: &str) -> String {
        // Your code here: send `GetArgs` to the servers of the group that serves `key2shard(key)`
        // until one answers, with code like `let reply = end.call(&args).await;`.
        let _ = key;
        todo!("Clerk::get (shardkv/src/client.rs)")
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        self.put_append(key, value, false).await
    }

    /// Appends `value` to the value of `key` (to "" if it has none).
    pub async fn append(&mut self, key: &str, value: &str) {
        self.put_append(key, value, true).await
    }

    async fn put_append(&mut self, key: &str, value: &str, append: bool) {
        let _ = (key, value, append, &self.masters, &self.make_end);
        todo!("Clerk::put_append (shardkv/src/client.rs)")
    }
}
