//! The client side: operation ids, the duplicate table, and the retry loop over servers.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use labrpc::ClientEnd;
use serde::{Deserialize, Serialize};

/// One client operation: the clerk's random id and the operation's number (1, 2, ...). A retry
/// carries the same id, so the state machine can apply the operation once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpId {
    pub client: u64,
    pub seq: u64,
}

/// Numbers a clerk's operations.
#[derive(Clone, Debug)]
pub struct OpIds {
    client: u64,
    seq: u64,
}

impl OpIds {
    /// A new client with a random id (from the simulation's RNG: clerks are made independently
    /// and must not collide).
    pub fn new() -> OpIds {
        OpIds {
            client: labrpc::sim::random_u64(),
            seq: 0,
        }
    }

    /// The id of the client's next operation.
    pub fn next_id(&mut self) -> OpId {
        self.seq += 1;
        OpId {
            client: self.client,
            seq: self.seq,
        }
    }
}

impl Default for OpIds {
    fn default() -> Self {
        OpIds::new()
    }
}

/// The duplicate table of a state machine: the last operation applied per client.
///
/// A clerk sends its next operation only after the previous one returned, so an operation
/// numbered at or below the client's entry was applied already (a retry whose first try
/// committed). Only the number is kept, not the reply: 16 bytes per client, in every snapshot.
/// Operations whose result depends on when they run (reads) need no entry: running a
/// duplicate read again reads at its own point in the log, which is still inside the call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    last: BTreeMap<u64, u64>,
}

impl Sessions {
    /// Whether `id` is new, recording it if so: apply the operation only then.
    pub fn first_time(&mut self, id: OpId) -> bool {
        let last = self.last.entry(id.client).or_insert(0);
        if id.seq <= *last {
            return false;
        }
        *last = id.seq;
        true
    }

    /// Takes in another table's entries (the later operation of each client wins), as when a
    /// shard and its table move between groups.
    pub fn merge(&mut self, other: &Sessions) {
        for (&client, &seq) in &other.last {
            let last = self.last.entry(client).or_insert(0);
            *last = (*last).max(seq);
        }
    }
}

/// How long a clerk pauses after every server of a round refused or failed: no leader is known
/// (an election is under way, or the leader is cut off), and asking again at once only loads
/// servers busy electing one.
const ROUND_BACKOFF: Duration = Duration::from_millis(25);

/// A service's servers, as a clerk sees them: tried in turn, starting with the last one that
/// answered (probably still the leader).
pub struct Servers {
    ends: Vec<ClientEnd>,
    leader: usize,
}

impl Servers {
    /// The servers reached by `ends` (in any order).
    pub fn new(ends: Vec<ClientEnd>) -> Servers {
        Servers { ends, leader: 0 }
    }

    /// Tries servers until `attempt` returns `Some`, sleeping after each full round of
    /// failures. A lost request or reply is a failure like a refusal: the retry carries the
    /// same operation id, so the operation is not applied twice.
    pub async fn retry<T, F, Fut>(&mut self, attempt: F) -> T
    where
        F: Fn(ClientEnd) -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let n = self.ends.len();
        loop {
            for k in 0..n {
                let i = (self.leader + k) % n;
                if let Some(result) = attempt(self.ends[i].clone()).await {
                    self.leader = i;
                    return result;
                }
            }
            tokio::time::sleep(ROUND_BACKOFF).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_apply_each_operation_once_and_merge_by_latest() {
        let id = |client, seq| OpId { client, seq };
        let mut s = Sessions::default();
        assert!(s.first_time(id(1, 1)));
        assert!(!s.first_time(id(1, 1)));
        assert!(s.first_time(id(2, 5)));
        assert!(s.first_time(id(1, 2)));
        let mut t = Sessions::default();
        assert!(t.first_time(id(1, 7)));
        t.merge(&s);
        assert!(!t.first_time(id(1, 3)), "the later entry wins");
        assert!(!t.first_time(id(2, 5)));
        assert!(t.first_time(id(2, 6)));
    }
}
