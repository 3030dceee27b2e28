//! The Probe server shared by labrpc's network tests (`network.rs`) and the directed tests of
//! MIT's rules (`semantics.rs`): RPCs whose handlers count what they did, a server that answers
//! them, and a connected end. Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::{sim, ClientEnd, Network, Rpc, Server, Service};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// Counts a handler run and answers `n + 1`.
#[derive(Serialize, Deserialize)]
pub struct Bump(pub u64);
impl Rpc for Bump {
    type Reply = u64;
    const NAME: &'static str = "Probe.Bump";
}

/// Marks the start, waits for a permit of the gate, then marks the finish.
#[derive(Serialize, Deserialize)]
pub struct Gated;
impl Rpc for Gated {
    type Reply = ();
    const NAME: &'static str = "Probe.Gated";
}

/// Deletes its own server, then answers at once.
#[derive(Serialize, Deserialize)]
pub struct DeleteSelf;
impl Rpc for DeleteSelf {
    type Reply = u64;
    const NAME: &'static str = "Probe.DeleteSelf";
}

/// Spawns a ticker on its node, sleeps one second, marks the finish.
#[derive(Serialize, Deserialize)]
pub struct Slow;
impl Rpc for Slow {
    type Reply = ();
    const NAME: &'static str = "Probe.Slow";
}

/// What the Probe handlers did.
pub struct Probe {
    pub runs: AtomicU64,
    pub started: AtomicU64,
    pub finished: AtomicU64,
    pub ticks: AtomicU64,
    pub gate: Semaphore,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            runs: AtomicU64::new(0),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            gate: Semaphore::new(0),
        }
    }
}

impl Probe {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

pub fn probe_service(net: &Network, name: &str, probe: &Arc<Probe>) -> Service {
    let (p1, p2, p3, p4) = (probe.clone(), probe.clone(), probe.clone(), probe.clone());
    let (net, name) = (net.clone(), name.to_string());
    Service::new("Probe")
        .handle(move |Bump(n): Bump| {
            p1.runs.fetch_add(1, Ordering::SeqCst);
            async move { n + 1 }
        })
        .handle(move |Gated| {
            let p = p2.clone();
            async move {
                p.started.fetch_add(1, Ordering::SeqCst);
                p.gate.acquire().await.unwrap().forget();
                p.finished.fetch_add(1, Ordering::SeqCst);
            }
        })
        .handle(move |DeleteSelf| {
            net.delete_server(&name);
            p3.finished.fetch_add(1, Ordering::SeqCst);
            async { 42 }
        })
        .handle(move |Slow| {
            let p = p4.clone();
            async move {
                let ticker = p.clone();
                sim::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        ticker.ticks.fetch_add(1, Ordering::SeqCst);
                    }
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
                p.finished.fetch_add(1, Ordering::SeqCst);
            }
        })
}

/// Registers a Probe server under `name`, on a fresh node.
pub fn add_probe(net: &Network, name: &str) -> (Arc<Probe>, sim::Node) {
    let probe = Arc::new(Probe::default());
    let node = sim::Node::new(name);
    let server = node.enter(|| {
        let mut server = Server::new();
        server.add_service(probe_service(net, name, &probe));
        server
    });
    net.add_server(name, server);
    (probe, node)
}

pub fn connected_end(net: &Network, end: &str, server: &str) -> ClientEnd {
    let e = net.make_end(end);
    net.connect(end, server);
    net.enable(end, true);
    e
}
