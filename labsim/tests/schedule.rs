//! Schedule exploration (`RunSettings::explore_schedules`): the order of tasks ready at one
//! virtual instant depends on the seed, and only on the seed.

use std::sync::Arc;
use std::time::Duration;

use labsim::{self as sim, Node, RunSettings};
use parking_lot::Mutex;

fn settings(seed: u64, explore: bool) -> RunSettings {
    let mut s = RunSettings::new(seed);
    s.thread_name = "sim-schedule-test".into();
    s.explore_schedules = explore;
    s
}

/// Four tasks on four nodes wake at the same instant (each after exactly 5 ms, as a reliable
/// network delivers) and note their number; each also draws a random number. Returns the order
/// they ran in, their draws, and the virtual time at the end.
fn race(seed: u64, explore: bool) -> (Vec<u64>, Vec<u64>, Duration, u64) {
    let outcome = sim::run(&settings(seed, explore), || async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let order = order.clone();
                Node::new(format!("n{i}")).spawn(async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    order.lock().push(i);
                    sim::random_range(0..1_000_000)
                })
            })
            .collect();
        let mut draws = Vec::new();
        for task in tasks {
            draws.push(task.await.unwrap());
        }
        let order = order.lock().clone();
        (order, draws, sim::now())
    })
    .expect("the run");
    let (order, draws, at) = outcome.value;
    (order, draws, at, outcome.digest)
}

#[test]
fn the_seed_decides_the_order_of_tasks_ready_at_one_instant() {
    let orders: std::collections::BTreeSet<Vec<u64>> =
        (1..=40).map(|seed| race(seed, true).0).collect();
    assert!(
        orders.len() >= 6,
        "40 seeds gave only {} orders of 4 simultaneous tasks: {orders:?}",
        orders.len()
    );
}

#[test]
fn a_seed_replays_its_order() {
    for seed in 1..=10 {
        assert_eq!(race(seed, true), race(seed, true), "seed {seed}");
    }
}

/// Exploring changes only the order: not what the nodes draw, not the virtual time.
#[test]
fn exploring_changes_nothing_but_the_order() {
    for seed in 1..=10 {
        let (explored, draws, at, _) = race(seed, true);
        let (fifo, fifo_draws, fifo_at, _) = race(seed, false);
        assert_eq!(fifo, [0, 1, 2, 3], "off, tokio's first-in, first-out order");
        assert_eq!(draws, fifo_draws, "seed {seed}: the nodes' draws changed");
        assert_eq!(at, fifo_at);
        let mut sorted = explored.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3]);
    }
}
