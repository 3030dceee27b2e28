//! MIT's appliers and what they know: every entry a peer applies is checked against what every
//! other peer applied at that index, and with snapshots the tester's own snapshot (the applied
//! log) goes back to Raft every `SNAPSHOT_INTERVAL` entries.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use raft::ApplyMsg;
use tokio::sync::mpsc;

use crate::tester::{Cmd, PeerRaft, SNAPSHOT_INTERVAL};

/// What the appliers know: per peer, the commands it applied by index.
pub struct Applied {
    pub logs: Vec<BTreeMap<u64, Cmd>>,
    pub last_applied: Vec<u64>,
    pub max_index: u64,
}

impl Applied {
    /// Nothing applied yet by any of `n` peers.
    pub fn new(n: usize) -> Applied {
        Applied {
            logs: vec![BTreeMap::new(); n],
            last_applied: vec![0; n],
            max_index: 0,
        }
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
        for (j, log) in self.logs.iter().enumerate() {
            if let Some(old) = log.get(&index) {
                if old != cmd {
                    err = Some(format!(
                        "commit index={index} server={i} {cmd:?} != server={j} {old:?} \
                         (two peers applied different commands at the same index)"
                    ));
                }
            }
        }
        let prev_ok = self.logs[i].contains_key(&(index - 1));
        self.logs[i].insert(index, cmd.clone());
        self.max_index = self.max_index.max(index);
        (err, prev_ok)
    }

    /// MIT's `ingestSnap`: a snapshot replaces what the peer has applied.
    pub fn ingest(&mut self, i: usize, snapshot: &[u8], index: Option<u64>) -> Result<(), String> {
        let (last, xlog): (u64, Vec<Option<Cmd>>) = labgob::decode(snapshot)
            .map_err(|e| format!("server {i}: snapshot does not decode: {e}"))?;
        if index.is_some_and(|index| index != last) {
            return Err(format!(
                "server {i} snapshot doesn't match the snapshot index {index:?}"
            ));
        }
        self.logs[i] = xlog
            .into_iter()
            .enumerate()
            .filter_map(|(j, c)| c.map(|c| (j as u64, c)))
            .collect();
        self.last_applied[i] = last;
        Ok(())
    }
}

/// MIT's `applier`: checks each applied command against all peers, and that none is skipped.
pub async fn applier(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
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
pub async fn applier_snap(
    i: usize,
    applied: Arc<Mutex<Applied>>,
    raft: PeerRaft,
    mut rx: mpsc::UnboundedReceiver<ApplyMsg<Cmd>>,
) {
    while let Some(msg) = rx.recv().await {
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
                            (0..=index).map(|j| a.logs[i].get(&j).cloned()).collect();
                        labgob::encode(&(index, xlog)).expect("tester: encode snapshot")
                    })
                };
                if let Some(snapshot) = snapshot {
                    raft.snapshot(index, snapshot);
                }
            }
        }
    }
}
