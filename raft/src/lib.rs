//! Lab 2: Raft.
//!
//! Build a Raft peer in `src/raft.rs`, the one file this lab asks you to edit. Its doc comments
//! are the handout: what to implement, in what order, and the hints that matter. `cargo doc -p
//! raft --open` shows them as the module `raft` below. Parts:
//!
//! | part | what | run |
//! |---|---|---|
//! | 2A | leader election and heartbeats | `cargo test -p raft 2a` |
//! | 2B | log replication and commitment | `cargo test -p raft 2b` |
//! | 2C | persistence across crashes | `cargo test -p raft 2c` |
//! | 2D | log compaction with snapshots | `cargo test -p raft 2d` |
//! | 2E (beyond MIT) | PreVote and CheckQuorum, as etcd runs Raft | `cargo test -p raft 2e` |
//! | 2F (beyond MIT) | cluster membership change: single-server and joint | `cargo test -p raft 2f` |
//!
//! Each test is a deterministic simulation: the network, the crashes and your timers run on
//! virtual time, so the whole lab's tests take seconds, and a failure prints a seed and a
//! command that replays exactly the same run. Your code keeps to [the simulation's
//! rules](labrpc::sim#rules-for-code-that-runs-in-a-simulation); breaking one fails the test
//! with a message that names the rule and your peer.
//!
//! # The interface the tester (and later your key/value service) uses
//!
//! [`api`] states it, and the build checks `src/raft.rs` against it:
//!
//! * [`Raft::new`] creates a peer from the ends to all peers, its own index, a [`Persister`]
//!   and a channel on which it delivers [`ApplyMsg`]s; it must return at once and do its work in
//!   background tasks.
//! * [`Raft::start`] proposes a command; [`Raft::get_state`] reports term and leadership;
//!   [`Raft::snapshot`] tells Raft the service has snapshotted up to an index; [`Raft::kill`]
//!   stops it; [`Raft::service`] is the RPC service the tester registers for the peer.
//! * [`Raft::with_options`] (2E) creates a peer as `new` does, with the election guards that
//!   its [`Options`] switch on.
//! * [`Raft::with_membership`] (2F) creates a peer whose configuration (who votes) changes
//!   through the log: [`Raft::change_config`] asks for a change, [`Raft::configuration`]
//!   reports the one in force (see [`membership`]).
//!
//! Commands are any [`Command`] type: the tests use a small enum of integers and strings, the
//! key/value service its operations.
//!
// handout: begin reference-only
//! Instructors: the feature `reference` builds the reference solution (`src/reference/`) in place
//! of `src/raft.rs`, under the same interface: [`api`] is checked against whichever is built.
// handout: end

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod api;
pub mod membership;
mod persister;
pub use membership::{ConfigChange, ConfigCommand, ConfigError, Configuration};
pub use persister::Persister;

// handout: begin reference-only
#[cfg(not(feature = "reference"))]
// handout: end
pub mod raft;
// handout: begin reference-only
#[cfg(feature = "reference")]
#[path = "reference/mod.rs"]
mod raft;
// handout: end

pub use crate::raft::Raft;

/// Whether this build is the reference solution (feature `reference`) rather than the student's
/// `src/raft.rs`. The labs above Raft name it in their replay commands.
// handout: begin reference-only
pub const REFERENCE: bool = cfg!(feature = "reference");
// handout: end
// handout: student: pub const REFERENCE: bool = false;

/// What a Raft log can hold: any value that can be cloned, compared in tests, and encoded.
pub trait Command:
    Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

impl<T> Command for T where
    T: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

/// What Raft delivers to its service, in log order, on the apply channel.
#[derive(Clone, Debug, PartialEq)]
pub enum ApplyMsg<C> {
    /// The command at `index` is committed: apply it.
    Command {
        /// Its log index (the first entry is 1).
        index: u64,
        /// The command, as passed to [`Raft::start`].
        command: C,
    },
    /// Replace your state with this snapshot, which covers the log up to `index`.
    Snapshot {
        /// The last log index the snapshot includes.
        index: u64,
        /// The term of that entry.
        term: u64,
        /// The service's snapshot, as passed to [`Raft::snapshot`] on some peer.
        data: Vec<u8>,
    },
}

/// The sending half of the apply channel a peer is given.
pub type ApplySender<C> = tokio::sync::mpsc::UnboundedSender<ApplyMsg<C>>;

/// Why Raft cannot give a read index (lab 3C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// This peer does not lead, or could not confirm that it still does: try another peer.
    NotLeader,
    /// This peer leads but has not committed an entry of its term yet, so its commit index may
    /// lag what earlier leaders committed: commit something (a no-op), then ask again.
    NoEntryOfTerm,
    /// Lease reads: this peer leads, but no lease holds now; use a ReadIndex read.
    LeaseExpired,
}

/// Lab 2E: the guards production Raft (etcd, TiKV) adds to elections, each off unless switched
/// on, so that labs 2A-2D are MIT's. The tester passes them to `Raft::with_options`; the 2E
/// section of `src/raft.rs` says what each asks of your peer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Options {
    /// PreVote (Ongaro's thesis, section 9.6): a peer whose election timer fires first asks
    /// the others, with a `Raft.PreVote` RPC, whether they would vote for it, and stands (a
    /// new term) only if a majority would.
    pub pre_vote: bool,
    /// CheckQuorum (thesis section 6.2): a leader that has not heard from a majority for an
    /// election timeout steps down.
    pub check_quorum: bool,
    /// Lab 3C: serve lease reads (`lease_read_index`). Needs `check_quorum`.
    pub lease_reads: bool,
    /// Lab 3C: the most any peer's clock may run fast or slow, as a fraction of true time
    /// (0.05: a second lasts 0.95 to 1.05 s); a lease must allow for it. The simulation keeps
    /// every peer within it (`labrpc::sim::clock`).
    pub clock_drift: f64,
}
