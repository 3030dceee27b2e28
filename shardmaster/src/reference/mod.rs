//! Reference shard master (Lab 4A).
//!
//! The state machine ([`server::Configs`]) is the list of every configuration and the table of
//! the last change applied per clerk; [`rsm::Rsm`] replicates it on Raft (every operation,
//! Queries included, goes through the log, so a Query sees every change that returned before
//! it). One RPC carries every operation; the reply holds a configuration, or nothing when the
//! server refused and the clerk should try another.
//!
//! Join and Leave copy the latest configuration and [`rebalance::rebalance`] it: the fewest
//! moves that balance the groups, computed in gid and shard order so that every server agrees.

mod client;
mod rebalance;
mod rpc;
mod server;

pub use self::client::Clerk;
pub use self::server::ShardMaster;
