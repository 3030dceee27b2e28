//! What the tester is doing, for the report of a run that fails: the step it is in ("waiting
//! for one leader") and the clerk calls it has in flight (`clerk3 Get("k1")`).
//!
//! Testers declare both with guards ([`step`](crate::step), [`clerk_call`](crate::clerk_call),
//! in module `tester`) that register on creation and unregister when dropped. When a run fails
//! (time limit, deadlock, busy loop, blocked thread, panic...), the failure report lists what
//! was registered at that moment:
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
use std::time::Duration;

/// How many clerk calls a report lists before "and N more".
const MAX_CALLS: usize = 10;
/// How many nested steps a report lists (the innermost ones).
const MAX_STEPS: usize = 4;

/// The steps and clerk calls registered in a run, by registration order.
#[derive(Default)]
pub(crate) struct Activity {
    next: u64,
    /// The part of the test under way ([`section`](crate::section)), outside every step.
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

    /// Registers step `name`, begun at `since`; returns its id.
    pub(crate) fn add_step(&mut self, name: Cow<'static, str>, since: Duration) -> u64 {
        let id = self.id();
        self.steps.insert(id, (name, since));
        id
    }

    /// Registers clerk `clerk`'s call of `op` with `args`, begun at `since`; returns its id.
    pub(crate) fn add_call(
        &mut self,
        clerk: String,
        op: &'static str,
        args: String,
        since: Duration,
    ) -> u64 {
        let id = self.id();
        let call = Call {
            clerk,
            op,
            args,
            since,
        };
        self.calls.insert(id, call);
        id
    }

    /// Unregisters step `id`.
    pub(crate) fn remove_step(&mut self, id: u64) {
        self.steps.remove(&id);
    }

    /// Unregisters call `id`.
    pub(crate) fn remove_call(&mut self, id: u64) {
        self.calls.remove(&id);
    }

    /// Sets (or, with `None`, ends) the part of the test under way.
    pub(crate) fn set_section(&mut self, section: Option<(Cow<'static, str>, Duration)>) {
        self.section = section;
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
