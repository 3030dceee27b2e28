//! The API the tester uses, stated once. You never edit this file.
//!
//! [`KvServer`] and [`Clerk`] here are the server and the clerk exactly as the tester sees them:
//! each method forwards to the method of the same name of the ones this build compiles (yours,
//! in `src/server.rs` and `src/client.rs`). So if this file stops compiling, one of those files
//! has changed or lost something the tester relies on, and the error points at a line here
//! that says what to restore. Fix your file, not this one, whatever the compiler suggests.

use std::future::Future;

use labrpc::{ClientEnd, Service};
use raft::Persister;

use crate::Reads;

/// A key/value server as the tester holds it.
pub struct KvServer(crate::KvServer);

impl KvServer {
    /// [`KvServer::new`](crate::KvServer::new): starts server `me` of `servers.len()`, and
    /// returns at once.
    pub fn new(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> KvServer {
        let kv = crate::KvServer::new(servers, me, persister, max_raft_state); // src/server.rs: restore `new`
        KvServer(shared_by_the_testers_tasks(kv))
    }

    /// [`KvServer::with_reads`](crate::KvServer::with_reads) (3C): `new`, answering Gets as
    /// `reads` says. With [`Reads::Log`] this is [`KvServer::new`]: labs 3A and 3B never depend
    /// on `with_reads`.
    pub fn with_reads(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        reads: Reads,
    ) -> KvServer {
        if reads == Reads::Log {
            return Self::new(servers, me, persister, max_raft_state);
        }
        // src/server.rs: restore `with_reads`
        let kv = crate::KvServer::with_reads(servers, me, persister, max_raft_state, reads);
        KvServer(shared_by_the_testers_tasks(kv))
    }

    /// [`KvServer::services`](crate::KvServer::services): the RPC services the tester
    /// registers for this server.
    pub fn services(&self) -> Vec<Service> {
        self.0.services() // src/server.rs must keep `fn services(&self) -> Vec<labrpc::Service>`
    }

    /// [`KvServer::get_state`](crate::KvServer::get_state): its Raft peer's term and
    /// leadership.
    pub fn get_state(&self) -> (u64, bool) {
        self.0.get_state() // src/server.rs must keep `fn get_state(&self) -> (u64, bool)`
    }

    /// [`KvServer::kill`](crate::KvServer::kill): stops the server.
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
        let ck = crate::Clerk::new(servers); // src/client.rs must keep `fn new(Vec<ClientEnd>) -> Clerk`
        Clerk(shared_by_the_testers_tasks(ck))
    }

    /// [`Clerk::get`](crate::Clerk::get): the value of `key`, or "".
    pub fn get<'a>(&'a mut self, key: &'a str) -> impl Future<Output = String> + Send + 'a {
        self.0.get(key) // src/client.rs must keep `async fn get(&mut self, key: &str) -> String`
    }

    /// [`Clerk::put`](crate::Clerk::put): sets `key` to `value`.
    pub fn put<'a>(
        &'a mut self,
        key: &'a str,
        value: &'a str,
    ) -> impl Future<Output = ()> + Send + 'a {
        self.0.put(key, value) // src/client.rs must keep `async fn put(&mut self, key: &str, value: &str)`
    }

    /// [`Clerk::append`](crate::Clerk::append): appends `value` to the value of `key`.
    pub fn append<'a>(
        &'a mut self,
        key: &'a str,
        value: &'a str,
    ) -> impl Future<Output = ()> + Send + 'a {
        self.0.append(key, value) // src/client.rs must keep `async fn append(&mut self, key: &str, value: &str)`
    }
}

/// The tester keeps servers and clerks in shared state and uses them from its tasks: they must
/// be `Send + Sync`. Keep shared state behind an `Arc<Mutex<..>>`, never in an `Rc` or a
/// `RefCell`.
fn shared_by_the_testers_tasks<T: Send + Sync + 'static>(value: T) -> T {
    value
}
