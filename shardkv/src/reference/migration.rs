//! The leader's background work: follow the shard master's configurations one at a time, pull
//! the shards a configuration brings, and tell their previous owners to drop their copies.
//!
//! The tasks only propose; every decision takes effect when the store applies the entry, on
//! every server of the group alike. Followers' tasks idle, so that a new leader takes over
//! wherever its predecessor stopped (the state says what is left to do).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use labrpc::ClientEnd;
use rsm::Rsm;
use tokio::time::sleep;

use super::rpc::{Command, PullArgs, ReleaseArgs};
use super::store::{ShardState, Store};
use crate::MakeEnd;

/// How often the leader asks the shard master for the next configuration (the handout's 100 ms).
const POLL_CONFIG: Duration = Duration::from_millis(100);
/// How often the leader retries pulls and releases that are not done.
const RETRY_MIGRATION: Duration = Duration::from_millis(50);

/// Proposes the next configuration whenever the current one is settled; and a no-op at the
/// start of each term this server leads.
///
/// The no-op matters after a restart. A new leader commits entries of earlier terms only by
/// committing one of its own (Figure 8), and a group may have nothing else to propose: its
/// clerks wait for a shard it is still offering, the new owner already asked for the drop,
/// and the drop sits uncommitted in its log. Without an entry of the new term the group, and
/// every group waiting on it, would wait forever.
pub async fn follow_configs(rsm: Rsm<Store>, mut masters: shardmaster::Clerk) {
    let mut noop_term = 0;
    loop {
        sleep(POLL_CONFIG).await;
        if rsm.is_dead() {
            return;
        }
        let (term, leader) = rsm.get_state();
        if !leader {
            continue;
        }
        if term != noop_term {
            noop_term = term;
            rsm.propose(Command::Noop);
        }
        let (num, settled) = rsm.read(|store| (store.config().num, store.settled()));
        if !settled {
            continue;
        }
        let next = masters.query(Some(num + 1)).await;
        if next.num == num + 1 {
            rsm.propose(Command::Reconfigure(next));
        }
    }
}

/// One step of migration for one shard: where to go, and what to ask.
struct Step {
    shard: usize,
    /// The previous owner's servers.
    servers: Vec<String>,
}

/// Pulls shards in `Pulling` and releases shards in `Releasing`, all shards at once, so that
/// one unreachable group holds up only its own shards.
pub async fn move_shards(rsm: Rsm<Store>, make_end: MakeEnd) {
    let mut ends: BTreeMap<String, ClientEnd> = BTreeMap::new();
    loop {
        sleep(RETRY_MIGRATION).await;
        if rsm.is_dead() {
            return;
        }
        if !rsm.get_state().1 {
            continue;
        }
        let (num, pulls, releases) = rsm.read(|store| {
            let steps = |state| {
                store
                    .shards_in(state)
                    .into_iter()
                    .map(|shard| {
                        let prev = store.prev_config();
                        let owner = prev.shards[shard];
                        let servers = prev.groups.get(&owner).cloned().unwrap_or_default();
                        Step { shard, servers }
                    })
                    .collect::<Vec<_>>()
            };
            (
                store.config().num,
                steps(ShardState::Pulling),
                steps(ShardState::Releasing),
            )
        });
        if pulls.is_empty() && releases.is_empty() {
            continue;
        }
        let mut ends_of = |servers: &[String]| -> Vec<ClientEnd> {
            servers
                .iter()
                .map(|name| {
                    ends.entry(name.clone())
                        .or_insert_with(|| make_end(name))
                        .clone()
                })
                .collect()
        };
        let pulls: Vec<_> = pulls
            .into_iter()
            .map(|step| pull(rsm.clone(), num, step.shard, ends_of(&step.servers)))
            .collect();
        let releases: Vec<_> = releases
            .into_iter()
            .map(|step| release(rsm.clone(), num, step.shard, ends_of(&step.servers)))
            .collect();
        futures::join!(join_all(pulls), join_all(releases));
    }
}

/// Asks the previous owner's servers, one after another, for `shard`'s contents (any of them
/// that applied configuration `num` has them, frozen), and puts them into our log.
async fn pull(rsm: Rsm<Store>, num: u64, shard: usize, ends: Vec<ClientEnd>) {
    for end in ends {
        if let Ok(Some(data)) = end.call(&PullArgs { num, shard }).await {
            let _ = rsm.submit(Command::Install { num, shard, data }).await;
            return;
        }
    }
}

/// Tells the previous owner that we have `shard`, and once it has dropped its copy, records
/// that in our log.
async fn release(rsm: Rsm<Store>, num: u64, shard: usize, ends: Vec<ClientEnd>) {
    for end in ends {
        if end.call(&ReleaseArgs { num, shard }).await == Ok(true) {
            let _ = rsm.submit(Command::Released { num, shard }).await;
            return;
        }
    }
}
