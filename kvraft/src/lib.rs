//! Lab 3: a fault-tolerant key/value service on Raft.
//!
//! Build a replicated key/value store: a few [`KvServer`]s, each on top of a Raft peer from
//! Lab 2, and a [`Clerk`] that clients use to talk to them. The service must be linearizable:
//! every `get`, `put` and `append` appears to take effect at one instant between its call and
//! its return, as if there were a single copy of the data, even while servers crash, the
//! network loses, delays and reorders messages, and partitions come and go.
//!
//! You edit three files; their doc comments are the handout:
//!
//! | file | what |
//! |---|---|
//! | `src/common.rs` | the RPCs between clerks and servers (arguments, replies, errors) |
//! | `src/client.rs` | the [`Clerk`]: finds the leader, retries, numbers its requests |
//! | `src/server.rs` | the [`KvServer`]: puts operations through Raft, applies them, snapshots |
//!
//! | part | what | run |
//! |---|---|---|
//! | 3A | the service without log compaction | `cargo test -p kvraft 3a` |
//! | 3B | snapshots, so the Raft log stays below `max_raft_state` bytes | `cargo test -p kvraft 3b` |
//! | 3C (beyond MIT) | Gets without the log: ReadIndex and lease reads | `cargo test -p kvraft 3c` |
//!
//! Your Raft must pass all of Lab 2's tests first: this lab builds on it (`raft::Raft` is your
//! `raft/src/raft.rs`), and bugs there show up here as lost or repeated operations, often only
//! once in many seeds.
//!
//! # The interface the tester uses
//!
//! [`api`] states it, and the build checks your files against it:
//!
//! * [`KvServer::new`] starts server `me` of `servers.len()` inside its simulation node, with a
//!   [`raft::Persister`] (empty on the first start, the crashed incarnation's on a restart) and
//!   `max_raft_state` (`None`: never snapshot). [`KvServer::services`] returns the two RPC
//!   services the tester registers for it, `"KVServer"` and `"Raft"`; [`KvServer::get_state`]
//!   reports its Raft peer's term and leadership; [`KvServer::kill`] stops it.
//!   [`KvServer::with_reads`] (3C) starts a server that answers Gets as its [`Reads`] says.
//! * [`Clerk::new`] makes a client from ends to every server (in a random order), and
//!   [`Clerk::get`], [`Clerk::put`] and [`Clerk::append`] run one operation each, retrying until
//!   it succeeds. A clerk has at most one operation outstanding.
//!
//! As in Lab 2, everything runs in a deterministic simulation on virtual time, and your code
//! keeps to [its rules](labrpc::sim#rules-for-code-that-runs-in-a-simulation).
//!
// handout: begin reference-only
//! Instructors: the feature `reference` builds the reference solution (`src/reference/`) in
//! place of the three student files, under the same interface, on whichever Raft the feature
//! `raft/reference` selects: `--features raft/reference` runs a student's kvraft on the
//! reference Raft, `--features reference` the reference kvraft on a student's Raft ("does my
//! Raft hold up under a service?"), and `--features reference,raft/reference` the reference
//! throughout.
// handout: end

pub mod api;

/// How a server answers Gets. Labs 3A and 3B put every Get through the log ([`Reads::Log`]);
/// lab 3C's tests start servers with [`KvServer::with_reads`] and one of the other two (the
/// 3C section of `src/server.rs` says what each asks of the server, and the 3C section of the
/// Raft handout what it asks of Raft).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Reads {
    /// A Get is a log entry, applied in order with the writes (MIT's labs).
    #[default]
    Log,
    /// ReadIndex: Raft confirms with a heartbeat round that it still leads
    /// (`Raft::read_index`), and the server reads once it has applied the index Raft returned.
    ReadIndex,
    /// Lease reads: no round while the leader's lease holds (`Raft::lease_read_index`),
    /// ReadIndex otherwise. The peers' clocks may drift apart by up to `clock_drift` (a
    /// fraction: 0.05 lets a second last 0.95 to 1.05 s), and the lease allows for it.
    Lease {
        /// The bound on every clock's drift, below `labrpc::sim::clock::MAX_DRIFT`.
        clock_drift: f64,
    },
}

impl Reads {
    /// The Raft options these reads need: lease reads are safe only with CheckQuorum's vote
    /// refusal, and only with a lease that allows for the clock drift; the other two need
    /// nothing of Raft beyond labs 2A-2D (and `read_index` for ReadIndex).
    pub fn raft_options(self) -> raft::Options {
        match self {
            Reads::Log | Reads::ReadIndex => raft::Options::default(),
            Reads::Lease { clock_drift } => raft::Options {
                check_quorum: true,
                lease_reads: true,
                clock_drift,
                ..raft::Options::default()
            },
        }
    }
}

// handout: begin reference-only
#[cfg(not(feature = "reference"))]
// handout: end
pub mod client;
// handout: begin reference-only
#[cfg(not(feature = "reference"))]
// handout: end
pub mod common;
// handout: begin reference-only
#[cfg(not(feature = "reference"))]
// handout: end
pub mod server;
// handout: begin reference-only
#[cfg(not(feature = "reference"))]
// handout: end
pub use crate::{client::Clerk, server::KvServer};

// handout: begin reference-only
#[cfg(feature = "reference")]
#[path = "reference/mod.rs"]
mod reference;
#[cfg(feature = "reference")]
pub use crate::reference::{Clerk, KvServer};

/// Whether this build is the reference solution (feature `reference`).
pub const REFERENCE: bool = cfg!(feature = "reference");
// handout: end
// handout: student: /// Whether this build is the reference solution (never, in the student repository).
// handout: student: pub const REFERENCE: bool = false;
