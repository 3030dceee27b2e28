//! `cargo lab stress` and `cargo lab grade` on the real graders, in debug builds made in the
//! workspace's own target directory: the cargo running these tests has built nearly all of it
//! already (`cargo test --workspace --all-features` builds every grader on the reference
//! solutions), and it holds no lock on the directory while tests run, so the tool's builds here
//! cost seconds, not a build of every dependency.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn lab(args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

/// Every failing seed is reported as it happens (on stderr, `--quiet` or not, so that a run
/// interrupted before its summary keeps them) and in the summary, with a replay command that,
/// run as printed through a shell, fails again the same way; on the reference every seed
/// passes. The failures are real ones: the untouched skeleton elects no leader, on any seed
/// (`run::tests` and `stress::tests` check how passes and failures mix in a report).
#[test]
fn stress_reports_every_failing_seed_with_a_replay_command_that_reproduces_it() {
    let args = [
        "stress",
        "initial_election_2a",
        "-n",
        "3",
        "--debug",
        "--quiet",
    ];
    let (out, text) = lab(&args);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("3 runs of 1 tests: 0 passed, 3 failed"),
        "{text}"
    );
    // The summary, on stdout.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let replays: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay: "))
        .collect();
    let expected: Vec<String> = (1..=3)
        .map(|seed| {
            format!(
                "LAB_SEED={seed} cargo test -p raft --test grader part2a::initial_election_2a \
                 -- --exact"
            )
        })
        .collect();
    assert_eq!(replays, expected, "{text}");
    // Each failure as it happened, on stderr: its diagnosis and its replay command.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut diagnoses = Vec::new();
    for (seed, replay) in (1..=3).zip(&expected) {
        let head = format!("FAILED part2a::initial_election_2a seed {seed} (panic): ");
        let diagnosis = stderr
            .lines()
            .find_map(|l| l.strip_prefix(head.as_str()))
            .unwrap_or_else(|| panic!("no {head:?} in:\n{stderr}"));
        assert!(
            diagnosis.starts_with(&format!("seed {seed}, virtual time ")),
            "{diagnosis}"
        );
        assert!(stderr.contains(&format!("  replay: {replay}")), "{stderr}");
        diagnoses.push(diagnosis.to_string());
    }
    // The replay command, as printed, run through a shell: the same failure.
    let replay = Command::new("sh")
        .arg("-c")
        .arg(replays[0])
        .current_dir(root())
        .output()
        .unwrap();
    let replayed = String::from_utf8_lossy(&replay.stdout).to_string()
        + &String::from_utf8_lossy(&replay.stderr);
    assert!(!replay.status.success(), "{replayed}");
    assert!(replayed.contains(&diagnoses[0]), "{replayed}");
    assert!(
        replayed.contains(&format!("replay: {}", replays[0])),
        "{replayed}"
    );
    // On the reference, every seed passes.
    let mut reference = args.to_vec();
    reference.push("--reference");
    let (out, text) = lab(&reference);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("3 runs of 1 tests: 3 passed, 0 failed"),
        "{text}"
    );
}

/// `grade` exits 0 with full marks on the reference and writes its JSON; on the skeleton it
/// exits non-zero with no points.
#[test]
fn grade_scores_the_reference_and_the_skeleton() {
    let json = std::env::temp_dir().join(format!("lab-cli-grade-2a-{}.json", std::process::id()));
    let json_arg = json.to_string_lossy().to_string();
    let args = [
        "grade", "2a", "-k", "2", "--debug", "--quiet", "--json", &json_arg,
    ];
    let mut reference = args.to_vec();
    reference.push("--reference");
    let (out, text) = lab(&reference);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("score: 5/5 points (5 tests, 2 seeds each)"),
        "{text}"
    );
    let grade: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(grade["earned"], 5);
    assert_eq!(grade["tests"][0]["verdict"], "pass");

    let (out, text) = lab(&args);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("score: 0/5 points"), "{text}");
    assert!(text.contains("fail (seeds [1, 2])"), "{text}");
}
