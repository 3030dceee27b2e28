//! The network's events in the determinism digest: every send, drop, dispatch and delivery, and
//! every change the tester makes to the wiring, with the numbers that name ends and servers in
//! a run (ends count up in creation order, server slots by first use of a name).

use std::fmt;

use labsim::layer::{DigestEvent, Mixer};

use crate::state::RequestHold;

/// Why a request got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The end is disabled, unconnected, or its server is deleted.
    Unreachable,
    /// The unreliable network lost the request; the handler did not run.
    Request,
    /// The unreliable network lost the reply; the handler ran.
    Reply,
    /// The server was deleted, or the end disabled, while the call was in flight.
    Killed,
}

/// One thing the network did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetEvent {
    /// A call was handed to the network by end `end`.
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
    /// End `end` was connected to server slot `server`.
    Connect { end: u32, server: u32 },
    /// End `end` was enabled or disabled.
    Enable { end: u32, enabled: bool },
    /// The tester changed whether requests on end `end` are held (recorded only when a test
    /// uses `Network::hold_requests`, so no other run's digest changes).
    HoldRequests { end: u32, hold: RequestHold },
    /// A server was added under, or deleted from, server slot `server`.
    Server { server: u32, present: bool },
    /// The network's reliability settings changed.
    NetMode {
        reliable: bool,
        long_delays: bool,
        long_reordering: bool,
    },
}

impl DigestEvent for NetEvent {
    /// Kinds 3 to 10 (see [`DigestEvent`] for how layers share the numbers). A change of an
    /// end's request hold shares kind 8 with enabling and disabling the end, both being changes
    /// the tester makes to one end: its last word, 2 to 4, never 0 or 1, tells it apart. So
    /// labrpc takes no number from the range of the layers still to come.
    fn mix(&self, m: &mut Mixer) {
        match *self {
            NetEvent::Send { end, method, bytes } => {
                m.word(3);
                m.word(u64::from(end));
                m.bytes(method.as_bytes());
                m.word(bytes as u64);
            }
            NetEvent::Drop { end, reason } => {
                m.word(4);
                m.word(u64::from(end));
                m.word(reason as u64);
            }
            NetEvent::Dispatch { end, server } => {
                m.word(5);
                m.word(u64::from(end));
                m.word(u64::from(server));
            }
            NetEvent::Deliver { end, bytes } => {
                m.word(6);
                m.word(u64::from(end));
                m.word(bytes as u64);
            }
            NetEvent::Connect { end, server } => {
                m.word(7);
                m.word(u64::from(end));
                m.word(u64::from(server));
            }
            NetEvent::Enable { end, enabled } => {
                m.word(8);
                m.word(u64::from(end));
                m.word(u64::from(enabled));
            }
            NetEvent::HoldRequests { end, hold } => {
                m.word(8);
                m.word(u64::from(end));
                m.word(match hold {
                    RequestHold::Pass => 2,
                    RequestHold::Hold => 3,
                    RequestHold::Keep => 4,
                });
            }
            NetEvent::Server { server, present } => {
                m.word(9);
                m.word(u64::from(server));
                m.word(u64::from(present));
            }
            NetEvent::NetMode {
                reliable,
                long_delays,
                long_reordering,
            } => {
                m.word(10);
                m.word(
                    u64::from(reliable)
                        | u64::from(long_delays) << 1
                        | u64::from(long_reordering) << 2,
                );
            }
        }
    }
}

impl fmt::Display for NetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetEvent::Send { end, method, bytes } => {
                write!(f, "end {end} sent {method} ({bytes} bytes)")
            }
            NetEvent::Drop { end, reason } => write!(f, "end {end}: call dropped ({reason:?})"),
            NetEvent::Dispatch { end, server } => {
                write!(f, "end {end}: dispatched on server {server}")
            }
            NetEvent::Deliver { end, bytes } => {
                write!(f, "end {end}: reply delivered ({bytes} bytes)")
            }
            NetEvent::Connect { end, server } => {
                write!(f, "end {end} connected to server {server}")
            }
            NetEvent::Enable { end, enabled } => write!(f, "end {end} enabled={enabled}"),
            NetEvent::HoldRequests { end, hold } => write!(f, "end {end} requests {hold:?}"),
            NetEvent::Server { server, present } => write!(f, "server {server} present={present}"),
            NetEvent::NetMode {
                reliable,
                long_delays,
                long_reordering,
            } => write!(
                f,
                "network reliable={reliable} long_delays={long_delays} \
                 long_reordering={long_reordering}"
            ),
        }
    }
}
