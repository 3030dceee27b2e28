//! The state of the simulation running on this thread, and the node a task belongs to.
//!
//! A simulation owns one OS thread, so its state lives in a thread-local; so does the role of the
//! code running on it (which node, and whether tester code), set around every poll of code the
//! simulation runs and inherited by everything spawned through [`crate::spawn`]. Borrows of the
//! state never cross an `.await` or a call into lab code, so they cannot clash.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::digest::{DigestEvent, Recorder};
use crate::failure::FailureKind;
use crate::rng::SimRng;
use crate::site::{AddressHasher, Site, SiteId, SiteKey};

/// Identifies a node within one run: node 0 is the tester itself, which exists from the start
/// and never crashes; the nodes lab code and testers create count up from 1.
pub type NodeId = u32;
pub(crate) const TESTER: NodeId = 0;

/// Who the running code is: the node it runs on (whose crash stops it, whose random stream it
/// draws from, on which what it spawns lands) and whether it is the tester's code there (a panic
/// in it is the tester's, not the node's: the tester's per-peer applier runs on the peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    pub(crate) node: NodeId,
    pub(crate) tester: bool,
}

impl Role {
    /// The tester's own code, on node 0.
    pub const TESTER: Role = Role {
        node: TESTER,
        tester: true,
    };

    /// Lab code of `node`.
    pub const fn of(node: NodeId) -> Role {
        Role {
            node,
            tester: false,
        }
    }

    /// The node the code runs on.
    pub const fn node(&self) -> NodeId {
        self.node
    }
}

thread_local! {
    /// Set around every poll of a task spawned through the simulation, of the test body, of an
    /// RPC handler and of a closure passed to `Node::enter`, and put back after it. Code that
    /// runs without it was started outside the simulation's control (`tokio::spawn`). A plain
    /// thread-local rather than a tokio task-local: polls nest on the simulation's one thread,
    /// so saving and restoring around each gives the same answer, for less than half the cost
    /// on a path every poll takes.
    pub(crate) static ROLE: Cell<Option<Role>> = const { Cell::new(None) };
}

/// The role of the calling code, or `None` for code outside every node.
pub(crate) fn current_role() -> Option<Role> {
    ROLE.with(Cell::get)
}

/// The node the calling code runs on, for `what` it is about to do (e.g. "labrpc::sim::spawn").
/// Code outside every node breaks the rule that lab code runs on its node: the run fails with
/// that rule, and the call goes on as the tester's until the run stops.
pub(crate) fn current_node(what: &str) -> NodeId {
    role_for(what).node
}

/// The role of the calling code, for `what` it is about to do; outside every node, the run
/// fails with the rule (see [`current_node`]) and the call goes on as the tester's.
pub(crate) fn role_for(what: &str) -> Role {
    current_role().unwrap_or_else(|| {
        with(|s| s.outside_every_node(what));
        Role::TESTER
    })
}

/// What the simulation thread is running right now, for the watchdog: a node and a code site,
/// packed in one atomic so that publishing it costs one store per poll.
pub(crate) fn pack_running(node: NodeId, site: SiteId) -> u64 {
    (u64::from(node) << 32) | u64::from(site)
}

/// What the simulation thread shares with its watchdog and with tokio's park hooks.
pub(crate) struct Shared {
    /// Woken to end the run early (panic, time limit, watchdog).
    pub(crate) abort: Notify,
    /// The first reason to end the run early, with the virtual time it was found at and what
    /// the tester was doing at that moment (the report's context lines, see `activity`).
    pub(crate) failure: Mutex<Option<(Duration, FailureKind, Vec<String>)>>,
    /// Virtual milliseconds since the start, published whenever the runtime wakes up.
    pub(crate) virtual_ms: AtomicU64,
    /// Whether the runtime is parked (no task ready to run).
    pub(crate) parked: AtomicBool,
    /// The node and site being polled ([`pack_running`]), for the watchdog's diagnoses.
    pub(crate) running: AtomicU64,
    /// The names of the sites, by [`SiteId`] (the watchdog reads them only to report).
    pub(crate) sites: Mutex<Vec<String>>,
    /// Polls of simulation code (tasks, the body, handlers, `Node::enter`) so far.
    pub(crate) polls: AtomicU64,
    /// When the clock first went past the limit: the time the run was idle from, and `polls`.
    pub(crate) crossing: Mutex<Option<(Duration, u64)>>,
    /// Tasks spawned through the simulation and not yet dropped. tokio counting more tasks
    /// than this means some code spawned with `tokio::spawn`.
    pub(crate) tracked_tasks: AtomicUsize,
    /// The names of the nodes, by id (the watchdog reads them only to report).
    pub(crate) node_names: Mutex<Vec<String>>,
    /// The kernel's view of the simulation thread, once it runs (`None` inside: this system
    /// has no such view).
    pub(crate) probe: OnceLock<Option<crate::thread_probe::ThreadProbe>>,
    /// The runtime's metrics (the count of its live tasks), once it exists.
    pub(crate) metrics: OnceLock<tokio::runtime::RuntimeMetrics>,
    /// The virtual instant the run started at; set once the runtime exists.
    pub(crate) start: OnceLock<tokio::time::Instant>,
    /// The run's virtual-time limit.
    pub(crate) time_limit: Duration,
    /// The tester's step and clerk calls in flight (see `activity`).
    pub(crate) activity: Mutex<crate::activity::Activity>,
    /// The order of tasks ready at one instant (see `schedule`).
    pub(crate) schedule: crate::schedule::Explorer,
}

/// How far past the time limit the deadlock sentinel waits (see [`Shared::sentinel`]). Far
/// enough that no lab timer lands on it, within the reach of tokio's timer wheel (about 2 years).
const SENTINEL_AFTER_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Shared {
    pub(crate) fn new(time_limit: Duration) -> Self {
        Shared {
            abort: Notify::new(),
            failure: Mutex::new(None),
            virtual_ms: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            running: AtomicU64::new(pack_running(TESTER, 0)),
            sites: Mutex::new(vec![Site::Body.to_string()]),
            polls: AtomicU64::new(0),
            crossing: Mutex::new(None),
            tracked_tasks: AtomicUsize::new(0),
            node_names: Mutex::new(vec!["tester".to_string()]),
            probe: OnceLock::new(),
            metrics: OnceLock::new(),
            start: OnceLock::new(),
            time_limit,
            activity: Mutex::new(Default::default()),
            schedule: Default::default(),
        }
    }

    /// The virtual time of the deadlock sentinel: a timer the run always has pending, so that the
    /// paused clock never parks the thread for good. When every task waits and no other timer is
    /// pending, the clock jumps straight to it, and that jump is the deadlock, found inside the
    /// simulation and at the same virtual time on every machine.
    pub(crate) fn sentinel(&self) -> Duration {
        self.time_limit + SENTINEL_AFTER_LIMIT
    }

    /// Ends the run with `kind`, unless an earlier failure already did. The first failure
    /// keeps what the tester was doing at that moment (its step, the clerk calls in flight).
    pub(crate) fn fail(&self, at: Duration, kind: FailureKind) {
        let mut slot = self.failure.lock();
        if slot.is_none() {
            *slot = Some((at, kind, self.activity.lock().describe()));
        }
        drop(slot);
        self.abort.notify_one();
    }

    fn virtual_now(&self) -> Option<Duration> {
        let start = self.start.get()?;
        Some(tokio::time::Instant::now().saturating_duration_since(*start))
    }

    /// Called by tokio before the runtime parks (no task ready): checks that every task the
    /// runtime has was spawned through the simulation, and wakes the tasks waiting for the
    /// run to settle (`settle`). Reads no clock for its own checks: virtual time moves only
    /// while the runtime is parked, so it still is what `on_unpark` last published.
    pub(crate) fn on_park(&self) {
        self.parked.store(true, Ordering::Relaxed);
        let now = Duration::from_millis(self.virtual_ms.load(Ordering::Relaxed));
        let alive = self.metrics.get().map_or(0, |m| m.num_alive_tasks());
        if alive > self.tracked_tasks.load(Ordering::Relaxed) {
            self.fail(now, FailureKind::foreign_task());
        }
        if now > self.time_limit {
            self.past_limit(now, now);
        }
        // Watchers woken here run before the clock moves (tokio then skips the park).
        with_state(SimState::wake_settled);
    }

    /// Called by tokio each time the runtime wakes: publishes virtual time for the watchdog and
    /// decides deadlock and the time limit. Runs on the simulation thread, inside the runtime.
    pub(crate) fn on_unpark(&self) {
        self.parked.store(false, Ordering::Relaxed);
        let Some(now) = self.virtual_now() else {
            return;
        };
        // The only writer is this thread: a load and a store, no atomic read-modify-write.
        let parked_at = Duration::from_millis(self.virtual_ms.load(Ordering::Relaxed));
        self.virtual_ms
            .store(now.as_millis() as u64, Ordering::Relaxed);
        if now > self.time_limit {
            self.past_limit(now, parked_at);
        }
    }

    /// The clock is past the limit. Usually a task is running late, and the run fails at once.
    /// But when the clock got there in one jump from an idle run, nothing has run past the limit
    /// yet, and tokio's timer wheel may wake the runtime several times on its way to a far timer
    /// without running anything: wait and see. If the far timer is the sentinel, the run is
    /// deadlocked; if a task runs, it is late.
    fn past_limit(&self, now: Duration, parked_at: Duration) {
        let polls = self.polls.load(Ordering::Relaxed);
        let mut crossing = self.crossing.lock();
        let (idle_since, polls_then) =
            *crossing.get_or_insert((parked_at.min(self.time_limit), polls));
        drop(crossing);
        if now >= self.sentinel() {
            let waiting = with_state(|s| s.nodes_with_tasks()).unwrap_or_default();
            self.fail(idle_since, FailureKind::Deadlock { waiting });
        } else if polls != polls_then {
            // Idle for more than a second before the limit: say so, it is the likely story.
            let idle =
                (idle_since + Duration::from_secs(1) < self.time_limit).then_some(idle_since);
            self.fail(
                now,
                FailureKind::TimeLimit {
                    limit: self.time_limit,
                    idle_since: idle,
                },
            );
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

    /// How many of the tasks have not finished.
    pub(crate) fn unfinished(&mut self) -> usize {
        self.handles.retain(|h| !h.is_finished());
        self.handles.len()
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
    /// How fast the node's clock runs (`clock`): 1.0 is exact.
    pub(crate) clock_rate: f64,
    /// When (virtual) the clock took its rate: the node's start, or the last `clock::set_rate`.
    pub(crate) rate_since: Duration,
    /// What the clock read then (zero at the node's start).
    pub(crate) reading_then: Duration,
}

/// Everything a running simulation knows, owned by its thread.
pub(crate) struct SimState {
    pub(crate) seed: u64,
    pub(crate) shared: Arc<Shared>,
    pub(crate) start: tokio::time::Instant,
    pub(crate) recorder: RefCell<Recorder>,
    pub(crate) nodes: RefCell<Vec<NodeSlot>>,
    /// The stream of the layers above the kernel (the network), apart from every node's so
    /// that lab code drawing more or fewer numbers does not change the network's decisions.
    pub(crate) layer_rng: RefCell<SimRng>,
    /// Set when the body has finished: the final virtual time, seen by code that runs while the
    /// runtime shuts down (outside the runtime, where tokio's clock would read the wall clock).
    pub(crate) frozen: std::cell::Cell<Option<Duration>>,
    /// The run's result fields (`add_to_result`), for the `lab-result` line.
    pub(crate) results: RefCell<std::collections::BTreeMap<&'static str, u64>>,
    /// Site ids by site, for what the watchdog names (`Shared::sites` holds their names).
    site_ids: RefCell<HashMap<Site, SiteId, BuildHasherDefault<AddressHasher>>>,
    /// Recently looked-up sites, by a hash of their address (see [`SimState::site`]).
    site_cache: RefCell<[Option<(SiteKey, SiteId)>; SITE_CACHE]>,
    /// The bound on the clock rates of nodes created from now on (`clock::set_drift`).
    pub(crate) clock_drift: Cell<f64>,
    /// Tasks waiting for the simulation to settle (see `settle`).
    pub(crate) settle_waiters: RefCell<Vec<crate::settle::SettleWaiter>>,
    /// The last instant `settle` woke waiters at (even none).
    pub(crate) last_settle_wake: Cell<Option<Duration>>,
}

/// Slots of the site cache.
const SITE_CACHE: usize = 64;

/// RNG stream numbers: 0 is the layers' (the network's), 1 the tester's, node k (k >= 1) is
/// stream k + 1.
pub(crate) const LAYER_STREAM: u32 = 0;

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
            clock_rate: 1.0,
            rate_since: Duration::ZERO,
            reading_then: Duration::ZERO,
        };
        SimState {
            seed,
            shared,
            start,
            recorder: RefCell::new(Recorder::new(log)),
            nodes: RefCell::new(vec![tester]),
            layer_rng: RefCell::new(SimRng::derive(seed, u64::from(LAYER_STREAM))),
            frozen: std::cell::Cell::new(None),
            clock_drift: Cell::new(0.0),
            results: RefCell::new(Default::default()),
            site_ids: RefCell::new([(Site::Body, 0)].into_iter().collect()),
            site_cache: RefCell::new([None; SITE_CACHE]),
            settle_waiters: RefCell::new(Vec::new()),
            last_settle_wake: Cell::new(None),
        }
    }

    /// The id of `site`, naming it for the watchdog the first time it is seen.
    pub(crate) fn site(&self, site: Site) -> SiteId {
        // Most lookups are the same few sites again and again (a tester's `enter` every few
        // milliseconds): a small direct-mapped cache answers them without hashing.
        let key = site.key();
        let slot = (key.1 >> 3 ^ usize::from(key.0)) % SITE_CACHE;
        let mut cache = self.site_cache.borrow_mut();
        if let Some((cached, id)) = cache[slot] {
            if cached == key {
                return id;
            }
        }
        let id = *self.site_ids.borrow_mut().entry(site).or_insert_with(|| {
            let mut names = self.shared.sites.lock();
            names.push(site.to_string());
            (names.len() - 1) as SiteId
        });
        cache[slot] = Some((key, id));
        id
    }

    /// Fails the run: code outside every node tried to do `what`.
    pub(crate) fn outside_every_node(&self, what: &str) {
        if self.frozen.get().is_some() {
            return; // a destructor at the end of the run: the run's verdict is already made
        }
        self.shared
            .fail(self.now(), FailureKind::outside_every_node(what));
    }

    /// The nodes that still have tasks (alive or not finished), named, for a deadlock report.
    pub(crate) fn nodes_with_tasks(&self) -> Vec<String> {
        let Ok(mut nodes) = self.nodes.try_borrow_mut() else {
            return Vec::new();
        };
        nodes
            .iter_mut()
            .filter(|n| n.alive)
            .filter_map(|n| {
                let waiting = n.tasks.unfinished();
                let tasks = if waiting == 1 { "task" } else { "tasks" };
                (waiting > 0).then(|| format!("{} ({waiting} {tasks})", n.name))
            })
            .collect()
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

    /// Feeds `event` into the determinism digest, stamped with the virtual time.
    #[inline]
    pub(crate) fn record<E: DigestEvent>(&self, event: E) {
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

/// Runs `f` on the simulation of this thread, if there is one and it can be reached (not from
/// inside a borrow of the thread-local, as in a panic hook).
pub(crate) fn with_state<R>(f: impl FnOnce(&SimState) -> R) -> Option<R> {
    STATE
        .try_with(|s| s.try_borrow().ok().and_then(|s| s.as_ref().map(|s| f(s))))
        .ok()
        .flatten()
}

/// Whether this thread is running a simulation.
pub(crate) fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}
