//! The shardkv tester, after MIT's `shardkv/config.go` (2021-2023): three shard master servers
//! and three replica groups of three servers each on one simulated network, the tester's own
//! shard master clerk for Join and Leave, whole-group and single-server crashes and restarts,
//! and the checks of persisted sizes.
//!
//! Every call into a server runs as code of the server's node (`Running::on_server`), and
//! every operation of a clerk (the tester's shard master clerk's too) as a task of the clerk's
//! own node (`OwnNode`): what lab code spawns, and what it panics, is its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim::{self, Node};
use labrpc::{ClientEnd, Network, Server};
use parking_lot::Mutex;
use raft::Persister;
use shardkv::{Clerk, MakeEnd, ShardKv};
use shardmaster::{Config as ShardConfig, Gid, ShardMaster};
use tokio::task::JoinHandle;

/// Shard master servers.
const NCTRLERS: usize = 3;
/// Replica groups.
const NGROUPS: usize = 3;
/// Servers per replica group.
const N: usize = 3;
/// Group index `gi` is gid `FIRST_GID + gi`.
const FIRST_GID: Gid = 100;

/// The network name of shard master server `i`.
fn ctrler_name(i: usize) -> String {
    format!("ctrler{i}")
}

/// The network name of server `i` of group `gid`, as the groups are joined with.
fn server_name(gid: Gid, i: usize) -> String {
    format!("server-{gid}-{i}")
}

/// A running server of a group: the `ShardKv` and the node it runs on, together.
struct Running {
    kv: ShardKv,
    node: Node,
}

impl Running {
    /// Runs `f` on the server as code of its node (`Node::enter`), as if the server's own code
    /// made the call: what it spawns is the server's (a crash stops it), and what it panics is
    /// the server's. Every tester call into a running `ShardKv` goes through here.
    #[track_caller]
    fn on_server<R>(&self, f: impl FnOnce(&ShardKv) -> R) -> R {
        self.node.enter(|| f(&self.kv))
    }
}

/// A clerk (a shardkv one, or the tester's shard master clerk) on a node of its own, which
/// never crashes: each operation runs as code of that node (`Node::enter_async`), so that a
/// panic in the clerk names the clerk, and what the clerk spawns is its own.
struct OwnNode<C> {
    ck: C,
    node: Node,
}

impl<C> OwnNode<C> {
    /// A node called `name`, and the clerk `make` builds on it.
    fn new(name: String, make: impl FnOnce() -> C) -> Self {
        let node = Node::new(name);
        OwnNode {
            ck: node.enter(make),
            node,
        }
    }
}

/// A shardkv clerk made by the tester ([`Config::make_client`]), with the methods of
/// `shardkv::Clerk`, on a node of its own (see [`OwnNode`]).
pub struct TestClerk(OwnNode<Clerk>);

impl TestClerk {
    /// `Clerk::get`.
    pub async fn get(&mut self, key: &str) -> String {
        let OwnNode { ck, node } = &mut self.0;
        let _in_flight = labtest::clerk_call(node.name(), "Get", &format!("{key:?}"));
        node.enter_async(ck.get(key)).await
    }

    /// `Clerk::put`.
    pub async fn put(&mut self, key: &str, value: &str) {
        let OwnNode { ck, node } = &mut self.0;
        let _in_flight = labtest::clerk_call(node.name(), "Put", &format!("{key:?}"));
        node.enter_async(ck.put(key, value)).await
    }

    /// `Clerk::append`.
    pub async fn append(&mut self, key: &str, value: &str) {
        let OwnNode { ck, node } = &mut self.0;
        let _in_flight = labtest::clerk_call(node.name(), "Append", &format!("{key:?}"));
        node.enter_async(ck.append(key, value)).await
    }
}

/// One server of a group: the running incarnation (if any) and what survives it.
struct Slot {
    running: Option<Running>,
    saved: Persister,
    /// The running incarnation's ends to its group and to the shard masters.
    ends: Vec<String>,
}

struct Group {
    gid: Gid,
    servers: Vec<Slot>,
}

/// A shard master server; they never crash in these tests.
struct Ctrler {
    sm: ShardMaster,
    node: Node,
}

/// The shardkv test configuration (MIT's `config`).
pub struct Config {
    net: Network,
    max_raft_state: Option<usize>,
    /// Counter that makes every end name unique (MIT: `randstring(20)`).
    made: Arc<AtomicU64>,
    /// The shard master servers, kept running for the whole test.
    ctrlers: Vec<Ctrler>,
    groups: Mutex<Vec<Group>>,
    /// The tester's own shard master clerk (MIT's `mck`), on its node. An async lock: calls
    /// await under it.
    mck: tokio::sync::Mutex<OwnNode<shardmaster::Clerk>>,
}

impl Config {
    /// MIT's `make_config(t, n, unreliable, maxraftstate)` with n = 3: starts the shard master
    /// servers and every server of the three groups (none joined yet), then makes the network
    /// unreliable if asked.
    pub fn new(unreliable: bool, max_raft_state: Option<usize>) -> Arc<Config> {
        let net = Network::new();
        let made = Arc::new(AtomicU64::new(0));
        let ctrlers = (0..NCTRLERS)
            .map(|i| start_ctrler(&net, &made, i))
            .collect();
        let groups = (0..NGROUPS)
            .map(|gi| Group {
                gid: FIRST_GID + gi as Gid,
                servers: (0..N)
                    .map(|_| Slot {
                        running: None,
                        saved: Persister::new(),
                        ends: Vec::new(),
                    })
                    .collect(),
            })
            .collect();
        let mck_ends = fresh_ends(&net, &made, "mck", &ctrler_names());
        let cfg = Arc::new(Config {
            net,
            max_raft_state,
            made,
            ctrlers,
            groups: Mutex::new(groups),
            mck: tokio::sync::Mutex::new(OwnNode::new("mck".into(), || {
                shardmaster::Clerk::new(mck_ends.1)
            })),
        });
        for gi in 0..NGROUPS {
            cfg.start_group(gi);
        }
        cfg.net.set_reliable(!unreliable);
        let watched = Arc::downgrade(&cfg);
        labtest::fail_without_a_leader("the shard masters", raft::REFERENCE, move || {
            watched.upgrade().is_none_or(|cfg| {
                cfg.ctrlers
                    .iter()
                    .any(|c| c.node.enter(|| c.sm.get_state().1))
            })
        });
        for gi in 0..NGROUPS {
            let watched = Arc::downgrade(&cfg);
            let what = format!("group {}", cfg.gid(gi));
            labtest::fail_without_a_leader(&what, raft::REFERENCE, move || {
                watched.upgrade().is_none_or(|cfg| cfg.group_has_leader(gi))
            });
        }
        cfg
    }

    /// Whether a running server of group index `gi` believes it leads.
    fn group_has_leader(&self, gi: usize) -> bool {
        self.groups.lock()[gi].servers.iter().any(|slot| {
            slot.running
                .as_ref()
                .is_some_and(|s| s.on_server(|kv| kv.get_state().1))
        })
    }

    /// The gid of group index `gi`.
    pub fn gid(&self, gi: usize) -> Gid {
        self.groups.lock()[gi].gid
    }

    /// The network (to make it reliable again).
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// A `make_end` for `owner`: each call makes a new, uniquely named, enabled end connected
    /// to the server of the given name.
    fn make_end_fn(&self, owner: String) -> MakeEnd {
        let net = self.net.clone();
        let made = self.made.clone();
        Arc::new(move |server: &str| {
            let name = unique(&made, &owner, server);
            let end = net.make_end(name.clone());
            net.connect(&name, server);
            net.enable(&name, true);
            end
        })
    }

    /// MIT's `makeClient`: a clerk with fresh ends to every shard master server (in random
    /// order) and its own `make_end`.
    pub fn make_client(&self) -> TestClerk {
        let k = self.made.fetch_add(1, Ordering::Relaxed);
        let owner = format!("clerk{k}");
        let (_, mut ends) = fresh_ends(&self.net, &self.made, &owner, &ctrler_names());
        sim::shuffle(&mut ends);
        let make_end = self.make_end_fn(owner.clone());
        TestClerk(OwnNode::new(owner, || Clerk::new(ends, make_end)))
    }

    /// MIT's `StartServer(gi, i)`: fresh ends to the group and to the shard masters, a copy of
    /// the persister, and every service of the server under its name.
    pub fn start_server(&self, gi: usize, i: usize) {
        let gid = self.gid(gi);
        let me = server_name(gid, i);
        let group_names: Vec<String> = (0..N).map(|j| server_name(gid, j)).collect();
        let (mut names, ends) = fresh_ends(&self.net, &self.made, &me, &group_names);
        let (ctrler_ends, masters) = fresh_ends(&self.net, &self.made, &me, &ctrler_names());
        names.extend(ctrler_ends);
        let persister = {
            let mut groups = self.groups.lock();
            let slot = &mut groups[gi].servers[i];
            slot.saved = slot.saved.copy();
            slot.ends = names;
            slot.saved.clone()
        };
        let make_end = self.make_end_fn(me.clone());
        let max = self.max_raft_state;
        let node = Node::new(me.clone());
        let kv = node.enter(|| ShardKv::new(ends, i, persister, max, gid, masters, make_end));
        let running = Running { kv, node };
        let server = running.on_server(|kv| {
            let mut server = Server::new();
            for service in kv.services() {
                server.add_service(service);
            }
            server
        });
        self.net.add_server(&me, server);
        self.groups.lock()[gi].servers[i].running = Some(running);
    }

    /// MIT's `ShutdownServer(gi, i)`: stop the server sending (its ends to the group and the
    /// shard masters), delete it from the network before replacing its persister (so that no
    /// reply promises what the replaced persister lost), keep a copy of the persister, kill it,
    /// and crash its node (which aborts every task it started, including RPCs to other groups).
    pub fn shutdown_server(&self, gi: usize, i: usize) {
        let gid = self.gid(gi);
        let (ends, running) = {
            let mut groups = self.groups.lock();
            let slot = &mut groups[gi].servers[i];
            (std::mem::take(&mut slot.ends), slot.running.take())
        };
        for name in &ends {
            self.net.enable(name, false);
        }
        self.net.delete_server(&server_name(gid, i));
        {
            let mut groups = self.groups.lock();
            let slot = &mut groups[gi].servers[i];
            slot.saved = slot.saved.copy();
        }
        if let Some(s) = running {
            s.on_server(|kv| kv.kill());
            s.node.crash();
        }
    }

    /// MIT's `StartGroup`.
    pub fn start_group(&self, gi: usize) {
        for i in 0..N {
            self.start_server(gi, i);
        }
    }

    /// MIT's `ShutdownGroup`.
    pub fn shutdown_group(&self, gi: usize) {
        for i in 0..N {
            self.shutdown_server(gi, i);
        }
    }

    /// Each group's servers by name, for a Join.
    fn groups_for(&self, gis: &[usize]) -> BTreeMap<Gid, Vec<String>> {
        gis.iter()
            .map(|&gi| {
                let gid = self.gid(gi);
                (gid, (0..N).map(|i| server_name(gid, i)).collect())
            })
            .collect()
    }

    /// MIT's `join(gi)`: group `gi` joins through the tester's shard master clerk.
    pub async fn join(&self, gi: usize) {
        self.join_many(&[gi]).await;
    }

    /// MIT's `joinm`: the groups join in one Join.
    pub async fn join_many(&self, gis: &[usize]) {
        let groups = self.groups_for(gis);
        let gids: Vec<&Gid> = groups.keys().collect();
        let _in_flight = labtest::clerk_call("mck", "Join", &format!("{gids:?}"));
        let mut mck = self.mck.lock().await;
        let OwnNode { ck, node } = &mut *mck;
        node.enter_async(ck.join(groups)).await;
    }

    /// MIT's `leave(gi)`.
    pub async fn leave(&self, gi: usize) {
        self.leave_many(&[gi]).await;
    }

    /// MIT's `leavem`: the groups leave in one Leave.
    pub async fn leave_many(&self, gis: &[usize]) {
        let gids: Vec<Gid> = gis.iter().map(|&gi| self.gid(gi)).collect();
        let _in_flight = labtest::clerk_call("mck", "Leave", &format!("{gids:?}"));
        let mut mck = self.mck.lock().await;
        let OwnNode { ck, node } = &mut *mck;
        node.enter_async(ck.leave(gids)).await;
    }

    /// The latest configuration, through the tester's clerk (MIT's `cfg.mck.Query(-1)`).
    pub async fn query(&self) -> ShardConfig {
        let _in_flight = labtest::clerk_call("mck", "Query", "None");
        let mut mck = self.mck.lock().await;
        let OwnNode { ck, node } = &mut *mck;
        node.enter_async(ck.query(None)).await
    }

    /// MIT's `checklogs`: with snapshots, every server's persisted Raft state is at most
    /// 8 x maxraftstate; without, no server has a snapshot.
    #[track_caller]
    pub fn checklogs(&self) {
        let groups = self.groups.lock();
        for g in groups.iter() {
            for (i, slot) in g.servers.iter().enumerate() {
                let raft = slot.saved.raft_state_size();
                let snap = slot.saved.snapshot_size();
                match self.max_raft_state {
                    Some(max) => assert!(
                        raft <= 8 * max,
                        "server {} of group {}: persister.raft_state_size() {raft}, \
                         but maxraftstate {max}",
                        i,
                        g.gid
                    ),
                    None => assert!(
                        snap == 0,
                        "server {} of group {}: maxraftstate is None, but snapshot is \
                         non-empty ({snap} bytes)",
                        i,
                        g.gid
                    ),
                }
            }
        }
    }

    /// Persisted Raft state plus snapshot, summed over every server of every group.
    pub fn total_persisted(&self) -> usize {
        let groups = self.groups.lock();
        groups
            .iter()
            .flat_map(|g| g.servers.iter())
            .map(|s| s.saved.raft_state_size() + s.saved.snapshot_size())
            .sum()
    }
}

/// MIT's shardkv tests print no statistics; the run's RPCs (every call on the tester's network,
/// to the shard masters and the groups) still reach tools, on the `lab-result` line.
impl Drop for Config {
    fn drop(&mut self) {
        labtest::report::record_rpcs(self.net.total_count());
    }
}

fn ctrler_names() -> Vec<String> {
    (0..NCTRLERS).map(ctrler_name).collect()
}

/// A new end name, unique within the run.
fn unique(made: &AtomicU64, owner: &str, server: &str) -> String {
    let k = made.fetch_add(1, Ordering::Relaxed);
    format!("{owner}->{server}#{k}")
}

/// Fresh enabled ends from `owner` to each of `servers`, in order, with their names.
fn fresh_ends(
    net: &Network,
    made: &AtomicU64,
    owner: &str,
    servers: &[String],
) -> (Vec<String>, Vec<ClientEnd>) {
    servers
        .iter()
        .map(|server| {
            let name = unique(made, owner, server);
            let end = net.make_end(name.clone());
            net.connect(&name, server);
            net.enable(&name, true);
            (name, end)
        })
        .unzip()
}

/// MIT's `StartCtrlerserver(i)`: ends to every shard master server, a fresh persister, both
/// services under "ctrler<i>".
fn start_ctrler(net: &Network, made: &AtomicU64, i: usize) -> Ctrler {
    let me = ctrler_name(i);
    let (_, ends) = fresh_ends(net, made, &me, &ctrler_names());
    let node = Node::new(me.clone());
    let sm = node.enter(|| ShardMaster::new(ends, i, Persister::new()));
    let server = node.enter(|| {
        let mut server = Server::new();
        for service in sm.services() {
            server.add_service(service);
        }
        server
    });
    net.add_server(&me, server);
    Ctrler { sm, node }
}

/// MIT's `check`: a Get of `key` must return `value`.
pub async fn check(ck: &mut TestClerk, key: &str, value: &str) {
    let _step = labtest::step(format!("check: Get({key:?})"));
    let v = ck.get(key).await;
    assert!(
        v == value,
        "Get({key:?}): {}",
        labtest::describe_mismatch(value, &v)
    );
}

/// A random string of `n` characters from a 64-letter alphabet (MIT's `randstring`), drawn
/// from the simulation's seed.
pub fn randstring(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n)
        .map(|_| ALPHABET[sim::random_range(0..ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// `ms` milliseconds (of virtual time, in the tests' sleeps).
pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Prints a test's title as it starts (MIT prints it first, then "  ... Passed").
pub fn begin(title: &str) {
    println!("{title}");
    labtest::section(title.trim_end_matches(" ...").to_string());
}

/// Prints MIT's "  ... Passed" (the shardkv tests print no statistics).
pub fn passed() {
    println!("  ... Passed");
    labtest::end_section();
}

/// The keys "0".."n-1" with a random value of `len` characters each.
pub fn keys_and_values(n: usize, len: usize) -> (Vec<String>, Vec<String>) {
    (0..n).map(|i| (i.to_string(), randstring(len))).unzip()
}

/// Puts every key's value.
pub async fn put_all(ck: &mut TestClerk, ka: &[String], va: &[String]) {
    for (k, v) in ka.iter().zip(va) {
        ck.put(k, v).await;
    }
}

/// Checks every key's value.
pub async fn check_all(ck: &mut TestClerk, ka: &[String], va: &[String]) {
    for (k, v) in ka.iter().zip(va) {
        check(ck, k, v).await;
    }
}

/// For every key: check its value, then append a random string of `len` characters.
pub async fn check_and_append_all(
    ck: &mut TestClerk,
    ka: &[String],
    va: &mut [String],
    len: usize,
) {
    for (k, v) in ka.iter().zip(va) {
        check(ck, k, v).await;
        let x = randstring(len);
        ck.append(k, &x).await;
        v.push_str(&x);
    }
}

/// Clerks appending concurrently, one per key, until told to stop.
pub struct Appenders {
    done: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<String>>,
}

impl Appenders {
    /// Starts one clerk per key of `ka` (whose current values are `va`), each appending random
    /// strings of `len` characters to its key, with a pause of `pause` after each Append (none
    /// if zero), until [`Appenders::stop`].
    pub fn start(cfg: &Config, ka: &[String], va: &[String], len: usize, pause: Duration) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let tasks = ka
            .iter()
            .zip(va)
            .map(|(key, value)| {
                let mut ck = cfg.make_client();
                let (key, mut value, done) = (key.clone(), value.clone(), done.clone());
                sim::spawn(async move {
                    while !done.load(Ordering::SeqCst) {
                        let x = randstring(len);
                        ck.append(&key, &x).await;
                        value.push_str(&x);
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                    value
                })
            })
            .collect();
        Appenders { done, tasks }
    }

    /// Tells the clerks to stop, waits for each to finish its Append in progress, and returns
    /// every key's value as it must now be.
    pub async fn stop(self) -> Vec<String> {
        self.done.store(true, Ordering::SeqCst);
        let _step = labtest::step("waiting for the appending clerks to finish their Appends");
        let mut values = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            values.push(task.await.expect("an appending clerk failed"));
        }
        values
    }
}
