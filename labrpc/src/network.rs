//! The tester's handle on the network: it makes ends, wires them to servers, partitions,
//! crashes and restarts, and reads the counters.

use std::sync::Arc;

use labsim::layer;

use crate::end::ClientEnd;
use crate::events::NetEvent;
use crate::server::Server;
use crate::state::{NetShared, NetState, RequestHold};

/// A simulated network with MIT labrpc's semantics (see the crate docs for the full list).
///
/// Cheap to clone; every clone is the same network. The tester owns it and plays the part of
/// the wires: it makes ends, connects them to server names, enables and disables them to
/// partition peers, and adds and deletes servers to crash and restart them.
#[derive(Clone)]
pub struct Network {
    shared: Arc<NetShared>,
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A reliable network with no ends and no servers (MIT's `MakeNetwork`).
    pub fn new() -> Network {
        Network {
            shared: Arc::new(NetShared::new()),
        }
    }

    /// Makes a new end, disabled and unconnected. Names are any unique string; the testers use
    /// a fresh one for every incarnation of a peer, so that old incarnations' ends stay dead.
    ///
    /// # Panics
    /// If an end of that name exists already.
    pub fn make_end(&self, name: impl Into<String>) -> ClientEnd {
        let name = name.into();
        let id = self.shared.state.lock().add_end(&name);
        ClientEnd::new(&self.shared, id, name)
    }

    /// Connects end `end` to whatever server is (or will be) registered under `server`.
    pub fn connect(&self, end: &str, server: &str) {
        let mut st = self.shared.state.lock();
        let id = st.end(end);
        let slot = st.slot(server);
        st.ends[id as usize].server = Some(slot);
        drop(st);
        layer::record(NetEvent::Connect {
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
            layer::record(NetEvent::Enable { end: id, enabled });
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

    /// Holds back (`true`) or lets go (`false`) the requests on end `end`. Not in MIT's labrpc:
    /// a test uses it to deliver a request at exactly the wrong moment (a stale AppendEntries
    /// after the follower moved on, say), which the network's travel delays (at most 26 ms)
    /// never do.
    ///
    /// A request that ends its travel while held waits there, before dispatch: its handler has
    /// not run. Let go, the held requests are dispatched one after the other, in the order they
    /// were sent, each only if its end is still enabled and connected to the very server it was
    /// sent to, and that server's node is up; otherwise it gets no reply (`ServerKilled`) and
    /// its handler never runs, as if the end had been disabled before it was sent. A request
    /// whose caller gives up waiting (a timeout, a crash of its node) leaves the hold.
    pub fn hold_requests(&self, end: &str, hold: bool) {
        let mode = if hold {
            RequestHold::Hold
        } else {
            RequestHold::Pass
        };
        self.set_request_hold(end, mode);
    }

    /// Stops holding new requests on end `end`, but keeps the ones held so far until
    /// `hold_requests(end, false)`: requests sent from now on overtake them. Not in MIT's
    /// labrpc: with it a test delivers an old request after newer ones on the same end, as a
    /// real network may reorder them. Does nothing to an end whose requests are not held.
    pub fn keep_held_requests(&self, end: &str) {
        self.set_request_hold(end, RequestHold::Keep);
    }

    fn set_request_hold(&self, end: &str, mode: RequestHold) {
        let mut st = self.shared.state.lock();
        let id = st.end(end);
        let state = &mut st.ends[id as usize];
        let mode = match (state.hold_requests, mode) {
            (RequestHold::Pass, RequestHold::Keep) => RequestHold::Pass,
            (_, mode) => mode,
        };
        let was = std::mem::replace(&mut state.hold_requests, mode);
        drop(st);
        if was != mode {
            layer::record(NetEvent::HoldRequests {
                end: id,
                hold: mode,
            });
            tracing::debug!(kind = "net", "requests on {end}: {mode:?}");
            if mode == RequestHold::Pass {
                self.shared.changed.notify_waiters();
            }
        }
    }

    /// Registers `server` under `name`, replacing (and so killing) any server there.
    pub fn add_server(&self, name: &str, server: Server) {
        let mut st = self.shared.state.lock();
        let slot = st.slot(name);
        let old = st.servers[slot as usize].server.replace(Arc::new(server));
        drop(st);
        layer::record(NetEvent::Server {
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
            layer::record(NetEvent::Server {
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
    /// [`DEFAULT_LATENCY_MS`](crate::DEFAULT_LATENCY_MS)). The reply comes back at once, so
    /// this is the round trip.
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
        let event = NetEvent::NetMode {
            reliable: st.reliable,
            long_delays: st.long_delays,
            long_reordering: st.long_reordering,
        };
        drop(st);
        layer::record(event);
    }

    /// Every call handed to the network, delivered or not (MIT's `GetTotalCount`).
    pub fn total_count(&self) -> u64 {
        self.shared.state.lock().total_count
    }

    /// Every call of `method` (e.g. `"Raft.PreVote"`) handed to the network, delivered or not.
    pub fn method_count(&self, method: &str) -> u64 {
        let st = self.shared.state.lock();
        st.method_counts
            .iter()
            .find(|(m, _)| *m == method)
            .map_or(0, |&(_, count)| count)
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
