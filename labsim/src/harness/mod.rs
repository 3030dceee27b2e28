//! What makes a simulation a grader test: seeds from the environment, failure reports with the
//! command that replays them, runs over many seeds, the determinism check, traces, timelines
//! and the reports directory.
//!
//! The kernel (the rest of this crate) never uses this module: it runs one simulation from its
//! [`RunSettings`](crate::RunSettings), and everything here is built on that.
//!
//! | variable | effect |
//! |---|---|
//! | `LAB_SEED=N` | run with seed N (default: a fresh seed per test, printed on failure) |
//! | `LAB_SEEDS=K` | run K consecutive seeds from `LAB_SEED` (or a fresh one); stop at the first failure |
//! | `LAB_CHECK_DETERMINISM=1` | run every seed twice and fail, naming the first divergent event, if the runs differ |
//! | `LAB_WATCHDOG_SECS=S` | let the simulation thread use S seconds of CPU time while virtual time stands still before calling it a busy loop (default 5; also caps the 2 s a run may spend blocked) |
//! | `LAB_TRACE=1` | print every traced event (elections, votes, commits, crashes, drops...) as it happens; `LAB_TRACE=html` writes every run's timeline; by default a failed run is replayed with a trace and leaves its timeline under `target/lab-reports/` |
//! | `LAB_RESULT_LINES=1` | also print `lab-result seed=N status=ok\|panic\|... virtual_ms=T` per seed on stdout, for tools, followed on a passed run by its result fields (`rpcs=R`, see [`add_to_result`](crate::add_to_result)) |
//!
//! A failure's report ends with the command that replays it, from the workspace root
//! ([`ReplayCommand`]): `cargo lab` prints the same command for the failures it finds.

mod env;
mod replay;
mod reports;
mod result_line;
mod runner;
mod timeline;
mod tone;
pub mod trace;

pub use replay::{Profile, ReplayCommand, TestTarget};
pub use reports::{report_stem, reports_dir, write_html};
pub use runner::{test, Test};
pub use timeline::render_html;
