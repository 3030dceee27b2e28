//! `cargo lab mutants`: runs each mutant (a reference solution with one classic student bug,
//! `mutants/*.patch`) against its lab's grader suite, seed after seed, until a test fails.
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
use crate::suite::{grader_tests, Build};

/// One mutant, as its header describes it.
pub struct Mutant {
    pub name: String,
    pub lab: String,
    pub bug: String,
    pub caught_by: String,
    pub patch: PathBuf,
}

/// What running a mutant showed.
pub struct Verdict {
    /// The first seed on which a test failed, and the tests that failed on it.
    pub caught: Option<(u64, Vec<String>)>,
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
        sync(root, &scratch)?;
        apply(&scratch, &mutant.patch)?;
        let verdict = try_seeds(&scratch, &target, mutant, seeds)?;
        eprintln!(
            "  {}",
            match &verdict.caught {
                Some((seed, tests)) => format!("caught at seed {seed} by {}", tests.join(", ")),
                None => format!("NOT caught in {seeds} seeds"),
            }
        );
        rows.push((mutant, verdict));
    }
    sync(root, &scratch)?;
    println!("| mutant | lab | bug | caught | by | seed |\n|---|---|---|---|---|--:|");
    for (m, v) in &rows {
        let (caught, by, seed) = match &v.caught {
            Some((seed, tests)) => {
                let mut by = tests.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
                if tests.len() > 3 {
                    by.push_str(&format!(" (+{} more)", tests.len() - 3));
                }
                ("yes", by, seed.to_string())
            }
            None => ("**no**", format!("(expected: {})", m.caught_by), "-".into()),
        };
        println!(
            "| {} | {} | {} | {caught} | {by} | {seed} |",
            m.name, m.lab, m.bug
        );
    }
    let missed = rows.iter().filter(|(_, v)| v.caught.is_none()).count();
    println!(
        "\n{} mutants, {} caught, {missed} not caught (up to {seeds} seeds each)",
        rows.len(),
        rows.len() - missed
    );
    Ok(missed == 0)
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
    let field = |name: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(str::to_string)
            .ok_or_else(|| format!("{}: no `# {name}:` line in the header", path.display()))
    };
    Ok(Mutant {
        name: field("mutant")?,
        lab: field("lab")?,
        bug: field("bug")?,
        caught_by: field("caught-by")?,
        patch: path.to_path_buf(),
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
    // The scratch copy sits inside the workspace's own repository: keep git from finding it,
    // or `git apply` would take the patch's paths as relative to the repository's top and
    // silently skip every file outside the scratch directory.
    let ceiling = scratch.parent().unwrap_or(scratch);
    let out = Command::new("git")
        .current_dir(scratch)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .args(["apply", "--whitespace=nowarn"])
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

/// Builds the mutant's lab and runs its grader tests on seeds 1, 2, ... until one fails.
fn try_seeds(scratch: &Path, target: &Path, m: &Mutant, seeds: u64) -> Result<Verdict, String> {
    let build = Build {
        reference: true,
        release: true,
        root: scratch.to_path_buf(),
        target_dir: Some(target.to_path_buf()),
    };
    let tests = grader_tests(&build, &[m.lab.as_str()])?;
    let binary = &tests.first().ok_or("the lab has no grader tests")?.binary;
    // The grader tests by name, as stress and grade run them: not the unit tests of the
    // grader's own checkers that share the binary, which no mutant of the lab can fail.
    let names = tests.iter().map(|t| t.name.as_str());
    for seed in 1..=seeds {
        let out = Command::new(binary)
            .args(["--exact", "--test-threads=2"])
            .args(names.clone())
            .env("LAB_SEED", seed.to_string())
            .env_remove("LAB_SEEDS")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let failed: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
            .map(|name| name.rsplit("::").next().unwrap_or(name).to_string())
            .collect();
        if !out.status.success() {
            let failed = if failed.is_empty() {
                vec!["(the suite did not run)".to_string()]
            } else {
                failed
            };
            return Ok(Verdict {
                caught: Some((seed, failed)),
            });
        }
    }
    Ok(Verdict { caught: None })
}
