//! The Raft tester, after MIT's `raft/config.go` (2022): peers on a simulated network, appliers
//! that check every applied entry against every other peer, and the checkers the tests use.
//!
//! Timing constants are MIT's: `one()` has 10 s with 2 s per attempt, `check_one_leader` 10
//! rounds of 450-549 ms, the network has long delays on, snapshots every 10 entries.
//!
//! Beyond MIT: Election Safety is checked all through every test (`leaders.rs`), not only at
//! the instants `check_one_leader` looks.
//!
//! The peers' lifecycle (start, crash, connect) is `labtest::Cluster`'s. Every call the tester
//! makes into a peer's Raft (`start`, `get_state`, `snapshot`, `kill`) runs as code of that
//! peer's node, through [`PeerRaft`]: a task the call spawns dies with the peer, and a panic in
//! it is the peer's. The appliers (`appliers.rs`) are the tester's tasks on the peer's node
//! (`Node::spawn_tester`): a crash stops them, and a failed check in them is the tester's.
//!
//! Beyond MIT: the snapshot applier is a service that takes seeded random time
//! ([`ServiceTime`]), and a test can stall any peer's service ([`RaftTester::stall_service`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use labrpc::sim;
use labrpc::Network;
use labtest::report::{self, Measured};
use labtest::{Cluster, EndMaker, Links};
use parking_lot::Mutex;
use raft::{Configuration, Options, Persister};

use crate::appliers::{Applied, ServiceTime};
use crate::leaders::Leaders;
use crate::peers::RaftPeers;
pub use crate::peers::{Cmd, PeerRaft};

/// The name of the 2E PreVote RPC, which the "Passed" line counts apart.
const PRE_VOTE: &str = "Raft.PreVote";

/// MIT's `RaftElectionTimeout`: the tests give an election a second to complete.
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// The snapshot applier asks for a snapshot whenever `(index + 1) % SNAPSHOT_INTERVAL == 0`.
pub const SNAPSHOT_INTERVAL: u64 = 10;
/// 2D: the persisted Raft state must stay under this many bytes.
pub const MAX_LOG_SIZE: usize = 2000;

/// No 2E guard: MIT's elections (`Options::default()`, as a const to write the others from).
pub const NONE: Options = Options {
    pre_vote: false,
    check_quorum: false,
    lease_reads: false,
    clock_drift: 0.0,
};
/// Both 2E guards: PreVote and CheckQuorum.
pub const BOTH: Options = Options {
    pre_vote: true,
    check_quorum: true,
    ..NONE
};

/// A random 63-bit value from the tester's stream, like Go's `rand.Int()`.
pub fn rand_int() -> u64 {
    sim::random_u64() >> 1
}

/// Sleeps for `d` of virtual time.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

struct Begin {
    title: String,
    at: Duration,
    rpcs: u64,
    pre_votes: u64,
    bytes: u64,
    max_index: u64,
}

/// MIT's Raft `config`: `n` peers, their network, and the appliers' oracle.
pub struct RaftTester {
    n: usize,
    net: Network,
    peers: Cluster<RaftPeers>,
    applied: Arc<Mutex<Applied>>,
    services: Arc<Mutex<ServiceTime>>,
    begin: Mutex<Option<Begin>>,
    leaders: Mutex<Leaders>,
}

impl RaftTester {
    /// MIT's `make_config(t, n, unreliable, snapshot)`: starts and connects `n` peers. Long
    /// delays are always on, as in MIT's Raft tester.
    pub fn new(n: usize, unreliable: bool, snapshot: bool) -> Arc<RaftTester> {
        Self::with_options(n, unreliable, snapshot, Options::default())
    }

    /// [`RaftTester::new`], with peers made by `Raft::with_options(.., options)` (2E).
    pub fn with_options(
        n: usize,
        unreliable: bool,
        snapshot: bool,
        options: Options,
    ) -> Arc<RaftTester> {
        Self::build(n, unreliable, snapshot, options, None)
    }

    /// [`RaftTester::with_options`] of `n` peers made by `Raft::with_membership(.., initial)`
    /// when `initial` is given (2F, see `members.rs`): only the voters of `initial` are started
    /// and connected.
    pub(crate) fn build(
        n: usize,
        unreliable: bool,
        snapshot: bool,
        options: Options,
        initial: Option<Configuration>,
    ) -> Arc<RaftTester> {
        let net = Network::new();
        net.set_reliable(!unreliable);
        net.set_long_delays(true);
        let applied = Arc::new(Mutex::new(Applied::new(n)));
        let services = Arc::new(Mutex::new(ServiceTime::new(n)));
        let kind = RaftPeers {
            applied: applied.clone(),
            services: services.clone(),
            snapshot,
            options,
            initial: initial.clone(),
        };
        let cfg = Arc::new(RaftTester {
            n,
            peers: Cluster::new(kind, &EndMaker::new(net.clone()), Links::Switched, n),
            net,
            applied,
            services,
            begin: Mutex::new(None),
            leaders: Mutex::new(Leaders::default()),
        });
        let first: Vec<usize> = match &initial {
            None => (0..n).collect(),
            Some(initial) => initial.voters.iter().copied().collect(),
        };
        for &i in &first {
            cfg.peers.start(i);
        }
        for &i in &first {
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
        // Sampled at every instant all through every test: ask each running peer under one lock
        // rather than cloning its handle (get_state cannot call back into the tester).
        self.peers.for_each_running(|i, rf| {
            let (term, leader) = rf.enter(|rf| rf.get_state());
            if leader {
                if let Err(e) = self.leaders.lock().saw(term, i, sim::now()) {
                    panic!("{e}");
                }
                claims.push((i, term));
            }
        });
        claims
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Peer `i`'s Raft, if it is running (its calls run on the peer, see [`PeerRaft`]).
    pub fn raft(&self, i: usize) -> Option<PeerRaft> {
        self.peers.running(i).map(PeerRaft)
    }

    /// Peer `i`'s Raft; panics if it is crashed (a test bug).
    pub fn rf(&self, i: usize) -> PeerRaft {
        self.raft(i)
            .unwrap_or_else(|| panic!("tester: peer {i} is not running"))
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.peers.is_connected(i)
    }

    /// MIT's `crash1`: disconnect, delete the server, keep a copy of the persister (so that
    /// nothing the old incarnation might still write is ever read), kill the peer and stop
    /// every task it had.
    pub fn crash1(&self, i: usize) {
        self.peers.crash(i);
    }

    /// MIT's `start1`: (re)starts peer `i` with fresh ends, a copy of its persisted state, and
    /// an applier. The peer stays disconnected until `connect`.
    pub fn start1(&self, i: usize) {
        self.peers.start(i);
    }

    /// Attaches peer `i` to the network: enables its ends to and from every connected peer.
    pub fn connect(&self, i: usize) {
        self.peers.connect(i);
    }

    /// Detaches peer `i` from the network: disables all its ends, both ways.
    pub fn disconnect(&self, i: usize) {
        self.peers.disconnect(i);
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
        self.net.hold_replies(&self.peers.end_name(from, to), hold);
    }

    /// Holds back (or lets go, in send order) the requests peer `from` sends to peer `to`, on
    /// its current ends, before they reach `to`'s handlers (see `Network::hold_requests`). Not
    /// in MIT's tester.
    pub fn hold_requests(&self, from: usize, to: usize, hold: bool) {
        self.net.hold_requests(&self.peers.end_name(from, to), hold);
    }

    /// Lets `from`'s newer requests to `to` overtake those held so far, which stay held until
    /// `hold_requests(from, to, false)` (see `Network::keep_held_requests`). Not in MIT's
    /// tester.
    pub fn keep_held_requests(&self, from: usize, to: usize) {
        self.net.keep_held_requests(&self.peers.end_name(from, to));
    }

    /// Whether the snapshot appliers take seeded random time (on by default; see
    /// [`ServiceTime`]). A test that times the services itself turns it off. Not in MIT's
    /// tester.
    pub fn set_service_time(&self, random: bool) {
        self.services.lock().set_random(random);
    }

    /// Stalls peer `i`'s service (its applier, either kind) for `d` from now: it handles no
    /// message from Raft and, if it is between applying a command and asking for a snapshot,
    /// makes no `snapshot` call. Raft goes on meanwhile: its deliveries queue up on the apply
    /// channel. A stall of zero ends the current one. Not in MIT's tester.
    pub fn stall_service(&self, i: usize, d: Duration) {
        self.services.lock().stall(i, d);
    }

    /// The last index the snapshot peer `i` has persisted covers (0 if none): the tester's
    /// snapshots name their index. Not in MIT's tester.
    pub fn persisted_snapshot_index(&self, i: usize) -> u64 {
        let snapshot = self.peers.persisters()[i].read_snapshot();
        if snapshot.is_empty() {
            return 0;
        }
        labgob::decode::<(u64, Vec<Option<Cmd>>)>(&snapshot).map_or(0, |(index, _)| index)
    }

    /// Bytes sent on the network so far (MIT's `bytesTotal`).
    pub fn total_bytes(&self) -> u64 {
        self.net.total_bytes()
    }

    /// RPCs that reached peer `i`'s current server.
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.peers.rpc_count(i)
    }

    /// The largest persisted Raft state of any peer, in bytes.
    pub fn log_size(&self) -> usize {
        let persisters = self.peers.persisters();
        persisters
            .iter()
            .map(Persister::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// Commands the appliers have checked, re-applications after restarts included. Not in
    /// MIT's tester.
    pub fn commands_checked(&self) -> u64 {
        self.applied.lock().checked
    }

    /// Saves of every peer's persister so far, over all its incarnations, and the bytes they
    /// were given (see [`Persister::save_stats`]). Not in MIT's tester.
    pub fn save_stats(&self) -> (u64, u64) {
        let persisters = self.peers.persisters();
        persisters
            .iter()
            .map(Persister::save_stats)
            .fold((0, 0), |(s, b), (s1, b1)| (s + s1, b + b1))
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

    /// What peer `i` applied at `index`, if anything (2F). Not in MIT's tester.
    pub fn applied_at(&self, i: usize, index: u64) -> Option<Cmd> {
        self.applied.lock().get(i, index).cloned()
    }

    /// MIT's `nCommitted`: how many peers applied `index`, and the command they agree on.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        let applied = self.applied.lock();
        let mut count = 0;
        let mut cmd: Option<&Cmd> = None;
        for i in 0..applied.peers() {
            if let Some(c) = applied.get(i, index) {
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
            pre_votes: self.net.method_count(PRE_VOTE),
            bytes: self.net.total_bytes(),
            max_index: self.applied.lock().max_index,
        });
    }

    /// MIT's `end`: prints the title and the "Passed" line with time, peers, RPCs, bytes and
    /// commands since `begin`. With PreVote on (2E), the RPCs column leaves out the pre-votes,
    /// which the line counts after it.
    pub fn end(&self) {
        let begin = self
            .begin
            .lock()
            .take()
            .expect("tester: end() without begin()");
        let pre_votes = self.net.method_count(PRE_VOTE) - begin.pre_votes;
        let m = Measured {
            time: sim::now() - begin.at,
            peers: self.n,
            rpcs: self.net.total_count() - begin.rpcs - pre_votes,
            bytes: Some(self.net.total_bytes() - begin.bytes),
            cmds: self.applied.lock().max_index - begin.max_index,
        };
        if self.peers.kind().options.pre_vote {
            println!(
                "{}  +{pre_votes} pre-votes",
                report::passed(&begin.title, &m)
            );
            report::record_rpcs(m.rpcs + pre_votes);
            sim::add_to_result("pre_votes", pre_votes);
        } else {
            report::print_passed(&begin.title, &m);
        }
    }

    /// MIT's `partition(p1, p2)`: each side linked inside, cut off from the other.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.peers.partition(p1, p2);
    }

    /// Sets whether peer `from`'s end to peer `to` delivers, one way only (the way back, `to`'s
    /// end to `from`, stays as it is). Not in MIT's tester.
    pub fn set_link(&self, from: usize, to: usize, on: bool) {
        self.net.enable(&self.peers.end_name(from, to), on);
    }
}

/// Samples the peers' leadership claims until the test drops its tester: at the end of every
/// instant at which anything ran, when the claims are what they stay until the clock moves.
/// (`settled` adds no instant of its own; a 5 ms timer did, and cost as much as the peers.)
async fn watch_leaders(cfg: Weak<RaftTester>) {
    loop {
        sim::settled(Duration::ZERO).await;
        let Some(cfg) = cfg.upgrade() else { return };
        cfg.check_election_safety();
    }
}
