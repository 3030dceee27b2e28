//! Your Raft peer. This is the file you edit; its comments are the lab handout.
//!
//! Read the extended Raft paper (Ongaro and Ousterhout), especially Figure 2: it is close to a
//! complete specification, and every rule in it matters. Then work through the parts in order,
//! running each part's tests many times (`LAB_SEEDS=200 cargo test -p raft 2a`) before moving on:
//! a bug that shows up once in a hundred seeds is still a bug, and the grader will find it.
//!
//! The skeleton has the shape of MIT's `raft.go`: a [`Raft`] handle whose state lives behind one
//! lock (`State`); the RequestVote and AppendEntries RPCs (arguments, replies, handlers, all
//! registered in [`Raft::service`]); an example that sends a RequestVote and handles the reply
//! (`send_request_vote`); the election `ticker` task that [`Raft::new`] starts; and `persist` /
//! `read_persist`. Fill in the places marked `Your code here (2A)` (2B, ...), part by part.
//! The tester calls the methods of [`crate::api::Raft`]: keep their signatures.
//!
//! The grader runs MIT's tests by name, plus some of its own that set up a classic bug's moment
//! on purpose (a restarted voter, a late vote, a late AppendEntries or its reply, a late
//! InstallSnapshot). All through every test it checks that no two peers ever lead the same
//! term, whether or not they are connected: it calls `get_state()` on every peer at the end of
//! every instant of virtual time at which anything ran, so keep that call cheap and correct.
//!
//! # 2A: leader election
//!
//! Fill in `State` with Figure 2's state, the RequestVote RPC (arguments, reply, handler), and
//! the ticker's check: start an election when this peer has heard nothing from a leader for a
//! while, sending RequestVotes as `send_request_vote` shows. A leader sends AppendEntries with
//! no entries (heartbeats) to stop new elections, from a task of its own. The tests check that
//! one leader is elected, that a new one takes over within 5 s of a failure, and that a leader
//! stays leader while nothing fails.
//!
//! * Send at most **10 heartbeats per second** per peer: `count_2b` fails a peer that chatters.
//! * So the paper's 150-300 ms election timeout is too short. The ticker draws a random timeout
//!   from **300-600 ms** (`ELECTION_TIMEOUT`), anew each round: long compared to the heartbeat
//!   interval (100 ms), so a live leader is not deposed by one late message; random, so that
//!   candidates rarely split the vote; short enough that several rounds of split votes still fit
//!   in the 5 s the tester allows.
//! * Reset your election timer only when you (a) get an AppendEntries from the *current* leader,
//!   (b) start an election, or (c) *grant* a vote. Not on every RPC.
//! * Any RPC request or reply with a higher term makes you a follower of that term. A reply from
//!   an older term is stale: ignore it.
//! * Your code runs in a deterministic simulation, on virtual time. The rules that matter most
//!   here: sleep with `tokio::time::sleep` (free in tests) and draw timeouts with
//!   `labrpc::sim::random_duration`; spawn tasks with `labrpc::sim::spawn`, so that a crash of
//!   this peer stops them; never hold the lock across an `.await` (a `parking_lot` guard held
//!   there makes the task's future not `Send`, so `spawn` refuses it at compile time). All the
//!   rules: [`labrpc::sim`](labrpc::sim#rules-for-code-that-runs-in-a-simulation).
//! * Send RPCs to peers in parallel, each in its own task, as `send_request_vote` does: one
//!   unreachable peer may take seconds to fail, and must not stall the others.
//!
//! # 2B: log replication
//!
//! Implement [`Raft::start`], AppendEntries with entries, the consistency check, `matchIndex` /
//! `nextIndex`, the commit rule, and a task that sends committed entries, in order, on the apply
//! channel.
//!
//! * **Commit only entries of your own term by counting replicas** (Figure 8, section 5.4.2):
//!   an entry from an earlier term is committed only indirectly, when an entry of the current
//!   term after it is. `figure8_2c` catches the violation.
//! * The election restriction (5.4.1): grant a vote only to a candidate whose log is at least as
//!   up-to-date as yours (compare last term, then last index).
//! * A follower truncates its log only at the first *conflicting* entry: an AppendEntries that
//!   matches a prefix of your log, perhaps a delayed one, must not cut off entries after it.
//! * Send new entries as soon as `start` is called rather than waiting for the next heartbeat,
//!   and batch what accumulated: the key/value lab needs a commit in well under 33 ms.
//! * Apply from one task, strictly in index order, and never while holding your lock: the
//!   service may call back into Raft.
//!
//! # 2C: persistence
//!
//! Persist `currentTerm`, `votedFor` and the log with [`Persister::save_raft_state`] (encode
//! with `labgob::encode`) every time one of them changes, *before* answering an RPC or sending
//! one that depends on the change; restore them in [`Raft::new`]. The tests crash peers (all
//! their tasks stop; only the persister survives) and restart them.
//!
//! * Add fast log backup, or the unreliable Figure 8 test runs out of time: a follower that
//!   rejects an AppendEntries replies with the term of the conflicting entry and the first index
//!   it holds for that term (or its log length if the entry is missing), and the leader skips
//!   back over the whole term at once (extended paper, end of section 5.3).
//!
//! # 2D: snapshots
//!
//! The service calls [`Raft::snapshot`] with a snapshot covering the log up to an index (the
//! tester does so every 10 entries). Discard the log up to that index, remember the index and
//! term of the last discarded entry, and save state and snapshot together with
//! [`Persister::save`]. A follower that is too far behind gets InstallSnapshot (send the whole
//! snapshot in one RPC) and hands it to its service as an [`ApplyMsg::Snapshot`](crate::ApplyMsg::Snapshot).
//!
//! * Every index computation now needs the offset of the snapshot: write two helpers (log index
//!   to vector position and back) and use them everywhere.
//! * Never send the service a snapshot older than what it has applied, and never apply a
//!   command after delivering a snapshot that covers it. An InstallSnapshot that reaches no
//!   further than your commit index (a late one, or a repeat) adds nothing: ignore it. The
//!   tester fails a snapshot on the apply channel whose index is below the last one applied.
//! * The service takes time, as a real one does: the tester's may call `snapshot(index)`
//!   hundreds of ms after it applied `index`, and meanwhile an InstallSnapshot from the leader
//!   may have given you a newer snapshot. A call whose `index` is at or behind your latest
//!   snapshot's must then be ignored: that part of the log is gone already, and the snapshot
//!   you hold is newer than the one offered.
//! * After a restart, read the snapshot back and keep it: the next `save` must pass it again, or
//!   it is lost (`snapshot_init_2d`).
//! * The restart contract: the service restores itself from the persister's snapshot (the
//!   tester does), so a restarted peer starts with `lastApplied` and `commitIndex` at the
//!   snapshot's index, and the first command it applies is the one right after it. It may send
//!   the snapshot on the apply channel again (the service replaces its state with it), but
//!   never a command at or below that index.
//!
//! # 2E: PreVote and CheckQuorum (beyond MIT)
//!
//! Two guards that production Raft (etcd, TiKV) adds to elections, from Ongaro's thesis. The
//! 2E tests create peers with [`Raft::with_options`], whose [`Options`] say which
//! guards are on; every other test calls [`Raft::new`], with both off, so 2A-2D stay as they
//! are. Keep the options in your state and act on them.
//!
//! **PreVote** (thesis 9.6). A peer cut off from the others times out again and again; without
//! PreVote each timeout is a new term, and when it comes back its term deposes a working leader
//! for nothing (it cannot even win with its stale log). With PreVote, when the election timer
//! fires, first ask everyone with a `Raft.PreVote` RPC ([`PreVoteArgs`]) whether they would
//! vote for you in your term + 1; stand (increment the term, vote for yourself, RequestVote)
//! only once a majority, you included, said yes. Otherwise wait for the next timeout.
//!
//! * A peer says yes only if (a) the proposed term is higher than its own, (b) your log is at
//!   least as up-to-date as its own (the election restriction), and (c) it has not heard from
//!   the current leader within the minimum election timeout (300 ms): while a leader works,
//!   nobody helps depose it. A leader always says no.
//! * A pre-vote changes nothing, on either side: not the term (the asker sends the term it
//!   *would* stand in, and keeps its own), not `votedFor`, not the election timer. Only a reply
//!   with a higher term than yours makes you a follower of that term, as any reply does.
//! * Count only replies to your current attempt (you are still asking, and the reply answers
//!   the term you asked for now), and reset your election timer when you start asking, so that
//!   a failed attempt is retried after another timeout.
//!
//! **CheckQuorum** (thesis 6.2). A leader cut off with a minority keeps believing it leads
//! while the majority elects another. With CheckQuorum, a leader notes when each follower last
//! answered it (any reply of its term) and, once per election timeout (use the longest, 600 ms,
//! so that a lossy network does not depose it by chance), counts the peers heard from since the
//! last check, itself once (2F: if it is a voter): without a majority, it steps down (a
//! follower, same term).
//!
//! * With CheckQuorum on, a peer that heard from the current leader within the minimum election
//!   timeout also ignores a RequestVote from a higher term: neither adopts the term nor votes
//!   (thesis 4.2.3). A working leader is known to exist, so the asker is disrupting it.
//!
//! The 2E tests: a peer that was partitioned away rejoins, or loses its link to the leader now
//! and then (one-way or flapping), without moving the term; a stale peer cannot start an
//! election through peers that would not vote for it; a leader cut off with a minority steps
//! down within 2 s while the majority elects another; and MIT's churn tests with both guards
//! on. The "Passed" line counts pre-vote RPCs separately.
//!
//! # 3C: read indexes for the key/value service (beyond MIT)
//!
//! Lab 3C's key/value servers answer Gets without the log, with the index one of two methods
//! of yours returns (the 3C section of `kvraft/src/server.rs` says how they use it). Do this
//! after lab 3B; it has no tests here, only the key/value service's.
//!
//! * [`Raft::read_index`] (ReadIndex, thesis 6.4). If this peer leads and has committed an
//!   entry of its current term, note the commit index, send every follower an AppendEntries at
//!   once (a heartbeat will do), and return the noted index when a majority, this peer
//!   included, has answered in the current term (success or not) an AppendEntries sent *after*
//!   the call: a reply to one sent earlier may predate an election this peer has not heard of.
//!   Number what you send to each peer to tell which replies count; reads that wait at the
//!   same time can share a round. `Err(NotLeader)` if this peer does not lead, steps down, or
//!   no majority answers within an election timeout; `Err(NoEntryOfTerm)` until an entry of its
//!   term has committed (its commit index may lag what the previous leader committed; the
//!   service then proposes a no-op).
//! * [`Raft::lease_read_index`] (lease reads, with [`Options::lease_reads`], which come with
//!   `check_quorum`). CheckQuorum's rule, that a peer which heard from the leader within the
//!   minimum election timeout grants no vote, is a promise: once a majority has answered
//!   heartbeats this leader *sent* at time `t`, no other leader can be elected before `t`
//!   plus 300 ms, as those peers' clocks count it. So serve reads (the commit index, at once)
//!   until `t + lease` and answer `Err(LeaseExpired)` after, with the lease shorter than 300 ms
//!   by the drift: a follower's clock that runs fast by `d` ([`Options::clock_drift`]) ends its
//!   300 ms after `300 / (1 + d)` ms of true time, and a leader's that runs slow stretches the
//!   lease to `lease / (1 - d)`. So `lease < 300 (1 - d) / (1 + d)` ms, less a margin for how
//!   coarsely you count time.
//! * **The lease starts when the heartbeat was sent**, not when its reply arrived: the
//!   follower's promise runs from when it got the heartbeat, and a reply can arrive seconds
//!   later (the tests' network delays replies).
//! * **Time everything on the peer's clock.** In lab 3C's tests each peer's clock runs at its
//!   own rate within the drift bound, as real clocks do: `labrpc::sim::clock::now()` and
//!   `labrpc::sim::clock::sleep` are that clock, while `tokio::time` is the simulation's true
//!   time, which no real peer can read. Measure the lease, the election timer and the vote
//!   refusal with the peer's clock. (A peer that times itself with `tokio::time` sees no drift,
//!   so the tests cannot catch a lease that forgets it: they trust you here.)
//!
//! # 2F: cluster membership change (beyond MIT)
//!
//! Real clusters replace machines. Do this after 2D (and 2E, which one test uses); the 2F
//! tests create peers with [`Raft::with_membership`], every other test as before. Read the
//! paper's section 6 and the thesis's chapter 4 (and its 2015 errata) first.
//!
//! * **Peers and configurations.** Every peer gets ends to every peer that may ever take part
//!   (the universe), and the same `initial` [`Configuration`], which says who votes before the
//!   log's first entry. A peer that joins later starts with an empty log, outside it. Count
//!   every majority (votes, commitment, CheckQuorum, read rounds) over the configuration's
//!   `voters`, and during joint consensus over its `outgoing` voters as well: a decision then
//!   needs a majority of each. Send AppendEntries, InstallSnapshot, RequestVote and PreVote only
//!   to the configuration's members ([`Configuration::members`]: both halves when joint). A
//!   peer outside its own configuration never stands for election, but answers every RPC
//!   whatever its configuration says (a joiner is outside until the entry that adds it
//!   arrives); a leader that is not a voter (it removed itself) leads on without counting
//!   itself. No catch-up phase or learners (thesis 4.2.1) are needed.
//! * **Changes go through the log.** [`Raft::change_config`] makes the new configuration from
//!   the current one ([`ConfigChange::AddVoter`], [`ConfigChange::RemoveVoter`]: one voter
//!   more or less; [`ConfigChange::Joint`]: the joint configuration of the old voters and the
//!   new) and appends it as the command `C::from_config(new)`, like `start`; `C::as_config`
//!   tells you which entries of a log hold configurations. It returns the entry's index and
//!   term, or why not ([`ConfigError`]), checked in this order: `NotLeader`, `NoEntryOfTerm`,
//!   `ChangeInProgress`, then `Invalid` against the current configuration. When the leader's
//!   configuration gains a peer, replicate to it at once (nextIndex = last index + 1,
//!   matchIndex = 0): keep replication state for every peer of the universe.
//! * **A peer goes by the latest configuration in its log, committed or not**, from the moment
//!   the entry is appended, on the leader and on every follower alike; if the entry is cut
//!   from the log, the peer goes back to the configuration before it. Keep the configuration
//!   of the snapshot's last entry with the snapshot: persist it in Raft's own state (beside
//!   currentTerm, votedFor and the log, not in the service's snapshot bytes), and send it in
//!   InstallSnapshot, or a peer restored from a snapshot forgets who votes.
//! * **One change at a time.** Refuse a change (`ChangeInProgress`) while the latest
//!   configuration entry is uncommitted, or the configuration is joint; and refuse the first
//!   change of a new leader (`NoEntryOfTerm`) until it has committed an entry of its own term:
//!   until then an earlier leader's uncommitted change may still be in some logs, and a second
//!   change on top of it can make two disjoint majorities (the bug in the thesis's first
//!   version). `Invalid` for changes that make no sense (adding a voter, removing a peer that
//!   does not vote, the last voter, any peer outside the universe, a `Joint` with no voters).
//! * **Joint consensus.** Whenever a leader's latest configuration is joint and committed
//!   (right after the joint entry commits, or once a new leader learns that it has), the
//!   leader appends the new configuration alone (`outgoing: None`) by itself.
//! * **Removal.** A leader whose configuration, once committed, leaves it out steps down. A
//!   removed peer hears from no one and times out again and again: PreVote and CheckQuorum
//!   (2E) keep it from disrupting the others.
//! * Configuration entries are commands like any other for the service: deliver them on the
//!   apply channel in order (the tester checks them like every command).
//! * [`Raft::configuration`] reports the configuration this peer goes by.
//!
//! The 2F tests add peers under load and remove the leader, replace every peer one at a time
//! and all at once (joint), try the 2015 bug's schedule, check that a removed peer does not
//! disrupt the cluster and that a removed leader hears nothing and stands for nothing, cut a
//! configuration entry from a log, crash peers in the middle of a change, and make a new peer
//! catch up through InstallSnapshot. Election Safety and the agreement of every applied command
//! are checked all through.
//!
//! # Seeing what happened
//!
//! A failing test replays itself with a trace and leaves an HTML timeline (one column per peer)
//! whose path it prints; `LAB_TRACE=1 cargo test ...` prints every event as it happens. Add
//! your own events with `tracing`, and a `kind` to colour them by:
//! `tracing::info!(kind = "vote", "granted my vote to {} in term {}", candidate, term)`.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{
    ApplySender, Command, ConfigChange, ConfigCommand, ConfigError, Configuration, Options,
    Persister, ReadError,
};

/// The range election timeouts are drawn from (see the 2A hints).
const ELECTION_TIMEOUT: Range<Duration> = Duration::from_millis(300)..Duration::from_millis(600);

/// One Raft peer, as the tester and the key/value service hold it. Cheap to clone: every clone
/// is a handle to the same peer, which is how tasks and RPC handlers reach it.
#[derive(Clone)]
pub struct Raft<C: Command> {
    /// RPC ends to every peer; `peers[me]` is this peer's own (do not use it).
    peers: Arc<[ClientEnd]>,
    /// This peer's index into `peers`.
    me: usize,
    /// Where this peer saves its persistent state; it holds the last saved state on a restart.
    persister: Persister,
    /// Committed commands and snapshots go to the service here, in log order (2B, 2D).
    #[allow(dead_code)] // until you send on it (2B)
    apply_tx: ApplySender<C>,
    /// Set by [`Raft::kill`].
    dead: Arc<AtomicBool>,
    /// Everything else: one lock for all of the peer's state.
    state: Arc<Mutex<State>>,
}

/// The peer's state: Figure 2's, and whatever else your peer needs. (2B: once it holds a log of
/// commands, make it `State<C>`.)
struct State {
    /// The latest term this peer has seen (Figure 2: persistent).
    current_term: u64,
    // Your data here (2A, 2B, 2C, 2D). Look at the paper's Figure 2 for a description of what
    // state a Raft peer must keep.
}

/// RequestVote RPC arguments (Figure 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// The candidate's term.
    pub term: u64,
    // Your data here (2A, 2B).
}

/// RequestVote RPC reply (Figure 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// The voter's current term, for the candidate to update itself.
    pub term: u64,
    // Your data here (2A).
}

impl labrpc::Rpc for RequestVoteArgs {
    type Reply = RequestVoteReply;
    const NAME: &'static str = "Raft.RequestVote";
}

/// PreVote RPC arguments (2E): RequestVote's question, asked without changing any term or vote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreVoteArgs {
    /// The term the sender would stand in: its current term + 1.
    pub term: u64,
    // Your data here (2E).
}

/// PreVote RPC reply (2E).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreVoteReply {
    /// The receiver's current term.
    pub term: u64,
    // Your data here (2E).
}

impl labrpc::Rpc for PreVoteArgs {
    type Reply = PreVoteReply;
    const NAME: &'static str = "Raft.PreVote";
}

/// AppendEntries RPC arguments (Figure 2); with no entries, a heartbeat (2A).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    /// The leader's term.
    pub term: u64,
    // Your data here (2A, 2B). (2B: entries of commands make it `AppendEntriesArgs<C>`, with
    // `impl<C: Command> labrpc::Rpc for AppendEntriesArgs<C>`.)
}

/// AppendEntries RPC reply (Figure 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's current term, for the leader to update itself.
    pub term: u64,
    // Your data here (2A, 2B).
}

impl labrpc::Rpc for AppendEntriesArgs {
    type Reply = AppendEntriesReply;
    const NAME: &'static str = "Raft.AppendEntries";
}

impl<C: Command> Raft<C> {
    /// Creates peer `me` of `peers.len()`: all peers' `peers` lists are in the same order, and
    /// `peers[me]` is this peer's own end. `persister` holds this peer's most recently saved
    /// state, if any; committed commands and snapshots go to `apply_tx`, in log order.
    ///
    /// Must return at once: start tasks (with `labrpc::sim::spawn`) for any long-running work.
    /// The tester calls this on the peer's simulation node, so its tasks die when it crashes.
    pub fn new(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
    ) -> Raft<C> {
        let rf = Raft {
            peers: peers.into(),
            me,
            persister,
            apply_tx,
            dead: Arc::default(),
            state: Arc::new(Mutex::new(State {
                current_term: 0,
                // Your initialization code here (2A, 2B, 2C).
            })),
        };
        // Initialize from state persisted before a crash.
        rf.read_persist(&rf.persister.read_raft_state());
        // Start the ticker task, which starts elections.
        labrpc::sim::spawn(rf.clone().ticker());
        rf
    }

    /// [`Raft::new`], with the 2E guards that `options` switches on. The 2E tests create their
    /// peers with this; every other test calls `new` (both guards off).
    pub fn with_options(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
    ) -> Raft<C> {
        // Your code here (2E): keep `options` in `State`, then start the peer as `new` does.
        let _ = options;
        Self::new(peers, me, persister, apply_tx)
    }

    /// The current term, and whether this peer believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        let st = self.state.lock();
        // Your code here (2A).
        (st.current_term, false)
    }

    /// Saves Raft's persistent state (Figure 2: `currentTerm`, `votedFor`, the log) to the
    /// persister, where a restarted peer finds it. Call it with the lock held (pass the
    /// guard's `&st`) after every change to one of them, before replying to or sending anything
    /// that depends on the change.
    #[allow(dead_code)] // until you call it (2C)
    fn persist(&self, st: &State) {
        // Your code here (2C): encode voted_for and the log too, e.g. as a tuple,
        // `labgob::encode(&(st.current_term, st.voted_for, &st.log))`. (2D: save the state and
        // the current snapshot together, with `self.persister.save(state, snapshot)`. 2F: and
        // the configuration of the snapshot's last entry.)
        let state = labgob::encode(&st.current_term).expect("Raft's state always encodes");
        self.persister.save_raft_state(state);
    }

    /// Restores what [`persist`](Self::persist) saved, from `data` (empty on the first start).
    fn read_persist(&self, data: &[u8]) {
        if data.is_empty() {
            return; // bootstrap without any state
        }
        // Your code here (2C): decode what `persist` encodes, with the same types in the same
        // order, e.g. `labgob::decode::<(u64, Option<usize>, Vec<LogEntry<C>>)>(data)`.
        match labgob::decode::<u64>(data) {
            Ok(current_term) => self.state.lock().current_term = current_term,
            Err(e) => tracing::error!("peer {}: the saved state does not decode: {e}", self.me),
        }
    }

    /// The service has created a snapshot that holds everything up to and including `index`:
    /// Raft no longer needs the log through that index, and should discard as much of it as
    /// it can (2D).
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        // Your code here (2D).
        let _ = (index, snapshot);
    }

    /// The RequestVote handler.
    fn request_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
        let st = self.state.lock();
        // Your code here (2A, 2B).
        let _ = args;
        RequestVoteReply {
            term: st.current_term,
        }
    }

    /// The PreVote handler (2E): would this peer vote for the sender? Changes nothing.
    fn pre_vote(&self, args: PreVoteArgs) -> PreVoteReply {
        let st = self.state.lock();
        // Your code here (2E).
        let _ = args;
        PreVoteReply {
            term: st.current_term,
        }
    }

    /// The AppendEntries handler.
    fn append_entries(&self, args: AppendEntriesArgs) -> AppendEntriesReply {
        let st = self.state.lock();
        // Your code here (2A, 2B).
        let _ = args;
        AppendEntriesReply {
            term: st.current_term,
        }
    }

    /// Example code to send a RequestVote RPC to peer `server` and handle its reply, in a task
    /// of its own: it returns at once. Call it for each other peer when you start an election,
    /// and send AppendEntries the same way.
    ///
    /// The network is lossy: peers may be unreachable, and requests and replies may be lost,
    /// delayed and reordered. `call` sends the request and waits for the reply; if one arrives,
    /// it returns `Ok(reply)`, otherwise `Err(_)` after a while (up to 7 s on the Raft tests'
    /// network), so `call` may not return for a long time. An `Err` can mean a dead server, a
    /// live server that can't be reached, a lost request, or a lost reply: the handler may or
    /// may not have run. `call` always returns, unless the handler on the other side never does,
    /// so there is no need for your own timeouts around it. This is why each call gets a task
    /// of its own: one slow peer must not hold up the others, or the ticker.
    ///
    /// The reply may arrive long after the request was sent: by then this peer may have moved
    /// to a newer term, and the reply must be judged against the state it was sent from.
    #[allow(dead_code)] // until you call it (2A)
    fn send_request_vote(&self, server: usize, args: RequestVoteArgs) {
        let rf = self.clone();
        labrpc::sim::spawn(async move {
            let Ok(reply) = rf.peers[server].call(&args).await else {
                return; // no reply: don't retry, a new election will ask again
            };
            // Take the lock only now, after the `.await`, and keep it to the end.
            let st = rf.state.lock();
            if reply.term > st.current_term {
                // Your code here (2A): become a follower in the newer term.
                return;
            }
            if st.current_term != args.term {
                return; // a reply to an election of an earlier term: stale, ignore it
            }
            tracing::info!(kind = "vote", "RequestVote reply from {server}: {reply:?}");
            // Your code here (2A): count the vote; with a majority, become the leader.
        });
    }

    /// Proposes `command` for the log. Returns at once: `None` if this peer is not the leader,
    /// otherwise the index the command will have if it is ever committed, and the current term.
    /// There is no guarantee that it will be committed: the leader may fail or lose an election.
    /// Even if the peer has been killed, this should return gracefully.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        // Your code here (2B).
        let _ = command;
        None
    }

    /// 3C, ReadIndex: the index the service must have applied before it answers a read that
    /// arrived now, once this peer has confirmed with a round of heartbeats that it still
    /// leads. (Lab 3C, beyond MIT: reads without the log. Until then, leave this as it is.)
    pub async fn read_index(&self) -> Result<u64, ReadError> {
        // Your code here (3C).
        Err(ReadError::NotLeader)
    }

    /// 3C, lease reads: the same index at once, without a round, if this peer leads under a
    /// lease. (Lab 3C, beyond MIT. Until then, leave this as it is.)
    pub fn lease_read_index(&self) -> Result<u64, ReadError> {
        // Your code here (3C).
        Err(ReadError::NotLeader)
    }

    /// 2F: the configuration this peer goes by: the latest in its log, committed or not (for
    /// a peer made by `new` or `with_options`, every peer). (Lab 2F, beyond MIT. Until then,
    /// leave this as it is.)
    pub fn configuration(&self) -> Configuration {
        // Your code here (2F).
        Configuration::of(0..self.peers.len())
    }

    /// Stops the peer: the tester calls this when it crashes or retires a peer. The crash
    /// aborts its tasks anyway, but a killed peer should stop talking (and applying) at once:
    /// check `killed()` in your loops.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        // Your code here, if desired.
    }

    /// Whether [`kill`](Self::kill) has been called.
    fn killed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// The election ticker, a task of its own (started by [`Raft::new`]): starts an election
    /// when this peer has heard nothing from a leader for a while.
    async fn ticker(self) {
        while !self.killed() {
            // Pause for a random election timeout. (A new timeout for each round: see 2A.)
            tokio::time::sleep(labrpc::sim::random_duration(ELECTION_TIMEOUT)).await;
            // Your code here (2A): check whether a leader election should be started: this
            // peer is not the leader, and during the timeout it has neither heard from the
            // current leader nor granted a vote (keep when that last happened in `State`, as a
            // `tokio::time::Instant`).
        }
    }

    /// The RPC service the tester registers for this peer, named "Raft": one `.handle(...)`
    /// per RPC. Each handler holds a clone of the peer and runs in a task of the peer's own.
    pub fn service(&self) -> Service {
        let (rv, pv, ae) = (self.clone(), self.clone(), self.clone());
        Service::new("Raft")
            .handle(move |args: RequestVoteArgs| {
                let rf = rv.clone();
                async move { rf.request_vote(args) }
            })
            .handle(move |args: PreVoteArgs| {
                let rf = pv.clone();
                async move { rf.pre_vote(args) }
            })
            .handle(move |args: AppendEntriesArgs| {
                let rf = ae.clone();
                async move { rf.append_entries(args) }
            })
    }
}

impl<C: ConfigCommand> Raft<C> {
    /// 2F: [`Raft::with_options`], for a peer whose configuration changes through the log.
    /// `initial` is the configuration before the log's first entry, the same for every peer: a
    /// peer that joins later is not in it, and learns the configurations after it from the
    /// leader's log (or snapshot).
    /// (Lab 2F, beyond MIT. Until then, leave this as it is.)
    pub fn with_membership(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
        initial: Configuration,
    ) -> Raft<C> {
        // Your code here (2F): keep `initial`, and `C::as_config` / `C::from_config` (as
        // `fn` pointers) in `State`, then start the peer as `with_options` does.
        let _ = initial;
        Self::with_options(peers, me, persister, apply_tx, options)
    }

    /// 2F: if this peer leads, appends the configuration `change` makes to the current one,
    /// as an entry `C::from_config(..)`; its index and term. (Lab 2F, beyond MIT. Until then,
    /// leave this as it is.)
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        // Your code here (2F).
        let _ = change;
        Err(ConfigError::NotLeader)
    }
}
