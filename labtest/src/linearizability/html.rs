//! The HTML report of a non-linearizable history: one self-contained page, no scripts.
//!
//! Each partition gets a timeline with one row per client; an operation is a box from its call
//! to its return. Times are compressed to their rank among the partition's event times, so short
//! and long operations stay legible. Boxes of the longest linearizable prefix are green and
//! numbered in linearization order, the operation that could not be placed is red, operations
//! with an unknown outcome have a dashed border. Hovering a box shows the operation, its times
//! and, for linearized ones, the model state after it; the same information is listed below the
//! timeline. Partitions that are linearizable are folded away.

use super::{
    check_operations_counted, CheckResult, Info, Model, Operation, PartitionInfo, PartitionVerdict,
};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

/// Width of one time rank, in pixels.
const RANK_PX: usize = 26;
/// Height of a client row, in pixels.
const ROW_PX: usize = 30;
/// Width of the client labels, in pixels.
const LABEL_PX: usize = 90;

const STYLE: &str = "body{font-family:sans-serif;margin:1em;color:#222}\
h2{font-size:1.1em;margin-top:1.5em}\
.tl{position:relative;overflow-x:auto;border:1px solid #ccc;background:#fafafa}\
.row{position:absolute;left:0;font-size:12px;color:#555;border-top:1px solid #eee;width:100%}\
.op{position:absolute;height:20px;box-sizing:border-box;border:1px solid #777;border-radius:3px;\
background:#ddd;font-size:11px;line-height:18px;overflow:hidden;white-space:nowrap;padding:0 2px}\
.op.lin{background:#b7e4b0;border-color:#3a7d32}\
.op.blocked{background:#f4a6a6;border:2px solid #b00}\
.op.unknown{border-style:dashed}\
ol{font-family:monospace;font-size:12px}.bad{color:#b00;font-weight:bold}\
.legend span{display:inline-block;padding:0 6px;margin-right:6px;border:1px solid #777}";

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `info` as a self-contained HTML page titled `title`.
pub fn render_html_report(title: &str, info: &Info) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n<p class=\"legend\">\
         <span style=\"background:#b7e4b0\">linearized (order #)</span>\
         <span style=\"background:#f4a6a6\">could not be placed</span>\
         <span style=\"background:#ddd\">not reached</span>\
         <span style=\"border-style:dashed\">outcome unknown</span> \
         Hover an operation for details.</p>\n",
        t = esc(title)
    );
    let mut order: Vec<usize> = (0..info.partitions.len()).collect();
    order.sort_by_key(|&i| info.partitions[i].verdict == PartitionVerdict::Ok);
    for i in order {
        partition(&mut h, i, &info.partitions[i]);
    }
    h.push_str("</body></html>\n");
    h
}

/// Writes the report of [`render_html_report`] to `path`.
pub fn write_html_report(path: impl AsRef<Path>, title: &str, info: &Info) -> std::io::Result<()> {
    std::fs::write(path, render_html_report(title, info))
}

/// Checks `history` against `model` and fails the test (panics) if it is not linearizable,
/// after writing the HTML report under [`crate::report::lab_reports_dir`]; the message holds
/// its path. A check that uses up its work budget of `max_steps` search steps (see
/// [`super::check_operations`]) passes with a note, as a timeout does in MIT's testers: it
/// proves nothing either way.
///
/// With `LAB_LIN_STEPS=1` in the environment, every check also prints its verdict and the number
/// of steps it took (a line starting with `lab-lin-steps`), to measure what a budget must allow.
#[track_caller]
pub fn assert_linearizable<M: Model>(
    model: &M,
    history: Vec<Operation<M::Input, M::Output>>,
    max_steps: Option<u64>,
    title: &str,
) {
    let (result, steps) = check_operations_counted(model, history, max_steps);
    if std::env::var("LAB_LIN_STEPS").is_ok_and(|v| v != "0") {
        let verdict = match result {
            CheckResult::Ok => "ok",
            CheckResult::Illegal(_) => "illegal",
            CheckResult::Unknown => "unknown",
        };
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("?");
        println!("lab-lin-steps test={test} title={title:?} verdict={verdict} steps={steps}");
    }
    let info = match result {
        CheckResult::Ok => return,
        CheckResult::Unknown => {
            println!(
                "info: linearizability check used up its work budget of {steps} search steps \
                 without a verdict, assuming history is ok"
            );
            return;
        }
        CheckResult::Illegal(info) => info,
    };
    let written = crate::report::lab_reports_dir().and_then(|dir| {
        let path = dir.join(crate::report::report_file_name("html"));
        write_html_report(&path, title, &info).map(|()| path)
    });
    let summary = console_summary(&info);
    match written {
        Ok(path) => panic!(
            "history is not linearizable; visualization: {}\n{summary}",
            path.display()
        ),
        Err(e) => {
            panic!("history is not linearizable (could not write the report: {e})\n{summary}")
        }
    }
}

/// How many of the last linearized operations the console summary shows before the one that
/// could not be placed.
const SUMMARY_CONTEXT: usize = 3;

/// What a failure message says of each illegal partition, for a reader without the report at
/// hand (a grader's log): the operation that could not be placed, with its times (the testers'
/// are virtual nanoseconds, shown as seconds), the state it met, and the operations placed
/// just before it.
fn console_summary(info: &Info) -> String {
    let secs = |ns: u64| format!("{:.3} s", ns as f64 / 1e9);
    let mut out = String::new();
    for p in &info.partitions {
        let Some(blocked) = p.blocked.filter(|_| p.verdict == PartitionVerdict::Illegal) else {
            continue;
        };
        let op = &p.ops[blocked];
        let state = p.states.last().map(String::as_str).unwrap_or("?");
        let _ = writeln!(
            out,
            "  client {}'s {} (called at {}, returned at {}) fits no order: after the {} \
             operations (of {}) that can go before it, the state is {state}",
            op.client,
            op.description,
            secs(op.call),
            secs(op.ret),
            p.linearized.len(),
            p.ops.len()
        );
        let from = p.linearized.len().saturating_sub(SUMMARY_CONTEXT);
        for &i in &p.linearized[from..] {
            let op = &p.ops[i];
            let _ = writeln!(
                out,
                "    placed before it: client {}'s {} ({} to {})",
                op.client,
                op.description,
                secs(op.call),
                secs(op.ret)
            );
        }
    }
    out
}

/// Renders one partition.
fn partition(h: &mut String, index: usize, p: &PartitionInfo) {
    let ok = p.verdict == PartitionVerdict::Ok;
    let summary = format!(
        "Partition {index}: {:?}, {} of {} operations linearized",
        p.verdict,
        p.linearized.len(),
        p.ops.len()
    );
    if ok {
        let _ = writeln!(h, "<details><summary>{}</summary>", esc(&summary));
    } else {
        let _ = writeln!(h, "<h2>{}</h2>", esc(&summary));
    }
    if let Some(b) = p.blocked {
        let op = &p.ops[b];
        let _ = writeln!(
            h,
            "<p class=\"bad\">Could not place: client {} {} [{}, {}] after state {}</p>",
            op.client,
            esc(&op.description),
            op.call,
            op.ret,
            esc(p.states.last().map(String::as_str).unwrap_or("?"))
        );
    }
    // Position in the linearization, per operation.
    let mut rank_in_lin = vec![None; p.ops.len()];
    for (k, &i) in p.linearized.iter().enumerate() {
        rank_in_lin[i] = Some(k);
    }
    let times: Vec<u64> = p
        .ops
        .iter()
        .flat_map(|op| [op.call, op.ret])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let x = |t: u64| LABEL_PX + times.partition_point(|&u| u < t) * RANK_PX;
    let clients: Vec<usize> = p
        .ops
        .iter()
        .map(|op| op.client)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let width = LABEL_PX + (times.len() + 1) * RANK_PX;
    let _ = writeln!(
        h,
        "<div class=\"tl\" style=\"height:{}px\"><div style=\"width:{width}px;height:1px\"></div>",
        clients.len() * ROW_PX + 4
    );
    for (row, c) in clients.iter().enumerate() {
        let _ = writeln!(
            h,
            "<div class=\"row\" style=\"top:{}px;height:{ROW_PX}px;width:{width}px\">client {c}</div>",
            row * ROW_PX
        );
    }
    for (i, op) in p.ops.iter().enumerate() {
        let row = clients.binary_search(&op.client).unwrap_or(0);
        let (left, right) = (x(op.call), x(op.ret));
        let mut class = String::from("op");
        let mut tip = format!(
            "client {}: {}\ncall {}, return {}",
            op.client, op.description, op.call, op.ret
        );
        let mut label = op.description.clone();
        if let Some(k) = rank_in_lin[i] {
            class.push_str(" lin");
            let _ = write!(
                tip,
                "\nlinearized #{}; state after: {}",
                k + 1,
                p.states[k + 1]
            );
            label = format!("#{} {}", k + 1, op.description);
        }
        if Some(i) == p.blocked {
            class.push_str(" blocked");
            tip.push_str("\ncould not be placed after the prefix");
        }
        if op.unknown {
            class.push_str(" unknown");
            tip.push_str("\noutcome unknown");
        }
        let _ = writeln!(
            h,
            "<div class=\"{class}\" style=\"left:{left}px;width:{}px;top:{}px\" title=\"{}\">{}</div>",
            (right - left).max(RANK_PX / 2),
            row * ROW_PX + 5,
            esc(&tip),
            esc(&label)
        );
    }
    h.push_str("</div>\n<ol start=\"0\">\n");
    let _ = writeln!(h, "<li>initial state: {}</li>", esc(&p.states[0]));
    for (k, &i) in p.linearized.iter().enumerate() {
        let op = &p.ops[i];
        let _ = writeln!(
            h,
            "<li>client {}: {} &rarr; {}</li>",
            op.client,
            esc(&op.description),
            esc(&p.states[k + 1])
        );
    }
    h.push_str("</ol>\n");
    if ok {
        h.push_str("</details>\n");
    }
}
