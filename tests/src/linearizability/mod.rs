//! Linearizability checking of recorded client histories, in the manner of porcupine.
//!
//! A test records every client call as an [`Operation`]: who issued it, its input, its output
//! (or `None` when the outcome is unknown), and when it was invoked and when it returned. A
//! [`Model`] describes the sequential object the service is supposed to implement.
//! [`check_operations`] then decides whether some total order of the operations
//!
//! * respects real time (an operation that returned before another was invoked comes first), and
//! * is a legal sequential run of the model (each step accepted by [`Model::step`]).
//!
//! # Algorithm
//!
//! The history is first split by [`Model::partition`] (the key/value model splits by key, which
//! is sound because linearizability is compositional); each partition is searched on its own.
//! The searches run interleaved, a slice of steps each in turn (porcupine runs them in parallel
//! goroutines), and the first partition found illegal ends the check: a partition whose search
//! explodes cannot hide an illegal one.
//! The search (module `search`) is Wing & Gong's backtracking algorithm with Lowe's memoisation,
//! the combination porcupine uses: the call and return events of a partition are sorted by time
//! into a doubly-linked list; the search walks the list and tries to linearize an operation whose
//! call it meets, which is possible as long as no return has been met first (the operation would
//! otherwise have to come after an operation that has not been placed). A linearized operation
//! is unlinked from the list (both events), so the walk restarts from the head; meeting a return
//! event means a dead end, so the search backtracks by relinking the last linearized operation
//! and trying the next candidate. A cache of (set of linearized operations, model state) pairs
//! prunes configurations already explored: two paths that linearized the same operations and
//! reached the same state have the same future.
//!
//! # Unknown outcomes
//!
//! An operation whose outcome is unknown (the client gave up, the server crashed, the call was
//! still open when the history ended) has `output: None`. Its return time is moved to the end of
//! the history, and the model must accept any output for it (a `Get` may have read anything). A
//! write with an unknown outcome may or may not have taken effect: the search can linearize it
//! at any point after its call, including after every other operation, where it changes nothing
//! observable.
//!
//! # Timeout
//!
//! The search can be exponential. [`check_operations`] takes an optional timeout, which really
//! bounds the wall time: the search looks at the clock every few thousand steps and gives up
//! with [`CheckResult::Unknown`]. Like porcupine's, an Unknown result should be logged and
//! treated as a pass by the testers: it is not evidence of a bug.
//!
//! # Reports
//!
//! An [`CheckResult::Illegal`] verdict carries an [`Info`]: for each partition, the longest
//! linearizable prefix the search found, the model states along it, and the operation that could
//! not be placed after it. [`write_html_report`] turns it into a self-contained HTML page.
//!
//! The checker runs outside the deterministic simulation (on a finished history), so it may use
//! the real clock for its timeout.

mod edn;
mod html;
pub mod kv;
mod search;

use std::fmt;
use std::hash::Hash;
use std::time::Duration;
use std::time::Instant; // allowed: checker timeout, outside the simulation

pub use edn::{kv_testdata_dir, parse_edn};
pub use html::{assert_linearizable, render_html_report, write_html_report};

/// How many search steps a partition runs before the next one gets its turn and the clock is
/// read again.
const SLICE_STEPS: u64 = 4096;

/// A sequential specification: the object a history is checked against.
pub trait Model {
    /// The object's state. States are compared (and hashed) to prune the search.
    type State: Clone + Eq + Hash;
    /// What a client asked for.
    type Input;
    /// What a client was told.
    type Output;

    /// The initial state.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state` and checks that it produces `output`: the new state, or `None`
    /// when the operation is illegal in this state. `output` is `None` when the outcome of the
    /// operation is unknown; then any output must be accepted.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Splits a history into independently checkable parts (e.g. by key). The default keeps the
    /// history whole. Each part must keep the operations' relative order.
    fn partition(
        &self,
        history: Vec<Operation<Self::Input, Self::Output>>,
    ) -> Vec<Vec<Operation<Self::Input, Self::Output>>> {
        vec![history]
    }

    /// One operation, for reports, e.g. `get('k') -> 'v'`.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// One state, for reports.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// One client call: invoked at `call`, returned at `ret` (both in virtual nanoseconds since the
/// start of the test; any common unit works, only the order matters). Intervals that touch
/// (`a.ret == b.call`) count as concurrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client issued the call (one row per client in reports).
    pub client: usize,
    /// What the client asked for.
    pub input: I,
    /// What the client was told, or `None` if the outcome is unknown (then `ret` is ignored and
    /// taken to be the end of the history).
    pub output: Option<O>,
    /// Invocation time.
    pub call: u64,
    /// Return time.
    pub ret: u64,
}

impl<I, O> Operation<I, O> {
    /// A completed operation.
    pub fn new(client: usize, input: I, output: O, call: u64, ret: u64) -> Self {
        Self {
            client,
            input,
            output: Some(output),
            call,
            ret,
        }
    }

    /// An operation whose outcome is unknown (it returns at the end of the history).
    pub fn unknown(client: usize, input: I, call: u64) -> Self {
        Self {
            client,
            input,
            output: None,
            call,
            ret: u64::MAX,
        }
    }
}

/// The verdict of [`check_operations`].
#[derive(Clone, Debug)]
pub enum CheckResult {
    /// The history is linearizable.
    Ok,
    /// The history is not linearizable; the info says where the search got stuck.
    Illegal(Info),
    /// The search ran out of time (no partition was found illegal before).
    Unknown,
}

impl CheckResult {
    /// Whether the verdict is [`CheckResult::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    /// Whether the verdict is [`CheckResult::Illegal`].
    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal(_))
    }

    /// Whether the verdict is [`CheckResult::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, CheckResult::Unknown)
    }
}

/// What the search found, per partition, for reports.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// One entry per partition, in the order [`Model::partition`] returned them.
    pub partitions: Vec<PartitionInfo>,
}

/// How the search of one partition ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionVerdict {
    /// Linearizable: `linearized` is a full linearization.
    Ok,
    /// Not linearizable: `linearized` is the longest prefix found, `blocked` the operation that
    /// could not be placed after it.
    Illegal,
    /// The search was stopped, because time ran out or another partition was found illegal:
    /// `linearized` is the longest prefix found so far.
    Unfinished,
}

/// One operation as shown in reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpView {
    /// The client that issued it.
    pub client: usize,
    /// Invocation time.
    pub call: u64,
    /// Return time (the end of the history if the outcome is unknown).
    pub ret: u64,
    /// [`Model::describe_operation`].
    pub description: String,
    /// Whether the outcome is unknown.
    pub unknown: bool,
}

/// The search result of one partition.
#[derive(Clone, Debug)]
pub struct PartitionInfo {
    /// How the search ended.
    pub verdict: PartitionVerdict,
    /// The partition's operations, in history order.
    pub ops: Vec<OpView>,
    /// The longest linearizable prefix found, as indices into `ops`, in linearization order.
    pub linearized: Vec<usize>,
    /// [`Model::describe_state`] of the initial state and after each linearized operation
    /// (`linearized.len() + 1` entries).
    pub states: Vec<String>,
    /// For an illegal partition: the operation (index into `ops`) that could not be placed after
    /// the prefix: of the remaining operations, the one that returned first, which must be
    /// linearized before any operation invoked after its return.
    pub blocked: Option<usize>,
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.partitions.iter().enumerate() {
            if p.verdict == PartitionVerdict::Ok {
                continue;
            }
            writeln!(
                f,
                "partition {i}: {:?}, {} of {} operations linearized",
                p.verdict,
                p.linearized.len(),
                p.ops.len()
            )?;
            if let Some(b) = p.blocked {
                let op = &p.ops[b];
                writeln!(
                    f,
                    "  could not place: client {} {} [{}, {}] after state {}",
                    op.client,
                    op.description,
                    op.call,
                    op.ret,
                    p.states.last().map(String::as_str).unwrap_or("?")
                )?;
            }
        }
        Ok(())
    }
}

/// Checks `history` against `model`. With a `timeout`, gives up with [`CheckResult::Unknown`]
/// after about that much wall time (an illegal partition found before still gives
/// [`CheckResult::Illegal`]).
pub fn check_operations<M: Model>(
    model: &M,
    mut history: Vec<Operation<M::Input, M::Output>>,
    timeout: Option<Duration>,
) -> CheckResult {
    // allowed: checker timeout, outside the simulation
    let deadline = timeout.map(|t| Instant::now() + t);
    // Operations with an unknown outcome return at the end of the history.
    let end = history
        .iter()
        .map(|op| {
            if op.output.is_some() {
                op.call.max(op.ret)
            } else {
                op.call
            }
        })
        .max()
        .unwrap_or(0);
    for op in history.iter_mut().filter(|op| op.output.is_none()) {
        op.ret = end.saturating_add(1);
    }
    let partitions = model.partition(history);
    // The partitions are searched in interleaved slices, so that an illegal partition is found
    // (and ends the check) even when another one would take a very long time.
    let mut searches: Vec<search::Search<'_, M>> = partitions
        .iter()
        .map(|ops| search::Search::new(model, ops))
        .collect();
    let mut illegal = false;
    let mut timed_out = false;
    'rounds: loop {
        let mut running = false;
        for s in searches.iter_mut().filter(|s| s.verdict().is_none()) {
            // allowed: checker timeout, outside the simulation
            if deadline.is_some_and(|d| Instant::now() >= d) {
                timed_out = true;
                break 'rounds;
            }
            match s.run(SLICE_STEPS) {
                Some(PartitionVerdict::Illegal) => {
                    illegal = true;
                    break 'rounds;
                }
                Some(_) => {}
                None => running = true,
            }
        }
        if !running {
            break;
        }
    }
    let outcomes: Vec<search::Outcome> = searches.into_iter().map(|s| s.finish()).collect();
    if illegal {
        let info = Info {
            partitions: partitions
                .iter()
                .zip(outcomes)
                .map(|(ops, outcome)| partition_info(model, ops, outcome))
                .collect(),
        };
        CheckResult::Illegal(info)
    } else if timed_out {
        CheckResult::Unknown
    } else {
        CheckResult::Ok
    }
}

/// Builds the report of one partition: describes its operations and replays the prefix.
fn partition_info<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    outcome: search::Outcome,
) -> PartitionInfo {
    let views = ops
        .iter()
        .map(|op| OpView {
            client: op.client,
            call: op.call,
            ret: op.ret,
            description: model.describe_operation(&op.input, op.output.as_ref()),
            unknown: op.output.is_none(),
        })
        .collect();
    let mut state = model.init();
    let mut states = vec![model.describe_state(&state)];
    for &i in &outcome.longest {
        let op = &ops[i];
        state = model
            .step(&state, &op.input, op.output.as_ref())
            .expect("the linearized prefix replays");
        states.push(model.describe_state(&state));
    }
    let blocked = if outcome.verdict == PartitionVerdict::Illegal {
        let mut placed = vec![false; ops.len()];
        for &i in &outcome.longest {
            placed[i] = true;
        }
        (0..ops.len())
            .filter(|&i| !placed[i])
            .min_by_key(|&i| (ops[i].ret, ops[i].call, i))
    } else {
        None
    };
    PartitionInfo {
        verdict: outcome.verdict,
        ops: views,
        linearized: outcome.longest,
        states,
        blocked,
    }
}
