//! The linearizability check of a recorded history (MIT: porcupine with the KV model).

use std::path::PathBuf;
use std::time::Duration;

use labtest::linearizability::kv::{KvInput, KvModel, KvOperation};
use labtest::linearizability::{check_operations, write_html_report, CheckResult};

use crate::tester::{Kind, Recorded};

/// MIT's `linearizabilityCheckTimeout`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Fails the test if the history is not linearizable, after writing an HTML report under
/// `target/lab-reports/` whose path it prints. A check that times out passes with a note, as in
/// MIT (a timeout proves nothing either way).
pub fn check_linearizable(history: &[Recorded]) {
    let ops: Vec<KvOperation> = history
        .iter()
        .map(|r| {
            let (input, output) = match r.kind {
                Kind::Get => (KvInput::Get(r.key.clone()), r.value.clone()),
                Kind::Put => (KvInput::Put(r.key.clone(), r.value.clone()), String::new()),
                Kind::Append => (
                    KvInput::Append(r.key.clone(), r.value.clone()),
                    String::new(),
                ),
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
    match check_operations(&KvModel, ops, Some(CHECK_TIMEOUT)) {
        CheckResult::Ok => {}
        CheckResult::Unknown => {
            println!("info: linearizability check timed out, assuming history is ok")
        }
        CheckResult::Illegal(info) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("kvraft")
                .replace("::", "-");
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/lab-reports");
            let path = dir.join(format!("{test}-seed{}.html", labrpc::sim::seed()));
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| write_html_report(&path, "kvraft history", &info));
            match written {
                Ok(()) => panic!(
                    "history is not linearizable; visualization: {}",
                    path.display()
                ),
                Err(e) => panic!(
                    "history is not linearizable (could not write the report {}: {e})",
                    path.display()
                ),
            }
        }
    }
}
