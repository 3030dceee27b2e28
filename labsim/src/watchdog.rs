//! The watchdog: ends a run whose simulation thread stopped coming back to the scheduler.
//!
//! A deadlock needs no watchdog: the simulation finds it itself (see `Shared::sentinel`). What
//! only another thread can see is code that never returns to the scheduler, and the watchdog
//! tells its two kinds apart by asking the kernel, never by how much wall time went by:
//!
//! * busy: the thread keeps using CPU while virtual time stands still, for `busy_after` of its
//!   own CPU time. A loaded machine gives it less CPU per second, so the verdict comes later,
//!   but it is the same verdict;
//! * blocked: the thread sleeps in the kernel outside the scheduler (a lock taken twice, a
//!   blocking receive, `std::thread::sleep`), for `blocked_after` in total over the run, as
//!   sampled every poll. A thread that is merely not scheduled is runnable, not asleep, and a
//!   stopped process is stopped, not asleep: neither counts.
//!
//! Wall time is used only to decide when to stop waiting for a thread that has already been
//! given a verdict and does not come back to read it.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant; // allowed: the watchdog paces itself in wall time, outside the simulation

use crate::context::Shared;
use crate::failure::{Failure, FailureKind};
use crate::site::SiteId;
use crate::thread_probe::blocking_call;

const POLL: Duration = Duration::from_millis(20);
/// The most one poll may count as blocked: a watchdog descheduled for a while must not count
/// the whole gap from one sample.
const MAX_STEP: Duration = Duration::from_millis(60);
/// How long a thread with a verdict gets to return to the scheduler and end the run.
const GRACE: Duration = Duration::from_secs(2);

/// What the watchdog holds a run to (from its `RunSettings`).
pub(crate) struct Budgets {
    /// The run's seed, for the failure of a run that is given up.
    pub(crate) seed: u64,
    /// CPU time the simulation thread may use while virtual time stands still.
    pub(crate) busy_after: Duration,
    /// Time the simulation thread may spend blocked in the kernel, in total.
    pub(crate) blocked_after: Duration,
}

/// Waits for the run's result, and ends a run that stopped making progress: `Ok` with the
/// result the simulation thread sent, or `Err` with the failure of a run given up on, whose
/// thread may never end.
pub(crate) fn watch<T>(
    budgets: &Budgets,
    shared: &Shared,
    rx: &mpsc::Receiver<Result<T, Failure>>,
) -> Result<Result<T, Failure>, Failure> {
    let mut virtual_ms = shared.virtual_ms.load(Ordering::Relaxed);
    let mut moved_at = Instant::now();
    let mut cpu_at_move: Option<Duration> = None;
    let mut blocked = Duration::ZERO;
    let mut last_poll = Instant::now();
    let mut given_up: Option<Instant> = None;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return Ok(result),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // run_here catches every panic, so the thread cannot end without a result.
                unreachable!("labrpc::sim: the simulation thread ended without a result")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let step = now.duration_since(last_poll).min(MAX_STEP);
        last_poll = now;
        if let Some(since) = given_up {
            if since.elapsed() > GRACE {
                return Err(abandon(budgets, shared));
            }
            continue;
        }
        let at_ms = shared.virtual_ms.load(Ordering::Relaxed);
        if at_ms != virtual_ms {
            (virtual_ms, moved_at, cpu_at_move) = (at_ms, now, None);
        }
        let at = Duration::from_millis(at_ms);
        let verdict = match shared.probe.get().map(|p| p.as_ref().map(|p| p.sample())) {
            // The thread has not started yet (it may be stopped before its first step).
            None => None,
            // The thread is gone: its result is on its way.
            Some(Some(None)) => None,
            Some(Some(Some(sample))) => {
                let cpu_then = *cpu_at_move.get_or_insert(sample.cpu);
                let spent = sample.cpu.saturating_sub(cpu_then);
                let parked = shared.parked.load(Ordering::Relaxed);
                let how = match sample.state {
                    'S' if parked => Some(
                        "the runtime's park, waiting for something outside the simulation \
                         (a spawn_blocking task, or a std::thread the code waits for)",
                    ),
                    'S' => blocking_call(sample.syscall),
                    _ => None,
                };
                if let Some(how) = how {
                    blocked += step;
                    (blocked >= budgets.blocked_after).then(|| FailureKind::Blocked {
                        blocked,
                        how: how.to_string(),
                        running: running(shared),
                    })
                } else {
                    (spent >= budgets.busy_after && !parked).then(|| FailureKind::Busy {
                        cpu: spent,
                        running: running(shared),
                        unresponsive: false,
                    })
                }
            }
            // No probe (not Linux): wall time is all there is.
            Some(None) => {
                let stalled = moved_at.elapsed();
                (stalled >= budgets.busy_after).then(|| FailureKind::Busy {
                    cpu: stalled,
                    running: running(shared),
                    unresponsive: false,
                })
            }
        };
        if let Some(kind) = verdict {
            shared.fail(at, kind);
            given_up = Some(Instant::now());
        }
    }
}

/// The failure of a run whose thread never came back to the scheduler after its verdict.
fn abandon(budgets: &Budgets, shared: &Shared) -> Failure {
    let (at, mut kind, context) = shared.failure.lock().clone().unwrap_or_else(|| {
        unreachable!("labrpc::sim: a run was given up without a recorded reason")
    });
    if let FailureKind::Busy { unresponsive, .. } = &mut kind {
        *unresponsive = true;
    }
    Failure {
        seed: budgets.seed,
        at,
        kind,
        context,
    }
}

/// What the simulation thread is running, in words: "peer1, in the task spawned at ...".
fn running(shared: &Shared) -> String {
    let packed = shared.running.load(Ordering::Relaxed);
    let (node, site) = ((packed >> 32) as usize, packed as SiteId);
    let node = shared
        .node_names
        .lock()
        .get(node)
        .cloned()
        .unwrap_or_else(|| format!("node{node}"));
    match shared.sites.lock().get(site as usize) {
        Some(site) => format!("{node} ({site})"),
        None => node,
    }
}
