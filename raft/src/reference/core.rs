//! The Raft protocol as a pure state machine: no tasks, no clock, no network, no disk.
//!
//! This is the design of etcd's raft and TiKV's raft-rs. Everything that happens to a peer is an
//! input to [`Core`], given under the caller's lock and processed at once:
//!
//! * [`Core::tick`]: one unit of time has passed (the driver ticks every 10 ms);
//! * [`Core::propose`] and [`Core::compact`]: the service's `start` and `snapshot`;
//! * `handle_*`: an RPC request from a peer, which returns the reply at once;
//! * `handle_*_reply`: the outcome of an RPC this peer sent: the reply, or `None` if the network
//!   reported none. The request comes back with it, so a reply is always interpreted against
//!   what was actually asked, never against state that has moved on since.
//!
//! After each input the caller takes the [`Ready`]: the state to persist (if it changed), the
//! messages to send, and the committed commands or snapshot to hand to the service, in that
//! order of duty: persist before any reply or message leaves, since both may promise what was
//! persisted (a vote, an entry).
//!
//! Keeping the protocol free of I/O makes every rule testable without a network (the unit
//! tests drive a cluster of cores by hand) and keeps the async driver (`mod.rs`) trivial.
//!
//! Replication (leader side) is in `replication.rs`, elections in `election.rs`, the bytes a
//! core persists in `persist.rs`, membership change in `membership.rs`, reads without the log
//! in `reads.rs`; this file holds the state, the follower side and snapshots.

use std::collections::VecDeque;
use std::ops::Range;

use super::log::{Entry, Log};
use super::membership::{Configs, Membership, Peers, MAX_PEERS};
use super::messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, PreVoteArgs,
    RequestVoteArgs,
};
use super::persist::{decode_state, Persist};
use crate::{ApplyMsg, Command, ReadError};

use super::reads::PendingRead;
use super::replication::Progress;

/// Timing, in ticks, and the cluster's shape.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// This peer's id.
    pub id: usize,
    /// Number of peers, this one included: the universe, with membership change (lab 2F),
    /// of which the configuration picks the voters.
    pub peers: usize,
    /// Range the election timeout is drawn from, anew at each reset. Long compared with the
    /// heartbeat interval so a live leader is not deposed by one lost heartbeat; random so that
    /// candidates rarely split the vote.
    pub election_ticks: Range<u64>,
    /// A leader sends a follower something at least this often.
    pub heartbeat_ticks: u64,
    /// Lab 2E: ask for pre-votes before standing (see `election.rs`).
    pub pre_vote: bool,
    /// Lab 2E: a leader that stops hearing from a majority steps down; a peer that hears from
    /// a leader ignores RequestVotes from newer terms (see `election.rs`).
    pub check_quorum: bool,
    /// Lab 3C: how long a leader may serve lease reads after heartbeats a majority answered
    /// were sent (0: no lease reads). Safe only with `check_quorum` and below the shortest
    /// election timeout by the clock drift allowed (see `reads.rs`).
    pub lease_ticks: u64,
    /// The heartbeat interval for a follower that has not answered anything for a whole
    /// `election_ticks.end`: most likely crashed or cut off, so probing it at the full rate only
    /// adds traffic. Keep it below `election_ticks.start`, so that a follower that comes back
    /// hears from the leader before its election timer can fire.
    pub silent_heartbeat_ticks: u64,
}

/// The source of randomness for election timeouts: a uniform draw from a range. The driver
/// passes the simulation's per-node generator, tests a seeded one.
pub type Random = Box<dyn FnMut(Range<u64>) -> u64 + Send>;

/// What a peer currently is (section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Answers leaders and candidates; starts an election when it hears from no leader.
    Follower,
    /// Lab 2E, PreVote: asks whether it could win the next term, before standing in it.
    PreCandidate,
    /// Asks for votes for itself in the current term.
    Candidate,
    /// Handles proposals and replicates the log.
    Leader,
}

/// An RPC request this peer wants sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Request<C> {
    /// RequestVote.
    Vote(RequestVoteArgs),
    /// PreVote (lab 2E).
    PreVote(PreVoteArgs),
    /// AppendEntries.
    Append(AppendEntriesArgs<C>),
    /// InstallSnapshot.
    Snapshot(InstallSnapshotArgs),
}

/// An outgoing message: `request` for peer `to`. The driver hands `seq` back with the outcome;
/// the leader uses it to tell which replication message a reply answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Message<C> {
    /// The peer to send to.
    pub to: usize,
    /// This peer's number for the message (increasing).
    pub seq: u64,
    /// What to send.
    pub request: Request<C>,
}

/// What the driver must do after an input, in this order.
#[derive(Debug)]
pub struct Ready<C> {
    /// Save this before sending anything or returning a reply.
    pub persist: Option<Persist>,
    /// Send these, each on its own: none may wait for another.
    pub messages: Vec<Message<C>>,
    /// Deliver these to the service, in order, after everything delivered before.
    pub apply: Vec<ApplyMsg<C>>,
    /// Answers to reads ([`Core::read_index`]), by the number the driver gave each.
    pub reads: Vec<(u64, Result<u64, ReadError>)>,
}

/// One Raft peer's protocol state.
pub struct Core<C> {
    pub(super) cfg: CoreConfig,
    random: Random,

    // Persistent (Figure 2), plus the snapshot, which is saved beside them.
    pub(super) term: u64,
    pub(super) voted_for: Option<usize>,
    pub(super) log: Log<C>,
    pub(super) snapshot: Vec<u8>,
    /// The configurations in the log and at the snapshot (lab 2F; fixed without membership).
    pub(super) configs: Configs<C>,

    // Volatile.
    pub(super) role: Role,
    pub(super) commit: u64,
    /// Last index handed to the driver for delivery (Figure 2's lastApplied, from Raft's side).
    applied: u64,
    election_elapsed: u64,
    election_timeout: u64,
    /// Candidate and pre-candidate only: who granted a vote (or pre-vote) in this election.
    pub(super) votes: Vec<bool>,
    /// When (`now`) this peer last heard from the leader of its current term, if it has.
    pub(super) leader_heard: Option<u64>,
    /// Leader with CheckQuorum only: ticks into the current round.
    pub(super) quorum_elapsed: u64,
    /// Leader only: reads waiting for their heartbeat round, in order of arrival.
    pub(super) pending_reads: VecDeque<PendingRead>,
    /// Leader only: replication state per peer (the entry for this peer is unused).
    pub(super) progress: Vec<Progress>,
    pub(super) next_seq: u64,
    /// Ticks since this peer started.
    pub(super) now: u64,

    // Output accumulated for the next Ready.
    pub(super) state_dirty: bool,
    snapshot_dirty: bool,
    messages: Vec<Message<C>>,
    apply: Vec<ApplyMsg<C>>,
    pub(super) read_results: Vec<(u64, Result<u64, ReadError>)>,
}

impl<C: Command> Core<C> {
    /// A peer restored from what it persisted (`state` empty on a first start): term, vote,
    /// log and snapshot come back; everything covered by the snapshot counts as committed and
    /// applied, since the service restores the snapshot itself.
    pub fn new(cfg: CoreConfig, random: Random, state: &[u8], snapshot: Vec<u8>) -> Core<C> {
        let configs = Configs::fixed(cfg.peers);
        Self::restore(cfg, random, state, snapshot, configs)
    }

    /// [`Core::new`] for a peer whose configuration changes through its log (lab 2F).
    pub fn with_membership(
        cfg: CoreConfig,
        random: Random,
        state: &[u8],
        snapshot: Vec<u8>,
        membership: Membership<C>,
    ) -> Core<C> {
        Self::restore(cfg, random, state, snapshot, Configs::changing(membership))
    }

    fn restore(
        cfg: CoreConfig,
        random: Random,
        state: &[u8],
        snapshot: Vec<u8>,
        mut configs: Configs<C>,
    ) -> Core<C> {
        assert!(cfg.id < cfg.peers && !cfg.election_ticks.is_empty());
        assert!(cfg.peers <= MAX_PEERS, "raft: at most {MAX_PEERS} peers");
        let (term, voted_for, log) = decode_state(state, &mut configs);
        let base = log.snapshot_index();
        let mut core = Core {
            random,
            term,
            voted_for,
            log,
            snapshot,
            configs,
            role: Role::Follower,
            commit: base,
            applied: base,
            election_elapsed: 0,
            election_timeout: 0,
            votes: vec![false; cfg.peers],
            // With CheckQuorum a peer behaves at boot as if it had just heard from a leader:
            // it refuses votes for a minimum election timeout. Before a crash it may have
            // answered a leader's heartbeat, promising that (the promise lease reads rely on,
            // `reads.rs`), and a restart must not break it.
            leader_heard: cfg.check_quorum.then_some(0),
            quorum_elapsed: 0,
            pending_reads: VecDeque::new(),
            progress: Vec::new(),
            next_seq: 0,
            now: 0,
            state_dirty: false,
            snapshot_dirty: false,
            messages: Vec::new(),
            apply: Vec::new(),
            read_results: Vec::new(),
            cfg,
        };
        core.reset_election_timer();
        core
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Whether this peer believes it leads the current term.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub(super) fn me(&self) -> usize {
        self.cfg.id
    }

    /// The other voters' ids (every other peer, without membership change), in increasing
    /// order: the peers this one talks to.
    pub(super) fn others(&self) -> Peers {
        self.configs.voters().others(self.cfg.id)
    }

    /// One tick of time: leaders count down to heartbeats, others to an election.
    pub fn tick(&mut self) {
        self.now += 1;
        if self.role == Role::Leader {
            self.tick_heartbeats();
            self.expire_reads();
            self.tick_check_quorum();
            return;
        }
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.election_timed_out();
        }
    }

    /// How many ticks from now the next [`tick`](Self::tick) that can do anything is: the
    /// election timeout, or a leader's next heartbeat. Never later than the truth (it may be
    /// earlier, e.g. a follower turning silent gets heartbeats less often), so a driver may
    /// skip the ticks before it; any input may bring it closer, so the driver asks again after
    /// each. At least 1.
    pub fn ticks_until_due(&self) -> u64 {
        if self.role == Role::Leader {
            return self
                .ticks_until_heartbeat()
                .min(self.ticks_until_quorum_check());
        }
        self.election_timeout
            .saturating_sub(self.election_elapsed)
            .max(1)
    }

    /// The service proposes `command`. Returns its index and term if this peer is the leader;
    /// replication starts at once (see `replication.rs` for how it batches).
    pub fn propose(&mut self, command: C) -> Option<(u64, u64)> {
        if self.role != Role::Leader {
            return None;
        }
        assert!(
            !self.configs.is_config(&command),
            "raft: a configuration entry proposed with start(); use change_config()"
        );
        Some(self.append_own(command))
    }

    /// Appends `command` to this leader's log, in its term, and starts replicating it.
    pub(super) fn append_own(&mut self, command: C) -> (u64, u64) {
        let term = self.term;
        let index = self.log.append(Entry { term, command });
        self.configs.log_changed(&self.log, index);
        self.state_dirty = true;
        self.replicate_new_entries();
        (index, term)
    }

    /// The service has a snapshot holding everything through `index`: drop the log up to there.
    /// Ignored if an equal or newer snapshot is in place (the service may snapshot an index that
    /// an InstallSnapshot has overtaken meanwhile) or if `index` was never handed out.
    pub fn compact(&mut self, index: u64, data: Vec<u8>) {
        if index <= self.log.snapshot_index() || index > self.applied {
            return;
        }
        let term = self.log.entry(index).term;
        self.log.compact(index, term);
        self.configs.compacted(index, None);
        self.snapshot = data;
        self.state_dirty = true;
        self.snapshot_dirty = true;
        tracing::debug!(kind = "snapshot", "log compacted through {index}");
    }

    /// Takes what the driver must do now (see [`Ready`]).
    pub fn ready(&mut self) -> Ready<C> {
        // Everything newly committed goes out, in order, after what went out before.
        let from = self.applied + 1;
        self.apply
            .extend((from..=self.commit).map(|index| ApplyMsg::Command {
                index,
                command: self.log.entry(index).command.clone(),
            }));
        self.applied = self.applied.max(self.commit);
        let persist = if self.state_dirty || self.snapshot_dirty {
            let (keep, appended) = self.log.take_unsaved();
            Some(Persist {
                head: self.encode_head(),
                keep,
                appended,
                snapshot: self.snapshot_dirty.then(|| self.snapshot.clone()),
            })
        } else {
            None
        };
        self.state_dirty = false;
        self.snapshot_dirty = false;
        Ready {
            persist,
            messages: std::mem::take(&mut self.messages),
            apply: std::mem::take(&mut self.apply),
            reads: std::mem::take(&mut self.read_results),
        }
    }

    /// Takes back a `Ready` whose messages and deliveries the driver has drained, so that the
    /// next one reuses their buffers instead of allocating (one `Ready` per input). Only small
    /// buffers are kept: a restart's replay of a long log must not stay allocated.
    pub fn recycle(&mut self, ready: Ready<C>) {
        const KEEP: usize = 64;
        if self.messages.capacity() == 0 && ready.messages.capacity() <= KEEP {
            self.messages = ready.messages;
            self.messages.clear();
        }
        if self.apply.capacity() == 0 && ready.apply.capacity() <= KEEP {
            self.apply = ready.apply;
            self.apply.clear();
        }
    }

    /// Queues `request` for peer `to`; returns the message's sequence number.
    pub(super) fn send(&mut self, to: usize, request: Request<C>) -> u64 {
        self.next_seq += 1;
        self.messages.push(Message {
            to,
            seq: self.next_seq,
            request,
        });
        self.next_seq
    }

    // ---- Terms, roles and elections (section 5.2) ----

    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.election_timeout = (self.random)(self.cfg.election_ticks.clone());
    }

    /// Every request and reply carries a term; a newer one makes this peer a follower of it.
    pub(super) fn observe_term(&mut self, term: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.leader_heard = None;
            self.state_dirty = true;
            self.become_follower();
        }
    }

    pub(super) fn become_follower(&mut self) {
        if self.role == Role::Leader {
            self.fail_reads();
            // A leader's election timer did not run; start it afresh rather than from
            // whatever it counted before this peer won, or it would stand at once.
            self.reset_election_timer();
        }
        self.role = Role::Follower;
        self.progress.clear();
    }

    // ---- Follower side of replication ----

    /// A request from the leader of `term`: accept its leadership. Returns false if the term is
    /// stale (the sender learns the newer term from the reply and steps down).
    fn accept_leader(&mut self, term: u64) -> bool {
        if term < self.term {
            return false;
        }
        self.observe_term(term);
        assert!(
            self.role != Role::Leader,
            "two leaders in term {term}: peer {} and another",
            self.me()
        );
        self.role = Role::Follower; // a candidate of this term lost
        self.leader_heard = Some(self.now);
        self.reset_election_timer();
        true
    }

    /// AppendEntries receiver (Figure 2, with the conflict hint of section 5.3).
    pub fn handle_append_entries(&mut self, args: AppendEntriesArgs<C>) -> AppendEntriesReply {
        let mut reply = AppendEntriesReply {
            term: self.term,
            ..AppendEntriesReply::default()
        };
        if !self.accept_leader(args.term) {
            return reply;
        }
        reply.term = self.term;
        let prev = args.prev_log_index;
        let snapshot_index = self.log.snapshot_index();
        if prev > self.log.last_index() {
            reply.conflict_index = self.log.last_index() + 1;
            return reply;
        }
        // Below the snapshot everything is committed, so equal to the leader's log.
        if prev >= snapshot_index {
            let term = self.log.term(prev).expect("prev is in the log");
            if term != args.prev_log_term {
                reply.conflict_term = Some(term);
                reply.conflict_index = self.log.first_index_of_term(term).min(prev);
                return reply;
            }
        }
        let last_new = prev + args.entries.len() as u64;
        if let Some(first_changed) = self.log.merge(prev, args.entries, self.commit) {
            self.state_dirty = true;
            self.configs.log_changed(&self.log, first_changed);
            tracing::debug!(
                kind = "append",
                "log now ends at {} (from the leader of term {})",
                self.log.last_index(),
                args.term
            );
        }
        // Commit only what this message proved we share with the leader: entries after
        // last_new may be left over from another leader.
        if args.leader_commit > self.commit {
            let commit = self.commit.max(args.leader_commit.min(last_new));
            if commit > self.commit {
                tracing::debug!(kind = "commit", "commit index {commit} (leader's)");
            }
            self.commit = commit;
        }
        reply.success = true;
        reply
    }

    /// InstallSnapshot receiver (Figure 13, whole snapshot in one message).
    pub fn handle_install_snapshot(&mut self, args: InstallSnapshotArgs) -> InstallSnapshotReply {
        if !self.accept_leader(args.term) {
            return InstallSnapshotReply { term: self.term };
        }
        let (index, term) = (args.last_included_index, args.last_included_term);
        // Only a snapshot past our commit point adds anything. An older one must not reach the
        // service: it would roll back state built from commands already applied.
        if index > self.commit {
            self.log.compact(index, term);
            // The snapshot's configuration, then those of the entries kept after it (none if
            // the log was replaced whole).
            self.configs.compacted(index, args.config.map(|c| *c));
            self.configs.truncated(self.log.last_index());
            self.snapshot = args.data;
            self.state_dirty = true;
            self.snapshot_dirty = true;
            // Commands up to the old commit that were not handed out yet are covered by the
            // snapshot: skip them. The service sees the snapshot right after what it has.
            self.commit = index;
            self.applied = index;
            tracing::info!(
                kind = "snapshot",
                "installed the leader's snapshot through {index}"
            );
            self.apply.push(ApplyMsg::Snapshot {
                index,
                term,
                data: self.snapshot.clone(),
            });
        }
        InstallSnapshotReply { term: self.term }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
