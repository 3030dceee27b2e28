//! labrpc: MIT 6.824's simulated RPC network, on a deterministic simulation.
//!
//! Lab code talks to its peers only through this network, so the tester can make it as bad as a
//! real one, on purpose and reproducibly: partitions, lost requests and replies, delays,
//! reordering, crashes. Everything runs inside a [`sim`]ulation on virtual time, whose
//! [rules](sim#rules-for-code-that-runs-in-a-simulation) lab code keeps.
//!
//! # Declaring and calling an RPC
//!
//! ```
//! use labrpc::{sim, Network, Rpc, Server, Service};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct EchoArgs(String);
//!
//! impl Rpc for EchoArgs {
//!     type Reply = String;
//!     const NAME: &'static str = "Echo.Say";
//! }
//!
//! sim::run(&sim::RunSettings::new(1), || async {
//!     let net = Network::new();
//!     let node = sim::Node::new("server");
//!     let server = node.enter(|| {
//!         let mut server = Server::new();
//!         server.add_service(Service::new("Echo").handle(|EchoArgs(s)| async move { s + "!" }));
//!         server
//!     });
//!     net.add_server("s", server);
//!
//!     let end = net.make_end("client->s");
//!     net.connect("client->s", "s");
//!     assert!(end.call(&EchoArgs("hi".into())).await.is_err()); // ends start disabled
//!     net.enable("client->s", true);
//!     assert_eq!(end.call(&EchoArgs("hi".into())).await.unwrap(), "hi!");
//!     assert_eq!(net.count("s"), 1);
//! })
//! .unwrap();
//! ```
//!
//! # Semantics (MIT's labrpc, exactly, plus a latency)
//!
//! * Reliable network: a request takes [`DEFAULT_LATENCY_MS`] (5 virtual ms, see
//!   [`Network::set_latency`]) to reach its server; the reply returns at once. MIT adds no
//!   delay, but there real time passes while code runs; here time is virtual, and without a
//!   latency a whole agreement could take no time at all.
//! * Ends start disabled and unconnected. A call on a disabled or unconnected end, or to a
//!   server name with no server, fails after 0-99 ms, or 0-6999 ms with
//!   [`Network::set_long_delays`]; its handler does not run.
//! * Unreliable ([`Network::set_reliable`]`(false)`): every request waits 0-26 ms; 10% of
//!   requests are lost before the handler runs, 10% of replies after it ran.
//! * Long reordering: about 2/3 of replies are held back 200-2199 ms.
//! * Deleting a server, replacing it, or disabling the end while a call is in flight fails the
//!   call, and the reply is thrown away even if the handler finishes; this is checked again
//!   right before the reply is delivered. (MIT polls every 100 ms; here it happens at once.)
//! * Counters: [`Network::total_count`] counts every call, [`Network::total_bytes`] the
//!   arguments of every call plus every delivered reply, [`Network::count`] the requests that
//!   reached a server's dispatch.
//! * A message (arguments or reply) may encode to at most [`MAX_MESSAGE_BYTES`]: a larger one
//!   is a bug (a whole log in one message), and fails the run at once, naming the RPC.
//! * Beyond MIT, for testers that need a message at exactly the wrong moment:
//!   [`Network::hold_replies`] holds an end's replies until let go;
//!   [`Network::hold_requests`] holds an end's requests after their travel, before dispatch
//!   (the handler has not run), and lets them go in send order, each dispatched only if its
//!   end is still enabled and connected to the same live server, else dropped with no reply;
//!   [`Network::keep_held_requests`] lets newer requests overtake the held ones. A run that
//!   uses neither is MIT's network exactly, and its determinism digest is unchanged.
//! * Where MIT kills the test process (unknown service or method, undecodable bytes), the call
//!   returns an [`RpcError`] saying what is wrong.

mod end;
mod error;
mod events;
mod limits;
mod network;
mod server;
mod state;

/// The simulation lab code runs in: the `labsim` crate, under the name lab code knows it by
/// (`labrpc::sim::spawn`, `labrpc::sim::random_range`, ...).
#[doc(inline)]
pub use labsim as sim;

pub use end::ClientEnd;
pub use error::RpcError;
pub use limits::{DEFAULT_LATENCY_MS, MAX_MESSAGE_BYTES};
pub use network::Network;
pub use server::{Rpc, Server, Service};
