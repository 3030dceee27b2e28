//! Verdicts do not depend on the machine: a correct workload passes while the whole test process
//! is stopped and continued from outside, as a loaded CI box or a debugger would do to it.
//!
//! The old watchdog decided "deadlock" from wall time while the runtime was marked parked: a
//! process stopped for 1.5 s while its simulation thread was between two timers looked exactly
//! like a run where nothing could ever wake up. Deadlock is now decided inside the simulation,
//! and the watchdog counts CPU time and time asleep in the kernel, neither of which a stopped
//! process accrues.
//!
//! In a test binary of its own: the stops hit every thread of the process.

use std::process::Command;
use std::time::{Duration, Instant}; // allowed: paces the stops, outside any simulation

use contract::{echo_peer, Ping};
use labrpc::sim::{self, Node};
use labrpc::Network;

/// Three peers pinging each other on timers, with idle gaps: most of the run the simulation
/// thread is parked between timers, where a stop used to be mistaken for a deadlock.
async fn pinging_peers() {
    let net = Network::new();
    let peers: Vec<_> = (0..3)
        .map(|i| echo_peer(&net, &format!("peer{i}")))
        .collect();
    let mut tasks = Vec::new();
    for (i, p) in peers.into_iter().enumerate() {
        let node = Node::new(format!("client{i}"));
        tasks.push(node.spawn(async move {
            for n in 0..50 {
                tokio::time::sleep(sim::random_duration(
                    Duration::from_millis(50)..Duration::from_millis(400),
                ))
                .await;
                assert_eq!(p.end.call(&Ping(n)).await.unwrap(), n);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn a_correct_run_passes_while_the_process_is_stopped_and_continued() {
    let pid = std::process::id();
    // A separate process stops this one for 1.5 s at a time, again and again.
    let mut stopper = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -STOP {pid}; do sleep 1.5; kill -CONT {pid}; sleep 0.2; done"
        ))
        .spawn()
        .expect("cannot start sh to stop and continue the test process");
    let started = Instant::now();
    let mut runs = 0;
    let mut result = Ok(());
    // Long enough to be stopped several times in the middle of runs.
    while started.elapsed() < Duration::from_secs(8) && result.is_ok() {
        runs += 1;
        let mut settings = sim::RunSettings::new(runs);
        // The tightest budgets the watchdog accepts, so that a stop would show if it counted.
        settings.busy_after = Duration::from_millis(300);
        settings.blocked_after = Duration::from_millis(300);
        result = sim::run(&settings, pinging_peers).map(|_| ());
    }
    let _ = stopper.kill();
    let _ = stopper.wait();
    let _ = Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status();
    if let Err(failure) = result {
        panic!("run {runs} failed while the process was being stopped: {failure}");
    }
    assert!(runs > 3, "only {runs} runs in 8 s");
}
