//! `labsim::settled`: a watcher woken when the run settles at an instant, before the clock
//! moves, adding no instant of its own.

use std::sync::Arc;
use std::time::Duration;

use labsim::{self as sim, Node, RunSettings};
use parking_lot::Mutex;

fn settings(seed: u64) -> RunSettings {
    let mut s = RunSettings::new(seed);
    s.thread_name = "sim-settle-test".into();
    s
}

/// A worker changes a value twice at each of the instants 10, 20, ..., 50 ms; a watcher loops
/// on `settled(after)`. Returns what the watcher saw, as (virtual ms, value).
fn watch(seed: u64, after: Duration) -> Vec<(u64, u64)> {
    let outcome = sim::run(&settings(seed), move || async move {
        let value = Arc::new(Mutex::new(0u64));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (v, s) = (value.clone(), seen.clone());
        sim::spawn(async move {
            loop {
                sim::settled(after).await;
                s.lock().push((sim::now().as_millis() as u64, *v.lock()));
            }
        });
        let v = value.clone();
        let worker = Node::new("worker").spawn(async move {
            for k in 1..=5u64 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                *v.lock() = 10 * k + 1;
                tokio::task::yield_now().await;
                *v.lock() = 10 * k + 2;
            }
        });
        worker.await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let seen = seen.lock().clone();
        seen
    })
    .expect("the run");
    outcome.value
}

#[test]
fn a_watcher_sees_how_each_instant_ends_and_adds_no_instant() {
    let seen = watch(1, Duration::ZERO);
    // Instant 0 (the start), then each of the worker's instants, ending in its second value,
    // but not the body's last (the run ends there, it does not settle); the watcher itself
    // adds no instant.
    assert_eq!(
        seen,
        vec![(0, 0), (10, 12), (20, 22), (30, 32), (40, 42), (50, 52)],
    );
}

#[test]
fn a_watcher_waits_at_least_as_long_as_asked() {
    let seen = watch(1, Duration::from_millis(15));
    assert_eq!(seen, vec![(20, 22), (40, 42)]);
}

#[test]
fn watching_leaves_the_run_deterministic() {
    let run = |seed| {
        sim::run(&settings(seed), || async {
            sim::spawn(async {
                loop {
                    sim::settled(Duration::ZERO).await;
                }
            });
            for _ in 0..20 {
                let d = sim::random_range(1..10);
                tokio::time::sleep(Duration::from_millis(d)).await;
            }
            sim::now()
        })
        .expect("the run")
    };
    let (a, b) = (run(7), run(7));
    assert_eq!((a.value, a.digest), (b.value, b.digest));
}

/// A run whose only other task waits forever is still a deadlock: the watcher does not keep it
/// going.
#[test]
fn a_watcher_does_not_hide_a_deadlock() {
    let result = sim::run(&settings(3), || async {
        sim::spawn(async {
            loop {
                sim::settled(Duration::ZERO).await;
            }
        });
        std::future::pending::<()>().await;
    });
    let failure = result.expect_err("a deadlock");
    assert!(
        matches!(failure.kind, sim::FailureKind::Deadlock { .. }),
        "{failure}"
    );
}

/// Two watchers: each one's poll is "other code" to the other, yet neither wakes the other
/// again at an instant it was woken at; both see every instant.
#[test]
fn two_watchers_do_not_wake_each_other_without_end() {
    let outcome = sim::run(&settings(5), || async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        for w in 0..2u64 {
            let seen = seen.clone();
            sim::spawn(async move {
                loop {
                    sim::settled(Duration::ZERO).await;
                    seen.lock().push((w, sim::now().as_millis() as u64));
                }
            });
        }
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = seen.lock().clone();
        seen
    })
    .expect("the run");
    assert_eq!(
        outcome.value,
        vec![(0, 0), (1, 0), (0, 10), (1, 10), (0, 20), (1, 20)]
    );
}
