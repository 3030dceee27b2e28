//! The server: RPC handlers that propose operations to Raft and wait for them, and the applier
//! task that applies what Raft commits, answers the waiting handlers and takes snapshots.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, Instant};

use super::rpc::PutKind;
use super::rpc::{Command, Err, GetArgs, GetReply, Op, OpId, PutAppendArgs, PutAppendReply};
use super::state_machine::{Output, StateMachine};

/// How long a handler waits for its operation to commit before answering `WrongLeader`, so
/// that a leader cut off in a minority (which does not know it lost) does not hold clerks.
/// Long enough for a commit on an unreliable network, where a lost AppendEntries waits for the
/// next heartbeat (100 ms).
const COMMIT_WAIT: Duration = Duration::from_millis(1000);
/// How often a waiting handler checks that its peer is still leader of the term it proposed
/// in; a change means the entry may never commit, so the clerk had better try elsewhere.
const LEADERSHIP_POLL: Duration = Duration::from_millis(50);
/// Snapshot once the Raft state reaches this share (in percent) of `max_raft_state`: the log
/// grows between the check and the snapshot, and the tester's limit is on the persisted size.
const SNAPSHOT_AT_PERCENT: usize = 90;

/// One key/value server: a Raft peer and the state machine it drives.
pub struct KvServer {
    inner: Arc<Inner>,
}

struct Inner {
    rf: Raft<Command>,
    persister: Persister,
    max_raft_state: Option<usize>,
    dead: AtomicBool,
    state: Mutex<State>,
}

struct State {
    machine: StateMachine,
    /// Handlers waiting for the entry at a log index, at most one per index (a newer proposal
    /// at the same index, from a later term, replaces an older one, whose handler then fails).
    waiters: BTreeMap<u64, Waiter>,
}

/// A handler waiting for its command to be applied.
struct Waiter {
    /// Which operation the handler proposed: the entry applied at its index must be this one.
    id: OpId,
    /// Gets the output; dropped unsent when another entry took the index, or when a snapshot
    /// jumped over it (the handler then answers `WrongLeader`, and the clerk retries).
    done: oneshot::Sender<Output>,
}

impl KvServer {
    /// Starts server `me` on the current simulation node, from the snapshot in `persister` (if
    /// any); Raft restores its own state from the same persister.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        let machine = StateMachine::restore(&persister.read_snapshot());
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let rf = Raft::new(servers, me, persister.clone(), apply_tx);
        let inner = Arc::new(Inner {
            rf,
            persister,
            max_raft_state,
            dead: AtomicBool::new(false),
            state: Mutex::new(State {
                machine,
                waiters: BTreeMap::new(),
            }),
        });
        labrpc::sim::spawn(applier(Arc::downgrade(&inner), apply_rx));
        KvServer { inner }
    }

    /// The services the tester registers for this server: `"KVServer"` and `"Raft"`.
    ///
    /// The handlers hold the server weakly: the network owns them, and the server owns ends
    /// into the network.
    pub fn services(&self) -> Vec<Service> {
        let (get, put) = (Arc::downgrade(&self.inner), Arc::downgrade(&self.inner));
        let kv = Service::new("KVServer")
            .handle(move |args: GetArgs| {
                let server = get.clone();
                async move { handle_get(server, args).await }
            })
            .handle(move |args: PutAppendArgs| {
                let server = put.clone();
                async move { handle_put_append(server, args).await }
            });
        vec![kv, self.inner.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.inner.rf.get_state()
    }

    /// Stops the server: its Raft peer, its applier, and every waiting handler.
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.inner.rf.kill();
        // Dropping the senders fails the waiting handlers at once.
        self.inner.state.lock().waiters.clear();
    }
}

async fn handle_get(server: Weak<Inner>, args: GetArgs) -> GetReply {
    let command = Command {
        id: args.id,
        op: Op::Get { key: args.key },
    };
    match execute(server, command).await {
        Ok(Output::Value(Some(value))) => GetReply {
            err: Err::Ok,
            value,
        },
        Ok(Output::Value(None)) => GetReply {
            err: Err::NoKey,
            value: String::new(),
        },
        Ok(Output::Written) => unreachable!("a Get applied as a write"),
        Err(err) => GetReply {
            err,
            value: String::new(),
        },
    }
}

async fn handle_put_append(server: Weak<Inner>, args: PutAppendArgs) -> PutAppendReply {
    let (key, value) = (args.key, args.value);
    let op = match args.kind {
        PutKind::Put => Op::Put { key, value },
        PutKind::Append => Op::Append { key, value },
    };
    let err = match execute(server, Command { id: args.id, op }).await {
        Ok(_) => Err::Ok,
        Err(err) => err,
    };
    PutAppendReply { err }
}

/// Proposes `command` and waits until it is applied at the index Raft gave it: its output, or
/// `WrongLeader` if this server is not the leader, another entry took the index, leadership
/// changed, or the wait timed out. In every failure the operation may still commit later; the
/// clerk's retry is then recognised as a duplicate.
async fn execute(server: Weak<Inner>, command: Command) -> Result<Output, Err> {
    let Some(inner) = server.upgrade() else {
        return Err(Err::WrongLeader);
    };
    if inner.dead.load(Ordering::SeqCst) {
        return Err(Err::WrongLeader);
    }
    let id = command.id;
    let (index, term, mut done) = {
        // Under the lock, so the applier cannot see the index before the waiter is there.
        let mut st = inner.state.lock();
        let Some((index, term)) = inner.rf.start(command) else {
            return Err(Err::WrongLeader);
        };
        let (tx, rx) = oneshot::channel();
        st.waiters.insert(index, Waiter { id, done: tx });
        (index, term, rx)
    };
    // Hold only the weak reference while waiting, so a dropped server is not kept alive.
    let rf = inner.rf.clone();
    drop(inner);

    let deadline = Instant::now() + COMMIT_WAIT;
    loop {
        tokio::select! {
            biased;
            output = &mut done => return output.map_err(|_| Err::WrongLeader),
            () = sleep(LEADERSHIP_POLL) => {}
        }
        if rf.get_state() != (term, true) || Instant::now() >= deadline {
            break;
        }
    }
    // Give up, and remove the waiter unless a newer proposal replaced it already.
    if let Some(inner) = server.upgrade() {
        let mut st = inner.state.lock();
        if st.waiters.get(&index).is_some_and(|w| w.id == id) {
            st.waiters.remove(&index);
        }
    }
    Err(Err::WrongLeader)
}

/// Applies what Raft delivers, in order, until the server is killed or dropped.
async fn applier(server: Weak<Inner>, mut apply_rx: mpsc::UnboundedReceiver<ApplyMsg<Command>>) {
    while let Some(msg) = apply_rx.recv().await {
        let Some(inner) = server.upgrade() else {
            return;
        };
        if inner.dead.load(Ordering::SeqCst) {
            return;
        }
        inner.apply(msg);
    }
}

impl Inner {
    fn apply(&self, msg: ApplyMsg<Command>) {
        let mut st = self.state.lock();
        match msg {
            ApplyMsg::Command { index, command } => {
                if index <= st.machine.applied() {
                    return; // already in the snapshot we started from
                }
                let output = st.machine.apply(index, &command);
                if let Some(waiter) = st.waiters.remove(&index) {
                    if waiter.id == command.id {
                        let _ = waiter.done.send(output);
                    }
                    // Otherwise another leader's entry took the index: dropping the sender
                    // tells the handler.
                }
            }
            ApplyMsg::Snapshot { index, data, .. } => {
                // Raft delivers snapshots in order with commands, but never go backwards.
                if index <= st.machine.applied() {
                    return;
                }
                st.machine = StateMachine::restore(&data);
                debug_assert_eq!(st.machine.applied(), index);
            }
        }
        // Handlers waiting at or below the applied index can no longer be answered (a snapshot
        // jumped over them): fail them.
        let applied = st.machine.applied();
        let pending = st.waiters.split_off(&(applied + 1));
        st.waiters = pending;
        self.maybe_snapshot(&st.machine);
    }

    /// Hands Raft a snapshot once its persisted state nears `max_raft_state`, so that it can
    /// discard the log up to the applied index.
    fn maybe_snapshot(&self, machine: &StateMachine) {
        let Some(max) = self.max_raft_state else {
            return;
        };
        if self.persister.raft_state_size() * 100 >= max * SNAPSHOT_AT_PERCENT {
            self.rf.snapshot(machine.applied(), machine.snapshot());
        }
    }
}
