//! The key/value server. The rest of the handout: 3A, then 3B.
//!
//! # 3A: a key/value service without snapshots
//!
//! Every server runs a Raft peer (`self.rf`) whose log holds operations ([`Op`]: add what you
//! need). The leader's RPC handlers put each request into the log with `Raft::start`, and every
//! server applies the committed operations, in log order, to its own copy of the store. So the
//! stores of all servers go through the same states, and a clerk's operation takes effect at
//! one point of the log, which makes the service linearizable.
//!
//! * **Apply from one task.** In [`KvServer::new`], spawn (with `labrpc::sim::spawn`) a task
//!   that reads `ApplyMsg`s from the apply channel and applies each command to the store, in
//!   order. Keep the store in a `BTreeMap` (or use a `HashMap` only for lookups).
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
//!   waiting for a lock held by a sleeping task waits forever). Calling into Raft while holding
//!   your lock is fine only if Raft never waits for you: it must not block while delivering on
//!   the apply channel (the channel is unbounded).
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

// Remove this once the skeleton's fields are used.
#![allow(dead_code)]

use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply};

/// What the servers put in the Raft log: one client operation. Your fields here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One key/value server.
pub struct KvServer {
    inner: Arc<Inner>,
}

/// The server's state, shared by its RPC handlers and its applier task.
struct Inner {
    me: usize,
    rf: Raft<Op>,
    persister: Persister,
    max_raft_state: Option<usize>,
    /// Your state here (the store, the duplicate table, the waiters), behind a lock.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The receiving end of Raft's apply channel: move it into your applier task.
    apply_rx: Option<mpsc::UnboundedReceiver<ApplyMsg<Op>>>,
}

impl KvServer {
    /// Starts server `me` of `servers.len()` (the ends reach the other servers' Raft peers).
    /// Called by the tester inside this server's simulation node, so tasks spawned here with
    /// `labrpc::sim::spawn` stop when the server crashes. Return at once.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let rf = Raft::new(servers, me, persister.clone(), apply_tx);
        // Your code here: restore the snapshot, spawn the applier.
        KvServer {
            inner: Arc::new(Inner {
                me,
                rf,
                persister,
                max_raft_state,
                state: Mutex::new(State {
                    apply_rx: Some(apply_rx),
                }),
            }),
        }
    }

    /// The RPC services the tester registers for this server: `"KVServer"`, with the methods
    /// Get and PutAppend, and `"Raft"`, the Raft peer's.
    pub fn services(&self) -> Vec<Service> {
        // Handlers hold the server weakly: the network owns them, and the server owns ends into
        // the network, so a strong reference would keep both alive after the test.
        let (get, put) = (Arc::downgrade(&self.inner), Arc::downgrade(&self.inner));
        let kv = Service::new("KVServer")
            .handle(move |args: GetArgs| {
                let server = get.upgrade();
                async move {
                    match server {
                        Some(server) => server.get(args).await,
                        None => GetReply {
                            err: Err::WrongLeader,
                            value: String::new(),
                        },
                    }
                }
            })
            .handle(move |args: PutAppendArgs| {
                let server = put.upgrade();
                async move {
                    match server {
                        Some(server) => server.put_append(args).await,
                        None => PutAppendReply {
                            err: Err::WrongLeader,
                        },
                    }
                }
            });
        vec![kv, self.inner.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.inner.rf.get_state()
    }

    /// Stops the server (the tester calls this when it crashes one). Stop the Raft peer, and
    /// make your applier and waiting handlers stop too.
    pub fn kill(&self) {
        self.inner.rf.kill();
        // Your code here, if any.
    }
}

impl Inner {
    /// The Get handler.
    async fn get(&self, args: GetArgs) -> GetReply {
        // Your code here.
        let _ = args;
        GetReply {
            err: Err::WrongLeader,
            value: String::new(),
        }
    }

    /// The PutAppend handler.
    async fn put_append(&self, args: PutAppendArgs) -> PutAppendReply {
        // Your code here.
        let _ = args;
        PutAppendReply {
            err: Err::WrongLeader,
        }
    }
}
