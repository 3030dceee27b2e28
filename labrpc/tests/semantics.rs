//! Directed tests of MIT labrpc rules that neither MIT's self-tests (`labrpc.rs`) nor the other
//! tests here pinned down: each catches a mutant of labrpc (`mutants/labrpc-*`) that passes
//! every test outside this file.
//! The rules are those of MIT's `labrpc.go`, where `processReq` reads the end's state once, when
//! the request is sent (`readEndnameInfo`), and checks again (`isServerDead`) only when the
//! handler has returned, before the reply's fate (lost, held back, delivered) is drawn.

mod probe;

use std::time::Duration;

use futures::future::join_all;
use labrpc::{sim, ClientEnd, Network, RpcError};

use probe::{add_probe, connected_end, Bump, Gated, Probe};

/// Starts a call of `Bump(n)` on `end` in a task of its own.
fn spawn_bump(end: &ClientEnd, n: u64) -> tokio::task::JoinHandle<Result<u64, RpcError>> {
    let end = end.clone();
    sim::spawn(async move { end.call(&Bump(n)).await })
}

/// A server replaced while a request travels gives no reply. MIT's `processReq` takes the
/// server from the end's name when the request is sent and dispatches to that very server when
/// the request arrives, so the old server's handler runs; `isServerDead` then finds another
/// server under the name, and the caller gets no reply. The new server never sees the request
/// (its count stays 0), but answers the calls sent after it came.
#[test]
fn a_server_replaced_while_a_request_travels_answers_nothing() {
    sim::test(|| async {
        let net = Network::new();
        let old = add_probe(&net, "s").0;
        let end = connected_end(&net, "c", "s");
        net.set_latency(Duration::from_millis(40));
        let call = spawn_bump(&end, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            Probe::get(&old.runs),
            0,
            "dispatched before the latency passed"
        );

        let new = add_probe(&net, "s").0;
        assert_eq!(call.await.unwrap(), Err(RpcError::ServerKilled));
        assert_eq!(
            (Probe::get(&old.runs), Probe::get(&new.runs)),
            (1, 0),
            "MIT dispatches to the server the request was sent to"
        );
        assert_eq!(
            net.count("s"),
            0,
            "the new server counted the old one's request"
        );
        assert_eq!(end.call(&Bump(5)).await, Ok(6));
        assert_eq!((Probe::get(&new.runs), net.count("s")), (1, 1));
    });
}

/// A server deleted while a request travels gives no reply, though its handler runs: MIT
/// dispatches to the server read at send, and `isServerDead` sees the name empty when the
/// handler returns. (The testers crash a peer's node as well, which stops its handlers; a
/// deleted server whose node is up is MIT's case exactly.)
#[test]
fn a_server_deleted_while_a_request_travels_answers_nothing() {
    sim::test(|| async {
        let net = Network::new();
        let probe = add_probe(&net, "s").0;
        let end = connected_end(&net, "c", "s");
        net.set_latency(Duration::from_millis(40));
        let call = spawn_bump(&end, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        net.delete_server("s");
        assert_eq!(call.await.unwrap(), Err(RpcError::ServerKilled));
        assert_eq!(
            Probe::get(&probe.runs),
            1,
            "MIT's handler runs: the server is read at send"
        );
        assert_eq!(net.count("s"), 0, "a name with no server counts nothing");
        assert_eq!(
            end.call(&Bump(2)).await,
            Err(RpcError::Unreachable),
            "a call sent after the delete reaches no server"
        );
        assert_eq!(Probe::get(&probe.runs), 1);
    });
}

/// A reply held back by long reordering arrives even if its end is disabled while it is held,
/// and its bytes count when it arrives. MIT decides a reply's fate once, when the handler
/// returns (`isServerDead`, then the loss, then the delay), and delivers a delayed reply from
/// a timer (`time.AfterFunc`) that checks nothing and adds the reply's bytes. This is what
/// long reordering is for: replies from before a partition reaching a peer after it.
#[test]
fn a_reply_held_by_long_reordering_arrives_even_if_the_end_is_disabled_meanwhile() {
    sim::test(|| async {
        let net = Network::new();
        add_probe(&net, "s");
        let end = connected_end(&net, "c", "s");
        net.set_latency(Duration::ZERO); // every handler runs at once
        net.set_long_reordering(true);
        let n = 30;
        let calls: Vec<_> = (0..n).map(|i| spawn_bump(&end, i)).collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let held: Vec<u64> = (0..n)
            .filter(|&i| !calls[i as usize].is_finished())
            .collect();
        // Each reply is held with probability 2/3: none of 30 is held about once in 10^14.
        assert!(!held.is_empty(), "no reply held: the test tests nothing");

        let bytes = net.total_bytes();
        net.enable("c", false);
        let size = |v: u64| labgob::encoded_len(&v).unwrap() as u64;
        let results = join_all(calls).await;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(
                result.unwrap(),
                Ok(i as u64 + 1),
                "a reply held when the end was disabled was thrown away"
            );
        }
        let held_bytes: u64 = held.iter().map(|&i| size(i + 1)).sum();
        assert_eq!(
            net.total_bytes(),
            bytes + held_bytes,
            "a held reply's bytes count when it is delivered"
        );
    });
}

/// On the unreliable network every request waits 0-26 ms before its fate is drawn (MIT's
/// `time.Sleep(rand.Int() % 27 ms)` comes before the drop and the dispatch), whether it is then
/// lost, answered, or its reply lost; the reply comes back at once. The reliable network's
/// latency plays no part.
#[test]
fn unreliable_requests_wait_0_to_26_ms_whatever_becomes_of_them() {
    sim::test(|| async {
        let net = Network::new();
        add_probe(&net, "s");
        let end = connected_end(&net, "c", "s");
        net.set_reliable(false);
        let n = 300;
        let results = join_all((0..n).map(|i| {
            let end = end.clone();
            async move {
                let t0 = sim::now();
                let result = end.call(&Bump(i)).await;
                (result, (sim::now() - t0).as_millis() as u64)
            }
        }))
        .await;
        let mut lost_requests = Vec::new();
        let mut all = Vec::new();
        for (result, ms) in results {
            assert!(ms <= 26, "a call took {ms} ms");
            if result == Err(RpcError::RequestLost) {
                lost_requests.push(ms);
            }
            all.push(ms);
        }
        let (min, max) = (*all.iter().min().unwrap(), *all.iter().max().unwrap());
        let mean = all.iter().sum::<u64>() as f64 / all.len() as f64;
        // Uniform on 0..=26: mean 13, each of the 27 values about 11 times in 300 draws.
        assert!(min <= 2 && max >= 24, "delays from {min} to {max} ms");
        assert!((10.0..=16.0).contains(&mean), "mean delay {mean} ms");
        // About 30 lost requests: all under 10 ms about once in 10^13.
        assert!(
            lost_requests.iter().any(|&ms| ms >= 10),
            "lost requests failed at once: {lost_requests:?}"
        );
    });
}

/// Counters as MIT keeps them: the total counts a call (and its argument bytes) as soon as it
/// is sent, before its fate is known (MIT counts it as it enters the network's channel); a
/// server's count is that server's own (`GetCount` asks the server now under the name), so a
/// server that replaces another, as a restarted peer's does, starts from 0, and a name with no
/// server counts nothing.
#[test]
fn the_total_counts_a_call_when_sent_and_a_servers_count_is_its_own() {
    sim::test(|| async {
        let net = Network::new();
        let old = add_probe(&net, "s").0;
        let end = connected_end(&net, "c", "s");
        for i in 0..3 {
            assert_eq!(end.call(&Bump(i)).await, Ok(i + 1));
        }
        let bytes = net.total_bytes();
        let e = end.clone();
        let call = sim::spawn(async move { e.call(&Gated).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            (Probe::get(&old.runs), Probe::get(&old.started)),
            (3, 1),
            "the gated handler should be waiting"
        );
        assert_eq!(net.total_count(), 4, "a call in flight is not counted");
        let gated_bytes = labgob::encoded_len(&Gated).unwrap() as u64;
        assert_eq!(net.total_bytes(), bytes + gated_bytes);
        assert_eq!(net.count("s"), 4, "a request whose handler runs is counted");

        let new = add_probe(&net, "s").0;
        assert_eq!(call.await.unwrap(), Err(RpcError::ServerKilled));
        assert_eq!(net.count("s"), 0, "a new server starts from 0");
        for i in 0..2 {
            assert_eq!(end.call(&Bump(i)).await, Ok(i + 1));
        }
        assert_eq!((Probe::get(&new.runs), net.count("s")), (2, 2));
        net.delete_server("s");
        assert_eq!(net.count("s"), 0, "a name with no server counts nothing");
        assert_eq!(net.total_count(), 6);
    });
}
