//! The search of one partition: Wing & Gong's backtracking with Lowe's cache.
//!
//! Every operation contributes two events, its call and its return, sorted by time (at equal
//! times in the order the tester numbered them, `Operation::with_order`; unnumbered, calls
//! before returns, so touching intervals are concurrent) into a doubly-linked list that
//! lives in a vector (`usize` links, slot 0 is the head sentinel).
//!
//! The walk starts at the head. At a call event, the operation is a candidate for the next place
//! in the linearization: every operation that must precede it has been linearized already,
//! because their returns, which come before this call in the list, have been unlinked. If the
//! model accepts it and the cache has not seen (linearized set + it, new state), it is placed:
//! its two events are unlinked, the old state is pushed on a stack, and the walk restarts from
//! the head. Otherwise the walk moves on to the next event. At a return event, the operation
//! returning there cannot come later than what has been placed, so the last placement was wrong:
//! pop it, relink its events and continue the walk just after its call. Popping an empty stack
//! means every possibility was explored: not linearizable. An empty list means everything was
//! placed: linearizable.
//!
//! One visit of the walk to an event, a call or a return, is one *step*: the unit in which the
//! checker's work budget is counted. The search is a pure function of the partition and the
//! model, so the number of steps it takes to reach a verdict is too.
//!
//! The cache maps a bitset of linearized operations to the states reached with exactly that set;
//! it only grows, since a configuration that failed once fails again.
//!
//! Memory. A state is stored once and shared (`Rc`) by the cache, the stack of placed
//! operations and the current state, instead of a copy in each: with the key/value model a
//! state is the key's whole value, and a partition of a thousand appends holds a thousand
//! values along its path. And a search allocates its list, stack and cache only when it first
//! runs, and frees them as soon as it has reached its verdict, keeping only the linearization
//! it found, so that the partitions' searches do not all pile up: a partition of a client that
//! works on its own key is decided within its first slice of steps.

use super::{Model, Operation, PartitionVerdict};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;

/// End of the list.
const NONE: usize = usize::MAX;
/// The head sentinel's slot.
const HEAD: usize = 0;

/// How the search of a partition ended, with the longest prefix found (operation indices in
/// linearization order; a full linearization when the verdict is Ok).
pub(super) struct Outcome {
    pub verdict: PartitionVerdict,
    pub longest: Vec<usize>,
}

/// One event of the list.
#[derive(Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    /// The operation (index into the partition).
    op: usize,
    /// For a call event, the slot of its return event; `NONE` for a return event.
    ret: usize,
}

/// The event list: slot 0 is the head, slots 1.. hold the events in time order.
struct List {
    nodes: Vec<Node>,
}

impl List {
    fn new<I, O>(ops: &[Operation<I, O>]) -> Self {
        // (time, seq, is_return, op): at the same time, events in the order the tester
        // numbered them; unnumbered (0), calls before returns, so touching intervals are
        // concurrent.
        let mut events: Vec<(u64, u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, op.call_seq, false, i));
            let ret = op.ret.max(op.call);
            let ret_seq = if ret == op.call {
                op.ret_seq.max(op.call_seq)
            } else {
                op.ret_seq
            };
            events.push((ret, ret_seq, true, i));
        }
        events.sort_unstable();
        let n = events.len();
        let mut ret_slot = vec![NONE; ops.len()];
        for (k, &(_, _, is_return, op)) in events.iter().enumerate() {
            if is_return {
                ret_slot[op] = k + 1;
            }
        }
        let mut nodes = Vec::with_capacity(n + 1);
        nodes.push(Node {
            prev: NONE,
            next: if n > 0 { 1 } else { NONE },
            op: NONE,
            ret: NONE,
        });
        for (k, &(_, _, is_return, op)) in events.iter().enumerate() {
            let slot = k + 1;
            nodes.push(Node {
                prev: slot - 1,
                next: if slot < n { slot + 1 } else { NONE },
                op,
                ret: if is_return { NONE } else { ret_slot[op] },
            });
        }
        List { nodes }
    }

    /// Unlinks a call event and its return event.
    fn lift(&mut self, call: usize) {
        let c = self.nodes[call];
        self.nodes[c.prev].next = c.next;
        self.nodes[c.next].prev = c.prev; // a call is always followed by its return at least
        let r = self.nodes[c.ret];
        self.nodes[r.prev].next = r.next;
        if r.next != NONE {
            self.nodes[r.next].prev = r.prev;
        }
    }

    /// Relinks what [`List::lift`] unlinked (in reverse order).
    fn unlift(&mut self, call: usize) {
        let c = self.nodes[call];
        let r = self.nodes[c.ret];
        self.nodes[r.prev].next = c.ret;
        if r.next != NONE {
            self.nodes[r.next].prev = c.ret;
        }
        self.nodes[c.prev].next = call;
        self.nodes[c.next].prev = call;
    }
}

/// A fixed-size set of operation indices.
#[derive(Clone, PartialEq, Eq)]
struct Bitset(Box<[u64]>);

impl Bitset {
    fn new(n: usize) -> Self {
        Bitset(vec![0; n.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

impl Hash for Bitset {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for w in self.0.iter() {
            state.write_u64(*w);
        }
    }
}

/// A small multiplicative hasher (the "Fx" scheme) with a final avalanche: the cache hashes
/// bitsets of `u64` words, for which SipHash's DoS resistance buys nothing. The finisher matters:
/// the table indexes buckets by the low bits, which a bare multiply leaves insensitive to the
/// high bits of each word, i.e. to most of the operations in a bitset.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Fx = BuildHasherDefault<FxHasher>;

/// The resumable search of one partition: [`Search::run`] advances it by a bounded number of
/// steps, so that the caller can interleave partitions and count their steps against one
/// budget.
pub(super) struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Input, M::Output>],
    list: List,
    /// The operations placed so far.
    linearized: Bitset,
    /// Lowe's cache: for each set of placed operations, the states already reached with it.
    cache: HashMap<Bitset, HashSet<Rc<M::State>, Fx>, Fx>,
    /// The placed calls (slots), in order, with the state before each.
    placed: Vec<(usize, Rc<M::State>)>,
    /// The longest prefix placed so far (operation indices); once the verdict is Ok, the whole
    /// linearization.
    longest: Vec<usize>,
    /// How many leading entries of `longest` are known to be those of `placed`: a new longest
    /// prefix is written from there on, in place, not copied whole into a new vector (a
    /// partition without concurrency grows it at every step, and a fresh vector one element
    /// longer each time cost time and left the allocator a trail of holes).
    longest_agrees: usize,
    /// The state after the placed operations.
    state: Rc<M::State>,
    /// The event the walk is at.
    entry: usize,
    /// Set once the search has ended.
    verdict: Option<PartitionVerdict>,
}

impl<'a, M: Model> Search<'a, M> {
    /// A search of `ops`, which allocates nothing until it first runs: the partitions of a
    /// large history are searched mostly one after another.
    pub(super) fn new(model: &'a M, ops: &'a [Operation<M::Input, M::Output>]) -> Self {
        // An empty partition is linearizable without a single step.
        let verdict = ops.is_empty().then_some(PartitionVerdict::Ok);
        Search {
            model,
            ops,
            list: List { nodes: Vec::new() },
            linearized: Bitset::new(0),
            cache: HashMap::default(),
            placed: Vec::new(),
            longest: Vec::new(),
            longest_agrees: 0,
            state: Rc::new(model.init()),
            entry: NONE,
            verdict,
        }
    }

    /// Builds the event list and the rest of what the search needs, before its first step.
    fn start(&mut self) {
        self.list = List::new(self.ops);
        self.entry = self.list.nodes[HEAD].next;
        self.linearized = Bitset::new(self.ops.len());
        self.placed = Vec::with_capacity(self.ops.len());
    }

    /// The verdict, once the search has ended.
    pub(super) fn verdict(&self) -> Option<PartitionVerdict> {
        self.verdict
    }

    /// Ends the search, giving the longest prefix found (a full linearization if Ok).
    pub(super) fn finish(self) -> Outcome {
        Outcome {
            verdict: self.verdict.unwrap_or(PartitionVerdict::Unfinished),
            longest: self.longest,
        }
    }

    /// Makes `longest` the operations placed now, rewriting only what may differ.
    fn record_longest(&mut self) {
        let nodes = &self.list.nodes;
        let agrees = self.longest_agrees;
        self.longest.truncate(agrees);
        self.longest
            .extend(self.placed[agrees..].iter().map(|&(e, _)| nodes[e].op));
        self.longest_agrees = self.placed.len();
    }

    /// Records the verdict and frees what only the search needed (see the module docs),
    /// keeping the linearization an Ok verdict found.
    fn decide(&mut self, verdict: PartitionVerdict) {
        if verdict == PartitionVerdict::Ok {
            self.record_longest();
        }
        self.verdict = Some(verdict);
        self.list.nodes = Vec::new();
        self.placed = Vec::new();
        self.cache = HashMap::default();
        self.state = Rc::new(self.model.init());
    }

    /// Runs the search for at most `max` steps, fewer if it ends first; returns the number of
    /// steps taken. A search that has ended takes none.
    pub(super) fn run(&mut self, max: u64) -> u64 {
        if self.verdict.is_none() && self.list.nodes.is_empty() {
            self.start();
        }
        let mut taken = 0;
        while taken < max && self.verdict.is_none() {
            self.step();
            taken += 1;
        }
        taken
    }

    /// One step of the walk (see the module docs): a visit to the event at `entry`. At a call
    /// event the step asks the model and the cache and either places the operation or moves
    /// on; at a return event it backtracks. This is the unit of the work budget.
    fn step(&mut self) {
        let node = self.list.nodes[self.entry];
        if node.ret != NONE {
            // A call: try to place its operation next.
            let op = &self.ops[node.op];
            if let Some(next) = self.model.step(&self.state, &op.input, op.output.as_ref()) {
                self.linearized.set(node.op);
                let fresh = match self.cache.get_mut(&self.linearized) {
                    Some(states) if states.contains(&next) => None,
                    Some(states) => {
                        let next = Rc::new(next);
                        states.insert(next.clone());
                        Some(next)
                    }
                    None => {
                        let next = Rc::new(next);
                        let mut states = HashSet::default();
                        states.insert(next.clone());
                        self.cache.insert(self.linearized.clone(), states);
                        Some(next)
                    }
                };
                if let Some(next) = fresh {
                    let before = std::mem::replace(&mut self.state, next);
                    self.placed.push((self.entry, before));
                    self.list.lift(self.entry);
                    if self.placed.len() > self.longest.len() {
                        self.record_longest();
                    }
                    self.entry = self.list.nodes[HEAD].next;
                    if self.entry == NONE {
                        // Everything is placed.
                        self.decide(PartitionVerdict::Ok);
                    }
                    return;
                }
                self.linearized.clear(node.op);
            }
            self.entry = node.next;
        } else {
            // A return: the last placement cannot lead to a linearization; undo it.
            let Some((call, before)) = self.placed.pop() else {
                self.decide(PartitionVerdict::Illegal);
                return;
            };
            self.longest_agrees = self.longest_agrees.min(self.placed.len());
            self.state = before;
            self.linearized.clear(self.list.nodes[call].op);
            self.list.unlift(call);
            self.entry = self.list.nodes[call].next;
        }
    }
}
