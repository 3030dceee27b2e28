//! The clerk: finds the group serving a key's shard, and follows the configurations.

use std::collections::BTreeMap;
use std::time::Duration;

use labrpc::ClientEnd;
use rsm::OpIds;
use shardmaster::{Config, Gid};

use super::rpc::{Err, KeyOp, Reply, Request};
use crate::{key2shard, MakeEnd};

/// How long a clerk waits before retrying when the latest configuration brought nothing new
/// (the groups are still moving shards, or electing a leader).
const WAIT_FOR_GROUPS: Duration = Duration::from_millis(50);

/// A client of the sharded store. One operation at a time.
pub struct Clerk {
    masters: shardmaster::Clerk,
    make_end: MakeEnd,
    config: Config,
    ids: OpIds,
    /// Ends by server name, made once.
    ends: BTreeMap<String, ClientEnd>,
    /// Per group, the server that answered last.
    leaders: BTreeMap<Gid, usize>,
}

impl Clerk {
    /// A clerk that asks the shard master through `masters` and reaches servers by name.
    pub fn new(masters: Vec<ClientEnd>, make_end: MakeEnd) -> Clerk {
        Clerk {
            masters: shardmaster::Clerk::new(masters),
            make_end,
            config: Config::default(),
            ids: OpIds::new(),
            ends: BTreeMap::new(),
            leaders: BTreeMap::new(),
        }
    }

    /// The current value of `key`, or "" if it has none.
    pub async fn get(&mut self, key: &str) -> String {
        self.run(KeyOp::Get {
            key: key.to_string(),
        })
        .await
        .value
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        let (key, value) = (key.to_string(), value.to_string());
        self.run(KeyOp::Put { key, value }).await;
    }

    /// Appends `value` to the value of `key` (to "" if it has none).
    pub async fn append(&mut self, key: &str, value: &str) {
        let (key, value) = (key.to_string(), value.to_string());
        self.run(KeyOp::Append { key, value }).await;
    }

    /// Sends the operation to the group that serves its key's shard, trying its servers from
    /// the last that answered, until one answers; after a round without an answer, or when the
    /// group says the shard is not its own, fetches the latest configuration and goes on.
    async fn run(&mut self, op: KeyOp) -> Reply {
        let shard = key2shard(op.key());
        let request = Request {
            id: self.ids.next_id(),
            op,
        };
        loop {
            let gid = self.config.shards[shard];
            let servers = self.config.groups.get(&gid).cloned().unwrap_or_default();
            let first = self.leaders.get(&gid).copied().unwrap_or(0);
            for k in 0..servers.len() {
                let i = (first + k) % servers.len();
                let end = self.end(&servers[i]);
                match end.call(&request).await {
                    Ok(reply) if matches!(reply.err, Err::Ok | Err::NoKey) => {
                        self.leaders.insert(gid, i);
                        return reply;
                    }
                    Ok(reply) if reply.err == Err::WrongGroup => break,
                    _ => {}
                }
            }
            let latest = self.masters.query(None).await;
            if latest.num == self.config.num {
                tokio::time::sleep(WAIT_FOR_GROUPS).await;
            }
            self.config = latest;
        }
    }

    fn end(&mut self, name: &str) -> ClientEnd {
        let make_end = &self.make_end;
        self.ends
            .entry(name.to_string())
            .or_insert_with(|| make_end(name))
            .clone()
    }
}
