//! Waiting until the simulation settles: nothing is ready to run at the current virtual instant,
//! and the clock is about to move on.
//!
//! A tester that watches the system (say, every peer's leadership claim) could wake on a timer
//! of its own, but every such timer is one more instant at which the runtime stops, reads the
//! clock and wakes: for a sampler every 5 ms, about as much work as the whole Raft cluster it
//! watches. Woken when the runtime is about to park instead (tokio's `on_thread_park` hook may
//! schedule work, and the runtime then polls it before moving the clock), the watcher costs one
//! poll at an instant that happens anyway, and it sees the state each instant ends in, which no
//! code can change until the clock moves.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::context::{self, SimState};

/// One task waiting in [`settled`].
pub(crate) struct SettleWaiter {
    /// Not woken before this virtual time.
    due: Duration,
    /// `Shared::polls` when it started waiting: it is woken only once other code has run since.
    polls: u64,
    /// The instant it started waiting at, and whether waiters were woken at that instant
    /// before: a waiter that starts again at the instant it was woken at (a watcher's loop)
    /// waits for a later instant, or two watchers would wake each other without end.
    since: Duration,
    after_wake: bool,
    woken: Arc<AtomicBool>,
    waker: Waker,
}

/// Completes when the simulation next settles (no task ready at the current virtual instant,
/// the clock about to move on) at least `after` of virtual time from now, once some other code
/// has run since the call: a watcher that loops on `settled(d)` sees the state each active
/// instant ends in, at most once per `d`, and never keeps an idle run busy. No timer is
/// involved, so it adds no instant of its own to the run. (The instant the run
/// ends at, when the body returns, does not settle.)
pub fn settled(after: Duration) -> Settled {
    Settled { after, woken: None }
}

/// The future of [`settled`].
pub struct Settled {
    after: Duration,
    woken: Option<Arc<AtomicBool>>,
}

impl Future for Settled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(woken) = &self.woken {
            if woken.load(Ordering::Relaxed) {
                return Poll::Ready(());
            }
            let woken = woken.clone();
            context::with(|s| {
                for w in s.settle_waiters.borrow_mut().iter_mut() {
                    if Arc::ptr_eq(&w.woken, &woken) {
                        w.waker.clone_from(cx.waker());
                    }
                }
            });
            return Poll::Pending;
        }
        let woken = Arc::new(AtomicBool::new(false));
        let after = self.after;
        context::with(|s| {
            let now = s.now();
            s.settle_waiters.borrow_mut().push(SettleWaiter {
                due: now + after,
                polls: s.shared.polls.load(Ordering::Relaxed),
                since: now,
                after_wake: s.last_settle_wake.get() == Some(now),
                woken: woken.clone(),
                waker: cx.waker().clone(),
            })
        });
        self.woken = Some(woken);
        Poll::Pending
    }
}

impl SimState {
    /// The runtime is about to park: wakes the waiters that are due, in the order they came.
    /// Their tasks run at this same instant, before the clock moves.
    pub(crate) fn wake_settled(&self) {
        if self.settle_waiters.borrow().is_empty() {
            return;
        }
        let now = self.now();
        let polls = self.shared.polls.load(Ordering::Relaxed);
        let mut due = Vec::new();
        self.settle_waiters.borrow_mut().retain(|w| {
            // Only this list holds a dropped future's flag: forget it.
            if Arc::strong_count(&w.woken) == 1 {
                return false;
            }
            let this_instant_again = w.since == now && w.after_wake;
            if w.due <= now && w.polls != polls && !this_instant_again {
                w.woken.store(true, Ordering::Relaxed);
                due.push(w.waker.clone());
                return false;
            }
            true
        });
        if !due.is_empty() {
            self.last_settle_wake.set(Some(now));
        }
        for waker in due {
            waker.wake();
        }
    }
}
