//! The kvraft tester, after MIT's `kvraft/config.go` (2022): servers with their Raft on a
//! simulated network, clerks with their own ends, partitions, restarts, the operation counter,
//! and the history of every clerk operation for the linearizability check.
//!
//! Every call into a server runs as code of the server's node (`Running::on_server`), and
//! every clerk operation as a task of the clerk's own node (`TestClerk`): what lab code
//! spawns, and what it panics, is its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kvraft::{Clerk, KvServer};
use labrpc::sim::{self, Node};
use labrpc::{Network, Server};
use labtest::report::{self, Measured};
use labtest::EndMaker;
use parking_lot::Mutex;
use raft::Persister;

/// MIT's `electionTimeout` in the kvraft tests.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// One clerk operation as the history records it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub client: usize,
    pub kind: Kind,
    pub key: String,
    /// The value written (put, append) or read (get).
    pub value: String,
    pub call: Duration,
    pub ret: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Get,
    Put,
    Append,
}

/// A running server: the `KvServer` and the node it runs on, together.
struct Running {
    kv: KvServer,
    node: Node,
}

impl Running {
    /// Runs `f` on the server as code of its node (`Node::enter`), as if the server's own code
    /// made the call: what it spawns is the server's (a crash stops it), and what it panics is
    /// the server's. Every tester call into a running `KvServer` goes through here.
    #[track_caller]
    fn on_server<R>(&self, f: impl FnOnce(&KvServer) -> R) -> R {
        self.node.enter(|| f(&self.kv))
    }
}

struct Slot {
    /// The running incarnation, if any.
    running: Option<Running>,
    saved: Persister,
    ends: Vec<String>,
}

struct Begin {
    title: String,
    at: Duration,
    rpcs: u64,
    /// The measured part as the tester's step, until `end`.
    _step: labtest::Registered,
}

/// A clerk made by the tester, with the names of its ends (to connect and disconnect it).
///
/// The clerk is client code, as in MIT's tester, but it runs on a node of its own, which never
/// crashes: each operation runs as code of that node (`Node::enter_async`), so that a panic in
/// the clerk names the clerk, and what the clerk spawns is its own.
pub struct TestClerk {
    ck: Clerk,
    node: Node,
    pub ends: Vec<String>,
}

/// The kvraft test configuration.
pub struct Config {
    n: usize,
    net: Network,
    max_raft_state: Option<usize>,
    slots: Mutex<Vec<Slot>>,
    ends: EndMaker,
    /// Clerks made so far (they are named clerk0, clerk1, ...).
    clerks: AtomicUsize,
    ops: AtomicU64,
    begin: Mutex<Option<Begin>>,
    history: Mutex<Vec<Recorded>>,
}

impl Config {
    /// MIT's `make_config(t, n, unreliable, maxraftstate)`. No long delays, as in MIT's kvraft.
    pub fn new(n: usize, unreliable: bool, max_raft_state: Option<usize>) -> Arc<Config> {
        let slots = (0..n)
            .map(|_| Slot {
                running: None,
                saved: Persister::new(),
                ends: Vec::new(),
            })
            .collect();
        let net = Network::new();
        let cfg = Arc::new(Config {
            n,
            ends: EndMaker::new(net.clone()),
            net,
            max_raft_state,
            slots: Mutex::new(slots),
            clerks: AtomicUsize::new(0),
            ops: AtomicU64::new(0),
            begin: Mutex::new(None),
            history: Mutex::new(Vec::new()),
        });
        for i in 0..n {
            cfg.start_server(i);
        }
        cfg.connect_all();
        cfg.net.set_reliable(!unreliable);
        let watched = Arc::downgrade(&cfg);
        labtest::fail_without_a_leader("the kvraft servers", raft::REFERENCE, move || {
            watched.upgrade().is_none_or(|cfg| cfg.leader().is_some())
        });
        cfg
    }

    pub fn n(&self) -> usize {
        self.n
    }

    pub fn all(&self) -> Vec<usize> {
        (0..self.n).collect()
    }

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

    pub fn connect_all(&self) {
        for i in 0..self.n {
            self.enable(i, &self.all(), true);
        }
    }

    /// MIT's `partition`: each group fully connected inside, cut from the other. Clerks' ends
    /// are not touched: a clerk can still reach a minority server.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        for &i in p1 {
            self.enable(i, p2, false);
            self.enable(i, p1, true);
        }
        for &i in p2 {
            self.enable(i, p1, false);
            self.enable(i, p2, true);
        }
    }

    /// MIT's `make_partition`: a majority and a minority, with the current leader (if any) in
    /// the minority.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let leader = self.leader().unwrap_or(0);
        let mut others: Vec<usize> = (0..self.n).filter(|&i| i != leader).collect();
        let p2_len = self.n / 2;
        let mut p2 = others.split_off(self.n / 2 + 1);
        p2.push(leader);
        debug_assert_eq!(p2.len(), p2_len);
        (others, p2)
    }

    /// The first server that believes it leads.
    pub fn leader(&self) -> Option<usize> {
        let slots = self.slots.lock();
        (0..self.n).find(|&i| {
            slots[i]
                .running
                .as_ref()
                .is_some_and(|s| s.on_server(|kv| kv.get_state().1))
        })
    }

    /// MIT's `makeClient(to)`: a clerk with fresh ends to every server (shuffled), enabled only
    /// to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> TestClerk {
        let (ends, mut clients) = self.ends.to_servers("clerk", self.n);
        sim::shuffle(&mut clients);
        let k = self.clerks.fetch_add(1, Ordering::Relaxed);
        let node = Node::new(format!("clerk{k}"));
        let ck = TestClerk {
            ck: node.enter(|| Clerk::new(clients)),
            node,
            ends,
        };
        self.connect_client(&ck, to);
        ck
    }

    pub fn connect_client(&self, ck: &TestClerk, to: &[usize]) {
        self.connect_client_ends(&ck.ends, to);
    }

    /// Enables a clerk's ends (by name) to the servers in `to`.
    pub fn connect_client_ends(&self, ends: &[String], to: &[usize]) {
        for &j in to {
            self.net.enable(&ends[j], true);
        }
    }

    /// MIT's `ShutdownServer`: isolate, delete (so no reply promises what a replaced persister
    /// lost), keep a copy of the persister, kill, and crash the node.
    pub fn shutdown_server(&self, i: usize) {
        self.enable(i, &self.all(), false);
        self.net.delete_server(&i.to_string());
        let mut slots = self.slots.lock();
        slots[i].saved = slots[i].saved.copy();
        let running = slots[i].running.take();
        drop(slots);
        if let Some(s) = running {
            s.on_server(|kv| kv.kill());
            s.node.crash();
        }
    }

    /// MIT's `StartServer`: fresh ends, a copy of the persister, both services under one
    /// server name. The caller reconnects it.
    pub fn start_server(&self, i: usize) {
        let (names, ends) = self.ends.to_servers(&format!("kv{i}"), self.n);
        let persister = {
            let mut slots = self.slots.lock();
            slots[i].saved = slots[i].saved.copy();
            slots[i].ends = names;
            slots[i].saved.clone()
        };
        let node = Node::new(format!("kvserver{i}"));
        let max = self.max_raft_state;
        let kv = node.enter(|| KvServer::new(ends, i, persister, max));
        let running = Running { kv, node };
        let server = running.on_server(|kv| {
            let mut server = Server::new();
            for service in kv.services() {
                server.add_service(service);
            }
            server
        });
        self.net.add_server(&i.to_string(), server);
        self.slots.lock()[i].running = Some(running);
    }

    /// The largest persisted Raft state of any server.
    pub fn log_size(&self) -> usize {
        self.slots
            .lock()
            .iter()
            .map(|s| s.saved.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// The largest snapshot of any server.
    pub fn snapshot_size(&self) -> usize {
        self.slots
            .lock()
            .iter()
            .map(|s| s.saved.snapshot_size())
            .max()
            .unwrap_or(0)
    }

    fn record(&self, log: Option<usize>, kind: Kind, key: &str, value: &str, call: Duration) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        if let Some(client) = log {
            let ret = sim::now();
            self.history.lock().push(Recorded {
                client,
                kind,
                key: key.into(),
                value: value.into(),
                call,
                ret,
            });
        }
    }

    /// A Get through `ck`, counted and (with `log = Some(client)`) recorded in the history.
    pub async fn get(&self, ck: &mut TestClerk, key: &str, log: Option<usize>) -> String {
        let call = sim::now();
        let _in_flight = labtest::clerk_call(ck.node.name(), "Get", &format!("{key:?}"));
        let v = ck.node.enter_async(ck.ck.get(key)).await;
        self.record(log, Kind::Get, key, &v, call);
        v
    }

    pub async fn put(&self, ck: &mut TestClerk, key: &str, value: &str, log: Option<usize>) {
        let call = sim::now();
        let _in_flight = labtest::clerk_call(ck.node.name(), "Put", &format!("{key:?}"));
        ck.node.enter_async(ck.ck.put(key, value)).await;
        self.record(log, Kind::Put, key, value, call);
    }

    pub async fn append(&self, ck: &mut TestClerk, key: &str, value: &str, log: Option<usize>) {
        let call = sim::now();
        let _in_flight = labtest::clerk_call(ck.node.name(), "Append", &format!("{key:?}"));
        ck.node.enter_async(ck.ck.append(key, value)).await;
        self.record(log, Kind::Append, key, value, call);
    }

    /// MIT's `check`: a Get must return `value`.
    pub async fn check(&self, ck: &mut TestClerk, key: &str, value: &str) {
        let _step = labtest::step(format!("check: Get({key:?}) by {}", ck.node.name()));
        let v = self.get(ck, key, None).await;
        assert!(
            v == value,
            "Get({key:?}): {}",
            labtest::describe_mismatch(value, &v)
        );
    }

    /// Everything the clerks did, for the linearizability check.
    pub fn history(&self) -> Vec<Recorded> {
        self.history.lock().clone()
    }

    pub fn begin(&self, title: &str) {
        self.ops.store(0, Ordering::Relaxed);
        *self.begin.lock() = Some(Begin {
            title: title.into(),
            at: sim::now(),
            rpcs: self.net.total_count(),
            _step: labtest::step(title.to_string()),
        });
    }

    /// Prints the title and "Passed" line: time, peers, RPCs (client RPCs included), clerk ops.
    pub fn end(&self) {
        let begin = self
            .begin
            .lock()
            .take()
            .expect("tester: end() without begin()");
        let m = Measured {
            time: sim::now() - begin.at,
            peers: self.n,
            rpcs: self.net.total_count() - begin.rpcs,
            bytes: None,
            cmds: self.ops.load(Ordering::Relaxed),
        };
        report::print_passed(&begin.title, &m);
    }
}

/// MIT's `checkClntAppends`: every append "x <clnt> <j> y", j < count, appears exactly once and
/// in order in `v`.
pub fn check_clnt_appends(clnt: usize, v: &str, count: u64) {
    let mut last_off = None;
    for j in 0..count {
        let wanted = format!("x {clnt} {j} y");
        let off = v
            .find(&wanted)
            .unwrap_or_else(|| panic!("{clnt} missing element {wanted:?} in Append result {v:?}"));
        assert_eq!(
            v.rfind(&wanted),
            Some(off),
            "duplicate element {wanted:?} in Append result"
        );
        assert!(
            last_off.is_none_or(|l| off > l),
            "wrong order for element {wanted:?} in Append result"
        );
        last_off = Some(off);
    }
}

/// MIT's `checkConcurrentAppends`.
pub fn check_concurrent_appends(v: &str, counts: &BTreeMap<usize, u64>) {
    for (&clnt, &count) in counts {
        check_clnt_appends(clnt, v, count);
    }
}
