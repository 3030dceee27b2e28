//! Finding the grader tests: which lab a filter means, building the lab's grader binary with
//! cargo, and listing its tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The labs, in the order they build on each other, with the parts of each.
pub const LABS: &[(&str, &[&str])] = &[
    ("raft", &["2a", "2b", "2c", "2d"]),
    ("kvraft", &["3a", "3b"]),
    ("shardmaster", &["4a"]),
    ("shardkv", &["4b"]),
];

/// One grader test: the lab it belongs to, the binary that runs it, and its full name
/// (`part2a::initial_election_2a`).
#[derive(Clone, Debug)]
pub struct GraderTest {
    pub lab: String,
    pub binary: PathBuf,
    pub name: String,
}

impl GraderTest {
    /// The test's own name, without its module path.
    pub fn short_name(&self) -> &str {
        self.name.rsplit("::").next().unwrap_or(&self.name)
    }

    /// The part the test belongs to (`2a`), from its name's suffix.
    pub fn part(&self) -> &str {
        self.short_name().rsplit('_').next().unwrap_or("")
    }
}

/// How to build the labs: the student's code, or the reference solutions.
#[derive(Clone, Debug)]
pub struct Build {
    pub reference: bool,
    pub release: bool,
    /// The workspace root.
    pub root: PathBuf,
    /// A cargo target directory other than the workspace's own.
    pub target_dir: Option<PathBuf>,
}

impl Build {
    /// The cargo arguments that select this build, for commands shown to people.
    pub fn cargo_flags(&self) -> String {
        let mut flags = String::new();
        if self.release {
            flags.push_str(" --release");
        }
        if self.reference {
            flags.push_str(" --features reference");
        }
        flags
    }
}

/// The labs a filter needs: a lab's name means that lab; a part (`2a`) or a test name (ending
/// in its part) the lab of that part; `all` or anything else every lab.
pub fn labs_for(filter: &str) -> Vec<&'static str> {
    let f = filter.to_ascii_lowercase();
    if let Some((lab, _)) = LABS.iter().find(|(lab, _)| *lab == f) {
        return vec![lab];
    }
    for (lab, parts) in LABS {
        if parts
            .iter()
            .any(|p| f == *p || f.ends_with(&format!("_{p}")))
        {
            return vec![lab];
        }
    }
    LABS.iter().map(|(lab, _)| *lab).collect()
}

/// Whether `test` is selected by `filter`: all of a lab's tests for its name (or `all`),
/// otherwise a substring of the test's full name, as `cargo test` filters.
pub fn selects(filter: &str, test: &GraderTest) -> bool {
    let f = filter.to_ascii_lowercase();
    f == "all" || f == test.lab || test.name.contains(&f)
}

/// Builds the grader binaries of `labs` and lists their tests.
pub fn grader_tests(build: &Build, labs: &[&str]) -> Result<Vec<GraderTest>, String> {
    let mut tests = Vec::new();
    for lab in labs {
        let binary = build_grader(build, lab)?;
        for name in list_tests(&binary)? {
            tests.push(GraderTest {
                lab: lab.to_string(),
                binary: binary.clone(),
                name,
            });
        }
    }
    Ok(tests)
}

/// `cargo test --no-run` for one lab's grader; returns the test executable.
fn build_grader(build: &Build, lab: &str) -> Result<PathBuf, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&build.root)
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", lab, "--test", "grader"]);
    if build.release {
        cmd.arg("--release");
    }
    if build.reference {
        cmd.args(["--features", "reference"]);
    }
    if let Some(dir) = &build.target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the {lab} grader failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "grader")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built no grader executable for {lab}"))
}

/// The tests a libtest binary holds (`--list --format terse`).
fn list_tests(binary: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// The files git tracks in the workspace.
pub fn tracked_files(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| format!("cannot run git : {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect())
}

/// The workspace root: the nearest directory above the current one with a `Cargo.toml` that
/// declares `[workspace]`.
pub fn workspace_root() -> Result<PathBuf, String> {
    let mut dir = std::env::current_dir().map_err(|e| e.to_string())?;
    loop {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("[workspace]")) {
            return Ok(dir);
        }
        if !dir.pop() {
            return Err("not inside the labs' workspace (no Cargo.toml with [workspace])".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(lab: &str, name: &str) -> GraderTest {
        GraderTest {
            lab: lab.into(),
            binary: PathBuf::new(),
            name: name.into(),
        }
    }

    #[test]
    fn filters_pick_labs_and_tests_like_cargo_test() {
        assert_eq!(labs_for("2a"), ["raft"]);
        assert_eq!(labs_for("figure8_2c"), ["raft"]);
        assert_eq!(labs_for("kvraft"), ["kvraft"]);
        assert_eq!(labs_for("4b"), ["shardkv"]);
        assert_eq!(labs_for("all").len(), 4);
        let t = test("raft", "part2c::figure8_2c");
        assert!(selects("2c", &t) && selects("figure8", &t) && selects("raft", &t));
        assert!(!selects("2a", &t) && !selects("kvraft", &t));
        assert_eq!((t.short_name(), t.part()), ("figure8_2c", "2c"));
    }
}
