//! The shard key/value server. The rest of the 4B handout.
//!
//! Each group is a Lab 3 key/value service that serves only some shards, and whose set of
//! shards changes. Work in this order:
//!
//! 1. **A static configuration.** Start from your Lab 3 server. Fetch the configuration from
//!    the shard master (`shardmaster::Clerk::query`) and answer `WrongGroup` for keys of shards
//!    the group does not serve. Passes `static_shards_4b`.
//! 2. **Follow configuration changes.** A task on the leader polls the shard master about every
//!    100 ms (`poll_configs`, which [`ShardKv::new`] starts). Changes go through the Raft log, so that every server of the group switches at
//!    the same point of its operation sequence: put "install configuration N+1" into the log,
//!    and apply it there. Take configurations **one at a time, in order**, and only once the
//!    previous one is complete (every shard it brought has arrived).
//! 3. **Migrate shards.** When configuration N+1 gives the group a shard it did not have, the
//!    group must get the shard's data as of the end of configuration N from the group that
//!    served it then. For example, the new owner's leader asks the old owner for it by RPC
//!    (use `make_end` with the names in configuration N's groups), and puts the reply into its
//!    own log: the shard is served from the moment that entry is applied. The old owner stops
//!    serving the shard as soon as it applies configuration N+1, and answers the request only
//!    once it has applied it (otherwise it could hand over data that is still changing).
//! 4. **Exactly once across groups.** A clerk may retry an Append at the shard's new owner after
//!    the old owner applied it. Send the duplicate table along with the shard's data, and merge
//!    it into the receiver's.
//!
//! Rules that the tests check:
//!
//! * Reject (`WrongGroup`) a key whose shard the group does not serve *when the operation is
//!   applied*, not only when it arrives: a configuration change may be applied in between.
//! * Decide everything from the log: an RPC handler or a polling task only *proposes*; the
//!   state changes when the entry is applied, on every server in the same order.
//! * Snapshots (when `max_raft_state` is set) hold everything: the store, the duplicate tables,
//!   the current and previous configuration, and the state of every shard (served, waiting to
//!   arrive, waiting to be deleted).
//! * A server must not need its group's other servers to restart, and a group that restarts
//!   must continue a migration where it left off.
//! * Have a new Raft leader commit an entry of its own term at once (an empty one, or a no-op
//!   operation of yours): until it does, entries of earlier terms cannot commit (Figure 8), so
//!   a restarted group whose clients are all waiting can stall for ever (about 1 run in 1,300
//!   of `concurrent3_4b` without it).
//!
//! Challenges (tests `challenge1_delete_4b`, `challenge2_unaffected_4b`,
//! `challenge2_partial_4b`):
//!
//! * **1, garbage collection:** once a shard's new owner has it, the old owner deletes its copy
//!   (e.g. the new owner confirms by RPC, and both record it in their logs). The test moves 30
//!   values of 1000 bytes around all groups, then bounds the persisted Raft state plus snapshot
//!   of all 9 servers at **117,000 bytes**: each value once per replica, a few also in duplicate
//!   tables, and some slop. A group that keeps the shards it handed over holds several copies.
//! * **2, availability:** shards that a configuration change does not move keep working while it
//!   happens, and a shard that has arrived is served at once even if other shards of the same
//!   change have not. So track the state of each shard, not of the group.
//!
//! Locks and tasks as in Lab 3: spawn with `labrpc::sim::spawn`, never hold a lock across an
//! `.await`, and make every background task stop when the server is killed. (All the rules for
//! code in the simulation: [`labrpc::sim`](labrpc::sim#rules-for-code-that-runs-in-a-simulation).)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use shardmaster::{Config, Gid};
use tokio::sync::mpsc;

use crate::common::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply};
use crate::MakeEnd;

/// How often the leader asks the shard master for a new configuration.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the servers put in the Raft log. Your fields (or variants) here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One server of a replica group. Cheap to clone: every clone is a handle to the same server,
/// which is how its tasks and its RPC handlers reach it.
#[derive(Clone)]
pub struct ShardKv {
    me: usize,
    gid: Gid,
    rf: Raft<Op>,
    /// Where Raft saves its state; holds the last snapshot on a restart.
    #[allow(dead_code)] // until you use it
    persister: Persister,
    /// Snapshot when Raft's saved state grows this big; `None`: never.
    #[allow(dead_code)] // until you use it
    max_raft_state: Option<usize>,
    /// Makes an end to any server by name, e.g. those of another group (migration).
    #[allow(dead_code)] // until you use it
    make_end: MakeEnd,
    /// Set by [`ShardKv::kill`].
    dead: Arc<AtomicBool>,
    /// Everything else, behind one lock.
    state: Arc<Mutex<State>>,
}

/// The server's state, shared by its RPC handlers and its tasks.
#[derive(Default)]
struct State {
    /// The configuration the group has applied (number 0, no shards, at first).
    config: Config,
    // Your data here: the store, the duplicate tables, the previous configuration, the state
    // of each shard, the handlers waiting for an index.
}

impl ShardKv {
    /// Starts server `me` of group `gid`: `servers` reach the group's servers (for Raft),
    /// `masters` the shard master's, `make_end` any server by name. Called by the tester inside
    /// this server's simulation node, so tasks spawned here with `labrpc::sim::spawn` stop when
    /// the server crashes. Must return at once.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        gid: Gid,
        masters: Vec<ClientEnd>,
        make_end: MakeEnd,
    ) -> ShardKv {
        let (apply_tx, apply_rx) = mpsc::unbounded_channel();
        let kv = ShardKv {
            me,
            gid,
            rf: Raft::new(servers, me, persister.clone(), apply_tx),
            persister,
            max_raft_state,
            make_end,
            dead: Arc::default(),
            state: Arc::default(),
        };
        // Your code here: restore the state from `persister.read_snapshot()` (empty on the
        // first start).
        labrpc::sim::spawn(kv.clone().applier(apply_rx));
        labrpc::sim::spawn(kv.clone().poll_configs(shardmaster::Clerk::new(masters)));
        kv
    }

    async fn get(&self, args: GetArgs) -> GetReply {
        // Your code here.
        let _ = args;
        GetReply {
            err: Err::WrongLeader,
            value: String::new(),
        }
    }

    async fn put_append(&self, args: PutAppendArgs) -> PutAppendReply {
        // Your code here.
        let _ = args;
        PutAppendReply {
            err: Err::WrongLeader,
        }
    }

    /// The applier, a task of its own (started by [`ShardKv::new`]): applies what Raft
    /// commits, in log order: client operations, configurations, shards that arrive.
    async fn applier(self, mut apply_rx: mpsc::UnboundedReceiver<ApplyMsg<Op>>) {
        while let Some(msg) = apply_rx.recv().await {
            if self.killed() {
                return;
            }
            match msg {
                ApplyMsg::Command { index, command } => {
                    // Your code here: apply `command`, and answer the handler waiting for
                    // `index`, if any. Snapshot when Raft's state nears `max_raft_state`.
                    let (me, gid) = (self.me, self.gid);
                    tracing::debug!(kind = "apply", "{gid}/{me}: {index} {command:?}");
                }
                ApplyMsg::Snapshot { index, term, data } => {
                    // Your code here: replace the state with `data`, unless it has applied past
                    // `index` already.
                    let _ = (index, term, data);
                }
            }
        }
    }

    /// Follows the shard master, a task of its own (started by [`ShardKv::new`]) with a clerk
    /// of its own: on the leader, about every 100 ms, asks for the configuration after the
    /// group's current one (one at a time, in order: never skip to the latest).
    async fn poll_configs(self, mut mck: shardmaster::Clerk) {
        while !self.killed() {
            if self.rf.get_state().1 {
                let next = self.state.lock().config.num + 1;
                let config = mck.query(Some(next)).await;
                if config.num == next {
                    tracing::info!(kind = "config", "configuration {next} is out");
                    // Your code here: once the current configuration is complete (every shard
                    // it brought has arrived), put `config` into the log.
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The RPC services the tester registers: `"ShardKV"` (Get, PutAppend, and your migration
    /// RPCs) and `"Raft"`. Each handler holds a clone of the server and runs in a task of the
    /// server's own.
    pub fn services(&self) -> Vec<Service> {
        let (get, put) = (self.clone(), self.clone());
        let kv = Service::new("ShardKV")
            .handle(move |args: GetArgs| {
                let kv = get.clone();
                async move { kv.get(args).await }
            })
            .handle(move |args: PutAppendArgs| {
                let kv = put.clone();
                async move { kv.put_append(args).await }
            });
        vec![kv, self.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rf.get_state()
    }

    /// Stops the server and all its tasks.
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
