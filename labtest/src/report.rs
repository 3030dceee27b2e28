//! The lines MIT's testers print around each test, measured in virtual time.

use std::path::PathBuf;
use std::time::Duration;

/// Where failing tests leave their reports: `<target dir>/lab-reports/` (see
/// `labrpc::sim::harness::reports_dir`).
pub fn lab_reports_dir() -> std::io::Result<PathBuf> {
    labrpc::sim::harness::reports_dir()
}

/// A file name for a report of the running test and seed: `<test>-seed<N>.<ext>`, with the
/// test's module path joined by `-`.
pub fn report_file_name(ext: &str) -> String {
    let stem = labrpc::sim::harness::report_stem(labrpc::sim::seed());
    format!("{stem}.{ext}")
}

/// What a test measured between `begin` and `end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// Virtual time the test took.
    pub time: Duration,
    /// Number of peers.
    pub peers: usize,
    /// RPCs sent.
    pub rpcs: u64,
    /// Bytes sent (Raft tests only).
    pub bytes: Option<u64>,
    /// Commands committed (Raft) or client operations (kvraft).
    pub cmds: u64,
}

/// The two lines MIT prints for a passed test, e.g.
/// `Test (2A): initial election ...` and `  ... Passed --   3.5  3   58   16840    0`
/// (Raft: time, peers, RPCs, bytes, commands; kvraft: time, peers, RPCs, ops).
pub fn passed(title: &str, m: &Measured) -> String {
    let secs = m.time.as_secs_f64();
    match m.bytes {
        Some(bytes) => format!(
            "{title} ...\n  ... Passed --  {secs:4.1}  {} {:4} {:7} {:4}",
            m.peers, m.rpcs, bytes, m.cmds
        ),
        None => format!(
            "{title} ...\n  ... Passed --  {secs:4.1}  {} {:5} {:4}",
            m.peers, m.rpcs, m.cmds
        ),
    }
}

/// Prints MIT's two lines for a passed test ([`passed`]), and adds the measured RPCs to the
/// run's `rpcs` result field, which tools read from the `lab-result` line
/// (`LAB_RESULT_LINES=1`; see `labrpc::sim::add_to_result`) whatever the shape of the human
/// line. A test measured in several parts adds up their RPCs.
pub fn print_passed(title: &str, m: &Measured) {
    println!("{}", passed(title, m));
    record_rpcs(m.rpcs);
}

/// Adds `rpcs` to the run's `rpcs` result field, for tests whose "Passed" line carries no
/// statistics (MIT's shardmaster and shardkv testers print none).
pub fn record_rpcs(rpcs: u64) {
    labrpc::sim::add_to_result("rpcs", rpcs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_mit() {
        let m = Measured {
            time: Duration::from_millis(3500),
            peers: 3,
            rpcs: 58,
            bytes: Some(16840),
            cmds: 0,
        };
        assert_eq!(
            passed("Test (2A): initial election", &m),
            "Test (2A): initial election ...\n  ... Passed --   3.5  3   58   16840    0"
        );
        let kv = Measured {
            time: Duration::from_millis(15300),
            peers: 5,
            rpcs: 9001,
            bytes: None,
            cmds: 355,
        };
        assert_eq!(
            passed("Test: basic (3A)", &kv),
            "Test: basic (3A) ...\n  ... Passed --  15.3  5  9001  355"
        );
    }
}
