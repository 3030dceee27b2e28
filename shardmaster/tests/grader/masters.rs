//! Shard master servers as a `labtest::Cluster` starts them (MIT's `StartServer`), each with
//! its Raft. The shardkv tester starts its shard masters the same way and includes this file
//! (`#[path]` in `shardkv/tests/grader/main.rs`), so that the two testers share one copy.

use labrpc::Service;
use labtest::{Boot, ServerKind, ServerName};
use raft::Persister;
use shardmaster::api::ShardMaster;

/// Shard master servers named by `name`: the shardmaster tester numbers them ("0", on node
/// "shardmaster0"), shardkv's calls them "ctrler<i>" as MIT's does.
pub struct ShardMasters {
    pub name: fn(usize) -> ServerName,
}

impl ServerKind for ShardMasters {
    type Handle = ShardMaster;
    type Persister = Persister;

    fn name(&self, i: usize) -> ServerName {
        (self.name)(i)
    }

    fn copy(persister: &Persister) -> Persister {
        persister.copy()
    }

    fn start(&self, boot: Boot<Persister>) -> ShardMaster {
        boot.node
            .enter(|| ShardMaster::new(boot.ends, boot.me, boot.persister))
    }

    fn services(sm: &ShardMaster) -> Vec<Service> {
        sm.services()
    }

    fn kill(sm: &ShardMaster) {
        sm.kill();
    }
}
