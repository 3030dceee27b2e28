//! The kvraft tester, after MIT's `kvraft/config.go` (2022): servers with their Raft on a
//! simulated network, clerks with their own ends, partitions, restarts, the operation counter,
//! and the history of every clerk operation for the linearizability check.
//!
//! The servers' lifecycle (start, shutdown, partitions) is `labtest::Cluster`'s. Every call
//! into a server runs as code of the server's node, and every clerk operation as code of the
//! clerk's own node (`labtest::OnNode`): what lab code spawns, and what it panics, is its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kvraft::api::{Clerk, KvServer};
use kvraft::Reads;
use labrpc::sim;
use labrpc::{Network, Service};
use labtest::linearizability::{ReadId, Reads as ReadValues, Stamp, Stamps};
use labtest::report::{self, Measured};
use labtest::{Boot, Cluster, EndMaker, Links, OnNode, ServerKind, ServerName};
use parking_lot::Mutex;
use raft::Persister;

/// MIT's `electionTimeout` in the kvraft tests.
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// One clerk operation as the history records it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub client: usize,
    pub key: String,
    pub op: Op,
    pub call: Stamp,
    pub ret: Stamp,
}

/// What a recorded operation did: the value read (kept in the history's [`ReadValues`]) or written.
#[derive(Clone, Debug)]
pub enum Op {
    Get(ReadId),
    Put(String),
    Append(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
    Append,
}

/// Every clerk operation of a test, and the values its Gets read.
#[derive(Debug, Default)]
pub struct History {
    pub ops: Vec<Recorded>,
    pub reads: ReadValues,
}

/// kvraft servers as the cluster starts them (MIT's `StartKVServer`), each with its Raft.
struct KvServers {
    max_raft_state: Option<usize>,
    /// How they answer Gets: through the log but in the 3C tests.
    reads: Reads,
}

impl ServerKind for KvServers {
    type Handle = KvServer;
    type Persister = Persister;

    /// Server `i` of the network, on node "kvserver<i>".
    fn name(&self, i: usize) -> ServerName {
        ServerName::numbered("kvserver", i)
    }

    fn copy(persister: &Persister) -> Persister {
        persister.copy()
    }

    fn start(&self, boot: Boot<Persister>) -> KvServer {
        let (max, reads) = (self.max_raft_state, self.reads);
        boot.node
            .enter(|| KvServer::with_reads(boot.ends, boot.me, boot.persister, max, reads))
    }

    fn services(kv: &KvServer) -> Vec<Service> {
        kv.services()
    }

    fn kill(kv: &KvServer) {
        kv.kill();
    }
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
/// crashes: each operation runs as code of that node ([`OnNode`]), so that a panic in the clerk
/// names the clerk, and what the clerk spawns is its own.
pub struct TestClerk {
    clerk: OnNode<Clerk>,
    pub ends: Vec<String>,
}

/// MIT's kvraft `config`: the servers, the clerks' operation counter and their history.
pub struct KvRaftTester {
    servers: Cluster<KvServers>,
    /// Clerks made so far (they are named clerk0, clerk1, ...).
    clerks: AtomicUsize,
    ops: AtomicU64,
    /// Stamps the clerks' calls and returns, for the history.
    stamps: Stamps,
    begin: Mutex<Option<Begin>>,
    history: Mutex<History>,
}

impl KvRaftTester {
    /// MIT's `make_config(t, n, unreliable, maxraftstate)`. No long delays, as in MIT's kvraft.
    pub fn new(n: usize, unreliable: bool, max_raft_state: Option<usize>) -> Arc<KvRaftTester> {
        Self::with_reads(n, unreliable, max_raft_state, Reads::Log)
    }

    /// [`KvRaftTester::new`] with servers that answer Gets as `reads` says (lab 3C). With lease
    /// reads, every node's clock drifts, at a rate of its own within the lease's bound.
    pub fn with_reads(
        n: usize,
        unreliable: bool,
        max_raft_state: Option<usize>,
        reads: Reads,
    ) -> Arc<KvRaftTester> {
        if let Reads::Lease { clock_drift } = reads {
            sim::clock::set_drift(clock_drift);
        }
        let ends = EndMaker::new(Network::new());
        let kind = KvServers {
            max_raft_state,
            reads,
        };
        let cfg = Arc::new(KvRaftTester {
            servers: Cluster::new(kind, &ends, Links::Switched, n),
            clerks: AtomicUsize::new(0),
            ops: AtomicU64::new(0),
            stamps: Stamps::default(),
            begin: Mutex::new(None),
            history: Mutex::new(History::default()),
        });
        cfg.servers.start_all();
        cfg.connect_all();
        cfg.servers.net().set_reliable(!unreliable);
        let watched = Arc::downgrade(&cfg);
        labtest::fail_without_a_leader("the kvraft servers", raft::REFERENCE, move || {
            watched.upgrade().is_none_or(|cfg| cfg.leader().is_some())
        });
        cfg
    }

    pub fn n(&self) -> usize {
        self.servers.n()
    }

    pub fn all(&self) -> Vec<usize> {
        self.servers.all()
    }

    pub fn connect_all(&self) {
        self.servers.connect_all();
    }

    /// MIT's `partition`: each group fully connected inside, cut from the other. Clerks' ends
    /// are not touched: a clerk can still reach a minority server.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.servers.partition(p1, p2);
    }

    /// MIT's `make_partition`: a majority and a minority, with the current leader (if any) in
    /// the minority.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.n();
        let leader = self.leader().unwrap_or(0);
        let mut others: Vec<usize> = (0..n).filter(|&i| i != leader).collect();
        let p2_len = n / 2;
        let mut p2 = others.split_off(n / 2 + 1);
        p2.push(leader);
        debug_assert_eq!(p2.len(), p2_len);
        (others, p2)
    }

    /// The first server that believes it leads.
    pub fn leader(&self) -> Option<usize> {
        self.servers.find_running(|kv| kv.get_state().1)
    }

    /// MIT's `makeClient(to)`: a clerk with fresh ends to every server (shuffled), enabled only
    /// to the servers in `to`.
    pub fn make_client(&self, to: &[usize]) -> TestClerk {
        let (ends, mut clients) = self.servers.client_ends("clerk");
        sim::shuffle(&mut clients);
        let k = self.clerks.fetch_add(1, Ordering::Relaxed);
        let ck = TestClerk {
            clerk: OnNode::new(format!("clerk{k}"), || Clerk::new(clients)),
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
        self.servers.connect_client(ends, to);
    }

    /// MIT's `ShutdownServer`: isolate, delete (so no reply promises what a replaced persister
    /// lost), keep a copy of the persister, kill, and crash the node.
    pub fn shutdown_server(&self, i: usize) {
        self.servers.crash(i);
    }

    /// MIT's `StartServer`: fresh ends, a copy of the persister, both services under one
    /// server name. The caller reconnects it.
    pub fn start_server(&self, i: usize) {
        self.servers.start(i);
    }

    /// Holds back (`true`) or lets go (`false`) the replies to what server `from` sends to
    /// server `to` (`Network::hold_replies`). Not in MIT's tester.
    pub fn hold_replies(&self, from: usize, to: usize, hold: bool) {
        let end = self.servers.end_name(from, to);
        self.servers.net().hold_replies(&end, hold);
    }

    /// Makes server `i`'s clock run at `rate` from now on (within the drift bound of the run):
    /// for the worst case within the bound. Not in MIT's tester.
    pub fn set_clock_rate(&self, i: usize, rate: f64) {
        let node = self.servers.node(i).expect("a running server");
        sim::clock::set_rate(&node, rate);
    }

    /// The network, for its counters and its fault switches.
    pub fn net(&self) -> &Network {
        self.servers.net()
    }

    /// The largest persisted Raft state of any server.
    pub fn log_size(&self) -> usize {
        let persisters = self.servers.persisters();
        persisters
            .iter()
            .map(Persister::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// The largest snapshot of any server.
    pub fn snapshot_size(&self) -> usize {
        let persisters = self.servers.persisters();
        persisters
            .iter()
            .map(Persister::snapshot_size)
            .max()
            .unwrap_or(0)
    }

    fn record(&self, log: Option<usize>, kind: Kind, key: &str, value: &str, call: Stamp) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let ret = self.stamps.now();
        if let Some(client) = log {
            let mut history = self.history.lock();
            let op = match kind {
                Kind::Get => Op::Get(history.reads.add(key, value)),
                Kind::Put => Op::Put(value.into()),
                Kind::Append => Op::Append(value.into()),
            };
            history.ops.push(Recorded {
                client,
                key: key.into(),
                op,
                call,
                ret,
            });
        }
    }

    /// A Get through `ck`, counted and (with `log = Some(client)`) recorded in the history.
    pub async fn get(&self, ck: &mut TestClerk, key: &str, log: Option<usize>) -> String {
        let call = self.stamps.now();
        let args = format!("{key:?}");
        let v = ck.clerk.call("Get", &args, |ck| ck.get(key)).await;
        self.record(log, Kind::Get, key, &v, call);
        v
    }

    pub async fn put(&self, ck: &mut TestClerk, key: &str, value: &str, log: Option<usize>) {
        let call = self.stamps.now();
        let args = format!("{key:?}");
        ck.clerk.call("Put", &args, |ck| ck.put(key, value)).await;
        self.record(log, Kind::Put, key, value, call);
    }

    pub async fn append(&self, ck: &mut TestClerk, key: &str, value: &str, log: Option<usize>) {
        let call = self.stamps.now();
        let args = format!("{key:?}");
        ck.clerk
            .call("Append", &args, |ck| ck.append(key, value))
            .await;
        self.record(log, Kind::Append, key, value, call);
    }

    /// MIT's `check`: a Get must return `value`.
    pub async fn check(&self, ck: &mut TestClerk, key: &str, value: &str) {
        let _step = labtest::step(format!("check: Get({key:?}) by {}", ck.clerk.name()));
        let v = self.get(ck, key, None).await;
        assert!(
            v == value,
            "Get({key:?}): {}",
            labtest::describe_mismatch(value, &v)
        );
    }

    /// How many Puts and Appends the history holds so far.
    pub fn writes_recorded(&self) -> usize {
        let history = self.history.lock();
        let writes = history.ops.iter().filter(|r| !matches!(r.op, Op::Get(_)));
        writes.count()
    }

    /// Everything the clerks did, for the linearizability check, which is the last thing a
    /// test does with it: it is moved out, not copied, since it holds every value a Get read
    /// (most of a many-clients test's memory) and the check builds on it.
    pub fn take_history(&self) -> History {
        std::mem::take(&mut *self.history.lock())
    }

    pub fn begin(&self, title: &str) {
        self.ops.store(0, Ordering::Relaxed);
        *self.begin.lock() = Some(Begin {
            title: title.into(),
            at: sim::now(),
            rpcs: self.servers.net().total_count(),
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
            peers: self.n(),
            rpcs: self.servers.net().total_count() - begin.rpcs,
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
