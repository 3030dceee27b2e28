//! The three RPCs of Raft (Figure 2, and Figure 13 without chunking), as they go on the wire.
//!
//! Replies carry only what the receiver knows. What the sender needs to interpret a reply (which
//! entries it covered, which snapshot) it takes from its own copy of the request, which the
//! driver hands back together with the reply: that is what makes late, duplicated and reordered
//! replies safe to process (see `core.rs`).
//!
//! A reply with `term: 0` is the neutral answer of a killed peer; no live peer ever sends one
//! (terms start at 1 for the first election), and the core ignores replies whose term is not
//! the one it asked in.

use serde::{Deserialize, Serialize};

use super::log::Entry;
use crate::Configuration;

/// RequestVote: a candidate asks for a vote (Figure 2, section 5.2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// The candidate's term.
    pub term: u64,
    /// The candidate's id.
    pub candidate: usize,
    /// Index and term of the candidate's last entry, for the election restriction (5.4.1).
    pub last_log_index: u64,
    /// See `last_log_index`.
    pub last_log_term: u64,
}

/// The answer to [`RequestVoteArgs`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// The voter's term, for the candidate to update itself.
    pub term: u64,
    /// Whether the candidate received the vote.
    pub vote_granted: bool,
}

/// PreVote (lab 2E): would the receiver vote for the sender in `term`, the sender's term + 1?
/// The question of a RequestVote, asked without changing any term or vote. Its own RPC, so that
/// it is told apart on the network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PreVoteArgs(pub RequestVoteArgs);

/// The answer to [`PreVoteArgs`]: the receiver's term, and whether it would vote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PreVoteReply(pub RequestVoteReply);

/// AppendEntries: replicate entries and/or assert leadership (a heartbeat has no entries).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppendEntriesArgs<C> {
    /// The leader's term.
    pub term: u64,
    /// The leader's id.
    pub leader: usize,
    /// Index of the entry just before `entries`.
    pub prev_log_index: u64,
    /// Its term: the consistency check.
    pub prev_log_term: u64,
    /// Entries to store, starting at `prev_log_index + 1` (empty for a heartbeat).
    pub entries: Vec<Entry<C>>,
    /// The leader's commit index.
    pub leader_commit: u64,
}

/// The answer to [`AppendEntriesArgs`].
///
/// On a rejection for a failed consistency check, `conflict_term`/`conflict_index` let the
/// leader back up over a whole term per round trip instead of one entry (end of section 5.3):
/// * the follower's log is too short: `conflict_term` is `None` and `conflict_index` is the
///   follower's last index + 1;
/// * the follower has a different term at `prev_log_index`: `conflict_term` is that term and
///   `conflict_index` the first index the follower holds with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's term.
    pub term: u64,
    /// The follower's log matched at `prev_log_index` and now holds all of `entries`.
    pub success: bool,
    /// See the type's docs; meaningful only on a rejection.
    pub conflict_index: u64,
    /// See the type's docs.
    pub conflict_term: Option<u64>,
}

/// InstallSnapshot: replace a lagging follower's log prefix by the leader's snapshot, sent
/// whole in one RPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    /// The leader's term.
    pub term: u64,
    /// The leader's id.
    pub leader: usize,
    /// The snapshot replaces all entries up to and including this index.
    pub last_included_index: u64,
    /// The term of that entry.
    pub last_included_term: u64,
    /// The service's snapshot.
    pub data: Vec<u8>,
    /// Lab 2F: the configuration as of `last_included_index` (`None` without membership
    /// change: every peer votes).
    pub config: Option<Box<Configuration>>,
}

/// The answer to [`InstallSnapshotArgs`]: a reply in the leader's own term means the follower
/// now holds everything up to `last_included_index` (installed, or had it already).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    /// The follower's term.
    pub term: u64,
}

impl labrpc::Rpc for RequestVoteArgs {
    type Reply = RequestVoteReply;
    const NAME: &'static str = "Raft.RequestVote";
}

impl labrpc::Rpc for PreVoteArgs {
    type Reply = PreVoteReply;
    const NAME: &'static str = "Raft.PreVote";
}

impl<C: crate::Command> labrpc::Rpc for AppendEntriesArgs<C> {
    type Reply = AppendEntriesReply;
    const NAME: &'static str = "Raft.AppendEntries";
}

impl labrpc::Rpc for InstallSnapshotArgs {
    type Reply = InstallSnapshotReply;
    const NAME: &'static str = "Raft.InstallSnapshot";
}
