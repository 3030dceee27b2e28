//! The shard master tester, after MIT's `shardctrler/config.go`: `n` servers, each with its
//! Raft, on a simulated network (reliable in both of MIT's tests), clerks with their own ends,
//! and servers that shut down and restart from a copy of their persister.
//!
//! Every call into a server runs as code of the server's node (`Running::on_server`), and
//! every clerk operation as a task of the clerk's own node (`TestClerk`): what lab code
//! spawns, and what it panics, is its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use labrpc::sim::{self, Node};
use labrpc::{Network, Server};
use labtest::EndMaker;
use parking_lot::Mutex;
use raft::Persister;
use shardmaster::{Clerk, Config, Gid, ShardMaster};

/// A running server: the `ShardMaster` and the node it runs on, together.
struct Running {
    sm: ShardMaster,
    node: Node,
}

impl Running {
    /// Runs `f` on the server as code of its node (`Node::enter`), as if the server's own code
    /// made the call: what it spawns is the server's (a crash stops it), and what it panics is
    /// the server's. Every tester call into a running `ShardMaster` goes through here.
    #[track_caller]
    fn on_server<R>(&self, f: impl FnOnce(&ShardMaster) -> R) -> R {
        self.node.enter(|| f(&self.sm))
    }
}

/// A clerk made by the tester ([`Tester::make_client`]), with the methods of
/// `shardmaster::Clerk`.
///
/// The clerk is client code, as in MIT's tester, but it runs on a node of its own, which never
/// crashes: each operation runs as code of that node (`Node::enter_async`), so that a panic in
/// the clerk names the clerk, and what the clerk spawns is its own.
pub struct TestClerk {
    ck: Clerk,
    node: Node,
}

impl TestClerk {
    /// `Clerk::query`.
    pub async fn query(&mut self, num: Option<u64>) -> Config {
        let _in_flight = labtest::clerk_call(self.node.name(), "Query", &format!("{num:?}"));
        self.node.enter_async(self.ck.query(num)).await
    }

    /// `Clerk::join`.
    pub async fn join(&mut self, servers: BTreeMap<Gid, Vec<String>>) {
        let gids: Vec<&Gid> = servers.keys().collect();
        let _in_flight = labtest::clerk_call(self.node.name(), "Join", &format!("{gids:?}"));
        self.node.enter_async(self.ck.join(servers)).await
    }

    /// `Clerk::leave`.
    pub async fn leave(&mut self, gids: Vec<Gid>) {
        let _in_flight = labtest::clerk_call(self.node.name(), "Leave", &format!("{gids:?}"));
        self.node.enter_async(self.ck.leave(gids)).await
    }

    /// `Clerk::move_shard`.
    pub async fn move_shard(&mut self, shard: usize, gid: Gid) {
        let args = format!("shard {shard}, gid {gid}");
        let _in_flight = labtest::clerk_call(self.node.name(), "Move", &args);
        self.node.enter_async(self.ck.move_shard(shard, gid)).await
    }
}

struct Slot {
    /// The running incarnation, if any.
    running: Option<Running>,
    saved: Persister,
    /// This incarnation's ends to the other servers, by server index.
    ends: Vec<String>,
}

/// The test configuration: MIT's `config`.
pub struct Tester {
    n: usize,
    net: Network,
    /// Shared with the task that watches for the first leader.
    slots: Arc<Mutex<Vec<Slot>>>,
    ends: EndMaker,
    /// Clerks made so far (they are named clerk0, clerk1, ...).
    clerks: AtomicUsize,
}

impl Tester {
    /// MIT's `make_config(t, n, unreliable)`: starts `n` servers and connects them.
    pub fn new(n: usize, unreliable: bool) -> Tester {
        let slots = (0..n)
            .map(|_| Slot {
                running: None,
                saved: Persister::new(),
                ends: Vec::new(),
            })
            .collect();
        let net = Network::new();
        let t = Tester {
            n,
            ends: EndMaker::new(net.clone()),
            net,
            slots: Arc::new(Mutex::new(slots)),
            clerks: AtomicUsize::new(0),
        };
        for i in 0..n {
            t.start_server(i);
        }
        t.connect_all();
        t.net.set_reliable(!unreliable);
        let slots = Arc::downgrade(&t.slots);
        labtest::fail_without_a_leader("the shard masters", raft::REFERENCE, move || {
            slots
                .upgrade()
                .is_none_or(|slots| leader_of(&slots.lock()).is_some())
        });
        t
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn all(&self) -> Vec<usize> {
        (0..self.n).collect()
    }

    /// Enables (or disables) the ends between server `i` and the servers in `to`, both ways.
    fn enable(&self, i: usize, to: &[usize], on: bool) {
        let slots = self.slots.lock();
        for &j in to {
            if !slots[i].ends.is_empty() {
                self.net.enable(&slots[i].ends[j], on);
            }
            if !slots[j].ends.is_empty() {
                self.net.enable(&slots[j].ends[i], on);
            }
        }
    }

    /// MIT's `ConnectAll`.
    pub fn connect_all(&self) {
        for i in 0..self.n {
            self.enable(i, &self.all(), true);
        }
    }

    /// MIT's `Leader()`: the first running server that believes it leads.
    pub fn leader(&self) -> Option<usize> {
        leader_of(&self.slots.lock())
    }

    /// MIT's `makeClient(to)`: a clerk with fresh ends to every server, in a random order,
    /// enabled only to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> TestClerk {
        let (names, mut ends) = self.ends.to_servers("clerk", self.n);
        for &j in to {
            self.net.enable(&names[j], true);
        }
        sim::shuffle(&mut ends);
        let k = self.clerks.fetch_add(1, Ordering::Relaxed);
        let node = Node::new(format!("clerk{k}"));
        TestClerk {
            ck: node.enter(|| Clerk::new(ends)),
            node,
        }
    }

    /// MIT's `ShutdownServer(i)`: isolate, delete (so that no reply leaves a server whose state
    /// is gone), keep a copy of the persister, kill, and crash the node (its tasks stop).
    pub fn shutdown_server(&self, i: usize) {
        self.enable(i, &self.all(), false);
        self.net.delete_server(&i.to_string());
        let mut slots = self.slots.lock();
        slots[i].saved = slots[i].saved.copy();
        let running = slots[i].running.take();
        drop(slots);
        if let Some(s) = running {
            s.on_server(|sm| sm.kill());
            s.node.crash();
        }
    }

    /// MIT's `StartServer(i)`: fresh ends, a copy of the persister, a new incarnation on a new
    /// node, its services under the server name `i`. The caller reconnects it.
    pub fn start_server(&self, i: usize) {
        let (names, ends) = self.ends.to_servers(&format!("sm{i}"), self.n);
        let persister = {
            let mut slots = self.slots.lock();
            slots[i].saved = slots[i].saved.copy();
            slots[i].ends = names;
            slots[i].saved.clone()
        };
        let node = Node::new(format!("shardmaster{i}"));
        let sm = node.enter(|| ShardMaster::new(ends, i, persister));
        let running = Running { sm, node };
        let server = running.on_server(|sm| {
            let mut server = Server::new();
            for service in sm.services() {
                server.add_service(service);
            }
            server
        });
        self.net.add_server(&i.to_string(), server);
        self.slots.lock()[i].running = Some(running);
    }
}

/// MIT's shardmaster tests print no statistics; the run's RPCs still reach tools, on the
/// `lab-result` line.
impl Drop for Tester {
    fn drop(&mut self) {
        labtest::report::record_rpcs(self.net.total_count());
    }
}

/// The first running server of `slots` that believes it leads.
fn leader_of(slots: &[Slot]) -> Option<usize> {
    slots.iter().position(|slot| {
        slot.running
            .as_ref()
            .is_some_and(|s| s.on_server(|sm| sm.get_state().1))
    })
}
