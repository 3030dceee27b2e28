//! The network: which end reaches which server, how reliably, and what it all cost.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::end::ClientEnd;
use crate::server::Server;
use crate::sim::{self, Event};

/// See [`Network::set_latency`].
pub const DEFAULT_LATENCY_MS: u64 = 5;

pub(crate) type EndId = u32;
pub(crate) type SlotId = u32;

/// A simulated network with MIT labrpc's semantics (see the crate docs for the full list).
///
/// Cheap to clone; every clone is the same network. The tester owns it and plays the part of
/// the wires: it makes ends, connects them to server names, enables and disables them to
/// partition peers, and adds and deletes servers to crash and restart them.
#[derive(Clone)]
pub struct Network {
    pub(crate) shared: Arc<NetShared>,
}

pub(crate) struct NetShared {
    pub(crate) state: Mutex<NetState>,
    /// Woken whenever an in-flight call may have lost its server: an end disabled, a server
    /// deleted or replaced.
    pub(crate) changed: Notify,
    /// The simulation the network was made in, so that a call from a foreign thread can fail
    /// that run (the foreign thread has no simulation of its own to report to).
    pub(crate) sim: Option<Arc<sim::SimShared>>,
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
    server_names: HashMap<String, SlotId>,
    pub(crate) total_count: u64,
    pub(crate) total_bytes: u64,
}

pub(crate) struct EndState {
    pub(crate) enabled: bool,
    pub(crate) server: Option<SlotId>,
    /// Replies to calls on this end wait until this is cleared ([`Network::hold_replies`]).
    pub(crate) hold_replies: bool,
    /// The node that first called through this end: the only one that may.
    pub(crate) owner: Option<sim::NodeId>,
}

pub(crate) struct ServerSlot {
    pub(crate) server: Option<Arc<Server>>,
}

impl NetState {
    fn end(&mut self, name: &str) -> EndId {
        match self.end_names.get(name) {
            Some(&id) => id,
            None => panic!("labrpc: no end named {name:?} (make it with Network::make_end first)"),
        }
    }

    fn slot(&mut self, name: &str) -> SlotId {
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
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A reliable network with no ends and no servers (MIT's `MakeNetwork`).
    pub fn new() -> Network {
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
        };
        Network {
            shared: Arc::new(NetShared {
                state: Mutex::new(state),
                changed: Notify::new(),
                sim: sim::shared(),
            }),
        }
    }

    /// Makes a new end, disabled and unconnected. Names are any unique string; the testers use
    /// a fresh one for every incarnation of a peer, so that old incarnations' ends stay dead.
    ///
    /// # Panics
    /// If an end of that name exists already.
    pub fn make_end(&self, name: impl Into<String>) -> ClientEnd {
        let name = name.into();
        let mut st = self.shared.state.lock();
        assert!(
            !st.end_names.contains_key(&name),
            "labrpc: make_end: end {name:?} already exists"
        );
        let id = st.ends.len() as EndId;
        st.ends.push(EndState {
            enabled: false,
            server: None,
            hold_replies: false,
            owner: None,
        });
        st.end_names.insert(name.clone(), id);
        drop(st);
        ClientEnd::new(self, id, name)
    }

    /// Connects end `end` to whatever server is (or will be) registered under `server`.
    pub fn connect(&self, end: &str, server: &str) {
        let mut st = self.shared.state.lock();
        let id = st.end(end);
        let slot = st.slot(server);
        st.ends[id as usize].server = Some(slot);
        drop(st);
        sim::record(Event::Connect {
            end: id,
            server: slot,
        });
    }

    /// Enables or disables end `end`. Disabling fails the calls in flight on it.
    pub fn enable(&self, end: &str, enabled: bool) {
        let mut st = self.shared.state.lock();
        let id = st.end(end);
        let was = std::mem::replace(&mut st.ends[id as usize].enabled, enabled);
        drop(st);
        if was != enabled {
            sim::record(Event::Enable { end: id, enabled });
            let state = if enabled { "up" } else { "down" };
            tracing::debug!(kind = "net", "link {end} {state}");
            if !enabled {
                self.shared.changed.notify_waiters();
            }
        }
    }

    /// Holds back (`true`) or lets go (`false`) the replies to calls made on end `end`. Not in
    /// MIT's labrpc: a test uses it to deliver a reply at exactly the wrong moment, which the
    /// random long reordering (at most 2.2 s) almost never does. A held reply still arrives
    /// once let go, even if the end was disabled meanwhile, like a reply held by long
    /// reordering; a call whose server was gone before it answered has no reply to hold.
    pub fn hold_replies(&self, end: &str, hold: bool) {
        let mut st = self.shared.state.lock();
        let id = st.end(end);
        st.ends[id as usize].hold_replies = hold;
        drop(st);
        tracing::debug!(
            kind = "net",
            "replies on {end} {}",
            if hold { "held" } else { "let go" }
        );
        if !hold {
            self.shared.changed.notify_waiters();
        }
    }

    /// Registers `server` under `name`, replacing (and so killing) any server there.
    pub fn add_server(&self, name: &str, server: Server) {
        let mut st = self.shared.state.lock();
        let slot = st.slot(name);
        let old = st.servers[slot as usize].server.replace(Arc::new(server));
        drop(st);
        sim::record(Event::Server {
            server: slot,
            present: true,
        });
        if old.is_some() {
            self.shared.changed.notify_waiters();
        }
    }

    /// Removes the server under `name`: calls in flight to it fail, and their replies are
    /// thrown away even if their handlers finish.
    pub fn delete_server(&self, name: &str) {
        let mut st = self.shared.state.lock();
        let slot = st.slot(name);
        let old = st.servers[slot as usize].server.take();
        drop(st);
        if old.is_some() {
            sim::record(Event::Server {
                server: slot,
                present: false,
            });
            self.shared.changed.notify_waiters();
        }
    }

    /// Reliable (the default), or unreliable: every request delayed 0-26 ms, 10% of requests
    /// and 10% of replies lost.
    pub fn set_reliable(&self, reliable: bool) {
        self.set_mode(|st| st.reliable = reliable);
    }

    /// How long a request on the reliable network travels before its handler runs (default
    /// [`DEFAULT_LATENCY_MS`]). The reply comes back at once, so this is the round trip.
    ///
    /// MIT's reliable network adds no delay of its own: real time passes anyway while Go code
    /// runs. Here time is virtual and only passes while every task waits, so without a latency
    /// a call, a Raft commit, a whole clerk operation could take zero time, and a client that
    /// retries in a loop would stop the clock. A round trip of a millisecond keeps time moving
    /// under any workload. The unreliable network keeps MIT's own 0-26 ms instead.
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ms = latency.as_millis() as u64;
        self.set_mode(|st| st.latency_ms = ms);
    }

    /// Long delays for calls that get no reply because the end is disabled or the server gone:
    /// they fail after 0-6999 ms instead of 0-99 ms.
    pub fn set_long_delays(&self, long_delays: bool) {
        self.set_mode(|st| st.long_delays = long_delays);
    }

    /// Long reordering: about 2/3 of replies are held back for 200-2199 ms.
    pub fn set_long_reordering(&self, long_reordering: bool) {
        self.set_mode(|st| st.long_reordering = long_reordering);
    }

    fn set_mode(&self, change: impl FnOnce(&mut NetState)) {
        let mut st = self.shared.state.lock();
        change(&mut st);
        let event = Event::NetMode {
            reliable: st.reliable,
            long_delays: st.long_delays,
            long_reordering: st.long_reordering,
        };
        drop(st);
        sim::record(event);
    }

    /// Every call handed to the network, delivered or not (MIT's `GetTotalCount`).
    pub fn total_count(&self) -> u64 {
        self.shared.state.lock().total_count
    }

    /// Argument bytes of every call plus reply bytes of every delivered reply
    /// (MIT's `GetTotalBytes`).
    pub fn total_bytes(&self) -> u64 {
        self.shared.state.lock().total_bytes
    }

    /// Requests that reached the dispatch of the server now registered under `server`
    /// (MIT's `GetCount`); 0 if there is none.
    pub fn count(&self, server: &str) -> u64 {
        let st = self.shared.state.lock();
        st.server_names
            .get(server)
            .and_then(|&slot| st.servers[slot as usize].server.as_ref())
            .map_or(0, |s| s.count())
    }
}
