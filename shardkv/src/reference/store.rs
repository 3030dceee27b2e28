//! A group's replicated state: its configuration, and every shard's state and contents.

use serde::{Deserialize, Serialize};
use shardmaster::{Config, Gid, NSHARDS};

use super::rpc::{Command, KeyOp, Request, ShardData};
use crate::key2shard;

/// Where a shard stands for this group, in the current configuration.
///
/// ```text
///             Reconfigure (gained)            Install            Released
///   Absent ─────────────────────────> Pulling ───────> Releasing ────────> Serving
///     ^                                                                       │
///     └───────────────── Drop ────────── Offering <── Reconfigure (lost) ─────┘
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardState {
    /// Not ours, and we hold nothing of it.
    Absent,
    /// Ours, contents here: served.
    Serving,
    /// Ours in this configuration, but the contents are still with the previous owner.
    Pulling,
    /// Ours and served; the previous owner still holds its copy and must be told to drop it.
    Releasing,
    /// Ours in the previous configuration only: the contents wait here, frozen, for the new
    /// owner to pull them and tell us to drop them.
    Offering,
}

/// One shard: its state and what this group holds of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub state: ShardState,
    pub data: ShardData,
}

/// What applying a command gives the waiting handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A Get's value (`None`: no such key).
    Value(Option<String>),
    /// A Put or Append took effect (now or, for a duplicate, earlier).
    Written,
    /// The key's shard is not served here (now).
    WrongGroup,
    /// A configuration or migration step was applied, or was stale and ignored.
    Done,
}

/// A replica group's state machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Store {
    gid: Gid,
    config: Config,
    /// The configuration before `config`: who held each shard we are pulling.
    prev: Config,
    shards: Vec<Shard>,
}

impl Store {
    /// A group that has seen no configuration yet.
    pub fn new(gid: Gid) -> Store {
        let empty = Shard {
            state: ShardState::Absent,
            data: ShardData::default(),
        };
        Store {
            gid,
            config: Config::default(),
            prev: Config::default(),
            shards: vec![empty; NSHARDS],
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn prev_config(&self) -> &Config {
        &self.prev
    }

    /// Whether every migration of the current configuration is over, so the next may start.
    /// (Configurations are taken one at a time: a shard's previous owner is then always the
    /// owner in `prev`.)
    pub fn settled(&self) -> bool {
        self.shards
            .iter()
            .all(|s| matches!(s.state, ShardState::Serving | ShardState::Absent))
    }

    /// Whether clerks' operations on `shard` are served now.
    pub fn serves(&self, shard: usize) -> bool {
        matches!(
            self.shards[shard].state,
            ShardState::Serving | ShardState::Releasing
        )
    }

    /// The shards in `state`.
    pub fn shards_in(&self, state: ShardState) -> Vec<usize> {
        (0..NSHARDS)
            .filter(|&s| self.shards[s].state == state)
            .collect()
    }

    /// The contents of `shard` as of the end of configuration `num - 1`, if this group holds
    /// them for a new owner in configuration `num`.
    pub fn offered(&self, num: u64, shard: usize) -> Option<ShardData> {
        (self.config.num == num && self.shards[shard].state == ShardState::Offering)
            .then(|| self.shards[shard].data.clone())
    }

    /// Whether this group no longer holds `shard` for configuration `num`'s new owner.
    pub fn dropped(&self, num: u64, shard: usize) -> bool {
        self.config.num > num
            || (self.config.num == num && self.shards[shard].state != ShardState::Offering)
    }

    /// Applies one committed entry.
    pub fn apply(&mut self, command: &Command) -> Output {
        match command {
            Command::Client(request) => self.apply_client(request),
            Command::Reconfigure(next) => {
                if next.num == self.config.num + 1 && self.settled() {
                    self.reconfigure(next.clone());
                }
                Output::Done
            }
            Command::Install { num, shard, data } => {
                if self.is(*num, *shard, ShardState::Pulling) {
                    let s = &mut self.shards[*shard];
                    s.data = data.clone();
                    s.state = ShardState::Releasing;
                }
                Output::Done
            }
            Command::Drop { num, shard } => {
                if self.is(*num, *shard, ShardState::Offering) {
                    self.shards[*shard] = Shard {
                        state: ShardState::Absent,
                        data: ShardData::default(),
                    };
                }
                Output::Done
            }
            Command::Released { num, shard } => {
                if self.is(*num, *shard, ShardState::Releasing) {
                    self.shards[*shard].state = ShardState::Serving;
                }
                Output::Done
            }
            Command::Noop => Output::Done,
        }
    }

    fn is(&self, num: u64, shard: usize, state: ShardState) -> bool {
        self.config.num == num && self.shards[shard].state == state
    }

    fn apply_client(&mut self, request: &Request) -> Output {
        let shard = key2shard(request.op.key());
        if !self.serves(shard) {
            return Output::WrongGroup;
        }
        let data = &mut self.shards[shard].data;
        let (key, value, append) = match &request.op {
            KeyOp::Get { key } => return Output::Value(data.kv.get(key).cloned()),
            KeyOp::Put { key, value } => (key, value, false),
            KeyOp::Append { key, value } => (key, value, true),
        };
        if !data.sessions.first_time(request.id) {
            return Output::Written; // a duplicate: applied once already
        }
        let slot = data.kv.entry(key.clone()).or_default();
        if append {
            slot.push_str(value);
        } else {
            slot.clone_from(value);
        }
        Output::Written
    }

    /// Moves to `next`: shards gained are pulled from their previous owner (or start empty
    /// when they had none), shards lost wait for their new owner (or are dropped when they
    /// have none). Shards the change does not touch stay as they are, served throughout.
    fn reconfigure(&mut self, next: Config) {
        for s in 0..NSHARDS {
            let had = self.config.shards[s] == self.gid;
            let has = next.shards[s] == self.gid;
            let shard = &mut self.shards[s];
            match (had, has) {
                (false, true) if self.config.shards[s] == 0 => shard.state = ShardState::Serving,
                (false, true) => shard.state = ShardState::Pulling,
                (true, false) if next.shards[s] == 0 => {
                    shard.state = ShardState::Absent;
                    shard.data = ShardData::default();
                }
                (true, false) => shard.state = ShardState::Offering,
                _ => {}
            }
        }
        self.prev = std::mem::replace(&mut self.config, next);
    }
}

impl rsm::StateMachine for Store {
    type Command = Command;
    type Output = Output;

    fn apply(&mut self, command: &Command) -> Output {
        Store::apply(self, command)
    }

    fn snapshot(&self) -> Vec<u8> {
        labgob::encode(self).expect("shardkv: cannot encode the store")
    }

    fn restore(snapshot: &[u8]) -> Self {
        labgob::decode(snapshot).expect("shardkv: undecodable snapshot")
    }
}
