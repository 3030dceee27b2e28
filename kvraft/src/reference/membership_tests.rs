//! The reference service on a Raft cluster whose membership changes (raft's lab 2F): clerks
//! keep working, and their history stays linearizable, while every server of the cluster is
//! replaced, one at a time or all at once.
//!
//! A universe of six servers starts as the configuration {0, 1, 2}; servers 3, 4 and 5 are
//! started later, when they are to join, and learn everything from the leader: with
//! `max_raft_state` small, the log they need is long gone, so they catch up through
//! InstallSnapshot. Clerks have ends to all six and find the servers that answer by themselves.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim::{self, Node};
use labtest::linearizability::kv::{KvInput, KvRefModel, KvRefOperation};
use labtest::linearizability::{assert_linearizable, Stamp, Stamps, CHECK_BUDGET};
use parking_lot::Mutex;
use raft::{ConfigChange, ConfigError, Configuration};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

use super::tests::{run, Cluster};
use super::Clerk;

/// Small, so that servers snapshot often and joiners catch up through InstallSnapshot.
const MAX_RAFT_STATE: usize = 1000;

/// Clerks running the workload at once.
const CLERKS: usize = 3;

/// Keys the workload uses: few, so that clerks often touch the same key at once.
const KEYS: u64 = 4;

/// How long one change may take to commit, retries included: elections after a leader removed
/// itself, catching up a joiner, and the leader's refusals until an entry of its term commits.
const CHANGE_WITHIN: Duration = Duration::from_secs(10);

/// How long to wait for an appended change to be applied before asking a leader again (the
/// entry may have been cut by a new leader, or applied only where a snapshot then hid it).
const APPLY_WITHIN: Duration = Duration::from_secs(2);

/// The pause between tries of a change that a leader refused for now, or found no leader for.
const RETRY: Duration = Duration::from_millis(20);

/// How long the clerks may take to finish their operation in flight once told to stop.
const CLERKS_FINISH_WITHIN: Duration = Duration::from_secs(10);

/// How long the workload may take to fill the servers' logs up to a snapshot.
const SNAPSHOTS_WITHIN: Duration = Duration::from_secs(10);

/// How long the workload runs between membership changes, and before the end.
const BETWEEN_CHANGES: Duration = Duration::from_secs(1);

/// Latest a leader crashes after appending a change: a few round trips (5 ms each).
const CRASH_WITHIN_MS: u64 = 25;

/// Longest a leader that crashed in the middle of a change stays down.
const CRASHED_FOR_MS: u64 = 500;

/// What goes wrong during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Faults {
    /// Nothing: a reliable network.
    None,
    /// An unreliable network: requests delayed up to 26 ms, a tenth of requests and of
    /// replies lost.
    Unreliable,
    /// A reliable network, but the leader that appends a change (its first try) crashes
    /// within [`CRASH_WITHIN_MS`], and restarts from its persister up to [`CRASHED_FOR_MS`]
    /// later: the change commits through the next leader, or is cut and asked for again.
    LeaderCrashes,
}

/// One clerk operation, as the history records it.
struct Record {
    client: usize,
    input: KvInput,
    /// The value a Get read ("" for Put and Append).
    output: String,
    call: Stamp,
    ret: Stamp,
}

/// Every clerk operation of a run, stamped in virtual time.
#[derive(Default)]
struct History {
    stamps: Stamps,
    records: Mutex<Vec<Record>>,
}

impl History {
    /// Runs one operation through `ck` and records it as `client`'s.
    async fn op(&self, ck: &mut Clerk, client: usize, input: KvInput) -> String {
        let call = self.stamps.now();
        let output = match &input {
            KvInput::Get(key) => ck.get(key).await,
            KvInput::Put(key, value) => {
                ck.put(key, value).await;
                String::new()
            }
            KvInput::Append(key, value) => {
                ck.append(key, value).await;
                String::new()
            }
        };
        let ret = self.stamps.now();
        let record = Record {
            client,
            input,
            output: output.clone(),
            call,
            ret,
        };
        self.records.lock().push(record);
        output
    }

    /// Fails the test unless the history is linearizable (the checker's report says where).
    fn check(&self) {
        let records = self.records.lock();
        let ops: Vec<KvRefOperation> = records
            .iter()
            .map(|r| {
                let output = r.output.as_str();
                KvRefOperation::stamped(r.client, r.input.clone(), output, r.call, r.ret)
            })
            .collect();
        assert_linearizable(
            &KvRefModel::default(),
            ops,
            Some(CHECK_BUDGET),
            "kvraft history across membership changes",
        );
    }
}

/// The clerks of a run and what they record.
struct Workload {
    history: Arc<History>,
    /// Tells the clerks to stop after their operation in flight.
    stop: Arc<AtomicBool>,
    /// Each returns how many operations it completed.
    clerks: Vec<JoinHandle<usize>>,
}

/// Starts `CLERKS` clerks, each on a node of its own with ends to every server of the
/// universe, running random Puts, Appends and Gets until told to stop.
fn start_clerks(cluster: &mut Cluster) -> Workload {
    let history = Arc::new(History::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clerks = (0..CLERKS)
        .map(|client| {
            cluster.generation += 1;
            let ends = cluster.ends(&format!("clerk-{client}.{}", cluster.generation));
            let (history, stop) = (history.clone(), stop.clone());
            Node::new(format!("clerk-{client}")).spawn(async move {
                let mut ck = Clerk::new(ends);
                let mut done = 0;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("k{}", sim::random_range(0..KEYS));
                    // Unique values, so that a wrong order of writes shows in what is read.
                    let value = format!("{client}.{done};");
                    let input = match sim::random_range(0..10) {
                        0..=3 => KvInput::Get(key),
                        4..=7 => KvInput::Append(key, value),
                        _ => KvInput::Put(key, value),
                    };
                    history.op(&mut ck, client, input).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    Workload {
        history,
        stop,
        clerks,
    }
}

/// The server that leads, if any claims to (the one with the latest term, should a deposed
/// leader not know yet).
fn leader(cluster: &Cluster) -> Option<usize> {
    (0..cluster.n)
        .filter_map(|i| {
            let (term, leads) = cluster.on_server(i, |kv| kv.get_state())?;
            leads.then_some((term, i))
        })
        .max()
        .map(|(_, i)| i)
}

/// Whether some live server has applied `target` at `index` or later: then it is committed.
/// (A server applies only committed entries, and committed entries are the same everywhere.)
fn applied(cluster: &Cluster, index: u64, target: &Configuration) -> bool {
    (0..cluster.n).any(|i| {
        cluster
            .on_server(i, |kv| kv.applied_configuration())
            .flatten()
            .is_some_and(|(at, config)| at >= index && config == *target)
    })
}

/// Asks whichever server leads for `change` until `target` (the configuration it leads to:
/// for a joint change, the final one, which the leader appends itself) has committed. Panics
/// if that takes more than [`CHANGE_WITHIN`]. With [`Faults::LeaderCrashes`], the leader
/// that appended the first try crashes soon after, and comes back.
async fn change(
    cluster: &mut Cluster,
    change: ConfigChange,
    target: &Configuration,
    faults: Faults,
) {
    let _step = sim::step(format!("committing {change:?}, to {:?}", target.voters));
    let deadline = Instant::now() + CHANGE_WITHIN;
    let mut crash_leader = faults == Faults::LeaderCrashes;
    loop {
        assert!(
            Instant::now() < deadline,
            "{change:?} did not commit {target:?} within {CHANGE_WITHIN:?}"
        );
        let Some(leader) = leader(cluster) else {
            sleep(RETRY).await;
            continue;
        };
        let asked = cluster.on_server(leader, |kv| {
            (kv.change_config(change.clone()), kv.configuration())
        });
        let Some((result, latest)) = asked else {
            sleep(RETRY).await;
            continue;
        };
        match result {
            Ok((index, _)) => {
                if !matches!(change, ConfigChange::Joint(_)) {
                    assert_eq!(latest, *target, "{change:?} appended something else");
                }
                if std::mem::take(&mut crash_leader) {
                    // At once, the entry is lost with the leader; a few round trips later,
                    // some followers have it, or it has committed.
                    let after = sim::random_range(0..CRASH_WITHIN_MS);
                    sleep(Duration::from_millis(after)).await;
                    cluster.crash(leader);
                    let down = sim::random_range(0..CRASHED_FOR_MS);
                    sleep(Duration::from_millis(down)).await;
                    cluster.start(leader);
                }
                let applied_by = Instant::now() + APPLY_WITHIN;
                while Instant::now() < applied_by && !applied(cluster, index, target) {
                    sleep(RETRY).await;
                }
                if applied(cluster, index, target) {
                    return;
                }
                // Not seen applied: cut by a new leader, or hidden by snapshots. Ask again.
            }
            // A leader gets this far only with an entry of its term committed and no change in
            // flight, so its configuration is committed: an earlier try that we did not see
            // applied made the change already.
            Err(ConfigError::Invalid) => {
                assert_eq!(latest, *target, "{change:?} refused as invalid");
                return;
            }
            // NoEntryOfTerm: the server proposed a no-op (and the clerks write anyway);
            // ChangeInProgress: the previous change (or a joint one's second half) has not
            // committed yet. Either way a retry soon may succeed.
            Err(
                ConfigError::NotLeader | ConfigError::NoEntryOfTerm | ConfigError::ChangeInProgress,
            ) => sleep(RETRY).await,
        }
    }
}

/// Waits until every live server has taken a snapshot, so that the log a server joining now
/// needs is compacted away on the leader and it must catch up through InstallSnapshot.
async fn wait_for_snapshots(cluster: &Cluster) {
    let _step = sim::step("waiting for every server to snapshot");
    let deadline = Instant::now() + SNAPSHOTS_WITHIN;
    let live = || (0..cluster.n).filter(|&i| cluster.servers[i].is_some());
    while live().any(|i| cluster.persisters[i].snapshot_size() == 0) {
        assert!(
            Instant::now() < deadline,
            "the servers took no snapshot within {SNAPSHOTS_WITHIN:?} of workload"
        );
        sleep(RETRY).await;
    }
}

/// Stops the clerks and waits for their operations in flight, each within
/// [`CLERKS_FINISH_WITHIN`]; the operations they completed.
async fn stop_clerks(stop: &AtomicBool, clerks: Vec<JoinHandle<usize>>) -> Vec<usize> {
    let _step = sim::step("waiting for the clerks' last operations");
    stop.store(true, Ordering::SeqCst);
    let mut done = Vec::new();
    for (client, clerk) in clerks.into_iter().enumerate() {
        let ops = timeout(CLERKS_FINISH_WITHIN, clerk)
            .await
            .unwrap_or_else(|_| {
                panic!("clerk {client}'s operation did not return within {CLERKS_FINISH_WITHIN:?}")
            })
            .expect("a clerk's task failed");
        done.push(ops);
    }
    done
}

/// The end of a run: every clerk stopped having completed operations, a new clerk's Gets of
/// every key (recorded with the rest) read the last values, the whole history is
/// linearizable, and the servers that remain go by `last`. Returns after printing the costs.
async fn finish(mut cluster: Cluster, workload: Workload, last: &Configuration, started: Instant) {
    let Workload {
        history,
        stop,
        clerks,
    } = workload;
    let done = stop_clerks(&stop, clerks).await;
    assert!(
        done.iter().all(|&ops| ops > 0),
        "a clerk completed no operation: {done:?}"
    );
    {
        let _step = sim::step("final Gets through a new clerk");
        let mut ck = cluster.clerk();
        for k in 0..KEYS {
            let key = format!("k{k}");
            let written = history.records.lock().iter().any(|r| match &r.input {
                KvInput::Put(written, _) | KvInput::Append(written, _) => *written == key,
                KvInput::Get(_) => false,
            });
            let value = history.op(&mut ck, CLERKS, KvInput::Get(key)).await;
            // Every value written is non-empty: a written key that reads "" lost its value.
            // (The linearizability check below says whether it is the right one.)
            assert_eq!(!value.is_empty(), written, "k{k} read {value:?}");
        }
    }
    history.check();
    for i in 0..cluster.n {
        let config = cluster.on_server(i, |kv| kv.configuration());
        let expected = last.contains(i).then(|| last.clone());
        assert_eq!(config, expected, "server {i}'s configuration");
    }
    // Each joiner was started after the leader's log was compacted, so each needed one.
    let snapshots = cluster.net.method_count("Raft.InstallSnapshot");
    let joiners = (0..cluster.n).filter(|&i| last.contains(i)).count() as u64;
    assert!(
        snapshots >= joiners,
        "{snapshots} InstallSnapshot RPCs for {joiners} servers that joined"
    );
    println!(
        "{:?} virtual, {} clerk operations {done:?}, {} RPCs ({snapshots} InstallSnapshot)",
        started.elapsed(),
        done.iter().sum::<usize>(),
        cluster.net.total_count(),
    );
}

/// A universe of six servers, configuration {0, 1, 2}, on a network that is reliable or not
/// as `faults` says, and clerks running the workload on it.
fn start(faults: Faults) -> (Cluster, Workload) {
    let mut cluster =
        Cluster::with_membership(6, Some(MAX_RAFT_STATE), Configuration::of([0, 1, 2]));
    cluster.net.set_reliable(faults != Faults::Unreliable);
    let workload = start_clerks(&mut cluster);
    (cluster, workload)
}

/// Every server of {0, 1, 2} is replaced by one of {3, 4, 5}, one at a time (single-server
/// changes): add the new one, wait until that commits, remove an old one, wait, stop it;
/// meanwhile clerks run a random workload. The service stays available and linearizable, and
/// the joiners, started long after the log began, catch up through snapshots.
async fn replace_every_server(faults: Faults) {
    let started = Instant::now();
    let (mut cluster, workload) = start(faults);
    let mut voters: BTreeSet<usize> = [0, 1, 2].into();
    for (old, new) in [(0, 3), (1, 4), (2, 5)] {
        sleep(BETWEEN_CHANGES).await;
        wait_for_snapshots(&cluster).await;
        cluster.start(new);
        voters.insert(new);
        let target = Configuration::of(voters.clone());
        change(&mut cluster, ConfigChange::AddVoter(new), &target, faults).await;
        voters.remove(&old);
        let target = Configuration::of(voters.clone());
        change(
            &mut cluster,
            ConfigChange::RemoveVoter(old),
            &target,
            faults,
        )
        .await;
        cluster.crash(old);
    }
    sleep(BETWEEN_CHANGES).await;
    let last = Configuration::of(voters);
    finish(cluster, workload, &last, started).await;
}

/// {0, 1, 2} becomes {3, 4, 5} in one joint-consensus change: through the joint configuration
/// (a majority of each) to the new one, which the leader appends itself, then steps down as it
/// is no longer a voter. The old servers stop only once the new configuration has committed.
async fn move_to_new_servers_at_once(faults: Faults) {
    let started = Instant::now();
    let (mut cluster, workload) = start(faults);
    sleep(BETWEEN_CHANGES).await;
    wait_for_snapshots(&cluster).await;
    for new in 3..6 {
        cluster.start(new);
    }
    let last = Configuration::of([3, 4, 5]);
    let joint = ConfigChange::Joint(last.voters.clone());
    change(&mut cluster, joint, &last, faults).await;
    for old in 0..3 {
        cluster.crash(old);
    }
    sleep(BETWEEN_CHANGES).await;
    finish(cluster, workload, &last, started).await;
}

#[test]
fn kv_service_survives_replacing_every_server() {
    run(|| replace_every_server(Faults::None));
}

#[test]
fn kv_service_survives_replacing_every_server_unreliable() {
    run(|| replace_every_server(Faults::Unreliable));
}

#[test]
fn kv_service_survives_replacing_every_server_leader_crashes() {
    run(|| replace_every_server(Faults::LeaderCrashes));
}

#[test]
fn kv_service_survives_a_joint_move_to_new_servers() {
    run(|| move_to_new_servers_at_once(Faults::None));
}

#[test]
fn kv_service_survives_a_joint_move_to_new_servers_unreliable() {
    run(|| move_to_new_servers_at_once(Faults::Unreliable));
}

#[test]
fn kv_service_survives_a_joint_move_to_new_servers_leader_crashes() {
    run(|| move_to_new_servers_at_once(Faults::LeaderCrashes));
}
