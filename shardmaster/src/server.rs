//! The shard master server. The rest of the 4A handout.
//!
//! Build it like Lab 3's key/value server: RPC handlers put operations into the Raft log and
//! wait for them to be applied; one applier task applies committed operations, in order, to
//! the state machine, here the list of all configurations so far (`configs[0]` is
//! `Config::default()`); duplicate operations are recognised by clerk id and sequence number.
//! The shard master never snapshots.
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
//!   `Config::groups` is a `BTreeMap`, which iterates in gid order.
//! * With no groups left, every shard goes back to gid 0.

// Remove this once the skeleton's fields are used.
#![allow(dead_code)]

use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::{ChangeReply, Err, JoinArgs, LeaveArgs, MoveArgs, QueryArgs, QueryReply};
use crate::Config;

/// What the servers put in the Raft log. Your fields here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One shard master server.
pub struct ShardMaster {
    inner: Arc<Inner>,
}

struct Inner {
    me: usize,
    rf: Raft<Op>,
    /// Your state here (the configurations, the duplicate table, the waiters).
    state: Mutex<State>,
}

struct State {
    /// Every configuration so far, indexed by number.
    configs: Vec<Config>,
    /// The receiving end of Raft's apply channel: move it into your applier task.
    apply_rx: Option<mpsc::UnboundedReceiver<ApplyMsg<Op>>>,
}

impl ShardMaster {
    /// Starts server `me` of `servers.len()`. Called by the tester inside this server's
    /// simulation node. Return at once.
    pub fn new(servers: Vec<ClientEnd>, me: usize, persister: Persister) -> ShardMaster {
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let rf = Raft::new(servers, me, persister, apply_tx);
        // Your code here: spawn the applier.
        ShardMaster {
            inner: Arc::new(Inner {
                me,
                rf,
                state: Mutex::new(State {
                    configs: vec![Config::default()],
                    apply_rx: Some(apply_rx),
                }),
            }),
        }
    }

    /// The RPC services the tester registers: `"ShardMaster"` (Join, Leave, Move, Query) and
    /// `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        // Handlers hold the server weakly (see kvraft's server for why).
        let [join, leave, mv, query] = [(); 4].map(|()| Arc::downgrade(&self.inner));
        let sm = Service::new("ShardMaster")
            .handle(move |args: JoinArgs| {
                let server = join.upgrade();
                async move {
                    match server {
                        Some(server) => server.join(args).await,
                        None => wrong_leader(),
                    }
                }
            })
            .handle(move |args: LeaveArgs| {
                let server = leave.upgrade();
                async move {
                    match server {
                        Some(server) => server.leave(args).await,
                        None => wrong_leader(),
                    }
                }
            })
            .handle(move |args: MoveArgs| {
                let server = mv.upgrade();
                async move {
                    match server {
                        Some(server) => server.move_shard(args).await,
                        None => wrong_leader(),
                    }
                }
            })
            .handle(move |args: QueryArgs| {
                let server = query.upgrade();
                async move {
                    match server {
                        Some(server) => server.query(args).await,
                        None => QueryReply {
                            err: Err::WrongLeader,
                            config: Config::default(),
                        },
                    }
                }
            });
        vec![sm, self.inner.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.inner.rf.get_state()
    }

    /// Stops the server (the tester calls this when it crashes one).
    pub fn kill(&self) {
        self.inner.rf.kill();
        // Your code here, if any.
    }
}

fn wrong_leader() -> ChangeReply {
    ChangeReply {
        err: Err::WrongLeader,
    }
}

impl Inner {
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
}
