//! Lab code the tester holds, with the simulated machine it runs on: a server's incarnation, a
//! clerk.

use std::future::Future;

use labrpc::sim::Node;

/// A value of lab code (a `Raft`, a `KvServer`, a `Clerk`) and the node it runs on, together.
///
/// Every tester call into the value goes through [`OnNode::enter`] or [`OnNode::enter_async`],
/// which run it as code of the node, as if the lab's own code made the call: what it spawns is
/// the node's (a crash of the node stops it), and what it panics is the node's, so a report
/// names the server or clerk rather than the tester. Cheap to clone when the value is.
#[derive(Clone)]
pub struct OnNode<T> {
    value: T,
    node: Node,
}

impl<T> OnNode<T> {
    /// A new node called `name`, and the value `make` builds as the node's code (a clerk on a
    /// node of its own, which never crashes).
    #[track_caller]
    pub fn new(name: impl Into<String>, make: impl FnOnce() -> T) -> OnNode<T> {
        let node = Node::new(name);
        OnNode {
            value: node.enter(make),
            node,
        }
    }

    /// `value`, built on `node` already.
    pub fn hosted(node: Node, value: T) -> OnNode<T> {
        OnNode { value, node }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node's name ("peer3", "clerk0").
    pub fn name(&self) -> &str {
        self.node.name()
    }

    /// Runs `f` on the value as code of the node (`Node::enter`). On a crashed node (a handle
    /// kept from before the crash) the call still runs, and whatever it spawns is stopped at once.
    #[track_caller]
    pub fn enter<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        self.node.enter(|| f(&self.value))
    }

    /// Runs the future `f` makes of the value as code of the node, inside the calling task
    /// (`Node::enter_async`): for a clerk operation, which lives as long as the call.
    #[track_caller]
    pub fn enter_async<'a, F>(
        &'a mut self,
        f: impl FnOnce(&'a mut T) -> F,
    ) -> impl Future<Output = F::Output> + 'a
    where
        F: Future + 'a,
    {
        self.node.enter_async(f(&mut self.value))
    }

    /// A clerk operation `op` (with `args`, as a report shows them), run as
    /// [`OnNode::enter_async`] does, and named meanwhile among the clerk calls in flight
    /// ([`crate::clerk_call`]) that the report of a run failing meanwhile lists.
    #[track_caller]
    pub fn call<'a, F>(
        &'a mut self,
        op: &'static str,
        args: &str,
        f: impl FnOnce(&'a mut T) -> F,
    ) -> impl Future<Output = F::Output> + 'a
    where
        F: Future + 'a,
    {
        let in_flight = crate::clerk_call(self.node.name(), op, args);
        let operation = self.enter_async(f);
        async move {
            let output = operation.await;
            drop(in_flight);
            output
        }
    }
}
