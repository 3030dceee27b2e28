//! The API the tester uses, stated once. You never edit this file.
//!
//! [`ShardMaster`] and [`Clerk`] here are the server and the clerk exactly as the tester (and
//! Lab 4B's servers and clerks) see them: each method forwards to the method of the same name
//! of the ones this build compiles (yours, in `src/server.rs` and `src/client.rs`). So if this
//! file stops compiling, one of those files has changed or lost something the tester relies on,
//! and the error points at a line here that says what to restore. Fix your file, not this one,
//! whatever the compiler suggests.

use std::collections::BTreeMap;
use std::future::Future;

use labrpc::{ClientEnd, Service};
use raft::Persister;

use crate::{Config, Gid};

/// A shard master server as the tester holds it.
pub struct ShardMaster(crate::ShardMaster);

impl ShardMaster {
    /// [`ShardMaster::new`](crate::ShardMaster::new): starts server `me` of `servers.len()`,
    /// and returns at once.
    pub fn new(servers: Vec<ClientEnd>, me: usize, persister: Persister) -> ShardMaster {
        let sm = crate::ShardMaster::new(servers, me, persister); // src/server.rs: restore `new`
        ShardMaster(shared_by_the_testers_tasks(sm))
    }

    /// [`ShardMaster::services`](crate::ShardMaster::services): the RPC services the tester
    /// registers for this server.
    pub fn services(&self) -> Vec<Service> {
        self.0.services() // src/server.rs must keep `fn services(&self) -> Vec<labrpc::Service>`
    }

    /// [`ShardMaster::get_state`](crate::ShardMaster::get_state): its Raft peer's term and
    /// leadership.
    pub fn get_state(&self) -> (u64, bool) {
        self.0.get_state() // src/server.rs must keep `fn get_state(&self) -> (u64, bool)`
    }

    /// [`ShardMaster::kill`](crate::ShardMaster::kill): stops the server.
    pub fn kill(&self) {
        self.0.kill() // src/server.rs must keep `fn kill(&self)`
    }
}

/// A clerk as the tester holds it. The tester awaits its operations inside its own tasks, so
/// their futures must be `Send`: no `parking_lot` guard (or `Rc`) may live across an `.await`.
pub struct Clerk(crate::Clerk);

impl Clerk {
    /// [`Clerk::new`](crate::Clerk::new): a clerk that talks to `servers`.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        let ck = crate::Clerk::new(servers); // src/client.rs must keep `fn new(Vec<ClientEnd>)`
        Clerk(shared_by_the_testers_tasks(ck))
    }

    /// [`Clerk::query`](crate::Clerk::query): configuration `num`, or the latest.
    pub fn query(&mut self, num: Option<u64>) -> impl Future<Output = Config> + Send + '_ {
        self.0.query(num) // src/client.rs: keep `async fn query(&mut self, Option<u64>) -> Config`
    }

    /// [`Clerk::join`](crate::Clerk::join): adds replica groups.
    pub fn join(
        &mut self,
        servers: BTreeMap<Gid, Vec<String>>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.0.join(servers) // src/client.rs: keep `async fn join(&mut self, BTreeMap<Gid, Vec<String>>)`
    }

    /// [`Clerk::leave`](crate::Clerk::leave): removes replica groups.
    pub fn leave(&mut self, gids: Vec<Gid>) -> impl Future<Output = ()> + Send + '_ {
        self.0.leave(gids) // src/client.rs: keep `async fn leave(&mut self, gids: Vec<Gid>)`
    }

    /// [`Clerk::move_shard`](crate::Clerk::move_shard): assigns `shard` to group `gid`.
    pub fn move_shard(&mut self, shard: usize, gid: Gid) -> impl Future<Output = ()> + Send + '_ {
        self.0.move_shard(shard, gid) // src/client.rs: keep `async fn move_shard(&mut self, usize, Gid)`
    }
}

/// The tester keeps servers and clerks in shared state and uses them from its tasks: they must
/// be `Send + Sync`. Keep shared state behind an `Arc<Mutex<..>>`, never in an `Rc` or a
/// `RefCell`.
fn shared_by_the_testers_tasks<T: Send + Sync + 'static>(value: T) -> T {
    value
}
