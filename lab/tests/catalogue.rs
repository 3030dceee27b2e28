//! The mutant catalogue stays runnable: every patch in `mutants/` and `mutants/survivors/`
//! applies to the references as they are now, and says what `cargo lab mutants` needs in its
//! header. A refactoring of a reference can leave a patch behind (six did, when the services
//! stopped holding their server weakly, and nothing noticed until a full catalogue run); this
//! test notices at once, in CI, without building anything. `git apply --check` changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn patches(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    paths.sort();
    paths
}

/// What is wrong with `patch`, if anything.
fn problems(root: &Path, patch: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let text = std::fs::read_to_string(patch).unwrap();
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    for field in ["mutant", "lab", "bug", "why", "caught-by"] {
        if !header
            .iter()
            .any(|l| l.starts_with(&format!("# {field}: ")))
        {
            problems.push(format!("no `# {field}:` line in the header"));
        }
    }
    let stem = patch.file_stem().unwrap().to_string_lossy();
    if !header.contains(&format!("# mutant: {stem}").as_str()) {
        problems.push(format!(
            "its `# mutant:` line does not name the file ({stem})"
        ));
    }
    let out = Command::new("git")
        .current_dir(root)
        .args(["apply", "--check", "--whitespace=nowarn"])
        .arg(patch)
        .output()
        .expect("cannot run git");
    if !out.status.success() {
        problems.push(format!(
            "does not apply to the working tree: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    problems
}

#[test]
fn every_mutant_applies_and_has_a_full_header() {
    let root = root();
    let mut all = patches(&root.join("mutants"));
    all.extend(patches(&root.join("mutants/survivors")));
    assert!(all.len() > 50, "only {} patches found", all.len());
    let failures: Vec<String> = all
        .iter()
        .flat_map(|patch| {
            let name = patch.strip_prefix(&root).unwrap().display().to_string();
            problems(&root, patch)
                .into_iter()
                .map(move |p| format!("{name}: {p}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "the mutant catalogue has rotted; rewrite these patches against the current \
         references:\n{}",
        failures.join("\n")
    );
}
