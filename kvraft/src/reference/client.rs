//! The clerk: numbers its operations and sends each to the servers until one commits it.

use std::time::Duration;

use labrpc::ClientEnd;

use super::rpc::{Err, GetArgs, OpId, PutAppendArgs, PutKind};

/// How long the clerk waits after a full round of servers refused or failed: no leader is
/// known (an election is under way, or the leader is cut off). Also what keeps the virtual clock
/// moving: a round of instant "wrong leader" answers takes no virtual time.
const ROUND_BACKOFF: Duration = Duration::from_millis(25);

/// A client of the key/value service. One operation at a time (the methods take `&mut self`).
pub struct Clerk {
    servers: Vec<ClientEnd>,
    /// This clerk's id, random: clerks are made independently and must not collide.
    client: u64,
    /// The number of the last operation started (the first is 1).
    seq: u64,
    /// The server that answered last: probably still the leader, so it is tried first.
    leader: usize,
}

impl Clerk {
    /// A clerk talking to `servers` (ends in any order).
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers,
            client: labrpc::sim::random_u64(),
            seq: 0,
            leader: 0,
        }
    }

    /// The current value of `key`, or "" if it has none. Retries until it succeeds.
    pub async fn get(&mut self, key: &str) -> String {
        let args = GetArgs {
            key: key.to_string(),
            id: self.next_id(),
        };
        self.retry(|end| {
            let args = args.clone();
            async move {
                match end.call(&args).await {
                    Ok(reply) if reply.err == Err::Ok => Some(reply.value),
                    Ok(reply) if reply.err == Err::NoKey => Some(String::new()),
                    _ => None,
                }
            }
        })
        .await
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        self.put_append(key, value, PutKind::Put).await
    }

    /// Appends `value` to the value of `key` (to "" if it has none).
    pub async fn append(&mut self, key: &str, value: &str) {
        self.put_append(key, value, PutKind::Append).await
    }

    async fn put_append(&mut self, key: &str, value: &str, kind: PutKind) {
        let args = PutAppendArgs {
            key: key.to_string(),
            value: value.to_string(),
            kind,
            id: self.next_id(),
        };
        self.retry(|end| {
            let args = args.clone();
            async move {
                match end.call(&args).await {
                    Ok(reply) if reply.err == Err::Ok => Some(()),
                    _ => None,
                }
            }
        })
        .await
    }

    fn next_id(&mut self) -> OpId {
        self.seq += 1;
        OpId {
            client: self.client,
            seq: self.seq,
        }
    }

    /// Tries servers in turn, starting with the last known leader, until `attempt` succeeds;
    /// sleeps after each full round of failures. A lost request or reply counts as a failure:
    /// the retry carries the same operation id, so it is not applied twice.
    async fn retry<T, F, Fut>(&mut self, attempt: F) -> T
    where
        F: Fn(ClientEnd) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let n = self.servers.len();
        loop {
            for k in 0..n {
                let i = (self.leader + k) % n;
                if let Some(result) = attempt(self.servers[i].clone()).await {
                    self.leader = i;
                    return result;
                }
            }
            tokio::time::sleep(ROUND_BACKOFF).await;
        }
    }
}
