//! The server: the key/value state machine on [`rsm::Rsm`], and its RPC handlers.

use labrpc::{ClientEnd, Service};
use raft::{ConfigChange, ConfigError, Configuration, Persister};
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

    /// [`KvServer::with_reads`], on a Raft peer whose configuration changes through the log
    /// (raft's lab 2F, [`rsm::Rsm::with_membership`]): `servers` are the ends to every server
    /// that may ever take part (the universe), and `configuration` is the one before the log's
    /// first entry, the same for every server, including those that join later (they are not
    /// in it). Clerks need no change: they get ends to the whole universe, and a server that
    /// does not lead (or no longer takes part) refuses, so they try the next.
    pub fn with_membership(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        reads: Reads,
        configuration: Configuration,
    ) -> KvServer {
        let rsm = Rsm::with_membership(
            servers,
            me,
            persister,
            max_raft_state,
            StateMachine::default(),
            reads.raft_options(),
            configuration,
        );
        KvServer { rsm, reads }
    }

    /// Asks this server's Raft peer, if it leads, to append the configuration `change` makes
    /// (see [`rsm::Rsm::change_config`]): the entry's index and term, or why not.
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        self.rsm.change_config(change)
    }

    /// The configuration this server's Raft peer goes by: the latest in its log, committed or
    /// not.
    pub fn configuration(&self) -> Configuration {
        self.rsm.configuration()
    }

    /// The latest configuration entry this server has applied (committed), with its index
    /// (see [`rsm::Rsm::applied_configuration`]).
    pub fn applied_configuration(&self) -> Option<(u64, Configuration)> {
        self.rsm.applied_configuration()
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
