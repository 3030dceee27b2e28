//! The student repository `cargo lab handout` writes: no reference code in it, by file or by
//! marker, and it builds, with the 2A tests failing fast with the skeleton's diagnosis.

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn handout_has_no_reference_code_and_its_tests_fail_fast() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("lab-handout-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(&root)
        .arg("handout")
        .arg(&dir)
        // The last commit, whatever the working tree holds (the tool's unit tests check that
        // uncommitted changes are refused without this flag, and never handed out).
        .arg("--allow-dirty")
        .status()
        .unwrap();
    assert!(status.success(), "cargo lab handout failed");

    let mut all = Vec::new();
    files(&dir, &mut all);
    for path in &all {
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            !rel.contains("/reference/")
                && !rel.starts_with("rsm/")
                && !rel.starts_with("mutants/"),
            "reference file in the handout: {rel}"
        );
        if rel.starts_with("lab/") {
            continue; // the tool itself, whose docs and tests describe the markers
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for needle in [
            ["handout: begin", " reference-only"].concat(),
            ["feature = \"", "reference\""].concat(),
            ["#[path = \"reference", "/mod.rs\"]"].concat(),
        ] {
            assert!(!text.contains(&needle), "{rel} contains {needle:?}");
        }
    }
    for skeleton in [
        "raft/src/raft.rs",
        "kvraft/src/server.rs",
        "shardkv/src/server.rs",
    ] {
        assert!(dir.join(skeleton).is_file(), "{skeleton} missing");
    }

    // Build and run 2A in the handout, with its own target directory (cargo's lock on ours is
    // held by the test run that runs this test).
    let target = root.join("target/lab-tool-tests");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .args(["test", "-p", "raft", "--test", "grader", "2a"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the skeleton passed 2A?\n{text}");
    assert!(text.contains("4 failed"), "{text}");
    assert!(text.contains("expected one leader, got none"), "{text}");
    let secs: f64 = text
        .split("finished in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no test time in:\n{text}"));
    assert!(secs < 5.0, "the skeleton's 2A tests took {secs} s to fail");
    std::fs::remove_dir_all(&dir).unwrap();
}
