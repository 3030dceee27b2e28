//! The server: the key/value state machine on [`rsm::Rsm`], and its RPC handlers.

use labrpc::{ClientEnd, Service};
use raft::Persister;
use rsm::Rsm;

use crate::Reads;

use super::rpc::{Command, Err, GetArgs, GetReply, Op, PutAppendArgs, PutAppendReply, PutKind};
use super::state_machine::{Output, StateMachine};

/// One key/value server: a Raft peer and the store it drives.
pub struct KvServer {
    rsm: Rsm<StateMachine>,
    reads: Reads,
}

impl KvServer {
    /// Starts server `me` on the current simulation node, from the snapshot in `persister` (if
    /// any); Raft restores its own state from the same persister.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        Self::with_reads(servers, me, persister, max_raft_state, Reads::Log)
    }

    /// [`KvServer::new`], answering Gets as `reads` says (lab 3C).
    pub fn with_reads(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        reads: Reads,
    ) -> KvServer {
        let rsm = Rsm::with_options(
            servers,
            me,
            persister,
            max_raft_state,
            StateMachine::default(),
            reads.raft_options(),
        );
        KvServer { rsm, reads }
    }

    /// The services the tester registers for this server: `"KVServer"` and `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        let (get, put, reads) = (self.rsm.clone(), self.rsm.clone(), self.reads);
        let kv = Service::new("KVServer")
            .handle(move |args: GetArgs| handle_get(get.clone(), reads, args))
            .handle(move |args: PutAppendArgs| handle_put_append(put.clone(), args));
        vec![kv, self.rsm.raft_service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rsm.get_state()
    }

    /// Stops the server: its Raft peer, its applier, and every waiting handler.
    pub fn kill(&self) {
        self.rsm.kill();
    }
}

/// Puts `command` through the log: its output, or `WrongLeader` if this server could not (see
/// [`rsm::Rsm::submit`]; the clerk then tries another server).
async fn execute(rsm: Rsm<StateMachine>, command: Command) -> Result<Output, Err> {
    rsm.submit(command).await.map_err(|_| Err::WrongLeader)
}

async fn handle_get(server: Rsm<StateMachine>, reads: Reads, args: GetArgs) -> GetReply {
    let lease = match reads {
        Reads::Log => return get_through_log(server, args).await,
        Reads::ReadIndex => false,
        Reads::Lease { .. } => true,
    };
    let key = args.key;
    let value = server.read_linearizable(lease, |m| m.get(&key)).await;
    get_reply(value.map_err(|_| Err::WrongLeader))
}

/// A Get's reply: the value, `NoKey` for a missing key, or why there is none.
fn get_reply(value: Result<Option<String>, Err>) -> GetReply {
    match value {
        Ok(Some(value)) => GetReply {
            err: Err::Ok,
            value,
        },
        Ok(None) => GetReply {
            err: Err::NoKey,
            value: String::new(),
        },
        Err(err) => GetReply {
            err,
            value: String::new(),
        },
    }
}

async fn get_through_log(server: Rsm<StateMachine>, args: GetArgs) -> GetReply {
    let command = Command {
        id: args.id,
        op: Op::Get { key: args.key },
    };
    let value = execute(server, command).await.map(|output| match output {
        Output::Value(value) => value,
        Output::Written => unreachable!("a Get applied as a write"),
    });
    get_reply(value)
}

async fn handle_put_append(server: Rsm<StateMachine>, args: PutAppendArgs) -> PutAppendReply {
    let (key, value) = (args.key, args.value);
    let op = match args.kind {
        PutKind::Put => Op::Put { key, value },
        PutKind::Append => Op::Append { key, value },
    };
    let err = match execute(server, Command { id: args.id, op }).await {
        Ok(_) => Err::Ok,
        Err(err) => err,
    };
    PutAppendReply { err }
}
