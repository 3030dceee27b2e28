//! Stamps for a tester's history: when each call began and returned, in virtual time, and in
//! which order among the calls and returns of the same instant (see [`Operation::with_order`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Operation;

/// A call's beginning or return: the virtual time, and its number among every event stamped by
/// the same [`Stamps`].
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    pub at: Duration,
    pub seq: u64,
}

/// Numbers a tester's calls and returns in the order they happen; one per history.
#[derive(Debug, Default)]
pub struct Stamps(AtomicU64);

impl Stamps {
    /// Now, numbered after every event stamped before.
    pub fn now(&self) -> Stamp {
        Stamp {
            at: labrpc::sim::now(),
            seq: self.0.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

impl<I, O> Operation<I, O> {
    /// A completed operation called at `call` and returned at `ret`: times in virtual
    /// nanoseconds, events of one instant in the order they were stamped.
    pub fn stamped(client: usize, input: I, output: O, call: Stamp, ret: Stamp) -> Self {
        let ns = |s: Stamp| u64::try_from(s.at.as_nanos()).unwrap_or(u64::MAX);
        Operation::new(client, input, output, ns(call), ns(ret)).with_order(call.seq, ret.seq)
    }
}
