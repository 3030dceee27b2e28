//! 4B on an unreliable network (requests and replies lost and delayed, maxraftstate 100): a
//! single clerk through reconfigurations, concurrent appenders, and a random workload whose
//! whole history must be linearizable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim;
use labtest::linearizability::kv::{KvInput, KvModel, KvOperation};
use labtest::linearizability::{assert_linearizable, Stamp, Stamps, CHECK_BUDGET};
use parking_lot::Mutex;

use crate::run;
use crate::tester::{
    begin, check, check_all, keys_and_values, ms, passed, put_all, randstring, Appenders,
    ShardKvTester, TestClerk,
};

/// MIT's reconfiguration sequence of unreliable 2 and 3, while clerks work: Joins of 1 and 2,
/// Leaves of 0 and 1, 150 ms then 500 ms apart, then Join 1, Join 0, and 2 s more.
async fn reconfigure(cfg: &ShardKvTester) {
    tokio::time::sleep(ms(150)).await;
    cfg.join(1).await;
    tokio::time::sleep(ms(500)).await;
    cfg.join(2).await;
    tokio::time::sleep(ms(500)).await;
    cfg.leave(0).await;
    tokio::time::sleep(ms(500)).await;
    cfg.leave(1).await;
    tokio::time::sleep(ms(500)).await;
    cfg.join(1).await;
    cfg.join(0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// One clerk: 10 keys on group 0; after Join 1, Join 2, Leave 0, two rounds of check and
/// Append over all keys; after Join 0, Leave 1, two rounds of checks. Lost requests and
/// replies must not make an Append happen twice or not at all.
#[test]
fn unreliable1_4b() {
    run(|| async {
        begin("Test: unreliable 1...");
        let cfg = ShardKvTester::new(true, Some(100));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, mut va) = keys_and_values(n, 5);
        put_all(&mut ck, &ka, &va).await;

        cfg.join(1).await;
        cfg.join(2).await;
        cfg.leave(0).await;

        for ii in 0..n * 2 {
            let i = ii % n;
            check(&mut ck, &ka[i], &va[i]).await;
            let x = randstring(5);
            ck.append(&ka[i], &x).await;
            va[i] += &x;
        }

        cfg.join(0).await;
        cfg.leave(1).await;

        for ii in 0..n * 2 {
            let i = ii % n;
            check(&mut ck, &ka[i], &va[i]).await;
        }
        passed();
    });
}

/// Ten clerks append 5 characters as fast as they can during Joins and Leaves; then the
/// network becomes reliable, the clerks stop, and every key must hold exactly its clerk's
/// Appends.
#[test]
fn unreliable2_4b() {
    run(|| async {
        begin("Test: unreliable 2...");
        let cfg = ShardKvTester::new(true, Some(100));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 5);
        put_all(&mut ck, &ka, &va).await;

        let appenders = Appenders::start(&cfg, &ka, &va, 5, Duration::ZERO);
        reconfigure(&cfg).await;

        cfg.net().set_reliable(true);
        let va = appenders.stop().await;
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// The history of every clerk operation, in virtual time, each call and return stamped in the
/// order they happened (so that a call at the very instant of an earlier return comes after it).
#[derive(Clone, Default)]
struct History(Arc<Recording>);

#[derive(Default)]
struct Recording {
    ops: Mutex<Vec<KvOperation>>,
    stamps: Stamps,
}

impl History {
    /// A call begins now.
    fn call(&self) -> Stamp {
        self.0.stamps.now()
    }

    /// The call that began at `call` returned now, with `output`.
    fn record(&self, client: usize, input: KvInput, output: String, call: Stamp) {
        let ret = self.0.stamps.now();
        let op = KvOperation::stamped(client, input, output, call, ret);
        self.0.ops.lock().push(op);
    }

    fn take(&self) -> Vec<KvOperation> {
        std::mem::take(&mut *self.0.ops.lock())
    }
}

/// One clerk of unreliable 3: random operations on random keys of `ka` until `done`: 50%
/// Append, about 5% Put, the rest Get, each of them recorded.
async fn random_client(
    mut ck: TestClerk,
    client: usize,
    ka: Vec<String>,
    history: History,
    done: Arc<AtomicBool>,
) {
    while !done.load(Ordering::SeqCst) {
        let key = ka[sim::random_range(0..ka.len() as u64) as usize].clone();
        let nv = randstring(5);
        let call = history.call();
        if sim::random_range(0..1000) < 500 {
            ck.append(&key, &nv).await;
            history.record(client, KvInput::Append(key, nv), String::new(), call);
        } else if sim::random_range(0..1000) < 100 {
            ck.put(&key, &nv).await;
            history.record(client, KvInput::Put(key, nv), String::new(), call);
        } else {
            let v = ck.get(&key).await;
            history.record(client, KvInput::Get(key), v, call);
        }
    }
}

/// Like unreliable 2, but the ten clerks do random operations over the 10 keys (50% Append,
/// about 5% Put, the rest Get), and every operation, the initial Puts included, is recorded;
/// the history must be linearizable (KV model, a budget of `CHECK_BUDGET` search steps in place
/// of MIT's 1 s check timeout; running out of it passes with a note, as a timeout does in MIT).
///
/// Differs from MIT in the client id of the initial Puts: they are recorded as client 10 (the
/// tester's clerk) rather than 0, which MIT also gives the first random clerk. The id only
/// labels rows in the failure report.
#[test]
fn unreliable3_4b() {
    run(|| async {
        begin("Test: unreliable 3...");
        let cfg = ShardKvTester::new(true, Some(100));
        let history = History::default();
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 5);
        for (k, v) in ka.iter().zip(&va) {
            let call = history.call();
            ck.put(k, v).await;
            history.record(n, KvInput::Put(k.clone(), v.clone()), String::new(), call);
        }

        let done = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..n)
            .map(|i| {
                let ck1 = cfg.make_client();
                sim::spawn(random_client(
                    ck1,
                    i,
                    ka.clone(),
                    history.clone(),
                    done.clone(),
                ))
            })
            .collect();

        reconfigure(&cfg).await;

        done.store(true, Ordering::SeqCst);
        cfg.net().set_reliable(true);
        for c in clients {
            c.await.expect("a random clerk failed");
        }

        assert_linearizable(
            &KvModel,
            history.take(),
            Some(CHECK_BUDGET),
            "shardkv history",
        );
        passed();
    });
}
