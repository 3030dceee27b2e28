//! Schedule exploration: the seed decides in which order the tasks that are ready at the same
//! virtual instant run.
//!
//! tokio's single-threaded scheduler runs ready tasks first in, first out. With virtual time
//! that fixes far more than it would on a real machine: a reliable network delivers every
//! message after exactly 5 ms, timers of equal length fire together, and so many events fall
//! on one instant, always in the same order whatever the seed. Go's scheduler gives MIT's labs
//! no such order, and a race that depends on it (a reply handled before or after a timer that
//! fires at the same moment, say) goes either way there. So before each scheduler poll of a
//! simulation task, the explorer may put the poll off: the task wakes itself and goes to the
//! back of the run queue, behind everything ready at that instant, and the clock does not move
//! (the paused clock advances only when nothing is ready). The decision is a draw from a
//! generator of its own, seeded from the run's seed, so a seed still replays bit for bit, and
//! the draws of nodes and network are the same as without exploration.
//!
//! Nothing here changes what may happen, only which of the orders allowed at one instant
//! happens: MIT's semantics (delays, drops, timers) are untouched.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use crate::rng::splitmix64;

/// One poll in `DEFER_ONE_IN` is put off. A quarter makes any two tasks ready at one instant
/// run in either order often (about one time in four the later one goes first), while costing
/// a third more trips through the scheduler, not more polls of lab code.
const DEFER_ONE_IN: u64 = 4;

/// The explorer's state, part of the simulation's shared state (see the module docs).
#[derive(Default)]
pub(crate) struct Explorer {
    on: AtomicBool,
    /// SplitMix64 state. Only the simulation thread uses it: plain loads and stores suffice.
    state: AtomicU64,
}

impl Explorer {
    /// Starts exploring, with draws derived from `seed`.
    pub(crate) fn start(&self, seed: u64) {
        let mut mix = seed ^ 0x5CED_u64.rotate_left(48);
        self.state.store(splitmix64(&mut mix), Ordering::Relaxed);
        self.on.store(true, Ordering::Relaxed);
    }

    /// Whether the next poll of a task is put off.
    fn defer(&self) -> bool {
        if !self.on.load(Ordering::Relaxed) {
            return false;
        }
        let mut state = self.state.load(Ordering::Relaxed);
        let draw = splitmix64(&mut state);
        self.state.store(state, Ordering::Relaxed);
        draw % DEFER_ONE_IN == 0
    }

    /// `future`, each of its scheduler polls perhaps put off behind the other ready tasks.
    pub(crate) async fn explore<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        poll_fn(|cx| {
            if self.defer() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            future.as_mut().poll(cx)
        })
        .await
    }
}
