//! Where failing tests leave their reports (timelines, linearizability histories), and what the
//! files are called.

use std::path::PathBuf;

use super::timeline::render_html;
use super::trace::{Trace, TraceEvent};
use crate::failure::Failure;

/// Where failing tests leave their reports: `<target dir>/lab-reports/`, created on demand.
///
/// The target directory is `CARGO_TARGET_DIR` when set, otherwise the one the running test
/// binary was built in (`<target>/<profile>/deps/<binary>`), otherwise `./target`.
pub fn reports_dir() -> std::io::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(PathBuf::from))?
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("lab-reports");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The stem of report file names for the running test and `seed`: `<test>-seed<N>`, with the
/// test's module path joined by `-` (the simulation thread carries the test's name).
pub fn report_stem(seed: u64) -> String {
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-");
    format!("{test}-seed{seed}")
}

/// Writes the timeline of `events` as `<name>.html` in [`reports_dir`]; returns its path.
pub fn write_html(name: &str, title: &str, events: &[TraceEvent]) -> std::io::Result<PathBuf> {
    let path = reports_dir()?.join(format!("{name}.html"));
    std::fs::write(&path, render_html(title, events))?;
    Ok(path)
}

/// Writes a run's timeline under `lab-reports/`, named after the test and the seed, with the
/// failure, if any, as its last event; returns its path (or says why it could not).
pub(crate) fn write_timeline(seed: u64, trace: &Trace, failure: Option<&Failure>) -> String {
    let stem = report_stem(seed);
    let name = format!("{stem}-timeline");
    let title = stem.replacen("-seed", ", seed ", 1);
    let mut events = trace.events();
    if let Some(failure) = failure {
        events.push(TraceEvent {
            at: failure.at,
            node: "tester".into(),
            kind: "failure".into(),
            text: std::iter::once(failure.kind.to_string())
                .chain(failure.context.iter().cloned())
                .collect::<Vec<_>>()
                .join(". "),
        });
    }
    match write_html(&name, &title, &events) {
        Ok(path) => path.display().to_string(),
        Err(e) => format!("(could not write the timeline: {e})"),
    }
}
