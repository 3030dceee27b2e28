//! A service's first leader: the labs above Raft (kvraft, shardmaster, shardkv) can do
//! nothing until a Raft peer under them leads, and a Raft that never elects one (the untouched
//! skeleton, or a service that never registers its peer's RPC service) otherwise shows up only
//! as clerks retrying until the run's time limit, with nothing said about why.

use std::time::Duration;

/// How long a run may go without any leader before the watch fails it: a correct Raft elects
/// one within about a second (MIT's 2A test allows five), and every grader test keeps a
/// majority of each group connected and running while it starts.
pub const FIRST_LEADER_WITHIN: Duration = Duration::from_secs(10);

/// How often the watch looks. A leader that held office for less than this may be missed,
/// but a Raft whose leaders never last 100 ms fails its own 2A tests.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Spawns (on the calling tester's node) a task that fails the run, with a diagnosis, if
/// `has_leader` has not once returned true within [`FIRST_LEADER_WITHIN`]. `what` names the
/// group (`"the kvraft servers"`); `raft_is_reference` says which Raft this build runs on,
/// and so which advice the diagnosis gives.
pub fn fail_without_a_leader<F>(what: &str, raft_is_reference: bool, has_leader: F)
where
    F: Fn() -> bool + Send + 'static,
{
    let what = what.to_string();
    labrpc::sim::spawn(async move {
        let start = labrpc::sim::now();
        while labrpc::sim::now() - start < FIRST_LEADER_WITHIN {
            if has_leader() {
                return;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        if !has_leader() {
            panic!("{}", diagnosis(&what, raft_is_reference));
        }
    });
}

fn diagnosis(what: &str, raft_is_reference: bool) -> String {
    let secs = FIRST_LEADER_WITHIN.as_secs();
    let advice = if raft_is_reference {
        "this build runs on the reference Raft, so look at the service: does it register its \
         Raft peer's RPC service (the \"Raft\" service among those it returns), and does it \
         create its Raft peer with the ends it was given?"
    } else {
        "this build runs on your Raft (raft/src/raft.rs): make it pass Lab 2's tests first \
         (`cargo test -p raft 2a`), or, with the reference solutions at hand, run this lab on \
         the reference Raft by adding the feature raft/reference"
    };
    format!(
        "no Raft peer of {what} was leader at any time in the first {secs} s, so no operation \
         can complete: {advice}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagnosis_says_which_raft_to_suspect() {
        let student = diagnosis("the kvraft servers", false);
        assert!(
            student.contains("no Raft peer of the kvraft servers"),
            "{student}"
        );
        assert!(student.contains("raft/src/raft.rs") && student.contains("raft/reference"));
        let reference = diagnosis("the kvraft servers", true);
        assert!(reference.contains("reference Raft, so look at the service"));
    }
}
