//! The persister: Raft's stand-in for a disk.

use std::sync::Arc;

use parking_lot::Mutex;

/// What a persister holds. The Raft state is `state_head` followed by `state_tail`; MIT's
/// saves put the whole state in the head. The reference Raft saves its log's entries in the
/// tail, changing only its end (see `save_appending`).
#[derive(Default, Clone)]
struct Saved {
    state_head: Vec<u8>,
    state_tail: Vec<u8>,
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
/// A copy is a deep one: it shares no bytes with the original, so no later save to either can
/// show in the other.
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
        saved.set_state(raft_state);
        saved.snapshot = snapshot;
    }

    /// Saves Raft's state and keeps the saved snapshot (MIT's `SaveRaftState`).
    pub fn save_raft_state(&self, raft_state: Vec<u8>) {
        let mut saved = self.saved.lock();
        saved.count(raft_state.len());
        saved.set_state(raft_state);
    }

    /// Saves a Raft state given as a change to the one saved before, and the snapshot if
    /// `Some` (otherwise the saved one stays): the new state is `head`, then the first `keep`
    /// bytes that followed the head in the last save made with this method, then `appended`.
    /// Nothing else changes, atomically, as with [`Persister::save`]. After a save with
    /// [`Persister::save`] or [`Persister::save_raft_state`], nothing follows the head, so
    /// `keep` must be 0.
    ///
    /// Why (not in MIT's API): a Raft without snapshots has a log that only grows, and MIT's
    /// saves take the whole state every time, so a long run's saves cost the square of its
    /// length. The reference Raft saves its small header (term, vote, the log's offset and
    /// length) as the head and its log's entries, each encoded once, as what follows; an
    /// append to the log then costs a save of the header and the new entries, and a log cut
    /// short (a conflict) just a smaller `keep`. Every reader still sees MIT's single byte
    /// string. MIT's [`Persister::save`] is all a student's Raft needs; this method is in the
    /// handout as well because a Raft is graded on the handout's persister, the reference
    /// included (the autograder's full-marks check submits it as a student's `raft.rs`).
    ///
    /// Panics if `keep` is more than what followed the head: the caller lost track of what
    /// it saved.
    pub fn save_appending(
        &self,
        head: Vec<u8>,
        keep: usize,
        appended: &[u8],
        snapshot: Option<Vec<u8>>,
    ) {
        let mut saved = self.saved.lock();
        let tail = saved.state_tail.len();
        assert!(
            keep <= tail,
            "Persister::save_appending: keeps {keep} bytes after the head, {tail} were saved"
        );
        saved.count(head.len() + appended.len() + snapshot.as_ref().map_or(0, Vec::len));
        saved.state_head = head;
        saved.state_tail.truncate(keep);
        saved.state_tail.extend_from_slice(appended);
        if let Some(snapshot) = snapshot {
            saved.snapshot = snapshot;
        }
    }

    /// The last saved Raft state (empty if none).
    pub fn read_raft_state(&self) -> Vec<u8> {
        let saved = self.saved.lock();
        [&saved.state_head[..], &saved.state_tail[..]].concat()
    }

    /// The last saved snapshot (empty if none).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.saved.lock().snapshot.clone()
    }

    /// Size in bytes of the saved Raft state; kvraft compares it with `maxraftstate`.
    pub fn raft_state_size(&self) -> usize {
        let saved = self.saved.lock();
        saved.state_head.len() + saved.state_tail.len()
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
    /// A whole state from MIT's saves: all head, nothing after it.
    fn set_state(&mut self, raft_state: Vec<u8>) {
        self.state_head = raft_state;
        self.state_tail.clear();
    }

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

    /// A state saved as changes reads as the whole byte string, and a copy keeps what it saw.
    #[test]
    fn appending_saves_read_as_one_state() {
        let p = Persister::new();
        p.save_appending(vec![1], 0, &[10, 11, 12], Some(vec![7]));
        assert_eq!(
            (p.read_raft_state(), p.raft_state_size()),
            (vec![1, 10, 11, 12], 4)
        );
        let copy = p.copy();
        // A longer head, a tail cut to two bytes and extended: the snapshot stays.
        p.save_appending(vec![2, 2], 2, &[13], None);
        assert_eq!(p.read_raft_state(), vec![2, 2, 10, 11, 13]);
        assert_eq!((p.raft_state_size(), p.read_snapshot()), (5, vec![7]));
        assert_eq!(copy.read_raft_state(), vec![1, 10, 11, 12]);
        // MIT's save replaces the whole state, tail included.
        p.save_raft_state(vec![5]);
        assert_eq!((p.read_raft_state(), p.raft_state_size()), (vec![5], 1));
        p.save_appending(vec![6], 0, &[14], None);
        assert_eq!(p.read_raft_state(), vec![6, 14]);
        assert_eq!(p.save_stats(), (4, 4 + 4 + 1 + 2));
    }

    #[test]
    #[should_panic(expected = "keeps 3 bytes after the head, 2 were saved")]
    fn appending_save_cannot_keep_what_was_not_saved() {
        let p = Persister::new();
        p.save_appending(Vec::new(), 0, &[1, 2], None);
        p.save_appending(Vec::new(), 3, &[], None);
    }
}
