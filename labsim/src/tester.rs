//! What testers tell the simulation: the step they are in, the part of the test under way and
//! the clerk calls in flight (kept in the run's [`Activity`] for a failure's report), and the
//! results they measured (for the `lab-result` line).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::activity::Activity;
use crate::context::{self, Shared};

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
                Kind::Step => activity.remove_step(id),
                Kind::Call => activity.remove_call(id),
            }
        }
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registered")
    }
}

/// Registers an entry of `kind` with `add`, which gets the virtual time and returns its id.
fn register(kind: Kind, add: impl FnOnce(&mut Activity, Duration) -> u64) -> Registered {
    let entry = context::with_state(|s| {
        let now = s.now();
        let id = add(&mut s.shared.activity.lock(), now);
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
    register(Kind::Step, |a, now| a.add_step(name, now))
}

/// Declares the part of the test under way, until the next `section` or [`end_section`]:
/// for testers that print a title when a part begins and "Passed" when it ends (MIT's
/// shardmaster and shardkv tests), where a guard would not fit. The report shows it before the
/// open [`step`]s.
pub fn section(title: impl Into<Cow<'static, str>>) {
    let title = title.into();
    context::with_state(|s| {
        let now = s.now();
        s.shared.activity.lock().set_section(Some((title, now)));
    });
}

/// Ends the part of the test [`section`] declared.
pub fn end_section() {
    context::with_state(|s| s.shared.activity.lock().set_section(None));
}

/// Registers a clerk operation in flight until the guard is dropped: the clerk called `clerk`
/// (its node's name, as the trace and the timeline show it) called `op` (e.g. "Get") with
/// `args`, shown as given (e.g. `"k1"` with its quotes, or `[101, 102]`). A run that fails
/// meanwhile lists the calls still outstanding, oldest first, e.g.
/// `clerk3 Get("k1") since 12.345 s`.
pub fn clerk_call(clerk: &str, op: &'static str, args: &str) -> Registered {
    let (clerk, args) = (clerk.to_string(), args.to_string());
    register(Kind::Call, |a, since| a.add_call(clerk, op, args, since))
}

/// Adds `value` to the run's result field `key` (a word: letters, digits, `_`), which a run
/// with `LAB_RESULT_LINES=1` prints on its `lab-result` line (`... rpcs=9001`) when it passes,
/// for tools such as `cargo lab grade`. Testers report what they measured this way, e.g. the
/// RPCs of each measured part of a test (`labtest::report` does it for MIT's "Passed" lines).
pub fn add_to_result(key: &'static str, value: u64) {
    debug_assert!(
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "labrpc::sim::add_to_result: {key:?} is not a word"
    );
    context::with(|s| {
        let mut results = s.results.borrow_mut();
        let field = results.entry(key).or_insert(0);
        *field = field.saturating_add(value);
    })
}
