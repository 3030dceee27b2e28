//! The key/value server. The rest of the handout: 3A, then 3B (then, beyond MIT, 3C).
//!
//! # 3A: a key/value service without snapshots
//!
//! Every server runs a Raft peer (`self.rf`) whose log holds operations ([`Op`]: add what you
//! need). The leader's RPC handlers put each request into the log with `Raft::start`, and every
//! server applies the committed operations, in log order, to its own copy of the store. So the
//! stores of all servers go through the same states, and a clerk's operation takes effect at
//! one point of the log, which makes the service linearizable.
//!
//! * **Apply from one task.** [`KvServer::new`] starts one (`applier`) that reads `ApplyMsg`s
//!   from the apply channel: make it apply each command to the store, in order. Keep the store
//!   in a `BTreeMap` (or use a `HashMap` only for lookups).
//! * **A handler waits for its own entry.** `start` returns the index the entry will have if it
//!   commits. Register a waiter for that index (e.g. a `tokio::sync::oneshot::Sender` in a map
//!   keyed by index) and await it; the applier answers it when it applies that index.
//! * **Detect lost leadership.** A leader can lose its leadership before its entry commits, and
//!   a new leader then puts *a different entry* at that index. The applier must check that the
//!   entry it applies at a waiter's index is the waiter's operation (compare client id and
//!   sequence number) and otherwise fail the waiter; the handler answers `ErrWrongLeader` and
//!   the clerk tries another server. Also fail when `get_state()` shows a new term, and give up
//!   after a bounded wait (say 1 s of virtual time): a leader cut off in a minority does not know
//!   it lost, and its entry may never commit. Giving up is safe: if the entry commits later,
//!   the clerk's retry is recognised as a duplicate.
//! * **Gets go through the log** too: a leader that answers a Get from its own store may be a
//!   deposed leader with stale data. (The read-only optimisation of section 8 of the Raft paper
//!   is not required.)
//! * **Exactly once.** Keep, *in the state machine*, the sequence number of the last Put or
//!   Append applied for each client. A clerk has one operation outstanding, so an operation
//!   whose number is not above it is a duplicate: skip it, but answer OK. The check happens when
//!   the command is *applied*, not when the RPC arrives: two copies of an operation can both
//!   reach the log (through two leaders), and every server must skip the same one. Do not keep
//!   old replies around: each new operation of a client implies it saw the previous reply.
//! * **Locks.** Never hold a lock across an `.await` (the simulation has one thread: a task
//!   waiting for a lock held by a sleeping task waits forever; a `parking_lot` guard held there
//!   is a compile error in a spawned task, or in a handler). Calling into Raft while holding
//!   your lock is fine only if Raft never waits for you: it must not block while delivering on
//!   the apply channel (the channel is unbounded). The other rules for code in the simulation:
//!   [`labrpc::sim`](labrpc::sim#rules-for-code-that-runs-in-a-simulation).
//!
//! # 3B: snapshots
//!
//! The tester passes `max_raft_state: Some(bytes)`: keep Raft's persisted state
//! (`persister.raft_state_size()`) below that, or about. `None` means never snapshot.
//!
//! * In the applier, when `raft_state_size()` reaches `max_raft_state` (or, better, 90% of it,
//!   since the log keeps growing), encode your state machine with `labgob::encode` and call
//!   `rf.snapshot(index, data)` with the index of the last command applied. Raft then discards
//!   the log up to that index.
//! * The snapshot holds everything the log held that you still need: the store, the
//!   duplicate-detection table (a restarted server must still recognise retries), and the
//!   last applied index.
//! * On a restart, [`KvServer::new`] gets the persister of the crashed incarnation: restore from
//!   `persister.read_snapshot()` (empty on the first start) before applying anything.
//! * When a follower lags behind the leader's snapshot, Raft delivers an `ApplyMsg::Snapshot`:
//!   replace your state machine with it, unless you already applied past its index. Fail the
//!   waiters of the indexes it skips.
//! * The tests check that the Raft state stays below 8 x `max_raft_state` and that a snapshot
//!   of a small store is small (under 500 bytes): do not put the log, or replies, in it.
//!
//! # 3C: Gets without the log (beyond MIT)
//!
//! A Get through the log costs a log entry, a persist and a replication round, as much as a
//! write, and a read-mostly service pays it for every read. Production Raft (etcd, TiKV) serves
//! reads without the log, in two ways. The 3C tests start servers with
//! [`KvServer::with_reads`] and one of them ([`Reads`]); your Raft supplies the index to read at
//! (the 3C section of the Raft handout, `raft::raft`, after its 2E section: lease reads rely on
//! CheckQuorum).
//!
//! * **ReadIndex** ([`Reads::ReadIndex`]). The Get handler calls `self.rf.read_index().await`:
//!   Raft confirms, with a heartbeat round sent after the call, that this peer still leads, and
//!   returns its commit index as of the call. Wait until the applier has applied at least that
//!   index, then read the store and answer. No log entry, and no duplicate check (a Get
//!   changes nothing).
//! * **Lease reads** ([`Reads::Lease`]). Ask `self.rf.lease_read_index()` first: while the
//!   leader's lease holds it returns the index at once, with no round; on
//!   `Err(ReadError::LeaseExpired)` fall back to `read_index`. Its other errors mean what they
//!   mean from `read_index` (`NotLeader`, `NoEntryOfTerm`).
//! * **A new leader refuses reads** (`Err(ReadError::NoEntryOfTerm)`) until it has committed an
//!   entry of its own term: until then its commit index may lag what an earlier leader
//!   committed, and a read there could miss a write that has already returned to its clerk.
//!   Put a no-op in the log then (a variant of [`Op`] that the applier skips), one per term
//!   (not one per refused Get: the tests count the Raft state's bytes), and answer
//!   `ErrWrongLeader`: by the time the clerk has tried the other servers and comes back, the
//!   no-op has most likely committed.
//! * **Wait for the applier**, with the same bound as 3A's handlers: Raft's commit index runs
//!   ahead of what your applier has applied, and a read served in between misses writes that
//!   may have returned to their clerks already. Wait without the lock: e.g. a
//!   `tokio::sync::watch` channel of the applied index, or a `tokio::sync::Notify` the applier
//!   wakes after each command. (The tests can rarely catch a read that skips this wait: on
//!   the reference Raft the applier catches up within the instant it commits, and the window
//!   is a new leader's first moment. It is a bug on any Raft that applies later: wait.)
//! * The tests count the Raft state's bytes against the writes (Gets must not add to it) and
//!   the RPCs per Get (reported; lease reads must skip the round while the lease holds), run
//!   read-heavy workloads under partitions, crashes and an unreliable network, and try to read
//!   stale data from a leader cut off in a minority, from a new leader, and across clocks that
//!   drift: every history must be linearizable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply};
use crate::Reads;

/// What the servers put in the Raft log: one client operation. Your fields here (3A); make it
/// an enum if you like (3C adds a no-op, which is easiest as a variant of its own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One key/value server. Cheap to clone: every clone is a handle to the same server, which is
/// how its applier task and its RPC handlers reach it.
#[derive(Clone)]
pub struct KvServer {
    me: usize,
    rf: Raft<Op>,
    /// Where Raft saves its state; holds the last snapshot on a restart (3B).
    #[allow(dead_code)] // until you use it (3B)
    persister: Persister,
    /// Snapshot when Raft's saved state grows this big; `None`: never (3B).
    #[allow(dead_code)] // until you use it (3B)
    max_raft_state: Option<usize>,
    /// How Gets are answered: through the log, except in the 3C tests.
    #[allow(dead_code)] // until you use it (3C)
    reads: Reads,
    /// Set by [`KvServer::kill`].
    dead: Arc<AtomicBool>,
    /// Everything else, behind one lock.
    #[allow(dead_code)] // until you use it (3A)
    state: Arc<Mutex<State>>,
}

/// The server's state, shared by its RPC handlers and its applier.
#[derive(Default)]
struct State {
    // Your data here (3A): the store, the duplicate table, the handlers waiting for an index.
    // (3B: the index of the last command applied.)
}

impl KvServer {
    /// Starts server `me` of `servers.len()`: the ends reach the other servers' Raft peers.
    /// `persister` holds what this server's previous incarnation saved, if any, and Raft
    /// restores its state from it. Called by the tester inside this server's simulation node,
    /// so tasks spawned here with `labrpc::sim::spawn` stop when the server crashes.
    ///
    /// Must return at once: start tasks for any long-running work.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        Self::with_reads(servers, me, persister, max_raft_state, Reads::Log)
    }

    /// [`KvServer::new`], answering Gets as `reads` says: the 3C tests start their servers with
    /// this, every other test with `new` (Gets through the log). The Raft peer gets the
    /// options the reads need (lease reads: CheckQuorum and the drift bound).
    pub fn with_reads(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        reads: Reads,
    ) -> KvServer {
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let options = reads.raft_options();
        let kv = KvServer {
            me,
            rf: Raft::with_options(servers, me, persister.clone(), apply_tx, options),
            persister,
            max_raft_state,
            reads,
            dead: Arc::default(),
            state: Arc::default(),
        };
        // Your code here (3B): restore the state machine from `persister.read_snapshot()`
        // (empty on the first start).
        labrpc::sim::spawn(kv.clone().applier(apply_rx));
        kv
    }

    /// The Get handler.
    async fn get(&self, args: GetArgs) -> GetReply {
        // Your code here (3A). (3C: unless `self.reads` is `Reads::Log`, read without the log.)
        let _ = args;
        GetReply {
            err: Err::WrongLeader,
            value: String::new(),
        }
    }

    /// The PutAppend handler.
    async fn put_append(&self, args: PutAppendArgs) -> PutAppendReply {
        // Your code here (3A).
        let _ = args;
        PutAppendReply {
            err: Err::WrongLeader,
        }
    }

    /// The applier, a task of its own (started by [`KvServer::new`]): applies what Raft
    /// commits, in log order.
    async fn applier(self, mut apply_rx: mpsc::UnboundedReceiver<ApplyMsg<Op>>) {
        while let Some(msg) = apply_rx.recv().await {
            if self.killed() {
                return;
            }
            match msg {
                ApplyMsg::Command { index, command } => {
                    // Your code here (3A): apply `command` (unless it is a duplicate), and
                    // answer the handler waiting for `index`, if any. (3B: snapshot when
                    // Raft's state nears `max_raft_state`.)
                    tracing::debug!(kind = "apply", "server {}: {index} {command:?}", self.me);
                }
                ApplyMsg::Snapshot { index, term, data } => {
                    // Your code here (3B): replace the state machine with `data`, unless it has
                    // applied past `index` already.
                    let _ = (index, term, data);
                }
            }
        }
    }

    /// The RPC services the tester registers for this server: `"KVServer"`, with the methods
    /// Get and PutAppend, and `"Raft"`, the Raft peer's. Each handler holds a clone of the
    /// server and runs in a task of the server's own.
    pub fn services(&self) -> Vec<Service> {
        let (get, put) = (self.clone(), self.clone());
        let kv = Service::new("KVServer")
            .handle(move |args: GetArgs| {
                let kv = get.clone();
                async move { kv.get(args).await }
            })
            .handle(move |args: PutAppendArgs| {
                let kv = put.clone();
                async move { kv.put_append(args).await }
            });
        vec![kv, self.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rf.get_state()
    }

    /// Stops the server (the tester calls this when it crashes one). The crash aborts its tasks
    /// anyway, but a killed server should stop applying and answering at once: check
    /// `killed()` in your loops and in waiting handlers.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.rf.kill();
        // Your code here, if desired.
    }

    /// Whether [`kill`](Self::kill) has been called.
    fn killed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}
