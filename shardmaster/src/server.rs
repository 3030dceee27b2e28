//! The shard master server. The rest of the 4A handout.
//!
//! Build it like Lab 3's key/value server: RPC handlers put operations into the Raft log and
//! wait for them to be applied; one applier task (`applier`, started by [`ShardMaster::new`])
//! applies committed operations, in order, to the state machine, here the list of all
//! configurations so far (`configs[0]` is `Config::default()`); duplicate operations are
//! recognised by clerk id and sequence number. The shard master never snapshots.
//!
//! * **Query** goes through the log too, so that it sees every change that returned before it.
//!   `None`, or a number past the latest, means the latest.
//! * **Join** adds groups, **Leave** removes them, **Move** gives one shard to one group. Each
//!   makes a new configuration, numbered one past the latest, a copy of it with the change.
//! * **Rebalance** after Join and Leave: shards of no group (gid 0, or a group that left) go to
//!   the groups with the fewest shards, and shards move from the groups with the most to those
//!   with the fewest until they differ by at most one. Move **as few shards as possible**:
//!   after a Join, only shards that go to a new group move; after a Leave, only the leaving
//!   groups' shards. The tests check both.
//! * **Determinism**: every server must compute the same configuration from the same log, so
//!   break ties between groups by gid, never by the iteration order of a hash map.
//!   `Config::groups` is a `BTreeMap`, which iterates in gid order. (The other rules for code
//!   in the simulation: [`labrpc::sim`](labrpc::sim#rules-for-code-that-runs-in-a-simulation).)
//! * With no groups left, every shard goes back to gid 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::{ChangeReply, Err, JoinArgs, LeaveArgs, MoveArgs, QueryArgs, QueryReply};
use crate::Config;

/// What the servers put in the Raft log. Your fields (or variants) here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One shard master server. Cheap to clone: every clone is a handle to the same server, which
/// is how its applier task and its RPC handlers reach it.
#[derive(Clone)]
pub struct ShardMaster {
    me: usize,
    rf: Raft<Op>,
    /// Set by [`ShardMaster::kill`].
    dead: Arc<AtomicBool>,
    /// Everything else, behind one lock.
    #[allow(dead_code)] // until you use it
    state: Arc<Mutex<State>>,
}

/// The server's state, shared by its RPC handlers and its applier.
struct State {
    /// Every configuration so far, indexed by number.
    #[allow(dead_code)] // until you use it
    configs: Vec<Config>,
    // Your data here: the duplicate table, the handlers waiting for an index.
}

impl ShardMaster {
    /// Starts server `me` of `servers.len()`. Called by the tester inside this server's
    /// simulation node, so tasks spawned here with `labrpc::sim::spawn` stop when the server
    /// crashes. Must return at once.
    pub fn new(servers: Vec<ClientEnd>, me: usize, persister: Persister) -> ShardMaster {
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let sm = ShardMaster {
            me,
            rf: Raft::new(servers, me, persister, apply_tx),
            dead: Arc::default(),
            state: Arc::new(Mutex::new(State {
                configs: vec![Config::default()],
            })),
        };
        labrpc::sim::spawn(sm.clone().applier(apply_rx));
        sm
    }

    async fn join(&self, args: JoinArgs) -> ChangeReply {
        // Your code here.
        let _ = args;
        wrong_leader()
    }

    async fn leave(&self, args: LeaveArgs) -> ChangeReply {
        // Your code here.
        let _ = args;
        wrong_leader()
    }

    async fn move_shard(&self, args: MoveArgs) -> ChangeReply {
        // Your code here.
        let _ = args;
        wrong_leader()
    }

    async fn query(&self, args: QueryArgs) -> QueryReply {
        // Your code here.
        let _ = args;
        QueryReply {
            err: Err::WrongLeader,
            config: Config::default(),
        }
    }

    /// The applier, a task of its own (started by [`ShardMaster::new`]): applies what Raft
    /// commits, in log order.
    async fn applier(self, mut apply_rx: mpsc::UnboundedReceiver<ApplyMsg<Op>>) {
        while let Some(msg) = apply_rx.recv().await {
            if self.killed() {
                return;
            }
            if let ApplyMsg::Command { index, command } = msg {
                // Your code here: apply `command` (unless it is a duplicate), and answer the
                // handler waiting for `index`, if any.
                tracing::debug!(kind = "apply", "server {}: {index} {command:?}", self.me);
            }
        }
    }

    /// The RPC services the tester registers: `"ShardMaster"` (Join, Leave, Move, Query) and
    /// `"Raft"`. Each handler holds a clone of the server and runs in a task of the server's
    /// own.
    pub fn services(&self) -> Vec<Service> {
        let [join, leave, mv, query] = [(); 4].map(|()| self.clone());
        let sm = Service::new("ShardMaster")
            .handle(move |args: JoinArgs| {
                let sm = join.clone();
                async move { sm.join(args).await }
            })
            .handle(move |args: LeaveArgs| {
                let sm = leave.clone();
                async move { sm.leave(args).await }
            })
            .handle(move |args: MoveArgs| {
                let sm = mv.clone();
                async move { sm.move_shard(args).await }
            })
            .handle(move |args: QueryArgs| {
                let sm = query.clone();
                async move { sm.query(args).await }
            });
        vec![sm, self.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rf.get_state()
    }

    /// Stops the server (the tester calls this when it crashes one).
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

fn wrong_leader() -> ChangeReply {
    ChangeReply {
        err: Err::WrongLeader,
    }
}
