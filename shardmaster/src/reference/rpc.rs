//! The RPCs and the log entries.

use std::collections::BTreeMap;

use rsm::OpId;
use serde::{Deserialize, Serialize};

use crate::{Config, Gid};

/// A change to the configuration, or a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Join(BTreeMap<Gid, Vec<String>>),
    Leave(Vec<Gid>),
    Move {
        shard: usize,
        gid: Gid,
    },
    /// The configuration numbered so, or the latest for `None` or a number past it.
    Query(Option<u64>),
}

/// `ShardMaster.Request`: one operation, numbered by its clerk; also the log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: OpId,
    pub op: Op,
}

/// The reply: the configuration for a Query, `Some(default)` for a change, `None` for a
/// refusal (not the leader, or gave up: try another server).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    pub config: Option<Config>,
}

impl labrpc::Rpc for Request {
    type Reply = Reply;
    const NAME: &'static str = "ShardMaster.Request";
}
