//! The clerk: numbers its operations and sends each until the leader has applied it.

use std::collections::BTreeMap;

use labrpc::ClientEnd;
use rsm::{OpIds, Servers};

use super::rpc::{Op, Request};
use crate::{Config, Gid};

/// A client of the shard master. One operation at a time (the methods take `&mut self`).
pub struct Clerk {
    servers: Servers,
    ids: OpIds,
}

impl Clerk {
    /// A clerk talking to `servers` (ends in any order).
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers: Servers::new(servers),
            ids: OpIds::new(),
        }
    }

    /// Configuration `num`, or the latest for `None` or a number past the latest.
    pub async fn query(&mut self, num: Option<u64>) -> Config {
        self.run(Op::Query(num)).await
    }

    /// Adds the groups in `servers` and rebalances.
    pub async fn join(&mut self, servers: BTreeMap<Gid, Vec<String>>) {
        self.run(Op::Join(servers)).await;
    }

    /// Removes the groups `gids` and rebalances.
    pub async fn leave(&mut self, gids: Vec<Gid>) {
        self.run(Op::Leave(gids)).await;
    }

    /// Assigns `shard` to `gid`.
    pub async fn move_shard(&mut self, shard: usize, gid: Gid) {
        self.run(Op::Move { shard, gid }).await;
    }

    async fn run(&mut self, op: Op) -> Config {
        let request = Request {
            id: self.ids.next_id(),
            op,
        };
        self.servers
            .retry(|end| {
                let request = request.clone();
                async move { end.call(&request).await.ok()?.config }
            })
            .await
    }
}
