//! The RPCs between clerks and servers. Edit freely: only your clerk and your servers use them.
//!
//! Declare each RPC as an argument type that implements [`labrpc::Rpc`], naming its reply type
//! and its method, `"KVServer.Get"` and `"KVServer.PutAppend"` (the service is registered as
//! `"KVServer"`). Everything sent must derive `Serialize` and `Deserialize`.
//!
//! What the arguments need besides the key (and value):
//!
//! * **an operation id**: the clerk's id (draw it with `labrpc::sim::random_u64()` in
//!   [`crate::Clerk::new`]) and a sequence number the clerk increments for each new operation,
//!   but not for a retry of the same one. The server uses them to execute every Put and Append
//!   exactly once, even when a reply was lost and the clerk sent the operation again, maybe to
//!   another server (see `src/server.rs`).
//!
//! What the replies need: an error such as [`Err`] below, and for Get the value.

// Remove this once the types below are used.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

/// How a server answers (MIT's `OK`, `ErrNoKey`, `ErrWrongLeader`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done.
    #[default]
    Ok,
    /// Get of a key that has no value: the clerk returns "".
    NoKey,
    /// This server cannot do it (not the leader, lost leadership, gave up): try another.
    WrongLeader,
}

/// `KVServer.Get`. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GetArgs {
    pub key: String,
}

/// The reply to `KVServer.Get`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GetReply {
    pub err: Err,
    pub value: String,
}

impl labrpc::Rpc for GetArgs {
    type Reply = GetReply;
    const NAME: &'static str = "KVServer.Get";
}

/// `KVServer.PutAppend`. Add the fields you need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PutAppendArgs {
    pub key: String,
    pub value: String,
    /// `true` for Append, `false` for Put.
    pub append: bool,
}

/// The reply to `KVServer.PutAppend`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PutAppendReply {
    pub err: Err,
}

impl labrpc::Rpc for PutAppendArgs {
    type Reply = PutAppendReply;
    const NAME: &'static str = "KVServer.PutAppend";
}
