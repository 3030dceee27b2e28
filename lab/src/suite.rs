//! Finding the grader tests: which lab a filter means, building the lab's grader binary with
//! cargo, and listing its tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The labs, in the order they build on each other, with the parts of each.
pub const LABS: &[(&str, &[&str])] = &[
    ("raft", &["2a", "2b", "2c", "2d", "2e", "2f"]),
    ("kvraft", &["3a", "3b", "3c"]),
    ("shardmaster", &["4a"]),
    ("shardkv", &["4b"]),
];

/// The crates the labs run on (the network, the simulation kernel): they have no grader and
/// no parts, and their own tests judge them.
pub const SUPPORT_CRATES: &[&str] = &["labrpc", "labsim"];

/// What judges a crate, as `cargo lab mutants` runs it on a mutant of the crate: the one place
/// that says which tests decide whether a change to a crate broke it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judge {
    /// A lab: its grader suite, the tests of its `grader` binary named by part
    /// ([`grader_tests`]), on the reference solutions of the labs below it.
    Grader,
    /// A support crate: every test binary of its own ([`crate_test_binaries`]), every test.
    OwnTests,
}

impl Judge {
    /// What judges `krate`, a lab or a support crate.
    pub fn of(krate: &str) -> Result<Judge, String> {
        if LABS.iter().any(|(lab, _)| *lab == krate) {
            Ok(Judge::Grader)
        } else if SUPPORT_CRATES.contains(&krate) {
            Ok(Judge::OwnTests)
        } else {
            Err(format!(
                "{krate:?} is neither a lab ({}) nor a crate the labs run on ({})",
                LABS.iter()
                    .map(|(lab, _)| *lab)
                    .collect::<Vec<_>>()
                    .join(", "),
                SUPPORT_CRATES.join(", ")
            ))
        }
    }
}

/// The labs each lab builds on (its layers below), whose reference solutions `--reference`
/// also selects: a lab's own `reference` feature replaces only its own student files.
const LAYERS_BELOW: &[(&str, &[&str])] = &[
    ("raft", &[]),
    ("kvraft", &["raft"]),
    ("shardmaster", &["raft"]),
    ("shardkv", &["shardmaster", "raft"]),
];

/// The labs `lab` builds on (`["raft"]` for kvraft): the code it runs on, the student's or the
/// reference.
pub fn layers_below(lab: &str) -> &'static [&'static str] {
    LAYERS_BELOW
        .iter()
        .find(|(name, _)| *name == lab)
        .map_or(&[], |(_, below)| *below)
}

/// The cargo features that build `lab` on the reference solutions throughout: its own and
/// those of every layer below it (`reference,raft/reference` for kvraft).
pub fn reference_features(lab: &str) -> String {
    std::iter::once("reference".to_string())
        .chain(
            layers_below(lab)
                .iter()
                .map(|layer| format!("{layer}/reference")),
        )
        .collect::<Vec<_>>()
        .join(",")
}

/// The test binary of each lab's grader suite (`<lab>/tests/grader/`): `--test grader`.
pub const GRADER_BINARY: &str = "grader";

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
    /// The cargo features of this build of `lab`: the reference solutions', or none.
    pub fn features(&self, lab: &str) -> String {
        if self.reference {
            reference_features(lab)
        } else {
            String::new()
        }
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

/// The labs to build for `filter`: [`labs_for`], narrowed, for a filter that names no lab or
/// part (`initial_election`), to the labs whose grader sources hold a test or module whose
/// name contains it, so that tracing one Raft test does not build four labs' graders. A filter
/// found in no source (a name the sources spell differently) still builds every lab: the
/// binaries' own listings decide then.
pub fn labs_to_build(root: &Path, filter: &str) -> Vec<&'static str> {
    let labs = labs_for(filter);
    if labs.len() == 1 || filter.eq_ignore_ascii_case("all") {
        return labs;
    }
    let f = filter.to_ascii_lowercase();
    let found: Vec<&'static str> = labs
        .iter()
        .copied()
        .filter(|lab| {
            grader_names(&root.join(lab).join("tests/grader"))
                .iter()
                .any(|name| name.contains(&f))
        })
        .collect();
    if found.is_empty() {
        labs
    } else {
        found
    }
}

/// The module names and function names in a grader's sources (its `.rs` files, recursively):
/// a superset of the path segments of its tests' names.
fn grader_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return names;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            names.extend(grader_names(&path));
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        if let Some(stem) = path.file_stem() {
            names.push(stem.to_string_lossy().to_ascii_lowercase());
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        names.extend(text.split("fn ").skip(1).filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then(|| name.to_ascii_lowercase())
        }));
    }
    names
}

/// Refuses a filter that looks like a part (`2e`) but is none: it would build every lab only
/// to select nothing.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let f = filter.to_ascii_lowercase();
    let looks_like_part = matches!(f.as_bytes(), [digit, letter]
        if digit.is_ascii_digit() && letter.is_ascii_alphabetic());
    if looks_like_part && !all_parts().contains(&f.as_str()) {
        return Err(format!(
            "there is no part {filter}: the parts are {}",
            all_parts().join(", ")
        ));
    }
    Ok(())
}

/// Every lab's parts, in order.
pub fn all_parts() -> Vec<&'static str> {
    LABS.iter().flat_map(|(_, parts)| parts.to_vec()).collect()
}

/// Whether `test` is selected by `filter`: all of a lab's tests for its name (or `all`),
/// otherwise a substring of the test's full name, as `cargo test` filters.
pub fn selects(filter: &str, test: &GraderTest) -> bool {
    let f = filter.to_ascii_lowercase();
    f == "all" || f == test.lab || test.name.contains(&f)
}

/// Builds the grader binaries of `labs` and lists their grader tests: the one place that says
/// which tests stress, grade, trace and mutants run (see [`classify`]).
pub fn grader_tests(build: &Build, labs: &[&str]) -> Result<Vec<GraderTest>, String> {
    let mut tests = Vec::new();
    for lab in labs {
        let binary = build_grader(build, lab)?;
        for name in list_tests(&binary)? {
            match classify(lab, &name) {
                Listed::GraderTest => tests.push(GraderTest {
                    lab: lab.to_string(),
                    binary: binary.clone(),
                    name,
                }),
                Listed::UnitTest => {}
                Listed::NoPart => eprintln!(
                    "note: {name} in the {lab} grader is not counted: its name does not end in \
                     one of the lab's parts ({})",
                    parts_of(lab).join(", ")
                ),
            }
        }
    }
    Ok(tests)
}

/// What a test in a lab's grader binary is.
#[derive(Debug, PartialEq, Eq)]
pub enum Listed {
    /// A grader test: named, as MIT's are, with one of the lab's parts as suffix
    /// (`part2a::initial_election_2a`), outside any `tests` module.
    GraderTest,
    /// A unit test of the grader's own code (`checks::tests::balance_accepts_within_one`), in a
    /// `tests` module: it tests the grader, not the lab, so it counts in no grade or stress run.
    UnitTest,
    /// Neither: a test whose name says no part, so no grade could place it.
    NoPart,
}

/// Sorts a test of `lab`'s grader binary, by its full name.
pub fn classify(lab: &str, name: &str) -> Listed {
    let mut path: Vec<&str> = name.split("::").collect();
    let short = path.pop().unwrap_or(name);
    if path.contains(&"tests") {
        return Listed::UnitTest;
    }
    let part = short.rsplit_once('_').map_or("", |(_, part)| part);
    if parts_of(lab).contains(&part) {
        Listed::GraderTest
    } else {
        Listed::NoPart
    }
}

/// The parts of `lab` (`2a`, `2b`, ... for `raft`).
pub fn parts_of(lab: &str) -> &'static [&'static str] {
    LABS.iter()
        .find(|(name, _)| *name == lab)
        .map_or(&[], |(_, parts)| *parts)
}

/// `cargo test --no-run` for one lab's grader; returns the test executable.
fn build_grader(build: &Build, lab: &str) -> Result<PathBuf, String> {
    if build.reference && !build.root.join(lab).join("src/reference").is_dir() {
        return Err(format!(
            "--reference: this repository has no reference solution of {lab} (a student \
             repository has none; run without --reference to test your own code)"
        ));
    }
    let mut args = vec!["--test", GRADER_BINARY];
    let features = build.features(lab);
    if build.reference {
        args.extend(["--features", features.as_str()]);
    }
    build_tests(build, lab, &args)?
        .into_iter()
        .find_map(|(target, binary)| (target == GRADER_BINARY).then_some(binary))
        .ok_or_else(|| format!("cargo built no grader executable for {lab}"))
}

/// `cargo test --no-run` for every test binary of a support crate (its unit tests and each of
/// its integration tests; not its doc tests, which rustdoc builds and runs itself). Returns
/// each executable with the name its failures go by: the test target's name, `lib` for the
/// unit tests. The support crates have no reference feature: what is built is the crate as
/// it is.
pub fn crate_test_binaries(build: &Build, krate: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let binaries = build_tests(build, krate, &[])?;
    if binaries.is_empty() {
        return Err(format!("cargo built no test executable for {krate}"));
    }
    Ok(binaries)
}

/// `cargo test --no-run -p package` with `args` added; returns the test executables built,
/// each with its target's name (`lib` for a library's unit tests, whose target bears the
/// package's name like its integration test of that name may).
fn build_tests(
    build: &Build,
    package: &str,
    args: &[&str],
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&build.root)
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", package])
        .args(args);
    if build.release {
        cmd.arg("--release");
    }
    if let Some(dir) = &build.target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the tests of {package} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(test_executables(&String::from_utf8_lossy(&out.stdout)))
}

/// The test executables in cargo's JSON messages, with their targets' names (`lib` for a
/// library's unit tests). Examples, which `cargo test` builds too, are not tests.
fn test_executables(messages: &str) -> Vec<(String, PathBuf)> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["profile"]["test"] == true)
        .filter_map(|msg| {
            let binary = PathBuf::from(msg["executable"].as_str()?);
            let target = &msg["target"];
            let is_lib = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "lib"));
            let name = if is_lib {
                "lib"
            } else {
                target["name"].as_str()?
            };
            Some((name.to_string(), binary))
        })
        .collect()
}

/// The tests a libtest binary holds (`--list --format terse`).
fn list_tests(binary: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --list failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

/// The test names of a terse listing (`name: test` lines; benchmarks are not tests).
fn parse_list(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
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
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(labs_to_build(&root, "initial_election"), ["raft"]);
        assert_eq!(labs_to_build(&root, "part4b"), ["shardkv"]);
        assert_eq!(labs_to_build(&root, "unreliable").len(), 4);
        assert_eq!(labs_to_build(&root, "no_such_test").len(), 4);
        assert_eq!(labs_to_build(&root, "all").len(), 4);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(labs_to_build(&root, "initial_election"), ["raft"]);
        assert_eq!(labs_to_build(&root, "part4b"), ["shardkv"]);
        assert_eq!(labs_to_build(&root, "unreliable").len(), 4);
        assert_eq!(labs_to_build(&root, "no_such_test").len(), 4);
        assert_eq!(labs_to_build(&root, "all").len(), 4);
        assert_eq!(reference_features("raft"), "reference");
        assert_eq!(
            reference_features("shardkv"),
            "reference,shardmaster/reference,raft/reference"
        );
        let t = test("raft", "part2c::figure8_2c");
        assert!(selects("2c", &t) && selects("figure8", &t) && selects("raft", &t));
        assert!(!selects("2a", &t) && !selects("kvraft", &t));
        assert_eq!((t.short_name(), t.part()), ("figure8_2c", "2c"));
        assert!(check_filter("2A").is_ok() && check_filter("figure8").is_ok());
        assert!(check_filter("2e").is_ok() && check_filter("2f").is_ok());
        let err = check_filter("2g").unwrap_err();
        assert!(err.contains("no part 2g: the parts are 2a, 2b"), "{err}");
    }

    #[test]
    fn labs_are_judged_by_their_graders_and_support_crates_by_their_own_tests() {
        assert_eq!(Judge::of("raft"), Ok(Judge::Grader));
        assert_eq!(Judge::of("shardkv"), Ok(Judge::Grader));
        assert_eq!(Judge::of("labrpc"), Ok(Judge::OwnTests));
        assert_eq!(Judge::of("labsim"), Ok(Judge::OwnTests));
        assert!(Judge::of("labgob").is_err() && Judge::of("2a").is_err());
        // `cargo test --no-run` of labrpc, abridged: its unit tests, an integration test of
        // the package's own name, one of another name, an example (built, not a test).
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"labrpc"},"profile":{"test":true},"executable":"/t/labrpc-1"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"labrpc"},"profile":{"test":true},"executable":"/t/labrpc-2"}
{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"labsim"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["example"],"name":"demo"},"profile":{"test":false},"executable":"/t/demo"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"semantics"},"profile":{"test":true},"executable":"/t/semantics-3"}
{"reason":"build-finished","success":true}"#;
        let names: Vec<(String, PathBuf)> = [("lib", "1"), ("labrpc", "2"), ("semantics", "3")]
            .iter()
            .map(|(name, n)| {
                let file = if *name == "semantics" { name } else { "labrpc" };
                (name.to_string(), PathBuf::from(format!("/t/{file}-{n}")))
            })
            .collect();
        assert_eq!(test_executables(messages), names);
    }

    /// The grader tests among those the binary lists.
    fn graded(lab: &str, listing: &str) -> Vec<String> {
        parse_list(listing)
            .into_iter()
            .filter(|name| classify(lab, name) == Listed::GraderTest)
            .collect()
    }

    /// `--list --format terse` of the shardmaster grader, as built at the time of writing: 15
    /// unit tests of the checkers, which once gave the untouched skeleton 15 of 18 points.
    const SHARDMASTER_LIST: &str = "\
checks::tests::a_join_must_not_give_the_new_group_more_than_balance_needs: test
checks::tests::balance_accepts_within_one: test
checks::tests::balance_rejects_a_spread_of_two: test
checks::tests::check_config_is_mits_check: test
checks::tests::history_accepts_an_interleaving: test
checks::tests::history_rejects_missing_reordered_and_bad_configurations: test
checks::tests::kept_checks_the_groups_given: test
checks::tests::min_moves_counts_what_must_move: test
checks::tests::minimal_passes_a_long_run_and_round_robin_does_not: test
checks::tests::moves_change_exactly_one_shard: test
checks::tests::round_robin_is_rejected_on_a_join: test
checks::tests::round_robin_is_rejected_on_a_leave: test
checks::tests::same_config_compares_everything: test
checks::tests::transitions_check_number_groups_and_gid_zero: test
checks::tests::with_more_groups_than_shards_a_join_moves_nothing: test
part4a::basic_4a: test
part4a::multi_4a: test
part4a::unreliable_4a: test
";

    /// Part of the Raft grader's listing, with its one unit test (once graded as part "NOT").
    const RAFT_LIST: &str = "\
extra::late_append_reply_2b: test
extra::late_vote_2a: test
extra::persist_vote_2c: test
leaders::tests::same_peer_may_claim_a_term_again_another_may_not: test
part2a::initial_election_2a: test
part2d::snapshot_install_unreliable_2d: test
some_bench_2a: bench
";

    #[test]
    fn the_shardmaster_and_raft_lists_hold_no_unit_tests() {
        assert_eq!(
            graded("shardmaster", SHARDMASTER_LIST),
            [
                "part4a::basic_4a",
                "part4a::multi_4a",
                "part4a::unreliable_4a"
            ]
        );
        assert_eq!(
            graded("raft", RAFT_LIST),
            [
                "extra::late_append_reply_2b",
                "extra::late_vote_2a",
                "extra::persist_vote_2c",
                "part2a::initial_election_2a",
                "part2d::snapshot_install_unreliable_2d"
            ]
        );
        // A unit test is one whatever its name; a part belongs to its own lab only.
        assert_eq!(classify("raft", "leaders::tests::x_2a"), Listed::UnitTest);
        assert_eq!(classify("raft", "extra::basic_3a"), Listed::NoPart);
        assert_eq!(classify("raft", "extra::helper"), Listed::NoPart);
        assert_eq!(
            classify("shardkv", "challenge1_delete_4b"),
            Listed::GraderTest
        );
    }
}
