//! The server: a Raft peer, the state machine it drives, and the submissions waiting on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::api::Raft;
use raft::{ApplyMsg, ApplySender, Command, Configuration, Options, Persister};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{sleep, Instant};

/// How long [`Rsm::submit`] waits for its command to be applied before giving up. Long enough
/// for a commit on an unreliable network, where a lost AppendEntries waits for the next
/// heartbeat (100 ms), and short enough that a clerk stuck with a cut-off leader moves on.
pub const COMMIT_WAIT: Duration = Duration::from_millis(1000);

/// How often a waiting submission checks that its peer still leads the term it proposed in.
const LEADERSHIP_POLL: Duration = Duration::from_millis(50);

/// Snapshot once the Raft state reaches this share (percent) of `max_raft_state`: the log grows
/// between checks, and the tests bound the persisted size.
const SNAPSHOT_AT_PERCENT: usize = 90;

/// A deterministic state machine that [`Rsm`] replicates.
pub trait StateMachine: Send + 'static {
    /// What goes into the Raft log.
    type Command: Command;
    /// What applying a command gives the submitter.
    type Output: Send + 'static;

    /// Applies the next committed command. Every server applies the same commands in the same
    /// order, so this must depend on nothing but the state and the command.
    fn apply(&mut self, command: &Self::Command) -> Self::Output;

    /// The state, encoded.
    fn snapshot(&self) -> Vec<u8>;

    /// The state a snapshot encodes.
    fn restore(snapshot: &[u8]) -> Self;

    /// A command that changes nothing, which a new leader commits to serve reads without the
    /// log (lab 3C: until an entry of its term commits, its commit index may lag). `None` (the
    /// default): the service has none, and such reads wait for its next write.
    fn no_op() -> Option<Self::Command> {
        None
    }
}

/// Why [`Rsm::submit`] gave up; the client should try another server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected;

/// A replicated state machine server: a Raft peer and the machine it drives. Cheap to clone.
pub struct Rsm<S: StateMachine> {
    pub(crate) inner: Arc<Inner<S>>,
}

impl<S: StateMachine> Clone for Rsm<S> {
    fn clone(&self) -> Self {
        Rsm {
            inner: self.inner.clone(),
        }
    }
}

/// How a server made with membership tells a configuration entry in its log
/// (`raft::ConfigCommand::as_config`).
pub(crate) type AsConfig<C> = fn(&C) -> Option<&Configuration>;

pub(crate) struct Inner<S: StateMachine> {
    pub(crate) rf: Raft<S::Command>,
    persister: Persister,
    max_raft_state: Option<usize>,
    dead: AtomicBool,
    /// `Some` for a server made by `Rsm::with_membership`: the applier then records the
    /// configuration entries it applies (`State::applied_config`).
    as_config: Option<AsConfig<S::Command>>,
    pub(crate) state: Mutex<State<S>>,
    /// Woken whenever the machine moves to a later index (reads wait for one, `reads.rs`).
    pub(crate) applied_moved: Notify,
}

pub(crate) struct State<S: StateMachine> {
    pub(crate) machine: S,
    /// The last log index reflected in `machine`.
    pub(crate) applied: u64,
    /// Submissions waiting for the entry at an index; a newer proposal at the same index (from
    /// a later term) replaces an older one, whose submitter is then rejected.
    waiters: BTreeMap<u64, Waiter<S>>,
    /// The last term in which a refused read (or configuration change) proposed a no-op
    /// (`reads.rs`): one per term is enough, and a leader cut off before it commits would
    /// otherwise add one per retry.
    pub(crate) no_op_term: u64,
    /// With membership: the latest configuration entry applied and its index, the only sign a
    /// change has committed (Raft's `configuration()` is the latest appended, committed or
    /// not, and the machine ignores the entries). `None` until one is applied, and again after
    /// a snapshot replaced the machine: it may cover later configuration entries.
    pub(crate) applied_config: Option<(u64, Configuration)>,
}

struct Waiter<S: StateMachine> {
    /// The command proposed: the entry applied at the index must be this one.
    command: S::Command,
    done: oneshot::Sender<S::Output>,
}

impl<S: StateMachine> Rsm<S> {
    /// Starts a server on the current simulation node: a Raft peer `me` of `servers.len()` on
    /// `persister`, the machine restored from the persister's snapshot (or `initial` if there
    /// is none), and the applier. `max_raft_state`: `None` never snapshots.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        initial: S,
    ) -> Rsm<S> {
        Self::with_options(
            servers,
            me,
            persister,
            max_raft_state,
            initial,
            Options::default(),
        )
    }

    /// [`Rsm::new`], with a Raft peer made with `options` (lab 3C's reads need CheckQuorum
    /// for leases).
    pub fn with_options(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        initial: S,
        options: Options,
    ) -> Rsm<S> {
        Self::boot(
            persister,
            max_raft_state,
            initial,
            None,
            |persister, apply_tx| Raft::with_options(servers, me, persister, apply_tx, options),
        )
    }

    /// Starts a server whose Raft peer `raft` makes (given the persister and the apply
    /// channel): the machine restored from the persister's snapshot (or `initial`), and the
    /// applier. Every constructor comes here, so they differ only in their Raft peer.
    pub(crate) fn boot(
        persister: Persister,
        max_raft_state: Option<usize>,
        initial: S,
        as_config: Option<AsConfig<S::Command>>,
        raft: impl FnOnce(Persister, ApplySender<S::Command>) -> Raft<S::Command>,
    ) -> Rsm<S> {
        let (machine, applied) = match decode_snapshot(&persister.read_snapshot()) {
            Some((applied, machine)) => (machine, applied),
            None => (initial, 0),
        };
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let rf = raft(persister.clone(), apply_tx);
        let inner = Arc::new(Inner {
            rf,
            persister,
            max_raft_state,
            dead: AtomicBool::new(false),
            as_config,
            state: Mutex::new(State {
                machine,
                applied,
                waiters: BTreeMap::new(),
                no_op_term: 0,
                applied_config: None,
            }),
            applied_moved: Notify::new(),
        });
        labrpc::sim::spawn(applier(inner.clone(), apply_rx));
        Rsm { inner }
    }

    /// The Raft peer's RPC service, to register beside the service's own.
    pub fn raft_service(&self) -> Service {
        self.inner.rf.service()
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.inner.rf.get_state()
    }

    /// Whether [`Rsm::kill`] was called.
    pub fn is_dead(&self) -> bool {
        self.inner.dead.load(Ordering::SeqCst)
    }

    /// Stops the server: Raft, the applier, and every waiting submission (rejected).
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.inner.rf.kill();
        self.inner.state.lock().waiters.clear();
        self.inner.applied_moved.notify_waiters();
    }

    /// Runs `f` on the state machine, under the server's lock (keep it short, never await).
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.inner.state.lock().machine)
    }

    /// Puts `command` into the log if this peer is the leader, without waiting for it.
    /// Returns whether it was accepted (it may still not commit).
    pub fn propose(&self, command: S::Command) -> bool {
        !self.is_dead() && self.inner.rf.start(command).is_some()
    }

    /// Proposes `command` and waits until it is applied: its output, or [`Rejected`] (see the
    /// crate docs). In every failure the command may still commit later.
    pub async fn submit(&self, command: S::Command) -> Result<S::Output, Rejected> {
        if self.is_dead() {
            return Err(Rejected);
        }
        let (index, term, mut done) = {
            // Under the lock, so the applier cannot pass the index before the waiter is there.
            let mut st = self.inner.state.lock();
            let Some((index, term)) = self.inner.rf.start(command.clone()) else {
                return Err(Rejected);
            };
            let (tx, rx) = oneshot::channel();
            st.waiters.insert(index, Waiter { command, done: tx });
            (index, term, rx)
        };
        let deadline = Instant::now() + COMMIT_WAIT;
        loop {
            tokio::select! {
                biased;
                output = &mut done => return output.map_err(|_| Rejected),
                () = sleep(LEADERSHIP_POLL) => {}
            }
            if self.inner.rf.get_state() != (term, true) || Instant::now() >= deadline {
                break;
            }
        }
        // Give up, and remove the waiter unless a newer proposal replaced it already: with our
        // receiver gone, only our own waiter's sender is closed.
        drop(done);
        let mut st = self.inner.state.lock();
        if st.waiters.get(&index).is_some_and(|w| w.done.is_closed()) {
            st.waiters.remove(&index);
        }
        Err(Rejected)
    }
}

/// Applies what Raft delivers, in order, until the server is killed (its node's crash aborts
/// the task in any case).
async fn applier<S: StateMachine>(
    inner: Arc<Inner<S>>,
    mut apply_rx: mpsc::UnboundedReceiver<ApplyMsg<S::Command>>,
) {
    while let Some(msg) = apply_rx.recv().await {
        if inner.dead.load(Ordering::SeqCst) {
            return;
        }
        inner.apply(msg);
    }
}

impl<S: StateMachine> Inner<S> {
    fn apply(&self, msg: ApplyMsg<S::Command>) {
        let mut st = self.state.lock();
        match msg {
            ApplyMsg::Command { index, command } => {
                if index <= st.applied {
                    return; // already in the snapshot this server started from
                }
                debug_assert_eq!(index, st.applied + 1, "Raft skipped an index");
                st.applied = index;
                if let Some(config) = self.as_config.and_then(|as_config| as_config(&command)) {
                    st.applied_config = Some((index, config.clone()));
                }
                let output = st.machine.apply(&command);
                if let Some(waiter) = st.waiters.remove(&index) {
                    if waiter.command == command {
                        let _ = waiter.done.send(output);
                    }
                    // Otherwise another leader's entry took the index: dropping the sender
                    // rejects the submission.
                }
            }
            ApplyMsg::Snapshot { index, data, .. } => {
                if index <= st.applied {
                    return; // never go backwards
                }
                let (applied, machine) = decode_snapshot(&data)
                    .unwrap_or_else(|| panic!("rsm: Raft delivered an empty snapshot at {index}"));
                debug_assert_eq!(applied, index);
                st.machine = machine;
                st.applied = index;
                st.applied_config = None;
            }
        }
        // Submissions waiting at or below the applied index can no longer be answered (a
        // snapshot jumped over them): reject them.
        let applied = st.applied;
        while let Some(waiter) = st.waiters.first_entry() {
            if *waiter.key() > applied {
                break;
            }
            waiter.remove();
        }
        self.maybe_snapshot(&st);
        self.applied_moved.notify_waiters();
    }

    /// Hands Raft a snapshot once its persisted state nears `max_raft_state`.
    fn maybe_snapshot(&self, st: &State<S>) {
        let Some(max) = self.max_raft_state else {
            return;
        };
        if self.persister.raft_state_size() * 100 >= max * SNAPSHOT_AT_PERCENT {
            let data = labgob::encode(&(st.applied, st.machine.snapshot()))
                .expect("integers and bytes are always encodable");
            self.rf.snapshot(st.applied, data);
        }
    }
}

/// The applied index and the machine a snapshot holds; `None` for no snapshot.
fn decode_snapshot<S: StateMachine>(data: &[u8]) -> Option<(u64, S)> {
    if data.is_empty() {
        return None;
    }
    let (applied, machine): (u64, Vec<u8>) =
        labgob::decode(data).unwrap_or_else(|e| panic!("rsm: undecodable snapshot: {e}"));
    Some((applied, S::restore(&machine)))
}
