//! The shardkv tester, after MIT's `shardkv/config.go` (2021-2023): three shard master servers
//! and three replica groups of three servers each on one simulated network, the tester's own
//! shard master clerk for Join and Leave, whole-group and single-server crashes and restarts,
//! and the checks of persisted sizes.
//!
//! The servers' lifecycle is `labtest::Cluster`'s: one cluster of shard masters, one per group.
//! Every call into a server runs as code of the server's node, and every operation of a clerk
//! (the tester's shard master clerk's too) as code of the clerk's own node (`labtest::OnNode`):
//! what lab code spawns, and what it panics, is its own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim;
use labrpc::{ClientEnd, Network, Service};
use labtest::{Boot, Cluster, EndMaker, Links, OnNode, ServerKind, ServerName};
use parking_lot::Mutex;
use raft::Persister;
use shardkv::api::{Clerk, ShardKv};
use shardkv::MakeEnd;
use shardmaster::{Config as ShardConfig, Gid};
use tokio::task::JoinHandle;

use crate::masters::ShardMasters;

/// Shard master servers.
const NCTRLERS: usize = 3;
/// Replica groups.
const NGROUPS: usize = 3;
/// Servers per replica group.
const N: usize = 3;
/// Group index `gi` is gid `FIRST_GID + gi`.
const FIRST_GID: Gid = 100;

/// The servers of the replica group `gid` as the cluster starts them (MIT's
/// `StartServer(gi, i)`): server `i` is "server-<gid>-<i>" (the name the group joins with),
/// with ends to its group, to the shard masters, and its own `make_end` for other groups.
struct GroupServers {
    gid: Gid,
    max_raft_state: Option<usize>,
    ends: EndMaker,
    wires: Arc<Mutex<Wires>>,
}

/// Not in MIT's tester: the ends made on demand (servers' `make_end` to other groups, clerks'
/// to the groups), so that a test can hold their messages back or cut a server off
/// ([`ShardKvTester::hold_requests`], [`ShardKvTester::hold_replies`],
/// [`ShardKvTester::cut_off`]). What a test asks for applies to the ends made so far and to
/// those made later.
#[derive(Default)]
struct Wires {
    /// Every end made on demand: its owner (a server's or a clerk's node), the server it goes
    /// to, and its name.
    made: Vec<(String, String, String)>,
    /// (owner, server) pairs whose requests are held back.
    held_requests: BTreeSet<(String, String)>,
    /// (owner, server) pairs whose replies are held back.
    held_replies: BTreeSet<(String, String)>,
    /// Servers cut off: no end made on demand to or from them works.
    cut: BTreeSet<String>,
}

impl Wires {
    /// Sets up a new end from `owner` to `server` as the test asked so far.
    fn wire(&self, net: &Network, owner: &str, server: &str, end: &str) {
        let pair = (owner.to_string(), server.to_string());
        if self.held_requests.contains(&pair) {
            net.hold_requests(end, true);
        }
        if self.held_replies.contains(&pair) {
            net.hold_replies(end, true);
        }
        if self.cut.contains(owner) || self.cut.contains(server) {
            net.enable(end, false);
        }
    }
}

/// What [`ShardKvTester::hold_requests`] and [`ShardKvTester::hold_replies`] hold back.
#[derive(Clone, Copy)]
enum Held {
    Requests,
    Replies,
}

/// A `make_end` for `owner` that makes its ends through `ends`, recorded in `wires`.
fn make_end(ends: &EndMaker, wires: &Arc<Mutex<Wires>>, owner: String) -> MakeEnd {
    let make = ends.on_demand(owner.clone());
    let (net, wires) = (ends.net().clone(), wires.clone());
    Arc::new(move |server: &str| -> ClientEnd {
        let end = make(server);
        let mut wires = wires.lock();
        wires.wire(&net, &owner, server, end.name());
        let made = (owner.clone(), server.to_string(), end.name().to_string());
        wires.made.push(made);
        end
    })
}

impl ServerKind for GroupServers {
    type Handle = ShardKv;
    type Persister = Persister;

    fn name(&self, i: usize) -> ServerName {
        ServerName::same(format!("server-{}-{i}", self.gid))
    }

    fn copy(persister: &Persister) -> Persister {
        persister.copy()
    }

    fn start(&self, boot: Boot<Persister>) -> ShardKv {
        let make_end = make_end(&self.ends, &self.wires, boot.node.name().to_string());
        let (max, gid) = (self.max_raft_state, self.gid);
        let Boot {
            me,
            ends,
            others: masters,
            persister,
            node,
        } = boot;
        node.enter(|| ShardKv::new(ends, me, persister, max, gid, masters, make_end))
    }

    fn services(kv: &ShardKv) -> Vec<Service> {
        kv.services()
    }

    fn kill(kv: &ShardKv) {
        kv.kill();
    }
}

/// A shardkv clerk made by the tester ([`ShardKvTester::make_client`]), with the methods of
/// `shardkv::Clerk`, on a node of its own, which never crashes (see [`OnNode`]).
pub struct TestClerk(OnNode<Clerk>);

impl TestClerk {
    /// `Clerk::get`.
    pub async fn get(&mut self, key: &str) -> String {
        let args = format!("{key:?}");
        self.0.call("Get", &args, |ck| ck.get(key)).await
    }

    /// `Clerk::put`.
    pub async fn put(&mut self, key: &str, value: &str) {
        let args = format!("{key:?}");
        self.0.call("Put", &args, |ck| ck.put(key, value)).await
    }

    /// `Clerk::append`.
    pub async fn append(&mut self, key: &str, value: &str) {
        let args = format!("{key:?}");
        self.0
            .call("Append", &args, |ck| ck.append(key, value))
            .await
    }
}

/// MIT's shardkv `config`: the shard masters, the replica groups, and the tester's own shard
/// master clerk.
pub struct ShardKvTester {
    ends: EndMaker,
    max_raft_state: Option<usize>,
    /// The shard master servers, kept running for the whole test.
    ctrlers: Cluster<ShardMasters>,
    /// Group index `gi` is gid `FIRST_GID + gi`.
    groups: Vec<Cluster<GroupServers>>,
    /// The tester's own shard master clerk (MIT's `mck`), on its node. An async lock: calls
    /// await under it.
    mck: tokio::sync::Mutex<OnNode<shardmaster::api::Clerk>>,
    /// The ends made on demand, shared with every server's and clerk's `make_end`.
    wires: Arc<Mutex<Wires>>,
}

impl ShardKvTester {
    /// MIT's `make_config(t, n, unreliable, maxraftstate)` with n = 3: starts the shard master
    /// servers and every server of the three groups (none joined yet), then makes the network
    /// unreliable if asked.
    pub fn new(unreliable: bool, max_raft_state: Option<usize>) -> Arc<ShardKvTester> {
        let ends = EndMaker::new(Network::new());
        // Every end is up from its start, as in MIT's shardkv tester, which never partitions.
        let ctrlers = Cluster::new(
            // MIT's `StartCtrlerserver(i)`: "ctrler<i>". They never crash in these tests.
            ShardMasters {
                name: |i| ServerName::same(format!("ctrler{i}")),
            },
            &ends,
            Links::AlwaysUp,
            NCTRLERS,
        );
        ctrlers.start_all();
        let wires = Arc::new(Mutex::new(Wires::default()));
        let groups = (0..NGROUPS)
            .map(|gi| {
                let kind = GroupServers {
                    gid: FIRST_GID + gi as Gid,
                    max_raft_state,
                    ends: ends.clone(),
                    wires: wires.clone(),
                };
                Cluster::new(kind, &ends, Links::AlwaysUp, N).with_ends_to(ctrlers.server_names())
            })
            .collect();
        let (_, mck_ends) = ctrlers.client_ends("mck");
        let mck = OnNode::new("mck", || shardmaster::api::Clerk::new(mck_ends));
        let cfg = Arc::new(ShardKvTester {
            ends,
            max_raft_state,
            ctrlers,
            groups,
            mck: tokio::sync::Mutex::new(mck),
            wires,
        });
        for gi in 0..NGROUPS {
            cfg.start_group(gi);
        }
        cfg.net().set_reliable(!unreliable);
        let watched = Arc::downgrade(&cfg);
        labtest::fail_without_a_leader("the shard masters", raft::REFERENCE, move || {
            watched
                .upgrade()
                .is_none_or(|cfg| cfg.ctrlers.find_running(|sm| sm.get_state().1).is_some())
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
        self.groups[gi]
            .find_running(|kv| kv.get_state().1)
            .is_some()
    }

    /// The gid of group index `gi`.
    pub fn gid(&self, gi: usize) -> Gid {
        self.groups[gi].kind().gid
    }

    /// The network (to make it reliable again).
    pub fn net(&self) -> &Network {
        self.ends.net()
    }

    /// MIT's `makeClient`: a clerk with fresh ends to every shard master server (in random
    /// order) and its own `make_end`.
    pub fn make_client(&self) -> TestClerk {
        let owner = self.ends.fresh_name("clerk");
        let (_, mut ends) = self.ctrlers.client_ends(&owner);
        sim::shuffle(&mut ends);
        let make_end = make_end(&self.ends, &self.wires, owner.clone());
        TestClerk(OnNode::new(owner, || Clerk::new(ends, make_end)))
    }

    /// The name of server `i` of group index `gi` (as in the configurations' groups).
    pub fn server_name(&self, gi: usize, i: usize) -> String {
        self.groups[gi].server_name(i)
    }

    /// The server of group index `gi` that believes it leads in the highest term, if any (a
    /// server cut off from its group may still believe it leads an older term).
    pub fn leader(&self, gi: usize) -> Option<usize> {
        let mut leader: Option<(u64, usize)> = None;
        self.groups[gi].for_each_running(|i, kv| {
            let (term, leads) = kv.enter(|kv| kv.get_state());
            if leads && leader.is_none_or(|(t, _)| term > t) {
                leader = Some((term, i));
            }
        });
        leader.map(|(_, i)| i)
    }

    /// Not in MIT's tester: holds back (`true`) or lets go (`false`) the requests that server
    /// `i` of group index `gi` sends to the servers of group index `to` (its `make_end`'s ends:
    /// Pulls and the like). See `Network::hold_requests`: a held request waits before dispatch,
    /// and is dispatched when let go.
    pub fn hold_requests(&self, gi: usize, i: usize, to: usize, hold: bool) {
        self.hold(gi, i, to, Held::Requests, hold);
    }

    /// Not in MIT's tester: holds back (`true`) or lets go (`false`) the replies to the requests
    /// that server `i` of group index `gi` sends to the servers of group index `to`. See
    /// `Network::hold_replies`: the handler has run, and its reply waits until let go.
    pub fn hold_replies(&self, gi: usize, i: usize, to: usize, hold: bool) {
        self.hold(gi, i, to, Held::Replies, hold);
    }

    fn hold(&self, gi: usize, i: usize, to: usize, what: Held, hold: bool) {
        let owner = self.server_name(gi, i);
        let servers = self.groups[to].server_names();
        let mut wires = self.wires.lock();
        let set = match what {
            Held::Requests => &mut wires.held_requests,
            Held::Replies => &mut wires.held_replies,
        };
        for server in &servers {
            let pair = (owner.clone(), server.clone());
            if hold {
                set.insert(pair);
            } else {
                set.remove(&pair);
            }
        }
        for (o, server, end) in &wires.made {
            if *o == owner && servers.contains(server) {
                match what {
                    Held::Requests => self.net().hold_requests(end, hold),
                    Held::Replies => self.net().hold_replies(end, hold),
                }
            }
        }
    }

    /// Not in MIT's tester (whose groups are never partitioned): cuts server `i` of group index
    /// `gi` off (`true`) from the other servers of its group, from the other groups and from
    /// the clerks, both ways, or connects it again (`false`). Its ends to the shard masters stay
    /// up. It keeps running, and may go on believing it leads.
    pub fn cut_off(&self, gi: usize, i: usize, cut: bool) {
        let group = &self.groups[gi];
        let name = self.server_name(gi, i);
        let mut wires = self.wires.lock();
        if cut {
            wires.cut.insert(name.clone());
        } else {
            wires.cut.remove(&name);
        }
        for j in (0..group.n()).filter(|&j| j != i) {
            let up = !cut && !wires.cut.contains(&group.server_name(j));
            self.net().enable(&group.end_name(i, j), up);
            self.net().enable(&group.end_name(j, i), up);
        }
        for (owner, server, end) in &wires.made {
            if *owner == name || *server == name {
                let up = !wires.cut.contains(owner) && !wires.cut.contains(server);
                self.net().enable(end, up);
            }
        }
    }

    /// MIT's `StartServer(gi, i)`: fresh ends to the group and to the shard masters, a copy of
    /// the persister, and every service of the server under its name.
    pub fn start_server(&self, gi: usize, i: usize) {
        self.groups[gi].start(i);
    }

    /// MIT's `ShutdownServer(gi, i)`: stop the server sending (its ends to the group and the
    /// shard masters), delete it from the network before replacing its persister (so that no
    /// reply promises what the replaced persister lost), keep a copy of the persister, kill it,
    /// and crash its node (which aborts every task it started, including RPCs to other groups).
    pub fn shutdown_server(&self, gi: usize, i: usize) {
        self.groups[gi].crash(i);
    }

    /// MIT's `StartGroup`.
    pub fn start_group(&self, gi: usize) {
        self.groups[gi].start_all();
    }

    /// MIT's `ShutdownGroup`.
    pub fn shutdown_group(&self, gi: usize) {
        self.groups[gi].crash_all();
    }

    /// Each group's servers by name, for a Join.
    fn groups_for(&self, gis: &[usize]) -> BTreeMap<Gid, Vec<String>> {
        gis.iter()
            .map(|&gi| (self.gid(gi), self.groups[gi].server_names()))
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
        mck.enter_async(|ck| ck.join(groups)).await;
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
        mck.enter_async(|ck| ck.leave(gids)).await;
    }

    /// The latest configuration, through the tester's clerk (MIT's `cfg.mck.Query(-1)`).
    pub async fn query(&self) -> ShardConfig {
        let _in_flight = labtest::clerk_call("mck", "Query", "None");
        let mut mck = self.mck.lock().await;
        mck.enter_async(|ck| ck.query(None)).await
    }

    /// MIT's `checklogs`: with snapshots, every server's persisted Raft state is at most
    /// 8 x maxraftstate; without, no server has a snapshot.
    #[track_caller]
    pub fn checklogs(&self) {
        for (gi, group) in self.groups.iter().enumerate() {
            let gid = self.gid(gi);
            for (i, saved) in group.persisters().iter().enumerate() {
                let raft = saved.raft_state_size();
                let snap = saved.snapshot_size();
                match self.max_raft_state {
                    Some(max) => assert!(
                        raft <= 8 * max,
                        "server {i} of group {gid}: persister.raft_state_size() {raft}, \
                         but maxraftstate {max}",
                    ),
                    None => assert!(
                        snap == 0,
                        "server {i} of group {gid}: maxraftstate is None, but snapshot is \
                         non-empty ({snap} bytes)",
                    ),
                }
            }
        }
    }

    /// Persisted Raft state plus snapshot, summed over every server of every group.
    pub fn total_persisted(&self) -> usize {
        let persisters = self.groups.iter().flat_map(Cluster::persisters);
        persisters
            .map(|saved| saved.raft_state_size() + saved.snapshot_size())
            .sum()
    }
}

/// MIT's shardkv tests print no statistics; the run's RPCs (every call on the tester's network,
/// to the shard masters and the groups) still reach tools, on the `lab-result` line.
impl Drop for ShardKvTester {
    fn drop(&mut self) {
        labtest::report::record_rpcs(self.net().total_count());
    }
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
    pub fn start(
        cfg: &ShardKvTester,
        ka: &[String],
        va: &[String],
        len: usize,
        pause: Duration,
    ) -> Self {
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
