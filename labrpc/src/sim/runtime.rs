//! Running one simulation: a fresh OS thread, a paused-clock tokio runtime, and a watchdog.
//!
//! The paused clock jumps to the next timer whenever no task is ready, so virtual time costs
//! nothing. That same rule means a run can stop making progress in two ways a normal timeout
//! never sees: every task waits and no timer is pending (the runtime parks forever), or some task
//! never yields to the scheduler (time never advances). The watchdog, on the calling thread,
//! watches the runtime's park state and the virtual clock in wall time and ends such a run with
//! a diagnosis of which one it was.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use futures::future::{self, Either};

use super::context::{self, Shared, SimState};
use super::digest::TimedEvent;
use super::failure::{Failure, FailureKind};
use super::node::{install_panic_hook, panic_message, take_panic_location};

/// How to run one simulation.
#[derive(Clone, Debug)]
pub struct Config {
    /// The seed every random decision of the run derives from.
    pub seed: u64,
    /// Virtual-time limit; the run fails when its clock passes it (MIT: 120 s per test).
    pub time_limit: Duration,
    /// Keep every event, not just the digest (for finding where two runs diverge).
    pub record_events: bool,
    /// Wall time the runtime may stay parked, with no wake-up, before the run is declared
    /// deadlocked.
    pub deadlock_after: Duration,
    /// Wall time virtual time may stand still, with the thread running, before the run is
    /// declared stuck in a busy loop.
    pub busy_after: Duration,
    /// Name of the simulation thread (shows in panic messages and report file names). Default:
    /// the name of the thread that made the config (in a `#[test]`, the test's path).
    pub thread_name: String,
    /// Collect the run's `tracing` events here (and print them, if the trace says so).
    pub trace: Option<super::trace::Trace>,
}

impl Config {
    /// Defaults: MIT's 120 s limit, a 1 s deadlock and a 5 s busy-loop watchdog.
    pub fn new(seed: u64) -> Self {
        Config {
            seed,
            time_limit: Duration::from_secs(120),
            record_events: false,
            deadlock_after: Duration::from_secs(1),
            busy_after: Duration::from_secs(5),
            thread_name: std::thread::current().name().unwrap_or("sim").to_string(),
            trace: None,
        }
    }
}

/// What a successful run produced.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The body's result.
    pub value: T,
    /// The seed of the run.
    pub seed: u64,
    /// Virtual time at the end of the run.
    pub virtual_time: Duration,
    /// The determinism digest: equal for two runs that did the same things at the same times.
    pub digest: u64,
    /// How many events went into the digest.
    pub events: u64,
    /// The events themselves, when [`Config::record_events`] was set.
    pub log: Option<Vec<TimedEvent>>,
}

/// Runs `body` as a simulation on a fresh thread and waits for it, or for the watchdog.
///
/// `body` is called on the simulation thread, inside the runtime, so it can create nodes and
/// networks. Its future runs as the tester (node 0). Lab code spawned from it runs on the same
/// thread; the future itself need not be `Send`.
pub fn run<T, F, Fut>(config: &Config, body: F) -> Result<Outcome<T>, Failure>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    install_panic_hook();
    let shared = Arc::new(Shared::new(config.time_limit));
    let (tx, rx) = mpsc::channel();
    let thread_config = config.clone();
    let thread_shared = shared.clone();
    std::thread::Builder::new()
        .name(config.thread_name.clone())
        .spawn(move || {
            let result = run_here(&thread_config, thread_shared, body);
            let _ = tx.send(result);
        })
        .expect("labrpc::sim: cannot start the simulation thread");
    watch(config, &shared, &rx)
}

/// The watchdog: waits for the run's result, and ends a run that stopped making progress.
///
/// Two independent clocks, both in wall time:
/// * deadlock: the runtime is parked and has not woken once for `deadlock_after`. With a paused
///   clock a park only lasts while no timer is pending, so nothing can ever wake it;
/// * busy: virtual time has not moved for `busy_after`, whatever the thread is doing.
fn watch<T>(
    config: &Config,
    shared: &Shared,
    rx: &mpsc::Receiver<Result<Outcome<T>, Failure>>,
) -> Result<Outcome<T>, Failure> {
    use std::time::Instant; // allowed: the watchdog measures wall time, outside the simulation
    const POLL: Duration = Duration::from_millis(20);
    const GRACE: Duration = Duration::from_secs(2);
    let mut parked_since: Option<(u64, Instant)> = None;
    let mut clock_since = (shared.virtual_ms.load(Ordering::Relaxed), Instant::now());
    let mut given_up: Option<Instant> = None;
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // run_here catches every panic, so the thread cannot end without a result.
                unreachable!("labrpc::sim: the simulation thread ended without a result")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let virtual_ms = shared.virtual_ms.load(Ordering::Relaxed);
        let at = Duration::from_millis(virtual_ms);
        if let Some(since) = given_up {
            if since.elapsed() > GRACE {
                // The thread never came back to the scheduler to see the abort: abandon it.
                let waited = clock_since.1.elapsed();
                let kind = FailureKind::Busy {
                    waited,
                    unresponsive: true,
                };
                return Err(Failure {
                    seed: config.seed,
                    at,
                    kind,
                });
            }
            continue;
        }
        let unparks = shared.unparks.load(Ordering::Relaxed);
        if shared.parked.load(Ordering::Relaxed) {
            match parked_since {
                Some((seen, since)) if seen == unparks => {
                    if since.elapsed() >= config.deadlock_after {
                        let waited = since.elapsed();
                        shared.fail(at, FailureKind::Deadlock { waited });
                        given_up = Some(Instant::now());
                        continue;
                    }
                }
                _ => parked_since = Some((unparks, Instant::now())),
            }
        } else {
            parked_since = None;
        }
        if virtual_ms != clock_since.0 {
            clock_since = (virtual_ms, Instant::now());
        } else if clock_since.1.elapsed() >= config.busy_after {
            let waited = clock_since.1.elapsed();
            shared.fail(
                at,
                FailureKind::Busy {
                    waited,
                    unresponsive: false,
                },
            );
            given_up = Some(Instant::now());
        }
    }
}

/// Runs the simulation on the current (fresh) thread.
fn run_here<T, F, Fut>(config: &Config, shared: Arc<Shared>, body: F) -> Result<Outcome<T>, Failure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let park_shared = shared.clone();
    let unpark_shared = shared.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .on_thread_park(move || park_shared.parked.store(true, Ordering::Relaxed))
        .on_thread_unpark(move || unpark_shared.on_unpark())
        .build()
        .expect("labrpc::sim: cannot build the tokio runtime");
    let start = {
        let _inside = runtime.enter();
        tokio::time::Instant::now()
    };
    let _ = shared.start.set(start);
    let state = Rc::new(SimState::new(
        config.seed,
        shared.clone(),
        start,
        config.record_events,
    ));
    context::install(state.clone());
    // The trace, if any, hears only this thread's events: parallel tests keep their own.
    let _trace = config.trace.clone().map(tracing::subscriber::set_default);

    let body_result = panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let body = std::pin::pin!(body());
            let abort = std::pin::pin!(shared.abort.notified());
            // The abort is polled first, so a failure found while the body is still runnable
            // ends the run at once.
            match future::select(abort, body).await {
                Either::Left(((), _)) => None,
                Either::Right((value, _)) => Some(value),
            }
        })
    }));
    let at = {
        let _inside = runtime.enter();
        state.now()
    };
    state.frozen.set(Some(at));
    let body_result = body_result.map_err(|payload| {
        let kind = FailureKind::Panic {
            message: panic_message(payload.as_ref()),
            location: take_panic_location(),
            node: "tester".to_string(),
        };
        (at, kind)
    });
    // Drop every task while the simulation is still installed: their destructors may use it.
    let shutdown = panic::catch_unwind(AssertUnwindSafe(|| drop(runtime)));
    context::uninstall();
    let state = Rc::try_unwrap(state).unwrap_or_else(|_| {
        unreachable!("labrpc::sim: simulation state still referenced after the run")
    });
    let (digest, events, log) = state.recorder.into_inner().finish();

    let failure = shared.failure.lock().take();
    let fail = |(at, kind)| {
        Err(Failure {
            seed: config.seed,
            at,
            kind,
        })
    };
    match (body_result, failure) {
        // A failure recorded by a task, the time limit or the watchdog comes first: it is why
        // the body stopped, or it happened while the body was finishing.
        (_, Some(failure)) => fail(failure),
        (Err(panic), None) => fail(panic),
        (Ok(None), None) => unreachable!("labrpc::sim: run aborted without a recorded reason"),
        (Ok(Some(value)), None) => {
            if let Err(payload) = shutdown {
                let kind = FailureKind::Panic {
                    message: format!(
                        "panic while dropping tasks at the end of the run: {}",
                        panic_message(payload.as_ref())
                    ),
                    location: take_panic_location(),
                    node: "tester".to_string(),
                };
                return fail((at, kind));
            }
            Ok(Outcome {
                value,
                seed: config.seed,
                virtual_time: at,
                digest,
                events,
                log,
            })
        }
    }
}
