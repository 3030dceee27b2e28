//! The determinism digest: a running hash over everything that happens in a run.
//!
//! Every event (the kernel's own: node starts, crashes and random draws; and those the layers
//! above record, such as the network's sends, drops and deliveries) is fed, with its virtual
//! time, into one 64-bit hash. Two runs with the same seed must end with the same digest; when
//! they do not, `LAB_CHECK_DETERMINISM=1` keeps the events themselves and names the first one
//! that differs, which points at the code that broke determinism.
//!
//! The kernel knows only its own events. A layer records its own through
//! [`crate::layer::record`], with any type that implements [`DigestEvent`]: recording is
//! generic, so an event costs a few multiplications and no allocation unless the events are
//! kept (every RPC records several, so this is on the hottest path of every test).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Feeds words into the digest (a multiply-rotate hash: fast, and good enough to tell two runs
/// apart).
#[derive(Debug)]
pub struct Mixer(u64);

impl Mixer {
    /// Mixes in one word.
    #[inline]
    pub fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    /// Mixes in a byte string and its length.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        for chunk in b.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
    }
}

/// Something that happened in a run, as the determinism digest sees it.
///
/// [`mix`](DigestEvent::mix) feeds the event's kind and fields into the digest; its `Display`
/// is what the determinism check shows of it when two runs part ("end 3 sent Raft.AppendEntries
/// (120 bytes)"). The first word mixed names the kind of event, so that two kinds with the same
/// fields stay apart: kinds are numbered across the layers, the kernel's 1 (node start), 2
/// (crash) and 11 (random draw), labrpc's network events 3 to 10; a new layer takes 12 and up.
pub trait DigestEvent: fmt::Display + Send + Sync + 'static {
    /// Feeds the event's kind, then its fields, into `m`.
    fn mix(&self, m: &mut Mixer);
}

/// The kernel's own events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KernelEvent {
    /// A node was created. Ids count up from 1 in creation order: node 0 is the tester, which
    /// exists from the start, and whose start is no event.
    NodeStart { node: u32, name: Arc<str> },
    /// A node crashed: all its tasks were aborted.
    Crash { node: u32 },
    /// A random draw from stream `stream` (0 is the layers' stream, the network's; 1 the
    /// tester's; node k's is k + 1).
    Rng { stream: u32, value: u64 },
}

impl DigestEvent for KernelEvent {
    fn mix(&self, m: &mut Mixer) {
        match self {
            KernelEvent::NodeStart { node, name } => {
                m.word(1);
                m.word(u64::from(*node));
                m.bytes(name.as_bytes());
            }
            KernelEvent::Crash { node } => {
                m.word(2);
                m.word(u64::from(*node));
            }
            KernelEvent::Rng { stream, value } => {
                m.word(11);
                m.word(u64::from(*stream));
                m.word(*value);
            }
        }
    }
}

impl fmt::Display for KernelEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelEvent::NodeStart { node, name } => write!(f, "node {node} ({name}) started"),
            KernelEvent::Crash { node } => write!(f, "node {node} crashed"),
            KernelEvent::Rng { stream, value } => write!(f, "rng stream {stream} drew {value:#x}"),
        }
    }
}

/// An event with the virtual time it happened at, as the determinism check keeps it.
#[derive(Clone)]
pub struct TimedEvent {
    /// Virtual time since the start of the run.
    pub at: Duration,
    event: Arc<dyn DigestEvent>,
    /// The event's own hash: two kept events are the same when their times and these agree.
    fingerprint: u64,
}

impl TimedEvent {
    fn new<E: DigestEvent>(at: Duration, event: E) -> TimedEvent {
        let mut m = Mixer(0);
        event.mix(&mut m);
        TimedEvent {
            at,
            event: Arc::new(event),
            fingerprint: m.0,
        }
    }

    /// What happened.
    pub fn event(&self) -> &dyn DigestEvent {
        &*self.event
    }
}

impl PartialEq for TimedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.fingerprint == other.fingerprint
    }
}

impl Eq for TimedEvent {}

impl fmt::Debug for TimedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimedEvent({self})")
    }
}

impl fmt::Display for TimedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>10.3} s] {}", self.at.as_secs_f64(), self.event)
    }
}

/// The running hash, and optionally the events themselves.
#[derive(Debug)]
pub(crate) struct Recorder {
    hash: u64,
    count: u64,
    log: Option<Vec<TimedEvent>>,
}

impl Recorder {
    pub(crate) fn new(keep_log: bool) -> Self {
        Recorder {
            hash: 0x5EED,
            count: 0,
            log: keep_log.then(Vec::new),
        }
    }

    #[inline]
    pub(crate) fn record<E: DigestEvent>(&mut self, at: Duration, event: E) {
        let mut m = Mixer(self.hash);
        m.word(at.as_nanos() as u64);
        event.mix(&mut m);
        self.hash = m.0;
        self.count += 1;
        if let Some(log) = &mut self.log {
            log.push(TimedEvent::new(at, event));
        }
    }

    pub(crate) fn finish(self) -> (u64, u64, Option<Vec<TimedEvent>>) {
        (self.hash, self.count, self.log)
    }
}
