//! Tests of the harness: `labsim::test` and `labsim::Test`, the determinism check, and what a
//! failing grader test reports (the tester's step, the clerk calls, the replay command).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use labsim::{self as sim, Node};

/// The panic message of a test run that failed.
fn report_of(test: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let result = std::panic::catch_unwind(test);
    *result.unwrap_err().downcast::<String>().unwrap()
}

/// The seed a report names on its first line (`seed N, virtual time ...`).
fn seed_of(report: &str) -> u64 {
    let line = report.trim_start();
    let seed = line
        .strip_prefix("seed ")
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    seed.parse().unwrap()
}

/// The replay line a report of test `test` in this binary should end with: its seed, the
/// determinism check if `checked`, and this build's profile.
fn replay_line(report: &str, checked: bool, test: &str) -> String {
    let check = if checked {
        "LAB_CHECK_DETERMINISM=1 "
    } else {
        ""
    };
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    format!(
        "\n  replay: LAB_SEED={} {check}cargo test -p labsim{profile} --test runner {test} -- \
         --exact\n",
        seed_of(report)
    )
}

#[test]
fn the_determinism_check_names_the_first_divergent_event() {
    // A process-global counter: the classic way to make two runs of one seed differ.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let message = report_of(|| {
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
    let replay = replay_line(
        &message,
        true,
        "the_determinism_check_names_the_first_divergent_event",
    );
    assert!(message.contains(&replay), "{message}");
}

#[test]
fn a_deterministic_test_passes_the_determinism_check() {
    sim::Test::new().check_determinism(true).run(|| async {
        let nodes: Vec<Node> = (0..3).map(|i| Node::new(format!("n{i}"))).collect();
        let tasks: Vec<_> = nodes
            .iter()
            .map(|node| {
                node.spawn(async {
                    for _ in 0..20 {
                        let pause = Duration::from_millis(1)..Duration::from_millis(50);
                        tokio::time::sleep(sim::random_duration(pause)).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// The replay command a failure prints rebuilds this test binary in this profile and runs this
/// test, from the workspace root: `--test runner`, not the package's every binary.
#[test]
fn a_failure_replays_with_its_package_profile_binary_and_name() {
    let message = report_of(|| {
        sim::test(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            panic!("the replayed failure");
        })
    });
    assert!(message.contains("panic in tester at "), "{message}");
    let replay = replay_line(
        &message,
        false,
        "a_failure_replays_with_its_package_profile_binary_and_name",
    );
    assert!(message.contains(&replay), "{message}");
}

#[test]
fn a_grader_tests_report_names_the_step_and_the_calls_before_the_replay_line() {
    let message = report_of(|| {
        sim::Test::new()
            .time_limit(Duration::from_secs(10))
            .run(|| async {
                sim::section("Test: basic (3A)");
                let _step = sim::step("waiting for client 0");
                let clerk = Node::new("clerk1");
                clerk
                    .spawn(async {
                        tokio::time::sleep(Duration::from_millis(2345)).await;
                        // A call that never returns: it retries forever, as a clerk with no
                        // leader does.
                        let _call = sim::clerk_call("clerk1", "Get", "\"0\"");
                        loop {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                    .await
                    .unwrap();
            })
    });
    let expected = "virtual seconds (MIT's tests allow 120 s)\n  \
                    tester step: Test: basic (3A) (since 0.000 s) > waiting for client 0 \
                    (since 0.000 s)\n  \
                    clerk calls in flight: clerk1 Get(\"0\") since 2.345 s\n\n  replay: LAB_SEED=";
    assert!(message.contains(expected), "{message}");
}
