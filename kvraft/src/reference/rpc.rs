//! What travels: the clerk-server RPCs, and the commands the servers put in the Raft log.

use raft::{ConfigCommand, Configuration};
use rsm::OpId;
use serde::{Deserialize, Serialize};

/// How a server answers an operation it did not carry out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done (for a Get: the key exists and the reply holds its value).
    #[default]
    Ok,
    /// A Get of a key that has no value; the clerk returns "".
    NoKey,
    /// Not done here, or not known to be: this server is not the leader, lost leadership before
    /// the operation committed, or gave up waiting. Try another server.
    WrongLeader,
}

/// `KVServer.Get`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GetArgs {
    pub key: String,
    pub id: OpId,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GetReply {
    pub err: Err,
    pub value: String,
}

impl labrpc::Rpc for GetArgs {
    type Reply = GetReply;
    const NAME: &'static str = "KVServer.Get";
}

/// Whether a PutAppend replaces or extends the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutKind {
    Put,
    Append,
}

/// `KVServer.PutAppend`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PutAppendArgs {
    pub key: String,
    pub value: String,
    pub kind: PutKind,
    pub id: OpId,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PutAppendReply {
    pub err: Err,
}

impl labrpc::Rpc for PutAppendArgs {
    type Reply = PutAppendReply;
    const NAME: &'static str = "KVServer.PutAppend";
}

/// An operation on the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Append {
        key: String,
        value: String,
    },
    /// Changes nothing: a new leader commits one to serve reads without the log (lab 3C).
    Noop,
    /// A Raft configuration entry (membership change, raft's lab 2F): who replicates the
    /// store, which the store itself does not depend on, so it changes nothing. Last, so that
    /// the variants before it keep their encodings (bincode numbers variants in order).
    Config(Configuration),
}

/// One entry of the Raft log: an operation and who sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: OpId,
    pub op: Op,
}

/// The log's commands carry Raft's configuration entries as [`Op::Config`], with the id of
/// [`Op::Noop`]'s (client 0, which no clerk draws in practice, and which the state machine
/// never looks up for either).
impl ConfigCommand for Command {
    fn from_config(config: Configuration) -> Command {
        Command {
            id: OpId { client: 0, seq: 0 },
            op: Op::Config(config),
        }
    }

    fn as_config(&self) -> Option<&Configuration> {
        match &self.op {
            Op::Config(config) => Some(config),
            _ => None,
        }
    }
}
