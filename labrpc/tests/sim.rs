//! Tests of the simulation runtime itself: determinism, crashes, panics, limits and the watchdog.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim::{self, Config, FailureKind, Node};

fn config(seed: u64) -> Config {
    let mut c = Config::new(seed);
    c.thread_name = "sim-test".into();
    c
}

/// A small workload whose events depend on the seed: nodes that sleep random times and count.
async fn workload() -> u64 {
    let mut total = 0;
    let nodes: Vec<Node> = (0..3).map(|i| Node::new(format!("n{i}"))).collect();
    let mut tasks = Vec::new();
    for node in &nodes {
        tasks.push(node.spawn(async {
            let mut sum = 0;
            for _ in 0..20 {
                tokio::time::sleep(sim::random_duration(
                    Duration::from_millis(1)..Duration::from_millis(50),
                ))
                .await;
                sum += sim::random_range(0..1000);
            }
            sum
        }));
    }
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

#[test]
fn same_seed_same_digest_different_seed_different_digest() {
    let a = sim::run(&config(1), workload).unwrap();
    let b = sim::run(&config(1), workload).unwrap();
    let c = sim::run(&config(2), workload).unwrap();
    assert_eq!(
        (a.value, a.digest, a.events, a.virtual_time),
        (b.value, b.digest, b.events, b.virtual_time)
    );
    assert_ne!(a.digest, c.digest);
    assert!(a.events > 120, "{}", a.events);
}

#[test]
fn virtual_time_costs_no_wall_time() {
    let wall = std::time::Instant::now(); // allowed: the test measures that virtual time is free
    let out = sim::run(&config(3), || async {
        tokio::time::sleep(Duration::from_secs(100)).await;
        sim::now()
    })
    .unwrap();
    assert_eq!(out.value, Duration::from_secs(100));
    assert!(wall.elapsed() < Duration::from_secs(2));
}

#[test]
fn crashing_a_node_aborts_all_its_tasks() {
    let out = sim::run(&config(4), || async {
        let ticks = Arc::new(AtomicU32::new(0));
        let node = Node::new("victim");
        for _ in 0..3 {
            let ticks = ticks.clone();
            node.spawn(async move {
                // Tasks spawned by the node's tasks belong to the node too.
                let inner = ticks.clone();
                sim::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        inner.fetch_add(1, Ordering::SeqCst);
                    }
                });
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(105)).await;
        node.crash();
        assert!(!node.is_alive());
        let at_crash = ticks.load(Ordering::SeqCst);
        assert_eq!(at_crash, 60);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // A spawn on a crashed node never runs.
        let late = node.spawn(async { unreachable!("a crashed node's task ran") });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(late.await.unwrap_err().is_cancelled());
        ticks.load(Ordering::SeqCst) - at_crash
    })
    .unwrap();
    assert_eq!(out.value, 0, "tasks of a crashed node kept running");
}

#[test]
fn node_enter_puts_spawned_tasks_on_that_node() {
    sim::run(&config(5), || async {
        let node = Node::new("svc");
        let handle = node.enter(|| sim::spawn(async { Node::current().name().to_string() }));
        assert_eq!(handle.await.unwrap(), "svc");
        assert_eq!(Node::current().name(), "tester");
    })
    .unwrap();
}

#[test]
fn a_panicking_node_task_fails_the_run_with_seed_time_and_node() {
    let err = sim::run(&config(6), || async {
        let node = Node::new("buggy");
        node.spawn(async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            panic!("index out of range in append_entries");
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .unwrap_err();
    assert_eq!(err.seed, 6);
    assert_eq!(err.at, Duration::from_millis(1500));
    match &err.kind {
        FailureKind::Panic {
            message,
            node,
            location,
        } => {
            assert_eq!(message, "index out of range in append_entries");
            assert_eq!(node, "buggy");
            assert!(
                location.as_deref().unwrap().contains("sim.rs"),
                "{location:?}"
            );
        }
        other => panic!("wrong failure: {other}"),
    }
    assert!(err.to_string().contains("seed 6"), "{err}");
}

#[test]
fn a_tester_panic_fails_the_run() {
    let err = sim::run(&config(7), || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(1 + 1, 3, "arithmetic is broken");
    })
    .unwrap_err();
    assert_eq!(err.at, Duration::from_secs(2));
    assert!(
        matches!(&err.kind, FailureKind::Panic { node, .. } if node == "tester"),
        "{err}"
    );
}

#[test]
fn the_time_limit_is_virtual_and_enforced() {
    let mut c = config(8);
    c.time_limit = Duration::from_secs(120);
    let err = sim::run(&c, || async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .unwrap_err();
    assert!(matches!(err.kind, FailureKind::TimeLimit { .. }), "{err}");
    assert!(
        err.at > Duration::from_secs(120) && err.at < Duration::from_millis(120_200),
        "{err}"
    );
}

#[test]
fn a_deadlock_is_found_inside_the_simulation_at_once() {
    let wall = std::time::Instant::now(); // allowed: checks the verdict's wall-time bound
    let c = config(9);
    let err = sim::run(&c, || async {
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::time::sleep(Duration::from_secs(3)).await;
        rx.await.unwrap(); // nobody ever sends
    })
    .unwrap_err();
    assert!(matches!(err.kind, FailureKind::Deadlock { .. }), "{err}");
    assert_eq!(err.at, Duration::from_secs(3));
    // No wall-time wait at all: the clock's jump to the sentinel is the verdict.
    assert!(
        wall.elapsed() < Duration::from_secs(2),
        "{:?}",
        wall.elapsed()
    );
    assert!(err.to_string().contains("deadlock"), "{err}");
}

#[test]
fn the_watchdog_diagnoses_a_busy_loop() {
    let wall = std::time::Instant::now(); // allowed: checks the watchdog's wall-time bound
    let mut c = config(10);
    c.busy_after = Duration::from_millis(300);
    let err = sim::run(&c, || async {
        let node = Node::new("spinner");
        node.spawn(async {
            loop {
                tokio::task::yield_now().await; // never lets the clock move
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .unwrap_err();
    assert!(
        matches!(
            err.kind,
            FailureKind::Busy {
                unresponsive: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "{:?}",
        wall.elapsed()
    );
}

#[test]
fn the_determinism_check_names_the_first_divergent_event() {
    use std::sync::atomic::AtomicU64;
    // A process-global counter: the classic way to make two runs of one seed differ.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let result = std::panic::catch_unwind(|| {
        sim::Test::new().check_determinism(true).run(|| async {
            let node = Node::new("n");
            let _ = sim::random_u64();
            let extra = RUNS.fetch_add(1, Ordering::SeqCst);
            node.spawn(async move {
                tokio::time::sleep(Duration::from_millis(10 + extra)).await;
                sim::random_u64()
            })
            .await
            .unwrap();
        })
    });
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("nondeterminism"), "{message}");
    assert!(message.contains("event #2"), "{message}");
    assert!(
        message.contains("first run:  [     0.010 s] rng stream 2"),
        "{message}"
    );
    assert!(
        message.contains("second run: [     0.011 s] rng stream 2"),
        "{message}"
    );
    assert!(message.contains("replay: LAB_SEED="), "{message}");
}

#[test]
fn a_deterministic_test_passes_the_determinism_check() {
    sim::Test::new().check_determinism(true).run(|| async {
        workload().await;
    });
}
