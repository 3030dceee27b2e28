//! What a core persists: the state's bytes (Figure 2's currentTerm, votedFor and log[], with the
//! snapshot's offset, and with membership change the snapshot's configuration), how a save
//! hands over only what changed ([`Persist`]), and how a restart reads them back.

use serde::Deserialize;

use super::core::Core;
use super::log::{Log, LogFields};
use super::membership::Configs;
use crate::{Command, Configuration};

/// Bytes for the persister: the Raft state, as a change to the state saved by the last
/// `Persist`, and the snapshot when it changed (otherwise the saved one stays as it is).
///
/// The state is the labgob encoding of currentTerm, votedFor and the log ([`HardStateRef`]),
/// in two parts: a short head (term, vote, the log's offset and length), given whole every
/// time, then the log's entries, each encoded once when it joined the log. Of the entries'
/// bytes, the persister keeps the first `keep` it was given before and appends `appended`.
/// So a save costs the head and what changed (the new entries; after a cut, those after it),
/// not the whole log: with snapshots off the log only grows, and whole-state saves made a long
/// run's persisting quadratic in its length (issue 16). etcd's `Ready` likewise hands over only
/// the entries to append. This relies on the driver saving every `Persist`, in order, to the
/// persister the state was restored from; a restored core keeps nothing in its first one.
#[derive(Clone, Debug, PartialEq)]
pub struct Persist {
    /// currentTerm, votedFor, and the log's offset and number of entries, labgob-encoded.
    pub head: Vec<u8>,
    /// How many bytes of the entries saved before stay, right after the head.
    pub keep: usize,
    /// The entries' bytes that follow those kept.
    pub appended: Vec<u8>,
    /// The new snapshot, if there is one since the last [`Ready`].
    pub snapshot: Option<Vec<u8>>,
}

/// The persistent state as encoded (Figure 2's currentTerm, votedFor, log[], plus the log's
/// snapshot offset). Encoded from borrowed fields, decoded into [`HardState`]: the same layout.
#[cfg(test)]
#[derive(serde::Serialize)]
pub(super) struct HardStateRef<'a, C> {
    pub(super) term: u64,
    pub(super) voted_for: Option<usize>,
    pub(super) log: &'a Log<C>,
}

#[derive(Deserialize)]
#[serde(bound = "C: Command")]
struct HardState<C> {
    term: u64,
    voted_for: Option<usize>,
    log: LogFields<C>,
}

/// The persistent state of a peer whose configuration changes (lab 2F): the configuration as
/// of the snapshot comes after the vote. A peer without membership change saves none, so its
/// bytes are those of labs 2A-2E.
#[derive(Deserialize)]
#[serde(bound = "C: Command")]
struct HardStateWithConfig<C> {
    term: u64,
    voted_for: Option<usize>,
    config: Configuration,
    log: LogFields<C>,
}

/// Term, vote and log from the persisted `state` (empty on a first start); with membership
/// change, `configs` takes the snapshot's configuration and those of the log's entries.
pub(super) fn decode_state<C: Command>(
    state: &[u8],
    configs: &mut Configs<C>,
) -> (u64, Option<usize>, Log<C>) {
    if state.is_empty() {
        (0, None, Log::default())
    } else if configs.changes() {
        let hs: HardStateWithConfig<C> =
            labgob::decode(state).unwrap_or_else(|e| panic!("corrupt persisted Raft state: {e}"));
        let log_at = labgob::encoded_len(&(hs.term, hs.voted_for, &hs.config))
            .expect("Raft state is always encodable");
        let log = Log::restore(hs.log, &state[log_at..]);
        configs.compacted(log.snapshot_index(), Some(hs.config));
        configs.log_changed(&log, log.snapshot_index() + 1);
        (hs.term, hs.voted_for, log)
    } else {
        let hs: HardState<C> =
            labgob::decode(state).unwrap_or_else(|e| panic!("corrupt persisted Raft state: {e}"));
        // The log's bytes follow term and vote; it keeps its entries' encodings from them.
        let log_at =
            labgob::encoded_len(&(hs.term, hs.voted_for)).expect("Raft state is always encodable");
        let log = Log::restore(hs.log, &state[log_at..]);
        (hs.term, hs.voted_for, log)
    }
}

impl<C: Command> Core<C> {
    /// The head of the persistent state (see [`Persist`]), labgob-encoded: the bytes of
    /// [`HardStateRef`] up to the log's first entry.
    pub(super) fn encode_head(&self) -> Vec<u8> {
        // Five integers and an option, at most 46 bytes: room enough from the start.
        let mut bytes = Vec::with_capacity(64);
        labgob::encode_append(&(self.term, self.voted_for), &mut bytes)
            .expect("Raft state is always encodable");
        if self.configs.changes() {
            labgob::encode_append(self.configs.base(), &mut bytes)
                .expect("Raft state is always encodable");
        }
        self.log.encode_header_into(&mut bytes);
        bytes
    }

    /// The whole persistent state as the saves build it, the head and then the entries'
    /// kept encodings: the same bytes as encoding [`HardStateRef`].
    #[cfg(test)]
    pub fn encode_state(&self) -> Vec<u8> {
        let mut bytes = self.encode_head();
        bytes.extend_from_slice(self.log.encoded_entries());
        bytes
    }
}
