//! Per-node clocks (`labsim::clock`): exact by default, drifting within a bound when a run asks.

use std::time::Duration;

use labsim::{self as sim, clock, Node, RunSettings};

fn settings(seed: u64) -> RunSettings {
    let mut s = RunSettings::new(seed);
    s.thread_name = "sim-clock-test".into();
    s
}

/// Each node's rate, and the virtual time its `clock::sleep(1 s)` took, on `nodes` nodes.
fn rates(seed: u64, drift: f64, nodes: usize) -> Vec<(f64, Duration)> {
    sim::run(&settings(seed), move || async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        clock::set_drift(drift);
        let mut out = Vec::new();
        for i in 0..nodes {
            let node = Node::new(format!("n{i}"));
            let measured = node
                .spawn(async {
                    let rate = clock::rate();
                    assert_eq!(clock::now(), Duration::ZERO, "a node's clock starts at 0");
                    let start = sim::now();
                    clock::sleep(Duration::from_secs(1)).await;
                    let local = clock::now();
                    // At least 1 s, late by tokio's timer granularity (1 ms) at most.
                    let second = Duration::from_secs(1);
                    assert!(
                        local >= second && local - second <= Duration::from_micros(1100),
                        "the node's clock says {local:?} after sleeping 1 s on it"
                    );
                    (rate, sim::now() - start)
                })
                .await
                .unwrap();
            out.push(measured);
        }
        out
    })
    .expect("the run")
    .value
}

#[test]
fn clocks_are_exact_without_a_bound() {
    for (rate, took) in rates(1, 0.0, 3) {
        assert_eq!((rate, took), (1.0, Duration::from_secs(1)));
    }
}

#[test]
fn clocks_drift_within_the_bound_each_at_its_own_rate_and_replay() {
    let a = rates(7, 0.1, 8);
    for &(rate, took) in &a {
        assert!((0.9..=1.1).contains(&rate), "rate {rate}");
        let expected = Duration::from_secs(1).div_f64(rate);
        assert!(
            took >= expected && took - expected <= Duration::from_millis(1),
            "{took:?} vs {expected:?}"
        );
    }
    let distinct: std::collections::BTreeSet<u64> = a.iter().map(|(r, _)| r.to_bits()).collect();
    assert_eq!(distinct.len(), a.len(), "every node draws its own rate");
    assert_eq!(a, rates(7, 0.1, 8), "the same seed draws the same rates");
    assert_ne!(a, rates(8, 0.1, 8));
}

#[test]
fn a_bound_out_of_range_is_refused() {
    let result = sim::run(&settings(1), || async { clock::set_drift(0.5) });
    let failure = result.expect_err("a bound of 0.5 must be refused");
    assert!(
        failure
            .to_string()
            .contains("must be at least 0 and below 0.5"),
        "{failure}"
    );
}

#[test]
fn a_rate_set_later_takes_over_from_the_time_the_clock_reads() {
    let readings = sim::run(&settings(3), || async {
        clock::set_drift(0.2);
        let node = Node::new("n");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = clock::now_of(&node);
        clock::set_rate(&node, 0.8);
        let at_change = clock::now_of(&node);
        tokio::time::sleep(Duration::from_secs(1)).await;
        (before, at_change, clock::now_of(&node))
    })
    .expect("the run")
    .value;
    let (before, at_change, after) = readings;
    assert_eq!(
        before, at_change,
        "the clock does not jump when its rate changes"
    );
    assert_eq!(after - at_change, Duration::from_millis(800));
}

#[test]
fn a_rate_outside_the_bound_is_refused() {
    let result = sim::run(&settings(1), || async {
        clock::set_drift(0.1);
        clock::set_rate(&Node::new("n"), 1.2);
    });
    let failure = result.expect_err("a rate of 1.2 must be refused under a bound of 0.1");
    assert!(
        failure.to_string().contains("within the run's drift bound"),
        "{failure}"
    );
}
