//! Why a simulation failed, said so that a student knows where to look.

use std::fmt;
use std::time::Duration;

use super::digest::TimedEvent;

/// What went wrong in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Code panicked: an assertion of the tester, or a bug in lab code.
    Panic {
        /// The panic message.
        message: String,
        /// Where it panicked (file:line:column), when known.
        location: Option<String>,
        /// The node whose task panicked (`tester` for the test itself).
        node: String,
    },
    /// The run went past its virtual-time limit (MIT: 120 s per test).
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
    /// Every task was waiting and no timer was pending, so nothing could ever happen again.
    Deadlock {
        /// How long the watchdog waited, in wall time.
        waited: Duration,
    },
    /// The simulation thread kept running (or blocked outside tokio) without letting virtual
    /// time advance.
    Busy {
        /// How long the watchdog waited, in wall time.
        waited: Duration,
        /// Whether the thread still had not returned to the scheduler when the run was given up.
        unresponsive: bool,
    },
    /// Two runs with the same seed did different things.
    Nondeterministic {
        /// Index of the first event that differs.
        index: usize,
        /// That event in the first run, if it had one.
        first: Option<Box<TimedEvent>>,
        /// That event in the second run, if it had one.
        second: Option<Box<TimedEvent>>,
    },
}

/// A failed run: the seed that replays it, when it failed (virtual time) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time since the start of the run when the failure was found.
    pub at: Duration,
    /// What went wrong.
    pub kind: FailureKind,
}

impl FailureKind {
    /// One word for the kind: `panic`, `time-limit`, `deadlock`, `busy`, `nondeterministic`.
    pub fn short_name(&self) -> &'static str {
        match self {
            FailureKind::Panic { .. } => "panic",
            FailureKind::TimeLimit { .. } => "time-limit",
            FailureKind::Deadlock { .. } => "deadlock",
            FailureKind::Busy { .. } => "busy",
            FailureKind::Nondeterministic { .. } => "nondeterministic",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Panic {
                message,
                location,
                node,
            } => {
                write!(f, "panic in {node}")?;
                if let Some(location) = location {
                    write!(f, " at {location}")?;
                }
                write!(f, ": {message}")
            }
            FailureKind::TimeLimit { limit } => write!(
                f,
                "the test ran past its limit of {:.0} virtual seconds (MIT's tests allow 120 s)",
                limit.as_secs_f64()
            ),
            FailureKind::Deadlock { waited } => write!(
                f,
                "deadlock: every task is waiting and no timer is pending, so nothing can happen \
                 any more (checked for {:.1} s of wall time). Typical causes: awaiting a channel \
                 or reply that nobody will send, a task that exited (or panicked) while others \
                 wait for it, or an election/heartbeat loop that stopped scheduling its timer",
                waited.as_secs_f64()
            ),
            FailureKind::Busy {
                waited,
                unresponsive,
            } => {
                write!(
                    f,
                    "busy loop: the simulation thread ran for {:.1} s of wall time without letting \
                     virtual time advance. Typical causes: a loop that never awaits a timer \
                     (retrying at once, or spinning on yield_now), a std/parking_lot lock held \
                     across an .await and waited for again (the simulation has one thread), or \
                     a blocking call such as std::thread::sleep",
                    waited.as_secs_f64()
                )?;
                if *unresponsive {
                    write!(
                        f,
                        ". The thread never returned to the scheduler and was abandoned"
                    )?;
                }
                Ok(())
            }
            FailureKind::Nondeterministic {
                index,
                first,
                second,
            } => {
                let show = |e: &Option<Box<TimedEvent>>| match e {
                    Some(e) => e.to_string(),
                    None => "(run ended)".to_string(),
                };
                write!(
                    f,
                    "nondeterminism: two runs with the same seed diverged at event #{index}\n    \
                     first run:  {}\n    second run: {}\n  \
                     Usual causes: a thread RNG (rand::thread_rng, rand::random) instead of \
                     labrpc::sim's random functions, the wall clock (std::time::Instant, \
                     SystemTime) instead of tokio::time, iterating a HashMap/HashSet where the \
                     order matters, tokio::select! without `biased;`, or std::thread",
                    show(first),
                    show(second)
                )
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}, virtual time {:.3} s: {}",
            self.seed,
            self.at.as_secs_f64(),
            self.kind
        )
    }
}

impl std::error::Error for Failure {}
