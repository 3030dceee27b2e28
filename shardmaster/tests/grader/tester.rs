//! The shard master tester, after MIT's `shardctrler/config.go`: `n` servers, each with its
//! Raft, on a simulated network (reliable in both of MIT's tests), clerks with their own ends,
//! and servers that shut down and restart from a copy of their persister.
//!
//! The servers' lifecycle is `labtest::Cluster`'s. Every call into a server runs as code of the
//! server's node, and every clerk operation as code of the clerk's own node
//! (`labtest::OnNode`): what lab code spawns, and what it panics, is its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use labrpc::sim;
use labrpc::Network;
use labtest::{Cluster, EndMaker, Links, OnNode, ServerName};
use shardmaster::api::Clerk;
use shardmaster::{Config, Gid};

use crate::masters::ShardMasters;

/// A clerk made by the tester ([`ShardMasterTester::make_client`]), with the methods of
/// `shardmaster::Clerk`.
///
/// The clerk is client code, as in MIT's tester, but it runs on a node of its own, which never
/// crashes: each operation runs as code of that node ([`OnNode`]), so that a panic in the clerk
/// names the clerk, and what the clerk spawns is its own.
pub struct TestClerk(OnNode<Clerk>);

impl TestClerk {
    /// `Clerk::query`.
    pub async fn query(&mut self, num: Option<u64>) -> Config {
        let args = format!("{num:?}");
        self.0.call("Query", &args, |ck| ck.query(num)).await
    }

    /// `Clerk::join`.
    pub async fn join(&mut self, servers: BTreeMap<Gid, Vec<String>>) {
        let args = format!("{:?}", servers.keys().collect::<Vec<_>>());
        self.0.call("Join", &args, |ck| ck.join(servers)).await
    }

    /// `Clerk::leave`.
    pub async fn leave(&mut self, gids: Vec<Gid>) {
        let args = format!("{gids:?}");
        self.0.call("Leave", &args, |ck| ck.leave(gids)).await
    }

    /// `Clerk::move_shard`.
    pub async fn move_shard(&mut self, shard: usize, gid: Gid) {
        let args = format!("shard {shard}, gid {gid}");
        self.0
            .call("Move", &args, |ck| ck.move_shard(shard, gid))
            .await
    }
}

/// MIT's shard master `config`: `n` servers and the clerks' count.
pub struct ShardMasterTester {
    /// Shared with the task that watches for the first leader.
    servers: Arc<Cluster<ShardMasters>>,
    /// Clerks made so far (they are named clerk0, clerk1, ...).
    clerks: AtomicUsize,
}

impl ShardMasterTester {
    /// MIT's `make_config(t, n, unreliable)`: starts `n` servers and connects them.
    pub fn new(n: usize, unreliable: bool) -> ShardMasterTester {
        let ends = EndMaker::new(Network::new());
        let servers = Arc::new(Cluster::new(
            ShardMasters {
                name: |i| ServerName::numbered("shardmaster", i),
            },
            &ends,
            Links::Switched,
            n,
        ));
        servers.start_all();
        servers.connect_all();
        servers.net().set_reliable(!unreliable);
        let watched = Arc::downgrade(&servers);
        labtest::fail_without_a_leader("the shard masters", raft::REFERENCE, move || {
            watched
                .upgrade()
                .is_none_or(|servers| leader_of(&servers).is_some())
        });
        ShardMasterTester {
            servers,
            clerks: AtomicUsize::new(0),
        }
    }

    pub fn n(&self) -> usize {
        self.servers.n()
    }

    pub fn all(&self) -> Vec<usize> {
        self.servers.all()
    }

    /// MIT's `ConnectAll`.
    pub fn connect_all(&self) {
        self.servers.connect_all();
    }

    /// MIT's `Leader()`: the first running server that believes it leads.
    pub fn leader(&self) -> Option<usize> {
        leader_of(&self.servers)
    }

    /// MIT's `makeClient(to)`: a clerk with fresh ends to every server, in a random order,
    /// enabled only to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> TestClerk {
        let (names, mut ends) = self.servers.client_ends("clerk");
        self.servers.connect_client(&names, to);
        sim::shuffle(&mut ends);
        let k = self.clerks.fetch_add(1, Ordering::Relaxed);
        TestClerk(OnNode::new(format!("clerk{k}"), || Clerk::new(ends)))
    }

    /// MIT's `ShutdownServer(i)`: isolate, delete (so that no reply leaves a server whose state
    /// is gone), keep a copy of the persister, kill, and crash the node (its tasks stop).
    pub fn shutdown_server(&self, i: usize) {
        self.servers.crash(i);
    }

    /// MIT's `StartServer(i)`: fresh ends, a copy of the persister, a new incarnation on a new
    /// node, its services under the server name `i`. The caller reconnects it.
    pub fn start_server(&self, i: usize) {
        self.servers.start(i);
    }
}

/// MIT's shardmaster tests print no statistics; the run's RPCs still reach tools, on the
/// `lab-result` line.
impl Drop for ShardMasterTester {
    fn drop(&mut self) {
        labtest::report::record_rpcs(self.servers.net().total_count());
    }
}

/// The first running server of `servers` that believes it leads.
fn leader_of(servers: &Cluster<ShardMasters>) -> Option<usize> {
    servers.find_running(|sm| sm.get_state().1)
}
