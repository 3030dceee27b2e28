//! The API the tester uses, stated once. You never edit this file.
//!
//! [`Raft`] here is the peer exactly as the tester sees it: each method forwards to the method
//! of the same name of the Raft this build compiles (yours, `src/raft.rs`). So if this file
//! stops compiling, `src/raft.rs` has changed or lost something the tester (and your key/value
//! service) relies on, and the error points at a line here that says what to restore. Fix
//! `src/raft.rs`, not this file, whatever the compiler suggests.

use labrpc::{ClientEnd, Service};

use crate::{
    ApplySender, Command, ConfigChange, ConfigCommand, ConfigError, Configuration, Options,
    Persister, ReadError,
};

/// The Raft this build compiles.
type Selected<C> = crate::raft::Raft<C>;

/// A Raft peer as the tester holds it: a cheap handle that it clones into its tasks.
pub struct Raft<C: Command>(Selected<C>);

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft(self.0.clone()) // src/raft.rs: `Raft` must be a handle, `#[derive(Clone)]`
    }
}

impl<C: Command> Raft<C> {
    /// [`Raft::new`](crate::Raft::new): creates peer `me` of `peers.len()`, and returns at once.
    pub fn new(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
    ) -> Raft<C> {
        let peer = Selected::new(peers, me, persister, apply_tx); // src/raft.rs: restore `new`
        Raft(shared_by_the_testers_tasks(peer))
    }

    /// [`Raft::with_options`](crate::Raft::with_options) (2E): `new`, with the guards
    /// `options` switches on. With none on, this is [`Raft::new`]: labs 2A-2D, and the
    /// services built on them, never depend on `with_options`.
    pub fn with_options(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
    ) -> Raft<C> {
        if options == Options::default() {
            return Self::new(peers, me, persister, apply_tx);
        }
        // src/raft.rs: restore `with_options`
        let peer = Selected::with_options(peers, me, persister, apply_tx, options);
        Raft(shared_by_the_testers_tasks(peer))
    }

    /// [`Raft::get_state`](crate::Raft::get_state): the current term, and whether this peer
    /// believes it is the leader.
    pub fn get_state(&self) -> (u64, bool) {
        self.0.get_state() // src/raft.rs must keep `fn get_state(&self) -> (u64, bool)`
    }

    /// [`Raft::start`](crate::Raft::start): proposes `command`; `None` unless leader, else the
    /// index it will have if it is ever committed, and the current term.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        self.0.start(command) // src/raft.rs must keep `fn start(&self, command: C) -> Option<(u64, u64)>`
    }

    /// [`Raft::snapshot`](crate::Raft::snapshot): the service has snapshotted the log up to and
    /// including `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.0.snapshot(index, snapshot) // src/raft.rs must keep `fn snapshot(&self, u64, Vec<u8>)`
    }

    /// [`Raft::read_index`](crate::Raft::read_index) (3C): the index to have applied before
    /// serving a read that arrived now, once a heartbeat round confirmed the leadership.
    pub async fn read_index(&self) -> Result<u64, ReadError> {
        self.0.read_index().await // src/raft.rs must keep `async fn read_index(&self) -> Result<u64, ReadError>`
    }

    /// [`Raft::lease_read_index`](crate::Raft::lease_read_index) (3C): the same, at once, if
    /// this peer leads under a lease.
    pub fn lease_read_index(&self) -> Result<u64, ReadError> {
        self.0.lease_read_index() // src/raft.rs must keep `fn lease_read_index(&self) -> Result<u64, ReadError>`
    }

    /// [`Raft::configuration`](crate::Raft::configuration) (2F): the configuration this peer
    /// goes by, the latest in its log (all peers, for a peer not made by `with_membership`).
    pub fn configuration(&self) -> Configuration {
        self.0.configuration() // src/raft.rs must keep `fn configuration(&self) -> Configuration`
    }

    /// [`Raft::kill`](crate::Raft::kill): stops the peer.
    pub fn kill(&self) {
        self.0.kill() // src/raft.rs must keep `fn kill(&self)`
    }

    /// [`Raft::service`](crate::Raft::service): the RPC service the tester registers for the
    /// peer.
    pub fn service(&self) -> Service {
        self.0.service() // src/raft.rs must keep `fn service(&self) -> labrpc::Service`
    }
}

impl<C: ConfigCommand> Raft<C> {
    /// [`Raft::with_membership`](crate::Raft::with_membership) (2F): `with_options`, for a
    /// peer whose configuration changes through the log; `initial` is the configuration before
    /// the log's first entry, the same for every peer (one that joins later is not in it).
    pub fn with_membership(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: ApplySender<C>,
        options: Options,
        initial: Configuration,
    ) -> Raft<C> {
        // src/raft.rs: restore `with_membership`
        let peer = Selected::with_membership(peers, me, persister, apply_tx, options, initial);
        Raft(shared_by_the_testers_tasks(peer))
    }

    /// [`Raft::change_config`](crate::Raft::change_config) (2F): asks this peer, if it leads,
    /// to append the configuration `change` makes; the index and term of that entry.
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        self.0.change_config(change) // src/raft.rs must keep `fn change_config(&self, ConfigChange) -> Result<(u64, u64), ConfigError>`
    }
}

/// The tester keeps its peers in shared state and clones them into its tasks: a peer must be
/// `Send + Sync`. Keep its state behind an `Arc<Mutex<..>>`, never in an `Rc` or a `RefCell`.
fn shared_by_the_testers_tasks<T: Send + Sync + 'static>(peer: T) -> T {
    peer
}
