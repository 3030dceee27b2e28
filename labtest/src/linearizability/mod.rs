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
//! # Work budget
//!
//! The search can be exponential, so [`check_operations`] takes an optional budget of work: a
//! number of search *steps*, counted over all partitions together. A step is one visit of the
//! walk to an event (see module `search`): at a call event, asking the model and the cache and
//! then placing the operation or moving past it; at a return event, backtracking. When the
//! budget runs out before every partition is decided, and no partition was found illegal
//! before, the verdict is [`CheckResult::Unknown`]. Like a porcupine timeout, an Unknown result
//! should be logged and treated as a pass by the testers: it is not evidence of a bug.
//!
//! Porcupine, and MIT's testers with their `linearizabilityCheckTimeout`, bound wall time
//! instead. That makes the verdict depend on the machine: a hard but legal history that a quiet
//! machine decides in time comes back Unknown on a loaded grading box, and an illegal one that a
//! quiet machine catches passes there. The number of steps does not depend on the machine, the
//! load or the build, so the verdict (Ok, Illegal or Unknown) is a pure function of the history,
//! the model and the budget, as every verdict of these labs must be: a slow machine only takes
//! longer to reach it. The partitions take turns in a fixed order (that of [`Model::partition`])
//! with slices of a fixed number of steps, so even which partition is found illegal first is
//! deterministic. A larger budget never changes an Ok or an Illegal verdict, since the run with
//! the smaller budget is a prefix of the run with the larger one. A linearizable history is Ok
//! exactly when the steps it needs in all (the sum over its partitions, whatever the
//! interleaving) are within the budget; [`check_operations_counted`] reports that number, and
//! `LAB_LIN_STEPS=1` makes [`assert_linearizable`] print it.
//!
//! What a step costs in time does depend on the machine, and on the history: a step that
//! places an operation computes the model's next state (the key/value model copies the value to
//! append to it), hashes it and stores it in the cache, so steps cost more as states grow (see
//! [`CHECK_BUDGET`], the budget of the testers, for measurements). The budget bounds the time of
//! a check only through that cost.
//!
//! # Reports
//!
//! An [`CheckResult::Illegal`] verdict carries an [`Info`]: for each partition, the longest
//! linearizable prefix the search found, the model states along it, and the operation that could
//! not be placed after it. [`write_html_report`] turns it into a self-contained HTML page.
//!
//! The checker reads no clock: it may run inside a simulation (the graders call
//! [`assert_linearizable`] at the end of a test), and its verdict must not depend on the
//! machine.

mod edn;
mod html;
pub mod kv;
mod reads;
mod search;
mod stamp;

use std::fmt;
use std::hash::Hash;

pub use edn::{kv_testdata_dir, parse_edn};
pub use html::{assert_linearizable, render_html_report, write_html_report};
pub use reads::{ReadId, Reads};
pub use stamp::{Stamp, Stamps};

/// How many search steps a partition runs before the next one gets its turn.
const SLICE_STEPS: u64 = 4096;

/// The work budget the kvraft and shardkv testers give [`assert_linearizable`], in search steps
/// (see the module docs): the deterministic replacement of MIT's 1 s
/// `linearizabilityCheckTimeout`.
///
/// Chosen from two measurements (kvraft and shardkv graders with `--features reference`, at commit
/// 8d7b533, with `LAB_LIN_STEPS=1`; 7,320 checks in all):
///
/// * Steps needed. The kvraft tests whose clients each work on their own key need at most 19,657
///   steps on every seed tried (70 seeds each). The three tests whose clients share keys have a
///   heavy tail: `persist_partition_unreliable_linearizable_3a`,
///   `snapshot_unreliable_recover_concurrent_partition_linearizable_3b` (1,370 seeds each) and
///   shardkv's `unreliable3_4b` (3,530 seeds) need a median of 6,160, 6,188 and 1,854 steps, a 99th
///   percentile of 70,977, 39,265 and 24,773, and at most 458,171, 1,845,433 and 1,159,079. Of
///   those 6,270 checks, 25 need more than 100,000 steps, 6 more than 400,000 and 2 more than this
///   budget, and every doubling of the budget only about halves the count: no budget within the
///   time below is far above every seed. The 2 come back Unknown, which passes, on every machine.
///   2,230 more checks in the working tree at 6a75f70 (30 seeds of each suite, 300 more of each
///   kvraft test above and 1,000 of `unreliable3_4b`) needed at most 512,599 steps. Illegal
///   histories of the mutants that the checker catches (`kvraft-waiter-accepts-any-entry`,
///   `shardkv-migration-loses-dup-table`, seeds 1-20) are found in 83 to 6,240 steps.
/// * Time per step (`cargo bench -p labtest --bench linearizability`, best of 3 runs, on a shared
///   2-core Intel Xeon: load average 2, and 6 in brackets). The hardest shardkv history above
///   (`shardkv-unreliable3-seed298` in the test data) runs at 1.6 to 2.6 million steps/s (1.1
///   million), so the budget is 0.4 to 0.6 s of it (0.9 s). The costliest steps are those that
///   store a new, long state: a check that uses up the budget on 15 concurrent appends takes 0.26
///   to 0.5 s (0.56 s) with an empty value and 1.1 to 1.25 s (1.7 s) with an 800-byte one, about
///   the longest value of a shared key in the graders. Porcupine's histories c10-ok, c50-ok and
///   c50-bad run at 7.5 to 12 million steps/s: they alone would have suggested a budget ten times
///   too large.
///
/// So the budget costs about MIT's 1 s, at worst 1.25 s (1.7 s loaded). Twice as much would cost up
/// to 3.5 s, too close to the 5 s of CPU time after which the simulation's watchdog calls a run
/// busy: the check runs on the simulation thread while virtual time stands still.
pub const CHECK_BUDGET: u64 = 1_000_000;

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
    /// history whole. Each part must keep the operations' relative order, and the parts must
    /// come in an order that depends only on the history (e.g. sorted by key, not in a
    /// `HashMap`'s order): the partitions share the work budget in that order.
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
/// (`a.ret == b.call`) count as concurrent, unless the tester says in which order the two
/// happened ([`Operation::with_order`]).
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
    /// Where the call and the return fall among the events of the same time (0: unknown).
    /// Virtual time stands still while a simulation runs the tasks of one instant, so a
    /// clerk's next call often has the very time of its previous return, and other clerks'
    /// calls and returns share instants too; counted in the order they ran, the events of an
    /// instant keep the order in which they happened, as real time would.
    pub call_seq: u64,
    pub ret_seq: u64,
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
            call_seq: 0,
            ret_seq: 0,
        }
    }

    /// The same operation, its call and return numbered among the events of their instants:
    /// `call_seq` and `ret_seq` come from one counter that the tester advances at every call
    /// and every return it records, so that at equal times the event counted first happened
    /// first. Without it, intervals that touch count as concurrent.
    pub fn with_order(mut self, call_seq: u64, ret_seq: u64) -> Self {
        self.call_seq = call_seq;
        self.ret_seq = ret_seq;
        self
    }

    /// An operation whose outcome is unknown (it returns at the end of the history).
    pub fn unknown(client: usize, input: I, call: u64) -> Self {
        Self {
            client,
            input,
            output: None,
            call,
            ret: u64::MAX,
            call_seq: 0,
            ret_seq: 0,
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
    /// The search used up its work budget before deciding every partition (and no partition
    /// was found illegal before).
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
    /// The search was stopped, because another partition was found illegal (or the work budget
    /// ran out): `linearized` is the longest prefix found so far.
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

/// Checks `history` against `model`. With a budget of `max_steps` search steps (see the module
/// docs), gives up with [`CheckResult::Unknown`] when the steps run out first (an illegal
/// partition found before still gives [`CheckResult::Illegal`]); `None` searches to the end.
pub fn check_operations<M: Model>(
    model: &M,
    history: Vec<Operation<M::Input, M::Output>>,
    max_steps: Option<u64>,
) -> CheckResult {
    check_operations_counted(model, history, max_steps).0
}

/// [`check_operations`], also returning the number of search steps taken, over all partitions
/// (at most `max_steps`; exactly `max_steps` when the verdict is Unknown). Like the verdict, it
/// is a pure function of the history, the model and the budget.
pub fn check_operations_counted<M: Model>(
    model: &M,
    mut history: Vec<Operation<M::Input, M::Output>>,
    max_steps: Option<u64>,
) -> (CheckResult, u64) {
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
        op.ret_seq = 0;
    }
    let partitions = model.partition(history);
    // The partitions are searched in interleaved slices, in a fixed order, so that an illegal
    // partition is found (and ends the check) even when another one would take a very long
    // time.
    let mut searches: Vec<search::Search<'_, M>> = partitions
        .iter()
        .map(|ops| search::Search::new(model, ops))
        .collect();
    let mut left = max_steps.unwrap_or(u64::MAX);
    let mut steps = 0u64;
    let mut illegal = false;
    let mut exhausted = false;
    'rounds: loop {
        let mut running = false;
        for s in searches.iter_mut().filter(|s| s.verdict().is_none()) {
            if left == 0 {
                exhausted = true;
                break 'rounds;
            }
            let taken = s.run(SLICE_STEPS.min(left));
            left -= taken;
            steps += taken;
            match s.verdict() {
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
        (CheckResult::Illegal(info), steps)
    } else if exhausted {
        (CheckResult::Unknown, steps)
    } else {
        (CheckResult::Ok, steps)
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
            .min_by_key(|&i| (ops[i].ret, ops[i].ret_seq, ops[i].call, i))
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
