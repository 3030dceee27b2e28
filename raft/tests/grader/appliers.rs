//! MIT's appliers and what they know: every entry a peer applies is checked against what every
//! other peer applied at that index, and with snapshots the tester's own snapshot (the applied
//! log) goes back to Raft every `SNAPSHOT_INTERVAL` entries.
//!
//! Beyond MIT: the snapshot applier is a service that takes time ([`ServiceTime`]), so that
//! Raft meets a service that lags behind it, as a real one does; and it refuses a snapshot
//! older than what it has applied (the handout's 2D rule), which MIT's `ingestSnap` accepts.

use std::sync::Arc;
use std::time::Duration;

use labrpc::sim::{self, SimRng};
use parking_lot::Mutex;
use raft::ApplyMsg;
use tokio::sync::mpsc;

use crate::tester::{sleep, Cmd, PeerRaft, SNAPSHOT_INTERVAL};

/// What the appliers know: per peer, the commands it applied by index.
///
/// Each peer's log is a vector indexed by log index (`None` where the peer applied nothing,
/// index 0 included), as MIT's tester keeps a map: every check costs the same however long
/// the log. (A `BTreeMap` per peer made each check a few searches of a tree as large as the
/// log; without snapshots a restarted peer applies its whole log again, so a long run's
/// checks grew with the square of its length, 10% of its CPU at 150 s: issue 16.) The same
/// layout as the tester's snapshots, so ingesting one is a move.
pub struct Applied {
    logs: Vec<Vec<Option<Cmd>>>,
    pub last_applied: Vec<u64>,
    pub max_index: u64,
    /// Commands checked so far, over every peer and incarnation (a restarted peer applies its
    /// log again): the work a long run's appliers do, for the benchmark.
    pub checked: u64,
}

impl Applied {
    /// Nothing applied yet by any of `n` peers.
    pub fn new(n: usize) -> Applied {
        Applied {
            logs: vec![Vec::new(); n],
            last_applied: vec![0; n],
            max_index: 0,
            checked: 0,
        }
    }

    /// What peer `i` applied at `index`, if anything.
    pub fn get(&self, i: usize, index: u64) -> Option<&Cmd> {
        self.logs[i].get(index as usize)?.as_ref()
    }

    /// How many peers there are.
    pub fn peers(&self) -> usize {
        self.logs.len()
    }

    /// Peer `i` restarts: it applies from the start again, or from its snapshot if it has one
    /// (imitating a service that restores its state from the snapshot).
    pub fn restart(&mut self, i: usize, snapshot: &[u8]) -> Result<(), String> {
        self.last_applied[i] = 0;
        if snapshot.is_empty() {
            return Ok(());
        }
        self.ingest(i, snapshot, None)
    }

    /// MIT's `checkLogs`: no other peer may have applied a different command at this index.
    /// Returns an error message, and whether `index - 1` was applied before.
    pub fn check(&mut self, i: usize, index: u64, cmd: &Cmd) -> (Option<String>, bool) {
        let mut err = None;
        for j in 0..self.peers() {
            if let Some(old) = self.get(j, index) {
                if old != cmd {
                    err = Some(format!(
                        "commit index={index} server={i} {cmd:?} != server={j} {old:?} \
                         (two peers applied different commands at the same index)"
                    ));
                }
            }
        }
        let prev_ok = self.get(i, index - 1).is_some();
        self.checked += 1;
        let log = &mut self.logs[i];
        let at = index as usize;
        if log.len() <= at {
            log.resize(at + 1, None);
        }
        log[at] = Some(cmd.clone());
        self.max_index = self.max_index.max(index);
        (err, prev_ok)
    }

    /// MIT's `ingestSnap`: a snapshot replaces what the peer has applied. `index` is the
    /// snapshot's index as Raft sent it on the apply channel (`None` for the snapshot a
    /// restarted peer restores from its persister).
    ///
    /// Beyond MIT: a snapshot Raft sends must not be older than what the peer has applied
    /// (handout, 2D: "Never send the service a snapshot older than what it has applied"): it
    /// would roll the service back, and the commands after it would be applied a second time.
    /// MIT's tester accepts it, and since Raft then sends those commands again, in order, its
    /// checks see nothing wrong. An equal index is fine: a restarted Raft may send the snapshot
    /// the service restored from.
    pub fn ingest(&mut self, i: usize, snapshot: &[u8], index: Option<u64>) -> Result<(), String> {
        let (last, xlog): (u64, Vec<Option<Cmd>>) = labgob::decode(snapshot)
            .map_err(|e| format!("server {i}: snapshot does not decode: {e}"))?;
        if index.is_some_and(|index| index != last) {
            return Err(format!(
                "server {i} snapshot doesn't match the snapshot index {index:?}"
            ));
        }
        let applied = self.last_applied[i];
        if index.is_some() && last < applied {
            return Err(format!(
                "server {i} got a snapshot through index {last} after it had applied through \
                 index {applied}: Raft must never send the service a snapshot older than what \
                 it has applied (it would roll the service back, and the commands after {last} \
                 would be applied twice). Hint: an InstallSnapshot that reaches no further \
                 than the follower's commitIndex (a late or repeated one) adds nothing: ignore \
                 it"
            ));
        }
        self.logs[i] = xlog;
        self.last_applied[i] = last;
        Ok(())
    }
}

/// How long the services take (beyond MIT), shared by the tester and the appliers.
///
/// MIT's appliers, and this tester's until issue 15, consume what Raft sends in no time at all,
/// so Raft never meets a service that lags behind it. A real one does (it applies to a state
/// machine, writes, is descheduled), and the snapshot applier's call back into Raft is where it
/// shows: the service applies index `i`, builds its snapshot, and calls `snapshot(i)` a moment
/// later, when Raft may have installed a newer snapshot from the leader in between. Raft must
/// ignore such a call (handout, 2D); mutant `raft-snapshot-call-behind-not-ignored` does not.
///
/// With `random` (the default), the snapshot applier takes seeded random time (see
/// [`ServiceClock`] for the distribution and why it is safe for MIT's timing); the plain
/// applier takes none, since without snapshots nothing the service does is visible to Raft
/// (the apply channel is unbounded). A test may also stall one peer's service on purpose
/// ([`RaftTester::stall_service`](crate::tester::RaftTester::stall_service)), either applier.
pub struct ServiceTime {
    random: bool,
    /// Per peer: its service handles nothing before this virtual time.
    stalled_until: Vec<Duration>,
}

impl ServiceTime {
    /// `n` services, taking random time, none stalled.
    pub fn new(n: usize) -> ServiceTime {
        ServiceTime {
            random: true,
            stalled_until: vec![Duration::ZERO; n],
        }
    }

    /// Whether the snapshot applier takes random time (a directed test that times the services
    /// itself turns it off).
    pub fn set_random(&mut self, random: bool) {
        self.random = random;
    }

    /// Peer `i`'s service handles nothing more until `for_` from now: neither the next message
    /// nor, if it is between applying a command and calling `snapshot`, that call. A stall of
    /// zero ends a stall at once (within 10 ms).
    pub fn stall(&mut self, i: usize, for_: Duration) {
        self.stalled_until[i] = sim::now() + for_;
    }
}

/// Where the service takes time.
#[derive(Clone, Copy)]
enum Pause {
    /// Before handling the next message from Raft.
    Message,
    /// Between applying a command and calling `snapshot` with its index.
    Snapshot,
}

/// One service's time: draws its pauses from a random stream of its own and honours stalls.
///
/// The stream is derived from the run's seed and the peer's node (one per incarnation), not
/// drawn from the peer's node stream, so the pauses do not shift the draws Raft itself makes
/// (its election timeouts) and the same seed replays the same run.
///
/// The distribution, per pause:
///
/// | where | none | a few ms | far behind |
/// |---|---|---|---|
/// | before a message | 15/16 | 1/32: 1-10 ms | 1/32: 20-200 ms |
/// | before `snapshot(i)` | 1/2 | 3/8: 1-20 ms | 1/8: 100-1000 ms |
///
/// Why these: a snapshot call is made every `SNAPSHOT_INTERVAL` commands, so a long pause
/// there is cheap, and it must be long to reach the race it is for: Raft installing a newer
/// snapshot from the leader while the call is pending. MIT's 2D rounds end with `one()` on all
/// peers (which waits until every service applied the last command, though not for its
/// snapshot call) and then `check_one_leader`, which sleeps 450-549 ms; a follower cut off
/// next gets the leader's InstallSnapshot some hundreds of ms after it is reconnected. Only a
/// call held back by most of a second is still pending then, so MIT's schedules reach the race
/// rarely even so (on the reference, 2 times in seeds 1-100 of the six MIT 2D tests; pauses of
/// 1-2 s reach it on 17 seeds, but bring the longest test to 102 of its 120 virtual seconds).
/// `late_install_snapshot_2d` reaches it on purpose, with [`RaftTester::stall_service`]. Short
/// pauses, before messages and snapshot calls, let Raft's deliveries (a snapshot among them)
/// queue behind the service, as they do behind a real one.
///
/// Why it fails no correct Raft: no pause is longer than 1 s, against the 2 s MIT's `one()`
/// gives each attempt (every 2D `one()` retries, for 10 s in all) and the 5 s a new leader has,
/// and Raft's own timing is never affected (the apply channel is unbounded; a Raft that blocks
/// on its service holding its lock is a bug anyway). A service that is behind calls `snapshot`
/// late, so a peer's log grows by the commands of the pause: a round or so, far below
/// `MAX_LOG_SIZE`. The 2D tests take about 10% more virtual time (seeds 1-100 on the
/// reference: "install snapshots (disconnect+unreliable)", the longest, 68 s on average instead
/// of 62, at most 82 s instead of 78, of the 120 s limit).
///
/// [`RaftTester::stall_service`]: crate::tester::RaftTester::stall_service
pub struct ServiceClock {
    i: usize,
    time: Arc<Mutex<ServiceTime>>,
    /// `None`: no random pauses (the plain applier), stalls only.
    rng: Option<SimRng>,
}

impl ServiceClock {
    /// The clock of peer `i`'s service on simulation node `node` (an incarnation's node id).
    pub fn new(i: usize, node: u32, time: Arc<Mutex<ServiceTime>>, random: bool) -> Self {
        /// Far above any node's stream number (nodes use theirs from 1 up).
        const SERVICE_STREAMS: u64 = 0x5e57_1ce0 << 32;
        ServiceClock {
            i,
            time,
            rng: random.then(|| SimRng::derive(sim::seed(), SERVICE_STREAMS + u64::from(node))),
        }
    }

    /// Takes this pause's time: a random draw (if random), and as long as the service is stalled.
    async fn pause(&mut self, at: Pause) {
        let draw = match &mut self.rng {
            Some(rng) if self.time.lock().random => {
                let ms = |rng: &mut SimRng, lo: u64, hi: u64| lo + rng.below(hi - lo + 1);
                let r = rng.below(32);
                match at {
                    Pause::Message if r < 30 => 0,
                    Pause::Message if r < 31 => ms(rng, 1, 10),
                    Pause::Message => ms(rng, 20, 200),
                    Pause::Snapshot if r < 16 => 0,
                    Pause::Snapshot if r < 28 => ms(rng, 1, 20),
                    Pause::Snapshot => ms(rng, 100, 1000),
                }
            }
            _ => 0,
        };
        // The usual case, no pause and no stall ever, reads no clock: the plain applier comes
        // here for every command, and a restarted peer applies its whole log again.
        if draw == 0 && self.time.lock().stalled_until[self.i].is_zero() {
            return;
        }
        let mut now = sim::now();
        let drawn_until = now + Duration::from_millis(draw);
        loop {
            let until = drawn_until.max(self.time.lock().stalled_until[self.i]);
            if now >= until {
                return;
            }
            // A stall may be ended early: look again every 10 ms.
            sleep((until - now).min(Duration::from_millis(10))).await;
            now = sim::now();
        }
    }
}

/// MIT's `applier`: checks each applied command against all peers, and that none is skipped.
/// Takes no time unless the tester stalls it (see [`ServiceTime`]).
pub async fn applier(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    mut clock: ServiceClock,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
        clock.pause(Pause::Message).await;
        let ApplyMsg::Command { index, command } = msg else {
            continue;
        };
        assert!(
            index > 0,
            "server {i} applied index 0 (the first log index is 1)"
        );
        let (err, prev_ok) = applied.lock().check(i, index, &command);
        if let Some(err) = err {
            panic!("apply error: {err}");
        }
        assert!(
            index == 1 || prev_ok,
            "apply error: server {i} apply out of order {index}"
        );
    }
}

/// MIT's `applierSnap`: as `applier`, in strict order, ingesting snapshots, and asking this
/// peer for a snapshot every `SNAPSHOT_INTERVAL` entries (a call that runs on the peer).
/// Beyond MIT, it takes time (see [`ServiceTime`]), notably between applying a command and
/// asking for the snapshot that includes it, and it refuses a snapshot older than what it
/// applied ([`Applied::ingest`]).
pub async fn applier_snap(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    mut clock: ServiceClock,
    raft: PeerRaft,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
        clock.pause(Pause::Message).await;
        match msg {
            ApplyMsg::Snapshot { index, data, .. } => {
                if let Err(e) = applied.lock().ingest(i, &data, Some(index)) {
                    panic!("apply error: {e}");
                }
            }
            ApplyMsg::Command { index, command } => {
                let snapshot = {
                    let mut a = applied.lock();
                    let expected = a.last_applied[i] + 1;
                    assert!(
                        index == expected,
                        "apply error: server {i} apply out of order, expected index {expected}, got {index}"
                    );
                    let (err, prev_ok) = a.check(i, index, &command);
                    if let Some(err) = err {
                        panic!("apply error: {err}");
                    }
                    assert!(
                        index == 1 || prev_ok,
                        "apply error: server {i} apply out of order {index}"
                    );
                    a.last_applied[i] = index;
                    ((index + 1) % SNAPSHOT_INTERVAL == 0).then(|| {
                        let xlog: Vec<Option<Cmd>> =
                            (0..=index).map(|j| a.get(i, j).cloned()).collect();
                        labgob::encode(&(index, xlog)).expect("tester: encode snapshot")
                    })
                };
                if let Some(snapshot) = snapshot {
                    // Meanwhile Raft may install a newer snapshot from the leader: this call
                    // then reaches it behind its snapshot, and must be ignored.
                    clock.pause(Pause::Snapshot).await;
                    raft.snapshot(index, snapshot);
                }
            }
        }
    }
}
