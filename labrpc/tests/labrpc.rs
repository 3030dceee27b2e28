//! MIT 6.824's labrpc self-tests (`labrpc/test_test.go`), ported to the simulation: the same
//! tests under the same names in snake case, with MIT's numbers. `JunkServer` mirrors MIT's
//! service of the same name; where Go passes a bare `string` or `int`, each handler here gets a
//! newtype of its own (an RPC's argument type names its method), which encodes exactly like the
//! value it wraps, so the byte counts are MIT's.
//!
//! Time is virtual: MIT's wall-clock limits (30 ms, 100 ms) are checked against `sim::now()`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use labrpc::{sim, ClientEnd, Network, Rpc, RpcError, Server, Service};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// MIT's `Handler1(args string, reply *int)`: logs the string, answers it parsed as a number.
#[derive(Serialize, Deserialize)]
struct Handler1Args(String);
impl Rpc for Handler1Args {
    type Reply = i64;
    const NAME: &'static str = "JunkServer.Handler1";
}

/// MIT's `Handler2(args int, reply *string)`: logs the number, answers `"handler2-<n>"`.
#[derive(Serialize, Deserialize)]
struct Handler2Args(i64);
impl Rpc for Handler2Args {
    type Reply = String;
    const NAME: &'static str = "JunkServer.Handler2";
}

/// MIT's `Handler3(args int, reply *int)`: sleeps 20 s, answers the negated number.
#[derive(Serialize, Deserialize)]
struct Handler3Args(i64);
impl Rpc for Handler3Args {
    type Reply = i64;
    const NAME: &'static str = "JunkServer.Handler3";
}

/// MIT's `JunkArgs`.
#[derive(Serialize, Deserialize, Default)]
struct JunkArgs {
    x: i64,
}

/// MIT's `JunkReply`.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct JunkReply {
    x: String,
}

/// MIT's `Handler4(args *JunkArgs, ...)`: the argument is a pointer (here a `Box`).
impl Rpc for Box<JunkArgs> {
    type Reply = JunkReply;
    const NAME: &'static str = "JunkServer.Handler4";
}

/// MIT's `Handler5(args JunkArgs, ...)`: the argument is not a pointer.
impl Rpc for JunkArgs {
    type Reply = JunkReply;
    const NAME: &'static str = "JunkServer.Handler5";
}

/// Handler4's method name with an argument of another type (same bytes, a different type).
#[derive(Serialize, Deserialize, Default)]
struct UnboxedJunkArgs(JunkArgs);
impl Rpc for UnboxedJunkArgs {
    type Reply = JunkReply;
    const NAME: &'static str = "JunkServer.Handler4";
}

/// MIT's `Handler6(args string, reply *int)`: answers the string's length.
#[derive(Serialize, Deserialize)]
struct Handler6Args(String);
impl Rpc for Handler6Args {
    type Reply = i64;
    const NAME: &'static str = "JunkServer.Handler6";
}

/// MIT's `Handler7(args int, reply *string)`: answers a string of that many `y`s.
#[derive(Serialize, Deserialize)]
struct Handler7Args(i64);
impl Rpc for Handler7Args {
    type Reply = String;
    const NAME: &'static str = "JunkServer.Handler7";
}

/// MIT's `JunkServer` state: what Handler1 and Handler2 saw.
#[derive(Default)]
struct Logs {
    log1: Vec<String>,
    log2: Vec<i64>,
}

type SharedLogs = Arc<Mutex<Logs>>;

fn junk_service(logs: &SharedLogs) -> Service {
    let (logs1, logs2) = (logs.clone(), logs.clone());
    Service::new("JunkServer")
        .handle(move |Handler1Args(s): Handler1Args| {
            logs1.lock().log1.push(s.clone());
            let n = s.parse().unwrap_or(0);
            async move { n }
        })
        .handle(move |Handler2Args(n): Handler2Args| {
            logs2.lock().log2.push(n);
            async move { format!("handler2-{n}") }
        })
        .handle(|Handler3Args(n): Handler3Args| async move {
            tokio::time::sleep(Duration::from_secs(20)).await;
            -n
        })
        .handle(|_: Box<JunkArgs>| async {
            JunkReply {
                x: "pointer".into(),
            }
        })
        .handle(|_: JunkArgs| async {
            JunkReply {
                x: "no pointer".into(),
            }
        })
        .handle(|Handler6Args(s): Handler6Args| async move { s.len() as i64 })
        .handle(|Handler7Args(n): Handler7Args| async move { "y".repeat(n as usize) })
}

/// A network with a JunkServer, on a node of its own, registered under `server`.
fn junk_network(server: &str) -> (Network, SharedLogs) {
    let net = Network::new();
    let logs = SharedLogs::default();
    let node = sim::Node::new(format!("junk-{server}"));
    let srv = node.enter(|| {
        let mut srv = Server::new();
        srv.add_service(junk_service(&logs));
        srv
    });
    net.add_server(server, srv);
    (net, logs)
}

/// An end named `end`, connected to `server` and enabled.
fn connected_end(net: &Network, end: &str, server: &str) -> ClientEnd {
    let e = net.make_end(end);
    net.connect(end, server);
    net.enable(end, true);
    e
}

/// MIT's TestBasic: two handlers of one service answer correctly through an enabled end.
#[test]
fn basic() {
    sim::test(|| async {
        let (net, _) = junk_network("server99");
        let e = connected_end(&net, "end1-99", "server99");
        assert_eq!(e.call(&Handler2Args(111)).await.unwrap(), "handler2-111");
        assert_eq!(e.call(&Handler1Args("9099".into())).await.unwrap(), 9099);
    });
}

/// MIT's TestTypes: a handler taking a pointer (`Box<JunkArgs>`) and one taking the value
/// (`JunkArgs`) are distinct methods, each reached with its own argument type; calling the
/// pointer one with another type, even one with identical bytes, is a `TypeMismatch`.
#[test]
fn types() {
    sim::test(|| async {
        let (net, _) = junk_network("server99");
        let e = connected_end(&net, "end1-99", "server99");
        let reply = e.call(&Box::new(JunkArgs::default())).await.unwrap();
        assert_eq!(reply.x, "pointer");
        let reply = e.call(&JunkArgs::default()).await.unwrap();
        assert_eq!(reply.x, "no pointer");
        let err = e.call(&UnboxedJunkArgs::default()).await.unwrap_err();
        assert!(
            matches!(
                err,
                RpcError::TypeMismatch {
                    method: "JunkServer.Handler4",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_network());
    });
}

/// MIT's TestDisconnect: a connected but not yet enabled end gets no reply and its handler does
/// not run; after `enable(end, true)` calls go through.
#[test]
fn disconnect() {
    sim::test(|| async {
        let (net, logs) = junk_network("server99");
        let e = net.make_end("end1-99");
        net.connect("end1-99", "server99");
        let err = e.call(&Handler2Args(111)).await.unwrap_err();
        assert_eq!(err, RpcError::Unreachable);
        assert!(
            logs.lock().log2.is_empty(),
            "Handler2 ran for a disabled end"
        );

        net.enable("end1-99", true);
        assert_eq!(e.call(&Handler1Args("9099".into())).await.unwrap(), 9099);
        assert_eq!(logs.lock().log1, ["9099"]);
        assert_eq!(net.count("server99"), 1);
    });
}

/// MIT's TestCounts: after 17 calls the server's count is 17.
#[test]
fn counts() {
    sim::test(|| async {
        let (net, _) = junk_network("99");
        let e = connected_end(&net, "end1-99", "99");
        for i in 0..17 {
            assert_eq!(
                e.call(&Handler2Args(i)).await.unwrap(),
                format!("handler2-{i}")
            );
        }
        assert_eq!(net.count("99"), 17);
        assert_eq!(net.total_count(), 17);
    });
}

/// MIT's TestBytes: 17 calls with a 284-byte string argument put the total byte count within
/// [4828, 6000]; 17 more calls with 107-byte string replies add between 1800 and 2500.
#[test]
fn bytes() {
    sim::test(|| async {
        let (net, _) = junk_network("99");
        let e = connected_end(&net, "end1-99", "99");
        let args = "x".repeat(71).repeat(2).repeat(2);
        assert_eq!(args.len(), 284);
        for _ in 0..17 {
            let n = e.call(&Handler6Args(args.clone())).await.unwrap();
            assert_eq!(n, 284);
        }
        let n = net.total_bytes();
        assert!(
            (4828..=6000).contains(&n),
            "total_bytes() = {n}, expected about 5000"
        );

        for _ in 0..17 {
            let reply = e.call(&Handler7Args(107)).await.unwrap();
            assert_eq!(reply.len(), 107);
        }
        let nn = net.total_bytes() - n;
        assert!(
            (1800..=2500).contains(&nn),
            "increase {nn}, expected about 2000"
        );
    });
}

/// MIT's TestConcurrentMany: 20 clients, each with its own end and task, make 10 calls each;
/// all 200 succeed with the right replies and the server counts 200.
#[test]
fn concurrent_many() {
    sim::test(|| async {
        let (net, _) = junk_network("1000");
        let (nclients, nrpcs) = (20, 10);
        let mut clients = Vec::new();
        for i in 0..nclients {
            let e = connected_end(&net, &i.to_string(), "1000");
            clients.push(sim::spawn(async move {
                let mut n = 0;
                for j in 0..nrpcs {
                    let arg = i * 100 + j;
                    let reply = e.call(&Handler2Args(arg)).await.unwrap();
                    assert_eq!(reply, format!("handler2-{arg}"));
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        assert_eq!(total, nclients * nrpcs);
        assert_eq!(net.count("1000"), total as u64);
    });
}

/// MIT's TestUnreliable: 300 clients make one call each on an unreliable network; some must
/// fail and some succeed, and every success carries the right reply. Prints its counts, which
/// are the same on every run of the same seed (`LAB_SEED=7 ... -- --nocapture`).
#[test]
fn unreliable() {
    sim::test(|| async {
        let (net, _) = junk_network("1000");
        net.set_reliable(false);
        let nclients = 300;
        let mut clients = Vec::new();
        for i in 0..nclients {
            let e = connected_end(&net, &i.to_string(), "1000");
            clients.push(sim::spawn(async move {
                let arg = i * 100;
                let result = e.call(&Handler2Args(arg)).await;
                if let Ok(reply) = &result {
                    assert_eq!(*reply, format!("handler2-{arg}"));
                }
                result
            }));
        }
        let (mut ok, mut requests_lost, mut replies_lost) = (0, 0, 0);
        for c in clients {
            match c.await.unwrap() {
                Ok(_) => ok += 1,
                Err(RpcError::RequestLost) => requests_lost += 1,
                Err(RpcError::ReplyLost) => replies_lost += 1,
                Err(e) => panic!("unexpected error on an unreliable network: {e}"),
            }
        }
        println!(
            "unreliable (seed {}): {nclients} calls, {ok} succeeded, {} failed \
             ({requests_lost} requests lost, {replies_lost} replies lost)",
            sim::seed(),
            nclients - ok,
        );
        assert!(
            ok != 0 && ok != nclients,
            "{ok} of {nclients} calls succeeded despite an unreliable network"
        );
    });
}

/// MIT's TestConcurrentOne: 20 concurrent calls on a single end all succeed, the handler runs
/// exactly 20 times and the server counts 20.
#[test]
fn concurrent_one() {
    sim::test(|| async {
        let (net, logs) = junk_network("1000");
        let e = connected_end(&net, "c", "1000");
        let nrpcs = 20;
        let calls = (0..nrpcs).map(|i| {
            let e = e.clone();
            sim::spawn(async move {
                let arg = 100 + i;
                let reply = e.call(&Handler2Args(arg)).await.unwrap();
                assert_eq!(reply, format!("handler2-{arg}"));
                1
            })
        });
        let total: i64 = join_all(calls.collect::<Vec<_>>())
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .sum();
        assert_eq!(total, nrpcs);
        let mut log2 = logs.lock().log2.clone();
        log2.sort();
        assert_eq!(log2, (100..100 + nrpcs).collect::<Vec<_>>());
        assert_eq!(net.count("1000"), nrpcs as u64);
    });
}

/// MIT's TestRegression1: calls made while an end is disabled, and still waiting out their
/// failure delay, must not hold up a call made after the end is enabled again: it finishes
/// within 30 ms, and the server sees exactly that one call. Long delays (0-6999 ms) are on so
/// that the disabled calls really are still pending when the end comes back; with MIT's
/// 0-99 ms they would all be over after its 100 ms sleep.
#[test]
fn regression1() {
    sim::test(|| async {
        let (net, logs) = junk_network("1000");
        net.set_long_delays(true);
        let e = net.make_end("c");
        net.connect("c", "1000");
        net.enable("c", false);
        let nrpcs = 20;
        let delayed: Vec<_> = (0..nrpcs)
            .map(|i| {
                let e = e.clone();
                sim::spawn(async move { e.call(&Handler2Args(100 + i)).await })
            })
            .collect();

        tokio::time::sleep(Duration::from_millis(100)).await;
        let pending = delayed.iter().filter(|h| !h.is_finished()).count();
        assert!(
            pending > 0,
            "no disabled call still pending: the test tests nothing"
        );

        let t0 = sim::now();
        net.enable("c", true);
        assert_eq!(e.call(&Handler2Args(99)).await.unwrap(), "handler2-99");
        let took = sim::now() - t0;
        assert!(
            took < Duration::from_millis(30),
            "call took {took:?} after enable"
        );

        for h in delayed {
            assert_eq!(h.await.unwrap().unwrap_err(), RpcError::Unreachable);
        }
        assert_eq!(logs.lock().log2, [99], "wrong RPCs delivered");
        assert_eq!(net.count("1000"), 1);
    });
}

/// MIT's TestKilled: a call stuck in a handler (Handler3 sleeps 20 s) has not returned after
/// 1.1 s, and fails within 100 ms once its server is deleted.
#[test]
fn killed() {
    sim::test(|| async {
        let (net, _) = junk_network("server99");
        let e = connected_end(&net, "end1-99", "server99");
        let call = sim::spawn(async move { e.call(&Handler3Args(99)).await });

        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!call.is_finished(), "Handler3 should not have returned yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!call.is_finished(), "Handler3 should not have returned yet");

        net.delete_server("server99");
        let t0 = sim::now();
        let result = tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .expect("Handler3's call should return within 100 ms of delete_server")
            .unwrap();
        assert_eq!(
            result,
            Err(RpcError::ServerKilled),
            "returned despite delete"
        );
        assert!(sim::now() - t0 < Duration::from_millis(100));
    });
}
