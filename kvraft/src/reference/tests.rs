//! Smoke tests of the reference service on a small simulated cluster (the grader suite is in
//! `kvraft/tests/`).

use std::time::Duration;

use labrpc::sim::{self, Node};
use labrpc::{ClientEnd, Network, Server};
use raft::{Configuration, Persister};
use tokio::time::{sleep, Instant};

use super::{Clerk, KvServer};
use crate::Reads;

/// A cluster of `n` servers on a reliable network, with restartable servers (also used by
/// `membership_tests.rs`, with servers whose configuration changes).
pub(super) struct Cluster {
    pub(super) net: Network,
    pub(super) n: usize,
    max_raft_state: Option<usize>,
    reads: Reads,
    /// `Some` for servers made with membership (raft's lab 2F): the configuration every one
    /// of them starts from, members or not.
    configuration: Option<Configuration>,
    nodes: Vec<Node>,
    pub(super) servers: Vec<Option<KvServer>>,
    pub(super) persisters: Vec<Persister>,
    /// Incarnations started so far, to give every node and end a fresh name.
    pub(super) generation: usize,
}

impl Cluster {
    fn new(n: usize, max_raft_state: Option<usize>) -> Cluster {
        Cluster::with_reads(n, max_raft_state, Reads::Log)
    }

    fn with_reads(n: usize, max_raft_state: Option<usize>, reads: Reads) -> Cluster {
        Cluster::build(n, max_raft_state, reads, None)
    }

    /// A universe of `n` servers whose configuration changes through the log, all made with
    /// `initial`; only its members are started: start the others ([`Cluster::start`]) when
    /// they are to join.
    pub(super) fn with_membership(
        n: usize,
        max_raft_state: Option<usize>,
        initial: Configuration,
    ) -> Cluster {
        Cluster::build(n, max_raft_state, Reads::Log, Some(initial))
    }

    fn build(
        n: usize,
        max_raft_state: Option<usize>,
        reads: Reads,
        configuration: Option<Configuration>,
    ) -> Cluster {
        let mut cluster = Cluster {
            net: Network::new(),
            n,
            max_raft_state,
            reads,
            configuration,
            nodes: Vec::new(),
            servers: Vec::new(),
            persisters: Vec::new(),
            generation: 0,
        };
        for i in 0..n {
            cluster.nodes.push(Node::new(format!("kv-{i}")));
            cluster.servers.push(None);
            cluster.persisters.push(Persister::new());
            if cluster.configuration.as_ref().is_none_or(|c| c.contains(i)) {
                cluster.start(i);
            }
        }
        cluster
    }

    /// Ends from a new client (or server incarnation) named `who` to every server, enabled.
    pub(super) fn ends(&self, who: &str) -> Vec<ClientEnd> {
        (0..self.n)
            .map(|j| {
                let name = format!("{who}->{j}");
                let end = self.net.make_end(name.clone());
                self.net.connect(&name, &j.to_string());
                self.net.enable(&name, true);
                end
            })
            .collect()
    }

    pub(super) fn start(&mut self, i: usize) {
        self.generation += 1;
        let ends = self.ends(&format!("kv-{i}.{}", self.generation));
        let node = Node::new(format!("kv-{i}.{}", self.generation));
        let persister = self.persisters[i].clone();
        let (max, reads) = (self.max_raft_state, self.reads);
        let configuration = self.configuration.clone();
        let (kv, server) = node.enter(|| {
            let kv = match configuration {
                None => KvServer::with_reads(ends, i, persister, max, reads),
                Some(c) => KvServer::with_membership(ends, i, persister, max, reads, c),
            };
            let mut server = Server::new();
            for service in kv.services() {
                server.add_service(service);
            }
            (kv, server)
        });
        self.net.add_server(&i.to_string(), server);
        self.nodes[i] = node;
        self.servers[i] = Some(kv);
    }

    /// Runs `f` on server `i` if it is up, as code of its node: what the call spawns (Raft
    /// sends its new entry at once) belongs to the server and dies with it.
    pub(super) fn on_server<R>(&self, i: usize, f: impl FnOnce(&KvServer) -> R) -> Option<R> {
        let kv = self.servers[i].as_ref()?;
        Some(self.nodes[i].enter(|| f(kv)))
    }

    /// Crashes server `i`, as MIT's `ShutdownServer`: only a copy of its persister survives.
    pub(super) fn crash(&mut self, i: usize) {
        self.net.delete_server(&i.to_string());
        self.nodes[i].crash();
        if let Some(kv) = self.servers[i].take() {
            kv.kill();
        }
        self.persisters[i] = self.persisters[i].copy();
    }

    pub(super) fn clerk(&mut self) -> Clerk {
        self.generation += 1;
        Clerk::new(self.ends(&format!("clerk.{}", self.generation)))
    }

    fn leader(&self) -> Option<usize> {
        (0..self.n).find(|&i| self.servers[i].as_ref().is_some_and(|kv| kv.get_state().1))
    }

    fn max_raft_state_size(&self) -> usize {
        self.persisters
            .iter()
            .map(Persister::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    fn max_snapshot_size(&self) -> usize {
        self.persisters
            .iter()
            .map(Persister::snapshot_size)
            .max()
            .unwrap_or(0)
    }
}

/// Runs `body` as a simulation: a fresh seed each time, or `LAB_SEED` / `LAB_SEEDS`.
pub(super) fn run<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    sim::Test::new()
        .features(if raft::REFERENCE {
            "reference,raft/reference"
        } else {
            "reference"
        })
        .run(body);
}

#[test]
fn put_append_get() {
    run(|| async {
        let mut cluster = Cluster::new(5, None);
        let mut ck = cluster.clerk();
        assert_eq!(ck.get("missing").await, "");
        ck.put("a", "1").await;
        ck.append("a", "2").await;
        ck.append("b", "x").await;
        assert_eq!(ck.get("a").await, "12");
        assert_eq!(ck.get("b").await, "x");
        ck.put("a", "3").await;
        let mut other = cluster.clerk();
        assert_eq!(other.get("a").await, "3");
        assert!(cluster.leader().is_some());
    });
}

#[test]
fn thousand_appends_are_fast() {
    run(|| async {
        let mut cluster = Cluster::new(3, None);
        let mut ck = cluster.clerk();
        assert_eq!(ck.get("x").await, "");
        let begin = Instant::now();
        let mut expected = String::new();
        for i in 0..1000 {
            let value = format!("x 0 {i} y");
            ck.append("x", &value).await;
            expected.push_str(&value);
        }
        let elapsed = begin.elapsed();
        assert!(
            elapsed < Duration::from_millis(33_333),
            "1000 appends took {elapsed:?}"
        );
        assert_eq!(ck.get("x").await, expected);
    });
}

#[test]
fn snapshots_bound_the_log_and_survive_restarts() {
    run(|| async {
        let max = 1000;
        let mut cluster = Cluster::new(3, Some(max));
        let mut ck = cluster.clerk();
        let mut expected = String::new();
        for round in 0..3 {
            for i in 0..100 {
                let value = format!("{round}.{i};");
                ck.append("k", &value).await;
                expected.push_str(&value);
                ck.put(&format!("p{}", i % 5), &value).await;
            }
            assert_eq!(ck.get("k").await, expected);
            let size = cluster.max_raft_state_size();
            assert!(size <= 8 * max, "raft state {size} bytes > 8 x {max}");
            // Crash the leader, then everyone, and restart them from their persisters.
            let leader = cluster.leader().expect("a leader");
            cluster.crash(leader);
            ck.append("k", "!").await;
            expected.push('!');
            cluster.start(leader);
            for i in 0..cluster.n {
                cluster.crash(i);
            }
            sleep(Duration::from_millis(100)).await;
            for i in 0..cluster.n {
                cluster.start(i);
            }
            assert_eq!(ck.get("k").await, expected);
            assert_eq!(ck.get("p4").await, format!("{round}.99;"));
        }
        assert!(cluster.max_snapshot_size() > 0, "no snapshot was taken");
        // The snapshot holds the store and one entry per clerk, not the history.
        let snapshot = cluster.max_snapshot_size();
        assert!(
            snapshot < 2 * expected.len() + 500,
            "snapshot of {snapshot} bytes"
        );
    });
}

/// The leader is cut off in a minority: the majority makes progress, a clerk that can only reach
/// the minority does not, and finishes once the partition heals, exactly once.
#[test]
fn minority_makes_no_progress_until_healed() {
    run(|| async {
        let mut cluster = Cluster::new(5, None);
        let mut ck = cluster.clerk();
        ck.put("1", "13").await;
        let leader = cluster.leader().expect("a leader");
        let minority = [leader, (leader + 1) % 5];
        let partition = |cluster: &Cluster, heal: bool| {
            for i in 0..5 {
                for j in 0..5 {
                    let same = minority.contains(&i) == minority.contains(&j);
                    // Every incarnation so far is the first (generation i + 1).
                    cluster
                        .net
                        .enable(&format!("kv-{i}.{}->{j}", i + 1), heal || same);
                }
            }
        };
        partition(&cluster, false);
        ck.put("1", "14").await;
        assert_eq!(ck.get("1").await, "14");

        // A clerk that reaches only the minority.
        cluster.generation += 1;
        let ends = cluster.ends(&format!("clerk.{}", cluster.generation));
        for (j, end) in ends.iter().enumerate() {
            cluster.net.enable(end.name(), minority.contains(&j));
        }
        let names: Vec<String> = ends.iter().map(|e| e.name().to_string()).collect();
        let stuck = sim::spawn(async move {
            let mut ck = Clerk::new(ends);
            ck.append("1", "15").await;
        });
        sleep(Duration::from_secs(1)).await;
        assert!(!stuck.is_finished(), "a minority committed an operation");
        ck.put("1", "16").await;

        partition(&cluster, true);
        for name in &names {
            cluster.net.enable(name, true);
        }
        tokio::time::timeout(Duration::from_secs(3), stuck)
            .await
            .expect("the minority's append finished within 3 s of the heal")
            .unwrap();
        assert_eq!(ck.get("1").await, "1615");
    });
}

/// What 200 Gets of one key cost after 21 writes to it, on 3 servers with a steady leader.
#[derive(Debug)]
struct GetCost {
    /// RPCs per Get: the Get itself, the heartbeats it caused, the background heartbeats.
    rpcs: f64,
    /// Virtual time per Get.
    latency: Duration,
    /// How much the largest Raft state grew, in all.
    log_growth: usize,
}

const GETS: u32 = 200;

async fn cost_of_gets(reads: Reads) -> GetCost {
    let mut cluster = Cluster::with_reads(3, None, reads);
    let mut ck = cluster.clerk();
    ck.put("k", "v0").await;
    for i in 1..=20 {
        ck.append("k", &format!(" v{i}")).await;
    }
    let expected: String = std::iter::once("v0".to_string())
        .chain((1..=20).map(|i| format!(" v{i}")))
        .collect();
    let after_writes = cluster.max_raft_state_size();
    let (rpcs, start) = (cluster.net.total_count(), sim::now());
    for _ in 0..GETS {
        assert_eq!(ck.get("k").await, expected, "{reads:?}");
    }
    GetCost {
        rpcs: (cluster.net.total_count() - rpcs) as f64 / f64::from(GETS),
        latency: (sim::now() - start) / GETS,
        log_growth: cluster.max_raft_state_size() - after_writes,
    }
}

/// Lab 3C: with ReadIndex or lease reads, Gets read the latest writes without adding to the
/// log, a ReadIndex Get costs one heartbeat round and a lease Get none. Prints the three ways
/// of reading side by side (BENCHMARKS.md).
#[test]
fn reads_without_the_log_see_the_writes_and_leave_the_log_alone() {
    let kinds = [
        Reads::Log,
        Reads::ReadIndex,
        Reads::Lease { clock_drift: 0.05 },
    ];
    for reads in kinds {
        run(move || async move { check_cost(reads, &cost_of_gets(reads).await) });
    }
}

fn check_cost(reads: Reads, cost: &GetCost) {
    println!(
        "{reads:?}: {:.2} RPCs per Get, {:.2} ms per Get, Raft state +{} bytes for {GETS} Gets",
        cost.rpcs,
        cost.latency.as_secs_f64() * 1e3,
        cost.log_growth
    );
    // A ReadIndex Get costs its own RPC and a heartbeat to each follower; a lease Get only
    // its own (and the background heartbeats either way). A log Get also a persist.
    let (rpcs, grows) = match reads {
        Reads::Log => (2.9..3.6, true),
        Reads::ReadIndex => (2.9..3.6, false),
        Reads::Lease { .. } => (1.0..1.6, false),
    };
    assert!(rpcs.contains(&cost.rpcs), "{reads:?}: {cost:?}");
    assert_eq!(
        cost.log_growth >= GETS as usize,
        grows,
        "{reads:?}: {cost:?}"
    );
    if !grows {
        assert!(cost.log_growth < 64, "{reads:?}: {cost:?}");
    }
}
