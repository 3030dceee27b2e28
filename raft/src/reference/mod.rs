//! Reference Raft (Lab 2A-2F, and 3C's reads): a pure protocol core wrapped in a thin async
//! driver.
//!
//! The protocol (`core.rs` and the modules it links) is a state machine in the style of etcd
//! raft and TiKV's raft-rs: it never awaits, sleeps, sends or saves. It takes inputs (a tick, a
//! proposal, an RPC request, the outcome of an RPC it sent) and accumulates a `Ready`: state to
//! persist, messages to send, commands and snapshots to deliver. This file is the driver that
//! turns a `Ready` into I/O, and the only place that knows about tasks, the network and the
//! persister:
//!
//! * every input runs under one lock in [`Inner::step`], which then persists (before anything
//!   leaves: a reply or message may promise a vote or an entry that must survive a crash), spawns
//!   one task per outgoing message, and queues deliveries for the applier;
//! * a message task makes one RPC and steps its outcome (reply, or none) back into the core
//!   together with the request; no task ever waits for another RPC, so one unreachable peer
//!   (its calls can take 7 s to fail) holds up nothing;
//! * the core counts time in ticks of [`TICK`]. Most ticks do nothing but count, so no task
//!   wakes for them: before each input, [`Inner::step`] first brings the core's tick count up
//!   to the virtual time, and a ticker task sleeps until the next tick that can act (an
//!   election timeout, a heartbeat), re-armed when an input brings that tick closer;
//! * one applier task delivers on the apply channel, in order, without the lock, so a service
//!   that calls back into Raft while handling a delivery (the tester's snapshots do) is fine;
//! * [`Raft::kill`] sets a flag every task and handler checks: nothing is sent, persisted or
//!   delivered afterwards.
//!
//! Tasks are spawned on the peer's simulation node (captured in [`Raft::new`]), so that a crash
//! of the node stops them even when the spawning call (`start`, from the tester) runs elsewhere.

mod core;
mod election;
mod log;
mod membership;
mod messages;
mod persist;
mod reads;
mod replication;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use labrpc::sim::clock;
use labrpc::sim::Node;
use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use self::core::{Core, CoreConfig, Message, Request};
use self::membership::Membership;
use self::persist::Persist;
use crate::{
    ApplyMsg, ApplySender, Command, ConfigChange, ConfigCommand, ConfigError, Configuration,
    Options, Persister, ReadError,
};

/// One tick of the core's clock.
const TICK: Duration = Duration::from_millis(10);
/// Election timeout: 300-600 ms, drawn anew at every reset. Several rounds of split votes still
/// fit in the 5 s the tester allows for a new leader.
const ELECTION_TICKS: std::ops::Range<u64> = 30..61;
/// Heartbeats every 100 ms: the tester allows at most 10 per second per follower.
const HEARTBEAT_TICKS: u64 = 10;
/// Heartbeats every 250 ms to a follower silent for longer than an election timeout (crashed or
/// cut off); still under the shortest election timeout, so it hears the leader in time once it
/// is back.
const SILENT_HEARTBEAT_TICKS: u64 = 25;
/// The lease a leader may take (lab 3C, see `reads.rs`), in ticks, when clocks may run off
/// by `drift`: shorter than the time, on its own clock, before which a follower that answered
/// its heartbeat cannot vote for another. That follower refuses votes for the minimum election
/// timeout on its clock, of which a whole tick may be lost to counting in ticks; the lease may
/// be counted a tick short too. In true time: `(lease + 1) / (1 - drift) < (E - 1) / (1 + drift)`.
fn lease_ticks(drift: f64) -> u64 {
    assert!(
        (0.0..clock::MAX_DRIFT).contains(&drift),
        "raft: Options::clock_drift {drift} must be at least 0 and below {}",
        clock::MAX_DRIFT
    );
    let refusal = (ELECTION_TICKS.start - 1) as f64;
    let lease = (refusal * (1.0 - drift) / (1.0 + drift)).floor() as u64;
    lease.saturating_sub(2)
}

/// The longest the ticker sleeps when nothing is due.
const IDLE_TICKS: u64 = 100;

/// One Raft peer, as the tester and the key/value service hold it. Clones are handles to the
/// same peer.
pub struct Raft<C: Command> {
    inner: Arc<Inner<C>>,
}

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<C: Command> {
    /// The simulation node this peer runs on: where its tasks live and die.
    node: Node,
    peers: Vec<ClientEnd>,
    persister: Persister,
    dead: AtomicBool,
    state: Mutex<State<C>>,
    /// When, on this peer's clock (`labrpc::sim::clock`, which may drift in lab 3C's tests),
    /// the core's tick 0 was: tick `k` falls at `epoch + k * TICK` on that clock.
    epoch: Duration,
    /// Wakes the ticker when an input moved the next due tick before the one it sleeps until.
    due_sooner: Notify,
    /// Wakes the applier when `State::deliveries` gets something (or on kill).
    deliveries_added: Notify,
}

struct State<C> {
    core: Core<C>,
    /// Ticks given to the core so far.
    ticks: u64,
    /// The tick the ticker sleeps until.
    armed: u64,
    /// Reads waiting for their answer from the core, by number.
    read_waiters: HashMap<u64, oneshot::Sender<Result<u64, ReadError>>>,
    /// The number of the last read.
    last_read: u64,
    /// Committed commands and snapshots not yet delivered, in order.
    deliveries: VecDeque<ApplyMsg<C>>,
}

impl<C: Command> Raft<C> {
    /// Creates peer `me` of `peers.len()`, restores what `persister` holds, starts the ticker
    /// and the applier on the current simulation node, and returns at once.
    pub fn new(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
    ) -> Raft<C> {
        Self::with_options(peers, me, persister, apply_tx, Options::default())
    }

    /// [`Raft::new`], with the 2E guards that `options` switches on.
    pub fn with_options(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
    ) -> Raft<C> {
        Self::boot(peers, me, persister, apply_tx, options, None)
    }

    /// Starts a peer; with `membership`, one whose configuration changes (lab 2F).
    fn boot(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
        membership: Option<Membership<C>>,
    ) -> Raft<C> {
        let config = CoreConfig {
            id: me,
            peers: peers.len(),
            election_ticks: ELECTION_TICKS,
            heartbeat_ticks: HEARTBEAT_TICKS,
            silent_heartbeat_ticks: SILENT_HEARTBEAT_TICKS,
            pre_vote: options.pre_vote,
            check_quorum: options.check_quorum,
            lease_ticks: if options.lease_reads {
                lease_ticks(options.clock_drift)
            } else {
                0
            },
        };
        // The simulation's generator draws from the stream of the node the caller runs on. Every
        // core input that resets a timer (ticks, RPC handlers, replies) runs on this peer's node,
        // so its draws are this peer's, whoever calls `start` or `snapshot`.
        let random = Box::new(labrpc::sim::random_range);
        let (state, snapshot) = (persister.read_raft_state(), persister.read_snapshot());
        let core = match membership {
            None => Core::new(config, random, &state, snapshot),
            Some(membership) => Core::with_membership(config, random, &state, snapshot, membership),
        };
        let node = Node::current();
        let inner = Arc::new(Inner {
            epoch: clock::now_of(&node),
            node,
            peers,
            persister,
            dead: AtomicBool::new(false),
            due_sooner: Notify::new(),
            state: Mutex::new(State {
                core,
                ticks: 0,
                armed: 0,
                read_waiters: HashMap::new(),
                last_read: 0,
                deliveries: VecDeque::new(),
            }),
            deliveries_added: Notify::new(),
        });
        inner.node.spawn(inner.clone().ticker());
        inner.node.spawn(inner.clone().applier(apply_tx));
        Raft { inner }
    }

    /// The current term, and whether this peer believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        let st = self.inner.state.lock();
        (st.core.term(), st.core.is_leader())
    }

    /// Proposes `command`: `None` unless this peer is the leader, else the index it will have
    /// if it is committed, and the current term. Replication starts before this returns.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        self.inner.step(|core| core.propose(command)).flatten()
    }

    /// The service has snapshotted everything through `index`: discard the log up to there.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.inner.step(|core| core.compact(index, snapshot));
    }

    /// Lab 3C, ReadIndex: the index the service must have applied before it serves a read
    /// that arrived now, once a heartbeat round has confirmed that this peer still leads.
    pub async fn read_index(&self) -> Result<u64, ReadError> {
        if self.inner.dead() {
            return Err(ReadError::NotLeader);
        }
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut st = self.inner.state.lock();
            st.last_read += 1;
            let id = st.last_read;
            st.read_waiters.insert(id, tx);
            id
        };
        if self.inner.step(|core| core.read_index(id)).is_none() {
            return Err(ReadError::NotLeader);
        }
        // A killed peer drops the waiting senders.
        rx.await.unwrap_or(Err(ReadError::NotLeader))
    }

    /// Lab 3C, lease reads: the index to have applied before serving a read now, if this peer
    /// leads under a lease; no messages.
    pub fn lease_read_index(&self) -> Result<u64, ReadError> {
        self.inner
            .step(|core| core.lease_read_index())
            .unwrap_or(Err(ReadError::NotLeader))
    }

    /// Lab 2F: the configuration this peer goes by, the latest in its log.
    pub fn configuration(&self) -> Configuration {
        self.inner.state.lock().core.configuration().clone()
    }

    /// Stops the peer at once: no more messages, persistence or deliveries.
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.inner.state.lock().read_waiters.clear();
        self.inner.deliveries_added.notify_one();
    }

    /// The RPC service to register for this peer, named "Raft".
    pub fn service(&self) -> Service {
        Service::new("Raft")
            .handle(self.handler(Core::handle_request_vote))
            .handle(self.handler(Core::handle_pre_vote))
            .handle(self.handler(Core::handle_append_entries))
            .handle(self.handler(Core::handle_install_snapshot))
    }

    /// A labrpc handler that steps requests into the core with `handle`.
    ///
    /// The work happens inside the future, which labrpc runs on this peer's node. A killed
    /// peer answers with the default reply (term 0), which every sender ignores.
    fn handler<A, R>(
        &self,
        handle: fn(&mut Core<C>, A) -> R,
    ) -> impl Fn(A) -> BoxFuture<'static, R> + Send + Sync + 'static
    where
        A: Send + 'static,
        R: Default + Send + 'static,
    {
        let peer = self.inner.clone();
        move |args| {
            let peer = peer.clone();
            async move { peer.step(|core| handle(core, args)).unwrap_or_default() }.boxed()
        }
    }
}

impl<C: ConfigCommand> Raft<C> {
    /// Lab 2F: [`Raft::with_options`], for a peer whose configuration changes through its log.
    pub fn with_membership(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
        initial: Configuration,
    ) -> Raft<C> {
        let membership = Membership {
            initial,
            as_config: C::as_config,
            from_config: C::from_config,
        };
        Self::boot(peers, me, persister, apply_tx, options, Some(membership))
    }

    /// Lab 2F: appends the configuration `change` makes, if this peer leads and may.
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        self.inner
            .step(|core| core.change_config(change))
            .unwrap_or(Err(ConfigError::NotLeader))
    }
}

impl<C: Command> Inner<C> {
    fn dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Runs one input through the core and carries out its `Ready`, all under the lock, so
    /// that what leaves matches what was persisted. `None` if the peer is dead.
    fn step<R>(self: &Arc<Self>, input: impl FnOnce(&mut Core<C>) -> R) -> Option<R> {
        if self.dead() {
            return None;
        }
        let mut st = self.state.lock();
        self.catch_up(&mut st);
        let result = input(&mut st.core);
        let mut ready = st.core.ready();
        if let Some(persist) = ready.persist.take() {
            save(&self.persister, persist);
        }
        for message in ready.messages.drain(..) {
            self.node.spawn(self.clone().send(message));
        }
        if !ready.apply.is_empty() {
            st.deliveries.extend(ready.apply.drain(..));
            self.deliveries_added.notify_one();
        }
        for (id, result) in ready.reads.drain(..) {
            if let Some(waiter) = st.read_waiters.remove(&id) {
                let _ = waiter.send(result);
            }
        }
        st.core.recycle(ready);
        let due = st.ticks + st.core.ticks_until_due();
        if due < st.armed {
            st.armed = due;
            self.due_sooner.notify_one();
        }
        Some(result)
    }

    /// Gives the core the ticks that fell since the last input (`TICK` by `TICK`, so the core
    /// sees exactly the ticks a task ticking every `TICK` would have given it).
    fn catch_up(&self, st: &mut State<C>) {
        let elapsed = clock::now_of(&self.node).saturating_sub(self.epoch);
        let now = u64::try_from(elapsed.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX);
        while st.ticks < now {
            st.ticks += 1;
            st.core.tick();
        }
    }

    /// Makes one RPC and steps its outcome, with the request, back into the core.
    async fn send(self: Arc<Self>, message: Message<C>) {
        let Message { to, seq, request } = message;
        let end = &self.peers[to];
        match request {
            Request::Vote(args) => {
                tracing::debug!(
                    kind = "send",
                    "RequestVote to peer {to} (term {})",
                    args.term
                );
                let reply = end.call(&args).await.ok();
                self.step(|core| core.handle_request_vote_reply(to, &args, reply));
            }
            Request::PreVote(args) => {
                tracing::debug!(
                    kind = "send",
                    "PreVote to peer {to} (for term {})",
                    args.0.term
                );
                let reply = end.call(&args).await.ok();
                self.step(|core| core.handle_pre_vote_reply(to, &args, reply));
            }
            Request::Append(args) => {
                if !args.entries.is_empty() {
                    tracing::debug!(
                        kind = "send",
                        "AppendEntries to peer {to}: {} entries after {}",
                        args.entries.len(),
                        args.prev_log_index
                    );
                }
                let reply = end.call(&args).await.ok();
                self.step(|core| core.handle_append_entries_reply(to, seq, &args, reply));
            }
            Request::Snapshot(args) => {
                tracing::debug!(
                    kind = "send",
                    "InstallSnapshot to peer {to} (through {})",
                    args.last_included_index
                );
                let reply = end.call(&args).await.ok();
                self.step(|core| core.handle_install_snapshot_reply(to, seq, &args, reply));
            }
        }
    }

    /// Sleeps until the next tick that can act, or until an input brings it closer; then
    /// steps nothing, which gives the core its ticks.
    async fn ticker(self: Arc<Self>) {
        loop {
            let due = {
                let mut st = self.state.lock();
                // A lone leader has no heartbeats to send: look again now and then.
                st.armed = st.ticks + st.core.ticks_until_due().min(IDLE_TICKS);
                st.armed
            };
            let at = self.epoch + TICK * u32::try_from(due).unwrap_or(u32::MAX);
            let wait = at.saturating_sub(clock::now_of(&self.node));
            // `biased`: a fixed polling order, no draw from tokio's random generator.
            tokio::select! {
                biased;
                () = clock::sleep_on(&self.node, wait) => {}
                () = self.due_sooner.notified() => {}
            }
            if self.step(|_| ()).is_none() {
                return;
            }
        }
    }

    /// Delivers committed commands and snapshots in order, never holding the lock while
    /// sending.
    async fn applier(self: Arc<Self>, apply_tx: ApplySender<C>) {
        loop {
            let batch = std::mem::take(&mut self.state.lock().deliveries);
            if batch.is_empty() {
                if self.dead() {
                    return;
                }
                // A notification sent since the take is kept as a permit: none is lost.
                self.deliveries_added.notified().await;
                continue;
            }
            let indexes = |m: &ApplyMsg<C>| match m {
                ApplyMsg::Command { index, .. } | ApplyMsg::Snapshot { index, .. } => *index,
            };
            if let (Some(first), Some(last)) = (batch.front(), batch.back()) {
                let (first, last) = (indexes(first), indexes(last));
                tracing::debug!(kind = "apply", "delivers {first}..={last}");
            }
            for msg in batch {
                if self.dead() || apply_tx.send(msg).is_err() {
                    return;
                }
            }
        }
    }
}

/// Saves what a `Ready` asks for: the state as a change to what this core saved before (see
/// `persist::Persist`: a save costs what changed, not the whole log), and the snapshot only when
/// it changed (the persister keeps the saved one otherwise: no need to copy it every time).
fn save(persister: &Persister, persist: Persist) {
    let Persist {
        head,
        keep,
        appended,
        snapshot,
    } = persist;
    persister.save_appending(head, keep, &appended, snapshot);
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrpc::sim;
    use labrpc::{Network, Server};
    use tokio::sync::mpsc;
    use tokio::time::{sleep, timeout};

    /// The lease is shorter than a follower's refusal to vote, in true time, at every drift.
    #[test]
    fn leases_end_before_any_follower_would_vote_again() {
        assert_eq!(lease_ticks(0.0), 27);
        for ppm in (0..490_000).step_by(1000) {
            let drift = ppm as f64 / 1e6;
            let lease = lease_ticks(drift) as f64;
            let refusal = (ELECTION_TICKS.start - 1) as f64;
            assert!(
                (lease + 1.0) / (1.0 - drift) < refusal / (1.0 + drift),
                "drift {drift}: lease {lease}"
            );
        }
    }

    /// Three peers on a reliable simulated network: one leader is elected, and commands
    /// proposed to it reach every peer's service in order.
    #[test]
    fn three_peers_elect_a_leader_and_agree() {
        let outcome = sim::run(&sim::RunSettings::new(2024), || async {
            let n = 3;
            let net = Network::new();
            let (mut rafts, mut appliers) = (Vec::new(), Vec::new());
            for i in 0..n {
                let ends: Vec<ClientEnd> = (0..n)
                    .map(|j| {
                        let name = format!("{i}->{j}");
                        let end = net.make_end(name.clone());
                        net.connect(&name, &j.to_string());
                        net.enable(&name, true);
                        end
                    })
                    .collect();
                let (tx, rx) = mpsc::unbounded_channel();
                let node = sim::Node::new(format!("raft-{i}"));
                let (raft, server) = node.enter(|| {
                    let raft = Raft::<u64>::new(ends, i, Persister::new(), tx);
                    let mut server = Server::new();
                    server.add_service(raft.service());
                    (raft, server)
                });
                net.add_server(&i.to_string(), server);
                rafts.push(raft);
                appliers.push(rx);
            }

            // One leader within a few election timeouts, and only one.
            let mut leader = None;
            for _ in 0..50 {
                sleep(Duration::from_millis(100)).await;
                let leaders: Vec<usize> = (0..n).filter(|&i| rafts[i].get_state().1).collect();
                if let [l] = leaders[..] {
                    leader = Some(l);
                    break;
                }
            }
            let leader = leader.expect("no leader elected within 5 s");
            let term = rafts[leader].get_state().0;
            assert!(term >= 1);
            assert!((0..n).all(|i| i == leader || rafts[i].start(0).is_none()));

            for (k, command) in [101, 102, 103].into_iter().enumerate() {
                assert_eq!(rafts[leader].start(command), Some((k as u64 + 1, term)));
            }
            for rx in &mut appliers {
                for (k, command) in [101, 102, 103].into_iter().enumerate() {
                    let msg = timeout(Duration::from_secs(2), rx.recv()).await;
                    let expected = ApplyMsg::Command {
                        index: k as u64 + 1,
                        command,
                    };
                    assert_eq!(msg.expect("commit within 2 s"), Some(expected));
                }
            }
            // An idle second with a stable leader: heartbeats only, no new term.
            let rpcs = net.total_count();
            sleep(Duration::from_secs(1)).await;
            assert_eq!(rafts[leader].get_state(), (term, true));
            assert!(net.total_count() - rpcs <= 2 * 10 + 2, "too many idle RPCs");
            for raft in &rafts {
                raft.kill();
            }
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}
