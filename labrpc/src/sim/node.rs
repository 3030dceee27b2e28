//! Nodes: the simulated machines. Each owns the tasks it spawns, its own random stream, and can
//! crash, which aborts every one of its tasks at once.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Once};

use futures::FutureExt;
use tokio::task::JoinHandle;

use super::context::{self, current_node, NodeId, NodeSlot, TaskList, CURRENT_NODE};
use super::digest::Event;
use super::failure::FailureKind;
use super::rng::SimRng;

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
            });
            drop(nodes);
            s.record(Event::NodeStart {
                node: id,
                name: name.to_string(),
            });
            Node { id, name }
        });
        tracing::info!(kind = "start", node = &*node.name, "started");
        node
    }

    /// The node the calling code runs on (the tester when not on any node).
    pub fn current() -> Node {
        let id = current_node();
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
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_on(self.id, future)
    }

    /// Runs `f` as code of this node: what it spawns belongs to this node. Use it to construct a
    /// service (e.g. `Raft::new`) whose constructor starts background tasks.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        CURRENT_NODE.sync_scope(self.id, f)
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
            s.record(Event::Crash { node: self.id });
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
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_on(current_node(), future)
}

pub(crate) fn spawn_on<F>(node: NodeId, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    install_panic_hook();
    let handle = tokio::spawn(CURRENT_NODE.scope(node, catch_panic(node, future)));
    let alive = context::with(|s| {
        let mut nodes = s.nodes.borrow_mut();
        let slot = &mut nodes[node as usize];
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

/// Runs `future`, failing the run when it panics (naming the node), then lets the panic go on
/// to tokio, which turns it into a `JoinError` for whoever awaits the task.
async fn catch_panic<F: Future>(node: NodeId, future: F) -> F::Output {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(output) => output,
        Err(payload) => {
            report_panic(node, payload.as_ref());
            panic::resume_unwind(payload)
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

thread_local! {
    /// Where the last panic on this thread happened, as seen by the panic hook.
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Adds, once per process, a panic hook that remembers the location of panics on simulation
/// threads (the payload alone does not carry it), then runs the previous hook as before.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if context::active() {
                let location = info.location().map(|l| l.to_string());
                LAST_PANIC_LOCATION.with(|l| *l.borrow_mut() = location);
            }
            previous(info);
        }));
    });
}

/// The location recorded by the hook for the panic being handled, if any.
pub(crate) fn take_panic_location() -> Option<String> {
    LAST_PANIC_LOCATION.with(|l| l.borrow_mut().take())
}

/// Records a panic of `node` as the run's failure.
pub(crate) fn report_panic(node: NodeId, payload: &(dyn Any + Send)) {
    let message = panic_message(payload);
    let location = take_panic_location();
    context::with(|s| {
        let name = s.nodes.borrow()[node as usize].name.to_string();
        let at = s.now();
        s.shared.fail(
            at,
            FailureKind::Panic {
                message,
                location,
                node: name,
            },
        );
    });
}
