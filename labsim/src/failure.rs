//! Why a simulation failed, said so that a student knows where to look.

use std::fmt;
use std::time::Duration;

use crate::digest::TimedEvent;

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
        /// When the clock jumped over the limit in one step: the virtual time from which no task
        /// ran (every task waited for a timer past the limit).
        idle_since: Option<Duration>,
    },
    /// Every task was waiting and no timer was pending, so nothing could ever happen again.
    /// Decided inside the simulation (the clock jumped to the run's sentinel timer), so the
    /// verdict and its virtual time are the same on every machine.
    Deadlock {
        /// The nodes that still had tasks, with how many ("peer1 (3 tasks)").
        waiting: Vec<String>,
    },
    /// The simulation thread kept running without letting virtual time advance: it spent
    /// `cpu` of its own CPU time (not wall time: a loaded machine only makes this slower)
    /// without returning to the scheduler long enough for the clock to move.
    Busy {
        /// CPU time the simulation thread used while virtual time stood still.
        cpu: Duration,
        /// What was running when the watchdog gave up: a node and the code site, when known.
        running: String,
        /// Whether the thread still had not returned to the scheduler when the run was given up.
        unresponsive: bool,
    },
    /// The simulation thread was blocked in the kernel, outside the scheduler, for `blocked`
    /// (wall time, sampled): a lock taken twice, a blocking channel receive,
    /// `std::thread::sleep`, or waiting for a thread outside the simulation.
    Blocked {
        /// Wall time the thread was seen blocked, in total over the run.
        blocked: Duration,
        /// In what, as far as the kernel says (e.g. "a futex: a lock or a blocking channel").
        how: String,
        /// What was running when it was last seen blocked.
        running: String,
    },
    /// Lab code broke a rule of the simulation (see the module docs of `labrpc::sim`).
    Rule {
        /// The rule, in a few words.
        rule: String,
        /// What happened, and how to fix it.
        detail: String,
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
    /// What the tester was doing when it went wrong, one line each: the step it was in and the
    /// clerk calls in flight (`tester step: ... (since 3.000 s)`, `clerk calls in flight: ...`),
    /// as it declared them with `labrpc::sim::step` and `labrpc::sim::clerk_call`. Empty when it
    /// declared none.
    pub context: Vec<String>,
}

/// The rule every spawn site is held to, as the diagnoses name it.
const SPAWN_RULE: &str = "lab code runs on its node: spawn tasks with labrpc::sim::spawn \
    (or Node::spawn), never tokio::spawn, std::thread or spawn_blocking";

impl FailureKind {
    /// A task the runtime runs that the simulation did not spawn.
    pub(crate) fn foreign_task() -> FailureKind {
        FailureKind::Rule {
            rule: SPAWN_RULE.into(),
            detail: "A task was started with tokio::spawn (or tokio::task::spawn): it belongs to \
                     no node, so its peer's crash does not stop it and a panic in it is lost. \
                     Spawn it with labrpc::sim::spawn, which puts it on the calling node"
                .into(),
        }
    }

    /// Code outside every node (a task from `tokio::spawn`) tried to do `what`.
    pub(crate) fn outside_every_node(what: &str) -> FailureKind {
        FailureKind::Rule {
            rule: SPAWN_RULE.into(),
            detail: format!(
                "Code running outside every node (in a task started with tokio::spawn?) \
                 used {what}. Spawn the task with labrpc::sim::spawn, which puts it on the \
                 calling node"
            ),
        }
    }

    /// A foreign thread (not the simulation's) tried to do `what`.
    pub(crate) fn foreign_thread(what: &str) -> FailureKind {
        FailureKind::Rule {
            rule: SPAWN_RULE.into(),
            detail: format!(
                "A thread that is not the simulation's (std::thread, spawn_blocking, or a \
                 runtime of its own) used {what}. Everything runs on the simulation's one \
                 thread: spawn tasks with labrpc::sim::spawn and use tokio::time for time"
            ),
        }
    }

    /// Whether the simulation thread was found not coming back to the scheduler (busy or
    /// blocked), so that running the seed again would only take as long again.
    pub fn stuck_thread(&self) -> bool {
        matches!(self, FailureKind::Busy { .. } | FailureKind::Blocked { .. })
    }

    /// One word for the kind: `panic`, `time-limit`, `deadlock`, `busy`, `blocked`, `rule`,
    /// `nondeterministic`.
    pub fn short_name(&self) -> &'static str {
        match self {
            FailureKind::Panic { .. } => "panic",
            FailureKind::TimeLimit { .. } => "time-limit",
            FailureKind::Deadlock { .. } => "deadlock",
            FailureKind::Busy { .. } => "busy",
            FailureKind::Blocked { .. } => "blocked",
            FailureKind::Rule { .. } => "rule",
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
            FailureKind::TimeLimit { limit, idle_since } => {
                write!(
                    f,
                    "the test ran past its limit of {:.0} virtual seconds (MIT's tests allow 120 s)",
                    limit.as_secs_f64()
                )?;
                if let Some(idle) = idle_since {
                    write!(
                        f,
                        ". Nothing ran after {:.3} s: every task was waiting, and the next timer \
                         was past the limit (a timer set far in the future, or a deadlock that \
                         such a timer hid)",
                        idle.as_secs_f64()
                    )?;
                }
                Ok(())
            }
            FailureKind::Deadlock { waiting } => {
                write!(
                    f,
                    "deadlock: every task is waiting and no timer is pending, so nothing can \
                     happen any more"
                )?;
                if !waiting.is_empty() {
                    write!(f, " (still waiting: {})", waiting.join(", "))?;
                }
                write!(
                    f,
                    ". Typical causes: awaiting a channel or reply that nobody will send, a task \
                     that exited (or panicked) while others wait for it, or an election/heartbeat \
                     loop that stopped scheduling its timer"
                )
            }
            FailureKind::Busy {
                cpu,
                running,
                unresponsive,
            } => {
                write!(
                    f,
                    "busy loop in {running}: the simulation thread used {:.1} s of CPU time \
                     without letting virtual time advance. Typical causes: a loop that never \
                     awaits a timer (retrying at once, or spinning on yield_now), or a huge \
                     computation",
                    cpu.as_secs_f64()
                )?;
                if *unresponsive {
                    write!(
                        f,
                        ". The thread never returned to the scheduler and was abandoned"
                    )?;
                }
                Ok(())
            }
            FailureKind::Blocked {
                blocked,
                how,
                running,
            } => write!(
                f,
                "blocked thread in {running}: the simulation thread was blocked for {:.1} s of \
                 wall time in {how}, outside the scheduler. The simulation has one thread: \
                 lab code must never block it. Use tokio::time::sleep instead of \
                 std::thread::sleep, async channels (tokio::sync) instead of blocking ones, and \
                 never hold a std/parking_lot lock across an .await or take it twice",
                blocked.as_secs_f64()
            ),
            FailureKind::Rule { rule, detail } => write!(f, "rule broken: {rule}. {detail}"),
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
        )?;
        for line in &self.context {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}
