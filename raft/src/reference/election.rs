//! Elections (section 5.2), and the two guards production Raft adds to them (lab 2E, Ongaro's
//! thesis sections 9.6 and 6.2; etcd's `PreVote` and `CheckQuorum`), each off unless
//! [`CoreConfig`](super::core::CoreConfig) switches it on.
//!
//! # PreVote: ask before standing
//!
//! A peer cut off from the others times out again and again. Without PreVote each timeout
//! starts an election in a new term, so when it comes back its term is far ahead: its first
//! message makes the leader step down, and the cluster holds an election it did not need (which
//! the returning peer, behind in the log, cannot even win). With PreVote, a peer whose timer
//! fires first asks the others whether they *would* vote for it in the next term, without
//! changing anyone's term or vote, its own included; only once a majority says yes does it
//! stand for real. A peer says yes only if the asker's log is at least as up-to-date as its own
//! (the election restriction) and it has not heard from a leader for a minimum election
//! timeout: while a leader is working, nobody helps depose it. So neither a returning peer nor
//! one whose link to the leader drops now and then moves any term.
//!
//! # CheckQuorum: a leader must keep hearing from a majority
//!
//! A leader cut off with a minority keeps believing it leads (nothing tells it otherwise) while
//! the majority elects another; a client talking to it waits for commits that never come. With
//! CheckQuorum a leader counts, once per election timeout, the peers that answered it during
//! that time, itself once, and steps down if they are not a majority. And since a leader that
//! keeps a majority is then known to be working, a peer that heard from one within the minimum
//! election timeout ignores a RequestVote from a higher term (section 4.2.3's guard against
//! disruptive servers), as it refuses pre-votes.

use super::core::{Core, Request, Role};
use super::messages::{PreVoteArgs, PreVoteReply, RequestVoteArgs, RequestVoteReply};
use crate::Command;

impl<C: Command> Core<C> {
    /// The election timer fired: stand, or first ask whether standing could succeed.
    pub(super) fn election_timed_out(&mut self) {
        if !self.configs.voters().contains(self.me()) {
            // Not a voter (yet, or any more): it waits to hear from a leader (lab 2F).
            self.reset_election_timer();
            return;
        }
        if self.cfg.pre_vote {
            self.start_pre_vote();
        } else {
            self.start_election();
        }
    }

    /// Whether this peer knows of a working leader: it is one, or heard from the current
    /// term's leader within the minimum election timeout. Such a peer helps no one stand.
    pub(super) fn leader_in_lease(&self) -> bool {
        self.role == Role::Leader
            || self
                .leader_heard
                .is_some_and(|at| self.now - at < self.cfg.election_ticks.start)
    }

    /// What a vote request says about the asker's log: at least as up-to-date as ours
    /// (section 5.4.1), comparing the last entries' terms, then the logs' lengths.
    fn log_up_to_date(&self, args: &RequestVoteArgs) -> bool {
        (args.last_log_term, args.last_log_index) >= (self.log.last_term(), self.log.last_index())
    }

    fn vote_request(&self) -> RequestVoteArgs {
        RequestVoteArgs {
            term: self.term,
            candidate: self.me(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        }
    }

    /// Counts `from`'s vote; true once a majority, this peer included, voted.
    fn count_vote(&mut self, from: usize) -> bool {
        self.votes[from] = true;
        self.has_votes()
    }

    /// Whether a majority (of each half of a joint configuration) voted.
    fn has_votes(&self) -> bool {
        self.configs.voters().has_quorum(|p| self.votes[p])
    }

    fn start_counting_votes(&mut self) {
        let me = self.me();
        self.votes = vec![false; self.cfg.peers];
        self.votes[me] = true;
    }

    // ---- PreVote ----

    fn start_pre_vote(&mut self) {
        self.role = Role::PreCandidate;
        self.reset_election_timer();
        self.start_counting_votes();
        if self.has_votes() {
            self.start_election();
            return;
        }
        tracing::info!(
            kind = "election",
            "timed out: asks whether it could win term {}",
            self.term + 1
        );
        // The term it would stand in; its own stays as it is.
        let args = PreVoteArgs(RequestVoteArgs {
            term: self.term + 1,
            ..self.vote_request()
        });
        for peer in self.others() {
            self.send(peer, Request::PreVote(args.clone()));
        }
    }

    /// PreVote receiver: would this peer vote for the asker in `args.term`? Changes nothing
    /// here, neither term nor vote nor timer.
    pub fn handle_pre_vote(&mut self, args: PreVoteArgs) -> PreVoteReply {
        let PreVoteArgs(args) = args;
        let granted =
            args.term > self.term && self.log_up_to_date(&args) && !self.leader_in_lease();
        PreVoteReply(RequestVoteReply {
            term: self.term,
            vote_granted: granted,
        })
    }

    /// The outcome of a PreVote this peer sent: with a majority, stand for real.
    pub fn handle_pre_vote_reply(
        &mut self,
        from: usize,
        args: &PreVoteArgs,
        reply: Option<PreVoteReply>,
    ) {
        let Some(PreVoteReply(reply)) = reply else {
            return;
        };
        // A refusal from a newer term: that term has a leader or an election; follow it.
        self.observe_term(reply.term);
        let asked_for = args.0.term;
        if self.role != Role::PreCandidate || asked_for != self.term + 1 || !reply.vote_granted {
            return;
        }
        if self.count_vote(from) {
            self.start_election();
        }
    }

    // ---- Elections ----

    pub(super) fn start_election(&mut self) {
        self.term += 1;
        self.voted_for = Some(self.me());
        self.leader_heard = None;
        self.state_dirty = true;
        self.role = Role::Candidate;
        self.reset_election_timer();
        tracing::info!(
            kind = "election",
            "timed out: candidate in term {}",
            self.term
        );
        self.start_counting_votes();
        if self.has_votes() {
            self.become_leader();
            return;
        }
        let args = self.vote_request();
        for peer in self.others() {
            self.send(peer, Request::Vote(args.clone()));
        }
    }

    /// RequestVote receiver (Figure 2).
    pub fn handle_request_vote(&mut self, args: RequestVoteArgs) -> RequestVoteReply {
        if self.cfg.check_quorum && args.term > self.term && self.leader_in_lease() {
            // A working leader exists (it would step down otherwise): the asker is a
            // disruptive server. Neither adopt its term nor vote.
            return RequestVoteReply {
                term: self.term,
                vote_granted: false,
            };
        }
        self.observe_term(args.term);
        let granted = args.term == self.term
            && self.voted_for.is_none_or(|v| v == args.candidate)
            && self.log_up_to_date(&args);
        if granted {
            self.voted_for = Some(args.candidate);
            self.state_dirty = true;
            // Only a granted vote resets the timer: a candidate that cannot win (stale log)
            // must not keep the peers that could win from standing.
            self.reset_election_timer();
            tracing::info!(
                kind = "vote",
                "votes for peer {} in term {}",
                args.candidate,
                self.term
            );
        }
        RequestVoteReply {
            term: self.term,
            vote_granted: granted,
        }
    }

    /// The outcome of a RequestVote this peer sent. A lost one is not retried: if the election
    /// fails, the next one asks again.
    pub fn handle_request_vote_reply(
        &mut self,
        from: usize,
        args: &RequestVoteArgs,
        reply: Option<RequestVoteReply>,
    ) {
        let Some(reply) = reply else { return };
        self.observe_term(reply.term);
        if self.role != Role::Candidate || args.term != self.term || !reply.vote_granted {
            return; // not a vote for this election
        }
        if self.count_vote(from) {
            self.become_leader();
        }
    }

    // ---- CheckQuorum ----

    /// The length of a CheckQuorum round, in ticks: the longest election timeout, so that a
    /// follower that answers at the heartbeat rate is heard in every round even on a lossy
    /// network.
    fn quorum_round(&self) -> u64 {
        self.cfg.election_ticks.end
    }

    /// A leader's tick: at the end of each round, step down unless a majority, this peer
    /// counted once, answered during it.
    pub(super) fn tick_check_quorum(&mut self) {
        if !self.cfg.check_quorum {
            return;
        }
        self.quorum_elapsed += 1;
        if self.quorum_elapsed < self.quorum_round() {
            return;
        }
        self.quorum_elapsed = 0;
        let round = self.quorum_round();
        let me = self.me();
        let heard = |p: usize| p == me || self.now - self.progress[p].last_heard < round;
        if !self.configs.voters().has_quorum(heard) {
            let heard = self.others().filter(|&p| heard(p)).count();
            tracing::info!(
                kind = "leader",
                "steps down in term {}: heard from {heard} of the others in a round",
                self.term
            );
            self.become_follower();
        }
    }

    /// Ticks until the end of the current CheckQuorum round (`u64::MAX` when it is off).
    pub(super) fn ticks_until_quorum_check(&self) -> u64 {
        if !self.cfg.check_quorum {
            return u64::MAX;
        }
        self.quorum_round()
            .saturating_sub(self.quorum_elapsed)
            .max(1)
    }
}
