//! The replicated state machine: the store and the table that makes writes exactly-once. It is
//! a plain value: applying the same log to it on every server gives the same state, and its
//! encoding is the snapshot.

use std::collections::BTreeMap;

use rsm::Sessions;
use serde::{Deserialize, Serialize};

use super::rpc::{Command, Op};

/// The store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// Key to value. A missing key and an empty value differ only for Get (`ErrNoKey`).
    store: BTreeMap<String, String>,
    /// The last Put or Append applied per client. Gets are not recorded: executing a
    /// duplicate Get again reads the value at its own point in the log, which is still inside
    /// the call, so still linearizable.
    sessions: Sessions,
}

/// What applying a command produced, for the RPC handler waiting for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A Put or Append took effect (now or, for a duplicate, earlier).
    Written,
    /// A Get's result: `None` for a missing key.
    Value(Option<String>),
}

impl rsm::StateMachine for StateMachine {
    type Command = Command;
    type Output = Output;

    fn apply(&mut self, command: &Command) -> Output {
        let (key, value, append) = match &command.op {
            Op::Get { key } => return Output::Value(self.store.get(key).cloned()),
            Op::Put { key, value } => (key, value, false),
            Op::Append { key, value } => (key, value, true),
            // Neither changes the store, nor the sessions: they are no client's operations.
            Op::Noop | Op::Config(_) => return Output::Written,
        };
        if !self.sessions.first_time(command.id) {
            return Output::Written; // a duplicate: applied once already
        }
        let slot = self.store.entry(key.clone()).or_default();
        if append {
            slot.push_str(value);
        } else {
            slot.clone_from(value);
        }
        Output::Written
    }

    fn snapshot(&self) -> Vec<u8> {
        labgob::encode(self).expect("kvraft: cannot encode the state machine")
    }

    fn restore(snapshot: &[u8]) -> Self {
        labgob::decode(snapshot).expect("kvraft: undecodable snapshot")
    }

    fn no_op() -> Option<Command> {
        let id = rsm::OpId { client: 0, seq: 0 };
        Some(Command { id, op: Op::Noop })
    }
}

impl StateMachine {
    /// The value of `key`, for a read outside the log (lab 3C).
    pub fn get(&self, key: &str) -> Option<String> {
        self.store.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsm::{OpId, StateMachine as _};

    fn cmd(client: u64, seq: u64, op: Op) -> Command {
        Command {
            id: OpId { client, seq },
            op,
        }
    }

    fn append(key: &str, value: &str) -> Op {
        Op::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    fn get(key: &str) -> Op {
        Op::Get { key: key.into() }
    }

    #[test]
    fn writes_apply_once_and_survive_a_snapshot() {
        let mut sm = StateMachine::default();
        assert_eq!(sm.apply(&cmd(7, 1, get("k"))), Output::Value(None));
        assert_eq!(sm.apply(&cmd(7, 2, append("k", "a"))), Output::Written);
        // The same write again (a retry that committed twice) changes nothing.
        assert_eq!(sm.apply(&cmd(7, 2, append("k", "a"))), Output::Written);
        assert_eq!(sm.apply(&cmd(8, 1, append("k", "b"))), Output::Written);
        let put = Op::Put {
            key: "j".into(),
            value: "x".into(),
        };
        assert_eq!(sm.apply(&cmd(8, 2, put)), Output::Written);
        assert_eq!(
            sm.apply(&cmd(7, 3, get("k"))),
            Output::Value(Some("ab".into()))
        );

        let restored = StateMachine::restore(&sm.snapshot());
        assert_eq!(restored, sm);
        let mut restored = restored;
        assert_eq!(
            restored.apply(&cmd(8, 2, append("j", "y"))),
            Output::Written
        );
        assert_eq!(
            restored.apply(&cmd(8, 3, get("j"))),
            Output::Value(Some("x".into()))
        );
    }

    /// A configuration entry (membership change) is no client's operation: the store and the
    /// sessions stay exactly as they were.
    #[test]
    fn configuration_entries_change_nothing() {
        use raft::{ConfigCommand, Configuration};
        let mut sm = StateMachine::default();
        assert_eq!(sm.apply(&cmd(7, 1, append("k", "a"))), Output::Written);
        let before = sm.clone();
        let entry = Command::from_config(Configuration::of([0, 1, 3]));
        assert_eq!(entry.as_config(), Some(&Configuration::of([0, 1, 3])));
        assert_eq!(sm.apply(&entry), Output::Written);
        assert_eq!(sm, before);
        assert_eq!(sm.snapshot(), before.snapshot());
    }
}
