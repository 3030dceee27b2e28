//! Election Safety (Figure 3: at most one leader can be elected in a given term), checked all
//! through every test rather than only when a test happens to look.
//!
//! MIT's `checkOneLeader` compares the leaders it sees at one instant, among connected peers.
//! That misses most violations: two leaders of one term rarely claim it at the same moment (the
//! second usually wins while the first is cut off, or after the first stepped down), and a
//! leader that is cut off still counts. The tester therefore asks every running peer's
//! `get_state()` at the end of every instant of virtual time at which anything ran (what a
//! peer claims then holds until the clock moves: no claim that lasts any virtual time is
//! missed) and remembers, per term, which peer claimed to lead it. A second peer claiming a term that another peer claimed before fails the
//! test, whenever the two claims were made.
//!
//! A correct Raft can never trip this: a term's leader won a majority of that term's votes, and
//! every peer votes at most once per term (which is why votedFor must survive a restart). The
//! bugs it catches are the ones that make a peer vote twice in a term (votedFor not persisted) or
//! count a vote twice (a late grant from an earlier election).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::time::Duration;

/// Per term, the peer seen leading it, and when it was first seen.
#[derive(Default)]
pub struct Leaders {
    by_term: BTreeMap<u64, (usize, Duration)>,
}

impl Leaders {
    /// Peer `peer` claims, at virtual time `now`, to lead `term`. Returns the violation, if
    /// another peer claimed the same term before.
    pub fn saw(&mut self, term: u64, peer: usize, now: Duration) -> Result<(), String> {
        match self.by_term.entry(term) {
            Entry::Vacant(slot) => {
                slot.insert((peer, now));
                Ok(())
            }
            Entry::Occupied(slot) => {
                let (first, at) = *slot.get();
                if first == peer {
                    return Ok(());
                }
                Err(format!(
                    "two leaders in term {term}: peer {first} claimed it at {:.3}s and peer \
                     {peer} at {:.3}s (Election Safety: at most one leader per term; a peer must \
                     not vote twice in a term, so votedFor must be persisted, and a candidate \
                     must count only votes granted in its current election)",
                    at.as_secs_f64(),
                    now.as_secs_f64()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_peer_may_claim_a_term_again_another_may_not() {
        let mut leaders = Leaders::default();
        let t = Duration::from_millis;
        assert!(leaders.saw(3, 1, t(10)).is_ok());
        assert!(leaders.saw(3, 1, t(20)).is_ok());
        assert!(leaders.saw(4, 2, t(30)).is_ok());
        let err = leaders.saw(3, 2, t(40)).unwrap_err();
        assert!(err.contains("two leaders in term 3: peer 1"), "{err}");
    }
}
