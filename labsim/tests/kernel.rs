//! Tests of the simulation kernel: determinism, crashes, panics, limits, the watchdog and what
//! a failure says the tester was doing. (The harness's own, of `labsim::test`, are in
//! `runner.rs`.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labsim::{self as sim, FailureKind, Node, RunSettings};

fn settings(seed: u64) -> RunSettings {
    let mut s = RunSettings::new(seed);
    s.thread_name = "sim-test".into();
    s
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
    let a = sim::run(&settings(1), workload).unwrap();
    let b = sim::run(&settings(1), workload).unwrap();
    let c = sim::run(&settings(2), workload).unwrap();
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
    let out = sim::run(&settings(3), || async {
        tokio::time::sleep(Duration::from_secs(100)).await;
        sim::now()
    })
    .unwrap();
    assert_eq!(out.value, Duration::from_secs(100));
    assert!(wall.elapsed() < Duration::from_secs(2));
}

#[test]
fn crashing_a_node_aborts_all_its_tasks() {
    let out = sim::run(&settings(4), || async {
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
    sim::run(&settings(5), || async {
        let node = Node::new("svc");
        let handle = node.enter(|| sim::spawn(async { Node::current().name().to_string() }));
        assert_eq!(handle.await.unwrap(), "svc");
        assert_eq!(Node::current().name(), "tester");
    })
    .unwrap();
}

#[test]
fn a_panicking_node_task_fails_the_run_with_seed_time_and_node() {
    let err = sim::run(&settings(6), || async {
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
                location.as_deref().unwrap().contains("kernel.rs"),
                "{location:?}"
            );
        }
        other => panic!("wrong failure: {other}"),
    }
    assert!(err.to_string().contains("seed 6"), "{err}");
}

#[test]
fn a_tester_panic_fails_the_run() {
    let err = sim::run(&settings(7), || async {
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
    let mut c = settings(8);
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
    let c = settings(9);
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
    let mut c = settings(10);
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

/// A clerk node whose call never returns: it retries forever, as a clerk with no leader does.
async fn stuck_clerk_call(clerk: &'static str, key: &'static str) {
    let _call = sim::clerk_call(clerk, "Get", &format!("{key:?}"));
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_run_past_its_time_limit_names_the_tester_step_and_the_clerk_calls_in_flight() {
    let err = sim::run(&settings(11), || async {
        {
            let _done = sim::step("a step that ended");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let _outer = sim::step("running clients");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let clerk = Node::new("clerk3");
        clerk.spawn(stuck_clerk_call("clerk3", "k1"));
        // A call that finished is not in flight any more.
        drop(sim::clerk_call("clerk4", "Put", "\"gone\""));
        tokio::time::sleep(Duration::from_millis(345)).await;
        let _inner = sim::step(format!("waiting for {} clients", 1));
        tokio::time::sleep(Duration::from_secs(1000)).await;
    })
    .unwrap_err();
    assert!(matches!(err.kind, FailureKind::TimeLimit { .. }), "{err}");
    assert_eq!(
        err.context,
        [
            "tester step: running clients (since 1.000 s) > waiting for 1 clients (since 3.345 s)",
            "clerk calls in flight: clerk3 Get(\"k1\") since 3.000 s",
        ],
        "{err}"
    );
    let report = err.to_string();
    assert!(
        report.contains("\n  tester step: running clients (since 1.000 s)"),
        "{report}"
    );
    assert!(
        report.contains("\n  clerk calls in flight: clerk3 Get(\"k1\") since 3.000 s"),
        "{report}"
    );
}

#[test]
fn a_deadlock_a_panic_and_a_busy_loop_name_the_step_too() {
    let deadlock = sim::run(&settings(12), || async {
        let _step = sim::step("waiting for a reply");
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        rx.await.unwrap();
    })
    .unwrap_err();
    assert!(
        matches!(deadlock.kind, FailureKind::Deadlock { .. }),
        "{deadlock}"
    );
    assert_eq!(
        deadlock.context,
        ["tester step: waiting for a reply (since 0.000 s)"]
    );

    let panic = sim::run(&settings(13), || async {
        let _step = sim::step("checking");
        let _call = sim::clerk_call("clerk0", "Append", "\"x\"");
        tokio::time::sleep(Duration::from_secs(1)).await;
        panic!("wrong value");
    })
    .unwrap_err();
    assert!(matches!(panic.kind, FailureKind::Panic { .. }), "{panic}");
    assert_eq!(
        panic.context,
        [
            "tester step: checking (since 0.000 s)",
            "clerk calls in flight: clerk0 Append(\"x\") since 0.000 s",
        ]
    );

    // The watchdog reads the registry from its own thread while the simulation thread spins.
    let mut c = settings(14);
    c.busy_after = Duration::from_millis(300);
    let busy = sim::run(&c, || async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _step = sim::step("waiting for agreement");
        let node = Node::new("spinner");
        node.spawn(async {
            let _call = sim::clerk_call("clerk7", "Query", "None");
            loop {
                tokio::task::yield_now().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    })
    .unwrap_err();
    assert!(matches!(busy.kind, FailureKind::Busy { .. }), "{busy}");
    assert_eq!(
        busy.context,
        [
            "tester step: waiting for agreement (since 2.000 s)",
            "clerk calls in flight: clerk7 Query(None) since 2.000 s",
        ]
    );
}

#[test]
fn no_step_no_context_and_more_than_ten_calls_are_capped() {
    let err = sim::run(&settings(15), || async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        panic!("plain");
    })
    .unwrap_err();
    assert!(err.context.is_empty(), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");

    let err = sim::run(&settings(16), || async {
        let _calls: Vec<_> = (0..13)
            .map(|k| sim::clerk_call(&format!("clerk{k}"), "Get", &format!("\"k{k}\"")))
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        panic!("many");
    })
    .unwrap_err();
    let calls = &err.context[0];
    assert!(calls.starts_with("clerk calls in flight: clerk0 Get(\"k0\")"));
    assert!(calls.contains("clerk9 Get(\"k9\")"), "{calls}");
    assert!(!calls.contains("clerk10 "), "{calls}");
    assert!(calls.ends_with("; and 3 more"), "{calls}");
}

#[test]
fn result_fields_add_up_and_reach_the_outcome() {
    let out = sim::run(&settings(17), || async {
        sim::add_to_result("rpcs", 40);
        sim::add_to_result("rpcs", 2);
        sim::add_to_result("ops", 7);
    })
    .unwrap();
    assert_eq!(
        out.results.into_iter().collect::<Vec<_>>(),
        [("ops", 7), ("rpcs", 42)]
    );
    // Outside a simulation a step or call registers nothing (and does not panic).
    drop(sim::step("outside"));
    drop(sim::clerk_call("clerk1", "Get", "\"k\""));
}
