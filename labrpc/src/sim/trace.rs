//! Traces: what every peer did, when, in a run, from `tracing` events.
//!
//! The framework and the reference solutions emit `tracing` events with a `kind` field
//! (`election`, `vote`, `leader`, `append`, `commit`, `apply`, `snapshot`, `crash`, `drop`,
//! `net`, ...), and lab code can add its own with the same macros:
//!
//! ```
//! # fn f(term: u64) {
//! tracing::info!(kind = "election", "timed out, term {term}");
//! # }
//! ```
//!
//! A [`Trace`] collects them for one simulation, stamped with the virtual time and the node
//! whose task emitted them. `LAB_TRACE=1` prints them as they happen, in aligned columns;
//! `LAB_TRACE=html` writes [`render_html`]'s timeline (one column per peer) under the target
//! directory's `lab-reports/`. A failed run is replayed with a trace (it is deterministic), so
//! every failure leaves its timeline there too.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::context;

/// One traced event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time since the start of the run.
    pub at: Duration,
    /// The node whose task emitted it (`tester` for the test itself).
    pub node: String,
    /// The event's `kind` field, or its level for events without one.
    pub kind: String,
    /// The message and any other fields.
    pub text: String,
}

/// The events of one run; also a `tracing` subscriber that collects them. Clones share the
/// events.
#[derive(Clone)]
pub struct Trace {
    print: bool,
    color: bool,
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} events)", self.events.lock().len())
    }
}

impl Trace {
    /// A trace that keeps events, and also prints each as it happens if `print`.
    pub fn new(print: bool) -> Trace {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Trace {
            print,
            color: print && color,
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The events so far.
    /// The events so far, in virtual-time order (an event stamped with an earlier time than
    /// its emission, like a dropped call's `sent_ms`, takes its place; ties keep their order).
    pub fn events(&self) -> Vec<TraceEvent> {
        let mut events = self.events.lock().clone();
        events.sort_by_key(|e| e.at);
        events
    }
}

/// Collects an event's fields: `kind` and `node` apart, the message first, then `name=value`
/// pairs. A `node` field puts the event in that node's column (a crash, reported by the
/// tester, belongs to the node that crashed).
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    node: Option<String>,
    /// `sent_ms`: the virtual time the event belongs at, when it is reported later (a call
    /// that got no reply is known to have failed only after a while, but happened when sent).
    sent_ms: Option<u64>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "sent_ms" => self.sent_ms = Some(value),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "kind" => self.kind = Some(value.to_string()),
            "node" => self.node = Some(value.to_string()),
            "message" => self.message = value.to_string(),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "kind" => self.kind = Some(format!("{value:?}").trim_matches('"').to_string()),
            "node" => self.node = Some(format!("{value:?}").trim_matches('"').to_string()),
            "message" => self.message = format!("{value:?}"),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

impl Subscriber for Trace {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (at, node) = if context::active() {
            (
                context::with(|s| s.now()),
                context::with(|s| {
                    s.node_name(context::current_role().map_or(context::TESTER, |r| r.node))
                }),
            )
        } else {
            (Duration::ZERO, "-".to_string())
        };
        let kind = fields
            .kind
            .unwrap_or_else(|| event.metadata().level().as_str().to_ascii_lowercase());
        let mut text = fields.message + &fields.rest;
        let at = match fields.sent_ms {
            Some(ms) => {
                let _ = write!(
                    text,
                    " (sent at {:.3} s, known at {:.3} s)",
                    ms as f64 / 1e3,
                    at.as_secs_f64()
                );
                Duration::from_millis(ms)
            }
            None => at,
        };
        let e = TraceEvent {
            at,
            node: fields.node.unwrap_or(node),
            kind,
            text,
        };
        if self.print {
            // Straight to stderr, past libtest's capture: a trace asked for is always shown.
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{}", format_line(&e, self.color));
        }
        self.events.lock().push(e);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The families of event kinds that share a colour, in the terminal and in the timeline.
#[derive(Clone, Copy)]
enum Tone {
    Election,
    Leader,
    Apply,
    Failure,
    Snapshot,
    Net,
}

impl Tone {
    /// The tone of a kind (stable, so a kind has the same colour in every run), if it has one.
    fn of(kind: &str) -> Option<Tone> {
        Some(match kind {
            "election" | "vote" => Tone::Election,
            "leader" => Tone::Leader,
            "commit" | "apply" => Tone::Apply,
            "crash" | "drop" | "error" | "warn" | "failure" => Tone::Failure,
            "snapshot" => Tone::Snapshot,
            "net" => Tone::Net,
            _ => return None,
        })
    }

    /// ANSI escape that starts the tone's colour.
    fn ansi(self) -> &'static str {
        match self {
            Tone::Election => "\x1b[33m",
            Tone::Leader => "\x1b[1;32m",
            Tone::Apply => "\x1b[36m",
            Tone::Failure => "\x1b[31m",
            Tone::Snapshot => "\x1b[35m",
            Tone::Net => "\x1b[34m",
        }
    }

    /// Background colour in the HTML timeline.
    fn html(self) -> &'static str {
        match self {
            Tone::Election => "#fff2b3",
            Tone::Leader => "#b7e4b0",
            Tone::Apply => "#c9eef5",
            Tone::Failure => "#f4b4b4",
            Tone::Snapshot => "#e6ccf2",
            Tone::Net => "#cfd8f7",
        }
    }
}

/// One event as a line: time, node, kind, text, in aligned columns.
pub fn format_line(e: &TraceEvent, color: bool) -> String {
    let (on, off) = match Tone::of(&e.kind) {
        Some(tone) if color => (tone.ansi(), "\x1b[0m"),
        _ => ("", ""),
    };
    format!(
        "{:>10.3}s  {:<12} {on}{:<9}{off} {}",
        e.at.as_secs_f64(),
        e.node,
        e.kind,
        e.text
    )
}

/// Background colour of a kind in the HTML timeline.
fn html_color(kind: &str) -> &'static str {
    Tone::of(kind).map_or("#eeeeee", Tone::html)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: one column per node (in order of first appearance), one row
/// per event in time order, each event in its node's column and coloured by kind; a legend
/// and a filter box (plain CSS and a few lines of script) to hide kinds.
pub fn render_html(title: &str, events: &[TraceEvent]) -> String {
    let mut nodes: Vec<&str> = Vec::new();
    for e in events {
        if !nodes.contains(&e.node.as_str()) {
            nodes.push(&e.node);
        }
    }
    let mut kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse;font-size:12px}}\
         th{{position:sticky;top:0;background:#333;color:#fff;padding:4px 8px}}\
         td{{border-bottom:1px solid #eee;padding:2px 6px;vertical-align:top;min-width:9em}}\
         td.t{{color:#666;text-align:right;font-family:monospace}}\
         .ev{{border-radius:3px;padding:1px 4px}}.k{{font-weight:bold;margin-right:4px}}\
         .legend span{{display:inline-block;padding:1px 6px;margin:2px;border-radius:3px}}\
         </style></head><body>\n<h1>{t}</h1>\n<p>{n} events, {p} nodes, virtual time \
         0 - {end:.3} s. Kinds (click to hide or show):</p><p class=\"legend\">",
        t = esc(title),
        n = events.len(),
        p = nodes.len(),
        end = events.last().map_or(0.0, |e| e.at.as_secs_f64())
    );
    for k in &kinds {
        let _ = write!(
            h,
            "<span style=\"background:{}\" onclick=\"toggle('{k}',this)\">{k}</span>",
            html_color(k),
            k = esc(k)
        );
    }
    h.push_str("</p>\n<table><tr><th>time (s)</th>");
    for n in &nodes {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("</tr>\n");
    for e in events {
        let col = nodes.iter().position(|n| *n == e.node).unwrap_or(0);
        let _ = writeln!(
            h,
            "<tr class=\"k-{k}\"><td class=\"t\">{:.3}</td>{}<td><span class=\"ev\" \
             style=\"background:{}\"><span class=\"k\">{k}</span>{}</span></td>{}</tr>",
            e.at.as_secs_f64(),
            "<td></td>".repeat(col),
            html_color(&e.kind),
            esc(&e.text),
            "<td></td>".repeat(nodes.len() - col - 1),
            k = esc(&e.kind)
        );
    }
    h.push_str(
        "</table>\n<script>function toggle(k,el){var rows=document.querySelectorAll('tr.k-'+k);\
         var hide=el.style.opacity!=='0.3';el.style.opacity=hide?'0.3':'1';\
         rows.forEach(function(r){r.style.display=hide?'none':''});}</script>\n</body></html>\n",
    );
    h
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{self, Node};

    /// A call that gets no reply is traced at the time it was sent, not when the caller found
    /// out, so a timeline shows the drop while its link was down.
    #[test]
    fn a_dropped_call_is_stamped_when_it_was_sent() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Ping;
        impl crate::Rpc for Ping {
            type Reply = ();
            const NAME: &'static str = "P.Ping";
        }
        let trace = Trace::new(false);
        let mut config = sim::Config::new(3);
        config.trace = Some(trace.clone());
        sim::run(&config, || async {
            let net = crate::Network::new();
            let end = net.make_end("e"); // disabled: the call fails after 0-99 ms
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(end.call(&Ping).await.is_err());
            tracing::info!(kind = "later", "after the failure");
        })
        .unwrap();
        let events = trace.events();
        let drop = events.iter().find(|e| e.kind == "drop").unwrap();
        assert_eq!(drop.at, Duration::from_secs(1), "{drop:?}");
        assert!(
            drop.text.contains("(sent at 1.000 s, known at 1."),
            "{drop:?}"
        );
        let later = events.iter().position(|e| e.kind == "later").unwrap();
        let dropped = events.iter().position(|e| e.kind == "drop").unwrap();
        assert!(dropped < later, "events are in time order: {events:?}");
    }

    /// A traced run stamps each event with its virtual time and the node that emitted it
    /// (or the one it names), and the timeline has a column per node.
    #[test]
    fn collects_events_by_node_and_time_and_renders_every_node() {
        let trace = Trace::new(false);
        let mut config = sim::Config::new(5);
        config.trace = Some(trace.clone());
        sim::run(&config, || async {
            let node = Node::new("peer7");
            node.spawn(async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                tracing::info!(kind = "leader", "leader of term {}", 3);
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            node.crash();
        })
        .unwrap();
        let events = trace.events();
        let find = |kind: &str| events.iter().find(|e| e.kind == kind).cloned().unwrap();
        let leader = find("leader");
        assert_eq!(
            (leader.at, leader.node.as_str(), leader.text.as_str()),
            (Duration::from_millis(250), "peer7", "leader of term 3")
        );
        let crash = find("crash");
        assert_eq!(
            (crash.at, crash.node.as_str()),
            (Duration::from_secs(1), "peer7")
        );
        let line = format_line(&leader, false);
        assert_eq!(line, "     0.250s  peer7        leader    leader of term 3");
        let html = render_html("t", &events);
        assert!(html.contains("<th>peer7</th>") && html.contains("leader of term 3"));
    }
}
