//! A group of servers on one simulated network, through crashes and restarts: MIT's 2025
//! `ServerGrp` (`tester1/group.go`), one fixture for every lab's tester.
//!
//! What a server is (a Raft peer, a kvraft server, a shard master, a shardkv server) the tester
//! says by implementing [`ServerKind`]; the cluster does the rest in MIT's order:
//!
//! * **crash** ([`Cluster::crash`], MIT's `ShutdownServer`/`crash1`): disconnect the server's
//!   ends, delete it from the network (before its persister is replaced, so that no reply
//!   promises what the replaced persister then loses), keep a copy of its persister (so that the
//!   old incarnation, which may still hold the original, can no longer write to the one the next
//!   incarnation reads), kill it, and crash its node (which aborts every task it started);
//! * **start** ([`Cluster::start`], MIT's `StartServer`/`start1`): crash any earlier
//!   incarnation first, then fresh ends with names no earlier incarnation had, a new node, the
//!   service made on that node from the ends, its index and the persister, and its labrpc
//!   server registered under its name;
//! * **links** ([`Cluster::connect`], [`Cluster::disconnect`], [`Cluster::connect_all`],
//!   [`Cluster::partition`]), and ends for clerks ([`Cluster::client_ends`]).
//!
//! A cluster can grow ([`Cluster::add`]): a server added later starts with ends to every server
//! of the cluster, as the servers started after it do.

use std::sync::{Mutex, MutexGuard, PoisonError};

use labrpc::sim::Node;
use labrpc::{ClientEnd, Network, Server, Service};

use crate::ends::{EndMaker, Links};
use crate::OnNode;

/// What the servers of a cluster are. A tester implements it on a type of its own that holds
/// what starting a server needs (its `maxraftstate`, its gid...).
pub trait ServerKind {
    /// What the tester keeps of a running incarnation, and calls into on its node: a `Raft`,
    /// a `KvServer`.
    type Handle;
    /// What survives a crash. Clones share it (the tester keeps one, the incarnation another);
    /// [`ServerKind::copy`] makes one that shares nothing.
    type Persister: Clone + Default;

    /// Server `i`'s names.
    fn name(&self, i: usize) -> ServerName;

    /// A persister with the same bytes as `persister`, sharing nothing with it.
    fn copy(persister: &Self::Persister) -> Self::Persister;

    /// Starts a new incarnation. This is tester code: make the service through
    /// `boot.node.enter`, so that it runs (and spawns, and panics) as code of its node.
    fn start(&self, boot: Boot<Self::Persister>) -> Self::Handle;

    /// The RPC services of a running incarnation, to register under its server name. Runs on
    /// its node.
    fn services(server: &Self::Handle) -> Vec<Service>;

    /// Stops an incarnation that is about to crash (`kill`). Runs on its node.
    fn kill(server: &Self::Handle);
}

/// A server's names. `server` is its labrpc server name: what ends connect to, and what
/// [`Cluster::rpc_count`] counts. `node` names each incarnation's node (in reports and traces)
/// and owns its ends (in their names: `"peer3->0#17"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerName {
    pub server: String,
    pub node: String,
}

impl ServerName {
    /// Server `i` of a lab with one group of servers: labrpc server name `"<i>"`, as in MIT's
    /// testers, and node `"<node><i>"` ("peer3").
    pub fn numbered(node: &str, i: usize) -> ServerName {
        ServerName {
            server: i.to_string(),
            node: format!("{node}{i}"),
        }
    }

    /// `name` for both the server and its node ("server-101-2").
    pub fn same(name: String) -> ServerName {
        ServerName {
            server: name.clone(),
            node: name,
        }
    }
}

/// What a new incarnation of server `me` is made from ([`ServerKind::start`]).
pub struct Boot<P> {
    /// The server's index in its cluster.
    pub me: usize,
    /// Its ends to the servers of its cluster, end `j` to server `j` (its own included).
    pub ends: Vec<ClientEnd>,
    /// Its ends to the servers outside the cluster it was given ends to
    /// ([`Cluster::with_ends_to`]), in their order.
    pub others: Vec<ClientEnd>,
    /// A persister with what the previous incarnation saved, shared with no other incarnation.
    pub persister: P,
    /// Its new node.
    pub node: Node,
}

/// One server of a cluster: its running incarnation, if any, and what survives a crash.
struct Member<K: ServerKind> {
    name: ServerName,
    running: Option<OnNode<K::Handle>>,
    saved: K::Persister,
    /// The latest incarnation's ends to the cluster's servers, by index (fewer than the
    /// cluster has servers if some were added after it started).
    peer_ends: Vec<String>,
    /// The latest incarnation's ends to the servers outside the cluster.
    other_ends: Vec<String>,
    /// Whether it is attached to the network (MIT's `connected[i]`).
    connected: bool,
}

/// A group of servers on one network (MIT's `ServerGrp`). Servers are numbered from 0 in the
/// order they were added; each one is down until [`Cluster::start`].
pub struct Cluster<K: ServerKind> {
    kind: K,
    ends: EndMaker,
    links: Links,
    /// Servers outside the cluster that every incarnation gets ends to (shardkv: the shard
    /// masters).
    others: Vec<String>,
    members: Mutex<Vec<Member<K>>>,
}

impl<K: ServerKind> Cluster<K> {
    /// `n` servers of `kind`, none started, whose ends `ends` makes, with `links`.
    pub fn new(kind: K, ends: &EndMaker, links: Links, n: usize) -> Cluster<K> {
        let cluster = Cluster {
            kind,
            ends: ends.clone(),
            links,
            others: Vec::new(),
            members: Mutex::new(Vec::new()),
        };
        for _ in 0..n {
            cluster.add();
        }
        cluster
    }

    /// Gives every incarnation ends to the servers named `servers` too, after its ends to the
    /// cluster ([`Boot::others`]): a shardkv group's ends to the shard masters.
    pub fn with_ends_to(mut self, servers: Vec<String>) -> Cluster<K> {
        self.others = servers;
        self
    }

    /// Adds a server, down until started. Returns its index. Running incarnations keep the
    /// ends they started with, which do not reach it.
    pub fn add(&self) -> usize {
        let mut members = self.members();
        let i = members.len();
        members.push(Member {
            name: self.kind.name(i),
            running: None,
            saved: K::Persister::default(),
            peer_ends: Vec::new(),
            other_ends: Vec::new(),
            connected: false,
        });
        i
    }

    /// What the servers are.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The network.
    pub fn net(&self) -> &Network {
        self.ends.net()
    }

    /// How many servers the cluster has.
    pub fn n(&self) -> usize {
        self.members().len()
    }

    /// Every server's index (MIT's `All()`).
    pub fn all(&self) -> Vec<usize> {
        (0..self.n()).collect()
    }

    /// Server `i`'s labrpc server name.
    pub fn server_name(&self, i: usize) -> String {
        self.members()[i].name.server.clone()
    }

    /// Every server's labrpc server name, by index.
    pub fn server_names(&self) -> Vec<String> {
        self.members()
            .iter()
            .map(|m| m.name.server.clone())
            .collect()
    }

    /// MIT's `StartServer(i)`: crashes the running incarnation of server `i`, if any, then
    /// starts a new one with fresh ends, on a new node, from a copy of the persister. The
    /// server stays disconnected until [`Cluster::connect`] (with [`Links::Switched`]).
    #[track_caller]
    pub fn start(&self, i: usize) {
        self.crash(i);
        let (name, servers) = {
            let members = self.members();
            let servers: Vec<String> = members.iter().map(|m| m.name.server.clone()).collect();
            (members[i].name.clone(), servers)
        };
        let (peer_ends, ends) = self.ends.to_servers(&name.node, &servers, self.links);
        let (other_ends, others) = self.ends.to_servers(&name.node, &self.others, self.links);
        // The crash above left a fresh copy, which nothing of an earlier incarnation holds.
        let persister = self.members()[i].saved.clone();
        let node = Node::new(name.node);
        let handle = self.kind.start(Boot {
            me: i,
            ends,
            others,
            persister,
            node: node.clone(),
        });
        let incarnation = OnNode::hosted(node, handle);
        let server = incarnation.enter(|handle| {
            let mut server = Server::new();
            for service in K::services(handle) {
                server.add_service(service);
            }
            server
        });
        self.net().add_server(&name.server, server);
        let mut members = self.members();
        let member = &mut members[i];
        member.running = Some(incarnation);
        member.peer_ends = peer_ends;
        member.other_ends = other_ends;
    }

    /// Starts every server, in order.
    #[track_caller]
    pub fn start_all(&self) {
        for i in 0..self.n() {
            self.start(i);
        }
    }

    /// MIT's `ShutdownServer(i)` (`crash1` in its Raft tester): see the module docs for the
    /// order. With [`Links::Switched`] the server is disconnected both ways; with
    /// [`Links::AlwaysUp`] only its own ends are disabled (calls to it fail anyway, once it is
    /// deleted). Crashing a server that is down changes nothing on the network.
    #[track_caller]
    pub fn crash(&self, i: usize) {
        match self.links {
            Links::Switched => self.disconnect(i),
            Links::AlwaysUp => {
                let mut members = self.members();
                let member = &mut members[i];
                member.connected = false;
                for end in member.peer_ends.iter().chain(&member.other_ends) {
                    self.net().enable(end, false);
                }
            }
        }
        let name = self.server_name(i);
        self.net().delete_server(&name);
        let running = {
            let mut members = self.members();
            let member = &mut members[i];
            member.saved = K::copy(&member.saved);
            member.running.take()
        };
        if let Some(incarnation) = running {
            incarnation.enter(K::kill);
            incarnation.node().crash();
        }
    }

    /// Crashes every server, in order.
    #[track_caller]
    pub fn crash_all(&self) {
        for i in 0..self.n() {
            self.crash(i);
        }
    }

    /// MIT's `connect(i)` (`ConnectOne`): attaches server `i` to the network, enabling its ends
    /// to and from every connected server, itself included.
    pub fn connect(&self, i: usize) {
        let mut members = self.members();
        members[i].connected = true;
        let connected: Vec<usize> = (0..members.len())
            .filter(|&j| members[j].connected)
            .collect();
        self.link(&members, i, &connected, true);
    }

    /// MIT's `disconnect(i)`: detaches server `i`, disabling its ends to and from every server.
    pub fn disconnect(&self, i: usize) {
        let mut members = self.members();
        members[i].connected = false;
        let all: Vec<usize> = (0..members.len()).collect();
        self.link(&members, i, &all, false);
    }

    /// Whether server `i` is attached to the network.
    pub fn is_connected(&self, i: usize) -> bool {
        self.members()[i].connected
    }

    /// MIT's `ConnectAll`: enables the ends between every two servers, both ways.
    pub fn connect_all(&self) {
        let mut members = self.members();
        let all: Vec<usize> = (0..members.len()).collect();
        for &i in &all {
            members[i].connected = true;
            self.link(&members, i, &all, true);
        }
    }

    /// MIT's `partition(p1, p2)`: each side linked inside, cut from the other; the servers of
    /// both count as connected. Clients' ends are not touched: a clerk can still reach a server
    /// of the minority.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        let mut members = self.members();
        for (side, other) in [(p1, p2), (p2, p1)] {
            for &i in side {
                members[i].connected = true;
                self.link(&members, i, other, false);
                self.link(&members, i, side, true);
            }
        }
    }

    /// Enables (or disables) the ends between server `i` and each server of `to`, both ways:
    /// `i`'s end to `j`, then `j`'s end to `i`. A server never started, or started before `i`
    /// was added, has no end to switch.
    fn link(&self, members: &[Member<K>], i: usize, to: &[usize], on: bool) {
        assert!(
            self.links == Links::Switched,
            "tester: the ends of a cluster with links always up are never switched"
        );
        for &j in to {
            if let Some(end) = members[i].peer_ends.get(j) {
                self.net().enable(end, on);
            }
            if let Some(end) = members[j].peer_ends.get(i) {
                self.net().enable(end, on);
            }
        }
    }

    /// MIT's client ends (`makeClient`): new ends for `owner` to every server, end `j` to
    /// server `j`, with their names. With [`Links::Switched`] they start disabled: see
    /// [`Cluster::connect_client`].
    pub fn client_ends(&self, owner: &str) -> (Vec<String>, Vec<ClientEnd>) {
        self.ends
            .to_servers(owner, &self.server_names(), self.links)
    }

    /// Enables a client's ends (`names`, as [`Cluster::client_ends`] returned them) to the
    /// servers in `to`.
    pub fn connect_client(&self, names: &[String], to: &[usize]) {
        for &j in to {
            self.net().enable(&names[j], true);
        }
    }

    /// The name of the latest incarnation of server `from`'s end to server `to`.
    pub fn end_name(&self, from: usize, to: usize) -> String {
        self.members()[from].peer_ends[to].clone()
    }

    /// RPCs that reached server `i`'s current labrpc server (MIT's `RpcCount`).
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.net().count(&self.server_name(i))
    }

    /// Server `i`'s running incarnation, if it is up.
    pub fn running(&self, i: usize) -> Option<OnNode<K::Handle>>
    where
        K::Handle: Clone,
    {
        self.members()[i].running.clone()
    }

    /// The simulation node of server `i`'s running incarnation, if it is up.
    pub fn node(&self, i: usize) -> Option<Node> {
        self.members()[i].running.as_ref().map(|r| r.node().clone())
    }

    /// The first running server for which `pred`, run on its node, holds (one that believes it
    /// leads, say).
    pub fn find_running(&self, mut pred: impl FnMut(&K::Handle) -> bool) -> Option<usize> {
        self.members().iter().position(|m| {
            m.running
                .as_ref()
                .is_some_and(|incarnation| incarnation.enter(&mut pred))
        })
    }

    /// Calls `f` with each running incarnation and its index, in order, under one lock: for
    /// sampling every server often, without cloning handles. `f` must not call the cluster.
    pub fn for_each_running(&self, mut f: impl FnMut(usize, &OnNode<K::Handle>)) {
        for (i, member) in self.members().iter().enumerate() {
            if let Some(incarnation) = &member.running {
                f(i, incarnation);
            }
        }
    }

    /// Each server's persister as the latest incarnation writes it (or left it), by index.
    pub fn persisters(&self) -> Vec<K::Persister> {
        self.members().iter().map(|m| m.saved.clone()).collect()
    }

    fn members(&self) -> MutexGuard<'_, Vec<Member<K>>> {
        // A panic under the lock (a failed check) ends the run; the report must not be a
        // second panic about poisoning.
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use labrpc::sim;

    use super::*;

    /// A toy server: it notes each start in its persister, and answers `Who` with its index.
    struct Toys;

    /// A toy persister: clones share the notes, copies do not.
    #[derive(Clone, Default)]
    struct Notes(Arc<Mutex<Vec<usize>>>);

    impl Notes {
        fn read(&self) -> Vec<usize> {
            self.0.lock().unwrap().clone()
        }
    }

    #[derive(Clone)]
    struct Toy {
        notes: Notes,
        ends: Vec<ClientEnd>,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Who;

    impl labrpc::Rpc for Who {
        type Reply = usize;
        const NAME: &'static str = "Toy.Who";
    }

    impl ServerKind for Toys {
        type Handle = Toy;
        type Persister = Notes;

        fn name(&self, i: usize) -> ServerName {
            ServerName::numbered("toy", i)
        }

        fn copy(notes: &Notes) -> Notes {
            Notes(Arc::new(Mutex::new(notes.read())))
        }

        fn start(&self, boot: Boot<Notes>) -> Toy {
            boot.persister.0.lock().unwrap().push(boot.me);
            let ends = boot.ends.into_iter().chain(boot.others).collect();
            Toy {
                notes: boot.persister,
                ends,
            }
        }

        fn services(toy: &Toy) -> Vec<Service> {
            let me = toy.notes.read()[0];
            vec![Service::new("Toy").handle(move |_: Who| async move { me })]
        }

        fn kill(_: &Toy) {}
    }

    /// Whether server `from`'s running incarnation reaches server `to`.
    async fn reaches(cluster: &Cluster<Toys>, from: usize, to: usize) -> bool {
        let end = cluster
            .running(from)
            .unwrap()
            .enter(|toy| toy.ends[to].clone());
        end.call(&Who).await == Ok(to)
    }

    fn run<Fut: std::future::Future<Output = ()> + 'static>(test: fn() -> Fut) {
        sim::run(&sim::RunSettings::new(1), test).unwrap();
    }

    #[test]
    fn a_restart_cuts_the_old_incarnation_off_its_network_and_its_persister() {
        run(|| async {
            let cluster = Cluster::new(Toys, &EndMaker::new(Network::new()), Links::Switched, 2);
            cluster.start_all();
            cluster.connect_all();
            assert!(reaches(&cluster, 0, 1).await);
            let old = cluster.running(0).unwrap();
            cluster.start(0);
            assert!(!old.node().is_alive());
            assert!(old
                .enter(|toy| toy.ends[1].clone())
                .call(&Who)
                .await
                .is_err());
            old.enter(|toy| toy.notes.0.lock().unwrap().push(99));
            assert_eq!(cluster.persisters()[0].read(), [0, 0]);
            assert!(
                !reaches(&cluster, 0, 1).await,
                "a new incarnation starts disconnected"
            );
            cluster.connect(0);
            assert!(reaches(&cluster, 0, 1).await && reaches(&cluster, 1, 0).await);
        });
    }

    #[test]
    fn a_server_added_later_joins_partitions_like_the_others() {
        run(|| async {
            let cluster = Cluster::new(Toys, &EndMaker::new(Network::new()), Links::Switched, 2);
            cluster.start_all();
            cluster.connect_all();
            assert_eq!(cluster.add(), 2);
            cluster.start(2);
            cluster.connect(2);
            assert!(reaches(&cluster, 2, 0).await && reaches(&cluster, 2, 2).await);
            cluster.partition(&[0], &[1, 2]);
            assert!(reaches(&cluster, 2, 1).await && !reaches(&cluster, 2, 0).await);
            assert!(cluster.is_connected(0) && cluster.is_connected(2));
            cluster.disconnect(2);
            assert!(!reaches(&cluster, 2, 1).await && !cluster.is_connected(2));
        });
    }

    #[test]
    fn links_always_up_need_no_connecting_and_die_with_their_owner() {
        run(|| async {
            let ends = EndMaker::new(Network::new());
            let cluster = Cluster::new(Toys, &ends, Links::AlwaysUp, 2)
                .with_ends_to(vec!["elsewhere".into()]);
            cluster.start_all();
            assert!(reaches(&cluster, 0, 1).await);
            let old = cluster.running(0).unwrap();
            assert_eq!(
                old.enter(|toy| toy.ends[2].name().to_string()),
                "toy0->elsewhere#2"
            );
            cluster.crash(0);
            assert!(old
                .enter(|toy| toy.ends[1].clone())
                .call(&Who)
                .await
                .is_err());
            assert!(cluster.running(0).is_none());
        });
    }
}
