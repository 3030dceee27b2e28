//! The peers as the Raft tester makes and holds them: the commands they log ([`Cmd`]), a handle
//! whose calls run on the peer's node ([`PeerRaft`]), and how `labtest::Cluster` starts one
//! ([`RaftPeers`]: a Raft and an applier that checks what it applies).

use std::sync::Arc;

use labrpc::Service;
use labtest::{Boot, OnNode, ServerKind, ServerName};
use parking_lot::Mutex;
use raft::api::Raft;
use raft::{ConfigCommand, Configuration, Options, Persister};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::appliers::{applier, applier_snap, Applied, ServiceClock, ServiceTime};

/// The commands the tests put in the log: MIT uses ints, and random strings for the byte count;
/// 2F adds the configuration entries Raft makes (see `members.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Int(u64),
    Text(String),
    Config(Configuration),
}

impl Cmd {
    /// The command in a few characters, for a report: an int, or a string's length.
    pub(crate) fn short(&self) -> String {
        match self {
            Cmd::Int(v) => v.to_string(),
            Cmd::Text(t) => format!("a string of {} bytes", t.len()),
            Cmd::Config(c) => format!("configuration {c:?}"),
        }
    }
}

impl From<u64> for Cmd {
    fn from(v: u64) -> Self {
        Cmd::Int(v)
    }
}

impl From<String> for Cmd {
    fn from(v: String) -> Self {
        Cmd::Text(v)
    }
}

impl ConfigCommand for Cmd {
    fn from_config(config: Configuration) -> Self {
        Cmd::Config(config)
    }

    fn as_config(&self) -> Option<&Configuration> {
        match self {
            Cmd::Config(config) => Some(config),
            _ => None,
        }
    }
}

/// A running peer as the tests see it: its Raft on its node (see [`OnNode`]), whose calls all
/// run as code of the peer's node, as if the peer's own service made them: what a call spawns
/// is the peer's (a crash of the peer stops it), and what it panics is the peer's. On a crashed
/// peer (a handle kept from before the crash) a call still runs, on a killed Raft, and whatever
/// it spawns is stopped at once. Cheap to clone.
#[derive(Clone)]
pub struct PeerRaft(pub(crate) OnNode<Raft<Cmd>>);

impl PeerRaft {
    /// `Raft::start`, on the peer.
    #[track_caller]
    pub fn start(&self, cmd: Cmd) -> Option<(u64, u64)> {
        self.0.enter(|rf| rf.start(cmd))
    }

    /// `Raft::get_state`, on the peer.
    #[track_caller]
    pub fn get_state(&self) -> (u64, bool) {
        self.0.enter(|rf| rf.get_state())
    }

    /// `Raft::snapshot`, on the peer.
    #[track_caller]
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.0.enter(|rf| rf.snapshot(index, snapshot));
    }
}

/// The Raft peers as the cluster starts them: each with an applier that checks what it applies
/// against the others (MIT's `start1`).
pub(crate) struct RaftPeers {
    pub(crate) applied: Arc<Mutex<Applied>>,
    pub(crate) services: Arc<Mutex<ServiceTime>>,
    pub(crate) snapshot: bool,
    /// The 2E guards (with none on, `Raft::with_options` is MIT's `Raft::new`).
    pub(crate) options: Options,
    /// 2F: the configuration every peer starts from, made by `Raft::with_membership`; `None`
    /// for `Raft::with_options`.
    pub(crate) initial: Option<Configuration>,
}

impl ServerKind for RaftPeers {
    type Handle = Raft<Cmd>;
    type Persister = Persister;

    /// Server `i` of the network is peer `i`, on node "peer<i>".
    fn name(&self, i: usize) -> ServerName {
        ServerName::numbered("peer", i)
    }

    fn copy(persister: &Persister) -> Persister {
        persister.copy()
    }

    fn start(&self, boot: Boot<Persister>) -> Raft<Cmd> {
        let Boot {
            me: i,
            ends,
            persister,
            node,
            ..
        } = boot;
        if let Err(e) = self.applied.lock().restart(i, &persister.read_snapshot()) {
            panic!("{e}");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let options = self.options;
        let raft = match self.initial.clone() {
            None => node.enter(|| Raft::with_options(ends, i, persister, tx, options)),
            Some(initial) => {
                node.enter(|| Raft::with_membership(ends, i, persister, tx, options, initial))
            }
        };
        let peer = PeerRaft(OnNode::hosted(node.clone(), raft.clone()));
        let applied = self.applied.clone();
        let clock = ServiceClock::new(i, node.id(), self.services.clone(), self.snapshot);
        // The applier is the tester's code, but lives and dies with the peer, like the one MIT
        // runs per peer: a crash stops it, and a failed check in it is the tester's.
        if self.snapshot {
            node.spawn_tester(applier_snap(i, applied, clock, peer, rx));
        } else {
            node.spawn_tester(applier(i, applied, clock, rx));
        }
        raft
    }

    fn services(rf: &Raft<Cmd>) -> Vec<Service> {
        vec![rf.service()]
    }

    fn kill(rf: &Raft<Cmd>) {
        rf.kill();
    }
}
