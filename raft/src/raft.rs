//! Your Raft peer. This is the file you edit; its comments are the lab handout.
//!
//! Read the extended Raft paper (Ongaro and Ousterhout), especially Figure 2: it is close to a
//! complete specification, and every rule in it matters. Then work through the parts in order,
//! running each part's tests many times (`LAB_SEEDS=200 cargo test -p raft 2a`) before moving on:
//! a bug that shows up once in a hundred seeds is still a bug, and the grader will find it.
//!
//! The grader runs MIT's tests by name, plus three of its own that set up a classic bug's
//! moment on purpose (a restarted voter, a late vote, a late AppendEntries reply). All through
//! every test it checks that no two peers ever lead the same term, whether or not they are
//! connected: it samples `get_state()` every 5 ms, so keep that call cheap and correct.
//!
//! # 2A: leader election
//!
//! Fill in `State` with Figure 2's persistent and volatile state, the RequestVote RPC (args,
//! reply, handler), and a background task that starts an election when it has heard nothing from
//! a leader for a while. A leader sends AppendEntries with no entries (heartbeats) to stop new
//! elections. The tests check that one leader is elected, that a new one takes over within 5 s of
//! a failure, and that a leader stays leader while nothing fails.
//!
//! * Send at most **10 heartbeats per second** per peer: `count_2b` fails a peer that chatters.
//! * So the paper's 150-300 ms election timeout is too short. Pick a random timeout from a range
//!   such as **300-600 ms**: long compared to the heartbeat interval (100 ms), so a live leader
//!   is not deposed by one late message; random, so that candidates rarely split the vote; short
//!   enough that several rounds of split votes still fit in the 5 s the tester allows.
//! * Reset your election timer only when you (a) get an AppendEntries from the *current* leader,
//!   (b) start an election, or (c) *grant* a vote. Not on every RPC.
//! * Any RPC request or reply with a higher term makes you a follower of that term. A reply from
//!   an older term is stale: ignore it.
//! * Use `tokio::time::sleep` in loops (virtual time, free in tests) and draw the timeout with
//!   `labrpc::sim::random_duration`. Spawn tasks with `labrpc::sim::spawn` so that a crash
//!   of this peer stops them. Never hold a lock across an `.await` (the simulation has a single
//!   thread: a task waiting for a lock held by a sleeping task waits forever, and the test fails
//!   with "blocked thread").
//! * Send RPCs to peers in parallel, each in its own task: one unreachable peer may take seconds
//!   to fail, and must not stall the others.
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
//!   command after delivering a snapshot that covers it.
//! * After a restart, read the snapshot back and keep it: the next `save` must pass it again, or
//!   it is lost (`snapshot_init_2d`).
//! * The restart contract: the service restores itself from the persister's snapshot (the
//!   tester does), so a restarted peer starts with `lastApplied` and `commitIndex` at the
//!   snapshot's index, and the first command it applies is the one right after it. It may send
//!   the snapshot on the apply channel again (the service replaces its state with it), but
//!   never a command at or below that index.
//!
//! # Seeing what happened
//!
//! A failing test replays itself with a trace and leaves an HTML timeline (one column per peer)
//! whose path it prints; `LAB_TRACE=1 cargo test ...` prints every event as it happens. Add
//! your own events with `tracing`, and a `kind` to colour them by:
//! `tracing::info!(kind = "vote", "granted my vote to {} in term {}", candidate, term)`.

use labrpc::{ClientEnd, Service};

use crate::{ApplySender, Command, Persister};

/// One Raft peer, as the tester and the key/value service hold it. Cheap to clone: clones are
/// handles to the same peer (keep the state behind an `Arc<Mutex<..>>`).
#[derive(Clone)]
#[allow(dead_code)] // remove once you use the fields
pub struct Raft<C: Command> {
    me: usize,
    peers: Vec<ClientEnd>,
    persister: Persister,
    apply_tx: ApplySender<C>,
    // Your data here (2A, 2B, 2C, 2D): most of it belongs in `State`, behind a lock shared by
    // this handle and your background tasks.
}

/// Figure 2's state, and whatever else your peer needs (2A, 2B, 2C, 2D).
#[allow(dead_code)]
struct State {
    // current_term: u64, voted_for: Option<usize>, log: Vec<...>, commit_index: u64, ...
}

impl<C: Command> Raft<C> {
    /// Creates peer `me` of `peers.len()` peers (`peers[me]` is this peer's own end; do not use
    /// it). Restores persisted state from `persister`, then starts the background tasks
    /// (election timer, and later the applier) and returns at once. Committed commands and
    /// snapshots go to `apply_tx`, in log order.
    pub fn new(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
    ) -> Raft<C> {
        let _ = (&peers, &persister, &apply_tx);
        // Your code here (2A, 2B, 2C).
        Raft {
            me,
            peers,
            persister,
            apply_tx,
        }
    }

    /// The current term, and whether this peer believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        let _ = self.me;
        // Your code here (2A).
        (0, false)
    }

    /// Proposes `command` for the log. Returns at once: `None` if this peer is not the leader,
    /// otherwise the index the command will have if it is ever committed and the current term.
    /// There is no guarantee that it will be committed.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        let _ = command;
        // Your code here (2B).
        None
    }

    /// The service has created a snapshot holding all commands up to and including `index`:
    /// Raft may discard the log through that index (2D).
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        let _ = (index, snapshot);
        // Your code here (2D).
    }

    /// Stops the peer: the tester calls this when it crashes or retires a peer. Its tasks are
    /// aborted by the crash anyway; use this to stop talking (and applying) at once.
    pub fn kill(&self) {
        // Your code here, if you need it.
    }

    /// The RPC service the tester registers for this peer, named "Raft": one
    /// `.handle(...)` per RPC. Declare each RPC by implementing `labrpc::Rpc` on its argument
    /// type (with `NAME` = "Raft.RequestVote" and so on), call it with `self.peers[i].call(&args)`
    /// and register its handler here.
    pub fn service(&self) -> Service {
        // Your code here (2A). Handlers hold the peer weakly (so do kvraft's): the network owns
        // the handlers and the peer owns ends into the network, so a strong handle here would
        // keep both alive after the test. With the peer's state in an
        // `inner: Arc<Inner<C>>` field, say:
        // let rf = Arc::downgrade(&self.inner);
        // Service::new("Raft").handle(move |args: RequestVoteArgs| {
        //     let rf = rf.upgrade();
        //     async move {
        //         match rf {
        //             Some(rf) => rf.request_vote(args),
        //             None => RequestVoteReply::default(), // the peer is gone: no vote
        //         }
        //     }
        // })
        Service::new("Raft")
    }
}
