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
//! `LAB_TRACE=html` writes [`render_html`](super::render_html)'s timeline (one column per peer)
//! under the target directory's `lab-reports/`. A failed run is replayed with a trace (it is deterministic), so
//! every failure leaves its timeline there too.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::tone::Tone;
use crate::context;

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

/// The events of one run; also a `tracing` subscriber that collects them (a run's
/// [`RunSettings::subscriber`](crate::RunSettings::subscriber): `Some(trace.clone().into())`).
/// Clones share the events.
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

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::{run, Node, RunSettings};

    /// The events a run of `body` traced.
    fn traced<Fut: Future<Output = ()> + 'static>(
        body: impl FnOnce() -> Fut + Send + 'static,
    ) -> Vec<TraceEvent> {
        let trace = Trace::new(false);
        let mut settings = RunSettings::new(5);
        settings.subscriber = Some(trace.clone().into());
        run(&settings, body).unwrap();
        trace.events()
    }

    /// A traced run stamps each event with its virtual time and the node that emitted it
    /// (or the one it names).
    #[test]
    fn collects_events_by_node_and_time() {
        let events = traced(|| async {
            let node = Node::new("peer7");
            node.spawn(async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                tracing::info!(kind = "leader", "leader of term {}", 3);
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            node.crash();
        });
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
    }

    /// An event that says when it was sent (`sent_ms`) takes its place at that time, after
    /// the fact: a call that got no reply is known to have failed only later.
    #[test]
    fn an_event_stamped_with_its_send_time_takes_its_place_in_time() {
        let events = traced(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tracing::info!(kind = "before", "at 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            tracing::debug!(kind = "drop", sent_ms = 500u64, "no reply");
        });
        assert_eq!(events[0].kind, "drop", "{events:?}");
        assert_eq!(events[0].at, Duration::from_millis(500));
        assert_eq!(
            events[0].text,
            "no reply (sent at 0.500 s, known at 2.000 s)"
        );
    }
}
