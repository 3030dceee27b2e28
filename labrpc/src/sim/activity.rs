//! What the tester is doing, for the report of a run that fails: the step it is in ("waiting
//! for one leader") and the clerk calls it has in flight (`clerk3 Get("k1")`).
//!
//! Testers declare both with guards ([`step`], [`clerk_call`]) that register on creation and
//! unregister when dropped. When a run fails (time limit, deadlock, busy loop, blocked thread,
//! panic...), the failure report lists what was registered at that moment:
//!
//! ```text
//! seed 7, virtual time 120.001 s: the test ran past its limit of 120 virtual seconds ...
//!   tester step: waiting for one leader (since 3.000 s)
//!   clerk calls in flight: clerk3 Get("k1") since 12.345 s; clerk4 Put("k2") since 12.400 s
//! ```
//!
//! The registry lives here, in the run's shared state, rather than behind a hook that tester
//! crates fill: a busy loop or a blocked thread is diagnosed by the watchdog, on another thread,
//! while the simulation thread never comes back, so what the report needs must already be
//! somewhere that thread can read. It holds data only (names and virtual times), so the
//! watchdog runs no tester code.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::context::{self, Shared};

/// How many clerk calls a report lists before "and N more".
const MAX_CALLS: usize = 10;
/// How many nested steps a report lists (the innermost ones).
const MAX_STEPS: usize = 4;

/// The steps and clerk calls registered in a run, by registration order.
#[derive(Default)]
pub(crate) struct Activity {
    next: u64,
    /// The part of the test under way ([`section`]), outside every step.
    section: Option<(Cow<'static, str>, Duration)>,
    steps: BTreeMap<u64, (Cow<'static, str>, Duration)>,
    calls: BTreeMap<u64, Call>,
}

struct Call {
    clerk: String,
    op: &'static str,
    args: String,
    since: Duration,
}

impl Activity {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The report's lines: `tester step: ...` and `clerk calls in flight: ...`, each only when
    /// there is something to say.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let show = |(name, since): &(Cow<'static, str>, Duration)| {
            format!("{name} (since {:.3} s)", since.as_secs_f64())
        };
        let skip = self.steps.len().saturating_sub(MAX_STEPS);
        let steps: Vec<String> = self
            .section
            .iter()
            .map(show)
            .chain((skip > 0).then(|| "...".to_string()))
            .chain(self.steps.values().skip(skip).map(show))
            .collect();
        if !steps.is_empty() {
            lines.push(format!("tester step: {}", steps.join(" > ")));
        }
        if !self.calls.is_empty() {
            let mut calls: Vec<String> = self
                .calls
                .values()
                .take(MAX_CALLS)
                .map(|c| {
                    format!(
                        "{} {}({}) since {:.3} s",
                        c.clerk,
                        c.op,
                        c.args,
                        c.since.as_secs_f64()
                    )
                })
                .collect();
            if self.calls.len() > MAX_CALLS {
                calls.push(format!("and {} more", self.calls.len() - MAX_CALLS));
            }
            lines.push(format!("clerk calls in flight: {}", calls.join("; ")));
        }
        lines
    }
}

/// Which registry an entry is in.
#[derive(Clone, Copy)]
enum Kind {
    Step,
    Call,
}

/// A registration that lasts as long as this guard: a tester step ([`step`]) or a clerk call
/// in flight ([`clerk_call`]). Outside a simulation it registers nothing.
#[must_use = "the step or call is registered only while the guard lives: `let _step = ...`"]
pub struct Registered {
    entry: Option<(Arc<Shared>, Kind, u64)>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some((shared, kind, id)) = self.entry.take() {
            let mut activity = shared.activity.lock();
            match kind {
                Kind::Step => activity.steps.remove(&id).map(drop),
                Kind::Call => activity.calls.remove(&id).map(drop),
            };
        }
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registered")
    }
}

fn register(kind: Kind, add: impl FnOnce(&mut Activity, u64, Duration)) -> Registered {
    let entry = context::with_state(|s| {
        let now = s.now();
        let mut activity = s.shared.activity.lock();
        let id = activity.id();
        add(&mut activity, id, now);
        (s.shared.clone(), kind, id)
    });
    Registered { entry }
}

/// Declares the step the tester is in until the guard is dropped, e.g.
/// `let _step = sim::step("waiting for one leader");`. A run that fails meanwhile (time limit,
/// deadlock, busy loop, blocked thread, panic) names it, with the virtual time it began. Steps
/// nest: the report lists the open ones, outermost first. Costs a lock and a map insert.
pub fn step(name: impl Into<Cow<'static, str>>) -> Registered {
    let name = name.into();
    register(Kind::Step, |a, id, now| {
        a.steps.insert(id, (name, now));
    })
}

/// Declares the part of the test under way, until the next `section` or [`end_section`]:
/// for testers that print a title when a part begins and "Passed" when it ends (MIT's
/// shardmaster and shardkv tests), where a guard would not fit. The report shows it before the
/// open [`step`]s.
pub fn section(title: impl Into<Cow<'static, str>>) {
    let title = title.into();
    context::with_state(|s| {
        let now = s.now();
        s.shared.activity.lock().section = Some((title, now));
    });
}

/// Ends the part of the test [`section`] declared.
pub fn end_section() {
    context::with_state(|s| s.shared.activity.lock().section = None);
}

/// Registers a clerk operation in flight until the guard is dropped: the clerk called `clerk`
/// (its node's name, as the trace and the timeline show it) called `op` (e.g. "Get") with
/// `args`, shown as given (e.g. `"k1"` with its quotes, or `[101, 102]`). A run that fails
/// meanwhile lists the calls still outstanding, oldest first, e.g.
/// `clerk3 Get("k1") since 12.345 s`.
pub fn clerk_call(clerk: &str, op: &'static str, args: &str) -> Registered {
    let (clerk, args) = (clerk.to_string(), args.to_string());
    register(Kind::Call, |a, id, since| {
        a.calls.insert(
            id,
            Call {
                clerk,
                op,
                args,
                since,
            },
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_steps_and_calls_with_caps() {
        let mut a = Activity::default();
        assert!(a.describe().is_empty());
        for (i, name) in ["outer", "inner"].into_iter().enumerate() {
            let id = a.id();
            a.steps
                .insert(id, (name.into(), Duration::from_millis(1000 * i as u64)));
        }
        for k in 0..12u64 {
            let id = a.id();
            a.calls.insert(
                id,
                Call {
                    clerk: format!("clerk{k}"),
                    op: "Get",
                    args: format!("{:?}", format!("k{k}")),
                    since: Duration::from_millis(12_345 + k),
                },
            );
        }
        let lines = a.describe();
        assert_eq!(
            lines[0],
            "tester step: outer (since 0.000 s) > inner (since 1.000 s)"
        );
        a.section = Some(("Test: Move".into(), Duration::from_millis(500)));
        for name in ["3", "4", "5"] {
            let id = a.id();
            a.steps.insert(id, (name.into(), Duration::from_secs(2)));
        }
        assert_eq!(
            a.describe()[0],
            "tester step: Test: Move (since 0.500 s) > ... > inner (since 1.000 s) > \
             3 (since 2.000 s) > 4 (since 2.000 s) > 5 (since 2.000 s)"
        );
        assert!(
            lines[1].starts_with("clerk calls in flight: clerk0 Get(\"k0\") since 12.345 s; "),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("; and 2 more"), "{}", lines[1]);
    }
}
