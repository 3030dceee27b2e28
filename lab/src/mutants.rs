//! `cargo lab mutants`: runs each mutant (a reference solution with one classic student bug,
//! `mutants/*.patch`) against its lab's grader suite, seed after seed, until a test fails. A
//! mutant of a crate the labs run on (`# lab: labrpc`, a classic bug of an RPC simulator) runs
//! against that crate's own tests instead, which have no grader ([`Judge`]).
//!
//! A mutant's file starts with a header of `# field: value` lines (mutant, lab, bug, why,
//! caught-by), followed by a diff from the workspace root. The mutant is applied to a scratch
//! copy of the workspace (by default under `target/mutants/src`, built in
//! `target/mutants/target`): its files as the working tree has them, committed or not (a new
//! test counts before it is committed), copied only when they differ, so that cargo rebuilds
//! only what the mutant touched. The workspace itself never changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::git::working_files;
use crate::suite::{crate_test_binaries, grader_tests, Build, Judge};

/// One mutant, as its header describes it.
#[derive(Debug)]
pub struct Mutant {
    pub name: String,
    /// The lab (or support crate) the mutant changes, whose tests must catch it.
    pub lab: String,
    pub judge: Judge,
    pub bug: String,
    pub caught_by: String,
    pub patch: PathBuf,
}

/// What running a mutant showed.
pub struct Verdict {
    /// The first seed on which a test failed, and the tests that failed on it.
    pub caught: Option<(u64, Vec<String>)>,
}

/// Applies `m` to the scratch copy and runs it: a verdict, or why the mutant could not run
/// (its patch does not apply, or the mutated crate does not build), which is the catalogue's
/// fault, not the grader's, and must not stop the mutants after it.
fn run_one(
    root: &Path,
    scratch: &Path,
    target: &Path,
    m: &Mutant,
    seeds: u64,
) -> Result<Verdict, String> {
    sync(root, scratch)?;
    apply(scratch, &m.patch)?;
    try_seeds(scratch, target, m, seeds)
}

/// Runs the mutants whose names start with one of `names` (all if empty) over up to `seeds`
/// seeds each, in the scratch directory `scratch`, prints the table, and returns whether every
/// one was caught.
pub fn run(root: &Path, names: &[String], seeds: u64, scratch: &Path) -> Result<bool, String> {
    let mutants = load(&root.join("mutants"))?;
    let selected: Vec<&Mutant> = mutants
        .iter()
        .filter(|m| names.is_empty() || names.iter().any(|n| m.name.starts_with(n.as_str())))
        .collect();
    if selected.is_empty() {
        return Err("no mutant matches".into());
    }
    let target = scratch.join("target");
    let scratch = scratch.join("src");
    let mut rows = Vec::new();
    for mutant in &selected {
        eprintln!("mutant {} ({})...", mutant.name, mutant.lab);
        let verdict = run_one(root, &scratch, &target, mutant, seeds);
        eprintln!(
            "  {}",
            match &verdict {
                Ok(Verdict {
                    caught: Some((seed, tests)),
                }) => format!("caught at seed {seed} by {}", tests.join(", ")),
                Ok(Verdict { caught: None }) => format!("NOT caught in {seeds} seeds"),
                Err(e) => format!("CANNOT RUN: {e}"),
            }
        );
        rows.push((mutant, verdict));
    }
    sync(root, &scratch)?;
    println!("| mutant | lab | bug | caught | by | seed |\n|---|---|---|---|---|--:|");
    for (m, v) in &rows {
        let (caught, by, seed) = match v {
            Ok(Verdict {
                caught: Some((seed, tests)),
            }) => {
                let mut by = tests.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
                if tests.len() > 3 {
                    by.push_str(&format!(" (+{} more)", tests.len() - 3));
                }
                ("yes", by, seed.to_string())
            }
            Ok(Verdict { caught: None }) => {
                ("**no**", format!("(expected: {})", m.caught_by), "-".into())
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default().replace('|', "/");
                ("**cannot run**", first, "-".into())
            }
        };
        println!(
            "| {} | {} | {} | {caught} | {by} | {seed} |",
            m.name, m.lab, m.bug
        );
    }
    let caught = rows
        .iter()
        .filter(|(_, v)| matches!(v, Ok(Verdict { caught: Some(_) })))
        .count();
    let broken = rows.iter().filter(|(_, v)| v.is_err()).count();
    let missed = rows.len() - caught - broken;
    println!(
        "\n{} mutants, {caught} caught, {missed} not caught (up to {seeds} seeds each){}",
        rows.len(),
        if broken > 0 {
            format!(", {broken} could not run (see above: rewrite their patches)")
        } else {
            String::new()
        }
    );
    if broken > 0 {
        // The catalogue's fault, not the grader's: an error (exit 2), not "not caught" (1).
        return Err(format!(
            "{broken} mutant(s) could not run; `cargo test -p lab -- the_catalogue` names \
             the patches that no longer apply"
        ));
    }
    Ok(caught == rows.len())
}

/// Reads every `*.patch` in `dir`, in name order.
pub fn load(dir: &Path) -> Result<Vec<Mutant>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    paths.sort();
    paths.iter().map(|p| parse(p)).collect()
}

fn parse(path: &Path) -> Result<Mutant, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_header(&text, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The mutant a patch file's text describes: its header's fields, and what judges its lab.
fn parse_header(text: &str, patch: &Path) -> Result<Mutant, String> {
    let field = |name: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(str::to_string)
            .ok_or_else(|| format!("no `# {name}:` line in the header"))
    };
    let lab = field("lab")?;
    Ok(Mutant {
        name: field("mutant")?,
        judge: Judge::of(&lab)?,
        lab,
        bug: field("bug")?,
        caught_by: field("caught-by")?,
        patch: patch.to_path_buf(),
    })
}

/// Makes `scratch` hold the workspace's files as they are in the working tree, writing only
/// those that differ.
fn sync(root: &Path, scratch: &Path) -> Result<(), String> {
    for rel in working_files(root)? {
        let (from, to) = (root.join(&rel), scratch.join(&rel));
        let want = std::fs::read(&from).map_err(|e| format!("{rel}: {e}"))?;
        if std::fs::read(&to).ok().as_deref() != Some(&want[..]) {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            std::fs::write(&to, &want).map_err(|e| format!("{}: {e}", to.display()))?;
        }
    }
    Ok(())
}

fn apply(scratch: &Path, patch: &Path) -> Result<(), String> {
    git_apply(scratch, patch, false)
}

/// `git apply` of `patch` in `dir` (with `check`, only whether it would apply: nothing changes).
fn git_apply(dir: &Path, patch: &Path, check: bool) -> Result<(), String> {
    // The scratch copy sits inside the workspace's own repository: keep git from finding it,
    // or `git apply` would take the patch's paths as relative to the repository's top and
    // silently skip every file outside the scratch directory.
    let ceiling = dir.parent().unwrap_or(dir);
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .args(["apply", "--whitespace=nowarn"])
        .args(check.then_some("--check"))
        .arg(patch)
        .output()
        .map_err(|e| format!("cannot run git apply: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} does not apply: {}",
            patch.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One test binary to run on each seed, and how.
struct TestRun {
    binary: PathBuf,
    args: Vec<String>,
    /// What a failed test's name is prefixed with in the verdict (`semantics::` for a test of
    /// `labrpc/tests/semantics.rs`): a support crate's tests are top-level functions of many
    /// binaries, whose names alone (`counts`, `basic`) do not say where they are.
    prefix: Option<String>,
}

/// Builds what judges the mutant's lab, and says how to run it.
fn judging_runs(build: &Build, m: &Mutant) -> Result<Vec<TestRun>, String> {
    let threads = "--test-threads=2".to_string();
    match m.judge {
        Judge::Grader => {
            let tests = grader_tests(build, &[m.lab.as_str()])?;
            let binary = tests
                .first()
                .ok_or("the lab has no grader tests")?
                .binary
                .clone();
            // The grader tests by name, as stress and grade run them: not the unit tests of the
            // grader's own checkers that share the binary, which no mutant of the lab can fail.
            let mut args = vec!["--exact".to_string(), threads];
            args.extend(tests.iter().map(|t| t.name.clone()));
            Ok(vec![TestRun {
                binary,
                args,
                prefix: None,
            }])
        }
        // Every test of the crate: each states a rule of the crate's, and any may catch a bug.
        Judge::OwnTests => Ok(crate_test_binaries(build, &m.lab)?
            .into_iter()
            .map(|(target, binary)| TestRun {
                binary,
                args: vec![threads.clone()],
                prefix: Some(target),
            })
            .collect()),
    }
}

/// Builds the mutant's lab and runs the tests that judge it ([`judging_runs`]) on seeds 1, 2,
/// ... until one fails. Every run of a seed goes, so that the verdict names all the tests that
/// failed on it. The tests read the seed from `LAB_SEED`, a support crate's as a lab's do.
fn try_seeds(scratch: &Path, target: &Path, m: &Mutant, seeds: u64) -> Result<Verdict, String> {
    let build = Build {
        reference: true,
        release: true,
        root: scratch.to_path_buf(),
        target_dir: Some(target.to_path_buf()),
    };
    let runs = judging_runs(&build, m)?;
    for seed in 1..=seeds {
        let mut failed = Vec::new();
        for run in &runs {
            let out = Command::new(&run.binary)
                .args(&run.args)
                .env("LAB_SEED", seed.to_string())
                .env_remove("LAB_SEEDS")
                .output()
                .map_err(|e| format!("cannot run {}: {e}", run.binary.display()))?;
            if out.status.success() {
                continue;
            }
            let names = failed_tests(&String::from_utf8_lossy(&out.stdout));
            if names.is_empty() {
                // It failed without a failed test: it crashed, or did not start.
                let what = run.prefix.as_deref().unwrap_or("the suite");
                failed.push(format!("({what} did not run)"));
            }
            failed.extend(names.into_iter().map(|name| match &run.prefix {
                Some(prefix) => format!("{prefix}::{name}"),
                None => name,
            }));
        }
        if !failed.is_empty() {
            return Ok(Verdict {
                caught: Some((seed, failed)),
            });
        }
    }
    Ok(Verdict { caught: None })
}

/// The tests a libtest run reports as failed, by their own names (without module path).
fn failed_tests(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(|name| name.rsplit("::").next().unwrap_or(name).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\
# mutant: labrpc-example
# lab: labrpc
# bug: the bug
# why: why it matters
# caught-by: semantics::some_test
diff --git a/labrpc/src/end.rs b/labrpc/src/end.rs
# lab: raft
";

    #[test]
    fn a_header_names_the_mutant_and_its_lab_says_what_judges_it() {
        let m = parse_header(HEADER, Path::new("m.patch")).unwrap();
        assert_eq!(
            (m.name.as_str(), m.lab.as_str(), m.judge),
            ("labrpc-example", "labrpc", Judge::OwnTests)
        );
        assert_eq!(
            (m.bug.as_str(), m.caught_by.as_str()),
            ("the bug", "semantics::some_test")
        );
        let raft = HEADER.replace("# lab: labrpc", "# lab: raft");
        let m = parse_header(&raft, Path::new("m.patch")).unwrap();
        assert_eq!(m.judge, Judge::Grader);
        let labsim = HEADER.replace("# lab: labrpc", "# lab: labsim");
        assert_eq!(
            parse_header(&labsim, Path::new("m.patch")).unwrap().judge,
            Judge::OwnTests
        );

        // The header ends at the first line that is not a comment: the diff's lines never count.
        let no_lab = HEADER.replace("# lab: labrpc\n", "");
        let err = parse_header(&no_lab, Path::new("m.patch")).unwrap_err();
        assert_eq!(err, "no `# lab:` line in the header");
        let typo = HEADER.replace("# lab: labrpc", "# lab: lab-rpc");
        let err = parse_header(&typo, Path::new("m.patch")).unwrap_err();
        assert!(err.contains("\"lab-rpc\" is neither a lab (raft,"), "{err}");
        assert!(err.contains("run on (labrpc, labsim)"), "{err}");
    }

    /// Every mutant in the catalogue, survivors included, parses, is named by its file, has
    /// the header's `why`, and applies to the references as they are now (`git apply
    /// --check`, which changes nothing); each lab's mutants go to that lab's judge. A typo in a
    /// header fails here, not after the mutants before it have been built and run; and a
    /// refactoring of a reference that leaves a patch behind (six were, when the services
    /// stopped holding their server weakly, and nothing noticed until a full run) fails in CI.
    #[test]
    fn the_catalogue_loads_applies_and_labrpc_mutants_are_judged_by_labrpcs_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut mutants = load(&root.join("mutants")).unwrap();
        mutants.extend(load(&root.join("mutants/survivors")).unwrap());
        assert!(mutants.iter().any(|m| m.lab == "raft"));
        let mut rotted = Vec::new();
        for m in &mutants {
            let prefix = m.name.split('-').next().unwrap();
            assert_eq!(m.lab, prefix, "{}: the name starts with its lab", m.name);
            let own = m.judge == Judge::OwnTests;
            assert_eq!(own, m.lab == "labrpc" || m.lab == "labsim", "{}", m.name);
            let stem = m.patch.file_stem().unwrap().to_string_lossy();
            assert_eq!(m.name, stem, "the `# mutant:` line names the file");
            let text = std::fs::read_to_string(&m.patch).unwrap();
            let mut header = text.lines().take_while(|l| l.starts_with('#'));
            assert!(
                header.any(|l| l.starts_with("# why: ")),
                "{}: no `# why:` line in the header",
                m.name
            );
            if let Err(e) = git_apply(root, &m.patch, true) {
                rotted.push(e);
            }
        }
        assert!(
            rotted.is_empty(),
            "the mutant catalogue has rotted; rewrite these patches against the current \
             references:\n{}",
            rotted.join("\n")
        );
    }

    #[test]
    fn failed_tests_are_read_from_libtests_output() {
        let out = "\
running 3 tests
test part2a::initial_election_2a ... ok
test part2b::backup_2b ... FAILED
test counts ... FAILED

failures:
";
        assert_eq!(failed_tests(out), ["backup_2b", "counts"]);
    }
}
