//! Running one simulation: a fresh OS thread, a paused-clock tokio runtime, and a watchdog.
//!
//! The paused clock jumps to the next timer whenever no task is ready, so virtual time costs
//! nothing. That same rule means a run can stop making progress in ways a normal timeout never
//! sees. Every task waits and no timer is pending: the simulation always keeps one far timer of
//! its own (the sentinel), so the clock jumps to it, and that jump is the deadlock, decided
//! inside the run at a virtual time that is the same on every machine. Or some code never
//! returns to the scheduler: only another thread can see that, and the watchdog (module
//! `watchdog`) asks the kernel whether the simulation thread is spinning or blocked.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use futures::future::{self, Either};

use crate::context::{self, Role, Shared, SimState};
use crate::digest::TimedEvent;
use crate::failure::{Failure, FailureKind};
use crate::node::{install_panic_hook, panic_message, poll_as};
use crate::thread_probe::ThreadProbe;
use crate::watchdog::{watch, Budgets};

/// How to run one simulation: its seed, its limits, and what it keeps.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The seed every random decision of the run derives from.
    pub seed: u64,
    /// Virtual-time limit; the run fails when its clock passes it (MIT: 120 s per test).
    pub time_limit: Duration,
    /// Keep every event, not just the digest (for finding where two runs diverge).
    pub record_events: bool,
    /// CPU time (of the simulation thread, not wall time) the run may use while virtual time
    /// stands still before it counts as a busy loop.
    pub busy_after: Duration,
    /// Wall time the simulation thread may spend blocked in the kernel outside the scheduler
    /// (`std::thread::sleep`, a lock, a blocking receive), in total over the run, before the
    /// run fails as blocked. Correct code never blocks it at all.
    pub blocked_after: Duration,
    /// Name of the simulation thread (shows in panic messages and report file names). Default:
    /// the name of the thread that made the settings (in a `#[test]`, the test's path).
    pub thread_name: String,
    /// The `tracing` subscriber that hears the run's events, and only this run's (the harness's
    /// [`Trace`](crate::trace::Trace) converts into one: `Some(trace.clone().into())`).
    pub subscriber: Option<tracing::Dispatch>,
    /// Explore schedules (default): the order in which tasks ready at the same virtual instant
    /// run depends on the seed, as goroutine scheduling varies in MIT's Go labs. Off, tokio's
    /// FIFO order decides, the same for every seed (see the crate docs, "Schedules").
    pub explore_schedules: bool,
}

impl RunSettings {
    /// Defaults: MIT's 120 s limit, a busy loop after 5 s of CPU time, blocked after 2 s.
    pub fn new(seed: u64) -> Self {
        RunSettings {
            seed,
            time_limit: Duration::from_secs(120),
            record_events: false,
            busy_after: Duration::from_secs(5),
            blocked_after: Duration::from_secs(2),
            thread_name: std::thread::current().name().unwrap_or("sim").to_string(),
            subscriber: None,
            explore_schedules: true,
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
    /// The events themselves, when [`RunSettings::record_events`] was set.
    pub log: Option<Vec<TimedEvent>>,
    /// The run's result fields ([`add_to_result`](crate::add_to_result)), by name: what tools
    /// read from the `lab-result` line, e.g. `rpcs`.
    pub results: std::collections::BTreeMap<&'static str, u64>,
}

/// Runs `body` as a simulation on a fresh thread and waits for it, or for the watchdog.
///
/// `body` is called on the simulation thread, inside the runtime, so it can create nodes and
/// networks. Its future runs as the tester (node 0). Lab code spawned from it runs on the same
/// thread; the future itself need not be `Send`.
pub fn run<T, F, Fut>(settings: &RunSettings, body: F) -> Result<Outcome<T>, Failure>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    install_panic_hook();
    let shared = Arc::new(Shared::new(settings.time_limit));
    if settings.explore_schedules {
        shared.schedule.start(settings.seed);
    }
    let (tx, rx) = mpsc::channel();
    let thread_settings = settings.clone();
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name(settings.thread_name.clone())
        .spawn(move || {
            let result = run_here(&thread_settings, thread_shared, body);
            let _ = tx.send(result);
        })
        .expect("labrpc::sim: cannot start the simulation thread");
    let budgets = Budgets {
        seed: settings.seed,
        busy_after: settings.busy_after,
        blocked_after: settings.blocked_after,
    };
    match watch(&budgets, &shared, &rx) {
        Ok(result) => {
            // The thread has sent its result and is about to end: let it end before this one
            // goes on. glibc gives a starting thread the malloc arena of the thread that ended
            // last; when the simulation thread ended after its caller, the next test's caller
            // could take the simulation's large arena, which it barely uses, and leave the
            // next simulation a small one to grow, holding the memory of both.
            let _ = thread.join();
            result
        }
        // Given up on: the thread may never end.
        Err(abandoned) => Err(abandoned),
    }
}

/// Runs the simulation on the current (fresh) thread.
fn run_here<T, F, Fut>(
    settings: &RunSettings,
    shared: Arc<Shared>,
    body: F,
) -> Result<Outcome<T>, Failure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let _ = shared.probe.set(ThreadProbe::of_current_thread());
    // The callbacks hold the run's state weakly: the runtime's handle keeps them, and the state
    // keeps the handle (`Shared::metrics`), so strong references made a cycle that leaked every
    // run's state, runtime handle and timer wheel (14 KB) and, sitting at the top of the
    // thread's malloc arena, kept the arena from shrinking after the run: the next test on it
    // started above what this one had used.
    let park_shared = Arc::downgrade(&shared);
    let unpark_shared = Arc::downgrade(&shared);
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder
        .enable_time()
        .start_paused(true)
        .on_thread_park(move || {
            if let Some(shared) = park_shared.upgrade() {
                shared.on_park();
            }
        })
        .on_thread_unpark(move || {
            if let Some(shared) = unpark_shared.upgrade() {
                shared.on_unpark();
            }
        });
    // `tokio::select!` without `biased;` picks its first branch with the runtime's RNG: seed it
    // from the run's seed, so such code replays too. (tokio offers this only with
    // `--cfg tokio_unstable`, which the workspace's .cargo/settings.toml sets.)
    #[cfg(tokio_unstable)]
    builder.rng_seed(tokio::runtime::RngSeed::from_bytes(
        &settings.seed.to_le_bytes(),
    ));
    let runtime = builder
        .build()
        .expect("labrpc::sim: cannot build the tokio runtime");
    let _ = shared.metrics.set(runtime.metrics());
    let start = {
        let _inside = runtime.enter();
        tokio::time::Instant::now()
    };
    let _ = shared.start.set(start);
    let state = Rc::new(SimState::new(
        settings.seed,
        shared.clone(),
        start,
        settings.record_events,
    ));
    context::install(state.clone());
    // The subscriber, if any, hears only this thread's events: parallel tests keep their own.
    let _subscriber = settings
        .subscriber
        .as_ref()
        .map(tracing::dispatcher::set_default);

    let body_result = panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let body = poll_as(&shared, Role::TESTER, 0, body());
            let abort = std::pin::pin!(shared.abort.notified());
            // The sentinel: jumped to only when nothing else can ever happen (a deadlock, which
            // `Shared::on_unpark` reports as soon as the clock shows it).
            let sentinel = std::pin::pin!(tokio::time::sleep_until(start + shared.sentinel()));
            // The abort is polled first, so a failure found while the body is still runnable
            // ends the run at once.
            let stop = future::select(abort, sentinel);
            match future::select(stop, std::pin::pin!(body)).await {
                Either::Left(_) => None,
                Either::Right((value, _)) => Some(value),
            }
        })
    }));
    let at = {
        let _inside = runtime.enter();
        state.now()
    };
    state.frozen.set(Some(at));
    // The panic hook has recorded any panic of the body as the run's failure; this one is
    // only a fallback.
    let body_result = body_result.map_err(|payload| {
        let kind = FailureKind::Panic {
            message: panic_message(payload.as_ref()),
            location: None,
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
    let results = state.results.into_inner();

    let (failure, context) = match shared.failure.lock().take() {
        Some((at, kind, context)) => (Some((at, kind)), context),
        None => (None, Vec::new()),
    };
    let fail = |(at, kind)| {
        Err(Failure {
            seed: settings.seed,
            at,
            kind,
            context,
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
                    location: None,
                    node: "tester".to_string(),
                };
                return fail((at, kind));
            }
            Ok(Outcome {
                value,
                seed: settings.seed,
                virtual_time: at,
                digest,
                events,
                log,
                results,
            })
        }
    }
}
