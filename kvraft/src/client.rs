//! The clerk: the client library of the key/value service. Part of the 3A handout.
//!
//! A clerk sends each operation to the servers until one of them, the leader, commits and
//! applies it. The tester calls one method at a time per clerk (but runs many clerks at once).
//!
//! * Each method **retries until it succeeds**: on a network error (the call returns `Err`:
//!   the request or the reply was lost, the server crashed or is unreachable) or an
//!   `ErrWrongLeader` answer, try the next server. There is no failure a caller can see.
//! * **Remember the last leader** and try it first next time: it almost always still is, and
//!   finding it again costs a round of RPCs per operation.
//! * **Sleep after a full round of servers** that all failed (10-100 ms with
//!   `tokio::time::sleep`): no leader is known, e.g. during an election, and asking again at
//!   once only loads the servers (a round trip on the simulated network takes 5 virtual ms, so
//!   a clerk that never pauses sends hundreds of RPCs per second).
//! * **Number your operations.** A retried Put or Append may already have been executed (only
//!   the reply was lost, or a deposed leader committed it after all), and must not be applied
//!   twice. Give the clerk a random id (`labrpc::sim::random_u64()`) and each operation the next
//!   sequence number, the same for all its retries, and let the servers recognise duplicates
//!   (`src/server.rs`).
//! * Get returns "" for a key that has no value (the server answers `ErrNoKey`); Append to a
//!   missing key acts like Put.
//!
//! Call a server with `self.servers[i].call(&args).await` (see `src/common.rs` for the
//! argument types). The ends come in a random order: server `i` is not `servers[i]`.

use labrpc::ClientEnd;

/// A client of the key/value service.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    // Your data here (3A): client id, next sequence number, last known leader.
}

impl Clerk {
    /// A clerk that talks to `servers`. The tester makes each clerk on a node of its own (it
    /// never crashes), and calls its methods there: what a clerk spawns is its own.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk { servers }
    }

    /// The current value of `key`, or "" if it has none. Keeps trying in the face of all
    /// errors.
    pub async fn get(&mut self, key: &str) -> String {
        // Your code here (3A): send `GetArgs` until a server answers, with code like
        // `let reply = self.servers[i].call(&args).await;` (an `Err` is a network error).
        let _ = (key, &self.servers);
        todo!("Clerk::get (kvraft/src/client.rs)")
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        self.put_append(key, value, false).await
    }

    /// Appends `value` to the value of `key` (to "" if it has none).
    pub async fn append(&mut self, key: &str, value: &str) {
        self.put_append(key, value, true).await
    }

    /// Shared by Put and Append.
    async fn put_append(&mut self, key: &str, value: &str, append: bool) {
        // Your code here (3A): send `PutAppendArgs` until a server answers `Err::Ok`.
        let _ = (key, value, append);
        todo!("Clerk::put_append (kvraft/src/client.rs)")
    }
}
