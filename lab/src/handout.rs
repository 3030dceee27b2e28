//! `cargo lab handout <dir>`: the student repository.
//!
//! The workspace as of its last commit (HEAD), without the reference solutions
//! (`*/src/reference/`, `rsm/`), the mutants, the instructors' benchmarks and CI, and with the
//! reference-only lines taken out of the files that keep them; with the students' README
//! (`handout_readme.md`) and a GitHub Actions workflow that runs the graders on every push
//! (`handout_workflow.yml`). Those lines are marked in the
//! sources:
//!
//! ```text
//! // handout: begin reference-only      (or `# handout: ...` in TOML)
//! ...lines only the instructors' workspace has...
//! // handout: end
//! // handout: student: <a line only the student repository has>
//! ```
//!
//! The result is checked before anything is written: a file that still mentions the
//! `reference` feature, or a marker left open, is an error naming the file.
//!
//! Only committed content is handed out, never the working tree: an instructor's uncommitted
//! solution in `raft/src/raft.rs` must not reach the students. Uncommitted changes to files the
//! handout includes are an error listing them, unless the caller allows them; the handout then
//! still holds the committed version and the caller is told which changes were left out.

use std::path::{Path, PathBuf};

use crate::git::{committed_files, uncommitted, Uncommitted};

/// The README of the student repository.
const STUDENT_README: &str = include_str!("handout_readme.md");

/// The student repository's CI: the graders on every push (GitHub Actions).
const STUDENT_WORKFLOW: &str = include_str!("handout_workflow.yml");

/// Paths (prefixes) that stay out of the student repository.
const EXCLUDED: &[&str] = &[
    "rsm/",
    "mutants/",
    ".ci/",
    "BENCHMARKS.md",
    "GRADING.md",
    "README.md",
];

/// What [`write()`] did.
pub struct Written {
    /// Files written.
    pub files: usize,
    /// Uncommitted changes to files the handout includes, left out (with `allow_dirty`).
    pub left_out: Vec<Uncommitted>,
}

/// Writes the student repository for the last commit of the workspace at `root` into `dir`.
/// Uncommitted changes to files the handout includes are an error unless `allow_dirty`.
pub fn write(root: &Path, dir: &Path, allow_dirty: bool) -> Result<Written, String> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    // Changes to files that never reach the students (the reference solutions, GRADING.md)
    // do not matter; refusing them would only teach instructors to pass --allow-dirty.
    let left_out: Vec<Uncommitted> = uncommitted(root)?
        .into_iter()
        .filter(|u| !excluded(&u.path))
        .collect();
    if !left_out.is_empty() && !allow_dirty {
        let list: Vec<String> = left_out.iter().map(|u| format!("  {u}")).collect();
        return Err(format!(
            "the handout is made from the last commit, and these files it includes have \
             uncommitted changes:\n{}\ncommit them, or pass --allow-dirty to hand out the \
             last commit without these changes",
            list.join("\n")
        ));
    }
    let mut files = Vec::new();
    for file in committed_files(root, |path| !excluded(path))? {
        let path = file.path;
        let bytes = if path.ends_with(".rs") || path.ends_with(".toml") {
            let text = String::from_utf8(file.bytes).map_err(|_| format!("{path}: not UTF-8"))?;
            let text = strip(&text).map_err(|e| format!("{path}: {e}"))?;
            // Built at run time, so that this file does not trip its own check.
            let needles = [
                ["feature = \"", "reference\""].concat(),
                ["MUT", "ANT:"].concat(),
            ];
            if needles.iter().any(|needle| text.contains(needle.as_str())) {
                return Err(format!(
                    "{path}: mentions reference-only code outside handout markers"
                ));
            }
            text.into_bytes()
        } else {
            file.bytes
        };
        files.push((PathBuf::from(path), bytes, file.executable));
    }
    files.push((
        PathBuf::from("README.md"),
        STUDENT_README.as_bytes().to_vec(),
        false,
    ));
    files.push((
        PathBuf::from(".github/workflows/grade.yml"),
        STUDENT_WORKFLOW.as_bytes().to_vec(),
        false,
    ));
    for (path, bytes, executable) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))?;
        if *executable {
            make_executable(&target)?;
        }
    }
    Ok(Written {
        files: files.len(),
        left_out,
    })
}

#[cfg(unix)]
pub fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(not(unix))]
pub fn make_executable(_: &Path) -> Result<(), String> {
    Ok(())
}

fn excluded(path: &str) -> bool {
    EXCLUDED.iter().any(|e| path.starts_with(e)) || path.contains("/src/reference/")
}

/// Removes the reference-only blocks of a source file and puts in the student-only lines.
pub fn strip(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut open_at = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let marker = trimmed
            .strip_prefix("// handout: ")
            .or_else(|| trimmed.strip_prefix("# handout: "));
        match marker {
            None if open_at.is_none() => {
                out.push_str(line);
                out.push('\n');
            }
            None => {}
            Some("begin reference-only") => {
                if let Some(at) = open_at {
                    return Err(format!(
                        "line {}: a block opened on line {at} is still open",
                        n + 1
                    ));
                }
                open_at = Some(n + 1);
            }
            Some("end") if open_at.is_none() => {
                return Err(format!("line {}: `handout: end` without a begin", n + 1));
            }
            Some("end") => open_at = None,
            Some(other) => match other.strip_prefix("student: ") {
                Some(student) if open_at.is_none() => {
                    out.push_str(indent);
                    out.push_str(student);
                    out.push('\n');
                }
                Some(_) => {
                    return Err(format!(
                        "line {}: a student line inside a reference block",
                        n + 1
                    ))
                }
                None => return Err(format!("line {}: unknown marker `handout: {other}`", n + 1)),
            },
        }
    }
    match open_at {
        Some(at) => Err(format!("the block opened on line {at} is never closed")),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tests::Repo;

    #[test]
    fn strips_blocks_and_puts_in_student_lines() {
        let src = "a\n// handout: begin reference-only\nsecret\n    // handout: end\n    // handout: student: let x = 1;\n# handout: begin reference-only\nz\n# handout: end\nb\n";
        assert_eq!(strip(src).unwrap(), "a\n    let x = 1;\nb\n");
        assert!(strip("// handout: begin reference-only\n").is_err());
        assert!(strip("// handout: end\n").is_err());
        assert!(strip("// handout: bogus\n").is_err());
    }

    /// A workspace whose committed skeleton is in the working tree replaced by a solution.
    fn workspace(name: &str) -> Repo {
        let repo = Repo::new(
            name,
            &[
                ("Cargo.toml", "[workspace]\n"),
                ("raft/src/raft.rs", "// skeleton\n"),
                ("raft/src/reference/core.rs", "// solution\n"),
                ("GRADING.md", "notes\n"),
            ],
        );
        repo.write("raft/src/raft.rs", "// the instructor's solution\n");
        repo
    }

    #[test]
    fn uncommitted_changes_are_refused_by_name_and_never_handed_out() {
        let repo = workspace("dirty");
        let out = repo.0.join("handout");
        let err = write(&repo.0, &out, false).err().unwrap();
        assert!(err.contains("raft/src/raft.rs (changed"), "{err}");
        assert!(err.contains("--allow-dirty"), "{err}");
        assert!(!out.exists(), "wrote a handout it refused");

        let written = write(&repo.0, &out, true).unwrap();
        // Cargo.toml, the committed raft.rs, the student README and CI workflow.
        assert_eq!(written.files, 4);
        let left_out: Vec<&str> = written.left_out.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(left_out, ["raft/src/raft.rs"]);
        let raft = std::fs::read_to_string(out.join("raft/src/raft.rs")).unwrap();
        assert_eq!(raft, "// skeleton\n");
        assert!(!out.join("raft/src/reference").exists());
    }

    #[test]
    fn changes_to_files_left_out_of_the_handout_do_not_matter() {
        let repo = workspace("clean");
        repo.git(&["checkout", "--", "raft/src/raft.rs"]);
        repo.write("raft/src/reference/core.rs", "// a better solution\n");
        repo.write("GRADING.md", "more notes\n");
        let written = write(&repo.0, &repo.0.join("target/handout"), false).unwrap();
        assert!(written.left_out.is_empty());
    }

    #[test]
    fn leaves_out_reference_trees() {
        assert!(excluded("raft/src/reference/core.rs"));
        assert!(excluded("rsm/src/lib.rs") && excluded("mutants/raft-x.patch"));
        assert!(!excluded("raft/src/raft.rs") && !excluded("raft/tests/grader/main.rs"));
    }
}
