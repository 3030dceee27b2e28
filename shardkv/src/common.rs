//! The RPCs. Edit freely: only your clerks and your servers use them.
//!
//! Clerk to server: `"ShardKV.Get"` and `"ShardKV.PutAppend"`, as in Lab 3 (with an operation
//! id for exactly-once), plus an answer for a key whose shard the group does not serve (now):
//! `ErrWrongGroup`, after which the clerk asks the shard master for the latest configuration.
//!
//! Server to server: add what your migration needs, e.g. a `"ShardKV.PullShard"` with which
//! the new owner of a shard asks the old owner for the shard's data (and duplicate table) as of
//! a configuration number, and, for challenge 1, one that tells the old owner it may delete it.
//! Register them in `ShardKv::services`.

// Remove this once the types below are used.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

/// How a server answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done.
    #[default]
    Ok,
    /// Get of a key that has no value: the clerk returns "".
    NoKey,
    /// This group does not serve the key's shard (not in its configuration, or not arrived yet).
    WrongGroup,
    /// This server cannot do it (not the leader, lost leadership, gave up): try another.
    WrongLeader,
}

/// `ShardKV.Get`. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GetArgs {
    pub key: String,
}

/// The reply to `ShardKV.Get`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GetReply {
    pub err: Err,
    pub value: String,
}

impl labrpc::Rpc for GetArgs {
    type Reply = GetReply;
    const NAME: &'static str = "ShardKV.Get";
}

/// `ShardKV.PutAppend`. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PutAppendArgs {
    pub key: String,
    pub value: String,
    /// `true` for Append, `false` for Put.
    pub append: bool,
}

/// The reply to `ShardKV.PutAppend`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PutAppendReply {
    pub err: Err,
}

impl labrpc::Rpc for PutAppendArgs {
    type Reply = PutAppendReply;
    const NAME: &'static str = "ShardKV.PutAppend";
}
