//! The server: the group's store on [`rsm::Rsm`], its RPC handlers, and its background tasks.

use labrpc::{ClientEnd, Service};
use raft::Persister;
use rsm::Rsm;
use shardmaster::Gid;

use super::migration;
use super::rpc::{Command, Err, PullArgs, ReleaseArgs, Reply, Request};
use super::store::{Output, Store};
use crate::{key2shard, MakeEnd};

/// One server of a replica group.
pub struct ShardKv {
    rsm: Rsm<Store>,
}

impl ShardKv {
    /// Starts server `me` of group `gid` on the current simulation node, with the tasks that
    /// follow the shard master's configurations and move shards.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        gid: Gid,
        masters: Vec<ClientEnd>,
        make_end: MakeEnd,
    ) -> ShardKv {
        let rsm = Rsm::new(servers, me, persister, max_raft_state, Store::new(gid));
        labrpc::sim::spawn(migration::follow_configs(
            rsm.clone(),
            shardmaster::Clerk::new(masters),
        ));
        labrpc::sim::spawn(migration::move_shards(rsm.clone(), make_end));
        ShardKv { rsm }
    }

    /// The services the tester registers: `"ShardKV"` (clerks' requests, and the Pull and
    /// Release of migration) and `"Raft"`.
    pub fn services(&self) -> Vec<Service> {
        let [request, pull, release] = [(); 3].map(|()| self.rsm.clone());
        let kv = Service::new("ShardKV")
            .handle(move |args: Request| handle_request(request.clone(), args))
            .handle(move |args: PullArgs| {
                let rsm = pull.clone();
                async move { rsm.read(|store| store.offered(args.num, args.shard)) }
            })
            .handle(move |args: ReleaseArgs| handle_release(release.clone(), args));
        vec![kv, self.rsm.raft_service()]
    }

    /// The Raft peer's term and whether it believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.rsm.get_state()
    }

    /// Stops the server and its tasks.
    pub fn kill(&self) {
        self.rsm.kill();
    }
}

async fn handle_request(rsm: Rsm<Store>, request: Request) -> Reply {
    let reply = |err| Reply {
        err,
        value: String::new(),
    };
    // Refuse at once what the log would refuse anyway; the store checks again when it applies
    // the operation, since a configuration change may come first.
    let shard = key2shard(request.op.key());
    if !rsm.read(|store| store.serves(shard)) {
        return reply(Err::WrongGroup);
    }
    match rsm.submit(Command::Client(request)).await {
        Ok(Output::Value(Some(value))) => Reply {
            err: Err::Ok,
            value,
        },
        Ok(Output::Value(None)) => reply(Err::NoKey),
        Ok(Output::Written) => reply(Err::Ok),
        Ok(Output::WrongGroup) => reply(Err::WrongGroup),
        Ok(Output::Done) => unreachable!("a clerk's request applied as a migration step"),
        Err(_) => reply(Err::WrongLeader),
    }
}

/// The old owner's side of garbage collection: drops its copy of the shard through its log,
/// and answers `true` once the copy is gone or its deletion committed.
async fn handle_release(rsm: Rsm<Store>, args: ReleaseArgs) -> bool {
    if rsm.read(|store| store.dropped(args.num, args.shard)) {
        return true;
    }
    let command = Command::Drop {
        num: args.num,
        shard: args.shard,
    };
    rsm.submit(command).await.is_ok() && rsm.read(|store| store.dropped(args.num, args.shard))
}
