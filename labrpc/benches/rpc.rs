//! Throughput of the simulated RPC network: `cargo bench -p labrpc`.
//!
//! A plain `main` (no criterion): every figure is the best wall time of three repetitions, each
//! repetition a fresh simulation (`labrpc::sim::run`) timed as a whole. Workloads:
//!
//! * `reliable`: a `u64 -> u64` RPC on a reliable network, one end calling sequentially, then
//!   10 client tasks sharing the calls, then the same with a handler that has to wait (it yields
//!   once), which takes the path of kvraft's handlers: a task on the server's node;
//! * `unreliable`: the same with `set_reliable(false)` (0-26 ms virtual delay per request, 10%
//!   of requests and of replies lost), which also reports the virtual time the run covered;
//! * `heartbeat`: 5 nodes, each with a server, each sending a heartbeat to every other node every
//!   100 virtual ms, one spawned task per call (as Raft does), for 1000 virtual seconds, on a
//!   reliable and on an unreliable network.
//!
//! Run without `--bench` (as `cargo test --benches` does), it only checks that every workload
//! works, with small sizes.
//!
//! `LABRPC_BENCH_N` overrides the number of calls of the throughput workloads (default
//! 1,000,000), `LABRPC_BENCH_SECS` the virtual seconds of the heartbeat workloads (default 1000),
//! and `LABRPC_BENCH_ONLY` runs only the workloads whose name starts with it; all three help
//! when profiling (`valgrind --tool=callgrind target/release/deps/rpc-* --bench`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant; // allowed: benchmark wall time

use labrpc::{sim, ClientEnd, Network, Rpc, Server, Service};
use serde::{Deserialize, Serialize};

/// The small request/reply of the throughput workloads.
#[derive(Serialize, Deserialize)]
struct Ping(u64);

impl Rpc for Ping {
    type Reply = u64;
    const NAME: &'static str = "Bench.Ping";
}

/// A heartbeat the size of a Raft AppendEntries with no entries.
#[derive(Serialize, Deserialize)]
struct Heartbeat {
    term: u64,
    leader: u32,
    prev_log_index: u64,
    prev_log_term: u64,
    leader_commit: u64,
}

#[derive(Serialize, Deserialize)]
struct HeartbeatReply {
    term: u64,
    success: bool,
}

impl Rpc for Heartbeat {
    type Reply = HeartbeatReply;
    const NAME: &'static str = "Bench.Heartbeat";
}

const REPETITIONS: usize = 3;
const CLIENT_TASKS: u64 = 10;
const HEARTBEAT_NODES: u32 = 5;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// What one repetition measured.
#[derive(Clone, Copy)]
struct Measure {
    wall: Duration,
    /// Calls handed to the network.
    calls: u64,
    /// Calls that got their reply.
    replies: u64,
    virtual_time: Duration,
}

/// The settings for runs far beyond the test limits: long virtual time, and a reliable
/// sequential run never advances virtual time (calls complete without waiting), which the busy
/// watchdog would otherwise take for a stuck run after 5 s.
fn settings(seed: u64) -> sim::RunSettings {
    let mut settings = sim::RunSettings::new(seed);
    settings.time_limit = Duration::from_secs(10_000_000);
    settings.busy_after = Duration::from_secs(3600);
    settings.thread_name = "bench".to_string();
    settings
}

/// A node with a server answering `Ping(x)` with `x + 1`, and an enabled end to it. With
/// `awaiting_handler`, the handler yields once before answering, so that it cannot finish when
/// first polled and takes the path of handlers that wait (a task of the server's node, which the
/// caller waits for), as kvraft's handlers do while an operation commits.
fn ping_server(net: &Network, awaiting_handler: bool) -> ClientEnd {
    let node = sim::Node::new("server");
    let server = node.enter(|| {
        let mut server = Server::new();
        server.add_service(Service::new("Bench").handle(move |Ping(x)| async move {
            if awaiting_handler {
                tokio::task::yield_now().await;
            }
            x + 1
        }));
        server
    });
    net.add_server("server", server);
    let end = net.make_end("client->server");
    net.connect("client->server", "server");
    net.enable("client->server", true);
    end
}

/// The shape of one throughput workload.
#[derive(Clone, Copy)]
struct Throughput {
    reliable: bool,
    /// Client tasks sharing the calls; 1: the tester calls sequentially itself.
    tasks: u64,
    awaiting_handler: bool,
}

/// `calls` calls of `Ping`, split over `shape.tasks` client tasks.
fn throughput(seed: u64, shape: Throughput, calls: u64) -> Measure {
    let Throughput {
        reliable,
        tasks,
        awaiting_handler,
    } = shape;
    let start = Instant::now(); // allowed: benchmark wall time
    let outcome = sim::run(&settings(seed), move || async move {
        let net = Network::new();
        net.set_reliable(reliable);
        let end = ping_server(&net, awaiting_handler);
        let client = sim::Node::new("client");
        let replies = if tasks == 1 {
            call_many(&end, 0, calls).await
        } else {
            let per_task = calls / tasks;
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let end = end.clone();
                    client.spawn(async move { call_many(&end, t * per_task, per_task).await })
                })
                .collect();
            let mut replies = 0;
            for handle in handles {
                replies += handle.await.expect("client task failed");
            }
            replies
        };
        (net.total_count(), replies)
    })
    .unwrap_or_else(|failure| panic!("benchmark run failed: {failure}"));
    let wall = start.elapsed(); // allowed: benchmark wall time
    let (calls_made, replies) = outcome.value;
    assert_eq!(calls_made, calls, "every call reaches the network");
    if reliable {
        assert_eq!(replies, calls, "a reliable network delivers every reply");
    }
    Measure {
        wall,
        calls: calls_made,
        replies,
        virtual_time: outcome.virtual_time,
    }
}

/// Calls `Ping(first..first + n)`, checking every reply; returns how many replies arrived.
async fn call_many(end: &ClientEnd, first: u64, n: u64) -> u64 {
    let mut replies = 0;
    for x in first..first + n {
        match end.call(&Ping(x)).await {
            Ok(reply) => {
                assert_eq!(reply, x + 1);
                replies += 1;
            }
            Err(e) => assert!(e.is_network(), "{e}"),
        }
    }
    replies
}

/// 5 nodes heartbeating each other every 100 ms for `duration` of virtual time.
fn heartbeat(seed: u64, reliable: bool, duration: Duration) -> Measure {
    let replies = Arc::new(AtomicU64::new(0));
    let counter = replies.clone();
    let start = Instant::now(); // allowed: benchmark wall time
    let outcome = sim::run(&settings(seed), move || async move {
        let net = Network::new();
        net.set_reliable(reliable);
        let nodes: Vec<sim::Node> = (0..HEARTBEAT_NODES)
            .map(|i| sim::Node::new(format!("n{i}")))
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            let server = node.enter(|| {
                let mut server = Server::new();
                server.add_service(Service::new("Bench").handle(|hb: Heartbeat| async move {
                    HeartbeatReply {
                        term: hb.term,
                        success: hb.prev_log_index <= hb.leader_commit,
                    }
                }));
                server
            });
            net.add_server(&format!("s{i}"), server);
        }
        for (i, node) in nodes.iter().enumerate() {
            let peers: Vec<ClientEnd> = (0..HEARTBEAT_NODES as usize)
                .filter(|&j| j != i)
                .map(|j| {
                    let name = format!("n{i}->s{j}");
                    let end = net.make_end(name.as_str());
                    net.connect(&name, &format!("s{j}"));
                    net.enable(&name, true);
                    end
                })
                .collect();
            let counter = counter.clone();
            let leader = i as u32;
            node.spawn(async move {
                let mut term = 1;
                loop {
                    for peer in &peers {
                        let peer = peer.clone();
                        let counter = counter.clone();
                        let args = Heartbeat {
                            term,
                            leader,
                            prev_log_index: term,
                            prev_log_term: term,
                            leader_commit: term,
                        };
                        sim::spawn(async move {
                            if let Ok(reply) = peer.call(&args).await {
                                assert!(reply.success && reply.term == args.term);
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    term += 1;
                    tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                }
            });
        }
        tokio::time::sleep(duration).await;
        net.total_count()
    })
    .unwrap_or_else(|failure| panic!("benchmark run failed: {failure}"));
    let wall = start.elapsed(); // allowed: benchmark wall time
    Measure {
        wall,
        calls: outcome.value,
        replies: replies.load(Ordering::Relaxed),
        virtual_time: outcome.virtual_time,
    }
}

/// The repetition with the least wall time.
fn best_of(repetitions: usize, mut run: impl FnMut(u64) -> Measure) -> Measure {
    (0..repetitions)
        .map(|r| run(r as u64 + 1))
        .min_by_key(|m| m.wall)
        .expect("at least one repetition")
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let calls: u64 = match std::env::var("LABRPC_BENCH_N") {
        Ok(n) => n.parse().expect("LABRPC_BENCH_N: a number of calls"),
        Err(_) if bench => 1_000_000,
        Err(_) => 1_000,
    };
    let heartbeat_time = Duration::from_secs(match std::env::var("LABRPC_BENCH_SECS") {
        Ok(s) => s.parse().expect("LABRPC_BENCH_SECS: virtual seconds"),
        Err(_) if bench => 1000,
        Err(_) => 10,
    });
    let repetitions = if bench { REPETITIONS } else { 1 };
    let only = std::env::var("LABRPC_BENCH_ONLY").unwrap_or_default();

    type Workload = Box<dyn Fn(u64) -> Measure>;
    let mut workloads: Vec<(String, Workload)> = Vec::new();
    for reliable in [true, false] {
        for (tasks, awaiting_handler) in [(1, false), (CLIENT_TASKS, false), (CLIENT_TASKS, true)] {
            let network = if reliable { "reliable" } else { "unreliable" };
            let callers = if tasks == 1 {
                "1 caller".to_string()
            } else {
                format!("{tasks} tasks")
            };
            let handler = if awaiting_handler {
                ", awaiting handler"
            } else {
                ""
            };
            let shape = Throughput {
                reliable,
                tasks,
                awaiting_handler,
            };
            workloads.push((
                format!("{network}, {callers}{handler}"),
                Box::new(move |seed| throughput(seed, shape, calls)),
            ));
        }
    }
    for reliable in [true, false] {
        let network = if reliable { "" } else { ", unreliable" };
        workloads.push((
            format!("heartbeat, {HEARTBEAT_NODES} nodes{network}"),
            Box::new(move |seed| heartbeat(seed, reliable, heartbeat_time)),
        ));
    }

    println!(
        "labrpc simulated RPC throughput: best wall time of {repetitions}, \
         {calls} calls per throughput run, {} virtual s per heartbeat run",
        heartbeat_time.as_secs()
    );
    println!(
        "{:<38} {:>9} {:>9} {:>7} {:>11} {:>7} {:>10} {:>9}",
        "workload", "calls", "replies", "wall s", "RPC/wall s", "ns/RPC", "virtual s", "virt/wall"
    );
    for (name, workload) in &workloads {
        if !name.starts_with(only.as_str()) {
            continue;
        }
        let m = best_of(repetitions, workload);
        let wall = m.wall.as_secs_f64();
        let virtual_s = m.virtual_time.as_secs_f64();
        // Nothing sleeps on a reliable network, so no virtual time passes there at all.
        let virtual_per_wall = if m.virtual_time.is_zero() {
            "-".to_string()
        } else {
            format!("{:.0}", virtual_s / wall)
        };
        println!(
            "{:<38} {:>9} {:>9} {:>7.3} {:>11.0} {:>7.0} {:>10.1} {:>9}",
            name,
            m.calls,
            m.replies,
            wall,
            m.calls as f64 / wall,
            wall * 1e9 / m.calls as f64,
            virtual_s,
            virtual_per_wall,
        );
    }
    println!("MIT's Go labrpc, for comparison: about 22 us (22,000 ns) per RPC");
}
