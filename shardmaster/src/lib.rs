//! Lab 4A: the shard master, the configuration service of a sharded key/value store.
//!
//! A sharded store (Lab 4B, `shardkv`) splits its keys into [`NSHARDS`] shards and spreads them
//! over replica groups, each a few servers running Raft. The shard master decides which group
//! serves which shard. It keeps a numbered sequence of [`Config`]urations and changes it on
//! request: groups join and leave, and shards move. It is itself a few servers on Raft, built
//! like Lab 3's key/value service, with configurations in place of keys and values.
//!
//! You edit three files; their doc comments are the handout:
//!
//! | file | what |
//! |---|---|
//! | `src/common.rs` | the RPCs between clerks and servers |
//! | `src/client.rs` | the [`Clerk`]: Join, Leave, Move and Query, retried until done |
//! | `src/server.rs` | the [`ShardMaster`]: configurations through Raft, and the rebalancing |
//!
//! Run the grader with `cargo test -p shardmaster` (part 4A). It runs on your Raft (Lab 2), so
//! make that pass its tests first: a Raft that never elects a leader fails every 4A test after
//! 10 virtual seconds, saying so.
//!
//! # The interface the tester uses
//!
//! [`api`] states it, and the build checks your files against it:
//!
//! * [`ShardMaster::new`] starts server `me` of `servers.len()` inside its simulation node,
//!   with a [`raft::Persister`]. [`ShardMaster::services`] returns the RPC services the tester
//!   registers for it, `"ShardMaster"` and `"Raft"`; [`ShardMaster::get_state`] reports its Raft
//!   peer's term and leadership; [`ShardMaster::kill`] stops it.
//! * [`Clerk::new`] makes a client from ends to every server; [`Clerk::join`],
//!   [`Clerk::leave`], [`Clerk::move_shard`] and [`Clerk::query`] run one operation each,
//!   retrying until it succeeds.
//!
//! As in the earlier labs, everything runs in a deterministic simulation on virtual time, and
//! your code keeps to [its rules](labrpc::sim#rules-for-code-that-runs-in-a-simulation).
//!
// handout: begin reference-only
//! Instructors: the feature `reference` builds the reference solution (`src/reference/`) in
//! place of the three student files, under the same interface, on whichever Raft the feature
//! `raft/reference` selects: `--features raft/reference` runs a student's shard master on the
//! reference Raft, `--features reference` the reference shard master on a student's Raft, and
//! `--features reference,raft/reference` the reference throughout.
// handout: end

mod config;

pub use crate::config::{Config, Gid, NSHARDS};

pub mod api;

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
pub use crate::{client::Clerk, server::ShardMaster};

// handout: begin reference-only
#[cfg(feature = "reference")]
#[path = "reference/mod.rs"]
mod reference;
#[cfg(feature = "reference")]
pub use crate::reference::{Clerk, ShardMaster};

/// Whether this build is the reference solution (feature `reference`).
pub const REFERENCE: bool = cfg!(feature = "reference");
// handout: end
// handout: student: /// Whether this build is the reference solution (never, in the student repository).
// handout: student: pub const REFERENCE: bool = false;
