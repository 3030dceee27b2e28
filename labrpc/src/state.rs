//! The network's state, shared by the tester's handle ([`crate::Network`]) and the peers' ends
//! ([`crate::ClientEnd`]): which end reaches which server, how reliably, and the counters.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use labsim::layer::{self, NodeId, RunHandle};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::limits::DEFAULT_LATENCY_MS;
use crate::server::Server;

pub(crate) type EndId = u32;
pub(crate) type SlotId = u32;

pub(crate) struct NetShared {
    pub(crate) state: Mutex<NetState>,
    /// Woken whenever an in-flight call may have lost its server (an end disabled, a server
    /// deleted or replaced), and whenever a held request or reply may go.
    pub(crate) changed: Notify,
    /// The simulation the network was made in, so that a call from a foreign thread can fail
    /// that run (the foreign thread has no simulation of its own to report to).
    pub(crate) sim: Option<RunHandle>,
}

pub(crate) struct NetState {
    pub(crate) reliable: bool,
    /// Virtual milliseconds a request on the reliable network travels before dispatch.
    pub(crate) latency_ms: u64,
    pub(crate) long_delays: bool,
    pub(crate) long_reordering: bool,
    pub(crate) ends: Vec<EndState>,
    end_names: HashMap<String, EndId>,
    pub(crate) servers: Vec<ServerSlot>,
    pub(crate) server_names: HashMap<String, SlotId>,
    pub(crate) total_count: u64,
    pub(crate) total_bytes: u64,
    /// Calls per method name, in the order the methods were first called.
    pub(crate) method_counts: Vec<(&'static str, u64)>,
}

impl NetState {
    /// Counts a call of `method`.
    pub(crate) fn count_method(&mut self, method: &'static str) {
        match self.method_counts.iter_mut().find(|(m, _)| *m == method) {
            Some((_, count)) => *count += 1,
            None => self.method_counts.push((method, 1)),
        }
    }
}

pub(crate) struct EndState {
    pub(crate) enabled: bool,
    pub(crate) server: Option<SlotId>,
    /// Replies to calls on this end wait until this is cleared (`Network::hold_replies`).
    pub(crate) hold_replies: bool,
    /// Whether requests on this end are held back before dispatch (`Network::hold_requests`).
    pub(crate) hold_requests: RequestHold,
    /// The send numbers of the requests waiting at the hold; they go smallest first, so in the
    /// order they were sent, whatever order their travel delays brought them in.
    pub(crate) held: BTreeSet<u64>,
    /// Requests sent on this end so far: the next request's send number.
    pub(crate) sent: u64,
    /// The node that first called through this end: the only one that may.
    pub(crate) owner: Option<NodeId>,
}

/// What happens to a request on an end when it has travelled (`Network::hold_requests`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestHold {
    /// Requests go to dispatch; those still held from before go first, in send order.
    Pass,
    /// Requests wait at the hold.
    Hold,
    /// New requests go to dispatch at once, overtaking those held so far, which keep waiting
    /// (`Network::keep_held_requests`).
    Keep,
}

impl RequestHold {
    /// Whether a request that has just travelled must wait at the hold: while held, or, while
    /// the held ones are being let go, behind them, so that all go in send order.
    pub(crate) fn holds_arrival(self, held: &BTreeSet<u64>) -> bool {
        match self {
            RequestHold::Hold => true,
            RequestHold::Pass => !held.is_empty(),
            RequestHold::Keep => false,
        }
    }
}

pub(crate) struct ServerSlot {
    pub(crate) server: Option<Arc<Server>>,
}

impl NetShared {
    /// A reliable network with no ends and no servers, in the simulation running here, if any.
    pub(crate) fn new() -> NetShared {
        let state = NetState {
            reliable: true,
            latency_ms: DEFAULT_LATENCY_MS,
            long_delays: false,
            long_reordering: false,
            ends: Vec::new(),
            end_names: HashMap::new(),
            servers: Vec::new(),
            server_names: HashMap::new(),
            total_count: 0,
            total_bytes: 0,
            method_counts: Vec::new(),
        };
        NetShared {
            state: Mutex::new(state),
            changed: Notify::new(),
            sim: layer::current_run(),
        }
    }
}

impl NetState {
    /// The end named `name`.
    ///
    /// # Panics
    /// If there is none: the tester names only ends it made.
    pub(crate) fn end(&mut self, name: &str) -> EndId {
        match self.end_names.get(name) {
            Some(&id) => id,
            None => panic!("labrpc: no end named {name:?} (make it with Network::make_end first)"),
        }
    }

    /// A new end named `name`, disabled and unconnected.
    ///
    /// # Panics
    /// If an end of that name exists already.
    pub(crate) fn add_end(&mut self, name: &str) -> EndId {
        assert!(
            !self.end_names.contains_key(name),
            "labrpc: make_end: end {name:?} already exists"
        );
        let id = self.ends.len() as EndId;
        self.ends.push(EndState {
            enabled: false,
            server: None,
            hold_replies: false,
            hold_requests: RequestHold::Pass,
            held: BTreeSet::new(),
            sent: 0,
            owner: None,
        });
        self.end_names.insert(name.to_string(), id);
        id
    }

    /// The slot of server name `name`, made on its first use.
    pub(crate) fn slot(&mut self, name: &str) -> SlotId {
        if let Some(&slot) = self.server_names.get(name) {
            return slot;
        }
        let slot = self.servers.len() as SlotId;
        self.servers.push(ServerSlot { server: None });
        self.server_names.insert(name.to_string(), slot);
        slot
    }

    /// MIT's `isServerDead`: the end was disabled, or the server under its name is no longer
    /// the one the request was sent to.
    pub(crate) fn is_dead(&self, end: EndId, slot: SlotId, server: &Arc<Server>) -> bool {
        !self.ends[end as usize].enabled
            || !self.servers[slot as usize]
                .server
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, server))
    }

    /// Whether a held request, let go, may still be dispatched: its end is enabled and still
    /// connected to the server name it was sent to, and that name still has the very server.
    pub(crate) fn still_reaches(&self, end: EndId, slot: SlotId, server: &Arc<Server>) -> bool {
        !self.is_dead(end, slot, server) && self.ends[end as usize].server == Some(slot)
    }
}
