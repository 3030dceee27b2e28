//! Membership change (lab 2F; paper section 6, thesis chapter 4): which peers' answers count,
//! and how that changes through the log.
//!
//! # The configuration is the latest in the log
//!
//! A configuration entry takes effect on every peer the moment it is appended, committed or
//! not; a peer whose log loses the entry (a new leader overwrites it) falls back to the one
//! before. [`Configs`] keeps the configuration at the snapshot (`base`) and those of the
//! configuration entries after it, so that a cut or a compaction finds the right one without a
//! scan. The snapshot's configuration is persisted with the snapshot's metadata and sent with
//! every InstallSnapshot: a peer restored from a snapshot must know who votes.
//!
//! # One change at a time, and never before an entry of the term commits
//!
//! Single-server changes are safe because any majority of the old configuration and any of the
//! new one share a peer, so two leaders cannot be elected in one term, but only if one change
//! is in flight at a time: the leader refuses a change while the latest configuration entry is
//! uncommitted. And a new leader refuses changes until it has committed an entry of its own term
//! (the 2015 fix to the thesis): until then, an uncommitted change of an earlier leader may
//! still be in some logs, and a second change on top of it could form two disjoint majorities.
//!
//! Joint consensus moves between any two configurations: the leader appends the *joint*
//! configuration (old and new voters, each needing a majority), and once that commits, it
//! appends the new one by itself ([`Core::leave_joint`](super::core::Core)).
//!
//! # Who takes part
//!
//! A peer outside its own configuration never stands for election (a peer that joins waits to
//! learn the configuration that adds it). A leader that removed itself keeps leading, without
//! counting itself, until the entry that removed it commits, then steps down. A removed peer
//! that never learned of its removal times out and stands again and again; PreVote and
//! CheckQuorum (lab 2E) keep it from disrupting the cluster.
//!
//! Sets of peers are bit masks ([`Voters`]): every peer iterates its members on each heartbeat
//! and counts majorities on each reply, and a mask is a copy, neither an allocation nor a
//! borrow of the core.

use super::core::{Core, Role};
use super::log::Log;
use super::replication::Progress;
use crate::{Command, ConfigChange, ConfigError, Configuration};

/// The most peers a universe may have (the bits of a [`Voters`] mask).
pub const MAX_PEERS: usize = 64;

/// What `Raft::with_membership` adds to a peer: where it starts, and how to tell and make
/// configuration entries in the service's command type.
pub struct Membership<C> {
    /// The configuration before the log's first entry.
    pub initial: Configuration,
    /// The configuration a command holds, if it is a configuration entry.
    pub as_config: fn(&C) -> Option<&Configuration>,
    /// The entry holding a configuration.
    pub from_config: fn(Configuration) -> C,
}

/// A configuration as bit masks: bit `p` is peer `p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Voters {
    incoming: u64,
    /// Joint consensus only (0 otherwise): the voters being left.
    outgoing: u64,
}

fn mask(peers: &std::collections::BTreeSet<usize>) -> u64 {
    peers.iter().fold(0, |m, &p| {
        assert!(
            p < MAX_PEERS,
            "raft: peer {p} is beyond the {MAX_PEERS} a universe may have"
        );
        m | 1 << p
    })
}

impl Voters {
    pub fn of(config: &Configuration) -> Voters {
        Voters {
            incoming: mask(&config.voters),
            outgoing: config.outgoing.as_ref().map_or(0, mask),
        }
    }

    /// Whether `peer` votes, in either half.
    pub fn contains(self, peer: usize) -> bool {
        (self.incoming | self.outgoing) >> peer & 1 == 1
    }

    /// Every voter but `me`, in increasing order.
    pub fn others(self, me: usize) -> Peers {
        Peers((self.incoming | self.outgoing) & !(1 << me))
    }

    /// Whether `yes` holds for a majority (of each half, when joint).
    pub fn has_quorum(self, yes: impl Fn(usize) -> bool) -> bool {
        self.quorum_value(yes)
    }

    /// The greatest value that a majority (of each half, when joint) has at least: the commit
    /// index from the peers' matched indexes. The default value if a half has no voters.
    pub fn quorum_value<T: Ord + Copy + Default>(self, value: impl Fn(usize) -> T) -> T {
        let half = |voters: u64| {
            let mut values = [T::default(); MAX_PEERS];
            let mut n = 0;
            for p in Peers(voters) {
                values[n] = value(p);
                n += 1;
            }
            if n == 0 {
                return T::default();
            }
            let values = &mut values[..n];
            values.sort_unstable_by(|a, b| b.cmp(a));
            values[n / 2]
        };
        let incoming = half(self.incoming);
        if self.outgoing == 0 {
            return incoming;
        }
        incoming.min(half(self.outgoing))
    }
}

/// The peers of a mask, in increasing order.
#[derive(Clone, Copy, Debug)]
pub struct Peers(u64);

impl Iterator for Peers {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let p = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(p)
    }
}

/// The configurations of a peer's log: the one at the snapshot, and those of the configuration
/// entries after it, in order.
pub struct Configs<C> {
    /// `None` for a peer made without membership: its configuration is every peer, always.
    membership: Option<Membership<C>>,
    /// The configuration as of the snapshot (the initial one before any).
    base: Configuration,
    /// The configuration entries after the snapshot, by index.
    entries: Vec<(u64, Configuration)>,
    /// The latest configuration's masks.
    voters: Voters,
}

impl<C: Command> Configs<C> {
    /// Every one of `peers` votes, for good.
    pub fn fixed(peers: usize) -> Configs<C> {
        Self::new(None, Configuration::of(0..peers))
    }

    /// The configurations of a peer made with `membership`, before its log is read.
    pub fn changing(membership: Membership<C>) -> Configs<C> {
        let base = membership.initial.clone();
        Self::new(Some(membership), base)
    }

    fn new(membership: Option<Membership<C>>, base: Configuration) -> Configs<C> {
        Configs {
            voters: Voters::of(&base),
            membership,
            base,
            entries: Vec::new(),
        }
    }

    /// Whether configurations change (the peer was made with membership).
    pub fn changes(&self) -> bool {
        self.membership.is_some()
    }

    /// The configuration in force: the latest in the log.
    pub fn current(&self) -> &Configuration {
        self.entries.last().map_or(&self.base, |(_, c)| c)
    }

    /// The index of the latest configuration entry (0 if the configuration is the snapshot's
    /// or the initial one: committed).
    pub fn current_index(&self) -> u64 {
        self.entries.last().map_or(0, |&(i, _)| i)
    }

    /// The masks of [`current`](Self::current).
    pub fn voters(&self) -> Voters {
        self.voters
    }

    /// The configuration as of the snapshot (persisted and sent with it).
    pub fn base(&self) -> &Configuration {
        &self.base
    }

    /// The configuration entry holding `config`.
    pub fn entry_for(&self, config: Configuration) -> C {
        let membership = self.membership.as_ref().expect("configurations change");
        (membership.from_config)(config)
    }

    /// Whether `command` is a configuration entry.
    pub fn is_config(&self, command: &C) -> bool {
        self.membership
            .as_ref()
            .is_some_and(|m| (m.as_config)(command).is_some())
    }

    /// Entry `index`, holding `command`, joined the log (after every entry before it).
    fn appended(&mut self, index: u64, command: &C) {
        let Some(membership) = &self.membership else {
            return;
        };
        if let Some(config) = (membership.as_config)(command) {
            self.entries.push((index, config.clone()));
            self.voters = Voters::of(config);
        }
    }

    /// The log holds new entries from `from` on (appended, or in place of cut ones): the
    /// configurations of cut entries no longer hold, those of the new ones take effect.
    pub fn log_changed(&mut self, log: &Log<C>, from: u64) {
        if self.membership.is_none() {
            return;
        }
        self.truncated(from - 1);
        for index in from..=log.last_index() {
            self.appended(index, &log.entry(index).command);
        }
    }

    /// The log was cut after `index`: configurations from later entries no longer hold.
    pub fn truncated(&mut self, index: u64) {
        if self.entries.last().is_some_and(|&(i, _)| i > index) {
            self.entries.retain(|&(i, _)| i <= index);
            self.voters = Voters::of(self.current());
        }
    }

    /// A snapshot now covers everything through `index`; `base` is its configuration if it
    /// came from the leader, else the configuration as of `index` in this log.
    pub fn compacted(&mut self, index: u64, base: Option<Configuration>) {
        let kept = self.entries.partition_point(|&(i, _)| i <= index);
        let at_index = match base {
            Some(base) => base,
            None => match kept {
                0 => self.base.clone(),
                k => self.entries[k - 1].1.clone(),
            },
        };
        self.base = at_index;
        self.entries.drain(..kept);
        self.voters = Voters::of(self.current());
    }
}

impl<C: Command> Core<C> {
    /// The configuration this peer goes by: the latest in its log.
    pub fn configuration(&self) -> &Configuration {
        self.configs.current()
    }

    /// The service asks for a configuration change: appended (its index and term) if this peer
    /// leads, has committed an entry of its term, and no earlier change is still in progress.
    pub fn change_config(&mut self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        if self.role != Role::Leader {
            return Err(ConfigError::NotLeader);
        }
        if !self.configs.changes() {
            return Err(ConfigError::Invalid);
        }
        if self.log.term(self.commit) != Some(self.term) {
            return Err(ConfigError::NoEntryOfTerm);
        }
        let current = self.configs.current();
        if self.configs.current_index() > self.commit || current.is_joint() {
            return Err(ConfigError::ChangeInProgress);
        }
        let universe = self.cfg.peers;
        let mut voters = current.voters.clone();
        let next = match change {
            ConfigChange::AddVoter(p) => {
                if p >= universe || !voters.insert(p) {
                    return Err(ConfigError::Invalid);
                }
                Configuration::of(voters)
            }
            ConfigChange::RemoveVoter(p) => {
                if !voters.remove(&p) || voters.is_empty() {
                    return Err(ConfigError::Invalid);
                }
                Configuration::of(voters)
            }
            ConfigChange::Joint(new) => {
                if new.is_empty() || new.iter().any(|&p| p >= universe) {
                    return Err(ConfigError::Invalid);
                }
                Configuration {
                    voters: new,
                    outgoing: Some(voters),
                }
            }
        };
        tracing::info!(kind = "config", "appends configuration {next:?}");
        self.start_replicating_to_new_members(&next);
        let entry = self.configs.entry_for(next);
        Ok(self.append_own(entry))
    }

    /// Peers that `next` adds start with fresh progress: whatever this leader knew of them is
    /// from before they were members, if anything.
    fn start_replicating_to_new_members(&mut self, next: &Configuration) {
        let before = self.configs.voters();
        let next_index = self.log.last_index() + 1;
        let now = self.now;
        for p in Voters::of(next).others(self.me()) {
            if !before.contains(p) {
                self.progress[p] = Progress::new(next_index, now);
            }
        }
    }

    /// The leader's commit index moved: if that committed the latest configuration, a joint
    /// one is left (the new voters alone, appended by the leader itself), and a leader that
    /// the configuration leaves out steps down.
    pub(super) fn config_committed(&mut self) {
        if self.role != Role::Leader || self.configs.current_index() > self.commit {
            return;
        }
        let current = self.configs.current();
        if current.is_joint() {
            let new = Configuration::of(current.voters.iter().copied());
            tracing::info!(
                kind = "config",
                "joint configuration committed: appends {new:?}"
            );
            let entry = self.configs.entry_for(new);
            self.append_own(entry);
        } else if !current.contains(self.me()) {
            tracing::info!(
                kind = "leader",
                "steps down in term {}: no longer a voter",
                self.term
            );
            // Tell the voters the commit index first: otherwise they learn that the change
            // committed only from the next leader.
            for peer in self.others() {
                self.send_append(peer, false);
            }
            self.become_follower();
        }
    }
}
