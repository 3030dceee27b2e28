//! The replicated state machine: the store, the table that makes writes exactly-once, and how
//! far into the log both are. It is a plain value: applying the same log to it on every server
//! gives the same state, and its encoding is the snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rpc::{Command, Op};

/// The store, as of log index `applied`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// Key to value. A missing key and an empty value differ only for Get (`ErrNoKey`).
    store: BTreeMap<String, String>,
    /// Client id to the sequence number of its last applied Put or Append.
    ///
    /// A clerk numbers its operations 1, 2, ... and sends the next only after the previous one
    /// returned, so a write numbered at or below this entry was applied already: a retry whose
    /// first try committed, perhaps through a deposed leader. Only the number is needed, not
    /// the reply (a write's reply is just "OK"), so the table costs 16 bytes per client and
    /// survives in snapshots. Gets are not recorded: executing a duplicate Get again reads the
    /// value at its own point in the log, which is still inside the call, so still linearizable.
    sessions: BTreeMap<u64, u64>,
    /// The last log index reflected here (0: none).
    applied: u64,
}

/// What applying a command produced, for the RPC handler waiting for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A Put or Append took effect (now or, for a duplicate, earlier).
    Written,
    /// A Get's result: `None` for a missing key.
    Value(Option<String>),
}

impl StateMachine {
    /// Decodes a snapshot; an empty one (none taken yet) is the empty state.
    pub fn restore(snapshot: &[u8]) -> StateMachine {
        if snapshot.is_empty() {
            return StateMachine::default();
        }
        labgob::decode(snapshot).expect("kvraft: undecodable snapshot")
    }

    /// Encodes the state as a snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        labgob::encode(self).expect("kvraft: cannot encode the state machine")
    }

    /// The last log index applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Applies the command at log `index`, the next one after [`StateMachine::applied`].
    pub fn apply(&mut self, index: u64, command: &Command) -> Output {
        debug_assert_eq!(index, self.applied + 1, "commands applied out of order");
        self.applied = index;
        let (key, value, append) = match &command.op {
            Op::Get { key } => return Output::Value(self.store.get(key).cloned()),
            Op::Put { key, value } => (key, value, false),
            Op::Append { key, value } => (key, value, true),
        };
        let last = self.sessions.entry(command.id.client).or_insert(0);
        if command.id.seq <= *last {
            return Output::Written; // a duplicate: applied once already
        }
        *last = command.id.seq;
        let slot = self.store.entry(key.clone()).or_default();
        if append {
            slot.push_str(value);
        } else {
            slot.clone_from(value);
        }
        Output::Written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::rpc::OpId;

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
        assert_eq!(sm.apply(1, &cmd(7, 1, get("k"))), Output::Value(None));
        assert_eq!(sm.apply(2, &cmd(7, 2, append("k", "a"))), Output::Written);
        // The same write again (a retry that committed twice) changes nothing.
        assert_eq!(sm.apply(3, &cmd(7, 2, append("k", "a"))), Output::Written);
        assert_eq!(sm.apply(4, &cmd(8, 1, append("k", "b"))), Output::Written);
        let put = Op::Put {
            key: "j".into(),
            value: "x".into(),
        };
        assert_eq!(sm.apply(5, &cmd(8, 2, put)), Output::Written);
        assert_eq!(
            sm.apply(6, &cmd(7, 3, get("k"))),
            Output::Value(Some("ab".into()))
        );

        let restored = StateMachine::restore(&sm.snapshot());
        assert_eq!(restored, sm);
        assert_eq!(restored.applied(), 6);
        let mut restored = restored;
        assert_eq!(
            restored.apply(7, &cmd(8, 2, append("j", "y"))),
            Output::Written
        );
        assert_eq!(
            restored.apply(8, &cmd(8, 3, get("j"))),
            Output::Value(Some("x".into()))
        );
        assert_eq!(StateMachine::restore(&[]), StateMachine::default());
    }
}
