//! `cargo lab`: what students, graders and instructors reach for beyond `cargo test`.
//!
//! ```text
//! cargo lab stress 2a -n 200          # every 2A test on 200 seeds, in parallel
//! cargo lab stress figure8_2c -n 1000 --fail-fast
//! cargo lab stress kvraft -n 50 --check-determinism
//! cargo lab grade raft --reference    # score table and JSON
//! cargo lab handout ../student-repo   # the student repository, from the last commit
//! cargo lab trace figure8_2c --seed 7  # every peer's events in that run
//! cargo lab trace figure8_2c --seed 7 --html
//! cargo lab mutants                   # which tests catch each classic bug
//! ```
//!
//! Filters work as in `cargo test`: a lab (`raft`, `kvraft`, `shardmaster`, `shardkv`), a part
//! (`2a`), or any part of a test's name. Tests run the student's code unless `--reference` is
//! given, in release mode unless `--debug` is.

mod git;
mod grade;
mod handout;
mod mutants;
mod pool;
mod run;
mod stress;
mod suite;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::pool::{default_workers, PoolOptions};
use crate::suite::{grader_tests, labs_for, selects, workspace_root, Build};
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
    /// Grade lab parts: every test on K seeds, a score table, and JSON.
    Grade {
        /// A lab (raft), a part (2b), or all.
        selection: String,
        /// Seeds per test (at least 1).
        #[arg(short = 'k', long, default_value_t = 5, value_parser = at_least_one::<u64>)]
        seeds: u64,
        /// JSON object of test name to points, e.g. {"figure8_2c": 3}; a test it does not name
        /// is worth 1 point, a name that is not a test is an error.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Where to write the JSON (default: target/lab-reports/grade-<selection>.json).
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
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
        #[command(flatten)]
        common: Common,
    },
    /// Run each mutant (a reference solution with one classic bug) against its lab's tests.
    Mutants {
        /// Only the mutants whose names start with these (e.g. `raft`, `shardkv-serve`).
        names: Vec<String>,
        /// Seeds to try per mutant before calling it not caught (at least 1).
        #[arg(long, default_value_t = 20, value_parser = at_least_one::<u64>)]
        seeds: u64,
    },
}

#[derive(Args)]
struct Common {
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parallel runs (default: one per core; at least 1).
    #[arg(short = 'j', long, value_parser = at_least_one::<usize>)]
    jobs: Option<usize>,
    /// Test the reference solutions instead of the student's code.
    #[arg(long)]
    reference: bool,
    /// Build in the default (debug) profile instead of release.
    #[arg(long)]
    debug: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
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
            json,
            common,
        } => {
            check_seeds(common.seed, seeds)?;
            let build = build(&common, root.clone());
            let (all, tests) = select(&build, &selection)?;
            let weights = match weights {
                Some(path) => load_weights(&path, &all, &tests)?,
                None => Weights::default(),
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
            let path = json.unwrap_or_else(|| {
                root.join("target/lab-reports")
                    .join(format!("grade-{selection}.json"))
            });
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            let text = serde_json::to_string_pretty(&g).map_err(|e| e.to_string())?;
            std::fs::write(&path, text + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("JSON: {}", path.display());
            Ok(exit(g.earned == g.points))
        }
        Cmd::Trace { test, html, common } => {
            let build = build(&common, root);
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
                .env("LAB_SEED", common.seed.to_string())
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
        Cmd::Mutants { names, seeds } => {
            let caught = mutants::run(&root, &names, seeds)?;
            Ok(exit(caught))
        }
    }
}

fn build(common: &Common, root: PathBuf) -> Build {
    Build {
        reference: common.reference,
        release: !common.debug,
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

/// Builds the labs the filter needs; returns all their grader tests and those it selects.
fn select(
    build: &Build,
    filter: &str,
) -> Result<(Vec<suite::GraderTest>, Vec<suite::GraderTest>), String> {
    suite::check_filter(filter)?;
    let labs = labs_for(filter);
    eprintln!("building the {} grader(s)...", labs.join(", "));
    let all = grader_tests(build, &labs)?;
    let tests: Vec<_> = all.iter().filter(|t| selects(filter, t)).cloned().collect();
    if tests.is_empty() {
        let labs: Vec<&str> = suite::LABS.iter().map(|(lab, _)| *lab).collect();
        return Err(format!(
            "no grader test matches {filter:?}: give a lab ({}), a part ({}) or part of a \
             test's name",
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
    fn a_seed_range_past_the_largest_seed_is_an_error() {
        assert!(check_seeds(u64::MAX, 1).is_ok());
        assert!(check_seeds(u64::MAX - 1, 2).is_ok());
        let err = check_seeds(u64::MAX, 2).unwrap_err();
        assert!(err.contains("runs past the largest seed"), "{err}");
    }
}
