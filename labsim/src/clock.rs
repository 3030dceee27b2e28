//! Per-node clocks: each node's own idea of time, which may run a little fast or slow.
//!
//! Real machines' clocks drift apart at rates of up to a few hundred parts per million, and a
//! protocol that measures time on one machine and relies on it on another (a leader's read
//! lease, which holds only while no other peer's election timer can have fired) is correct only
//! if it allows for that drift. A run may set a bound ([`set_drift`]); every node created after
//! that gets a clock rate drawn at random, from a stream of its own, within `1 ± bound`, and
//! code that times itself with [`now`] and [`sleep`] sees its node's clock. A rate of 1.01 means
//! 1.01 s of this clock per second of virtual time. Without a bound every clock is exact, and
//! [`now`]/[`sleep`] are virtual time itself. A test may also move a node's rate anywhere within
//! the bound during the run ([`set_rate`]), for the worst case: a slow leader among fast
//! followers.
//!
//! tokio's own clock (`tokio::time`) stays the simulation's virtual time: code that should feel
//! drift reads this module instead.

use std::time::Duration;

use crate::context::{self, current_node};
use crate::node::Node;
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
    rate_of(&Node::current())
}

/// The rate of `node`'s clock.
pub fn rate_of(node: &Node) -> f64 {
    context::with(|s| s.nodes.borrow()[node.id() as usize].clock_rate)
}

/// The calling node's clock: the time since the node started, as the node measures it.
pub fn now() -> Duration {
    let node = current_node("labsim::clock::now");
    now_on(node)
}

/// `node`'s clock (see [`now`]), read from anywhere: e.g. by a peer's code that the tester
/// calls from its own node.
pub fn now_of(node: &Node) -> Duration {
    now_on(node.id())
}

fn now_on(node: u32) -> Duration {
    context::with(|s| {
        let slot = &s.nodes.borrow()[node as usize];
        slot.reading_then + scale(s.now() - slot.rate_since, slot.clock_rate)
    })
}

/// Makes `node`'s clock run at `rate` from now on, from the time it reads now: real clocks'
/// rates wander within their bound (with temperature, say), and a test that wants the worst
/// case within the bound sets it. `rate` must be within the run's bound ([`set_drift`]), ends
/// included. A sleep on the node that is under way keeps the length of virtual time it was
/// given, so it ends off its clock's mark by what the change made of the rest; the code that
/// slept reads the clock again, as it must anyway.
pub fn set_rate(node: &Node, rate: f64) {
    let reading = now_of(node);
    context::with(|s| {
        let bound = s.clock_drift.get();
        assert!(
            (rate - 1.0).abs() <= bound,
            "labsim::clock::set_rate({rate}): the rate must be within the run's drift bound, \
             1 ± {bound} (labsim::clock::set_drift)"
        );
        let now = s.now();
        let slot = &mut s.nodes.borrow_mut()[node.id() as usize];
        slot.clock_rate = rate;
        slot.rate_since = now;
        slot.reading_then = reading;
    });
}

/// `d` times `rate`, exactly when the rate is 1 (a float round trip could move a duration on
/// a tick boundary by a nanosecond, and with it a schedule).
fn scale(d: Duration, rate: f64) -> Duration {
    if rate == 1.0 {
        d
    } else {
        d.mul_f64(rate)
    }
}

/// Sleeps for at least `d` on the calling node's clock: `d / rate` of virtual time, rounded up
/// to tokio's timer granularity (1 ms).
pub async fn sleep(d: Duration) {
    sleep_on(&Node::current(), d).await;
}

/// Sleeps for at least `d` on `node`'s clock (see [`sleep`]).
pub async fn sleep_on(node: &Node, d: Duration) {
    let rate = rate_of(node);
    tokio::time::sleep(scale(d, 1.0 / rate)).await;
}
