//! Tests of the linearizability checker: known-answer histories, generated histories
//! cross-checked against a brute-force checker, unknown outcomes, the work budget and the HTML
//! report.

use labtest::linearizability::kv::{KvInput, KvModel, KvOperation, KvRefModel, KvRefOperation};
use labtest::linearizability::{
    assert_linearizable, check_operations, check_operations_counted, kv_testdata_dir, parse_edn,
    render_html_report, write_html_report, CheckResult, Operation, PartitionVerdict, Reads,
    CHECK_BUDGET,
};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Known answers

fn load(name: &str) -> Vec<KvOperation> {
    let dir = kv_testdata_dir();
    assert!(
        dir.is_dir(),
        "known-answer histories not found at {}",
        dir.display()
    );
    let path = dir.join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_edn(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn known_answer_histories() {
    for (name, ops, linearizable) in [
        ("c01-ok", 58, true),
        ("c01-bad", 38, false),
        ("c10-ok", 337, true),
        ("c10-bad", 405, false),
        ("c50-ok", 1712, true),
        ("c50-bad", 2024, false),
    ] {
        let history = load(name);
        assert_eq!(history.len(), ops, "{name}: operation count");
        // The testers' budget decides every one of them.
        let result = check_operations(&KvModel, history, Some(CHECK_BUDGET));
        match (&result, linearizable) {
            (CheckResult::Ok, true) | (CheckResult::Illegal(_), false) => {}
            _ => panic!("{name}: wrong verdict {result:?}"),
        }
    }
}

/// The borrowed-reads model, with every Get's value kept in a `Reads` store, takes the same
/// steps to the same verdict and the same report as the owned one.
#[test]
fn borrowed_reads_check_the_same() {
    for name in ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-bad"] {
        let owned = load(name);
        let mut reads = Reads::new();
        let kept: Vec<_> = owned
            .iter()
            .map(|op| op.output.as_ref().map(|v| reads.add(op.input.key(), v)))
            .collect();
        let borrowed: Vec<KvRefOperation> = owned
            .iter()
            .zip(&kept)
            .map(|(op, read)| Operation {
                client: op.client,
                input: op.input.clone(),
                output: read.map(|id| reads.get(id)),
                call: op.call,
                ret: op.ret,
                call_seq: op.call_seq,
                ret_seq: op.ret_seq,
            })
            .collect();
        let model = KvRefModel::default();
        let (a, a_steps) = check_operations_counted(&KvModel, owned, Some(CHECK_BUDGET));
        let (b, b_steps) = check_operations_counted(&model, borrowed, Some(CHECK_BUDGET));
        assert_eq!(a_steps, b_steps, "{name}: steps");
        match (a, b) {
            (CheckResult::Ok, CheckResult::Ok) => {}
            (CheckResult::Illegal(a), CheckResult::Illegal(b)) => {
                let (a, b) = (render_html_report(name, &a), render_html_report(name, &b));
                assert!(a == b, "{name}: the reports differ");
            }
            (a, b) => panic!("{name}: {a:?} and {b:?}"),
        }
    }
}

#[test]
fn illegal_info_and_html_report() {
    let CheckResult::Illegal(info) = check_operations(&KvModel, load("c01-bad"), None) else {
        panic!("c01-bad must be illegal");
    };
    let bad = info
        .partitions
        .iter()
        .find(|p| p.verdict == PartitionVerdict::Illegal)
        .expect("an illegal partition");
    assert!(bad.linearized.len() < bad.ops.len());
    assert_eq!(bad.states.len(), bad.linearized.len() + 1);
    let blocked = &bad.ops[bad.blocked.expect("a blocked operation")];
    assert!(!bad.linearized.contains(&bad.blocked.unwrap()));
    assert!(
        blocked.description.starts_with("get("),
        "{}",
        blocked.description
    );
    assert!(info.to_string().contains("could not place"));

    let path = std::env::temp_dir().join(format!("labtest-lin-{}.html", std::process::id()));
    write_html_report(&path, "c01-bad", &info).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("client 0"), "client rows");
    assert!(html.contains("class=\"op lin\""), "linearized prefix");
    assert!(html.contains("class=\"op blocked\""), "offending operation");
    let escaped = blocked
        .description
        .replace('&', "&amp;")
        .replace('>', "&gt;")
        .replace('<', "&lt;")
        .replace('\'', "&#39;");
    assert!(html.contains(&escaped), "offending operation's description");
    assert!(html.contains("state after"), "states on hover");
}

/// What a grader calls: an illegal history fails the test with the path of the report it wrote
/// under the target directory's `lab-reports/`, named after the test and the seed.
#[test]
fn assert_linearizable_fails_with_the_report_path() {
    let failure = labrpc::sim::run(&labrpc::sim::RunSettings::new(42), || async {
        assert_linearizable(&KvModel, load("c01-ok"), None, "fine");
        assert_linearizable(&KvModel, load("c01-bad"), None, "c01-bad");
    })
    .unwrap_err()
    .to_string();
    assert!(
        failure.contains("fits no order: after the") && failure.contains("placed before it"),
        "the message names the operation that fits no order: {failure}"
    );
    let path = failure
        .split("visualization: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no report path in: {failure}"))
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        path.ends_with("lab-reports/assert_linearizable_fails_with_the_report_path-seed42.html"),
        "{path}"
    );
    let html = std::fs::read_to_string(path).unwrap();
    std::fs::remove_file(path).unwrap();
    assert!(html.contains("c01-bad") && html.contains("class=\"op blocked\""));
}

// ---------------------------------------------------------------------------------------------
// Generated histories

/// splitmix64: a tiny deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A linearizable history of `n` operations on `keys` keys: operations take effect at points
/// 10, 20, ... in order, and each interval reaches up to `spread` around its point, so that
/// neighbours overlap. Returns the history and, per operation, the values its key held before.
fn linearizable_history(
    rng: &mut Rng,
    n: usize,
    keys: u64,
    spread: u64,
) -> (Vec<KvOperation>, Vec<Vec<String>>) {
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ops = Vec::new();
    let mut earlier = Vec::new();
    for i in 0..n {
        let point = 10 * (i as u64 + 1) + spread;
        let call = point - rng.below(spread + 1);
        let ret = point + rng.below(spread + 1);
        let key = format!("k{}", rng.below(keys));
        let value = format!("v{i} ");
        let cur = store.get(&key).cloned().unwrap_or_default();
        let past = seen
            .entry(key.clone())
            .or_insert_with(|| vec![String::new()]);
        earlier.push(past.clone());
        let (input, output) = match rng.below(3) {
            0 => (KvInput::Get(key.clone()), cur.clone()),
            1 => (KvInput::Put(key.clone(), value.clone()), String::new()),
            _ => (KvInput::Append(key.clone(), value.clone()), String::new()),
        };
        match &input {
            KvInput::Get(_) => {}
            KvInput::Put(_, v) => {
                store.insert(key.clone(), v.clone());
            }
            KvInput::Append(_, v) => {
                store.insert(key.clone(), cur + v);
            }
        }
        past.push(store.get(&key).cloned().unwrap_or_default());
        ops.push(Operation::new(i % 3, input, output, call, ret));
    }
    (ops, earlier)
}

/// Decides linearizability by trying every order consistent with real time, on a whole-store
/// model (no partitioning): the reference for small histories.
fn brute_force(history: &[KvOperation]) -> bool {
    let end = history.iter().map(|o| o.call.max(o.ret)).max().unwrap_or(0) + 1;
    let ops: Vec<(u64, u64, &KvOperation)> = history
        .iter()
        .map(|o| (o.call, if o.output.is_some() { o.ret } else { end }, o))
        .collect();
    fn dfs(
        ops: &[(u64, u64, &KvOperation)],
        done: &mut Vec<bool>,
        store: &BTreeMap<String, String>,
    ) -> bool {
        if done.iter().all(|&d| d) {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // i can go next unless some pending operation returned before i was called.
            let (call, _, op) = ops[i];
            if (0..ops.len()).any(|j| !done[j] && ops[j].1 < call) {
                continue;
            }
            let key = op.input.key().to_string();
            let cur = store.get(&key).cloned().unwrap_or_default();
            let mut next = store.clone();
            match &op.input {
                KvInput::Get(_) => {
                    if op.output.as_ref().is_some_and(|v| *v != cur) {
                        continue;
                    }
                }
                KvInput::Put(_, v) => {
                    next.insert(key, v.clone());
                }
                KvInput::Append(_, v) => {
                    next.insert(key, cur + v);
                }
            }
            done[i] = true;
            let found = dfs(ops, done, &next);
            done[i] = false;
            if found {
                return true;
            }
        }
        false
    }
    dfs(&ops, &mut vec![false; ops.len()], &BTreeMap::new())
}

fn verdict(history: Vec<KvOperation>) -> bool {
    match check_operations(&KvModel, history, Some(CHECK_BUDGET)) {
        CheckResult::Ok => true,
        CheckResult::Illegal(_) => false,
        CheckResult::Unknown => panic!("small history used up the work budget"),
    }
}

#[test]
fn generated_histories_agree_with_brute_force() {
    let mut rng = Rng(0x6824);
    let (mut linearizable, mut illegal) = (0, 0);
    for case in 0..1500 {
        let n = 1 + rng.below(7) as usize;
        let keys = 1 + rng.below(2);
        let spread = rng.below(25);
        let (mut ops, earlier) = linearizable_history(&mut rng, n, keys, spread);
        let mutate = case % 3;
        if mutate >= 1 {
            // A stale (or made-up) read.
            for (i, op) in ops.iter_mut().enumerate() {
                if matches!(op.input, KvInput::Get(_)) && rng.chance(50) {
                    let past = &earlier[i];
                    op.output = Some(if rng.chance(80) {
                        past[rng.below(past.len() as u64) as usize].clone()
                    } else {
                        "zz".to_string()
                    });
                }
            }
        }
        if mutate == 2 {
            // Some outcomes unknown.
            for op in ops.iter_mut() {
                if rng.chance(25) {
                    op.output = None;
                }
            }
        }
        let expected = brute_force(&ops);
        if mutate == 0 {
            assert!(
                expected,
                "case {case}: the generator must produce linearizable histories"
            );
        }
        assert_eq!(verdict(ops.clone()), expected, "case {case}: {ops:#?}");
        if expected {
            linearizable += 1;
        } else {
            illegal += 1;
        }
    }
    // Both answers must be well represented.
    assert!(
        linearizable > 300 && illegal > 200,
        "{linearizable} / {illegal}"
    );
}

#[test]
fn large_generated_histories() {
    let mut rng = Rng(42);
    for case in 0..20 {
        let (ops, _) = linearizable_history(&mut rng, 400, 4, 30);
        assert!(
            verdict(ops.clone()),
            "case {case}: linearizable by construction"
        );
        // Without overlap, a stale read is always illegal.
        let (mut ops, earlier) = linearizable_history(&mut rng, 300, 3, 0);
        let stale = (0..ops.len()).rev().find(|&i| {
            matches!(ops[i].input, KvInput::Get(_))
                && earlier[i].iter().any(|v| Some(v) != ops[i].output.as_ref())
        });
        if let Some(i) = stale {
            let value = earlier[i]
                .iter()
                .find(|v| Some(*v) != ops[i].output.as_ref())
                .unwrap()
                .clone();
            ops[i].output = Some(value);
            assert!(!verdict(ops), "case {case}: stale read at {i}");
        }
    }
}

/// Virtual time stands still within an instant: a clerk's Put returns and its next Get is
/// called at the same time. Unnumbered, the two touch and count as concurrent, so a Get that
/// misses the Put passes; numbered in the order they happened, it is a stale read.
#[test]
fn events_of_one_instant_keep_their_order_when_numbered() {
    let put = Operation::new(
        0,
        KvInput::Put("k".into(), "1".into()),
        String::new(),
        0,
        10,
    );
    let stale = get(0, "k", "", 10, 20);
    assert!(
        verdict(vec![put.clone(), stale.clone()]),
        "touching: concurrent"
    );
    assert!(
        !verdict(vec![
            put.clone().with_order(1, 2),
            stale.clone().with_order(3, 4)
        ]),
        "the Get was called after the Put returned"
    );
    // Numbered the other way round (the Get called first, in the same instant), it may go
    // first.
    assert!(verdict(vec![put.with_order(1, 3), stale.with_order(2, 4)]));
}

// ---------------------------------------------------------------------------------------------
// Unknown outcomes and the work budget

fn get(client: usize, key: &str, value: &str, call: u64, ret: u64) -> KvOperation {
    Operation::new(client, KvInput::Get(key.into()), value.into(), call, ret)
}

#[test]
fn unknown_outcomes() {
    let put = |call| Operation::unknown(0, KvInput::Put("k".into(), "1".into()), call);
    // The put may have taken effect...
    assert!(verdict(vec![put(0), get(1, "k", "1", 10, 11)]));
    // ... or not ...
    assert!(verdict(vec![put(0), get(1, "k", "", 10, 11)]));
    // ... but not both, in that order.
    assert!(!verdict(vec![
        put(0),
        get(1, "k", "1", 10, 11),
        get(1, "k", "", 20, 21)
    ]));
    // It cannot take effect before it was called.
    assert!(!verdict(vec![get(1, "k", "1", 0, 1), put(5)]));
    // A get with an unknown outcome may have read anything.
    let unknown_get = Operation::unknown(2, KvInput::Get("k".into()), 0);
    assert!(verdict(vec![unknown_get, get(1, "k", "", 10, 11)]));
    // An append with an unknown outcome can take effect late.
    assert!(verdict(vec![
        Operation::unknown(0, KvInput::Append("k".into(), "a".into()), 0),
        get(1, "k", "", 10, 11),
        get(1, "k", "a", 20, 21),
    ]));
}

/// Forty concurrent appends of distinct values and a concurrent get of a value they cannot
/// produce, on one key: every order of every subset of the appends is a distinct state, so the
/// search explodes.
fn exploding(key: &str) -> Vec<KvOperation> {
    let mut ops: Vec<KvOperation> = (0..40)
        .map(|i| {
            Operation::new(
                i,
                KvInput::Append(key.into(), format!("<{i}>")),
                String::new(),
                0,
                1000,
            )
        })
        .collect();
    ops.push(get(40, key, "impossible", 0, 1000));
    ops
}

/// The verdict as a comparable value, with the steps taken.
fn counted(history: Vec<KvOperation>, max_steps: Option<u64>) -> (&'static str, u64) {
    let (result, steps) = check_operations_counted(&KvModel, history, max_steps);
    let verdict = match result {
        CheckResult::Ok => "Ok",
        CheckResult::Illegal(_) => "Illegal",
        CheckResult::Unknown => "Unknown",
    };
    (verdict, steps)
}

#[test]
fn tiny_budget_gives_unknown_deterministically() {
    // Unknown after exactly the budget, every time, however long the steps took.
    for budget in [0, 1, 1000, 4096, 4097, 50_000] {
        for _ in 0..3 {
            assert_eq!(
                counted(exploding("k"), Some(budget)),
                ("Unknown", budget),
                "budget {budget}"
            );
        }
    }
    // A history with no operations needs no step.
    assert_eq!(counted(Vec::new(), Some(0)), ("Ok", 0));
    // The testers pass an Unknown verdict (with a note).
    assert_linearizable(&KvModel, exploding("k"), Some(1000), "exploding");
}

#[test]
fn same_history_same_budget_same_verdict() {
    for name in ["c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-bad"] {
        // The steps the search needs to decide the history, whatever the machine.
        let (verdict, needed) = counted(load(name), None);
        assert_ne!(verdict, "Unknown", "{name}");
        assert!(needed > 0, "{name}");
        assert_eq!(counted(load(name), None), (verdict, needed), "{name}");
        // The verdict is a function of the budget alone: decided from `needed` steps on,
        // Unknown below after exactly the budget.
        for budget in [needed / 2, needed - 1, needed, needed + 1, 2 * needed] {
            let expected = if budget >= needed {
                (verdict, needed)
            } else {
                ("Unknown", budget)
            };
            assert_eq!(
                counted(load(name), Some(budget)),
                expected,
                "{name}, budget {budget}"
            );
        }
    }
}

#[test]
fn illegal_partition_found_while_another_explodes() {
    // Key "a" comes first in every round of the interleaved search, which would not decide it
    // within the budget; key "b" holds a stale read, found within the first slices.
    let mut ops = exploding("a");
    ops.push(Operation::new(
        41,
        KvInput::Put("b".into(), "1".into()),
        String::new(),
        0,
        1,
    ));
    ops.push(get(42, "b", "", 2, 3));
    let (verdict, steps) = counted(ops.clone(), Some(CHECK_BUDGET));
    assert_eq!(verdict, "Illegal");
    assert!(steps < 3 * 4096, "{steps} steps");
    assert_eq!(counted(ops, Some(CHECK_BUDGET)), (verdict, steps));
}
