//! The one command that replays a run, for the runner's failure reports and `cargo lab` alike.
//!
//! A replay must rebuild exactly the code that failed and run exactly the test that failed: the
//! same package, cargo features and profile, the same test binary, the same test, the same seed.
//! The runner learns the profile and the binary from its own executable, which cargo put at
//! `<target>/<profile>/deps/<binary>-<hash>`; `cargo lab` knows both because it built them.

use std::fmt;
use std::path::Path;

/// The command that replays one run of one test, from the workspace root, e.g.
/// `LAB_SEED=7 cargo test -p raft --release --features reference --test grader
/// part2a::initial_election_2a -- --exact`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayCommand {
    /// The run's seed.
    pub seed: u64,
    /// Whether the replay must run the seed twice and compare (a failure found only that way,
    /// or one that did not reproduce on its own).
    pub check_determinism: bool,
    /// The package whose test it is.
    pub package: String,
    /// The profile the test was built in.
    pub profile: Profile,
    /// The cargo features it was built with (`reference,raft/reference`), or empty.
    pub features: String,
    /// The test binary that holds the test.
    pub target: TestTarget,
    /// The test's full name in its binary (`part2a::initial_election_2a`).
    pub test: String,
}

/// The cargo profile a test binary was built in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `cargo test`'s own (dev).
    Dev,
    /// `--release`.
    Release,
    /// `--profile <name>`.
    Custom(String),
}

/// Which of a package's test binaries holds a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestTarget {
    /// The library's unit tests: `--lib`.
    Lib,
    /// An integration test: `--test <name>` (each lab's grader suite is `--test grader`).
    Test(String),
    /// Unknown: the replay runs every test binary of the package, and `--exact` picks the test.
    Any,
}

impl fmt::Display for ReplayCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LAB_SEED={} ", self.seed)?;
        if self.check_determinism {
            f.write_str("LAB_CHECK_DETERMINISM=1 ")?;
        }
        write!(f, "cargo test -p {}", self.package)?;
        match &self.profile {
            Profile::Dev => {}
            Profile::Release => f.write_str(" --release")?,
            Profile::Custom(name) => write!(f, " --profile {name}")?,
        }
        if !self.features.is_empty() {
            write!(f, " --features {}", self.features)?;
        }
        match &self.target {
            TestTarget::Lib => f.write_str(" --lib")?,
            TestTarget::Test(name) => write!(f, " --test {name}")?,
            TestTarget::Any => {}
        }
        write!(f, " {} -- --exact", self.test)
    }
}

/// The profile and test binary of the test executable at `exe`, as cargo lays them out:
/// `<target>/<profile directory>/deps/<binary>-<16 hex digits>`. The library's unit tests of
/// crate `crate_name` are a binary of the crate's name, and so may be an integration test of the
/// same name (`contract/tests/contract.rs`): `caller_file`, the source file that started the
/// test, tells them apart. Outside cargo's layout (a doctest, a copied binary) the binary is
/// unknown and the profile is this crate's own.
pub fn build_of(exe: &Path, crate_name: &str, caller_file: &str) -> (Profile, TestTarget) {
    let own_profile = if cfg!(debug_assertions) {
        Profile::Dev
    } else {
        Profile::Release
    };
    let deps = exe
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"));
    let (Some(deps), Some(stem)) = (deps, exe.file_stem().and_then(|s| s.to_str())) else {
        return (own_profile, TestTarget::Any);
    };
    let profile = match deps.parent().and_then(|p| p.file_name()?.to_str()) {
        Some("debug") => Profile::Dev,
        Some("release") => Profile::Release,
        Some(other) => Profile::Custom(other.to_string()),
        None => own_profile,
    };
    let binary = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => return (profile, TestTarget::Any),
    };
    let target = if binary != crate_name || in_tests_directory(caller_file) {
        TestTarget::Test(binary.to_string())
    } else {
        TestTarget::Lib
    };
    (profile, target)
}

/// Whether a source file is an integration test's: the first of its directories named `src` or
/// `tests` is `tests` (`raft/tests/grader/main.rs`, not `kvraft/src/reference/tests.rs`).
fn in_tests_directory(file: &str) -> bool {
    let path = Path::new(file);
    let directories = path.parent().into_iter().flat_map(Path::components);
    directories
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| *c == "src" || *c == "tests")
        == Some("tests")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(profile: Profile, features: &str, target: TestTarget) -> String {
        ReplayCommand {
            seed: 7,
            check_determinism: false,
            package: "raft".into(),
            profile,
            features: features.into(),
            target,
            test: "part2a::initial_election_2a".into(),
        }
        .to_string()
    }

    #[test]
    fn names_the_seed_package_profile_features_binary_and_test() {
        let grader = || TestTarget::Test("grader".into());
        assert_eq!(
            command(Profile::Release, "reference", grader()),
            "LAB_SEED=7 cargo test -p raft --release --features reference --test grader \
             part2a::initial_election_2a -- --exact"
        );
        assert_eq!(
            command(Profile::Dev, "", grader()),
            "LAB_SEED=7 cargo test -p raft --test grader part2a::initial_election_2a -- --exact"
        );
        assert_eq!(
            command(Profile::Custom("ci".into()), "", TestTarget::Lib),
            "LAB_SEED=7 cargo test -p raft --profile ci --lib part2a::initial_election_2a -- \
             --exact"
        );
        let mut checked = ReplayCommand {
            check_determinism: true,
            target: TestTarget::Any,
            ..ReplayCommand {
                seed: 3,
                check_determinism: false,
                package: "contract".into(),
                profile: Profile::Dev,
                features: String::new(),
                target: TestTarget::Lib,
                test: "t".into(),
            }
        };
        assert_eq!(
            checked.to_string(),
            "LAB_SEED=3 LAB_CHECK_DETERMINISM=1 cargo test -p contract t -- --exact"
        );
        checked.check_determinism = false;
        assert!(checked.to_string().starts_with("LAB_SEED=3 cargo test"));
    }

    #[test]
    fn reads_the_profile_and_binary_from_cargos_layout() {
        let build = |exe: &str, krate: &str, caller: &str| build_of(Path::new(exe), krate, caller);
        assert_eq!(
            build(
                "/w/target/release/deps/grader-619c155875e100ae",
                "raft",
                "labtest/src/lib.rs"
            ),
            (Profile::Release, TestTarget::Test("grader".into()))
        );
        assert_eq!(
            build(
                "/w/target/debug/deps/kvraft-f81ec0e5827eccb7",
                "kvraft",
                "kvraft/src/reference/tests.rs"
            ),
            (Profile::Dev, TestTarget::Lib)
        );
        // An integration test named like its crate, and a cross-compiled custom profile.
        assert_eq!(
            build(
                "/t/x86_64-unknown-linux-gnu/ci/deps/contract-0123456789abcdef",
                "contract",
                "contract/tests/contract.rs"
            ),
            (
                Profile::Custom("ci".into()),
                TestTarget::Test("contract".into())
            )
        );
        // A doctest runs outside cargo's layout.
        assert_eq!(
            build("/tmp/rustdoctestX/rust_out", "labsim", "src/lib.rs").1,
            TestTarget::Any
        );
    }

    #[test]
    fn tells_integration_test_files_from_library_files() {
        assert!(in_tests_directory("raft/tests/grader/main.rs"));
        assert!(in_tests_directory("contract/tests/contract.rs"));
        assert!(!in_tests_directory("kvraft/src/reference/tests.rs"));
        assert!(!in_tests_directory("labsim/src/tests/mod.rs"));
        assert!(!in_tests_directory("src/lib.rs"));
    }
}
