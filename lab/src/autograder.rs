//! `cargo lab autograder <dir> --parts 2a,2b --seeds N`: a Gradescope autograder.
//!
//! The directory holds what Gradescope's autograder zip holds (zip its contents, not the
//! directory itself):
//!
//! * `setup.sh`: installs a stable Rust toolchain with rustup if there is no cargo, then builds
//!   the lab tool and the graders of the chosen parts in release, in the directory and target
//!   directory `run_autograder` uses, so that a submission pays only for its own files;
//! * `run_autograder`: copies the handout to a clean working directory, puts the student's
//!   files of the chosen parts' labs in (found in the submission at their paths in the
//!   repository, in a folder named after the lab, or by file name), runs `cargo lab grade
//!   <parts> -k N --format gradescope` and leaves `results.json`. A missing file, or code that
//!   does not build, still gives a `results.json`: score 0, with what is missing or the
//!   compiler's errors in its `output`;
//! * `handout/`: the student repository, as `cargo lab handout` writes it;
//! * `weights.json`, with `--weights`.
//!
//! `AUTOGRADER_SOURCE`, `AUTOGRADER_SUBMISSION`, `AUTOGRADER_RESULTS`, `AUTOGRADER_WORK` and
//! `AUTOGRADER_TARGET` override Gradescope's paths (`/autograder/source`, ...), so that the
//! scripts run anywhere, in a test for one.

use std::path::Path;

use crate::handout;
use crate::suite::{all_parts, labs_for, layers_below};
use crate::weights::Weights;

/// The files a student writes, by lab.
pub const STUDENT_FILES: &[(&str, &[&str])] = &[
    ("raft", &["raft/src/raft.rs"]),
    (
        "kvraft",
        &[
            "kvraft/src/common.rs",
            "kvraft/src/client.rs",
            "kvraft/src/server.rs",
        ],
    ),
    (
        "shardmaster",
        &[
            "shardmaster/src/common.rs",
            "shardmaster/src/client.rs",
            "shardmaster/src/server.rs",
        ],
    ),
    (
        "shardkv",
        &[
            "shardkv/src/common.rs",
            "shardkv/src/client.rs",
            "shardkv/src/server.rs",
        ],
    ),
];

/// What the autograder grades.
pub struct Options<'a> {
    /// Parts, lower case (`2a`).
    pub parts: Vec<String>,
    pub seeds: u64,
    pub weights: Option<&'a Path>,
    pub allow_dirty: bool,
}

/// Parses `2a,2B` into known parts, lower case, in the labs' order.
pub fn parse_parts(list: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    for part in list.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        if !all_parts().contains(&part.as_str()) {
            return Err(format!(
                "there is no part {part:?}: the parts are {}",
                all_parts().join(", ")
            ));
        }
        parts.push(part);
    }
    let order = all_parts();
    parts.sort_by_key(|p| order.iter().position(|o| o == p));
    parts.dedup();
    Ok(parts)
}

/// The labs of `parts`, in order, each once.
fn labs(parts: &[String]) -> Vec<&'static str> {
    let mut labs: Vec<&str> = Vec::new();
    for part in parts {
        for lab in labs_for(part) {
            if !labs.contains(&lab) {
                labs.push(lab);
            }
        }
    }
    labs
}

/// The student files of `parts`' labs and of the labs they run on (a student's kvraft is
/// graded on the student's Raft).
pub fn student_files(parts: &[String]) -> Vec<&'static str> {
    let graded = labs(parts);
    let mut labs = graded.clone();
    for lab in graded {
        labs.extend(layers_below(lab).iter().copied());
    }
    STUDENT_FILES
        .iter()
        .filter(|(lab, _)| labs.contains(lab))
        .flat_map(|(_, files)| files.iter().copied())
        .collect()
}

/// Writes the autograder into `dir` (which must not exist, or be empty); returns the number of
/// files the handout in it holds.
pub fn write(root: &Path, dir: &Path, opts: &Options) -> Result<usize, String> {
    if opts.parts.is_empty() {
        return Err("--parts names no part".into());
    }
    let weights = match opts.weights {
        Some(path) => {
            Weights::load(path)?;
            Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let written = handout::write(root, &dir.join("handout"), opts.allow_dirty)?;
    if !written.left_out.is_empty() {
        eprintln!(
            "warning: the handout is the last commit; these uncommitted changes are not in it:"
        );
        for file in &written.left_out {
            eprintln!("  {file}");
        }
    }
    if let Some(bytes) = weights {
        std::fs::write(dir.join("weights.json"), bytes).map_err(|e| e.to_string())?;
    }
    let files = [
        ("setup.sh", setup_script(&opts.parts)),
        (
            "run_autograder",
            run_script(&opts.parts, opts.seeds, opts.weights.is_some()),
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        handout::make_executable(&path)?;
    }
    Ok(written.files)
}

/// The lines both scripts start with: where things are.
const PATHS: &str = r#"SOURCE=${AUTOGRADER_SOURCE:-/autograder/source}
WORK=${AUTOGRADER_WORK:-/autograder/work}
export CARGO_TARGET_DIR=${AUTOGRADER_TARGET:-$SOURCE/target}
"#;

fn setup_script(parts: &[String]) -> String {
    let mut s = format!(
        "#!/usr/bin/env bash\n\
         # Gradescope's setup.sh, written by `cargo lab autograder` for parts {}: a Rust\n\
         # toolchain, then the lab tool and the graders built where run_autograder builds them.\n\
         set -euo pipefail\n{PATHS}",
        parts.join(", ").to_uppercase()
    );
    s.push_str(
        r#"if ! command -v cargo >/dev/null; then
    if [ ! -f "$HOME/.cargo/env" ]; then
        if ! command -v curl >/dev/null || ! command -v cc >/dev/null; then
            apt-get update && apt-get install -y curl build-essential
        fi
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --default-toolchain stable
    fi
    . "$HOME/.cargo/env"
fi
rm -rf "$WORK"
cp -a "$SOURCE/handout" "$WORK"
cd "$WORK"
cargo build --release -p lab
"#,
    );
    for lab in labs(parts) {
        s.push_str(&format!(
            "cargo test --release --no-run -p {lab} --test grader\n"
        ));
    }
    s
}

fn run_script(parts: &[String], seeds: u64, weights: bool) -> String {
    let files = student_files(parts);
    let mut s = format!(
        "#!/usr/bin/env bash\n\
         # Gradescope's run_autograder, written by `cargo lab autograder`: grades parts {} of\n\
         # the submission on {seeds} seed(s) each and writes results.json.\n\
         set -uo pipefail\n{PATHS}\
         SUBMISSION=${{AUTOGRADER_SUBMISSION:-/autograder/submission}}\n\
         RESULTS=${{AUTOGRADER_RESULTS:-/autograder/results}}\n",
        parts.join(", ").to_uppercase()
    );
    s.push_str(
        r#"if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi
mkdir -p "$RESULTS"
RESULT="$RESULTS/results.json"
rm -f "$RESULT"

# A results.json with score 0 and a message (plain text without quotes or backslashes).
not_graded() {
    printf '{"score": 0.0, "execution_time": 0, "output": "%s", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}\n' "$1" >"$RESULT"
    echo "$1" >&2
    exit 0
}

rm -rf "$WORK"
cp -a "$SOURCE/handout" "$WORK" || not_graded "the autograder could not copy its handout"

# Copies the first of the candidates that exists to the working copy, or notes it missing.
missing=""
place() {
    local target=$1
    shift
    for candidate in "$@"; do
        if [ -f "$SUBMISSION/$candidate" ]; then
            cp "$SUBMISSION/$candidate" "$WORK/$target" && return
        fi
    done
    missing="$missing $target"
}
"#,
    );
    for file in &files {
        let (lab, name) = (lab_of(file), file_name(file));
        let mut candidates = vec![file.to_string(), format!("{lab}/{name}")];
        // By bare name only where that is unambiguous among the files graded.
        if files.iter().filter(|f| file_name(f) == name).count() == 1 {
            candidates.push(name.to_string());
        }
        s.push_str(&format!("place {file} {}\n", candidates.join(" ")));
    }
    s.push_str(&format!(
        r#"if [ -n "$missing" ]; then
    not_graded "missing from the submission:$missing. Each file is looked for at its path in the repository (as{example}), in a folder named after its lab, or, where the name is unambiguous, by its name alone."
fi

cd "$WORK"
cargo lab grade {selection} -k {seeds} --format gradescope --out "$RESULT" --quiet{weights}
if [ ! -f "$RESULT" ]; then
    not_graded "the grader did not run: see the autograder output"
fi
"#,
        example = files.first().map(|f| format!(" {f}")).unwrap_or_default(),
        selection = parts.join(","),
        weights = if weights {
            " --weights \"$SOURCE/weights.json\""
        } else {
            ""
        },
    ));
    s
}

fn lab_of(file: &str) -> &str {
    file.split('/').next().unwrap_or(file)
}

fn file_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_checked_sorted_and_map_to_their_labs_files() {
        assert_eq!(parse_parts("2B, 2a,2b").unwrap(), ["2a", "2b"]);
        assert!(parse_parts("2g").unwrap_err().contains("no part \"2g\""));
        assert_eq!(parse_parts("2f").unwrap(), ["2f"]);
        assert_eq!(
            student_files(&parse_parts("2a,2d").unwrap()),
            ["raft/src/raft.rs"]
        );
        let files = student_files(&parse_parts("3a,4a").unwrap());
        // kvraft and shardmaster run on the student's Raft.
        assert_eq!(files.len(), 7);
        assert_eq!(files[0], "raft/src/raft.rs");
        assert!(files.contains(&"shardmaster/src/server.rs"));
        let files = student_files(&parse_parts("4b").unwrap());
        assert_eq!(files.len(), 7);
        assert!(files.contains(&"shardmaster/src/server.rs"));
    }

    #[test]
    fn the_student_files_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (_, files) in STUDENT_FILES {
            for file in *files {
                assert!(root.join(file).is_file(), "{file}");
            }
        }
    }

    #[test]
    fn a_file_is_found_by_bare_name_only_where_that_is_unambiguous() {
        let script = run_script(&parse_parts("2a,3a,4a").unwrap(), 3, true);
        assert!(script.contains("\nplace raft/src/raft.rs raft/src/raft.rs raft/raft.rs raft.rs\n"));
        assert!(
            script.contains("\nplace kvraft/src/server.rs kvraft/src/server.rs kvraft/server.rs\n")
        );
        assert!(script.contains(
            "cargo lab grade 2a,3a,4a -k 3 --format gradescope --out \"$RESULT\" --quiet \
             --weights \"$SOURCE/weights.json\"\n"
        ));
        let setup = setup_script(&parse_parts("2a,3a").unwrap());
        assert!(setup.contains("cargo test --release --no-run -p raft --test grader\n"));
        assert!(setup.contains("cargo test --release --no-run -p kvraft --test grader\n"));
    }
}
