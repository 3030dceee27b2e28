//! The leader side of log replication: what to send each follower, and when; how replies move
//! `next`/`matched`; and the commit rule.
//!
//! # Flow control: one data message in flight per follower, plus heartbeats
//!
//! A message *carries data* if it has entries or is an InstallSnapshot. Per follower, at most
//! one such message is outstanding (`Progress::in_flight`). New entries go out at once when
//! nothing is outstanding (so `start()` replicates immediately); entries proposed meanwhile
//! accumulate and leave together, in one message, as soon as the outstanding one is answered.
//! On a reliable network every entry therefore reaches every follower exactly once, and a burst
//! of proposals costs a couple of round trips, not one per proposal.
//!
//! Every `heartbeat_ticks` without other traffic, a follower gets a heartbeat. If nothing is
//! outstanding the heartbeat carries whatever the follower has not acknowledged (this is the
//! retransmission of lost data); otherwise it is an empty *probe*, cheap even for a follower
//! that is unreachable, and whose answer tells the leader the follower is back. A follower
//! that has answered nothing for longer than an election timeout is probably crashed or cut
//! off: it gets heartbeats at `silent_heartbeat_ticks` instead, still often enough to hear from
//! the leader before its own election timer fires once it is back.
//!
//! An outstanding message stops being outstanding when (a) its own outcome arrives, or (b) the
//! *reply* to a later message to the same follower arrives: the link works again and the
//! earlier message was lost or is badly delayed, so waiting for it (a call to a disconnected
//! peer can take seconds to fail) would only stall replication. A *failure* of a later message
//! proves nothing, so it does not count. A lost data message is resent by the next heartbeat,
//! not at once: the follower is likely unreachable, and hammering it would only add traffic.
//!
//! # Replies are interpreted against their own request
//!
//! The driver hands each request back with its outcome, and nothing is assumed about order:
//! * a success means the follower holds everything through `prev_log_index + entries.len()`
//!   of the request; `matched` only ever grows, `next` never drops below `matched + 1`;
//! * a rejection concerns the request's `prev_log_index`; one at or below `matched` is stale
//!   (that prefix is known to match) and ignored; otherwise the conflict hint moves `next`
//!   back, skipping the follower's whole conflicting term, but never forward;
//! * anything answering an older term, or received after stepping down, is ignored.

use std::collections::VecDeque;

use super::core::{Core, Request, Role};
use super::messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply,
};
use crate::Command;

/// How many unanswered messages per follower the leader remembers the send times of.
const UNANSWERED_KEPT: usize = 64;

/// What the leader knows about one follower: Figure 2's nextIndex and matchIndex, plus flow
/// control.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The next index to send.
    pub next: u64,
    /// The highest index known to be replicated on the follower.
    pub matched: u64,
    /// Sequence number of the data-carrying message awaiting its outcome, if any.
    pub in_flight: Option<u64>,
    /// Ticks since the last message to the follower.
    pub idle: u64,
    /// When (`Core::now`) the follower last answered in this term.
    pub last_heard: u64,
    /// The last message of this term the follower answered (0: none): reads queued before it
    /// was sent are confirmed by this follower (`reads.rs`).
    pub acked_seq: u64,
    /// When that message, or the latest answered one, was sent: the follower vouches that no
    /// other leader can be elected before this plus the minimum election timeout.
    pub acked_sent_at: Option<u64>,
    /// The messages sent and not yet answered, with when they were sent, oldest first.
    pub unanswered: VecDeque<(u64, u64)>,
}

impl Progress {
    /// A follower of which nothing is known yet: `next` is a guess, corrected by the first
    /// rejection; counted as heard from `now`, when the leadership (or membership) began.
    pub fn new(next: u64, now: u64) -> Progress {
        Progress {
            next,
            matched: 0,
            in_flight: None,
            idle: 0,
            last_heard: now,
            acked_seq: 0,
            acked_sent_at: None,
            unanswered: VecDeque::new(),
        }
    }

    /// The follower answered message `seq` at `now`: it is alive, and a data message sent
    /// before `seq` is no longer waited for.
    fn answered(&mut self, seq: u64, now: u64) {
        self.last_heard = now;
        self.acked_seq = self.acked_seq.max(seq);
        while let Some(&(sent_seq, sent_at)) = self.unanswered.front() {
            if sent_seq > seq {
                break;
            }
            if sent_seq == seq {
                self.acked_sent_at = self.acked_sent_at.max(Some(sent_at));
            }
            self.unanswered.pop_front();
        }
        if self.in_flight.is_some_and(|f| f <= seq) {
            self.in_flight = None;
        }
    }
}

impl<C: Command> Core<C> {
    pub(super) fn become_leader(&mut self) {
        self.role = Role::Leader;
        tracing::info!(
            kind = "leader",
            "leader of term {}, log ends at {}",
            self.term,
            self.log.last_index()
        );
        // Optimistic: assume followers are up to date; the first rejection corrects it.
        let progress = Progress::new(self.log.last_index() + 1, self.now);
        self.progress = vec![progress; self.cfg.peers];
        self.quorum_elapsed = 0;
        // Announce the new leadership at once, before anyone else times out.
        for peer in self.others() {
            self.send_append(peer, true);
        }
    }

    pub(super) fn tick_heartbeats(&mut self) {
        for peer in self.others() {
            let p = &mut self.progress[peer];
            p.idle += 1;
            if p.idle >= self.heartbeat_interval(&self.progress[peer]) {
                self.send_append(peer, true);
            }
        }
    }

    /// Ticks until the first follower's next heartbeat is due, at the interval it has now
    /// (a follower that turns silent meanwhile only moves its heartbeat later).
    pub(super) fn ticks_until_heartbeat(&self) -> u64 {
        self.others()
            .map(|peer| {
                let p = &self.progress[peer];
                self.heartbeat_interval(p).saturating_sub(p.idle).max(1)
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    fn heartbeat_interval(&self, p: &Progress) -> u64 {
        let silent = self.now - p.last_heard > self.cfg.election_ticks.end;
        if silent {
            self.cfg.silent_heartbeat_ticks
        } else {
            self.cfg.heartbeat_ticks
        }
    }

    /// After a proposal: send to every follower that has nothing outstanding.
    pub(super) fn replicate_new_entries(&mut self) {
        for peer in self.others() {
            self.maybe_send(peer);
        }
        self.maybe_commit(); // a one-peer cluster commits on its own
    }

    /// Sends `peer` what it lacks, if it lacks anything and nothing is outstanding.
    fn maybe_send(&mut self, peer: usize) {
        if self.role != Role::Leader {
            return; // a commit just now removed this leader from the configuration
        }
        let p = &self.progress[peer];
        if p.in_flight.is_none() && p.next <= self.log.last_index() {
            self.send_append(peer, true);
        }
    }

    /// Sends `peer` an AppendEntries, or an InstallSnapshot if it needs compacted entries.
    /// Data (entries or the snapshot) goes only if `with_data` and nothing is outstanding;
    /// otherwise this is an empty probe.
    pub(super) fn send_append(&mut self, peer: usize, with_data: bool) {
        let p = &self.progress[peer];
        let with_data = with_data && p.in_flight.is_none();
        let snapshot_index = self.log.snapshot_index();
        let request = if with_data && p.next <= snapshot_index {
            Request::Snapshot(InstallSnapshotArgs {
                term: self.term,
                leader: self.me(),
                last_included_index: snapshot_index,
                last_included_term: self.log.snapshot_term(),
                data: self.snapshot.clone(),
                config: self
                    .configs
                    .changes()
                    .then(|| Box::new(self.configs.base().clone())),
            })
        } else {
            // A probe checks the follower at next - 1 or, if that is compacted, at the last
            // entry the snapshot covers: the one earlier entry whose term we still know.
            let prev = (p.next - 1).max(snapshot_index);
            let entries = if with_data {
                self.log.entries_from(prev + 1).to_vec()
            } else {
                Vec::new()
            };
            Request::Append(AppendEntriesArgs {
                term: self.term,
                leader: self.me(),
                prev_log_index: prev,
                prev_log_term: self.log.term(prev).expect("prev is in the log"),
                entries,
                leader_commit: self.commit,
            })
        };
        let carries_data = match &request {
            Request::Append(args) => !args.entries.is_empty(),
            Request::Snapshot(_) => true,
            Request::Vote(_) | Request::PreVote(_) => false,
        };
        let seq = self.send(peer, request);
        let now = self.now;
        let p = &mut self.progress[peer];
        p.idle = 0;
        if p.unanswered.len() >= UNANSWERED_KEPT {
            p.unanswered.pop_front(); // long lost: an unreachable follower answers none
        }
        p.unanswered.push_back((seq, now));
        if carries_data {
            p.in_flight = Some(seq);
        }
    }

    /// Whether a reply to a request of term `asked` is one this leader should act on.
    /// The common first step of every reply: learn its term, and if it answers a request of
    /// this leader's current term, record that `from` answered message `seq`. Returns whether
    /// the reply should be acted on.
    fn accept_reply(&mut self, from: usize, seq: u64, asked: u64, answered: u64) -> bool {
        self.observe_term(answered);
        if !self.is_current(asked, answered) {
            return false;
        }
        self.progress[from].answered(seq, self.now);
        self.confirm_reads();
        true
    }

    fn is_current(&self, asked: u64, answered: u64) -> bool {
        self.role == Role::Leader && asked == self.term && answered == self.term
    }

    /// The network gave no answer to message `seq` (lost, or the peer is unreachable).
    fn message_lost(&mut self, peer: usize, seq: u64, asked: u64) {
        if self.role == Role::Leader && asked == self.term {
            let p = &mut self.progress[peer];
            if p.in_flight == Some(seq) {
                p.in_flight = None; // the next heartbeat carries the data again
            }
        }
    }

    /// The outcome of AppendEntries message `seq` sent to `from` with `args`.
    pub fn handle_append_entries_reply(
        &mut self,
        from: usize,
        seq: u64,
        args: &AppendEntriesArgs<C>,
        reply: Option<AppendEntriesReply>,
    ) {
        let Some(reply) = reply else {
            self.message_lost(from, seq, args.term);
            return;
        };
        if !self.accept_reply(from, seq, args.term, reply.term) {
            return;
        }
        if reply.success {
            self.advance(from, args.prev_log_index + args.entries.len() as u64);
        } else {
            self.back_up(from, args.prev_log_index, &reply);
        }
        self.maybe_send(from);
    }

    /// The outcome of InstallSnapshot message `seq` sent to `from` with `args`.
    pub fn handle_install_snapshot_reply(
        &mut self,
        from: usize,
        seq: u64,
        args: &InstallSnapshotArgs,
        reply: Option<InstallSnapshotReply>,
    ) {
        let Some(reply) = reply else {
            self.message_lost(from, seq, args.term);
            return;
        };
        if !self.accept_reply(from, seq, args.term, reply.term) {
            return;
        }
        self.advance(from, args.last_included_index);
        self.maybe_send(from);
    }

    /// `from` is known to hold everything through `matched`.
    fn advance(&mut self, from: usize, matched: u64) {
        let p = &mut self.progress[from];
        p.matched = p.matched.max(matched);
        p.next = p.next.max(p.matched + 1);
        self.maybe_commit();
    }

    /// `from` rejected a message whose consistency check was at `prev`: move `next` back using
    /// the conflict hint (section 5.3's optimization).
    fn back_up(&mut self, from: usize, prev: u64, reply: &AppendEntriesReply) {
        let matched = self.progress[from].matched;
        if prev <= matched {
            return; // stale: the follower is known to match through `matched`
        }
        let hint = match reply.conflict_term {
            // If we have entries of the follower's conflicting term, the logs may agree up to
            // our last one of them; otherwise skip the follower's whole term.
            Some(term) => self
                .log
                .last_index_of_term(term)
                .map_or(reply.conflict_index, |last| last + 1),
            // The follower's log ends before `prev`.
            None => reply.conflict_index,
        };
        // At least one step back from the rejected probe (progress), never to or below what
        // is known to match, and never forward: a lower `next` from a newer rejection stays.
        let next = hint.min(prev).max(matched + 1);
        let p = &mut self.progress[from];
        p.next = p.next.min(next);
    }

    /// Figure 2's commit rule for leaders, with Figure 8's restriction: the highest index
    /// replicated on a majority is committed only if its entry is of the current term. Entries
    /// of earlier terms are never committed by counting replicas; they commit along with a
    /// later entry of this term, by the Log Matching property.
    ///
    /// The majority is of the voters of the latest configuration (of both halves of a joint
    /// one); a leader that removed itself does not count itself (`membership.rs`).
    pub(super) fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let me = self.me();
        let last = self.log.last_index();
        let progress = &self.progress;
        let matched = |p: usize| if p == me { last } else { progress[p].matched };
        let majority = self.configs.voters().quorum_value(matched);
        if majority > self.commit && self.log.term(majority) == Some(self.term) {
            self.commit = majority;
            tracing::debug!(kind = "commit", "commit index {majority}");
            self.config_committed();
        }
    }
}
