//! The deterministic simulation every lab test runs in. Lab code reaches it as `labrpc::sim`,
//! which is this crate.
//!
//! One run is one fresh OS thread with one `current_thread` tokio runtime whose clock is paused:
//! whenever no task can run, the clock jumps to the next timer, so `tokio::time::sleep` costs no
//! wall time and a test of 120 virtual seconds finishes in a fraction of a second. All
//! randomness comes from one seed, so a run can be replayed exactly.
//!
//! ```
//! use std::time::Duration;
//! use labsim as sim; // in lab code: `use labrpc::sim;`, the same crate
//!
//! let settings = sim::RunSettings::new(42);
//! let outcome = sim::run(&settings, || async {
//!     let node = sim::Node::new("server");
//!     let task = node.spawn(async {
//!         tokio::time::sleep(Duration::from_secs(30)).await; // virtual: instant
//!         sim::random_range(0..100)
//!     });
//!     task.await.unwrap()
//! })
//! .unwrap();
//! assert_eq!(outcome.virtual_time, Duration::from_secs(30));
//! # let again = sim::run(&settings, || async {
//! #     let node = sim::Node::new("server");
//! #     node.spawn(async { tokio::time::sleep(Duration::from_secs(30)).await; sim::random_range(0..100) }).await.unwrap()
//! # }).unwrap();
//! # assert_eq!((again.value, again.digest), (outcome.value, outcome.digest));
//! ```
//!
//! Grader tests use [`test`](fn@test) (or [`Test`]), which takes the seed from `LAB_SEED`, runs many
//! seeds with `LAB_SEEDS`, checks determinism with `LAB_CHECK_DETERMINISM=1`, and on failure
//! panics with the seed, the virtual time, a diagnosis and the one-line replay command (see
//! [`harness`]).
//!
//! Testers say what they are doing, so that a run that fails (time limit, deadlock, busy loop,
//! blocked thread, panic) says it too: [`step`] (a guard: "waiting for one leader"), [`section`]
//! (a part of a test, from its title to its "Passed"), and [`clerk_call`] (a guard per clerk
//! operation in flight). The report then adds `tester step: ... (since 3.000 s)` and
//! `clerk calls in flight: clerk3 Get("k1") since 12.345 s; ...`. And they report what they
//! measured with [`add_to_result`], which `LAB_RESULT_LINES=1` prints for tools.
//!
//! A tester that watches the system all through a run (the Raft tester's Election Safety
//! check) waits in [`settled`], which wakes it at the end of every instant at which anything
//! ran, at no instant of its own. Code whose correctness depends on clocks agreeing (lab 3C's
//! leases) reads its node's own clock in [`clock`], which a run may let drift within a bound.
//!
//! # Rules for code that runs in a simulation
//!
//! The simulation runs every node on one thread, on virtual time, from one seed. Lab code keeps
//! to the rules below; each one that can be checked is, and a run that breaks it fails with a
//! diagnosis that names the rule, the node and, where it can be known, the code (the place a
//! task was spawned, the RPC handler, the tester's call). The contract tests (`contract/` in
//! the workspace) try each of them on a peer that breaks it.
//!
//! | rule | instead of | use | what happens otherwise |
//! |---|---|---|---|
//! | tasks run on their node | `tokio::spawn`, `std::thread`, `spawn_blocking` | [`spawn`] (or [`Node::spawn`]) | the run fails ("rule broken") as soon as the runtime has a task the simulation did not spawn, or code outside every node spawns, draws a random number or makes a call; a foreign thread calling a `ClientEnd` fails the run; while a `spawn_blocking` task runs, virtual time cannot move ("blocked thread") |
//! | never block the thread | `std::thread::sleep`, blocking locks and channels, a lock held across `.await` | `tokio::time::sleep`, `tokio::sync` | "blocked thread", once the thread has spent 2 s in total asleep in the kernel outside the scheduler (a lock taken twice: at once) |
//! | never spin | a loop that never awaits a timer | `tokio::time::sleep` between tries | "busy loop", after 5 s of the thread's CPU time (`LAB_WATCHDOG_SECS`) without virtual time moving |
//! | no panics | `panic!`, `unwrap()` on a bad value, even inside `catch_unwind` | errors you handle | any panic on the simulation thread fails the run, naming the node (or "tester") and where |
//! | randomness from the seed | `rand::thread_rng`, `rand::random` | [`random_range`], [`random_duration`], ... | two runs of one seed differ: `LAB_CHECK_DETERMINISM=1` names the first event where they do, and a failure whose traced replay does not reproduce it says so |
//! | virtual time | `std::time::Instant`, `SystemTime` | `tokio::time` | as above; the wall clock barely moves while virtual seconds pass, so timers built on it never fire (Raft: "expected one leader") |
//! | order from data, not hashes | iterating a `HashMap`/`HashSet` where the order reaches behaviour | `BTreeMap`/`BTreeSet` | as above |
//! | ends stay with their peer | calling through another peer's `ClientEnd` | the ends you were given | the run fails at the call ("an end belongs to the node that first used it") |
//! | messages of sane size | a whole log or store in one message | what the peer needs | the run fails at once past `labrpc::MAX_MESSAGE_BYTES` (64 MiB), naming the RPC and the size |
//!
//! `tokio::select!` picks among ready branches at random unless told `biased;`. Its random
//! numbers come from the runtime, which the simulation seeds from the run's seed (the workspace
//! builds tokio with `--cfg tokio_unstable` for this, in `.cargo/config.toml`), so either form
//! replays; `biased;` still says what you mean.
//!
//! # Schedules
//!
//! Many events fall on the same virtual instant (a reliable network delivers after exactly
//! 5 ms; timers of equal length fire together). Which of the tasks ready at one instant runs
//! first depends on the seed, as goroutine scheduling varies in MIT's Go labs: code that is
//! right only in one order fails on some seed, and that seed replays it. Each seed still gives
//! one run, bit for bit. [`RunSettings::explore_schedules`] turns this off (tokio's first-in,
//! first-out order for every seed), for comparing.
//!
//! Not a rule but a diagnosis: a run in which every task waits and no timer is pending is a
//! deadlock. The simulation finds it itself, at the virtual time it happened, and names the
//! nodes still waiting.
//!
//! # Layout
//!
//! The kernel (the modules at the top of this crate: runtime, nodes, randomness, time, the
//! determinism digest, failures, watchdog, the tester's activity) knows nothing of networks or
//! of test harnesses. Two things sit on it, and it imports neither:
//!
//! * [`harness`]: what makes a simulation a grader test (the `LAB_*` variables, seeds, the
//!   determinism check, replay commands, traces, timelines and reports);
//! * layers such as labrpc's network, through [`layer`], the kernel's interface for code that
//!   extends the simulation (not for lab code).

mod activity;
pub mod clock;
mod context;
mod digest;
mod failure;
pub mod harness;
pub mod layer;
mod node;
mod random;
mod rng;
mod runtime;
mod schedule;
mod settle;
mod site;
mod tester;
mod thread_probe;
mod watchdog;

pub use digest::TimedEvent;
pub use failure::{Failure, FailureKind};
pub use harness::{test, trace, Test};
pub use node::{spawn, Node};
pub use random::{random_duration, random_range, random_ratio, random_u64, shuffle};
pub use rng::SimRng;
pub use runtime::{run, Outcome, RunSettings};
pub use settle::{settled, Settled};
pub use tester::{add_to_result, clerk_call, end_section, section, step, Registered};

use std::time::Duration;

/// Virtual time since the start of the run.
pub fn now() -> Duration {
    context::with(|s| s.now())
}

/// The seed of the running simulation.
pub fn seed() -> u64 {
    context::with(|s| s.seed)
}
