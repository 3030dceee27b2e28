//! Reference sharded key/value store (Lab 4B, both challenges).
//!
//! Each replica group is a [`store::Store`] replicated by [`rsm::Rsm`]: the group's current and
//! previous configuration and, per shard, a state and the shard's contents (keys and the
//! duplicate table of the operations applied to them, which travel together).
//!
//! * **Configurations, one at a time.** The leader polls the shard master every 100 ms and, once
//!   every shard of the current configuration is settled, proposes the next one. Applying it
//!   marks shards gained `Pulling` and shards lost `Offering`; the others are untouched and
//!   stay served throughout (challenge 2).
//! * **Pull.** For each `Pulling` shard the leader asks the previous owner's servers for the
//!   contents; any of them that applied the same configuration can answer, since an offered
//!   shard is frozen. The reply goes into the log (`Install`), and the shard is served from
//!   that entry on, whatever other shards are still missing (challenge 2).
//! * **Release.** The new owner then tells the previous one to drop its copy; the previous
//!   owner puts the drop into its own log and confirms, and the new owner records the
//!   confirmation (`Released`). Nothing is deleted before its new owner has it, and nothing is
//!   kept after (challenge 1).
//! * **Clients.** Requests are checked against the shard's state when applied (a
//!   reconfiguration may come first), numbered per clerk, and deduplicated per shard.
//!
//! See `migration.rs` for the leader's tasks and `store.rs` for the states of a shard.

mod client;
mod migration;
mod rpc;
mod server;
mod store;

pub use self::client::Clerk;
pub use self::server::ShardKv;
