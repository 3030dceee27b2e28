//! The persister: Raft's stand-in for a disk.

use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Default, Clone)]
struct Saved {
    raft_state: Vec<u8>,
    snapshot: Vec<u8>,
    /// How many saves, and how many bytes they were given, since the peer first started (a
    /// copy carries them on): what persisting costs, for benchmarks.
    saves: u64,
    saved_bytes: u64,
}

/// Holds a peer's persisted Raft state and snapshot across crashes.
///
/// Clones share the same storage (the tester keeps one, the peer another). When a peer crashes,
/// the tester keeps a [`Persister::copy`] and gives the restarted peer that: whatever the old
/// incarnation writes afterwards goes nowhere, as with a real crash. Every save takes its own
/// copy of the bytes and every read returns one, so nothing written can change behind Raft's back.
#[derive(Clone, Default)]
pub struct Persister {
    saved: Arc<Mutex<Saved>>,
}

impl Persister {
    /// An empty persister: a peer starting for the first time.
    pub fn new() -> Persister {
        Persister::default()
    }

    /// A new persister holding the same bytes, sharing nothing with this one.
    pub fn copy(&self) -> Persister {
        Persister {
            saved: Arc::new(Mutex::new(self.saved.lock().clone())),
        }
    }

    /// Saves Raft's state and the service's snapshot together, atomically (MIT's
    /// `SaveStateAndSnapshot`, 2023's `Save`). Both are replaced: passing an empty snapshot
    /// erases the one saved before.
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Vec<u8>) {
        let mut saved = self.saved.lock();
        saved.count(raft_state.len() + snapshot.len());
        saved.raft_state = raft_state;
        saved.snapshot = snapshot;
    }

    /// Saves Raft's state and keeps the saved snapshot (MIT's `SaveRaftState`).
    pub fn save_raft_state(&self, raft_state: Vec<u8>) {
        let mut saved = self.saved.lock();
        saved.count(raft_state.len());
        saved.raft_state = raft_state;
    }

    /// The last saved Raft state (empty if none).
    pub fn read_raft_state(&self) -> Vec<u8> {
        self.saved.lock().raft_state.clone()
    }

    /// The last saved snapshot (empty if none).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.saved.lock().snapshot.clone()
    }

    /// Size in bytes of the saved Raft state; kvraft compares it with `maxraftstate`.
    pub fn raft_state_size(&self) -> usize {
        self.saved.lock().raft_state.len()
    }

    /// Size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.saved.lock().snapshot.len()
    }

    /// How many saves this persister took, and how many bytes they were given in all, counting
    /// those of the persisters it was copied from: what persisting has cost the peer so far
    /// (for benchmarks; not in MIT's API).
    pub fn save_stats(&self) -> (u64, u64) {
        let saved = self.saved.lock();
        (saved.saves, saved.saved_bytes)
    }
}

impl Saved {
    fn count(&mut self, bytes: usize) {
        self.saves += 1;
        self.saved_bytes += bytes as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_copies_do_not() {
        let p = Persister::new();
        let shared = p.clone();
        let copy = p.copy();
        p.save(vec![1, 2], vec![3]);
        assert_eq!(shared.read_raft_state(), vec![1, 2]);
        assert_eq!(copy.raft_state_size(), 0);
        p.save_raft_state(vec![9]);
        assert_eq!((p.read_raft_state(), p.read_snapshot()), (vec![9], vec![3]));
        p.save(vec![9], Vec::new());
        assert_eq!(p.snapshot_size(), 0);
        assert_eq!((p.save_stats(), copy.save_stats()), ((3, 5), (0, 0)));
        assert_eq!(p.copy().save_stats(), (3, 5));
    }
}
