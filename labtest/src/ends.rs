//! Client ends for testers: fresh names for every incarnation, connected to servers by index.

use std::sync::atomic::{AtomicU64, Ordering};

use labrpc::{ClientEnd, Network};

/// Makes ends with names unique within a run, connected to the servers registered as `"0"`,
/// `"1"`, ... (the testers register server `i` under `i.to_string()`).
///
/// Every incarnation of a peer and every clerk gets new ends (MIT's `randstring(20)` names), so
/// that the ends of a crashed incarnation, still held by its aborted tasks, stay disabled for good.
pub struct EndMaker {
    net: Network,
    made: AtomicU64,
}

impl EndMaker {
    /// A maker for ends on `net`.
    pub fn new(net: Network) -> EndMaker {
        EndMaker {
            net,
            made: AtomicU64::new(0),
        }
    }

    /// `n` new ends for `owner` (a label that shows in end names: "kv3", "clerk"), end `j`
    /// connected to server `j`, all disabled. Returns their names (to enable and disable them
    /// later) and the ends.
    pub fn to_servers(&self, owner: &str, n: usize) -> (Vec<String>, Vec<ClientEnd>) {
        (0..n)
            .map(|j| {
                let k = self.made.fetch_add(1, Ordering::Relaxed);
                let name = format!("{owner}->{j}#{k}");
                let end = self.net.make_end(name.clone());
                self.net.connect(&name, &j.to_string());
                (name, end)
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labrpc::sim;

    #[test]
    fn names_are_fresh_and_ends_start_disabled() {
        sim::run(&sim::Config::new(1), || async {
            let net = Network::new();
            let maker = EndMaker::new(net.clone());
            let (a, _) = maker.to_servers("p0", 2);
            let (b, ends) = maker.to_servers("p0", 2);
            assert_eq!(a, ["p0->0#0", "p0->1#1"]);
            assert_eq!(b, ["p0->0#2", "p0->1#3"]);
            assert!(ends[1].call(&Nothing).await.is_err());
        })
        .unwrap();
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Nothing;

    impl labrpc::Rpc for Nothing {
        type Reply = ();
        const NAME: &'static str = "Nothing.Do";
    }
}
