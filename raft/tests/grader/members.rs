//! 2F (beyond MIT): the tester's side of cluster membership change.
//!
//! A membership tester ([`RaftTester::with_membership`]) makes a *universe* of peers: every
//! peer gets ends to every peer of the universe, and every peer (first voters and later joiners
//! alike) is made by `Raft::with_membership` with the same initial configuration, the first
//! voters. Only those start; a joiner starts when a test adds it ([`RaftTester::add_peer`]),
//! and a peer the test is done with is retired ([`RaftTester::retire`], a crash for good).
//!
//! Configuration entries are commands of the tester's own type ([`Cmd::Config`]), so the
//! appliers check them like any other command: two peers that apply different configurations
//! (or a configuration and a command) at one index fail the test.
//!
//! Every wait here is bounded in virtual time and fails with a message that names what did not
//! happen and the rule behind it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim;
use raft::{ConfigChange, ConfigError, Configuration, Options};
use tokio::task::JoinHandle;

use crate::tester::{rand_int, sleep, Cmd, PeerRaft, RaftTester, SNAPSHOT_INTERVAL};

/// How long a change may take to be accepted by a leader, and then to be applied.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

impl PeerRaft {
    /// `Raft::change_config`, on the peer.
    #[track_caller]
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        self.0.enter(|rf| rf.change_config(change))
    }

    /// `Raft::configuration`, on the peer.
    #[track_caller]
    pub fn configuration(&self) -> Configuration {
        self.0.enter(|rf| rf.configuration())
    }
}

/// A change a leader accepted: the index of its entry, the leader, and the configuration the
/// leader went by right after (the one the entry holds).
#[derive(Clone, Debug)]
pub struct Accepted {
    pub index: u64,
    pub leader: usize,
    pub config: Configuration,
}

impl RaftTester {
    /// A tester for 2F: a universe of `universe` peers, of which the voters of `initial` start
    /// (and connect); every peer, joiners included, is made by `Raft::with_membership` with
    /// `initial` as its configuration before the log's first entry.
    pub fn with_membership(
        universe: usize,
        initial: &[usize],
        unreliable: bool,
        snapshot: bool,
        options: Options,
    ) -> Arc<RaftTester> {
        let initial = Configuration::of(initial.iter().copied());
        Self::build(universe, unreliable, snapshot, options, Some(initial))
    }

    /// Starts peer `i`, a joiner, and connects it.
    pub fn add_peer(&self, i: usize) {
        assert!(
            self.raft(i).is_none(),
            "tester: peer {i} is running already"
        );
        self.start1(i);
        self.connect(i);
    }

    /// Retires peer `i`, which the test is done with: it crashes for good.
    pub fn retire(&self, i: usize) {
        self.crash1(i);
    }

    /// Asks whichever connected peer leads for the change `change(leader)` makes, for up to
    /// [`CHANGE_TIMEOUT`]: a leader that answers `NoEntryOfTerm` gets an ordinary command
    /// (once per term) so that it can commit an entry of its term, and `NotLeader` or
    /// `ChangeInProgress` are asked again 20 ms later. `Invalid` from a leader fails at once:
    /// the tests only ask for changes that the configuration allows.
    pub async fn propose(&self, what: &str, change: impl Fn(usize) -> ConfigChange) -> Accepted {
        let _step = labtest::step(format!("propose: waiting for a leader to accept {what}"));
        let t0 = sim::now();
        let mut answers: BTreeMap<usize, String> = BTreeMap::new();
        let mut nudged: BTreeMap<usize, u64> = BTreeMap::new();
        while sim::now() - t0 < CHANGE_TIMEOUT {
            for i in 0..self.n() {
                let Some(rf) = self.raft(i).filter(|_| self.is_connected(i)) else {
                    continue;
                };
                let c = change(i);
                let answer = rf.change_config(c.clone());
                match answer {
                    Ok((index, _)) => {
                        let config = rf.configuration();
                        return Accepted {
                            index,
                            leader: i,
                            config,
                        };
                    }
                    Err(ConfigError::Invalid) if rf.get_state().1 => panic!(
                        "peer {i} refused {c:?} ({what}) as Invalid, but its configuration {:?} \
                         allows it",
                        rf.configuration()
                    ),
                    Err(ConfigError::NoEntryOfTerm) => {
                        // Commit an entry of its term for it, once per term.
                        let (term, _) = rf.get_state();
                        if nudged.insert(i, term) != Some(term) {
                            rf.start(Cmd::Int(rand_int()));
                        }
                    }
                    Err(ConfigError::NotLeader) if rf.get_state().1 => {
                        let term = rf.get_state().0;
                        answers.insert(i, format!("NotLeader, though it leads term {term}"));
                        continue;
                    }
                    Err(_) => {}
                }
                answers.insert(i, format!("{answer:?}"));
            }
            sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no leader accepted {what} within {CHANGE_TIMEOUT:?} (the last answers, by peer: \
             {answers:?}): a leader that has committed an entry of its term, and whose latest \
             configuration entry is committed, must accept a valid change"
        );
    }

    /// [`propose`](Self::propose), then waits until `members` all applied the entry. If the
    /// entry is lost (another command is applied at its index: the leader lost its leadership
    /// before it committed), proposes again.
    pub async fn change(
        &self,
        what: &str,
        change: impl Fn(usize) -> ConfigChange,
        members: &[usize],
    ) -> Accepted {
        for _ in 0..3 {
            let accepted = self.propose(what, &change).await;
            let cmd = self.wait_applied(accepted.index, members, what).await;
            match cmd {
                Cmd::Config(c) if c == accepted.config => return accepted,
                Cmd::Config(c) => panic!(
                    "peer {} accepted {what} at index {}, and right after said its \
                     configuration was {:?}, but the entry committed there holds {c:?} \
                     (configuration() must be the latest configuration in the log)",
                    accepted.leader, accepted.index, accepted.config
                ),
                _ => {} // Lost to a new leader: ask again.
            }
        }
        panic!("tester: {what} was lost three times in a row before it committed");
    }

    /// Waits (up to [`CHANGE_TIMEOUT`]) until every peer of `peers` applied `index`; returns
    /// the command there. A new leader commits nothing of an earlier term until an entry of its
    /// own commits: after a second of waiting, every second, each connected peer that leads
    /// gets an ordinary command.
    pub async fn wait_applied(&self, index: u64, peers: &[usize], what: &str) -> Cmd {
        let _step = labtest::step(format!(
            "wait_applied: waiting for peers {peers:?} to apply index {index} ({what})"
        ));
        let t0 = sim::now();
        let mut nudge = t0 + Duration::from_secs(1);
        loop {
            let missing: Vec<usize> = peers
                .iter()
                .copied()
                .filter(|&i| self.applied_at(i, index).is_none())
                .collect();
            if missing.is_empty() {
                // n_committed checks that every peer applied the same command there.
                return self.n_committed(index).1.expect("applied");
            }
            let now = sim::now();
            assert!(
                now - t0 < CHANGE_TIMEOUT,
                "{what}, at index {index}, was not applied by peers {missing:?} within \
                 {CHANGE_TIMEOUT:?} (applied there by {} peers); a change commits on a majority \
                 of the configuration in the leader's log, and the leader then sends the commit \
                 index to every voter",
                self.n_committed(index).0
            );
            if now >= nudge {
                nudge = now + Duration::from_secs(1);
                for i in 0..self.n() {
                    if let Some(rf) = self.raft(i).filter(|_| self.is_connected(i)) {
                        if rf.get_state().1 {
                            rf.start(Cmd::Int(rand_int()));
                        }
                    }
                }
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// The index, after `after`, at which some peer applied the configuration entry `config`,
    /// if one did (the appliers apply in order, so the search stops at the first index no peer
    /// applied).
    pub fn applied_config(&self, after: u64, config: &Configuration) -> Option<u64> {
        let mut index = after + 1;
        loop {
            match self.n_committed(index) {
                (0, _) => return None,
                (_, Some(Cmd::Config(c))) if c == *config => return Some(index),
                _ => index += 1,
            }
        }
    }

    /// Waits (up to [`CHANGE_TIMEOUT`]) until the configuration entry `config` is applied, at
    /// an index after `after`, by every peer of `peers`; returns its index. `why` says who
    /// should have appended it.
    pub async fn wait_config(
        &self,
        after: u64,
        config: &Configuration,
        peers: &[usize],
        why: &str,
    ) -> u64 {
        let _step = labtest::step(format!("wait_config: waiting for {config:?} to commit"));
        let t0 = sim::now();
        loop {
            if let Some(index) = self.applied_config(after, config) {
                self.wait_applied(index, peers, &format!("{config:?}"))
                    .await;
                return index;
            }
            assert!(
                sim::now() - t0 < CHANGE_TIMEOUT,
                "no peer applied the configuration {config:?} after index {after} within \
                 {CHANGE_TIMEOUT:?}: {why}"
            );
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Peer `i` applied every index from 1 through `through`: a joiner holds every command
    /// committed before it joined.
    pub fn check_holds(&self, i: usize, through: u64) {
        for index in 1..=through {
            assert!(
                self.applied_at(i, index).is_some(),
                "peer {i} applied index {through} but never index {index}: a peer that joins \
                 must receive the whole log (entries or a snapshot) before it applies anything"
            );
        }
    }

    /// Every peer of `peers` goes by the same configuration; returns it.
    pub fn check_same_configuration(&self, peers: &[usize]) -> Configuration {
        let configs: BTreeMap<usize, Configuration> = peers
            .iter()
            .map(|&i| (i, self.rf(i).configuration()))
            .collect();
        let first = &configs[&peers[0]];
        assert!(
            configs.values().all(|c| c == first),
            "after a command committed on all of them, peers {peers:?} go by different \
             configurations: {configs:?} (a peer's configuration is the latest in its log, and \
             their logs agree up to the commit)"
        );
        first.clone()
    }

    /// Waits (up to 10 s) until one of `voters`, the initial configuration, leads; returns it.
    pub async fn first_leader(&self, voters: &[usize]) -> usize {
        let _step = labtest::step("first_leader: waiting for the first voters to elect a leader");
        self.leader_among(voters, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "the initial voters {voters:?} of a universe of {} peers elected no leader \
                     within 10 s: a peer made by with_membership counts votes among the voters \
                     of its configuration (initially `initial`), not among all its ends",
                    self.n()
                )
            })
    }

    /// A leader that has committed an entry of its term (a command the tester started on it),
    /// so that nothing stops it from accepting a change but the change itself.
    pub async fn committed_leader(&self) -> usize {
        for _ in 0..5 {
            let l = self.check_one_leader().await;
            let rf = self.rf(l);
            let (term, _) = rf.get_state();
            if let Some((index, _)) = rf.start(Cmd::Int(rand_int())) {
                self.wait_applied(index, &[l], "a command").await;
                if rf.get_state() == (term, true) {
                    return l;
                }
            }
        }
        panic!("tester: the leader kept changing, 5 times, on a reliable network");
    }

    /// Peer `peer` claims no leadership for `d` (checked every 10 ms); `why` says why not.
    pub async fn never_leads(&self, peer: usize, d: Duration, why: &str) {
        let until = sim::now() + d;
        while sim::now() < until {
            let (term, leader) = self.rf(peer).get_state();
            assert!(!leader, "peer {peer} claims to lead term {term} {why}");
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// The connected peer that claims to lead the newest term, if any, now.
    pub fn leader_now(&self) -> Option<usize> {
        let claims = self.check_election_safety();
        let connected = claims.into_iter().filter(|&(i, _)| self.is_connected(i));
        connected.max_by_key(|&(_, term)| term).map(|(i, _)| i)
    }

    /// Commits `n` commands on `expected` peers, in rounds of [`SNAPSHOT_INTERVAL`]: all but
    /// the last of a round started on the leader at once, the last through `one()`.
    pub async fn commit_many(&self, n: u64, expected: usize) {
        let mut left = n;
        while left > 0 {
            let round = left.min(SNAPSHOT_INTERVAL);
            if let Some(l) = self.leader_now() {
                for _ in 1..round {
                    self.rf(l).start(Cmd::Int(rand_int()));
                }
            }
            self.one(rand_int(), expected, true).await;
            left -= round;
        }
    }

    /// Waits up to `within` for one of `peers` to claim leadership; returns it.
    pub async fn leader_among(&self, peers: &[usize], within: Duration) -> Option<usize> {
        let t0 = sim::now();
        while sim::now() - t0 < within {
            let claims = self.check_election_safety();
            let newest = claims
                .iter()
                .filter(|(i, _)| peers.contains(i))
                .max_by_key(|c| c.1);
            if let Some(&(i, _)) = newest {
                return Some(i);
            }
            sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

/// `peers` as a set.
pub fn set(peers: &[usize]) -> BTreeSet<usize> {
    peers.iter().copied().collect()
}

/// Polls `cond` every 10 ms for up to `d`; whether it held.
pub async fn within(d: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = sim::now() + d;
    loop {
        if cond() {
            return true;
        }
        if sim::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// A background load: a task that commits one command after another with `one()` (each on
/// at least one peer, retrying for 10 s before it fails the test), until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Load {
    pub fn start(cfg: &Arc<RaftTester>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let (cfg, stop2, committed2) = (cfg.clone(), stop.clone(), committed.clone());
        let task = sim::spawn(async move {
            while !stop2.load(Ordering::SeqCst) {
                cfg.one(rand_int(), 1, true).await;
                committed2.fetch_add(1, Ordering::SeqCst);
            }
        });
        Load {
            stop,
            committed,
            task,
        }
    }

    /// Commands the load committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Waits (up to 10 s) until the load committed `n` more commands; `when` says when.
    pub async fn progress(&self, n: u64, when: &str) {
        let _step = labtest::step(format!("load: waiting for {n} commands to commit {when}"));
        let (c0, t0) = (self.committed(), sim::now());
        while self.committed() < c0 + n {
            assert!(
                sim::now() - t0 < Duration::from_secs(10),
                "only {} commands committed in 10 s {when}, {n} expected: a change of \
                 configuration must not stop the cluster from committing",
                self.committed() - c0
            );
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the load and waits for its last command (at most 10 s).
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let committed = self.committed.clone();
        self.task.await.expect("the load task failed");
        committed.load(Ordering::SeqCst)
    }
}
