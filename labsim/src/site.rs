//! Code sites: the places in lab and tester code that the watchdog names when the simulation
//! thread is stuck ("peer1 (the task spawned at src/raft.rs:120:9)"). Every poll publishes the
//! id of its site, so ids must be cheap to find: sites are interned by address.

/// A place in lab or tester code that the watchdog can name, interned ([`crate::layer::site`]).
pub type SiteId = u32;

/// What a [`Site`] is compared by: its kind and its address.
pub(crate) type SiteKey = (u8, usize);

/// The kinds of code site the watchdog names. Sites are compared and hashed by address (a
/// `Location` from `#[track_caller]` is a static of the binary), which is all interning them
/// needs and far cheaper than hashing file names on every spawn and `Node::enter`.
#[derive(Clone, Copy, Debug)]
pub enum Site {
    /// The test's own body.
    Body,
    /// A task spawned at this place.
    Spawn(&'static std::panic::Location<'static>),
    /// Code run through `Node::enter` from this place.
    Enter(&'static std::panic::Location<'static>),
    /// The handler of this RPC.
    Handler(&'static str),
}

impl Site {
    pub(crate) fn key(&self) -> SiteKey {
        match self {
            Site::Body => (0, 0),
            Site::Spawn(at) => (1, std::ptr::from_ref(*at) as usize),
            Site::Enter(at) => (2, std::ptr::from_ref(*at) as usize),
            Site::Handler(method) => (3, method.as_ptr() as usize),
        }
    }
}

impl PartialEq for Site {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Site {}

impl std::hash::Hash for Site {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (kind, address) = self.key();
        state.write_usize(address ^ usize::from(kind));
    }
}

/// A hasher for [`Site`] keys, which are addresses already: one multiplication spreads them.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Site::Body => write!(f, "the test body"),
            Site::Spawn(at) => write!(f, "the task spawned at {at}"),
            Site::Enter(at) => write!(f, "the call entered at {at}"),
            Site::Handler(method) => write!(f, "the {method} handler"),
        }
    }
}
