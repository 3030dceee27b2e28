//! The server: the list of configurations as a replicated state machine.

use labrpc::{ClientEnd, Service};
use raft::Persister;
use rsm::{Rsm, Sessions, StateMachine};
use serde::{Deserialize, Serialize};

use super::rebalance::rebalance;
use super::rpc::{Op, Reply, Request};
use crate::Config;

/// Every configuration so far, and the duplicate table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Configs {
    /// Indexed by number; `configs[0]` is the initial configuration.
    configs: Vec<Config>,
    sessions: Sessions,
}

impl Default for Configs {
    fn default() -> Self {
        Configs {
            configs: vec![Config::default()],
            sessions: Sessions::default(),
        }
    }
}

impl Configs {
    fn latest(&self) -> &Config {
        self.configs
            .last()
            .expect("configuration 0 is always there")
    }
}

impl StateMachine for Configs {
    type Command = Request;
    /// A Query's configuration, or the default for a change.
    type Output = Config;

    fn apply(&mut self, request: &Request) -> Config {
        if let Op::Query(num) = request.op {
            let num = num.map_or(usize::MAX, |n| n.try_into().unwrap_or(usize::MAX));
            return self.configs.get(num).unwrap_or(self.latest()).clone();
        }
        if !self.sessions.first_time(request.id) {
            return Config::default(); // a duplicate of a change already made
        }
        let mut next = self.latest().clone();
        next.num += 1;
        match &request.op {
            Op::Join(groups) => {
                next.groups.extend(groups.clone());
                rebalance(&mut next.shards, &next.groups);
            }
            Op::Leave(gids) => {
                for gid in gids {
                    next.groups.remove(gid);
                }
                rebalance(&mut next.shards, &next.groups);
            }
            &Op::Move { shard, gid } => next.shards[shard] = gid,
            Op::Query(_) => unreachable!("answered above"),
        }
        self.configs.push(next);
        Config::default()
    }

    fn snapshot(&self) -> Vec<u8> {
        labgob::encode(self).expect("configurations are always encodable")
    }

    fn restore(snapshot: &[u8]) -> Self {
        labgob::decode(snapshot).expect("shardmaster: undecodable snapshot")
    }
}

/// One shard master server.
pub struct ShardMaster {
    rsm: Rsm<Configs>,
}

impl ShardMaster {
    /// Starts server `me` on the current simulation node. The shard master never snapshots.
    pub fn new(servers: Vec<ClientEnd>, me: usize, persister: Persister) -> ShardMaster {
        ShardMaster {
            rsm: Rsm::new(servers, me, persister, None, Configs::default()),
        }
    }

    /// The services the tester registers: `"ShardMaster"` and `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        let rsm = self.rsm.clone();
        let sm = Service::new("ShardMaster").handle(move |request: Request| {
            let rsm = rsm.clone();
            async move {
                let config = rsm.submit(request).await.ok();
                Reply { config }
            }
        });
        vec![sm, self.rsm.raft_service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rsm.get_state()
    }

    /// Stops the server.
    pub fn kill(&self) {
        self.rsm.kill();
    }
}
