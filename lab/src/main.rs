//! `cargo lab`: what students, graders and instructors reach for beyond `cargo test`.
//!
//! ```text
//! cargo lab stress 2a -n 200          # every 2A test on 200 seeds, in parallel
//! cargo lab stress figure8_2c -n 1000 --fail-fast
//! cargo lab stress kvraft -n 50 --check-determinism
//! cargo lab grade raft --reference    # score table and JSON
//! cargo lab grade 2a,2b --format gradescope --out results.json  # or --format junit
//! cargo lab autograder ag --parts 2a,2b --seeds 5  # a Gradescope autograder (zip its contents)
//! cargo lab handout ../student-repo   # the student repository, from the last commit
//! cargo lab trace figure8_2c --seed 7  # every peer's events in that run
//! cargo lab trace figure8_2c --seed 7 --html
//! cargo lab mutants                   # which tests catch each classic bug
//! ```
//!
//! Filters work as in `cargo test`: a lab (`raft`, `kvraft`, `shardmaster`, `shardkv`), a part
//! (`2a`), or any part of a test's name; several, separated by commas (`2a,2b`), select the
//! tests any of them selects. `grade` writes its JSON (`--format json`, the default),
//! Gradescope's `results.json` (`--format gradescope`) or JUnit XML (`--format junit`) to
//! `--out` (also spelled `--json`); with `gradescope` or `junit`, graders that do not build
//! still give a file, of score 0 with the compiler's errors. `autograder` writes a Gradescope
//! autograder (`setup.sh`, `run_autograder`, the handout; see `autograder.rs`). Tests run the
//! student's code unless `--reference` is given, in release mode unless `--debug` is.

mod autograder;
mod git;
mod grade;
mod gradescope;
mod handout;
mod junit;
mod mutants;
mod pool;
mod run;
mod stress;
mod suite;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::pool::{default_workers, PoolOptions};
use crate::suite::{grader_tests, selects, workspace_root, Build};
use crate::weights::Weights;

#[derive(Parser)]
#[command(
    name = "cargo lab",
    about = "Stress, grade, hand out and mutate the labs",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the selected tests over many seeds, in parallel, and summarise.
    Stress {
        /// A lab, a part (2a) or part of a test name, as with cargo test.
        filter: String,
        /// How many seeds per test (at least 1).
        #[arg(short = 'n', long, default_value_t = 100, value_parser = at_least_one::<u64>)]
        seeds: u64,
        /// Stop at the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Run each seed twice and compare the runs event by event.
        #[arg(long)]
        check_determinism: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Grade lab parts: every test on K seeds, a score table, and JSON (or Gradescope's
    /// results.json, or JUnit XML).
    Grade {
        /// A lab (raft), a part (2b), several separated by commas (2a,2b), or all.
        selection: String,
        /// Seeds per test (at least 1).
        #[arg(short = 'k', long, default_value_t = 5, value_parser = at_least_one::<u64>)]
        seeds: u64,
        /// JSON object of test name to points, e.g. {"figure8_2c": 3}; a test it does not name
        /// is worth 1 point, a name that is not a test is an error.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Where to write the grade (default: target/lab-reports/grade-SELECTION.json,
        /// gradescope-SELECTION.json or junit-SELECTION.xml).
        #[arg(long, visible_alias = "json")]
        out: Option<PathBuf>,
        /// What to write: the tool's own JSON, Gradescope's results.json, or JUnit XML.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        #[command(flatten)]
        common: Common,
    },
    /// Write a Gradescope autograder: setup.sh, run_autograder and the handout (zip the
    /// directory's contents).
    Autograder {
        /// The directory to create (must not exist, or be empty).
        dir: PathBuf,
        /// The parts to grade, separated by commas (2a,2b).
        #[arg(long, required = true)]
        parts: String,
        /// Seeds per test (at least 1).
        #[arg(short = 'k', long, default_value_t = 5, value_parser = at_least_one::<u64>)]
        seeds: u64,
        /// Points per test, as for grade (copied into the autograder).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Hand out the last commit even though files it includes have uncommitted changes.
        #[arg(long)]
        allow_dirty: bool,
    },
    /// Write the student repository (no reference solutions), as of the last commit.
    Handout {
        /// The directory to create (must not exist, or be empty).
        dir: PathBuf,
        /// Hand out the last commit even though files it includes have uncommitted changes
        /// (the changes are left out, and listed).
        #[arg(long)]
        allow_dirty: bool,
    },
    /// Run one test on one seed and show what every peer did (LAB_TRACE).
    Trace {
        /// The test (a unique part of its name).
        test: String,
        /// Write the HTML timeline (one column per peer) instead of printing the events.
        #[arg(long)]
        html: bool,
        /// The seed to run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        build: BuildOpts,
    },
    /// Run each mutant (a reference solution with one classic bug) against its lab's tests
    /// (a mutant of labrpc or labsim: against that crate's own tests).
    Mutants {
        /// Only the mutants whose names start with these (e.g. `raft`, `shardkv-serve`).
        names: Vec<String>,
        /// Seeds to try per mutant before calling it not caught (at least 1).
        #[arg(long, default_value_t = 20, value_parser = at_least_one::<u64>)]
        seeds: u64,
        /// Where the mutated copy of the workspace and its build go (relative to the
        /// workspace). Give each concurrent `cargo lab mutants` its own.
        #[arg(long, default_value = "target/mutants")]
        scratch: PathBuf,
    },
}

/// What `grade` writes.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The tool's own JSON: every field of the grade.
    Json,
    /// Gradescope's autograder results.json.
    Gradescope,
    /// JUnit XML: a testsuite per lab part, a testcase per test.
    Junit,
}

impl Format {
    /// The default file name of a grade of `selection` in this format.
    fn file_name(self, selection: &str) -> String {
        match self {
            Format::Json => format!("grade-{selection}.json"),
            Format::Gradescope => format!("gradescope-{selection}.json"),
            Format::Junit => format!("junit-{selection}.xml"),
        }
    }
}

/// The options of the commands that run many tests on many seeds.
#[derive(Args)]
struct Common {
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parallel runs (default: one per core; at least 1).
    #[arg(short = 'j', long, value_parser = at_least_one::<usize>)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    build: BuildOpts,
}

/// Which code to build, and how.
#[derive(Args)]
struct BuildOpts {
    /// Test the reference solutions (the lab's and every layer's below it) instead of the
    /// student's code.
    #[arg(long)]
    reference: bool,
    /// Build in the default (debug) profile instead of release.
    #[arg(long)]
    debug: bool,
}

/// A count that must be at least 1: zero seeds or workers would run nothing, and a grade or a
/// stress run of nothing must not look like one that passed.
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError> + Default + PartialEq,
{
    match text.parse::<T>() {
        Ok(n) if n == T::default() => Err("must be at least 1 (0 would run nothing)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: expected a whole number of at least 1")),
    }
}

/// Checks that seeds `first`, `first + 1`, ... (`count` of them) all exist.
fn check_seeds(first: u64, count: u64) -> Result<(), String> {
    match first.checked_add(count - 1) {
        Some(_) => Ok(()),
        None => Err(format!(
            "--seed {first} with {count} seeds runs past the largest seed, {}",
            u64::MAX
        )),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cargo lab: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let root = workspace_root()?;
    match cli.command {
        Cmd::Stress {
            filter,
            seeds,
            fail_fast,
            check_determinism,
            common,
        } => {
            check_seeds(common.seed, seeds)?;
            let build = build(&common, root);
            let (_, tests) = select(&build, &filter)?;
            let opts = pool_options(&common, fail_fast, check_determinism);
            eprintln!(
                "stress: {} tests x {seeds} seeds = {} runs on {} workers",
                tests.len(),
                tests.len() as u64 * seeds,
                opts.workers
            );
            let summary = stress::stress(&build, &tests, common.seed, seeds, &opts);
            print!("{}", stress::report(&build, &tests, &summary));
            Ok(exit(summary.failures.is_empty()))
        }
        Cmd::Grade {
            selection,
            seeds,
            weights,
            out,
            format,
            common,
        } => {
            check_seeds(common.seed, seeds)?;
            let path = out.unwrap_or_else(|| {
                root.join("target/lab-reports")
                    .join(format.file_name(&selection))
            });
            let build = build(&common, root.clone());
            let selected = select(&build, &selection).and_then(|(all, tests)| {
                let weights = match &weights {
                    Some(path) => load_weights(path, &all, &tests)?,
                    None => Weights::default(),
                };
                Ok((tests, weights))
            });
            let (tests, weights) = match selected {
                Ok(selected) => selected,
                Err(e) => {
                    // A course's tools get a file saying why there is no grade.
                    let text = match format {
                        Format::Json => None,
                        Format::Gradescope => {
                            Some(gradescope::to_json(&gradescope::not_graded(&e)))
                        }
                        Format::Junit => Some(junit::not_graded(&selection, &e)),
                    };
                    if let Some(text) = text {
                        write_file(&path, &text)?;
                        eprintln!("wrote a grade of 0 to {}", path.display());
                    }
                    return Err(e);
                }
            };
            let opts = pool_options(&common, false, false);
            let g = grade::grade(
                &build,
                &selection,
                &tests,
                &weights,
                common.seed,
                seeds,
                &opts,
            );
            print!("{}", grade::table(&g));
            let text = match format {
                Format::Json => serde_json::to_string_pretty(&g).map_err(|e| e.to_string())? + "\n",
                Format::Gradescope => gradescope::to_json(&gradescope::results(&g)),
                Format::Junit => junit::xml(&g),
            };
            write_file(&path, &text)?;
            let label = match format {
                Format::Json => "JSON",
                Format::Gradescope => "Gradescope results",
                Format::Junit => "JUnit XML",
            };
            println!("{label}: {}", path.display());
            Ok(exit(g.earned == g.points))
        }
        Cmd::Trace {
            test,
            html,
            seed,
            build: opts,
        } => {
            let build = build_of(&opts, root);
            let (_, tests) = select(&build, &test)?;
            let [test] = &tests[..] else {
                let names: Vec<_> = tests.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "{test:?} matches {} tests: {}",
                    tests.len(),
                    names.join(", ")
                ));
            };
            let status = std::process::Command::new(&test.binary)
                .args(["--exact", &test.name, "--nocapture", "--test-threads=1"])
                .env("LAB_SEED", seed.to_string())
                .env("LAB_TRACE", if html { "html" } else { "1" })
                .env_remove("LAB_SEEDS")
                .status()
                .map_err(|e| format!("cannot run {}: {e}", test.binary.display()))?;
            Ok(exit(status.success()))
        }
        Cmd::Handout { dir, allow_dirty } => {
            let written = handout::write(&root, &dir, allow_dirty)?;
            if !written.left_out.is_empty() {
                eprintln!(
                    "warning: handed out the last commit; these uncommitted changes are not in it:"
                );
                for file in &written.left_out {
                    eprintln!("  {file}");
                }
            }
            println!(
                "wrote the student repository ({} files, as of the last commit) to {}",
                written.files,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Autograder {
            dir,
            parts,
            seeds,
            weights,
            allow_dirty,
        } => {
            let opts = autograder::Options {
                parts: autograder::parse_parts(&parts)?,
                seeds,
                weights: weights.as_deref(),
                allow_dirty,
            };
            let files = autograder::write(&root, &dir, &opts)?;
            println!(
                "wrote a Gradescope autograder for parts {} ({} seeds per test; the handout, {files} \
                 files, as of the last commit) to {}; upload a zip of its contents",
                opts.parts.join(", ").to_uppercase(),
                seeds,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Mutants {
            names,
            seeds,
            scratch,
        } => {
            let caught = mutants::run(&root, &names, seeds, &root.join(scratch))?;
            Ok(exit(caught))
        }
    }
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn build(common: &Common, root: PathBuf) -> Build {
    build_of(&common.build, root)
}

fn build_of(opts: &BuildOpts, root: PathBuf) -> Build {
    Build {
        reference: opts.reference,
        release: !opts.debug,
        root,
        target_dir: None,
    }
}

fn pool_options(common: &Common, fail_fast: bool, check_determinism: bool) -> PoolOptions {
    PoolOptions {
        workers: common.jobs.unwrap_or_else(default_workers),
        fail_fast,
        check_determinism,
        progress: !common.quiet,
    }
}

/// Builds the labs the filter needs; returns all their grader tests and those it selects. A
/// filter may be several, separated by commas: a test is selected if any of them selects it.
fn select(
    build: &Build,
    filter: &str,
) -> Result<(Vec<suite::GraderTest>, Vec<suite::GraderTest>), String> {
    let filters: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if filters.is_empty() {
        return Err(format!("{filter:?} names no lab, part or test"));
    }
    let mut labs: Vec<&str> = Vec::new();
    for f in &filters {
        suite::check_filter(f)?;
        for lab in suite::labs_to_build(&build.root, f) {
            if !labs.contains(&lab) {
                labs.push(lab);
            }
        }
    }
    // In the labs' order, as a single filter gives them.
    labs.sort_by_key(|lab| suite::LABS.iter().position(|(l, _)| l == lab));
    eprintln!("building the {} grader(s)...", labs.join(", "));
    let all = grader_tests(build, &labs)?;
    let tests: Vec<_> = all
        .iter()
        .filter(|t| filters.iter().any(|f| selects(f, t)))
        .cloned()
        .collect();
    if tests.is_empty() {
        let labs: Vec<&str> = suite::LABS.iter().map(|(lab, _)| *lab).collect();
        return Err(format!(
            "no grader test matches {filter:?}: give a lab ({}), a part ({}) or part of a \
             test's name, or several separated by commas",
            labs.join(", "),
            suite::all_parts().join(", ")
        ));
    }
    Ok((all, tests))
}

/// Reads a weights file and checks its names against `all` the grader tests built; says what
/// it could not check and which graded tests it leaves at 1 point.
fn load_weights(
    path: &std::path::Path,
    all: &[suite::GraderTest],
    graded: &[suite::GraderTest],
) -> Result<Weights, String> {
    let weights = Weights::load(path)?;
    let unchecked = weights
        .check(all)
        .map_err(|e| format!("weights file {} {e}", path.display()))?;
    if !unchecked.is_empty() {
        eprintln!(
            "weights: not checked, their labs are not graded here: {}",
            unchecked.join(", ")
        );
    }
    let unnamed = weights.unnamed(graded);
    if !unnamed.is_empty() {
        eprintln!(
            "weights: {} does not name {}, worth 1 point each",
            path.display(),
            unnamed.join(", ")
        );
    }
    Ok(weights)
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(args: &[&str]) -> String {
        match Cli::try_parse_from([&["cargo lab"], args].concat()) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn zero_seeds_or_workers_is_an_error_not_a_run_of_nothing() {
        for args in [
            &["grade", "raft", "-k", "0"][..],
            &["stress", "2a", "-n", "0"],
            &["stress", "2a", "-j", "0"],
            &["mutants", "--seeds", "0"],
        ] {
            let err = parse_error(args);
            assert!(
                err.contains("'0'") && err.contains("must be at least 1"),
                "{err}"
            );
        }
        let err = parse_error(&["grade", "raft", "-k", "five"]);
        assert!(
            err.contains("expected a whole number of at least 1"),
            "{err}"
        );
        assert!(Cli::try_parse_from(["cargo lab", "grade", "raft", "-k", "1"]).is_ok());
    }

    #[test]
    fn grade_writes_any_format_to_out_also_spelled_json() {
        for (args, format, out) in [
            (&["grade", "2a"][..], Format::Json, None),
            (
                &[
                    "grade",
                    "2a,2b",
                    "--format",
                    "gradescope",
                    "--out",
                    "r.json",
                ],
                Format::Gradescope,
                Some("r.json"),
            ),
            (
                &["grade", "raft", "--format", "junit", "--json", "j.xml"],
                Format::Junit,
                Some("j.xml"),
            ),
        ] {
            let cli = Cli::try_parse_from([&["cargo lab"], args].concat()).unwrap();
            let Cmd::Grade {
                format: f, out: o, ..
            } = cli.command
            else {
                panic!("{args:?} is not grade");
            };
            assert!(f == format, "{args:?}");
            assert_eq!(o, out.map(PathBuf::from), "{args:?}");
        }
        assert_eq!(Format::Junit.file_name("2a,2b"), "junit-2a,2b.xml");
        assert!(parse_error(&["grade", "2a", "--format", "xml"]).contains("gradescope"));
        assert!(parse_error(&["autograder", "ag"]).contains("--parts"));
    }

    /// A trace is one run: options about many runs would do nothing there, so they are refused.
    #[test]
    fn trace_takes_no_options_that_would_do_nothing() {
        for flag in ["-j", "--quiet"] {
            let mut args = vec!["trace", "initial_election_2a", flag];
            if flag == "-j" {
                args.push("2");
            }
            let err = parse_error(&args);
            assert!(err.contains("unexpected argument"), "{err}");
        }
        let ok = [
            "cargo lab",
            "trace",
            "x",
            "--seed",
            "7",
            "--reference",
            "--debug",
        ];
        assert!(Cli::try_parse_from(ok).is_ok());
    }

    #[test]
    fn a_seed_range_past_the_largest_seed_is_an_error() {
        assert!(check_seeds(u64::MAX, 1).is_ok());
        assert!(check_seeds(u64::MAX - 1, 2).is_ok());
        let err = check_seeds(u64::MAX, 2).unwrap_err();
        assert!(err.contains("runs past the largest seed"), "{err}");
    }
}
