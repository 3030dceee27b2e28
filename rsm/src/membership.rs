//! Membership change (raft's lab 2F) under a service: a server whose Raft peer's configuration
//! changes through the log, and the calls that change it and watch it change.
//!
//! Configuration entries are commands of the service's own type (`raft::ConfigCommand`): Raft
//! makes them and delivers them, committed, on the apply channel like any other. The applier
//! hands them to [`StateMachine::apply`] like any other too, so the machine sees every index
//! in order; a service's machine applies them as no-ops (the store does not depend on who
//! replicates it). The applier also notes the latest one it applied
//! ([`Rsm::applied_configuration`]): that is how a caller learns a change has committed, since
//! Raft's own [`Rsm::configuration`] is the latest *appended*, which may still be cut.

use labrpc::ClientEnd;
use raft::api::Raft;
use raft::{ConfigChange, ConfigCommand, ConfigError, Configuration, Options, Persister};

use crate::server::{Rsm, StateMachine};

impl<S: StateMachine> Rsm<S>
where
    S::Command: ConfigCommand,
{
    /// [`Rsm::with_options`] for a server whose Raft peer is made by `Raft::with_membership`:
    /// `servers` is the universe (every server that may ever take part), and `configuration`
    /// the one before the log's first entry, the same on every server (a server that joins
    /// later is simply not in it, and waits to be added).
    pub fn with_membership(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        initial: S,
        options: Options,
        configuration: Configuration,
    ) -> Rsm<S> {
        Self::boot(
            persister,
            max_raft_state,
            initial,
            Some(<S::Command as ConfigCommand>::as_config),
            |persister, apply_tx| {
                Raft::with_membership(servers, me, persister, apply_tx, options, configuration)
            },
        )
    }

    /// Asks the Raft peer, if it leads, to append the configuration `change` makes: the index
    /// and term of that entry, or why not (`raft::ConfigError`). Appended is not committed:
    /// watch [`Rsm::applied_configuration`] for it.
    ///
    /// A leader refuses with `NoEntryOfTerm` until an entry of its term has committed; this
    /// server then proposes [`StateMachine::no_op`] (once per term, as refused reads do), so
    /// that a retry after a little while succeeds even when no client writes.
    pub fn change_config(&self, change: ConfigChange) -> Result<(u64, u64), ConfigError> {
        if self.is_dead() {
            return Err(ConfigError::NotLeader);
        }
        let result = self.inner.rf.change_config(change);
        if result == Err(ConfigError::NoEntryOfTerm) {
            self.commit_entry_of_term();
        }
        result
    }
}

impl<S: StateMachine> Rsm<S> {
    /// The configuration the Raft peer goes by: the latest in its log, committed or not (every
    /// server, for a server not made by [`Rsm::with_membership`]).
    pub fn configuration(&self) -> Configuration {
        self.inner.rf.configuration()
    }

    /// The latest configuration entry this server has applied, and its index: committed, so
    /// in force from then on unless a later entry changed it. `None` if it has applied none
    /// since it started or since the machine was last replaced by a snapshot (which may cover
    /// configuration entries), and always for a server made without membership.
    pub fn applied_configuration(&self) -> Option<(u64, Configuration)> {
        self.inner.state.lock().applied_config.clone()
    }
}
