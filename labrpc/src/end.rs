//! Client ends and the life of one call, step by step as in MIT's `processReq`.

use std::any::{type_name, TypeId};
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use futures::future::{self, BoxFuture, Either};

use labsim::layer::{self, NodeId, Role, Site};

use crate::error::RpcError;
use crate::events::{DropReason, NetEvent};
use crate::server::{Request, Rpc, Server};
use crate::state::{EndId, NetShared, RequestHold, SlotId};

/// One end of a connection: a peer's handle for calling one other peer.
///
/// Cheap to clone; clones are the same end. Calls never time out by themselves: like MIT's
/// `Call`, a call returns when a reply arrives or the network decides there will be none, and
/// a handler that never returns on a live, connected server blocks its caller forever (wrap the
/// call in `tokio::time::timeout` when that matters).
///
/// Every delivered call takes virtual time: the reliable network's latency
/// ([`Network::set_latency`](crate::Network::set_latency)) or the unreliable network's delay.
/// A loop of calls therefore never stops the clock, though a clerk should still pause between
/// rounds of retries, as MIT's handouts ask, rather than flood the servers.
///
/// An end holds its network weakly: the network owns the servers, a server's handlers may own
/// their peer, and the peer owns its ends, so a strong handle here would make a cycle that
/// keeps every peer of a run alive after it. A call on an end whose network is gone gets no
/// reply ([`RpcError::Unreachable`]) after 100 virtual ms.
#[derive(Clone)]
pub struct ClientEnd {
    net: Weak<NetShared>,
    id: EndId,
    name: Arc<str>,
}

/// How long a call on an end whose network was dropped takes to fail: time passes, as on a
/// disconnected end, so that a peer retrying in a loop does not spin.
const GONE_NETWORK_DELAY: Duration = Duration::from_millis(100);

/// What a request saw of the network when it was sent (MIT reads these once, at send time).
struct Route {
    server: Option<(SlotId, Arc<Server>)>,
    /// The request's send number on its end, the order held requests go in.
    seq: u64,
    reliable: bool,
    latency_ms: u64,
    long_delays: bool,
    long_reordering: bool,
}

impl ClientEnd {
    pub(crate) fn new(net: &Arc<NetShared>, id: EndId, name: String) -> Self {
        ClientEnd {
            net: Arc::downgrade(net),
            id,
            name: Arc::from(name),
        }
    }

    /// The end's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls RPC `R` on the server this end is connected to.
    ///
    /// `Ok` means the handler ran and its reply arrived. Any network error (see
    /// [`RpcError::is_network`]) means no reply, like MIT's `Call` returning `false`: the handler
    /// may or may not have run.
    pub async fn call<R: Rpc>(&self, args: &R) -> Result<R::Reply, RpcError> {
        let Some(net) = self.net.upgrade() else {
            tokio::time::sleep(GONE_NETWORK_DELAY).await;
            return Err(RpcError::Unreachable);
        };
        self.check_caller(&net)?;
        let bytes = crate::server::encode_message(R::NAME, "arguments", args)?;
        let request = Request {
            method: R::NAME,
            arg_type: TypeId::of::<R>(),
            arg_type_name: type_name::<R>(),
            bytes,
        };
        let reply = self.deliver(&net, request).await?;
        labgob::decode(&reply).map_err(|e| RpcError::Decode(e.to_string()))
    }

    /// Enforces the rules about who may call: the simulation's own thread (a foreign thread fails
    /// the run through the network's handle on it), and one node per end, the first that used it
    /// (an end is a wire from one peer to another).
    fn check_caller(&self, net: &NetShared) -> Result<(), RpcError> {
        if !layer::on_simulation_thread() {
            if let Some(run) = &net.sim {
                layer::foreign_thread(run, &format!("ClientEnd::call on end {}", self.name));
            }
            return Err(RpcError::Unreachable);
        }
        let node = layer::current_node("ClientEnd::call");
        let mut st = net.state.lock();
        let owner = *st.ends[self.id as usize].owner.get_or_insert(node);
        drop(st);
        if owner != node {
            layer::fail_rule(
                "an end belongs to the node that first used it",
                format!(
                    "End {} was first used by {} and now by {}. Each peer calls through the \
                     ends it was given; a task that calls for a peer must run on that peer \
                     (spawn it from the peer's own code with labrpc::sim::spawn)",
                    self.name,
                    layer::node_name(owner),
                    layer::node_name(node)
                ),
            );
            return Err(RpcError::Unreachable);
        }
        Ok(())
    }

    fn route(&self, net: &NetShared, method: &'static str, request_bytes: usize) -> Route {
        let mut st = net.state.lock();
        st.total_count += 1;
        st.count_method(method);
        st.total_bytes += request_bytes as u64;
        let end = &mut st.ends[self.id as usize];
        let seq = end.sent;
        end.sent += 1;
        let server = match (end.enabled, end.server) {
            (true, Some(slot)) => st.servers[slot as usize].server.clone().map(|s| (slot, s)),
            _ => None,
        };
        Route {
            server,
            seq,
            reliable: st.reliable,
            latency_ms: st.latency_ms,
            long_delays: st.long_delays,
            long_reordering: st.long_reordering,
        }
    }

    /// A call sent at `sent_ms` (virtual) got no reply. Its trace event is stamped with the
    /// send time: on a timeline the drop belongs to the moment the call left, not to the moment
    /// the caller found out (which may be after the link came back up).
    fn dropped(
        &self,
        method: &str,
        sent_ms: u64,
        reason: DropReason,
        error: RpcError,
    ) -> Result<Vec<u8>, RpcError> {
        layer::record(NetEvent::Drop {
            end: self.id,
            reason,
        });
        tracing::debug!(
            kind = "drop",
            sent_ms,
            "{method} via {}: {error}",
            self.name
        );
        Err(error)
    }

    async fn deliver(&self, net: &NetShared, request: Request) -> Result<Vec<u8>, RpcError> {
        let method = request.method;
        let sent_ms = labsim::now().as_millis() as u64;
        let route = self.route(net, method, request.bytes.len());
        layer::record(NetEvent::Send {
            end: self.id,
            method: request.method,
            bytes: request.bytes.len(),
        });

        let Some((slot, server)) = route.server else {
            // No reply, and the caller finds out only after a while, as with a real timeout.
            let ms = layer::random_below(if route.long_delays { 7000 } else { 100 });
            sleep_ms(ms).await;
            return self.dropped(
                method,
                sent_ms,
                DropReason::Unreachable,
                RpcError::Unreachable,
            );
        };
        if route.reliable {
            sleep_ms(route.latency_ms).await;
        } else {
            sleep_ms(layer::random_below(27)).await;
            if layer::random_below(1000) < 100 {
                return self.dropped(method, sent_ms, DropReason::Request, RpcError::RequestLost);
            }
        }

        let held = self.wait_at_hold(net, route.seq, method).await;
        if held.is_some() && !net.state.lock().still_reaches(self.id, slot, &server) {
            // Let go after its end was disabled or rewired, or its server replaced.
            return self.dropped(method, sent_ms, DropReason::Killed, RpcError::ServerKilled);
        }
        let node = server.node();
        if !layer::node_alive(node) {
            // Nothing of a crashed node runs, even if the tester left its server registered.
            return self.dropped(method, sent_ms, DropReason::Killed, RpcError::ServerKilled);
        }
        let handler = server.dispatch(request)?;
        layer::record(NetEvent::Dispatch {
            end: self.id,
            server: slot,
        });
        // The next held request may go: its handler starts after this one's first step.
        drop(held);
        let result = match run_on(node, method, handler).await {
            Ok(result) => Some(result),
            Err(task) => self.wait(net, slot, &server, task).await,
        };
        let dead = net.state.lock().is_dead(self.id, slot, &server);
        let reply = match result {
            Some(reply) if !dead => reply?,
            _ => return self.dropped(method, sent_ms, DropReason::Killed, RpcError::ServerKilled),
        };

        if !route.reliable && layer::random_below(1000) < 100 {
            return self.dropped(method, sent_ms, DropReason::Reply, RpcError::ReplyLost);
        }
        if route.long_reordering && layer::random_below(900) < 600 {
            // 200 + rand(1 + rand(2000)) ms: skewed toward short delays, as in MIT's labrpc.
            let spread = layer::random_below(2000);
            sleep_ms(200 + layer::random_below(1 + spread)).await;
        }
        self.wait_while_held(net).await;
        net.state.lock().total_bytes += reply.len() as u64;
        layer::record(NetEvent::Deliver {
            end: self.id,
            bytes: reply.len(),
        });
        Ok(reply)
    }

    /// Waits while the tester holds this end's replies back (`Network::hold_replies`).
    async fn wait_while_held(&self, net: &NetShared) {
        loop {
            let mut changed = pin!(net.changed.notified());
            changed.as_mut().enable();
            if !net.state.lock().ends[self.id as usize].hold_replies {
                return;
            }
            changed.await;
        }
    }

    /// Waits at the hold (`Network::hold_requests`) if this end's requests are held, until its
    /// turn comes: the hold is off and no request sent before it still waits. Returns the turn,
    /// to be given up once the request is dispatched or dropped; `None` if it never waited.
    async fn wait_at_hold<'a>(
        &self,
        net: &'a NetShared,
        seq: u64,
        method: &str,
    ) -> Option<HeldTurn<'a>> {
        {
            let mut st = net.state.lock();
            let end = &mut st.ends[self.id as usize];
            if !end.hold_requests.holds_arrival(&end.held) {
                return None;
            }
            end.held.insert(seq);
        }
        tracing::debug!(kind = "net", "{method} via {}: held", self.name);
        let turn = HeldTurn {
            net,
            end: self.id,
            seq,
        };
        loop {
            let mut changed = pin!(net.changed.notified());
            changed.as_mut().enable();
            {
                let st = net.state.lock();
                let end = &st.ends[self.id as usize];
                if end.hold_requests == RequestHold::Pass && end.held.first() == Some(&seq) {
                    return Some(turn);
                }
            }
            changed.await;
        }
    }

    /// Waits for a handler that did not finish at once, giving up (`None`) as soon as the end
    /// is disabled or the server deleted or replaced. The handler itself keeps running, as in
    /// MIT, unless its node crashes.
    async fn wait(
        &self,
        net: &NetShared,
        slot: SlotId,
        server: &Arc<Server>,
        mut task: tokio::task::JoinHandle<HandlerResult>,
    ) -> Option<HandlerResult> {
        loop {
            let mut changed = pin!(net.changed.notified());
            changed.as_mut().enable();
            if net.state.lock().is_dead(self.id, slot, server) {
                return None;
            }
            match future::select(&mut task, changed).await {
                // A handler that panicked (already reported) or was aborted by a crash.
                Either::Left((joined, _)) => return joined.ok(),
                Either::Right(((), _)) => continue,
            }
        }
    }
}

type HandlerResult = Result<Vec<u8>, RpcError>;

/// A request's place at the hold of its end. Dropped (dispatched, refused, or its caller gone)
/// it leaves the hold, and the next held request may go.
struct HeldTurn<'a> {
    net: &'a NetShared,
    end: EndId,
    seq: u64,
}

impl Drop for HeldTurn<'_> {
    fn drop(&mut self) {
        self.net.state.lock().ends[self.end as usize]
            .held
            .remove(&self.seq);
        self.net.changed.notify_waiters();
    }
}

/// Runs a handler as code of `node`: polls it once right here (most handlers finish without
/// waiting, and this saves a task and a trip through the scheduler), and moves it into a task
/// of `node` if it has to wait, so that the node's crash aborts it. A panic in it fails the run
/// (the simulation's panic hook names the node) and unwinds into the caller's task.
async fn run_on(
    node: NodeId,
    method: &'static str,
    mut handler: BoxFuture<'static, HandlerResult>,
) -> Result<HandlerResult, tokio::task::JoinHandle<HandlerResult>> {
    let role = Role::of(node);
    let site = layer::site(Site::Handler(method));
    let first =
        poll_fn(|cx| Poll::Ready(layer::run_as(role, site, || handler.as_mut().poll(cx)))).await;
    match first {
        Poll::Ready(result) => Ok(result),
        Poll::Pending => Err(layer::spawn_tracked(role, site, handler)),
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
