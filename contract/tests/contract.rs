//! One test per rule of the handout, each on a peer that breaks it: the verdict, the words of
//! the diagnosis (the rule, the peer, the fix), and a bound on how long it takes to come.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use contract::{assert_mentions, echo_peer, failure_of, peer, settings, Ping, VERDICT_WITHIN};
use labrpc::sim::{self, FailureKind, Node};
use labrpc::{Network, MAX_MESSAGE_BYTES};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[track_caller]
fn assert_in_time(wall: Duration) {
    assert!(wall < VERDICT_WITHIN, "the verdict took {wall:?}");
}

// ---- Blocking the simulation thread ----

/// `std::thread::sleep` in a peer's ticker: every tick blocks the one simulation thread. It used
/// to pass, 30 times slower; now the run fails as blocked, naming the sleep and the peer.
#[test]
fn thread_sleep_in_a_task_is_a_blocked_thread() {
    let (failure, wall) = failure_of(&settings(1), || async {
        let node = Node::new("peer1");
        node.spawn(async {
            loop {
                std::thread::sleep(ms(5)); // allowed: the mistake under test
                tokio::time::sleep(ms(10)).await;
            }
        });
        tokio::time::sleep(Duration::from_secs(100)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Blocked { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &[
            "blocked",
            "peer1",
            "std::thread::sleep",
            "tokio::time::sleep",
        ],
    );
    assert_in_time(wall);
}

/// A lock taken twice by the same task: the thread waits for itself forever.
#[test]
fn a_lock_taken_twice_is_a_blocked_thread_not_a_busy_loop() {
    let (failure, wall) = failure_of(&settings(2), || async {
        let node = Node::new("peer2");
        let state = Arc::new(parking_lot::Mutex::new(0));
        node.spawn(async move {
            tokio::time::sleep(ms(300)).await;
            let _first = state.lock();
            let _second = state.lock(); // the mistake under test
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Blocked { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &[
            "blocked",
            "peer2",
            "futex",
            "lock taken twice",
            "contract.rs",
        ],
    );
    // The verdict names the virtual time the thread stopped at.
    assert_eq!(failure.at, ms(300), "{failure}");
    assert_in_time(wall);
}

/// A blocking channel receive in a task: nothing on the simulation thread can ever send.
#[test]
fn a_blocking_recv_is_a_blocked_thread() {
    let (failure, wall) = failure_of(&settings(3), || async {
        let node = Node::new("peer3");
        let (_tx, rx) = std::sync::mpsc::channel::<u64>();
        node.spawn(async move {
            let _ = rx.recv(); // the mistake under test
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Blocked { .. }),
        "{failure}"
    );
    assert_mentions(&failure.to_string(), &["peer3", "blocking channel receive"]);
    assert_in_time(wall);
}

/// A task that spins without ever awaiting a timer: busy, named with its peer and spawn site.
#[test]
fn a_busy_loop_names_the_peer_and_the_task() {
    let (failure, wall) = failure_of(&settings(4), || async {
        let node = Node::new("peer4");
        node.spawn(async {
            loop {
                tokio::task::yield_now().await; // never lets the clock move
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Busy { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &[
            "busy loop",
            "peer4",
            "task spawned at",
            "contract.rs",
            "CPU time",
        ],
    );
    assert_in_time(wall);
}

/// A loop that never returns to the scheduler at all: given a verdict, and abandoned.
#[test]
fn a_loop_that_never_yields_is_busy_and_abandoned() {
    let (failure, wall) = failure_of(&settings(5), || async {
        let node = Node::new("peer5");
        let spin = Arc::new(AtomicU64::new(0));
        node.spawn(async move {
            tokio::time::sleep(ms(50)).await;
            loop {
                spin.fetch_add(1, Ordering::Relaxed); // the mistake under test
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert!(
        matches!(
            failure.kind,
            FailureKind::Busy {
                unresponsive: true,
                ..
            }
        ),
        "{failure}"
    );
    assert_mentions(&failure.to_string(), &["peer5", "abandoned"]);
    assert_in_time(wall);
}

// ---- Code outside its node ----

/// `tokio::spawn` instead of `labrpc::sim::spawn`: the task would survive its peer's crash.
#[test]
fn tokio_spawn_is_caught_even_when_the_task_behaves() {
    let (failure, wall) = failure_of(&settings(6), || async {
        let node = Node::new("peer6");
        node.enter(|| {
            tokio::spawn(async {
                loop {
                    tokio::time::sleep(ms(100)).await;
                }
            })
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Rule { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &["tokio::spawn", "labrpc::sim::spawn"],
    );
    assert_eq!(failure.at, Duration::ZERO, "caught at once: {failure}");
    assert_in_time(wall);
}

/// A panic in a `tokio::spawn`ed task: tokio would print it and carry on; the run fails.
#[test]
fn a_panic_in_a_tokio_spawned_task_fails_the_run() {
    let (failure, wall) = failure_of(&settings(7), || async {
        tokio::spawn(async {
            tokio::time::sleep(ms(10)).await;
            panic!("lost in a foreign task");
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    assert_mentions(&failure.to_string(), &["tokio::spawn"]);
    assert_in_time(wall);
}

/// A task outside every node that calls an RPC or draws a random number is named as such.
#[test]
fn a_foreign_task_using_the_simulation_is_told_the_rule() {
    let net_slot = Arc::new(parking_lot::Mutex::new(None));
    let (failure, _) = failure_of(&settings(8), move || async move {
        let net = Network::new();
        let p = echo_peer(&net, "peer8");
        *net_slot.lock() = Some(net);
        // The foreign task is polled before the runtime parks, so its use of the network is what
        // the run reports first.
        tokio::spawn(async move { p.end.call(&Ping(1)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert_mentions(
        &failure.to_string(),
        &[
            "outside every node",
            "ClientEnd::call",
            "labrpc::sim::spawn",
        ],
    );
}

/// A std::thread with a runtime of its own calling a peer: named, and the run fails.
#[test]
fn a_foreign_thread_calling_a_peer_fails_the_run() {
    let mut settings = settings(9);
    settings.time_limit = Duration::from_secs(3600);
    let (failure, wall) = failure_of(&settings, || async {
        let net = Network::new();
        let p = echo_peer(&net, "peer9");
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let _ = runtime.block_on(p.end.call(&Ping(1))); // the mistake under test
            flag.store(true, Ordering::SeqCst);
        });
        // Virtual time runs on while the thread starts (the simulation never waits for it).
        while !done.load(Ordering::SeqCst) {
            tokio::time::sleep(ms(1)).await;
        }
        tokio::time::sleep(ms(1)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Rule { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &["not the simulation's", "std::thread", "ClientEnd::call"],
    );
    assert_in_time(wall);
}

/// An end belongs to the node that first used it: peer A calling through peer B's end is
/// caught (a task running for one peer on another's node).
#[test]
fn an_end_used_from_another_node_is_caught() {
    let (failure, _) = failure_of(&settings(10), || async {
        let net = Network::new();
        let target = echo_peer(&net, "target");
        let a = Node::new("peerA");
        let b = Node::new("peerB");
        let end = target.end.clone();
        a.spawn(async move { end.call(&Ping(1)).await })
            .await
            .unwrap()
            .unwrap();
        let end = target.end.clone();
        let _ = b.spawn(async move { end.call(&Ping(2)).await }).await;
        tokio::time::sleep(ms(10)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Rule { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &["first used by peerA", "now by peerB"],
    );
}

// ---- Panics ----

/// A panic in a handler: the run fails, naming the peer that panicked and where.
#[test]
fn a_panic_in_a_handler_names_the_peer() {
    let (failure, _) = failure_of(&settings(11), || async {
        let net = Network::new();
        let p = peer(&net, "peer11", |Ping(n)| async move {
            assert!(n < 5, "handler got {n}");
            n
        });
        for n in 0..10 {
            let _ = p.end.call(&Ping(n)).await;
        }
    });
    assert!(
        matches!(&failure.kind, FailureKind::Panic { node, .. } if node == "peer11"),
        "{failure}"
    );
    assert_mentions(&failure.to_string(), &["handler got 5", "contract.rs"]);
}

/// A panic in a task, even one whose JoinHandle nobody awaits, and even one that lab code
/// catches itself: any panic on the simulation thread fails the run.
#[test]
fn a_panic_in_a_task_fails_the_run_even_if_caught() {
    let (failure, _) = failure_of(&settings(12), || async {
        let node = Node::new("peer12");
        node.spawn(async {
            tokio::time::sleep(ms(20)).await;
            let _ = std::panic::catch_unwind(|| panic!("hidden by catch_unwind"));
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert!(
        matches!(&failure.kind, FailureKind::Panic { node, .. } if node == "peer12"),
        "{failure}"
    );
    assert_eq!(failure.at, ms(20));
}

/// A tester check on a peer's node (like MIT's per-peer applier) that fails is the tester's
/// failure, not the peer's.
#[test]
fn a_tester_task_on_a_peer_blames_the_tester() {
    let (failure, _) = failure_of(&settings(13), || async {
        let node = Node::new("peer13");
        node.spawn_tester(async {
            tokio::time::sleep(ms(20)).await;
            panic!("applied out of order");
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    assert!(
        matches!(&failure.kind, FailureKind::Panic { node, .. } if node == "tester (its task on peer13)"),
        "{failure}"
    );
}

// ---- Messages ----

/// A reply larger than the network carries fails at once, with the RPC's name and size.
#[test]
fn a_huge_reply_is_too_large_not_a_busy_loop() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct GetAll;
    impl labrpc::Rpc for GetAll {
        type Reply = String;
        const NAME: &'static str = "Peer.GetAll";
    }
    let (failure, wall) = failure_of(&settings(14), || async {
        let net = Network::new();
        let node = Node::new("peer14");
        let server = node.enter(|| {
            let mut server = labrpc::Server::new();
            server.add_service(
                labrpc::Service::new("Peer")
                    .handle(|GetAll| async { "x".repeat(MAX_MESSAGE_BYTES + 1) }),
            );
            server
        });
        net.add_server("peer14", server);
        let end = net.make_end("e");
        net.connect("e", "peer14");
        net.enable("e", true);
        let _ = end.call(&GetAll).await;
        tokio::time::sleep(ms(10)).await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Rule { .. }),
        "{failure}"
    );
    assert_mentions(
        &failure.to_string(),
        &["Peer.GetAll", "reply", "MAX_MESSAGE_BYTES"],
    );
    assert_in_time(wall);
}

// ---- Crashes ----

/// A task spawned from a call the tester makes into the peer (`start()`) belongs to the peer
/// when the tester calls through `Node::enter`, as every tester does: the peer's crash stops it.
#[test]
fn a_task_spawned_from_a_tester_call_dies_with_the_peer() {
    sim::run(&settings(15), || async {
        struct Raftish {
            sent: Arc<AtomicU64>,
        }
        impl Raftish {
            fn start(&self) {
                let sent = self.sent.clone();
                sim::spawn(async move {
                    loop {
                        tokio::time::sleep(ms(10)).await;
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        }
        let node = Node::new("peer15");
        let rf = Raftish {
            sent: Arc::new(AtomicU64::new(0)),
        };
        node.enter(|| rf.start());
        tokio::time::sleep(ms(105)).await;
        node.crash();
        let at_crash = rf.sent.load(Ordering::SeqCst);
        assert_eq!(at_crash, 10);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            rf.sent.load(Ordering::SeqCst),
            at_crash,
            "the task outlived its peer"
        );
    })
    .unwrap();
}

// ---- Deadlock ----

/// Every task waits and no timer is pending: found inside the simulation at once, at the
/// virtual time it happened, with who was waiting.
#[test]
fn a_deadlock_is_decided_in_virtual_time_and_names_the_waiters() {
    let (failure, wall) = failure_of(&settings(16), || async {
        let node = Node::new("peer16");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        node.spawn(async move {
            tokio::time::sleep(ms(700)).await;
            let _keep = tx;
            std::future::pending::<()>().await; // holds the sender, never sends
        });
        let _ = rx.await;
    });
    assert!(
        matches!(failure.kind, FailureKind::Deadlock { .. }),
        "{failure}"
    );
    assert_eq!(failure.at, ms(700));
    assert_mentions(&failure.to_string(), &["deadlock", "peer16 (1 task)"]);
    assert!(wall < Duration::from_secs(5), "{wall:?}");
}

// ---- Determinism ----

/// Runs `body` under the determinism check and returns the report it panics with.
fn determinism_report<F, Fut>(body: F) -> String
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sim::Test::new()
            .package("contract")
            .check_determinism(true)
            .run(body)
    }));
    match result {
        Ok(()) => panic!("the determinism check passed a nondeterministic peer"),
        Err(payload) => *payload.downcast::<String>().unwrap(),
    }
}

/// Election timeouts from the thread RNG: two runs of a seed differ, and the check says where
/// and why; its replay line checks determinism too, so it reproduces as printed.
#[test]
fn a_thread_rng_is_caught_by_the_determinism_check() {
    let report = determinism_report(|| async {
        use rand::RngExt;
        let net = Network::new();
        let p = echo_peer(&net, "peer17");
        let node = Node::new("candidate");
        node.spawn(async move {
            // The mistake under test, four times: two runs drawing the same timeouts pass the
            // check, and with one draw of 300 values that was 1 run in 300.
            for _ in 0..4 {
                let timeout = rand::rng().random_range(300..600);
                tokio::time::sleep(ms(timeout)).await;
                let _ = p.end.call(&Ping(1)).await;
            }
        })
        .await
        .unwrap();
    });
    assert_mentions(
        &report,
        &[
            "nondeterminism",
            "rand::thread_rng",
            "LAB_CHECK_DETERMINISM=1 cargo test -p contract",
        ],
    );
}

/// Timing from the wall clock: how many virtual ticks fit in a millisecond of wall time differs
/// from run to run.
#[test]
fn the_wall_clock_is_caught_by_the_determinism_check() {
    let report = determinism_report(|| async {
        let net = Network::new();
        let p = echo_peer(&net, "peer18");
        let node = Node::new("candidate");
        node.spawn(async move {
            let deadline = std::time::Instant::now() + ms(2); // allowed: the mistake under test
            let wall_clock = std::time::Instant::now; // allowed: the mistake under test
            while wall_clock() < deadline {
                tokio::time::sleep(ms(1)).await;
            }
            let _ = p.end.call(&Ping(1)).await;
        })
        .await
        .unwrap();
    });
    assert_mentions(&report, &["nondeterminism", "std::time::Instant"]);
}

/// Sending to peers in `HashMap` order: the order differs between runs (each run's thread has
/// its own hash keys).
#[test]
fn hashmap_order_is_caught_by_the_determinism_check() {
    let report = determinism_report(|| async {
        let net = Network::new();
        let mut peers = HashMap::new(); // the mistake under test: iterated below
        for i in 0..8 {
            peers.insert(format!("p{i}"), echo_peer(&net, &format!("peer{i}")).end);
        }
        for end in peers.values() {
            let _ = end.call(&Ping(1)).await;
        }
    });
    assert_mentions(&report, &["nondeterminism", "HashMap"]);
}

/// `tokio::select!` without `biased;` picks among ready branches at random, from the runtime's
/// RNG, which the simulation seeds from the run's seed: two runs pick alike.
#[test]
#[cfg_attr(
    not(tokio_unstable),
    ignore = "needs --cfg tokio_unstable (.cargo/config.toml) to seed tokio's RNG"
)]
fn select_without_biased_replays() {
    sim::Test::new()
        .package("contract")
        .check_determinism(true)
        .run(|| async {
            let node = Node::new("peer19");
            node.spawn(async {
                for _ in 0..50 {
                    let picked = tokio::select! {
                        a = std::future::ready(1) => a,
                        b = std::future::ready(2) => b,
                        c = std::future::ready(3) => c,
                    };
                    // The pick reaches the digest through the range of a draw.
                    sim::random_range(0..picked * 1000);
                    tokio::time::sleep(ms(picked)).await;
                }
            })
            .await
            .unwrap();
        });
}

/// A failure the traced replay does not reproduce says so, instead of a confident diagnosis,
/// and its replay line checks determinism, since a plain replay would pass.
#[test]
fn a_failure_that_does_not_reproduce_says_so() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let result = std::panic::catch_unwind(|| {
        sim::Test::new().package("contract").run(|| async {
            tokio::time::sleep(ms(10)).await;
            // A process-global counter: the first run fails, the replay passes.
            assert!(
                RUNS.fetch_add(1, Ordering::SeqCst) > 0,
                "only the first time"
            );
        })
    });
    let report = *result.unwrap_err().downcast::<String>().unwrap();
    assert_mentions(
        &report,
        &[
            "only the first time",
            "did not reproduce on replay (the same seed passed)",
            "nondeterministic",
            "LAB_CHECK_DETERMINISM=1 cargo test -p contract",
        ],
    );
}
