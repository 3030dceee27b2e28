//! `lab-result` lines: each seed's outcome as one line on stdout (`LAB_RESULT_LINES=1`), which
//! tools such as `cargo lab` read to summarise many runs without parsing messages meant for
//! people.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::failure::Failure;

/// What a passed run reports: its virtual time and its result fields.
pub(crate) struct Passed {
    pub(crate) virtual_time: Duration,
    pub(crate) results: BTreeMap<&'static str, u64>,
}

/// One seed's outcome as a line, e.g. `lab-result seed=7 status=ok virtual_ms=15230 rpcs=9001`
/// or `lab-result seed=7 status=deadlock virtual_ms=3000`: a failure's status is its
/// [`short_name`](crate::FailureKind::short_name), and a passed run adds its result fields
/// ([`add_to_result`](crate::add_to_result)), by name.
pub(crate) fn result_line(seed: u64, result: &Result<Passed, Failure>) -> String {
    let (status, at) = match result {
        Ok(passed) => ("ok", passed.virtual_time),
        Err(failure) => (failure.kind.short_name(), failure.at),
    };
    let mut line = format!(
        "lab-result seed={seed} status={status} virtual_ms={}",
        at.as_millis()
    );
    if let Ok(passed) = result {
        for (key, value) in &passed.results {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureKind;

    #[test]
    fn the_result_line_carries_a_passed_runs_fields() {
        let passed = Passed {
            virtual_time: Duration::from_millis(15_230),
            results: [("rpcs", 9001), ("ops", 12)].into_iter().collect(),
        };
        assert_eq!(
            result_line(7, &Ok(passed)),
            "lab-result seed=7 status=ok virtual_ms=15230 ops=12 rpcs=9001"
        );
        let failed = Failure {
            seed: 7,
            at: Duration::from_secs(3),
            kind: FailureKind::Deadlock {
                waiting: Vec::new(),
            },
            context: vec!["tester step: x (since 0.000 s)".into()],
        };
        assert_eq!(
            result_line(7, &Err(failed)),
            "lab-result seed=7 status=deadlock virtual_ms=3000"
        );
    }
}
