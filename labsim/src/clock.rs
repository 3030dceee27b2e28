//! Per-node clocks: each node's own idea of time, which may run a little fast or slow.
//!
//! Real machines' clocks drift apart at rates of up to a few hundred parts per million, and a
//! protocol that measures time on one machine and relies on it on another (a leader's read
//! lease, which holds only while no other peer's election timer can have fired) is correct only
//! if it allows for that drift. A run may set a bound ([`set_drift`]); every node created after
//! that gets a clock rate drawn at random, from a stream of its own, within `1 ± bound`, and
//! code that times itself with [`now`] and [`sleep`] sees its node's clock. A rate of 1.01 means
//! 1.01 s of this clock per second of virtual time. Without a bound every clock is exact, and
//! [`now`]/[`sleep`] are virtual time itself.
//!
//! tokio's own clock (`tokio::time`) stays the simulation's virtual time: code that should feel
//! drift reads this module instead.

use std::time::Duration;

use crate::context::{self, current_node};
use crate::rng::SimRng;

/// The largest bound [`set_drift`] takes: a clock at half speed is not a drifting clock.
pub const MAX_DRIFT: f64 = 0.5;

/// Streams of the clock rates: apart from every node's own stream, so that switching drift on
/// changes no other draw.
const RATE_STREAMS: u64 = 1 << 40;

/// Gives every node created from now on a clock rate within `1 ± bound`. `bound` must be in
/// `0.0..MAX_DRIFT` (0 makes clocks exact again).
pub fn set_drift(bound: f64) {
    assert!(
        (0.0..MAX_DRIFT).contains(&bound),
        "labsim::clock::set_drift({bound}): the bound must be at least 0 and below {MAX_DRIFT}"
    );
    context::with(|s| s.clock_drift.set(bound));
}

/// The rate of the clock of a node created now, the `id`-th of the run.
pub(crate) fn draw_rate(seed: u64, id: u32, bound: f64) -> f64 {
    if bound == 0.0 {
        return 1.0;
    }
    let mut rng = SimRng::derive(seed, RATE_STREAMS + u64::from(id));
    // A uniform draw in [0, 1), 53 bits.
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    1.0 + bound * (2.0 * unit - 1.0)
}

/// The rate of the calling node's clock (1.0 without drift).
pub fn rate() -> f64 {
    let node = current_node("labsim::clock::rate");
    context::with(|s| s.nodes.borrow()[node as usize].clock_rate)
}

/// The calling node's clock: the time since the node started, as the node measures it.
pub fn now() -> Duration {
    let node = current_node("labsim::clock::now");
    context::with(|s| {
        let slot = &s.nodes.borrow()[node as usize];
        (s.now() - slot.started).mul_f64(slot.clock_rate)
    })
}

/// Sleeps for at least `d` on the calling node's clock: `d / rate` of virtual time, rounded up
/// to tokio's timer granularity (1 ms).
pub async fn sleep(d: Duration) {
    let rate = rate();
    tokio::time::sleep(d.div_f64(rate)).await;
}
