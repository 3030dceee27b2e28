//! Lab 2F (beyond MIT): the types of cluster membership change (Raft paper section 6; Ongaro's
//! thesis chapter 4; etcd's `ConfChange` and `ConfChangeV2`).
//!
//! A *configuration* says which peers vote: whose answers count towards elections, commitment
//! and CheckQuorum. Peers are numbered by their index in the ends every peer is made with (the
//! *universe*: every peer that may ever join); a peer outside the configuration takes no part
//! in decisions, and the leader sends it nothing.
//!
//! A configuration changes through the log, like everything Raft agrees on: the service asks
//! the leader for a change ([`ConfigChange`], through `Raft::change_config`), the leader appends
//! an entry holding the whole new configuration, and every peer uses the latest configuration in
//! its log from the moment the entry is appended, committed or not. The entry is a command of the
//! service's own type ([`ConfigCommand`]), so the service receives it on the apply channel, in
//! order, like any other: that is how it learns a change has committed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Command;

/// Who votes: the peers of `voters`, and during joint consensus also those of `outgoing`; a
/// decision then needs a majority of each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    /// The voters (the new configuration, during joint consensus).
    pub voters: BTreeSet<usize>,
    /// Joint consensus only: the voters of the configuration being left.
    pub outgoing: Option<BTreeSet<usize>>,
}

impl Configuration {
    /// A simple (not joint) configuration of `voters`.
    pub fn of(voters: impl IntoIterator<Item = usize>) -> Configuration {
        Configuration {
            voters: voters.into_iter().collect(),
            outgoing: None,
        }
    }

    /// Whether this is a joint configuration (old and new voters both decide).
    pub fn is_joint(&self) -> bool {
        self.outgoing.is_some()
    }

    /// Whether `peer` votes in this configuration (in either half of a joint one).
    pub fn contains(&self, peer: usize) -> bool {
        self.voters.contains(&peer) || self.outgoing.as_ref().is_some_and(|o| o.contains(&peer))
    }

    /// Every peer that votes, in either half, in increasing order.
    pub fn members(&self) -> BTreeSet<usize> {
        let mut members = self.voters.clone();
        members.extend(self.outgoing.iter().flatten());
        members
    }
}

/// A change the service asks the leader for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigChange {
    /// Single-server change (thesis section 4.1): `peer` becomes a voter.
    AddVoter(usize),
    /// Single-server change: `peer` stops being a voter. A leader that removes itself leads
    /// until the change commits, then steps down.
    RemoveVoter(usize),
    /// Joint consensus (paper section 6): move to exactly these voters, through the joint
    /// configuration of the old voters and these; once the joint entry commits, the leader
    /// appends the new configuration by itself.
    Joint(BTreeSet<usize>),
}

/// Why the leader refused a [`ConfigChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// This peer does not lead: try another.
    NotLeader,
    /// This leader has not committed an entry of its term yet. Until it has, it cannot know
    /// that no earlier leader's change is still in progress (the single-server bug of 2015,
    /// thesis errata): commit something first, then ask again.
    NoEntryOfTerm,
    /// An earlier change is not committed yet (or a joint change is not complete): one change
    /// at a time. Ask again later.
    ChangeInProgress,
    /// The change makes no sense for the current configuration: adding a voter, removing a
    /// peer that does not vote, the last voter, a peer outside the universe, no voters.
    Invalid,
}

/// A command type that can carry configuration entries: the service's commands plus one
/// variant for a configuration. Raft makes the entries ([`from_config`](Self::from_config)) and
/// recognises them in its log ([`as_config`](Self::as_config)).
pub trait ConfigCommand: Command {
    /// The configuration entry for `config`.
    fn from_config(config: Configuration) -> Self;
    /// The configuration this command holds, if it is a configuration entry.
    fn as_config(&self) -> Option<&Configuration>;
}
