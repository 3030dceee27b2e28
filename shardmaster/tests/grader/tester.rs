//! The shard master tester, after MIT's `shardctrler/config.go`: `n` servers, each with its
//! Raft, on a simulated network (reliable in both of MIT's tests), clerks with their own ends,
//! and servers that shut down and restart from a copy of their persister.

use labrpc::sim::{self, Node};
use labrpc::{Network, Server};
use labtest::EndMaker;
use parking_lot::Mutex;
use raft::Persister;
use shardmaster::{Clerk, ShardMaster};

struct Slot {
    sm: Option<ShardMaster>,
    node: Option<Node>,
    saved: Persister,
    /// This incarnation's ends to the other servers, by server index.
    ends: Vec<String>,
}

/// The test configuration: MIT's `config`.
pub struct Tester {
    n: usize,
    net: Network,
    slots: Mutex<Vec<Slot>>,
    ends: EndMaker,
}

impl Tester {
    /// MIT's `make_config(t, n, unreliable)`: starts `n` servers and connects them.
    pub fn new(n: usize, unreliable: bool) -> Tester {
        let slots = (0..n)
            .map(|_| Slot {
                sm: None,
                node: None,
                saved: Persister::new(),
                ends: Vec::new(),
            })
            .collect();
        let net = Network::new();
        let t = Tester {
            n,
            ends: EndMaker::new(net.clone()),
            net,
            slots: Mutex::new(slots),
        };
        for i in 0..n {
            t.start_server(i);
        }
        t.connect_all();
        t.net.set_reliable(!unreliable);
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
        let slots = self.slots.lock();
        (0..self.n).find(|&i| slots[i].sm.as_ref().is_some_and(|sm| sm.get_state().1))
    }

    /// MIT's `makeClient(to)`: a clerk with fresh ends to every server, in a random order,
    /// enabled only to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> Clerk {
        let (names, mut ends) = self.ends.to_servers("clerk", self.n);
        for &j in to {
            self.net.enable(&names[j], true);
        }
        sim::shuffle(&mut ends);
        Clerk::new(ends)
    }

    /// MIT's `ShutdownServer(i)`: isolate, delete (so that no reply leaves a server whose state
    /// is gone), keep a copy of the persister, kill, and crash the node (its tasks stop).
    pub fn shutdown_server(&self, i: usize) {
        self.enable(i, &self.all(), false);
        self.net.delete_server(&i.to_string());
        let mut slots = self.slots.lock();
        slots[i].saved = slots[i].saved.copy();
        let (sm, node) = (slots[i].sm.take(), slots[i].node.take());
        drop(slots);
        if let Some(sm) = sm {
            sm.kill();
        }
        if let Some(node) = node {
            node.crash();
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
        let server = node.enter(|| {
            let mut server = Server::new();
            for service in sm.services() {
                server.add_service(service);
            }
            server
        });
        self.net.add_server(&i.to_string(), server);
        let mut slots = self.slots.lock();
        slots[i].sm = Some(sm);
        slots[i].node = Some(node);
    }
}
