//! Nodes: the simulated machines. Each owns the tasks it spawns, its own random stream, and can
//! crash, which aborts every one of its tasks at once.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{self, Location};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};

use tokio::task::JoinHandle;

use crate::context::{self, current_node, NodeId, NodeSlot, Role, Shared, TaskList};
use crate::digest::KernelEvent;
use crate::failure::FailureKind;
use crate::rng::SimRng;
use crate::site::{Site, SiteId};

/// A simulated machine. Cheap to clone; every clone names the same node.
///
/// Code that runs "on" a node (its tasks, the handlers of its RPC servers, and a closure passed
/// to [`Node::enter`]) spawns through [`spawn`], which puts new tasks on the same node.
/// [`Node::crash`] aborts them all: nothing of a crashed node runs again. State that must survive
/// a crash lives outside the node (the tester's persister), as on real hardware.
#[derive(Clone, Debug)]
pub struct Node {
    id: NodeId,
    name: Arc<str>,
}

impl Node {
    /// Creates a live node. Nodes are numbered in creation order, and each gets a random stream
    /// derived from the run's seed and that number, so the same test makes the same draws.
    pub fn new(name: impl Into<String>) -> Node {
        let name: Arc<str> = Arc::from(name.into());
        let node = context::with(|s| {
            let mut nodes = s.nodes.borrow_mut();
            let id = nodes.len() as NodeId;
            nodes.push(NodeSlot {
                name: name.clone(),
                alive: true,
                rng: SimRng::derive(s.seed, u64::from(id) + 1),
                tasks: TaskList::default(),
                clock_rate: crate::clock::draw_rate(s.seed, id, s.clock_drift.get()),
                rate_since: s.now(),
                reading_then: std::time::Duration::ZERO,
            });
            drop(nodes);
            s.shared.node_names.lock().push(name.to_string());
            s.record(KernelEvent::NodeStart {
                node: id,
                name: name.clone(),
            });
            Node { id, name }
        });
        tracing::info!(kind = "start", node = &*node.name, "started");
        node
    }

    /// The node the calling code runs on.
    pub fn current() -> Node {
        let id = current_node("labrpc::sim::Node::current");
        let name = context::with(|s| s.nodes.borrow()[id as usize].name.clone());
        Node { id, name }
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's number in this run (0 is the tester).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the node has not crashed.
    pub fn is_alive(&self) -> bool {
        context::with(|s| s.nodes.borrow()[self.id as usize].alive)
    }

    /// Spawns `future` as a task of this node.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_as(Role::of(self.id), Location::caller(), future)
    }

    /// Spawns `future` as tester code that lives on this node: a crash of the node stops it
    /// (like the applier MIT's tester runs per peer), but a panic in it is the tester's, not the
    /// node's. Calls it makes into lab code go through [`Node::enter`], so that what they spawn,
    /// and what they panic, is the node's.
    #[track_caller]
    pub fn spawn_tester<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let role = Role {
            node: self.id,
            tester: true,
        };
        spawn_as(role, Location::caller(), future)
    }

    /// Runs `f` as code of this node: what it spawns belongs to this node, and a panic in it is
    /// the node's. The testers call every method of lab code this way (constructors, `start`,
    /// `get_state`, `kill`...), so that a task the call spawns dies with the node.
    #[track_caller]
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let at = Location::caller();
        context::with(|s| run_on_shared(&s.shared, Role::of(self.id), s.site(Site::Enter(at)), f))
    }

    /// Runs `future` as code of this node, inside the calling task: what it spawns belongs to
    /// this node and a panic in it is the node's, but it is no task of the node, so a crash does
    /// not stop it. For code that lives only as long as the call: the testers run each clerk
    /// operation this way, on the clerk's own node, without a task per operation.
    #[track_caller]
    pub fn enter_async<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let role = Role::of(self.id);
        let (shared, site) =
            context::with(|s| (s.shared.clone(), s.site(Site::Enter(Location::caller()))));
        async move { poll_as(&shared, role, site, future).await }
    }

    /// Crashes the node: aborts all of its tasks (they are dropped at their next turn and never
    /// polled again) and refuses new ones. Crashing twice, or crashing the tester, is a no-op
    /// and an error respectively.
    pub fn crash(&self) {
        assert!(self.id != context::TESTER, "the tester node cannot crash");
        let tasks = context::with(|s| {
            let mut nodes = s.nodes.borrow_mut();
            let slot = &mut nodes[self.id as usize];
            if !slot.alive {
                return Vec::new();
            }
            slot.alive = false;
            let tasks = slot.tasks.take();
            drop(nodes);
            s.record(KernelEvent::Crash { node: self.id });
            tasks
        });
        tracing::info!(kind = "crash", node = &*self.name, "crashed");
        // Abort outside the borrow: dropping a task's future may run lab code.
        for task in tasks {
            task.abort();
        }
    }
}

/// Spawns `future` on the node the caller runs on. Lab code must spawn through this (or
/// [`Node::spawn`]) rather than `tokio::spawn`, so that a crash stops the task, a panic in it
/// fails the test, and the run stays deterministic.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_as(
        context::role_for("labrpc::sim::spawn"),
        Location::caller(),
        future,
    )
}

/// Spawns `future` with `role`, from `at`.
pub(crate) fn spawn_as<F>(
    role: Role,
    at: &'static Location<'static>,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = context::with(|s| s.site(Site::Spawn(at)));
    spawn_tracked(role, site, future)
}

/// Spawns `future` as a task of `role.node` whose polls are tracked: each runs with the role
/// set and publishes what is running for the watchdog, and the task counts as the simulation's.
/// A node's crash aborts it; on a crashed node it never runs.
pub fn spawn_tracked<F>(role: Role, site: SiteId, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    install_panic_hook();
    let shared = context::with(|s| s.shared.clone());
    // The future goes in a box of its own, and the task holds only the pointer. Unboxed, each
    // layer of the wrapper (`tracked`, `explore`, `poll_as`) kept its own slot for it, so a
    // task of Raft's reference that sends one RPC took 4.9 KB instead of about 1 KB. And tokio
    // allocates a task 128-byte aligned: glibc (2.36 here; 2.38 does better) serves an aligned
    // request from a free block larger by the alignment, so a freed task block does not fit the
    // next task of its size, and the small leftovers around it keep it from merging. Thousands
    // of big task blocks, one per RPC, left the heap full of holes: a kvraft test peaked at
    // 35 MB resident with 10 MB in use. The box is an ordinary allocation, which malloc reuses.
    let handle = tokio::spawn(tracked(shared, role, site, Box::pin(future)));
    let alive = context::with(|s| {
        let mut nodes = s.nodes.borrow_mut();
        let slot = &mut nodes[role.node as usize];
        if slot.alive {
            slot.tasks.push(handle.abort_handle());
        }
        slot.alive
    });
    if !alive {
        handle.abort();
    }
    handle
}

/// Counts a task as the simulation's from its creation until its future is dropped (both on
/// the simulation thread, the count's only writer: a plain load and store).
struct TrackedTask(Arc<Shared>);

impl Drop for TrackedTask {
    fn drop(&mut self) {
        let count = &self.0.tracked_tasks;
        count.store(count.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
    }
}

/// `future`, polled as code of `role` at `site`.
fn tracked<F: Future>(
    shared: Arc<Shared>,
    role: Role,
    site: SiteId,
    future: F,
) -> impl Future<Output = F::Output> {
    let tasks = &shared.tracked_tasks;
    tasks.store(tasks.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    let count = TrackedTask(shared);
    async move {
        let count = count;
        let shared = &count.0;
        shared
            .schedule
            .explore(poll_as(shared, role, site, future))
            .await
    }
}

/// Awaits `future`, each of its polls run as code of `role` at `site`.
pub(crate) async fn poll_as<F: Future>(
    shared: &Shared,
    role: Role,
    site: SiteId,
    future: F,
) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| run_on_shared(shared, role, site, || future.as_mut().poll(cx))).await
}

/// Runs `f` as code of `role` at `site`: what it spawns lands on `role`'s node, a panic in it
/// is that node's (or the tester's), and the watchdog names `site` while it runs.
pub fn run_as<R>(role: Role, site: SiteId, f: impl FnOnce() -> R) -> R {
    context::with(|s| run_on_shared(&s.shared, role, site, f))
}

fn run_on_shared<R>(shared: &Shared, role: Role, site: SiteId, f: impl FnOnce() -> R) -> R {
    // Only the simulation thread writes these (the watchdog only reads): plain loads and stores,
    // no atomic read-modify-writes, on a path taken by every poll.
    let polls = shared.polls.load(Ordering::Relaxed);
    shared.polls.store(polls + 1, Ordering::Relaxed);
    let previous = shared.running.load(Ordering::Relaxed);
    shared
        .running
        .store(context::pack_running(role.node, site), Ordering::Relaxed);
    let role = context::ROLE.replace(Some(role));
    // Code of a node is running already: this poll is nested in it (a handler polled inside its
    // caller's task, a tester call through `Node::enter`).
    let restore = Restore {
        shared,
        previous,
        nested: role.is_some(),
        role,
    };
    let result = f();
    drop(restore);
    result
}

/// Puts back the role and what was running before a poll, even when the poll panics. After a
/// poll of the scheduler's own (not nested in another), what ran last stays published: a task
/// that spins through `yield_now` spends most of its time in the scheduler, and the watchdog
/// should still name it.
struct Restore<'a> {
    shared: &'a Shared,
    previous: u64,
    nested: bool,
    role: Option<Role>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        context::ROLE.set(self.role);
        if self.nested {
            self.shared.running.store(self.previous, Ordering::Relaxed);
        }
    }
}

/// The message carried by a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(panic payload is not a string)".to_string()
    }
}

/// Adds, once per process, a panic hook that fails the running simulation on any panic of its
/// thread, wherever it is caught (tokio catches panics of tasks, lab code may catch its own):
/// a panic is a bug, and catching it must not hide it. The failure names who panicked (the
/// node, the tester, or code outside every node) and where. The previous hook then runs as
/// before (it prints the message).
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = panic_message(info.payload());
            let location = info.location().map(|l| l.to_string());
            context::with_state(|s| {
                let node = blame(s);
                s.shared.fail(
                    s.now(),
                    FailureKind::Panic {
                        message,
                        location,
                        node,
                    },
                );
            });
            previous(info);
        }));
    });
}

/// Who the panicking code is, in the words of a failure report.
fn blame(s: &context::SimState) -> String {
    if s.frozen.get().is_some() {
        return "a task's destructor at the end of the run".into();
    }
    match context::current_role() {
        Some(Role { node: 0, .. }) => "tester".into(),
        Some(Role { node, tester: true }) => format!("tester (its task on {})", s.node_name(node)),
        Some(Role { node, .. }) => s.node_name(node),
        None => "a task outside every node (started with tokio::spawn? lab code must spawn with \
                 labrpc::sim::spawn)"
            .into(),
    }
}
