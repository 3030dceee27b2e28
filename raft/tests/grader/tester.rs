//! The Raft tester, after MIT's `raft/config.go` (2022): peers on a simulated network, appliers
//! that check every applied entry against every other peer, and the checkers the tests use.
//!
//! Timing constants are MIT's: `one()` has 10 s with 2 s per attempt, `check_one_leader` 10
//! rounds of 450-549 ms, the network has long delays on, snapshots every 10 entries.
//!
//! Beyond MIT: Election Safety is checked all through every test (`leaders.rs`), not only at
//! the instants `check_one_leader` looks.
//!
//! Every call the tester makes into a peer's Raft (`start`, `get_state`, `snapshot`, `kill`)
//! runs as code of that peer's node, through [`PeerRaft`]: a task the call spawns dies with the
//! peer, and a panic in it is the peer's. The appliers are the tester's tasks on the peer's
//! node (`Node::spawn_tester`): a crash stops them, and a failed check in them is the tester's.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use labrpc::sim::{self, Node};
use labrpc::{Network, Server};
use labtest::report::{self, Measured};
use labtest::EndMaker;
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::leaders::{Leaders, SAMPLE_INTERVAL};

/// MIT's `RaftElectionTimeout`: the tests give an election a second to complete.
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// The snapshot applier asks for a snapshot whenever `(index + 1) % SNAPSHOT_INTERVAL == 0`.
pub const SNAPSHOT_INTERVAL: u64 = 10;
/// 2D: the persisted Raft state must stay under this many bytes.
pub const MAX_LOG_SIZE: usize = 2000;

/// The commands the tests put in the log: MIT uses ints, and random strings for the byte count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Int(u64),
    Text(String),
}

impl Cmd {
    /// The command in a few characters, for a report: an int, or a string's length.
    fn short(&self) -> String {
        match self {
            Cmd::Int(v) => v.to_string(),
            Cmd::Text(t) => format!("a string of {} bytes", t.len()),
        }
    }
}

impl From<u64> for Cmd {
    fn from(v: u64) -> Self {
        Cmd::Int(v)
    }
}

impl From<String> for Cmd {
    fn from(v: String) -> Self {
        Cmd::Text(v)
    }
}

/// A random 63-bit value from the tester's stream, like Go's `rand.Int()`.
pub fn rand_int() -> u64 {
    sim::random_u64() >> 1
}

/// Sleeps for `d` of virtual time.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

/// What the appliers know: per peer, the commands it applied by index.
struct Applied {
    logs: Vec<BTreeMap<u64, Cmd>>,
    last_applied: Vec<u64>,
    max_index: u64,
}

impl Applied {
    /// MIT's `checkLogs`: no other peer may have applied a different command at this index.
    /// Returns an error message, and whether `index - 1` was applied before.
    fn check(&mut self, i: usize, index: u64, cmd: &Cmd) -> (Option<String>, bool) {
        let mut err = None;
        for (j, log) in self.logs.iter().enumerate() {
            if let Some(old) = log.get(&index) {
                if old != cmd {
                    err = Some(format!(
                        "commit index={index} server={i} {cmd:?} != server={j} {old:?} \
                         (two peers applied different commands at the same index)"
                    ));
                }
            }
        }
        let prev_ok = self.logs[i].contains_key(&(index - 1));
        self.logs[i].insert(index, cmd.clone());
        self.max_index = self.max_index.max(index);
        (err, prev_ok)
    }

    /// MIT's `ingestSnap`: a snapshot replaces what the peer has applied.
    fn ingest(&mut self, i: usize, snapshot: &[u8], index: Option<u64>) -> Result<(), String> {
        let (last, xlog): (u64, Vec<Option<Cmd>>) = labgob::decode(snapshot)
            .map_err(|e| format!("server {i}: snapshot does not decode: {e}"))?;
        if index.is_some_and(|index| index != last) {
            return Err(format!(
                "server {i} snapshot doesn't match the snapshot index {index:?}"
            ));
        }
        self.logs[i] = xlog
            .into_iter()
            .enumerate()
            .filter_map(|(j, c)| c.map(|c| (j as u64, c)))
            .collect();
        self.last_applied[i] = last;
        Ok(())
    }
}

/// A running peer as the tests see it: its Raft and the node it runs on, together. Every call
/// into the Raft goes through [`PeerRaft::on_peer`], which runs it as code of the peer's node
/// (`Node::enter`), as if the peer's own service made it: what the call spawns is the peer's (a
/// crash of the peer stops it), and what it panics is the peer's. Cheap to clone.
#[derive(Clone)]
pub struct PeerRaft {
    raft: Raft<Cmd>,
    node: Node,
}

impl PeerRaft {
    /// Runs `f` on this peer's Raft, as code of the peer's node. Every tester call into the
    /// Raft goes through here. On a crashed peer (a handle kept from before the crash) the call
    /// still runs, on a killed Raft, and whatever it spawns is stopped at once.
    #[track_caller]
    pub fn on_peer<R>(&self, f: impl FnOnce(&Raft<Cmd>) -> R) -> R {
        self.node.enter(|| f(&self.raft))
    }

    /// `Raft::start`, on the peer.
    #[track_caller]
    pub fn start(&self, cmd: Cmd) -> Option<(u64, u64)> {
        self.on_peer(|rf| rf.start(cmd))
    }

    /// `Raft::get_state`, on the peer.
    #[track_caller]
    pub fn get_state(&self) -> (u64, bool) {
        self.on_peer(|rf| rf.get_state())
    }

    /// `Raft::snapshot`, on the peer.
    #[track_caller]
    fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.on_peer(|rf| rf.snapshot(index, snapshot));
    }

    /// `Raft::kill`, on the peer.
    #[track_caller]
    fn kill(&self) {
        self.on_peer(|rf| rf.kill());
    }
}

struct Peer {
    /// The running incarnation, if any.
    running: Option<PeerRaft>,
    saved: Persister,
    ends: Vec<String>,
    connected: bool,
}

struct Begin {
    title: String,
    at: Duration,
    rpcs: u64,
    bytes: u64,
    max_index: u64,
}

/// The test configuration: `n` peers, their network, and the appliers' oracle.
pub struct Config {
    n: usize,
    net: Network,
    snapshot: bool,
    applied: Arc<Mutex<Applied>>,
    peers: Mutex<Vec<Peer>>,
    ends: EndMaker,
    begin: Mutex<Option<Begin>>,
    leaders: Mutex<Leaders>,
}

impl Config {
    /// MIT's `make_config(t, n, unreliable, snapshot)`: starts and connects `n` peers. Long
    /// delays are always on, as in MIT's Raft tester.
    pub fn new(n: usize, unreliable: bool, snapshot: bool) -> Arc<Config> {
        let net = Network::new();
        net.set_reliable(!unreliable);
        net.set_long_delays(true);
        let peers = (0..n)
            .map(|_| Peer {
                running: None,
                saved: Persister::new(),
                ends: Vec::new(),
                connected: false,
            })
            .collect();
        let cfg = Arc::new(Config {
            n,
            ends: EndMaker::new(net.clone()),
            net,
            snapshot,
            applied: Arc::new(Mutex::new(Applied {
                logs: vec![BTreeMap::new(); n],
                last_applied: vec![0; n],
                max_index: 0,
            })),
            peers: Mutex::new(peers),
            begin: Mutex::new(None),
            leaders: Mutex::new(Leaders::default()),
        });
        for i in 0..n {
            cfg.start1(i);
        }
        for i in 0..n {
            cfg.connect(i);
        }
        sim::spawn(watch_leaders(Arc::downgrade(&cfg)));
        cfg
    }

    /// Records which running peers (connected or not) claim to lead which term, and panics if
    /// two peers ever claimed the same term (see `leaders.rs`). Returns the claims, as (peer,
    /// term).
    pub fn check_election_safety(&self) -> Vec<(usize, u64)> {
        let mut claims = Vec::new();
        // Sampled every 5 ms all through every test: ask each running peer under one lock
        // rather than cloning its handle (get_state cannot call back into the tester).
        let peers = self.peers.lock();
        for (i, peer) in peers.iter().enumerate() {
            let Some(rf) = &peer.running else { continue };
            let (term, leader) = rf.get_state();
            if leader {
                if let Err(e) = self.leaders.lock().saw(term, i, sim::now()) {
                    panic!("{e}");
                }
                claims.push((i, term));
            }
        }
        claims
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Peer `i`'s Raft, if it is running (its calls run on the peer, see [`PeerRaft`]).
    pub fn raft(&self, i: usize) -> Option<PeerRaft> {
        self.peers.lock()[i].running.clone()
    }

    /// Peer `i`'s Raft; panics if it is crashed (a test bug).
    pub fn rf(&self, i: usize) -> PeerRaft {
        self.raft(i)
            .unwrap_or_else(|| panic!("tester: peer {i} is not running"))
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.peers.lock()[i].connected
    }

    /// MIT's `crash1`: disconnect, delete the server, keep a copy of the persister (so that
    /// nothing the old incarnation might still write is ever read), kill the peer and stop
    /// every task it had.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        let mut peers = self.peers.lock();
        let peer = &mut peers[i];
        peer.saved = peer.saved.copy();
        let running = peer.running.take();
        drop(peers);
        if let Some(peer) = running {
            peer.kill();
            peer.node.crash();
        }
    }

    /// MIT's `start1`: (re)starts peer `i` with fresh ends, a copy of its persisted state, and
    /// an applier. The peer stays disconnected until `connect`.
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        let (ends, clients) = self.ends.to_servers(&format!("peer{i}"), self.n);

        // crash1 above already gave the peer a fresh copy of its persister, which nothing of the
        // old incarnation holds: the new one gets that.
        let persister = self.peers.lock()[i].saved.clone();
        {
            let mut applied = self.applied.lock();
            applied.last_applied[i] = 0;
            let snapshot = persister.read_snapshot();
            if !snapshot.is_empty() {
                // Imitate a service that restores its state from the snapshot.
                if let Err(e) = applied.ingest(i, &snapshot, None) {
                    panic!("{e}");
                }
            }
        }

        let node = Node::new(format!("peer{i}"));
        let (tx, rx) = mpsc::unbounded_channel();
        let raft = node.enter(|| Raft::new(clients, i, persister, tx));
        let peer = PeerRaft { raft, node };
        let applied = self.applied.clone();
        // The applier is the tester's code, but lives and dies with the peer, like the one MIT
        // runs per peer: a crash stops it, and a failed check in it is the tester's.
        if self.snapshot {
            peer.node
                .spawn_tester(applier_snap(i, applied, peer.clone(), rx));
        } else {
            peer.node.spawn_tester(applier(i, applied, rx));
        }
        let server = peer.on_peer(|rf| {
            let mut server = Server::new();
            server.add_service(rf.service());
            server
        });
        self.net.add_server(&i.to_string(), server);
        let mut peers = self.peers.lock();
        peers[i].running = Some(peer);
        peers[i].ends = ends;
    }

    /// Attaches peer `i` to the network: enables its ends to and from every connected peer.
    pub fn connect(&self, i: usize) {
        let mut peers = self.peers.lock();
        peers[i].connected = true;
        for j in 0..self.n {
            if peers[j].connected {
                self.net.enable(&peers[i].ends[j], true);
                if !peers[j].ends.is_empty() {
                    self.net.enable(&peers[j].ends[i], true);
                }
            }
        }
    }

    /// Detaches peer `i` from the network: disables all its ends, both ways.
    pub fn disconnect(&self, i: usize) {
        let mut peers = self.peers.lock();
        peers[i].connected = false;
        for j in 0..self.n {
            if !peers[i].ends.is_empty() {
                self.net.enable(&peers[i].ends[j], false);
            }
            if !peers[j].ends.is_empty() {
                self.net.enable(&peers[j].ends[i], false);
            }
        }
    }

    pub fn set_unreliable(&self, unreliable: bool) {
        self.net.set_reliable(!unreliable);
    }

    pub fn set_long_reordering(&self, on: bool) {
        self.net.set_long_reordering(on);
    }

    /// Holds back (or lets go) the replies peer `from` gets to its calls to peer `to`, on its
    /// current ends (see `Network::hold_replies`). Not in MIT's tester.
    pub fn hold_replies(&self, from: usize, to: usize, hold: bool) {
        let end = self.peers.lock()[from].ends[to].clone();
        self.net.hold_replies(&end, hold);
    }

    /// Bytes sent on the network so far (MIT's `bytesTotal`).
    pub fn total_bytes(&self) -> u64 {
        self.net.total_bytes()
    }

    /// RPCs that reached peer `i`'s current server.
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.net.count(&i.to_string())
    }

    /// The largest persisted Raft state of any peer, in bytes.
    pub fn log_size(&self) -> usize {
        self.peers
            .lock()
            .iter()
            .map(|p| p.saved.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// MIT's `checkOneLeader`: within 10 rounds of 450-549 ms, exactly one leader in the
    /// newest term among connected peers. Returns it.
    pub async fn check_one_leader(&self) -> usize {
        let _step = labtest::step("check_one_leader: waiting for one leader");
        for _ in 0..10 {
            sleep(Duration::from_millis(450 + sim::random_range(0..100))).await;
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for (i, term) in self.check_election_safety() {
                if self.is_connected(i) {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, ls) in &leaders {
                assert!(
                    ls.len() <= 1,
                    "term {term} has {} (>1) leaders: peers {ls:?}",
                    ls.len()
                );
            }
            if let Some((_, ls)) = leaders.last_key_value() {
                return ls[0];
            }
        }
        panic!(
            "expected one leader, got none (checked 10 times over about 5 s; a majority of \
             connected peers must elect a leader within 5 s). Hint: a classic cause is an \
             election timer built on the wall clock. Time in these tests is virtual: the clock \
             jumps ahead whenever every task waits on a tokio timer, so 5 s of test take \
             milliseconds of real time. A timer that reads std::time::Instant or SystemTime \
             sees almost no time pass and rarely or never fires, and std::thread::sleep blocks \
             the simulation's only thread without moving virtual time: use tokio::time (sleep, \
             Instant, timeout) instead."
        );
    }

    /// MIT's `checkTerms`: all connected peers agree on the term. Returns it.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in 0..self.n {
            if self.is_connected(i) {
                if let Some(rf) = self.raft(i) {
                    let (t, _) = rf.get_state();
                    match term {
                        None => term = Some(t),
                        Some(t0) => assert_eq!(t0, t, "servers disagree on term"),
                    }
                }
            }
        }
        term.unwrap_or(0)
    }

    /// MIT's `checkNoLeader`: no connected peer claims to lead.
    pub fn check_no_leader(&self) {
        for i in 0..self.n {
            if self.is_connected(i) {
                if let Some(rf) = self.raft(i) {
                    let (_, leader) = rf.get_state();
                    assert!(
                        !leader,
                        "expected no leader among connected servers, but {i} claims to be leader"
                    );
                }
            }
        }
    }

    /// MIT's `nCommitted`: how many peers applied `index`, and the command they agree on.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        let applied = self.applied.lock();
        let mut count = 0;
        let mut cmd: Option<&Cmd> = None;
        for (i, log) in applied.logs.iter().enumerate() {
            if let Some(c) = log.get(&index) {
                if let Some(prev) = cmd {
                    assert_eq!(
                        prev, c,
                        "committed values do not match: index {index}, peer {i}"
                    );
                }
                count += 1;
                cmd = Some(c);
            }
        }
        (count, cmd.cloned())
    }

    /// MIT's `wait`: waits (up to about 20 s) for `n` peers to apply `index`. Returns `None`
    /// if some peer has moved past `start_term` (then nothing can be promised).
    pub async fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let _step = labtest::step(format!("wait: for {n} peers to apply index {index}"));
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            sleep(to).await;
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start_term) = start_term {
                for i in 0..self.n {
                    if self.raft(i).is_some_and(|rf| rf.get_state().0 > start_term) {
                        return None;
                    }
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        assert!(nd >= n, "only {nd} decided for index {index}; wanted {n}");
        cmd
    }

    /// MIT's `one`: submits `cmd` through whichever connected peer accepts it, and waits until
    /// `expected` peers applied it. Gives each attempt 2 s and the whole 10 s; with `retry`,
    /// a failed attempt is retried (possibly at a new index). Returns the index.
    pub async fn one(&self, cmd: impl Into<Cmd>, expected: usize, retry: bool) -> u64 {
        let cmd = cmd.into();
        let _step = labtest::step(format!(
            "one({}): waiting for {expected} peers to agree",
            cmd.short()
        ));
        let t0 = sim::now();
        let mut starts = 0;
        let mut accepted = None;
        while sim::now() - t0 < Duration::from_secs(10) {
            let mut index = None;
            for _ in 0..self.n {
                starts = (starts + 1) % self.n;
                if !self.is_connected(starts) {
                    continue;
                }
                if let Some(rf) = self.raft(starts) {
                    if let Some((i, _)) = rf.start(cmd.clone()) {
                        index = Some(i);
                        break;
                    }
                }
            }
            if let Some(index) = index {
                accepted = Some(index);
                let t1 = sim::now();
                while sim::now() - t1 < Duration::from_secs(2) {
                    let (nd, c) = self.n_committed(index);
                    if nd > 0 && nd >= expected && c.as_ref() == Some(&cmd) {
                        return index;
                    }
                    sleep(Duration::from_millis(20)).await;
                }
                if !retry {
                    self.fail_one(&cmd, expected, accepted);
                }
            } else {
                sleep(Duration::from_millis(50)).await;
            }
        }
        self.fail_one(&cmd, expected, accepted)
    }

    fn fail_one(&self, cmd: &Cmd, expected: usize, accepted: Option<u64>) -> ! {
        match accepted {
            None => panic!(
                "one({cmd:?}) failed to reach agreement: no connected peer accepted Start() as \
                 leader in 10 s"
            ),
            Some(index) => panic!(
                "one({cmd:?}) failed to reach agreement: a leader accepted it at index {index}, \
                 but only {} of the {expected} required peers applied it",
                self.n_committed(index).0
            ),
        }
    }

    /// MIT's `begin`: remembers where the measured part of the test starts.
    pub fn begin(&self, title: &str) {
        *self.begin.lock() = Some(Begin {
            title: title.to_string(),
            at: sim::now(),
            rpcs: self.net.total_count(),
            bytes: self.net.total_bytes(),
            max_index: self.applied.lock().max_index,
        });
    }

    /// MIT's `end`: prints the title and the "Passed" line with time, peers, RPCs, bytes and
    /// commands since `begin`.
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
            bytes: Some(self.net.total_bytes() - begin.bytes),
            cmds: self.applied.lock().max_index - begin.max_index,
        };
        report::print_passed(&begin.title, &m);
    }
}

/// Samples the peers' leadership claims until the test drops its configuration.
async fn watch_leaders(cfg: Weak<Config>) {
    loop {
        sleep(SAMPLE_INTERVAL).await;
        let Some(cfg) = cfg.upgrade() else { return };
        cfg.check_election_safety();
    }
}

/// MIT's `applier`: checks each applied command against all peers, and that none is skipped.
async fn applier(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
        let ApplyMsg::Command { index, command } = msg else {
            continue;
        };
        assert!(
            index > 0,
            "server {i} applied index 0 (the first log index is 1)"
        );
        let (err, prev_ok) = applied.lock().check(i, index, &command);
        if let Some(err) = err {
            panic!("apply error: {err}");
        }
        assert!(
            index == 1 || prev_ok,
            "apply error: server {i} apply out of order {index}"
        );
    }
}

/// MIT's `applierSnap`: as `applier`, in strict order, ingesting snapshots, and asking this
/// peer for a snapshot every `SNAPSHOT_INTERVAL` entries (a call that runs on the peer).
async fn applier_snap(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    raft: PeerRaft,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            ApplyMsg::Snapshot { index, data, .. } => {
                if let Err(e) = applied.lock().ingest(i, &data, Some(index)) {
                    panic!("apply error: {e}");
                }
            }
            ApplyMsg::Command { index, command } => {
                let snapshot = {
                    let mut a = applied.lock();
                    let expected = a.last_applied[i] + 1;
                    assert!(
                        index == expected,
                        "apply error: server {i} apply out of order, expected index {expected}, got {index}"
                    );
                    let (err, prev_ok) = a.check(i, index, &command);
                    if let Some(err) = err {
                        panic!("apply error: {err}");
                    }
                    assert!(
                        index == 1 || prev_ok,
                        "apply error: server {i} apply out of order {index}"
                    );
                    a.last_applied[i] = index;
                    ((index + 1) % SNAPSHOT_INTERVAL == 0).then(|| {
                        let xlog: Vec<Option<Cmd>> =
                            (0..=index).map(|j| a.logs[i].get(&j).cloned()).collect();
                        labgob::encode(&(index, xlog)).expect("tester: encode snapshot")
                    })
                };
                if let Some(snapshot) = snapshot {
                    raft.snapshot(index, snapshot);
                }
            }
        }
    }
}
