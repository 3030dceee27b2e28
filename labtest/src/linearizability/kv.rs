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
//!
//! [`KvModel`] takes the values read as `String`s; [`KvRefModel`] is the same model for
//! histories that borrow them (`&str`), e.g. from a [`Reads`](super::Reads) store, which holds
//! a large history's reads in a fraction of the memory.

use super::{Model, Operation};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::rc::Rc;

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
        next_value(state, input, output.map(String::as_str))
            .map(|next| next.unwrap_or_else(|| state.clone()))
    }

    fn partition(&self, history: Vec<KvOperation>) -> Vec<Vec<KvOperation>> {
        by_key(history)
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&String>) -> String {
        describe_operation(input, output.map(String::as_str))
    }

    fn describe_state(&self, state: &String) -> String {
        describe_state(state)
    }
}

/// A key/value operation whose output, the value read, is borrowed.
pub type KvRefOperation<'a> = Operation<KvInput, &'a str>;

/// [`KvModel`] for histories whose values read are borrowed ([`KvRefOperation`]). Its states
/// are shared: a `Get` leaves the value as it was, without a copy of it.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvRefModel<'a>(PhantomData<&'a str>);

impl<'a> Model for KvRefModel<'a> {
    /// The value of the partition's key.
    type State = Rc<String>;
    type Input = KvInput;
    /// The value a `Get` read.
    type Output = &'a str;

    fn init(&self) -> Rc<String> {
        Rc::default()
    }

    fn step(
        &self,
        state: &Rc<String>,
        input: &KvInput,
        output: Option<&&'a str>,
    ) -> Option<Rc<String>> {
        next_value(state, input, output.copied())
            .map(|next| next.map_or_else(|| state.clone(), Rc::new))
    }

    fn partition(&self, history: Vec<KvRefOperation<'a>>) -> Vec<Vec<KvRefOperation<'a>>> {
        by_key(history)
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&&'a str>) -> String {
        describe_operation(input, output.copied())
    }

    fn describe_state(&self, state: &Rc<String>) -> String {
        describe_state(state)
    }
}

/// The value after `input` when it produced `output` on `state`: `None` if it cannot have,
/// `Some(None)` if the value stays as it is (a `Get`), `Some(Some(value))` for a new one.
fn next_value(state: &str, input: &KvInput, output: Option<&str>) -> Option<Option<String>> {
    match input {
        KvInput::Get(_) => match output {
            Some(read) if read != state => None,
            _ => Some(None),
        },
        KvInput::Put(_, value) => Some(Some(value.clone())),
        KvInput::Append(_, value) => {
            let mut next = String::with_capacity(state.len() + value.len());
            next.push_str(state);
            next.push_str(value);
            Some(Some(next))
        }
    }
}

/// The operations of each key, keys in order, each partition allocated at its final size: grown
/// by doubling, the partitions of a large history held up to twice its operations.
fn by_key<O>(history: Vec<Operation<KvInput, O>>) -> Vec<Vec<Operation<KvInput, O>>> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for op in &history {
        *sizes.entry(op.input.key()).or_default() += 1;
    }
    let mut by_key: BTreeMap<String, Vec<Operation<KvInput, O>>> = sizes
        .into_iter()
        .map(|(key, n)| (key.to_owned(), Vec::with_capacity(n)))
        .collect();
    for op in history {
        by_key
            .get_mut(op.input.key())
            .expect("every key was counted")
            .push(op);
    }
    by_key.into_values().collect()
}

fn describe_operation(input: &KvInput, output: Option<&str>) -> String {
    match input {
        KvInput::Get(k) => match output {
            Some(v) => format!("get('{k}') -> '{v}'"),
            None => format!("get('{k}') -> ?"),
        },
        KvInput::Put(k, v) => format!("put('{k}', '{v}')"),
        KvInput::Append(k, v) => format!("append('{k}', '{v}')"),
    }
}

fn describe_state(state: &str) -> String {
    format!("'{state}'")
}
