//! The key/value model of the kvraft and shardkv labs.
//!
//! The service maps string keys to string values; `Get` of a missing key returns "", `Put`
//! replaces the value, `Append` appends (to "" for a missing key, i.e. like a `Put`). The model
//! partitions a history by key (keys in sorted order) and keeps one string per partition as its
//! state, which is what makes checking large histories cheap.
//!
//! A `Get` whose outcome is unknown may have read anything; a `Put` or `Append` with an unknown
//! outcome may or may not have happened (the checker can place it last, where it has no visible
//! effect). The output of a `Put` or `Append` is ignored.

use super::{Model, Operation};
use std::collections::BTreeMap;

/// A key/value call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// `Get(key)`: outputs the value read.
    Get(String),
    /// `Put(key, value)`.
    Put(String, String),
    /// `Append(key, value)`.
    Append(String, String),
}

impl KvInput {
    /// The key the call is about.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get(k) | KvInput::Put(k, _) | KvInput::Append(k, _) => k,
        }
    }
}

/// A key/value operation; the output is the value read (ignored for `Put` and `Append`).
pub type KvOperation = Operation<KvInput, String>;

/// The key/value model (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    /// The value of the partition's key.
    type State = String;
    type Input = KvInput;
    /// The value a `Get` read.
    type Output = String;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: Option<&String>) -> Option<String> {
        match input {
            KvInput::Get(_) => match output {
                Some(read) if read != state => None,
                _ => Some(state.clone()),
            },
            KvInput::Put(_, value) => Some(value.clone()),
            KvInput::Append(_, value) => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                Some(next)
            }
        }
    }

    fn partition(&self, history: Vec<KvOperation>) -> Vec<Vec<KvOperation>> {
        let mut by_key: BTreeMap<String, Vec<KvOperation>> = BTreeMap::new();
        for op in history {
            by_key
                .entry(op.input.key().to_owned())
                .or_default()
                .push(op);
        }
        by_key.into_values().collect()
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&String>) -> String {
        match input {
            KvInput::Get(k) => match output {
                Some(v) => format!("get('{k}') -> '{v}'"),
                None => format!("get('{k}') -> ?"),
            },
            KvInput::Put(k, v) => format!("put('{k}', '{v}')"),
            KvInput::Append(k, v) => format!("append('{k}', '{v}')"),
        }
    }

    fn describe_state(&self, state: &String) -> String {
        format!("'{state}'")
    }
}
