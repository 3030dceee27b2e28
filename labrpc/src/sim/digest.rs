//! The determinism digest: a running hash over everything that happens in a run.
//!
//! Every send, drop, delivery, crash, connectivity change and random draw is fed, with its
//! virtual time, into one 64-bit hash. Two runs with the same seed must end with the same digest;
//! when they do not, `LAB_CHECK_DETERMINISM=1` records the events themselves and names the first
//! one that differs, which points at the code that broke determinism.

use std::fmt;
use std::time::Duration;

/// Why a request got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The end is disabled, unconnected, or its server is deleted.
    Unreachable,
    /// The unreliable network lost the request; the handler did not run.
    Request,
    /// The unreliable network lost the reply; the handler ran.
    Reply,
    /// The server was deleted, or the end disabled, while the call was in flight.
    Killed,
}

/// One thing that happened in a simulation, as the digest sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node was created (ids count up from 0 in creation order; the tester is not a node).
    NodeStart { node: u32, name: String },
    /// A node crashed: all its tasks were aborted.
    Crash { node: u32 },
    /// A call was handed to the network by end `end` (ends are numbered in creation order).
    Send {
        end: u32,
        method: &'static str,
        bytes: usize,
    },
    /// A call got no reply.
    Drop { end: u32, reason: DropReason },
    /// A call's handler ran on its server (it reached dispatch).
    Dispatch { end: u32, server: u32 },
    /// A reply was delivered to its caller.
    Deliver { end: u32, bytes: usize },
    /// End `end` was connected to server slot `server` (slots are numbered by first use of a name).
    Connect { end: u32, server: u32 },
    /// End `end` was enabled or disabled.
    Enable { end: u32, enabled: bool },
    /// A server was added under, or deleted from, server slot `server`.
    Server { server: u32, present: bool },
    /// The network's reliability settings changed.
    NetMode {
        reliable: bool,
        long_delays: bool,
        long_reordering: bool,
    },
    /// A random draw from stream `stream` (0 is the network, 1 the tester, 2+ the nodes).
    Rng { stream: u32, value: u64 },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::NodeStart { node, name } => write!(f, "node {node} ({name}) started"),
            Event::Crash { node } => write!(f, "node {node} crashed"),
            Event::Send { end, method, bytes } => {
                write!(f, "end {end} sent {method} ({bytes} bytes)")
            }
            Event::Drop { end, reason } => write!(f, "end {end}: call dropped ({reason:?})"),
            Event::Dispatch { end, server } => {
                write!(f, "end {end}: dispatched on server {server}")
            }
            Event::Deliver { end, bytes } => {
                write!(f, "end {end}: reply delivered ({bytes} bytes)")
            }
            Event::Connect { end, server } => write!(f, "end {end} connected to server {server}"),
            Event::Enable { end, enabled } => write!(f, "end {end} enabled={enabled}"),
            Event::Server { server, present } => write!(f, "server {server} present={present}"),
            Event::NetMode {
                reliable,
                long_delays,
                long_reordering,
            } => write!(
                f,
                "network reliable={reliable} long_delays={long_delays} \
                 long_reordering={long_reordering}"
            ),
            Event::Rng { stream, value } => write!(f, "rng stream {stream} drew {value:#x}"),
        }
    }
}

/// An event with the virtual time it happened at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedEvent {
    /// Virtual time since the start of the run.
    pub at: Duration,
    /// What happened.
    pub event: Event,
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

struct Mixer(u64);

impl Mixer {
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        for chunk in b.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
    }
}

impl Recorder {
    pub(crate) fn new(keep_log: bool) -> Self {
        Recorder {
            hash: 0x5EED,
            count: 0,
            log: keep_log.then(Vec::new),
        }
    }

    pub(crate) fn record(&mut self, at: Duration, event: Event) {
        let mut m = Mixer(self.hash);
        m.word(at.as_nanos() as u64);
        match &event {
            Event::NodeStart { node, name } => {
                m.word(1);
                m.word(u64::from(*node));
                m.bytes(name.as_bytes());
            }
            Event::Crash { node } => {
                m.word(2);
                m.word(u64::from(*node));
            }
            Event::Send { end, method, bytes } => {
                m.word(3);
                m.word(u64::from(*end));
                m.bytes(method.as_bytes());
                m.word(*bytes as u64);
            }
            Event::Drop { end, reason } => {
                m.word(4);
                m.word(u64::from(*end));
                m.word(*reason as u64);
            }
            Event::Dispatch { end, server } => {
                m.word(5);
                m.word(u64::from(*end));
                m.word(u64::from(*server));
            }
            Event::Deliver { end, bytes } => {
                m.word(6);
                m.word(u64::from(*end));
                m.word(*bytes as u64);
            }
            Event::Connect { end, server } => {
                m.word(7);
                m.word(u64::from(*end));
                m.word(u64::from(*server));
            }
            Event::Enable { end, enabled } => {
                m.word(8);
                m.word(u64::from(*end));
                m.word(u64::from(*enabled));
            }
            Event::Server { server, present } => {
                m.word(9);
                m.word(u64::from(*server));
                m.word(u64::from(*present));
            }
            Event::NetMode {
                reliable,
                long_delays,
                long_reordering,
            } => {
                m.word(10);
                m.word(
                    u64::from(*reliable)
                        | u64::from(*long_delays) << 1
                        | u64::from(*long_reordering) << 2,
                );
            }
            Event::Rng { stream, value } => {
                m.word(11);
                m.word(u64::from(*stream));
                m.word(*value);
            }
        }
        self.hash = m.0;
        self.count += 1;
        if let Some(log) = &mut self.log {
            log.push(TimedEvent { at, event });
        }
    }

    pub(crate) fn finish(self) -> (u64, u64, Option<Vec<TimedEvent>>) {
        (self.hash, self.count, self.log)
    }
}
