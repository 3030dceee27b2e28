//! The linearizability check of a recorded history (MIT: porcupine with the KV model).

use labtest::linearizability::kv::{KvInput, KvModel, KvOperation};
use labtest::linearizability::{assert_linearizable, CHECK_BUDGET};

use crate::tester::{Kind, Recorded};

/// Fails the test if the history is not linearizable, after writing an HTML report under
/// `target/lab-reports/` whose path it prints. A check that uses up its work budget
/// ([`CHECK_BUDGET`] search steps, in place of MIT's 1 s `linearizabilityCheckTimeout`) passes
/// with a note: running out of budget proves nothing either way.
#[track_caller]
///
/// The history is consumed: its keys and values move into the checker's operations instead of
/// being copied, so the values read are held once during the check.
pub fn check_linearizable(history: Vec<Recorded>) {
    let ops: Vec<KvOperation> = history
        .into_iter()
        .map(|r| {
            let (input, output) = match r.kind {
                Kind::Get => (KvInput::Get(r.key), r.value),
                Kind::Put => (KvInput::Put(r.key, r.value), String::new()),
                Kind::Append => (KvInput::Append(r.key, r.value), String::new()),
            };
            KvOperation::new(
                r.client,
                input,
                output,
                r.call.as_nanos() as u64,
                r.ret.as_nanos() as u64,
            )
        })
        .collect();
    assert_linearizable(&KvModel, ops, Some(CHECK_BUDGET), "kvraft history");
}
