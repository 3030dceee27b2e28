//! `cargo lab`: what students, graders and instructors reach for beyond `cargo test`.
//!
//! ```text
//! cargo lab stress 2a -n 200          # every 2A test on 200 seeds, in parallel
//! cargo lab stress figure8_2c -n 1000 --fail-fast
//! cargo lab stress kvraft -n 50 --check-determinism
//! cargo lab grade raft --reference    # score table and JSON
//! cargo lab handout ../student-repo   # the student repository
//! cargo lab trace figure8_2c --seed 7  # every peer's events in that run
//! cargo lab trace figure8_2c --seed 7 --html
//! cargo lab mutants                   # which tests catch each classic bug
//! ```
//!
//! Filters work as in `cargo test`: a lab (`raft`, `kvraft`, `shardmaster`, `shardkv`), a part
//! (`2a`), or any part of a test's name. Tests run the student's code unless `--reference` is
//! given, in release mode unless `--debug` is.

mod grade;
mod handout;
mod mutants;
mod pool;
mod run;
mod stress;
mod suite;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::pool::{default_workers, PoolOptions};
use crate::suite::{grader_tests, labs_for, selects, workspace_root, Build};

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
        /// How many seeds per test.
        #[arg(short = 'n', long, default_value_t = 100)]
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
        /// Seeds per test.
        #[arg(short = 'k', long, default_value_t = 5)]
        seeds: u64,
        /// JSON object of test name to points (default: 1 point per test).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Where to write the JSON (default: target/lab-reports/grade-<selection>.json).
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Write the student repository (no reference solutions) to a directory.
    Handout {
        /// The directory to create (must not exist, or be empty).
        dir: PathBuf,
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
        /// Seeds to try per mutant before calling it not caught.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
    },
}

#[derive(Args)]
struct Common {
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parallel runs (default: one per core).
    #[arg(short = 'j', long)]
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
            let build = build(&common, root);
            let tests = select(&build, &filter)?;
            let opts = pool_options(&common, fail_fast, check_determinism);
            eprintln!(
                "stress: {} tests x {seeds} seeds = {} runs on {} workers",
                tests.len(),
                tests.len() as u64 * seeds,
                opts.workers
            );
            let summary = stress::stress(&tests, common.seed, seeds, &opts);
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
            let build = build(&common, root.clone());
            let tests = select(&build, &selection)?;
            let weights = match weights {
                Some(path) => grade::Weights::load(&path)?,
                None => grade::Weights::default(),
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
            let tests = select(&build, &test)?;
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
        Cmd::Handout { dir } => {
            let written = handout::write(&root, &dir)?;
            println!(
                "wrote the student repository ({written} files) to {}",
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

/// Builds the labs the filter needs and returns the tests it selects.
fn select(build: &Build, filter: &str) -> Result<Vec<suite::GraderTest>, String> {
    let labs = labs_for(filter);
    eprintln!("building the {} grader(s)...", labs.join(", "));
    let tests: Vec<_> = grader_tests(build, &labs)?
        .into_iter()
        .filter(|t| selects(filter, t))
        .collect();
    if tests.is_empty() {
        return Err(format!("no grader test matches {filter:?}"));
    }
    Ok(tests)
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
