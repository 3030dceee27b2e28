//! Client ends for testers: a fresh, uniquely named end for every incarnation and clerk, to
//! servers named by the tester.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use labrpc::{ClientEnd, Network};

/// Whether new ends start enabled, and so who decides when they work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Ends start disabled and the tester switches them (connect, disconnect, partition): MIT's
    /// Raft, kvraft and shard master testers, and its 2025 `ServerGrp`.
    Switched,
    /// Ends start enabled and stay so until their owner crashes: MIT's shardkv tester, which
    /// never partitions, and whose servers and clerks make ends to other groups on demand.
    AlwaysUp,
}

/// Makes ends with names unique within a run, `"<owner>-><server>#<k>"`, connected to servers
/// by their names. Clones share the network and the numbering: a run has one, shared by every
/// cluster and clerk on its network.
///
/// Every incarnation of a server and every clerk gets new ends (MIT's `randstring(20)` names), so
/// that the ends of a crashed incarnation, still held by its aborted tasks, stay disabled for good.
#[derive(Clone)]
pub struct EndMaker {
    net: Network,
    /// Numbers handed out so far, to end names and to [`EndMaker::fresh_name`].
    made: Arc<AtomicU64>,
}

impl EndMaker {
    /// A maker for ends on `net`.
    pub fn new(net: Network) -> EndMaker {
        EndMaker {
            net,
            made: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The network the ends are made on.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// New ends for `owner` (a label that shows in end names: "peer3", "clerk"), end `j`
    /// connected to `servers[j]`, enabled if `links` is [`Links::AlwaysUp`]. Returns their names
    /// (to enable and disable them later) and the ends.
    pub fn to_servers(
        &self,
        owner: &str,
        servers: &[String],
        links: Links,
    ) -> (Vec<String>, Vec<ClientEnd>) {
        servers
            .iter()
            .map(|server| self.end(owner, server, links))
            .unzip()
    }

    /// A `make_end` for `owner`: each call makes a new enabled end to the server of the given
    /// name (MIT's shardkv servers and clerks find other groups' servers by name).
    pub fn on_demand(&self, owner: String) -> impl Fn(&str) -> ClientEnd + Send + Sync + 'static {
        let maker = self.clone();
        move |server: &str| maker.end(&owner, server, Links::AlwaysUp).1
    }

    /// `prefix` followed by a number no end name or other fresh name of this run has: a name
    /// for an owner of ends that must not share one ("clerk7").
    pub fn fresh_name(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next())
    }

    fn next(&self) -> u64 {
        self.made.fetch_add(1, Ordering::Relaxed)
    }

    /// One new end from `owner` to `server`: made, connected, and enabled if always up, in that
    /// order (the order MIT's testers do it in, which the run's digest sees).
    fn end(&self, owner: &str, server: &str, links: Links) -> (String, ClientEnd) {
        let name = format!("{owner}->{server}#{}", self.next());
        let end = self.net.make_end(name.clone());
        self.net.connect(&name, server);
        if links == Links::AlwaysUp {
            self.net.enable(&name, true);
        }
        (name, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrpc::sim;

    #[test]
    fn names_are_fresh_and_switched_ends_start_disabled() {
        sim::run(&sim::RunSettings::new(1), || async {
            let maker = EndMaker::new(Network::new());
            let servers = ["0".to_string(), "1".to_string()];
            let (a, _) = maker.to_servers("p0", &servers, Links::Switched);
            assert_eq!(maker.fresh_name("clerk"), "clerk2");
            let (b, ends) = maker.clone().to_servers("p0", &servers, Links::Switched);
            assert_eq!(a, ["p0->0#0", "p0->1#1"]);
            assert_eq!(b, ["p0->0#3", "p0->1#4"]);
            assert!(ends[1].call(&Nothing).await.is_err());
        })
        .unwrap();
    }

    #[test]
    fn ends_on_demand_are_up_and_named_after_their_server() {
        sim::run(&sim::RunSettings::new(1), || async {
            let maker = EndMaker::new(Network::new());
            let make_end = maker.on_demand("clerk0".into());
            assert_eq!(make_end("server-100-2").name(), "clerk0->server-100-2#0");
            let (names, _) = maker.to_servers("mck", &["ctrler0".into()], Links::AlwaysUp);
            assert_eq!(names, ["mck->ctrler0#1"]);
        })
        .unwrap();
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Nothing;

    impl labrpc::Rpc for Nothing {
        type Reply = ();
        const NAME: &'static str = "Nothing.Do";
    }
}
