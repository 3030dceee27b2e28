//! Random draws for lab code and the tester, from the calling node's own stream.
//!
//! Every draw is part of the determinism digest. Use these instead of `rand::thread_rng` or
//! `rand::random`, whose values differ on every run and so make a failing seed unreplayable.

use std::ops::Range;
use std::time::Duration;

use crate::context::{self, current_node, LAYER_STREAM};
use crate::digest::KernelEvent;
use crate::rng::SimRng;

fn draw<R>(f: impl FnOnce(&mut SimRng) -> (u64, R)) -> R {
    let node = current_node("a random draw (labrpc::sim::random_*)");
    context::with(|s| {
        let (value, out) = f(&mut s.nodes.borrow_mut()[node as usize].rng);
        s.record(KernelEvent::Rng {
            stream: node + 1,
            value,
        });
        out
    })
}

/// 64 random bits.
pub fn random_u64() -> u64 {
    draw(|rng| {
        let v = rng.next_u64();
        (v, v)
    })
}

/// A uniform value in `range` (which must not be empty).
pub fn random_range(range: Range<u64>) -> u64 {
    assert!(
        range.start < range.end,
        "random_range: empty range {range:?}"
    );
    draw(|rng| {
        let v = range.start + rng.below(range.end - range.start);
        (v, v)
    })
}

/// A uniform duration in `range`, to the millisecond (the simulation's timer resolution).
/// For example an election timeout: `random_duration(Duration::from_millis(300)..Duration::from_millis(600))`.
pub fn random_duration(range: Range<Duration>) -> Duration {
    let (lo, hi) = (range.start.as_millis() as u64, range.end.as_millis() as u64);
    assert!(lo < hi, "random_duration: empty range {range:?}");
    Duration::from_millis(random_range(lo..hi))
}

/// True with probability `numerator / denominator`.
pub fn random_ratio(numerator: u64, denominator: u64) -> bool {
    random_range(0..denominator) < numerator
}

/// Shuffles `items` uniformly (Fisher-Yates).
pub fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = random_range(0..i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A uniform value in `0..n` from the layers' own stream (stream 0: the network's), so that lab
/// code drawing more or fewer numbers does not change the network's decisions at a given point
/// in the run.
#[inline]
pub(crate) fn layer_below(n: u64) -> u64 {
    context::with(|s| {
        let v = s.layer_rng.borrow_mut().below(n);
        s.record(KernelEvent::Rng {
            stream: LAYER_STREAM,
            value: v,
        });
        v
    })
}
