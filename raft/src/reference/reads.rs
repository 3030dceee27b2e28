//! Linearizable reads that do not go through the log (lab 3C; Ongaro's thesis, section 6.4;
//! etcd's `ReadIndex` and `LeaseBased` read-only options).
//!
//! A read served from a leader's state machine is linearizable if, at some moment after the
//! read arrived, the peer was still the leader and had applied everything committed by then.
//! The log gives that for free (a read entry commits, then applies) at the price of a log entry,
//! a persist and a replication round per read. The two ways around it:
//!
//! * **ReadIndex.** The leader notes its commit index, then confirms that it still leads: a
//!   majority answers a round of heartbeats sent *after* the read arrived (an answer in its
//!   term proves that no newer term had a majority at the moment of answering). The service
//!   waits until it has applied the read index, then reads. One heartbeat round per batch of
//!   reads, no log entry. A new leader must first commit an entry of its own term: until then
//!   its commit index may lag what earlier leaders committed (Figure 8's leader does not yet
//!   know which of its entries are committed), so it refuses reads.
//! * **Lease reads.** No round at all: once a majority answered heartbeats sent at time `t`,
//!   no other leader can be elected before `t` plus the minimum election timeout, because
//!   those peers ignore vote requests that long after hearing the leader (CheckQuorum's rule,
//!   `election.rs`). The leader serves reads until `t + lease`, with the lease shorter than that
//!   timeout by the clock drift allowed between peers. Measured from the heartbeat's *send*
//!   time: the reply comes later, and a lease counted from it would outlast the followers'
//!   promise. A follower that crashes and restarts keeps the promise too: with CheckQuorum a
//!   peer refuses votes for a minimum election timeout after it boots (`Core::new`).
//!
//! The core never waits. [`Core::read_index`] queues the read and sends the round; each reply
//! in the leader's term may confirm queued reads, which the next `Ready` hands back
//! ([`Ready::reads`](super::core::Ready)). A read that is not confirmed within an election
//! timeout, or whose leader steps down, fails.

use super::core::{Core, Role};
use crate::{Command, ReadError};

/// A read waiting for its heartbeat round.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRead {
    /// The driver's number for the read.
    pub id: u64,
    /// The commit index when it arrived: what the service must have applied to answer it.
    pub index: u64,
    /// Only answers to messages sent after this one confirm it (`Core::next_seq` then).
    pub after_seq: u64,
    /// When it arrived (`Core::now`).
    pub at: u64,
}

impl<C: Command> Core<C> {
    /// Whether this leader's commit index is known to be the cluster's: it has committed an
    /// entry of its own term.
    fn committed_in_term(&self) -> bool {
        self.log.term(self.commit) == Some(self.term)
    }

    /// The service wants to read: answered (by number `id`, in a later `Ready`) with the index
    /// it must have applied first, once a heartbeat round confirms this peer still leads.
    pub fn read_index(&mut self, id: u64) {
        if self.role != Role::Leader {
            self.read_results.push((id, Err(ReadError::NotLeader)));
            return;
        }
        if !self.committed_in_term() {
            self.read_results.push((id, Err(ReadError::NoEntryOfTerm)));
            return;
        }
        let read = PendingRead {
            id,
            index: self.commit,
            after_seq: self.next_seq,
            at: self.now,
        };
        self.pending_reads.push_back(read);
        // The round: every follower gets something now (an empty probe if data is in flight).
        for peer in self.others() {
            self.send_append(peer, true);
        }
        self.confirm_reads(); // a one-peer cluster confirms at once
    }

    /// Answers the queued reads that a majority has confirmed since they arrived. Reads queue
    /// in order of arrival, so the first unconfirmed one stops the others.
    pub(super) fn confirm_reads(&mut self) {
        let me = self.me();
        while let Some(read) = self.pending_reads.front() {
            let acked = |p: usize| p == me || self.progress[p].acked_seq > read.after_seq;
            if !self.configs.voters().has_quorum(acked) {
                return;
            }
            self.read_results.push((read.id, Ok(read.index)));
            self.pending_reads.pop_front();
        }
    }

    /// Fails the queued reads: this peer stopped leading (or never will confirm them).
    pub(super) fn fail_reads(&mut self) {
        for read in self.pending_reads.drain(..) {
            self.read_results.push((read.id, Err(ReadError::NotLeader)));
        }
    }

    /// A leader's tick: reads unconfirmed for the longest election timeout fail (the leader is
    /// most likely cut off; the service tries elsewhere).
    pub(super) fn expire_reads(&mut self) {
        let limit = self.cfg.election_ticks.end;
        while let Some(read) = self.pending_reads.front() {
            if self.now - read.at < limit {
                return;
            }
            let id = read.id;
            self.pending_reads.pop_front();
            self.read_results.push((id, Err(ReadError::NotLeader)));
        }
    }

    /// A lease read: the commit index, if this peer leads under a lease (a majority answered
    /// heartbeats sent less than `lease_ticks` ago) and has committed an entry of its term.
    pub fn lease_read_index(&self) -> Result<u64, ReadError> {
        if self.role != Role::Leader || self.cfg.lease_ticks == 0 {
            return Err(ReadError::NotLeader);
        }
        if !self.committed_in_term() {
            return Err(ReadError::NoEntryOfTerm);
        }
        // The latest send time a majority vouches for: this peer's own is now.
        let me = self.me();
        let start = self.configs.voters().quorum_value(|p| {
            if p == me {
                Some(self.now)
            } else {
                self.progress[p].acked_sent_at
            }
        });
        if start.is_some_and(|start| self.now < start + self.cfg.lease_ticks) {
            Ok(self.commit)
        } else {
            Err(ReadError::LeaseExpired)
        }
    }
}
