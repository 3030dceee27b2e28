//! The state of the simulation running on this thread, and the node a task belongs to.
//!
//! A simulation owns one OS thread, so its state lives in a thread-local; which node a piece of
//! code runs for is a tokio task-local, inherited by everything spawned through [`super::spawn`].
//! Borrows of the state never cross an `.await` or a call into lab code, so they cannot clash.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::digest::{Event, Recorder};
use super::failure::FailureKind;
use super::rng::SimRng;

/// Identifies a node within one run. Node 0 is the tester itself, which never crashes.
pub(crate) type NodeId = u32;
pub(crate) const TESTER: NodeId = 0;

tokio::task_local! {
    pub(crate) static CURRENT_NODE: NodeId;
}

/// The node the calling code runs for: the task-local if set, else the tester.
pub(crate) fn current_node() -> NodeId {
    CURRENT_NODE.try_with(|n| *n).unwrap_or(TESTER)
}

/// What the simulation thread shares with its watchdog and with tokio's park hooks.
pub(crate) struct Shared {
    /// Woken to end the run early (panic, time limit, watchdog).
    pub(crate) abort: Notify,
    /// The first reason to end the run early, with the virtual time it was found at.
    pub(crate) failure: Mutex<Option<(Duration, FailureKind)>>,
    /// Virtual milliseconds since the start, published whenever the runtime wakes up.
    pub(crate) virtual_ms: AtomicU64,
    /// Whether the runtime is parked (no task ready to run).
    pub(crate) parked: AtomicBool,
    /// How many times the runtime has woken up from parking.
    pub(crate) unparks: AtomicU64,
    /// The virtual instant the run started at; set once the runtime exists.
    pub(crate) start: OnceLock<tokio::time::Instant>,
    /// The run's virtual-time limit.
    pub(crate) time_limit: Duration,
}

impl Shared {
    pub(crate) fn new(time_limit: Duration) -> Self {
        Shared {
            abort: Notify::new(),
            failure: Mutex::new(None),
            virtual_ms: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            unparks: AtomicU64::new(0),
            start: OnceLock::new(),
            time_limit,
        }
    }

    /// Ends the run with `kind`, unless an earlier failure already did.
    pub(crate) fn fail(&self, at: Duration, kind: FailureKind) {
        let mut slot = self.failure.lock();
        if slot.is_none() {
            *slot = Some((at, kind));
        }
        drop(slot);
        self.abort.notify_one();
    }

    /// Called by tokio each time the runtime wakes: publishes virtual time for the watchdog and
    /// enforces the time limit. Runs on the simulation thread, inside the runtime.
    pub(crate) fn on_unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
        self.unparks.fetch_add(1, Ordering::Relaxed);
        if let Some(start) = self.start.get() {
            let now = tokio::time::Instant::now().saturating_duration_since(*start);
            self.virtual_ms
                .store(now.as_millis() as u64, Ordering::Relaxed);
            if now > self.time_limit {
                self.fail(
                    now,
                    FailureKind::TimeLimit {
                        limit: self.time_limit,
                    },
                );
            }
        }
    }
}

/// The tasks one node has spawned, so that a crash can abort them all.
#[derive(Default)]
pub(crate) struct TaskList {
    handles: Vec<AbortHandle>,
    prune_at: usize,
}

impl TaskList {
    pub(crate) fn push(&mut self, handle: AbortHandle) {
        if self.handles.len() >= self.prune_at {
            // Amortized O(1): forget finished tasks whenever the list has doubled.
            self.handles.retain(|h| !h.is_finished());
            self.prune_at = (self.handles.len() * 2).max(64);
        }
        self.handles.push(handle);
    }

    pub(crate) fn take(&mut self) -> Vec<AbortHandle> {
        self.prune_at = 0;
        std::mem::take(&mut self.handles)
    }
}

pub(crate) struct NodeSlot {
    pub(crate) name: Arc<str>,
    pub(crate) alive: bool,
    pub(crate) rng: SimRng,
    pub(crate) tasks: TaskList,
}

/// Everything a running simulation knows, owned by its thread.
pub(crate) struct SimState {
    pub(crate) seed: u64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) start: tokio::time::Instant,
    pub(crate) recorder: RefCell<Recorder>,
    pub(crate) nodes: RefCell<Vec<NodeSlot>>,
    pub(crate) network_rng: RefCell<SimRng>,
    /// Set when the body has finished: the final virtual time, seen by code that runs while the
    /// runtime shuts down (outside the runtime, where tokio's clock would read the wall clock).
    pub(crate) frozen: std::cell::Cell<Option<Duration>>,
}

/// RNG stream numbers: 0 is the network, 1 the tester, node k (k >= 1) is stream k + 1.
pub(crate) const NETWORK_STREAM: u32 = 0;

impl SimState {
    pub(crate) fn new(
        seed: u64,
        shared: Arc<Shared>,
        start: tokio::time::Instant,
        log: bool,
    ) -> Self {
        let tester = NodeSlot {
            name: Arc::from("tester"),
            alive: true,
            rng: SimRng::derive(seed, 1),
            tasks: TaskList::default(),
        };
        SimState {
            seed,
            shared,
            start,
            recorder: RefCell::new(Recorder::new(log)),
            nodes: RefCell::new(vec![tester]),
            network_rng: RefCell::new(SimRng::derive(seed, u64::from(NETWORK_STREAM))),
            frozen: std::cell::Cell::new(None),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        if let Some(frozen) = self.frozen.get() {
            return frozen;
        }
        tokio::time::Instant::now().saturating_duration_since(self.start)
    }

    /// The name of node `id`.
    pub(crate) fn node_name(&self, id: NodeId) -> String {
        self.nodes
            .try_borrow()
            .ok()
            .and_then(|nodes| nodes.get(id as usize).map(|n| n.name.to_string()))
            .unwrap_or_else(|| format!("node{id}"))
    }

    pub(crate) fn record(&self, event: Event) {
        self.recorder.borrow_mut().record(self.now(), event);
    }
}

thread_local! {
    static STATE: RefCell<Option<Rc<SimState>>> = const { RefCell::new(None) };
}

pub(crate) fn install(state: Rc<SimState>) {
    STATE.with(|s| *s.borrow_mut() = Some(state));
}

pub(crate) fn uninstall() -> Option<Rc<SimState>> {
    STATE.with(|s| s.borrow_mut().take())
}

/// Runs `f` on the simulation of this thread. Panics, with a message saying what to do, when
/// called outside a simulation.
pub(crate) fn with<R>(f: impl FnOnce(&SimState) -> R) -> R {
    STATE.with(|s| match &*s.borrow() {
        Some(state) => f(state),
        None => panic!(
            "labrpc::sim: called outside a simulation. Lab code runs inside `labrpc::sim::run` \
             or a `#[test]` that uses `labrpc::sim::test`, on the simulation's own thread; \
             do not use std::thread or spawn_blocking."
        ),
    })
}

/// Whether this thread is running a simulation.
pub(crate) fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}
