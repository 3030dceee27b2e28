//! The RPCs between clerks and shard master servers. Edit freely: only your clerk and your
//! servers use them.
//!
//! Four RPCs, `"ShardMaster.Join"`, `"ShardMaster.Leave"`, `"ShardMaster.Move"` and
//! `"ShardMaster.Query"` (the service is registered as `"ShardMaster"`). As in Lab 3, the
//! arguments of the three that change the configuration need an operation id (clerk id and
//! sequence number), so that a retried Join is not applied twice: the tests never retry over an
//! unreliable network, but shardkv's servers and clerks use the shard master over one.

// Remove this once the types below are used.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Config, Gid};

/// How a server answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done.
    #[default]
    Ok,
    /// This server cannot do it (not the leader, lost leadership, gave up): try another.
    WrongLeader,
}

/// `ShardMaster.Join`: new groups, gid to server names. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinArgs {
    pub servers: BTreeMap<Gid, Vec<String>>,
}

/// `ShardMaster.Leave`: the groups to remove. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaveArgs {
    pub gids: Vec<Gid>,
}

/// `ShardMaster.Move`: give `shard` to group `gid`. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MoveArgs {
    pub shard: usize,
    pub gid: Gid,
}

/// `ShardMaster.Query`: configuration `num`, or the latest for `None` or a number past it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueryArgs {
    pub num: Option<u64>,
}

/// The reply to Join, Leave and Move.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChangeReply {
    pub err: Err,
}

/// The reply to Query.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QueryReply {
    pub err: Err,
    pub config: Config,
}

impl labrpc::Rpc for JoinArgs {
    type Reply = ChangeReply;
    const NAME: &'static str = "ShardMaster.Join";
}

impl labrpc::Rpc for LeaveArgs {
    type Reply = ChangeReply;
    const NAME: &'static str = "ShardMaster.Leave";
}

impl labrpc::Rpc for MoveArgs {
    type Reply = ChangeReply;
    const NAME: &'static str = "ShardMaster.Move";
}

impl labrpc::Rpc for QueryArgs {
    type Reply = QueryReply;
    const NAME: &'static str = "ShardMaster.Query";
}
