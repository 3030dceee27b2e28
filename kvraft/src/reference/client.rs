//! The clerk: numbers its operations and sends each to the servers until one commits it.

use labrpc::ClientEnd;
use rsm::{OpIds, Servers};

use super::rpc::{Err, GetArgs, PutAppendArgs, PutKind};

/// A client of the key/value service. One operation at a time (the methods take `&mut self`).
pub struct Clerk {
    servers: Servers,
    ids: OpIds,
}

impl Clerk {
    /// A clerk talking to `servers` (ends in any order).
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers: Servers::new(servers),
            ids: OpIds::new(),
        }
    }

    /// The current value of `key`, or "" if it has none. Retries until it succeeds.
    pub async fn get(&mut self, key: &str) -> String {
        let args = GetArgs {
            key: key.to_string(),
            id: self.ids.next_id(),
        };
        self.servers
            .retry(|end| {
                let args = args.clone();
                async move {
                    let reply = end.call(&args).await.ok()?;
                    match reply.err {
                        Err::Ok => Some(reply.value),
                        Err::NoKey => Some(String::new()),
                        Err::WrongLeader => None,
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
            id: self.ids.next_id(),
        };
        self.servers
            .retry(|end| {
                let args = args.clone();
                async move {
                    let reply = end.call(&args).await.ok()?;
                    (reply.err == Err::Ok).then_some(())
                }
            })
            .await
    }
}
