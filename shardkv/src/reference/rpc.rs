//! What travels: clerk-server and server-server RPCs, and the entries of a group's Raft log.

use std::collections::BTreeMap;

use rsm::{OpId, Sessions};
use serde::{Deserialize, Serialize};
use shardmaster::Config;

/// How a server answers a clerk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done (for a Get: the key exists and the reply holds its value).
    #[default]
    Ok,
    /// A Get of a key that has no value.
    NoKey,
    /// The group does not serve the key's shard now: ask the shard master for news.
    WrongGroup,
    /// Not the leader, lost leadership, or gave up: try another server of the group.
    WrongLeader,
}

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOp {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KeyOp {
    pub fn key(&self) -> &str {
        match self {
            KeyOp::Get { key } | KeyOp::Put { key, .. } | KeyOp::Append { key, .. } => key,
        }
    }
}

/// `ShardKV.Request`: a clerk's operation, numbered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: OpId,
    pub op: KeyOp,
}

/// The reply to a [`Request`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    pub err: Err,
    pub value: String,
}

impl labrpc::Rpc for Request {
    type Reply = Reply;
    const NAME: &'static str = "ShardKV.Request";
}

/// One shard's contents, as it moves between groups: the keys and the duplicate table of the
/// operations applied to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardData {
    pub kv: BTreeMap<String, String>,
    pub sessions: Sessions,
}

/// `ShardKV.Pull`: the new owner of `shard` in configuration `num` asks the group that served
/// it in `num - 1` for its contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullArgs {
    pub num: u64,
    pub shard: usize,
}

impl labrpc::Rpc for PullArgs {
    /// The contents, or `None` if this server cannot give them (yet).
    type Reply = Option<ShardData>;
    const NAME: &'static str = "ShardKV.Pull";
}

/// `ShardKV.Release`: the new owner of `shard` in configuration `num` has installed it; the old
/// owner may delete its copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseArgs {
    pub num: u64,
    pub shard: usize,
}

impl labrpc::Rpc for ReleaseArgs {
    /// Whether the old owner's copy is gone (or going: the deletion is committed).
    type Reply = bool;
    const NAME: &'static str = "ShardKV.Release";
}

/// An entry of a group's Raft log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A clerk's operation.
    Client(Request),
    /// Move to this configuration (the next one).
    Reconfigure(Config),
    /// The contents of `shard` for configuration `num`, pulled from its previous owner.
    Install {
        num: u64,
        shard: usize,
        data: ShardData,
    },
    /// The new owner of `shard` in configuration `num` has it: drop our copy.
    Drop { num: u64, shard: usize },
    /// Our previous owner dropped its copy of `shard` for configuration `num`.
    Released { num: u64, shard: usize },
    /// Nothing: a new leader's first entry, which commits what its predecessors left.
    Noop,
}
