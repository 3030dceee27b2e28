//! The persister: Raft's stand-in for a disk.

use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Default, Clone)]
struct Saved {
    raft_state: Vec<u8>,
    snapshot: Vec<u8>,
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
        *self.saved.lock() = Saved {
            raft_state,
            snapshot,
        };
    }

    /// Saves Raft's state and keeps the saved snapshot (MIT's `SaveRaftState`).
    pub fn save_raft_state(&self, raft_state: Vec<u8>) {
        self.saved.lock().raft_state = raft_state;
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
    }
}
