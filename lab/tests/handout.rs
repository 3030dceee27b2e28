//! The student repository `cargo lab handout` writes: no reference code in it, by file or by
//! marker; every command its README (and the instructors' README's replay example) tells a
//! student to run works in it; and the Gradescope autograder built from it grades the untouched
//! skeleton 0 and the reference Raft full marks.
//!
//! The handout lives in a stable directory, `<target>/lab-tool-tests/student/handout`, updated
//! file by file (only files whose content changed are written, files that disappeared are
//! deleted), so that cargo's mtime fingerprints keep a warm run warm: it rebuilds nothing.
//!
//! Builds there share the workspace's build directory (`CARGO_BUILD_BUILD_DIR`: intermediate
//! artifacts, where the registry dependencies are already compiled by the `cargo test` that
//! runs this test) but put their final artifacts in a target directory of their own. A nested
//! cargo does not wait for the one running this test, which holds no lock while tests run.
//! One trap: cargo names a path package's artifacts by its path relative to its workspace, so
//! the handout's `raft` and the workspace's (or the autograder's copy with a student's
//! `raft.rs`) would share artifacts and fingerprints, and a build in one whose sources are
//! older than the other's last build would take that build as up to date. (Sharing did run the
//! reference Raft's grader in the handout, and pass the skeleton.) So each area here has a
//! `.cargo/config.toml` above its trees that gives the path packages a profile setting of its
//! own (`codegen-units`), which gives their artifacts names of their own; registry
//! dependencies keep the workspace's settings, and its artifacts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The target directory this test was built in.
fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn work() -> PathBuf {
    target().join("lab-tool-tests")
}

/// The path packages of a handed-out tree (the workspace's members but `rsm`).
const PATH_PACKAGES: &[&str] = &[
    "labsim",
    "labgob",
    "labrpc",
    "raft",
    "kvraft",
    "shardmaster",
    "shardkv",
    "labtest",
    "lab",
    "contract",
];

/// The directory of one area of trees built here (`student`: the handout; `autograder`: the
/// bundle and the copies it grades), with the `.cargo/config.toml` that gives its path
/// packages artifacts of their own (see the top of this file): `codegen-units` differs from
/// the workspace's default and from every other area's.
fn area(name: &str) -> PathBuf {
    let units = match name {
        "student" => 255,
        "autograder" => 254,
        _ => panic!("no area {name}"),
    };
    let dir = work().join(name);
    let mut config = String::from(
        "# Written by lab/tests/handout.rs: artifacts of this area's path packages are its own.\n",
    );
    for profile in ["dev", "release"] {
        for package in PATH_PACKAGES {
            config.push_str(&format!(
                "[profile.{profile}.package.{package}]\ncodegen-units = {units}\n"
            ));
        }
    }
    write_if_changed(&dir.join(".cargo/config.toml"), &config);
    dir
}

/// One cargo at a time: they would wait for each other's lock anyway, and on a small machine
/// test runs beside a build only slow both.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

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

fn relative(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// Makes `to` hold what `from` holds, writing only files whose content or mode differs (so that
/// cargo's mtime fingerprints see the others unchanged) and deleting what `from` lacks.
fn sync(from: &Path, to: &Path) {
    let mut wanted = Vec::new();
    files(from, &mut wanted);
    for src in &wanted {
        let dst = to.join(relative(src, from));
        let bytes = std::fs::read(src).unwrap();
        let mode = std::fs::metadata(src).unwrap().permissions();
        let same = std::fs::read(&dst).is_ok_and(|old| old == bytes)
            && std::fs::metadata(&dst).is_ok_and(|m| m.permissions() == mode);
        if !same {
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&dst);
            std::fs::write(&dst, &bytes).unwrap();
            std::fs::set_permissions(&dst, mode).unwrap();
        }
    }
    let wanted: std::collections::BTreeSet<String> =
        wanted.iter().map(|p| relative(p, from)).collect();
    if to.exists() {
        let mut present = Vec::new();
        files(to, &mut present);
        for path in present {
            if !wanted.contains(&relative(&path, to)) {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
}

/// Writes `text` to `path` unless it already holds it.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs `cargo lab <args>` (the tool under test) in the workspace.
fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

/// Writes a fresh handout to a temporary directory with `cargo lab <command> <dir> <args>`
/// and syncs it into `<target>/lab-tool-tests/<name>/<command>`, which it returns.
fn written(command: &str, name: &str, args: &[&str]) -> PathBuf {
    let fresh = std::env::temp_dir().join(format!("lab-{name}-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    let dir = fresh.to_str().unwrap();
    let out = lab(&[&[command, dir][..], args].concat());
    assert!(
        out.status.success(),
        "cargo lab {command} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stable = area(name).join(command);
    sync(&fresh, &stable);
    std::fs::remove_dir_all(&fresh).unwrap();
    stable
}

/// The handout, of the last commit (the tool's unit tests check that uncommitted changes are
/// refused without `--allow-dirty`, and never handed out).
fn handout() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| written("handout", "student", &["--allow-dirty"]))
}

/// A shell command run in `dir` the way a student would, with the cargo that runs this test
/// first on the path, the workspace's build directory and a target directory of the area's
/// own (see the top of this file).
fn shell(dir: &Path, command: &str) -> (Output, String) {
    let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(bin) = cargo.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).unwrap();
    }
    // allowed: the test prints how long each command took, outside any simulation
    let start = std::time::Instant::now();
    let out = Command::new("sh")
        .current_dir(dir)
        .args(["-c", command])
        .env("PATH", path)
        .env("CARGO_BUILD_BUILD_DIR", target())
        .env("CARGO_TARGET_DIR", work().join("student/target"))
        .env_remove("LAB_SEEDS")
        .env_remove("LAB_TRACE")
        .env_remove("LAB_CHECK_DETERMINISM")
        .output()
        .unwrap();
    eprintln!("{:>6.1} s  {command}", start.elapsed().as_secs_f64());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

#[test]
fn handout_has_no_reference_code() {
    let dir = handout();
    let mut all = Vec::new();
    files(dir, &mut all);
    for path in &all {
        let rel = relative(path, dir);
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
    for file in [
        "raft/src/raft.rs",
        "kvraft/src/server.rs",
        "shardkv/src/server.rs",
        ".github/workflows/grade.yml",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
}

/// A README's failure example: its first line and the replay command it shows.
struct Example {
    first_line: String,
    replay: String,
}

fn failure_example(readme: &str) -> Example {
    let block = readme
        .split("```text\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("replay: "))
        .expect("no ```text block with a replay line");
    let replay = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .unwrap();
    Example {
        first_line: block.lines().next().unwrap().to_string(),
        replay: replay.to_string(),
    }
}

/// Runs a README's replay example in the handout (the skeleton) and checks that it fails as
/// the README says: the same seed, virtual time and place, and the same diagnosis.
fn check_example(readme: &str, name: &str) {
    let example = failure_example(readme);
    // `seed 4242, virtual time 4.966 s: panic in tester at <file:line>: <message> (...)`
    let (head, rest) = example
        .first_line
        .split_once(" at ")
        .unwrap_or_else(|| panic!("{name}: no location in {:?}", example.first_line));
    let message = rest.split_once(": ").map_or("", |(_, m)| m);
    let message = message.split(" (").next().unwrap().trim_end_matches("...");
    assert!(
        head.starts_with("seed ") && !message.trim().is_empty(),
        "{name}: {:?}",
        example.first_line
    );
    let _cargo = serial();
    let (_, text) = shell(handout(), &example.replay);
    for expected in [head, message.trim()] {
        assert!(
            text.contains(expected),
            "{name}'s example `{}` does not print {expected:?}:\n{text}",
            example.replay
        );
    }
}

#[test]
fn the_readmes_replay_examples_are_real() {
    let main = std::fs::read_to_string(root().join("README.md")).unwrap();
    check_example(&main, "README.md");
    let student = std::fs::read_to_string(handout().join("README.md")).unwrap();
    check_example(&student, "the handout's README.md");
}

/// Every `cargo ...` command the student README shows: the lines of its ```sh blocks and the
/// commands in backquotes elsewhere (the lab table, the prose).
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut add = |c: &str| {
        let c = c.split(" #").next().unwrap().trim().to_string();
        if c.starts_with("cargo ") && !commands.contains(&c) {
            commands.push(c);
        }
    };
    for (i, chunk) in readme.split("```").enumerate() {
        if i % 2 == 1 {
            if let Some(body) = chunk.strip_prefix("sh\n") {
                body.lines().for_each(&mut add);
            }
        } else {
            chunk.split('`').skip(1).step_by(2).for_each(&mut add);
        }
    }
    commands
}

/// The count of every `running N tests` line.
fn test_counts(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("running ")?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn every_command_in_the_students_readme_works_in_the_handout() {
    let dir = handout();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    for expected in [
        "cargo test -p raft 2a",
        "cargo test -p shardkv 4b",
        "cargo lab grade raft",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected:?} not found among {commands:?}"
        );
    }
    // The CI workflow runs the same graders, one part per job.
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/grade.yml")).unwrap();
    assert!(workflow.contains("cargo test --release -p ${{ matrix.lab }} ${{ matrix.part }}"));
    for line in workflow.lines().filter(|l| l.contains("{ lab: ")) {
        let words: Vec<&str> = line
            .split(['{', '}', ',', ':', ' ', '-'])
            .filter(|w| !w.is_empty())
            .collect();
        let ["lab", lab, "part", part] = words[..] else {
            panic!("matrix entry {line:?}")
        };
        assert!(
            readme.contains(&format!("`cargo test -p {lab} ")) && readme.contains(part),
            "the workflow runs `cargo test -p {lab} {part}`, a command the README does not show"
        );
    }

    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let _cargo = serial();
        match words[1] {
            "test" => {
                // The skeleton fails its tests; what matters is that the command builds and its
                // filter selects grader tests.
                let (_, text) = shell(dir, command);
                assert!(
                    !text.contains("error[") && !text.contains("could not compile"),
                    "`{command}` does not build:\n{text}"
                );
                let counts = test_counts(&text);
                assert!(
                    counts.iter().any(|&n| n > 0),
                    "`{command}` runs no test ({counts:?}):\n{text}"
                );
                if command == "cargo test -p raft 2a" {
                    // The skeleton fails fast, with the diagnosis its handout explains.
                    assert!(text.contains("expected one leader, got none"), "{text}");
                    for secs in text.split("finished in ").skip(1) {
                        let secs: f64 = secs.split('s').next().unwrap().trim().parse().unwrap();
                        assert!(secs < 5.0, "the skeleton's 2A tests took {secs} s to fail");
                    }
                }
            }
            "lab" => {
                // On one seed: `-n 500` becomes `-n 1`, and a grade gets `-k 1`.
                let mut cheap: Vec<&str> = Vec::new();
                let mut words = words.iter().copied();
                while let Some(word) = words.next() {
                    cheap.push(word);
                    if word == "-n" || word == "-k" {
                        words.next();
                        cheap.push("1");
                    }
                }
                if cheap[2] == "grade" && !cheap.contains(&"-k") {
                    cheap.extend(["-k", "1"]);
                }
                cheap.push("--quiet");
                let grade = cheap[2] == "grade";
                let cheap = cheap.join(" ");
                let (out, text) = shell(dir, &cheap);
                // 0: all passed, 1: some failed (the skeleton), 2: the tool's own error.
                assert!(
                    matches!(out.status.code(), Some(0 | 1)),
                    "`{cheap}` failed to run:\n{text}"
                );
                let expected = if grade { "score: " } else { "stress: " };
                assert!(text.contains(expected), "`{cheap}`:\n{text}");
            }
            "doc" => {
                let command = command.replace(" --open", "");
                let (out, text) = shell(dir, &command);
                assert!(out.status.success(), "`{command}` failed:\n{text}");
            }
            _ => panic!("no way to check `{command}`: teach this test one"),
        }
    }
}

/// Each student file's page in the docs the handout generates, with one of its handout's key
/// hints, and the lab's front page that links it.
const DOC_HINTS: &[(&str, &str, &str)] = &[
    ("raft", "raft", "10 heartbeats per second"),
    ("raft", "raft", "Figure 8"),
    ("kvraft", "server", "a key/value service without snapshots"),
    ("kvraft", "client", "retries until it succeeds"),
    (
        "shardmaster",
        "server",
        "recognised by clerk id and sequence number",
    ),
    ("shardmaster", "client", "sleep (about 100 ms)"),
    ("shardkv", "server", "A static configuration."),
    (
        "shardkv",
        "client",
        "A clerk keeps a copy of a configuration from the shard master",
    ),
];

#[test]
fn cargo_doc_shows_every_labs_handout() {
    let dir = handout();
    let _cargo = serial();
    let command = "cargo doc --no-deps -p raft -p kvraft -p shardmaster -p shardkv";
    let (out, text) = shell(dir, command);
    assert!(out.status.success(), "`{command}` failed:\n{text}");
    let doc = work().join("student/target/doc");
    for (lab, module, hint) in DOC_HINTS {
        let page = doc.join(lab).join(module).join("index.html");
        let html =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(
            html.contains(hint),
            "{} lacks the handout's {hint:?}",
            page.display()
        );
        let front = std::fs::read_to_string(doc.join(lab).join("index.html")).unwrap();
        assert!(
            front.contains(&format!("href=\"{module}/index.html\"")),
            "{lab}'s front page does not link its student file {module}.rs"
        );
    }
}

/// What `run_autograder` left in the results directory.
fn results(dir: &Path) -> serde_json::Value {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_autograder_grades_the_skeleton_zero_and_the_reference_full_marks() {
    let bundle = written(
        "autograder",
        "autograder",
        &["--parts", "2a", "-k", "1", "--allow-dirty"],
    );
    let work = area("autograder");
    for file in ["setup.sh", "run_autograder", "handout/raft/src/raft.rs"] {
        assert!(
            bundle.join(file).is_file(),
            "{file} missing from the autograder"
        );
    }
    let env = |script: &str, submission: &str| {
        format!(
            "AUTOGRADER_SOURCE={} AUTOGRADER_WORK={} AUTOGRADER_TARGET={} \
             AUTOGRADER_SUBMISSION={} AUTOGRADER_RESULTS={} bash {}",
            bundle.display(),
            work.join("work").display(),
            work.join("target").display(),
            work.join("submissions").join(submission).display(),
            work.join("results").join(submission).display(),
            bundle.join(script).display()
        )
    };
    let submissions = work.join("submissions");
    let skeleton = std::fs::read_to_string(bundle.join("handout/raft/src/raft.rs")).unwrap();
    // Flat, by file name.
    write_if_changed(&submissions.join("skeleton/raft.rs"), &skeleton);
    // At its path in the repository: the reference solution, by absolute path.
    let reference = root().join("raft/src/reference/mod.rs");
    write_if_changed(
        &submissions.join("reference/raft/src/raft.rs"),
        &format!(
            "#[path = {:?}]\nmod imp;\npub use imp::*;\n",
            reference.to_str().unwrap()
        ),
    );
    write_if_changed(
        &submissions.join("broken/raft/src/raft.rs"),
        "pub struct Raft<C> { not rust\n",
    );
    std::fs::create_dir_all(submissions.join("empty")).unwrap();
    let results_of = |name: &str| results(&work.join("results").join(name));

    let _cargo = serial();
    // The build step of setup.sh (cargo is here, so it installs nothing).
    let (out, text) = shell(&bundle, &env("setup.sh", "none"));
    assert!(out.status.success(), "setup.sh failed:\n{text}");

    let (_, text) = shell(&bundle, &env("run_autograder", "empty"));
    let json = results_of("empty");
    assert_eq!(json["score"].as_f64(), Some(0.0), "{text}");
    let output = json["output"].as_str().unwrap();
    assert!(
        output.contains("missing from the submission: raft/src/raft.rs"),
        "{output}"
    );

    let (_, text) = shell(&bundle, &env("run_autograder", "broken"));
    let json = results_of("broken");
    assert_eq!(json["score"].as_f64(), Some(0.0), "{text}");
    let output = json["output"].as_str().unwrap();
    assert!(
        output.contains("error") && output.contains("raft.rs"),
        "{output}"
    );

    for (name, full_marks) in [("skeleton", false), ("reference", true)] {
        let (_, text) = shell(&bundle, &env("run_autograder", name));
        let json = results_of(name);
        let tests = json["tests"].as_array().unwrap();
        assert!(tests.len() >= 4, "{name}: {json}\n{text}");
        let max: f64 = tests.iter().map(|t| t["max_score"].as_f64().unwrap()).sum();
        let score = json["score"].as_f64().unwrap();
        let status = if full_marks { "passed" } else { "failed" };
        assert_eq!(
            score,
            if full_marks { max } else { 0.0 },
            "{name}: {json}\n{text}"
        );
        for t in tests {
            assert_eq!(t["status"], status, "{name}: {t}");
            assert!(t["name"].as_str().unwrap().starts_with("2A: "), "{t}");
        }
    }
}
