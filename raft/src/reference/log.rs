//! The replicated log, with the offset a snapshot leaves behind.
//!
//! After a snapshot the log no longer starts at index 1: everything up to and including
//! `snapshot_index` has been discarded, and only the term of that last discarded entry is kept
//! (`snapshot_term`), because the AppendEntries consistency check for the first retained entry
//! needs it. All index arithmetic lives here, behind log indices (1-based, as the tester and the
//! paper count); nothing outside this file knows where an entry sits in the vector.
//!
//! ```text
//!   index:    ... si | si+1   si+2   ...   last
//!   stored:  (term)  | e[0]   e[1]   ...   e[len-1]
//! ```
//!
//! Terms never decrease along a log (every leader appends entries of its own term after what it
//! holds), so searches by term are binary searches.
//!
//! The log also keeps every retained entry labgob-encoded, appended as the entry arrives, and
//! remembers how much of those bytes the persister already holds. Raft must persist its state
//! before answering; encoding the full log for every save made persistence quadratic (90% of
//! the CPU of a kvraft test without snapshots), and so did copying the kept encodings whole
//! into every save (issue 16: 4x the virtual time of a long run cost 30x the CPU). A save now
//! hands the persister the log's header and the bytes that changed since the last save
//! ([`Log::take_unsaved`]): the new entries, or those after a cut.

use serde::{Deserialize, Serialize};

use crate::Command;

/// One log entry. Its index is implicit: its position in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry<C> {
    /// The term of the leader that created it.
    pub term: u64,
    /// The service's command.
    pub command: C,
}

/// The log after the snapshot: entries `snapshot_index + 1 ..= last_index()`.
///
/// Serialized, it is the three fields in order. A restarted peer decodes them as
/// [`LogFields`] and restores the log with [`Log::restore`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(bound(serialize = "C: Serialize"))]
pub struct Log<C> {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry<C>>,
    #[serde(skip)]
    encoded: EncodedEntries,
}

/// What a [`Log`] decodes from: the same fields, without the encodings.
#[derive(Deserialize)]
#[serde(bound = "C: Command")]
pub struct LogFields<C> {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry<C>>,
}

/// The retained entries, each labgob-encoded, back to back: entry `i` is
/// `bytes[starts[i]..starts[i + 1]]` (the last one runs to the end).
#[derive(Clone, Debug, Default)]
struct EncodedEntries {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    /// `bytes[..saved]` is what the persister holds after the state's head, as of the last
    /// [`Log::take_unsaved`]. Appends leave it; a cut can only shorten it; anything that moves
    /// the bytes (dropping entries at the front, a new log) resets it to 0, so the next save
    /// rewrites the entries whole. A log decoded at a restart starts at 0 too: it assumes
    /// nothing about how the persister it came from was written.
    saved: usize,
}

/// Two logs are equal when they hold the same entries: what has been saved is not part of
/// the log's value (a restarted log equals the one that saved it).
impl PartialEq for EncodedEntries {
    fn eq(&self, other: &Self) -> bool {
        (&self.bytes, &self.starts) == (&other.bytes, &other.starts)
    }
}

impl EncodedEntries {
    fn push<C: Command>(&mut self, entry: &Entry<C>) {
        self.starts.push(self.bytes.len());
        labgob::encode_append(entry, &mut self.bytes).expect("log entries are always encodable");
    }

    /// Keeps the first `len` entries.
    fn truncate(&mut self, len: usize) {
        if let Some(&end) = self.starts.get(len) {
            self.bytes.truncate(end);
            self.starts.truncate(len);
            self.saved = self.saved.min(end);
        }
    }

    /// Drops the first `n` entries.
    fn drain_front(&mut self, n: usize) {
        let cut = self.starts.get(n).copied().unwrap_or(self.bytes.len());
        self.bytes.drain(..cut);
        self.starts.drain(..n);
        for start in &mut self.starts {
            *start -= cut;
        }
        // Every byte moved: the persister's copy no longer lines up with any of them.
        self.saved = 0;
    }

    fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.starts.shrink_to_fit();
    }
}

impl<C> Default for Log<C> {
    fn default() -> Self {
        Log {
            snapshot_index: 0,
            snapshot_term: 0,
            entries: Vec::new(),
            encoded: EncodedEntries::default(),
        }
    }
}

impl<C: Command> Log<C> {
    /// The log whose labgob encoding `bytes` decoded into `fields` (at a restart). The
    /// entries' encodings are taken from `bytes`, where they follow the header, not made
    /// again: a restarted peer restores its whole log, and without snapshots a long run's
    /// restarts restore ever longer logs (re-encoding was about 60% of a restart, issue 16).
    /// Only each entry's length is measured, to know where it starts.
    ///
    /// Panics if the lengths do not add up to `bytes`: the bytes are not this log's.
    pub fn restore(fields: LogFields<C>, bytes: &[u8]) -> Log<C> {
        let mut log = Log {
            snapshot_index: fields.snapshot_index,
            snapshot_term: fields.snapshot_term,
            entries: fields.entries,
            encoded: EncodedEntries::default(),
        };
        let mut header = Vec::new();
        log.encode_header_into(&mut header);
        let mut starts = Vec::with_capacity(log.entries.len());
        let mut end = header.len();
        for entry in &log.entries {
            starts.push(end - header.len());
            end += labgob::encoded_len(entry).expect("log entries are always encodable");
        }
        assert_eq!(
            end,
            bytes.len(),
            "a log of {} entries restored from {} bytes that do not encode it",
            log.entries.len(),
            bytes.len()
        );
        log.encoded.bytes = bytes[header.len()..].to_vec();
        log.encoded.starts = starts;
        log
    }

    /// The last index the snapshot covers (0 without a snapshot).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }

    /// The term of the entry at [`Log::snapshot_index`] (0 without a snapshot).
    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    /// The index of the last entry, counting those in the snapshot.
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// The term of the last entry, counting the snapshot's.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// Vector position of `index`, which must be a retained entry (after the snapshot).
    fn pos(&self, index: u64) -> usize {
        debug_assert!(index > self.snapshot_index && index <= self.last_index());
        (index - self.snapshot_index - 1) as usize
    }

    /// The term at `index`: known for the snapshot's last entry and every retained entry,
    /// `None` before the snapshot (compacted) and past the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            Some(self.snapshot_term)
        } else if index > self.snapshot_index && index <= self.last_index() {
            Some(self.entries[self.pos(index)].term)
        } else {
            None
        }
    }

    /// The entry at `index`, which must be retained.
    pub fn entry(&self, index: u64) -> &Entry<C> {
        &self.entries[self.pos(index)]
    }

    /// The entries from `index` to the end; `index` must be after the snapshot (and may be
    /// `last_index() + 1`, giving none).
    pub fn entries_from(&self, index: u64) -> &[Entry<C>] {
        assert!(
            index > self.snapshot_index,
            "entries from {index} are compacted (snapshot through {})",
            self.snapshot_index
        );
        let start = ((index - self.snapshot_index - 1) as usize).min(self.entries.len());
        &self.entries[start..]
    }

    /// Appends `entry` and returns its index.
    pub fn append(&mut self, entry: Entry<C>) -> u64 {
        self.encoded.push(&entry);
        self.entries.push(entry);
        self.last_index()
    }

    /// The start of the log as labgob encodes it (`snapshot_index`, `snapshot_term`, and the
    /// number of entries), appended to `out`: labgob's encoding of the log is this, then each
    /// entry's encoding.
    pub fn encode_header_into(&self, out: &mut Vec<u8>) {
        let head = (self.snapshot_index, self.snapshot_term, self.entries.len());
        labgob::encode_append(&head, out).expect("integers are always encodable");
    }

    /// The kept encodings of the entries, back to back: labgob's encoding of the log after
    /// [`Log::encode_header_into`]'s.
    #[cfg(test)]
    pub fn encoded_entries(&self) -> &[u8] {
        &self.encoded.bytes
    }

    /// What changed in the entries' encodings since the last call, for a save that follows
    /// the header with them: how many bytes of those saved then are still the log's, and the
    /// bytes after them (the entries appended since, and those after a cut). From then on,
    /// everything counts as saved. The first call on a new or restored log keeps nothing.
    pub fn take_unsaved(&mut self) -> (usize, Vec<u8>) {
        let keep = self.encoded.saved;
        self.encoded.saved = self.encoded.bytes.len();
        (keep, self.encoded.bytes[keep..].to_vec())
    }

    /// The first retained index whose term is `term`, or where it would be. Used for the
    /// conflict hint of a rejected AppendEntries: the leader can skip that whole term at once.
    pub fn first_index_of_term(&self, term: u64) -> u64 {
        self.snapshot_index + 1 + self.entries.partition_point(|e| e.term < term) as u64
    }

    /// The last index whose term is `term`, if the log (or its snapshot boundary) holds one.
    /// Used by the leader to interpret a follower's conflict hint.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let p = self.entries.partition_point(|e| e.term <= term);
        if p > 0 && self.entries[p - 1].term == term {
            Some(self.snapshot_index + p as u64)
        } else if p == 0 && self.snapshot_term == term && self.snapshot_index > 0 {
            Some(self.snapshot_index)
        } else {
            None
        }
    }

    /// A follower's merge of the leader's `entries`, which follow `prev` (already checked to
    /// match, or covered by the snapshot). Entries already present with the same term are kept
    /// as they are; the log is cut only at the first entry whose term differs. So a delayed
    /// AppendEntries that carries a prefix of what the follower holds changes nothing, rather
    /// than cutting off entries the leader may already count as replicated.
    ///
    /// Returns the first index that changed (cut, then appended), if the log changed. Panics if it would cut at or below `commit`, which
    /// would mean two different committed entries at one index.
    pub fn merge(&mut self, prev: u64, entries: Vec<Entry<C>>, commit: u64) -> Option<u64> {
        let mut changed = None;
        let mut index = prev;
        let mut entries = entries.into_iter();
        for entry in entries.by_ref() {
            index += 1;
            if index <= self.snapshot_index {
                continue; // committed and in the snapshot, so equal to the leader's
            }
            match self.term(index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    assert!(
                        index > commit,
                        "conflict at committed index {index} (commit {commit})"
                    );
                    let pos = self.pos(index);
                    self.entries.truncate(pos);
                    self.encoded.truncate(pos);
                }
                None => {}
            }
            changed = Some(self.append(entry));
            break;
        }
        // Past the first new entry, everything is appended as is.
        for entry in entries {
            self.append(entry);
        }
        changed
    }

    /// Discards everything through `index`, whose term is `term`, because a snapshot now covers
    /// it. When the log holds that very entry, what follows it is kept (it may be ahead of the
    /// snapshot); otherwise the whole log is replaced by the snapshot. Does nothing if the
    /// current snapshot already reaches `index`.
    pub fn compact(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        if self.term(index) == Some(term) {
            let pos = self.pos(index);
            self.entries.drain(..=pos);
            self.encoded.drain_front(pos + 1);
        } else {
            self.entries.clear();
            self.encoded = EncodedEntries::default();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
        // The dropped entries are freed by the drain; give back the vector's spare room too
        // once it is mostly empty, so a long-running peer's memory tracks its log, not its past.
        if self.entries.capacity() > 64 && self.entries.capacity() > 4 * self.entries.len() {
            self.entries.shrink_to_fit();
            self.encoded.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> Log<u64> {
        let mut log = Log::default();
        for (i, &term) in terms.iter().enumerate() {
            log.append(Entry {
                term,
                command: i as u64 + 1,
            });
        }
        log
    }

    fn e(term: u64, command: u64) -> Entry<u64> {
        Entry { term, command }
    }

    #[test]
    fn indices_and_terms() {
        let l = log(&[1, 1, 2, 3, 3]);
        assert_eq!((l.last_index(), l.last_term()), (5, 3));
        assert_eq!(l.term(0), Some(0));
        assert_eq!(l.term(3), Some(2));
        assert_eq!(l.term(6), None);
        assert_eq!(l.first_index_of_term(3), 4);
        assert_eq!(l.first_index_of_term(1), 1);
        assert_eq!(l.last_index_of_term(1), Some(2));
        assert_eq!(l.last_index_of_term(3), Some(5));
        assert_eq!(l.last_index_of_term(4), None);
        assert_eq!(l.entries_from(4).len(), 2);
        assert_eq!(l.entries_from(6).len(), 0);
    }

    #[test]
    fn merge_keeps_matching_prefix_and_cuts_at_first_conflict() {
        let mut l = log(&[1, 1, 2, 2]);
        // A delayed message carrying a prefix: nothing changes, nothing is cut.
        assert_eq!(l.merge(1, vec![e(1, 2), e(2, 3)], 0), None);
        assert_eq!(l.last_index(), 4);
        // A conflict at index 3 cuts from there.
        assert_eq!(l.merge(2, vec![e(3, 30)], 0), Some(3));
        assert_eq!((l.last_index(), l.last_term()), (3, 3));
        // New entries past the end are appended.
        assert_eq!(l.merge(3, vec![e(3, 40), e(3, 50)], 0), Some(4));
        assert_eq!(l.last_index(), 5);
    }

    #[test]
    #[should_panic(expected = "committed")]
    fn merge_never_cuts_committed_entries() {
        let mut l = log(&[1, 1, 2]);
        l.merge(1, vec![e(3, 9)], 2);
    }

    /// The kept encodings stay exactly what labgob makes of the log, through every kind of
    /// change, and so do the header and the saved entries' bytes as a persister keeps them
    /// (the first `keep` bytes of those saved before, then the unsaved ones).
    #[test]
    fn kept_encoding_is_labgobs() {
        let mut saved = Vec::new();
        let mut check = |l: &mut Log<u64>, expect_keep: usize| {
            let mut fast = Vec::new();
            l.encode_header_into(&mut fast);
            fast.extend_from_slice(l.encoded_entries());
            assert_eq!(fast, labgob::encode(l).unwrap());
            let fields = labgob::decode::<LogFields<u64>>(&fast).unwrap();
            assert_eq!(&Log::restore(fields, &fast), l);
            let (keep, appended) = l.take_unsaved();
            assert_eq!(keep, expect_keep);
            assert!(keep <= saved.len());
            saved.truncate(keep);
            saved.extend_from_slice(&appended);
            let mut persisted = Vec::new();
            l.encode_header_into(&mut persisted);
            persisted.extend_from_slice(&saved);
            assert_eq!(persisted, fast);
            // Nothing changed since: nothing to append.
            assert_eq!(l.take_unsaved(), (saved.len(), Vec::new()));
        };
        let mut l = log(&[1, 1, 2, 2, 3]);
        check(&mut l, 0);
        // Five one-byte terms and commands, two bytes each: the cut keeps two entries.
        l.merge(2, vec![e(3, 300), e(3, 400)], 0);
        check(&mut l, 4);
        l.compact(2, 1);
        check(&mut l, 0);
        // Two entries of four bytes (300 and 400 take three), then one of ten.
        l.merge(4, vec![e(4, 1 << 40)], 0);
        check(&mut l, 8);
        l.append(e(4, 8));
        check(&mut l, 18);
        l.compact(9, 5);
        check(&mut l, 0);
        l.append(e(6, 7));
        check(&mut l, 0);
        l.append(e(6, 8));
        check(&mut l, 2);
        // A restored log assumes nothing about what its persister holds.
        let bytes = labgob::encode(&l).unwrap();
        let mut restored = Log::restore(labgob::decode(&bytes).unwrap(), &bytes);
        check(&mut restored, 0);
    }

    #[test]
    fn compact_keeps_suffix_or_resets() {
        let mut l = log(&[1, 1, 2, 2, 3]);
        l.compact(3, 2);
        assert_eq!(
            (l.snapshot_index(), l.snapshot_term(), l.last_index()),
            (3, 2, 5)
        );
        assert_eq!(l.term(3), Some(2));
        assert_eq!(l.term(2), None);
        assert_eq!(l.entry(4).command, 4);
        assert_eq!(l.last_index_of_term(2), Some(4));
        assert_eq!(l.first_index_of_term(3), 5);
        // Entries covered by the snapshot are skipped by a merge.
        assert_eq!(l.merge(1, vec![e(1, 2), e(2, 3), e(2, 4)], 3), None);
        // A snapshot that does not match the log replaces it entirely.
        l.compact(7, 4);
        assert_eq!(
            (l.snapshot_index(), l.last_index(), l.last_term()),
            (7, 7, 4)
        );
        assert_eq!(l.last_index_of_term(4), Some(7));
        // An older snapshot changes nothing.
        l.compact(5, 3);
        assert_eq!(l.snapshot_index(), 7);
    }
}
