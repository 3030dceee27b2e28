//! `cargo lab handout <dir>`: the student repository.
//!
//! The workspace as committed, without the reference solutions (`*/src/reference/`, `rsm/`),
//! the mutants, the instructors' benchmarks and CI, and with the reference-only lines taken out
//! of the files that keep them. Those lines are marked in the sources:
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

use std::path::{Path, PathBuf};

use crate::suite::tracked_files;

/// The README of the student repository.
const STUDENT_README: &str = include_str!("handout_readme.md");

/// Paths (prefixes) that stay out of the student repository.
const EXCLUDED: &[&str] = &[
    "rsm/",
    "mutants/",
    ".ci/",
    "BENCHMARKS.md",
    "GRADING.md",
    "README.md",
];

/// Writes the student repository for the workspace at `root` into `dir`; returns the number
/// of files written.
pub fn write(root: &Path, dir: &Path) -> Result<usize, String> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let mut files = Vec::new();
    for path in tracked_files(root)? {
        if excluded(&path) {
            continue;
        }
        let bytes =
            std::fs::read(root.join(&path)).map_err(|e| format!("cannot read {path}: {e}"))?;
        let bytes = if path.ends_with(".rs") || path.ends_with(".toml") {
            let text = String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
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
            bytes
        };
        files.push((PathBuf::from(path), bytes));
    }
    files.push((
        PathBuf::from("README.md"),
        STUDENT_README.as_bytes().to_vec(),
    ));
    for (path, bytes) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(files.len())
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

    #[test]
    fn strips_blocks_and_puts_in_student_lines() {
        let src = "a\n// handout: begin reference-only\nsecret\n    // handout: end\n    // handout: student: let x = 1;\n# handout: begin reference-only\nz\n# handout: end\nb\n";
        assert_eq!(strip(src).unwrap(), "a\n    let x = 1;\nb\n");
        assert!(strip("// handout: begin reference-only\n").is_err());
        assert!(strip("// handout: end\n").is_err());
        assert!(strip("// handout: bogus\n").is_err());
    }

    #[test]
    fn leaves_out_reference_trees() {
        assert!(excluded("raft/src/reference/core.rs"));
        assert!(excluded("rsm/src/lib.rs") && excluded("mutants/raft-x.patch"));
        assert!(!excluded("raft/src/raft.rs") && !excluded("raft/tests/grader/main.rs"));
    }
}
