//! A replicated state machine on Raft: the server half that every service built on Raft needs.
//!
//! The reference solutions of kvraft, shardmaster and shardkv are each a state machine (a
//! key/value store, a list of configurations, a sharded store) replicated by this one server
//! core. It is instructors' code: students write the same machinery themselves in Lab 3 (MIT's
//! 2024 labs hand it out as `rsm`), and the references use only Raft's public API, so they run
//! on a student's Raft too.
//!
//! Client side: [`OpId`]s that number a clerk's operations, the [`Sessions`] table
//! that makes them exactly-once inside a state machine, and [`Servers`], the retry loop over a
//! service's servers that remembers the leader.
//!
//! Server side: a service implements [`StateMachine`] (apply a command, snapshot, restore) and gets from
//! [`Rsm`]:
//!
//! * [`Rsm::submit`]: propose a command and wait until it is applied, returning its output; or
//!   [`Rejected`] if this peer is not the leader, another entry took the command's index (a new
//!   leader overwrote it), leadership changed while waiting, or it did not commit within
//!   [`COMMIT_WAIT`] (a leader cut off in a minority does not know it lost). A rejected command
//!   may still commit later, so commands must be safe to apply twice: services number their
//!   clients' operations and skip duplicates inside [`StateMachine::apply`].
//! * [`Rsm::propose`]: put a command into the log without waiting (for a service's own
//!   commands, such as shardkv's configuration changes).
//! * [`Rsm::read`]: look at the state machine, for decisions that will be proposed and checked
//!   again when applied.
//! * [`Rsm::read_linearizable`] (lab 3C): a read that is linearizable without going through
//!   the log, by ReadIndex or under a lease (see `raft`'s `read_index`).
//! * Snapshots: once Raft's persisted state reaches 90% of `max_raft_state`, the applier hands
//!   Raft a snapshot of the machine; a restarted server restores the last one; snapshots Raft
//!   delivers (from a leader, to a lagging follower) replace the machine.
//! * Membership change (raft's lab 2F): [`Rsm::with_membership`] makes a server whose Raft
//!   peer's configuration changes through the log, for a machine whose command type can carry
//!   configuration entries (`raft::ConfigCommand`); [`Rsm::change_config`] asks the leader for
//!   a change, [`Rsm::configuration`] is the one the peer goes by (the latest appended), and
//!   [`Rsm::applied_configuration`] the latest this server applied (committed). The machine
//!   applies configuration entries like any command, and should change nothing for them.
//!   The other constructors make a peer whose configuration is every server, for good, and
//!   behave exactly as before membership existed.
//!
//! # How it works
//!
//! One applier task reads Raft's apply channel and applies each committed command under one
//! lock. A submitted command registers a waiter (a oneshot sender) at the index `Raft::start`
//! gave it; the applier answers the waiter when it applies that index, if the entry there is
//! the command that was proposed, and drops it otherwise, which rejects the submission. The
//! lock is never held across an `.await`, and Raft is called under it (`start`, `snapshot`)
//! but never calls back: it delivers on an unbounded channel.

mod client;
mod membership;
mod reads;
mod server;

pub use client::{OpId, OpIds, Servers, Sessions};
pub use server::{Rejected, Rsm, StateMachine, COMMIT_WAIT};
