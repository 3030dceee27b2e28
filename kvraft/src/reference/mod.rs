//! Reference key/value service (Lab 3A/3B).
//!
//! # Servers
//!
//! Each [`KvServer`] is a Raft peer whose commands are [`rpc::Command`]s (an operation and the
//! id of the clerk operation it came from) plus a [`state_machine::StateMachine`] (the store, a
//! table of the last write applied per clerk, and the last applied index):
//!
//! * An RPC handler proposes its operation with `Raft::start`, which gives the log index the
//!   entry will have if it commits, and registers a waiter (a oneshot sender) for that index.
//!   Gets go through the log like writes, so a Get reads the state at a point of the log order.
//! * One applier task reads the apply channel and applies each committed command, in order, to
//!   the state machine, under the server's lock. If a waiter is registered at the index, it gets
//!   the output when the entry is the operation it proposed; if another entry took the index (a
//!   new leader overwrote ours), the waiter is dropped and its handler answers `WrongLeader`.
//! * A handler also gives up, with `WrongLeader`, when its Raft peer is no longer leader of the
//!   term it proposed in (checked every 50 ms), or after 1 s: a leader cut off in a minority
//!   does not know it, and must not hold its clerks. Giving up never loses an operation: if it
//!   commits anyway, the clerk's retry is recognised as a duplicate.
//! * Exactly-once: a clerk numbers its operations and has one outstanding, so a write whose
//!   number is not above the last one applied for its clerk is a duplicate, and is skipped (but
//!   answered "OK"). The table lives in the state machine, so every server has it and it is in
//!   every snapshot.
//! * Snapshots (3B): after each applied entry, when Raft's persisted state has reached 90% of
//!   `max_raft_state`, the applier encodes the state machine (with labgob) and passes it to
//!   `Raft::snapshot`, which discards the log up to the applied index. A server restores the
//!   snapshot from its persister when it starts, and installs the ones Raft delivers (sent by
//!   a leader that discarded the entries this server lacks), unless it already applied past
//!   them.
//! * Locking: one mutex over the state machine and the waiters, never held across an `.await`;
//!   the server calls into Raft under it (`start`, `snapshot`), never the other way round, and
//!   Raft delivers on an unbounded channel, so there is no cycle.
//!
//! # Clerks
//!
//! A [`Clerk`] has a random id and numbers its operations 1, 2, ... It sends an operation to the
//! server that answered last, then to the others in turn, until one answers `OK` (or `NoKey`);
//! a network error counts as a failure. After a full round without success it sleeps 25 ms: no
//! leader is known (an election is probably under way), and asking again at once would only
//! load the servers that are trying to elect one.

mod client;
mod rpc;
mod server;
mod state_machine;
#[cfg(test)]
mod tests;

pub use self::client::Clerk;
pub use self::server::KvServer;
