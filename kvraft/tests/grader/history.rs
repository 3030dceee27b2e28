//! The linearizability check of a recorded history (MIT: porcupine with the KV model).

use labtest::linearizability::kv::{KvInput, KvRefModel, KvRefOperation};
use labtest::linearizability::{assert_linearizable, CHECK_BUDGET};

use crate::tester::{History, Op};

/// Fails the test if the history is not linearizable, after writing an HTML report under
/// `target/lab-reports/` whose path it prints. A check that uses up its work budget
/// ([`CHECK_BUDGET`] search steps, in place of MIT's 1 s `linearizabilityCheckTimeout`) passes
/// with a note: running out of budget proves nothing either way.
///
/// The history is consumed: its keys and values move into the checker's operations instead of
/// being copied, and the values read stay in the history's store, which the operations borrow.
#[track_caller]
pub fn check_linearizable(history: History) {
    let History { ops, reads } = history;
    let ops: Vec<KvRefOperation> = ops
        .into_iter()
        .map(|r| {
            let (input, output) = match r.op {
                Op::Get(read) => (KvInput::Get(r.key), reads.get(read)),
                Op::Put(value) => (KvInput::Put(r.key, value), ""),
                Op::Append(value) => (KvInput::Append(r.key, value), ""),
            };
            KvRefOperation::stamped(r.client, input, output, r.call, r.ret)
        })
        .collect();
    assert_linearizable(
        &KvRefModel::default(),
        ops,
        Some(CHECK_BUDGET),
        "kvraft history",
    );
}
