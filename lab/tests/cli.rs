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

fn lab(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lab"));
    cmd.current_dir(root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

/// Failures injected on seeds 3 and 6 (`LAB_INJECT_FAILURE=3`) are all reported, as they happen
/// and in the summary, with replay commands that fail again the same way; the other runs pass.
#[test]
fn stress_reports_every_failing_seed_with_a_replay_command_that_reproduces_it() {
    let args = [
        "stress",
        "initial_election_2a",
        "-n",
        "7",
        "--reference",
        "--debug",
        "--quiet",
    ];
    let (out, text) = lab(&args, &[("LAB_INJECT_FAILURE", "3")]);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("7 runs of 1 tests: 5 passed, 2 failed"),
        "{text}"
    );
    // The summary, on stdout.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let replays: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replay: "))
        .collect();
    assert_eq!(replays.len(), 2, "{text}");
    // Each failure was also printed on stderr as it happened, --quiet or not, so that a run
    // interrupted before its summary keeps them.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for seed in [3, 6] {
        let line = format!("FAILED part2a::initial_election_2a seed {seed} (panic): ");
        assert!(stderr.contains(&line), "{stderr}");
        let replay = format!("  replay: LAB_SEED={seed} cargo test -p raft --features reference");
        assert!(stderr.contains(&replay), "{stderr}");
    }
    assert!(replays[0].starts_with("LAB_SEED=3 cargo test -p raft --features reference"));
    assert!(replays[1].starts_with("LAB_SEED=6 "));
    // The replay command, as printed, run through a shell.
    let replay = Command::new("sh")
        .arg("-c")
        .arg(replays[0])
        .current_dir(root())
        .env("LAB_INJECT_FAILURE", "3")
        .output()
        .unwrap();
    let replayed = String::from_utf8_lossy(&replay.stdout).to_string()
        + &String::from_utf8_lossy(&replay.stderr);
    assert!(!replay.status.success());
    assert!(
        replayed.contains("seed 3, virtual time 0.000 s: panic in tester"),
        "{replayed}"
    );
    assert!(replayed.contains("injected failure"), "{replayed}");
    // Without the injection every seed passes.
    let (out, text) = lab(&args, &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("7 runs of 1 tests: 7 passed, 0 failed"),
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
    let (out, text) = lab(&reference, &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("score: 4/4 points (4 tests, 2 seeds each)"),
        "{text}"
    );
    let grade: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(grade["earned"], 4);
    assert_eq!(grade["tests"][0]["verdict"], "pass");

    let (out, text) = lab(&args, &[]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("score: 0/4 points"), "{text}");
    assert!(text.contains("fail (seeds [1, 2])"), "{text}");
}
