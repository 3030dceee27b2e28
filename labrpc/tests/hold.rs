//! Held requests (`Network::hold_requests`, `Network::keep_held_requests`), a tester facility
//! beyond MIT's labrpc: a held request waits after its travel, before dispatch, and goes when
//! let go, in send order, only if its end still reaches the server it was sent to.

use std::sync::Arc;
use std::time::Duration;

use labrpc::{sim, ClientEnd, Network, Rpc, RpcError, Server, Service};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Records its number in the order handlers ran, and answers it.
#[derive(Serialize, Deserialize)]
struct Record(u64);
impl Rpc for Record {
    type Reply = u64;
    const NAME: &'static str = "Log.Record";
}

/// The numbers of the `Record` calls whose handlers ran, in the order they ran.
type Ran = Arc<Mutex<Vec<u64>>>;

/// Registers a server of the `Log` service under `name`, on a node of that name.
fn add_log_server(net: &Network, name: &str) -> Ran {
    let ran = Ran::default();
    let node = sim::Node::new(name);
    let r = ran.clone();
    let server = node.enter(|| {
        let mut server = Server::new();
        server.add_service(Service::new("Log").handle(move |Record(n)| {
            let r = r.clone();
            async move {
                r.lock().push(n);
                n
            }
        }));
        server
    });
    net.add_server(name, server);
    ran
}

fn connected_end(net: &Network, end: &str, server: &str) -> ClientEnd {
    let e = net.make_end(end);
    net.connect(end, server);
    net.enable(end, true);
    e
}

/// Calls `Record(n)` on `end` in a task of its own; the task answers the result and when it
/// came.
fn spawn_call(
    end: &ClientEnd,
    n: u64,
) -> tokio::task::JoinHandle<(Result<u64, RpcError>, Duration)> {
    let end = end.clone();
    sim::spawn(async move {
        let result = end.call(&Record(n)).await;
        (result, sim::now())
    })
}

/// Held requests are not dispatched, however long they wait; let go, they all are, at that
/// very moment, in the order they were sent, even when a later one arrived first.
#[test]
fn held_requests_wait_and_go_in_send_order() {
    sim::test(|| async {
        let net = Network::new();
        let ran = add_log_server(&net, "s");
        let end = connected_end(&net, "c", "s");
        net.hold_requests("c", true);
        // Request 1 travels 40 ms, 2 and 3 travel 5 ms: 2 and 3 reach the hold first.
        net.set_latency(Duration::from_millis(40));
        let first = spawn_call(&end, 1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        net.set_latency(Duration::from_millis(5));
        // Sent 1 ms apart: tasks spawned at one instant may run in either order (the seed
        // decides), and so send in either order.
        let second = spawn_call(&end, 2);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let others = [second, spawn_call(&end, 3)];
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(ran.lock().is_empty(), "a held request was dispatched");
        assert_eq!(net.count("s"), 0);
        assert!(!first.is_finished(), "a held request got an answer");

        let let_go = sim::now();
        net.hold_requests("c", false);
        let mut results = vec![first.await.unwrap()];
        for call in others {
            results.push(call.await.unwrap());
        }
        assert_eq!(*ran.lock(), [1, 2, 3], "not dispatched in send order");
        assert_eq!(results, [(Ok(1), let_go), (Ok(2), let_go), (Ok(3), let_go)]);
        // Let go, the end works as before.
        let t0 = sim::now();
        assert_eq!(end.call(&Record(4)).await, Ok(4));
        assert_eq!(sim::now() - t0, Duration::from_millis(5));
    });
}

/// A held request whose end was disabled meanwhile gets no reply, and its handler never runs,
/// even after the end is enabled again; nor does one whose server was replaced meanwhile.
/// Requests held on the other end of the same server go as usual.
#[test]
fn a_held_request_whose_end_was_disabled_is_dropped_unrun() {
    sim::test(|| async {
        let net = Network::new();
        let ran = add_log_server(&net, "s");
        let end = connected_end(&net, "c", "s");
        let other = connected_end(&net, "d", "s");
        net.hold_requests("c", true);
        net.hold_requests("d", true);
        let cut = spawn_call(&end, 1);
        let kept = spawn_call(&other, 2);
        tokio::time::sleep(Duration::from_millis(100)).await;
        net.enable("c", false);
        net.hold_requests("c", false);
        net.hold_requests("d", false);
        assert_eq!(cut.await.unwrap().0, Err(RpcError::ServerKilled));
        assert_eq!(kept.await.unwrap().0, Ok(2));
        assert_eq!(*ran.lock(), [2], "the disabled end's request ran");

        // Disabled and enabled again while held: let go, the request goes.
        net.enable("c", true);
        net.hold_requests("c", true);
        let call = spawn_call(&end, 3);
        tokio::time::sleep(Duration::from_millis(100)).await;
        net.enable("c", false);
        net.enable("c", true);
        net.hold_requests("c", false);
        assert_eq!(call.await.unwrap().0, Ok(3));

        // The server replaced while the request is held: dropped, and no handler runs.
        net.hold_requests("c", true);
        let call = spawn_call(&end, 4);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fresh = add_log_server(&net, "s");
        net.hold_requests("c", false);
        assert_eq!(call.await.unwrap().0, Err(RpcError::ServerKilled));
        assert_eq!(*ran.lock(), [2, 3]);
        assert!(
            fresh.lock().is_empty(),
            "the new server ran the old request"
        );
    });
}

/// With `keep_held_requests`, requests sent later overtake the held ones, which go only when
/// let go: the old request is delivered after the newer ones, as a real network may reorder
/// them.
#[test]
fn kept_requests_are_overtaken_by_newer_ones() {
    sim::test(|| async {
        let net = Network::new();
        let ran = add_log_server(&net, "s");
        let end = connected_end(&net, "c", "s");
        net.hold_requests("c", true);
        let old = spawn_call(&end, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        net.keep_held_requests("c");
        assert_eq!(end.call(&Record(2)).await, Ok(2));
        assert_eq!(end.call(&Record(3)).await, Ok(3));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!old.is_finished(), "a kept request got an answer");
        net.hold_requests("c", false);
        assert_eq!(old.await.unwrap().0, Ok(1));
        assert_eq!(*ran.lock(), [2, 3, 1]);
    });
}

/// A held request whose caller stops waiting (a timeout here; a crash of its node alike)
/// leaves the hold: it never runs, and the requests held behind it still go.
#[test]
fn a_held_request_whose_caller_gave_up_leaves_the_hold() {
    sim::test(|| async {
        let net = Network::new();
        let ran = add_log_server(&net, "s");
        let end = connected_end(&net, "c", "s");
        net.hold_requests("c", true);
        let e = end.clone();
        let gave_up = sim::spawn(async move {
            tokio::time::timeout(Duration::from_millis(50), e.call(&Record(1))).await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let behind = spawn_call(&end, 2);
        assert!(gave_up.await.unwrap().is_err(), "the held call answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
        net.hold_requests("c", false);
        assert_eq!(behind.await.unwrap().0, Ok(2));
        assert_eq!(*ran.lock(), [2]);
    });
}

/// A run that holds requests is as deterministic as any: the same seed gives the same digest,
/// and the same order of handlers, on an unreliable network whose delays reorder requests.
#[test]
fn holding_requests_is_deterministic() {
    let settings = sim::RunSettings::new(7);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let outcome = sim::run(&settings, || async {
                let net = Network::new();
                net.set_reliable(false);
                let ran = add_log_server(&net, "s");
                let end = connected_end(&net, "c", "s");
                net.hold_requests("c", true);
                // One task sends the 20 calls in order (`join_all` polls them first in order);
                // their travel delays, drawn at random, make them arrive in another.
                let e = end.clone();
                let calls = sim::spawn(async move {
                    let calls = (0..20).map(|n| {
                        let e = e.clone();
                        async move { e.call(&Record(n)).await }
                    });
                    futures::future::join_all(calls).await
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
                net.hold_requests("c", false);
                // On the unreliable network some fail: it is the order that counts.
                let _results = calls.await.unwrap();
                let ran = ran.lock().clone();
                ran
            })
            .expect("the run");
            (outcome.digest, outcome.value)
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    let ran = &runs[0].1;
    assert!(
        ran.windows(2).all(|w| w[0] < w[1]),
        "not in send order: {ran:?}"
    );
}
