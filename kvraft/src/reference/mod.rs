//! Reference key/value service (Lab 3A/3B, and 3C's reads without the log).
//!
//! # Servers
//!
//! A [`KvServer`] is [`rsm::Rsm`] (a Raft peer, an applier, and RPC handlers that wait for their
//! operations to be applied) driving [`state_machine::StateMachine`]: the store and the
//! duplicate table.
//!
//! * A handler submits its operation and waits until it is applied at the index Raft gave it.
//!   In 3A and 3B Gets go through the log like writes, so a Get reads the state at a point of
//!   the log order.
//!   The handler answers `WrongLeader` if the server is not the leader, another entry took the
//!   index, leadership changed, or 1 s passed without a commit (a leader cut off in a minority
//!   does not know it); the operation may still commit, and the clerk's retry is then
//!   recognised as a duplicate.
//! * 3C ([`crate::Reads`]): with ReadIndex or leases, a Get is no log entry:
//!   [`rsm::Rsm::read_linearizable`] gets the index to read at from Raft (after a heartbeat
//!   round, or at once under a lease), waits until the machine has applied it, and reads. A new
//!   leader refuses until an entry of its term commits, and proposes a no-op (once per term) so
//!   that one does.
//! * Exactly-once: a clerk numbers its operations and has one outstanding, so a write whose
//!   number is not above the last one applied for its clerk is a duplicate, and is skipped (but
//!   answered "OK"). The table ([`rsm::Sessions`]) is part of the state machine, so every server
//!   has it and it is in every snapshot.
//! * Snapshots (3B): when Raft's persisted state reaches 90% of `max_raft_state`, the applier
//!   snapshots the state machine; a restarted server restores it; a lagging follower installs
//!   the leader's.
//! * Membership change (raft's lab 2F): [`KvServer::with_membership`] makes a server whose
//!   Raft configuration changes through the log; [`KvServer::change_config`] asks the leader
//!   for a change. The log's commands carry the configuration entries (`Op::Config`), which
//!   the state machine applies as no-ops: the store and the sessions do not depend on who
//!   replicates them. A server that joins later is made with the same initial configuration
//!   (it is not in it), and catches up from the leader, by InstallSnapshot if the log it needs
//!   is compacted. Clerks need nothing new: they have ends to every server of the universe and
//!   skip those that refuse or do not answer.
//!
//! # Clerks
//!
//! A [`Clerk`] has a random id and numbers its operations 1, 2, ... It sends an operation to the
//! server that answered last, then to the others in turn, until one answers `OK` (or `NoKey`),
//! pausing 25 ms after each full round without success ([`rsm::Servers`]).

mod client;
#[cfg(test)]
mod membership_tests;
mod rpc;
mod server;
mod state_machine;
#[cfg(test)]
mod tests;

pub use self::client::Clerk;
pub use self::server::KvServer;
