//! Lab 4B: a sharded key/value store whose shards move between replica groups.
//!
//! Keys are divided into [`shardmaster::NSHARDS`] shards ([`key2shard`]). Each replica group
//! (a few [`ShardKv`] servers on Raft, identified by a gid) serves the shards the shard
//! master's current configuration assigns to it. When the configuration changes, groups hand
//! shards to each other, and clients keep working: the service stays linearizable, and every
//! Put and Append happens exactly once, through migrations, crashes and an unreliable network.
//!
//! You edit three files; their doc comments are the handout:
//!
//! | file | what |
//! |---|---|
//! | `src/common.rs` | the RPCs: clerks to servers, and servers to servers for migration |
//! | `src/client.rs` | the [`Clerk`]: finds the group that owns a key's shard |
//! | `src/server.rs` | the [`ShardKv`]: configurations, migration, and the store |
//!
//! Run the grader with `cargo test -p shardkv` (part 4B). It runs on your Raft and your shard
//! master, so make those pass their tests first. The two challenge tests (`challenge1_*`,
//! `challenge2_*`) are part of the suite.
//!
//! # The interface the tester uses
//!
//! [`api`] states it, and the build checks your files against it:
//!
//! * [`ShardKv::new`] starts server `me` of its group `gid` inside its simulation node, with
//!   ends to the other servers of the group, a [`raft::Persister`], `max_raft_state` (`None`:
//!   never snapshot), ends to the shard master's servers, and a [`MakeEnd`] to reach servers of
//!   other groups by name. [`ShardKv::services`] returns the RPC services the tester registers
//!   for it (`"ShardKV"`, `"Raft"`, and any others you add); [`ShardKv::get_state`] and
//!   [`ShardKv::kill`] are as in Lab 3.
//! * [`Clerk::new`] makes a client from ends to the shard master and a [`MakeEnd`];
//!   [`Clerk::get`], [`Clerk::put`] and [`Clerk::append`] retry until they succeed.
//!
// handout: begin reference-only
//! Instructors: the feature `reference` builds the reference solution (`src/reference/`) in
//! place of the three student files, on whichever shard master and Raft the features
//! `shardmaster/reference` and `raft/reference` select: `--features
//! raft/reference,shardmaster/reference` runs a student's shardkv on the reference layers,
//! `--features reference` the reference shardkv on a student's, and `--features
//! reference,shardmaster/reference,raft/reference` the reference throughout.
// handout: end

mod shard;

pub use crate::shard::{key2shard, MakeEnd};

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
pub use crate::{client::Clerk, server::ShardKv};

// handout: begin reference-only
#[cfg(feature = "reference")]
#[path = "reference/mod.rs"]
mod reference;
#[cfg(feature = "reference")]
pub use crate::reference::{Clerk, ShardKv};

/// Whether this build is the reference solution (feature `reference`).
pub const REFERENCE: bool = cfg!(feature = "reference");
// handout: end
// handout: student: /// Whether this build is the reference solution (never, in the student repository).
// handout: student: pub const REFERENCE: bool = false;
