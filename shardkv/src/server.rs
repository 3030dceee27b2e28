//! The shard key/value server. The rest of the 4B handout.
//!
//! Each group is a Lab 3 key/value service that serves only some shards, and whose set of
//! shards changes. Work in this order:
//!
//! 1. **A static configuration.** Start from your Lab 3 server. Fetch the configuration from
//!    the shard master (`shardmaster::Clerk::query`) and answer `WrongGroup` for keys of shards
//!    the group does not serve. Passes `static_shards_4b`.
//! 2. **Follow configuration changes.** A task on the leader polls the shard master about every
//!    100 ms. Changes go through the Raft log, so that every server of the group switches at
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
//! `.await`, and make every background task stop when the server is killed.

// Remove this once the skeleton's fields are used.
#![allow(dead_code)]

use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use raft::{Persister, Raft};
use serde::{Deserialize, Serialize};
use shardmaster::Gid;
use tokio::sync::mpsc;

use crate::common::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply};
use crate::MakeEnd;

/// What the servers put in the Raft log. Your fields (or variants) here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {}

/// One server of a replica group.
pub struct ShardKv {
    inner: Arc<Inner>,
}

struct Inner {
    me: usize,
    gid: Gid,
    rf: Raft<Op>,
    persister: Persister,
    max_raft_state: Option<usize>,
    masters: Vec<ClientEnd>,
    make_end: MakeEnd,
    // Your state here.
}

impl ShardKv {
    /// Starts server `me` of group `gid`: `servers` reach the group's servers (for Raft),
    /// `masters` the shard master's, `make_end` any server by name. Called by the tester inside
    /// this server's simulation node. Return at once.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        gid: Gid,
        masters: Vec<ClientEnd>,
        make_end: MakeEnd,
    ) -> ShardKv {
        let (apply_tx, _apply_rx) = mpsc::unbounded_channel();
        let rf = Raft::new(servers, me, persister.clone(), apply_tx);
        // Your code here: restore the snapshot, spawn the applier and the configuration poller.
        ShardKv {
            inner: Arc::new(Inner {
                me,
                gid,
                rf,
                persister,
                max_raft_state,
                masters,
                make_end,
            }),
        }
    }

    /// The RPC services the tester registers: `"ShardKV"` (Get, PutAppend, and your migration
    /// RPCs) and `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        // Handlers hold the server weakly (see kvraft's server for why).
        let (get, put) = (Arc::downgrade(&self.inner), Arc::downgrade(&self.inner));
        let kv = Service::new("ShardKV")
            .handle(move |args: GetArgs| {
                let server = get.upgrade();
                async move {
                    match server {
                        Some(server) => server.get(args).await,
                        None => GetReply {
                            err: Err::WrongLeader,
                            value: String::new(),
                        },
                    }
                }
            })
            .handle(move |args: PutAppendArgs| {
                let server = put.upgrade();
                async move {
                    match server {
                        Some(server) => server.put_append(args).await,
                        None => PutAppendReply {
                            err: Err::WrongLeader,
                        },
                    }
                }
            });
        vec![kv, self.inner.rf.service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.inner.rf.get_state()
    }

    /// Stops the server and all its tasks.
    pub fn kill(&self) {
        self.inner.rf.kill();
        // Your code here.
    }
}

impl Inner {
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
}
