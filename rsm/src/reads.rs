//! Linearizable reads without the log (lab 3C): ask Raft for a read index, wait until the
//! machine has applied it, then read.

use raft::ReadError;
use tokio::time::{timeout_at, Instant};

use crate::server::{Rejected, Rsm, StateMachine, COMMIT_WAIT};

impl<S: StateMachine> Rsm<S> {
    /// Runs `f` on the machine as of a moment after this call, without a log entry: with a
    /// lease if `lease` and one holds, otherwise after a ReadIndex round. [`Rejected`] if this
    /// peer does not lead, cannot confirm it does, or has not committed an entry of its term
    /// yet (it then proposes [`StateMachine::no_op`], and a retry may succeed), or the machine
    /// did not reach the read index within [`COMMIT_WAIT`].
    pub async fn read_linearizable<R>(
        &self,
        lease: bool,
        f: impl FnOnce(&S) -> R,
    ) -> Result<R, Rejected> {
        if self.is_dead() {
            return Err(Rejected);
        }
        let leased = if lease {
            self.inner.rf.lease_read_index()
        } else {
            Err(ReadError::LeaseExpired)
        };
        let index = match leased {
            Ok(index) => index,
            Err(ReadError::LeaseExpired) => match self.inner.rf.read_index().await {
                Ok(index) => index,
                Err(e) => return Err(self.refused(e)),
            },
            Err(e) => return Err(self.refused(e)),
        };
        let deadline = Instant::now() + COMMIT_WAIT;
        loop {
            let moved = self.inner.applied_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            {
                let st = self.inner.state.lock();
                if st.applied >= index {
                    return Ok(f(&st.machine));
                }
            }
            if self.is_dead() || timeout_at(deadline, moved).await.is_err() {
                return Err(Rejected);
            }
        }
    }

    /// A refused read: a new leader commits a no-op, so that the next read can be served.
    fn refused(&self, e: ReadError) -> Rejected {
        if e == ReadError::NoEntryOfTerm {
            self.commit_entry_of_term();
        }
        Rejected
    }

    /// This peer leads but has not committed an entry of its term (a read or a configuration
    /// change was refused for it): proposes [`StateMachine::no_op`], if the machine has one,
    /// so that a retry can succeed without waiting for a client's write. One per term: the
    /// refusals that follow before it commits need no other.
    pub(crate) fn commit_entry_of_term(&self) {
        let (term, _) = self.inner.rf.get_state();
        let first = {
            let mut st = self.inner.state.lock();
            std::mem::replace(&mut st.no_op_term, term) != term
        };
        if let Some(no_op) = S::no_op().filter(|_| first) {
            self.propose(no_op);
        }
    }
}
