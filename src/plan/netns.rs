//! Where `c1m run` holds its sockets: a network namespace of its own,
//! `c1m-run-<supervisor pid>`, whose established hash table is sized for
//! them (`c1m_limits::ehash::child_buckets`). Pure: the name, and which
//! names are a run's.
//!
//! The supervisor's pid in the name is what makes a namespace left by a
//! killed run recognisable: one whose pid no longer runs is stale.

/// The first part of every run namespace's name.
pub const RUN_NETNS_PREFIX: &str = "c1m-run-";

/// The namespace of the run whose supervisor is `pid`: `c1m-run-PID`.
pub fn run_netns_name(pid: u32) -> String {
    format!("{RUN_NETNS_PREFIX}{pid}")
}

/// The supervisor's pid in a run namespace's name; `None` for a name
/// that is not `c1m-run-<decimal pid>`.
pub fn run_netns_pid(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(RUN_NETNS_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_not_runs() {
        assert_eq!(run_netns_name(4242), "c1m-run-4242");
        assert_eq!(run_netns_pid(&run_netns_name(4242)), Some(4242));
        for other in [
            "c1m-run-",
            "c1m-run-0",
            "c1m-run-12a",
            "c1m-run--1",
            "c1m-run-+1",
            "c1m-lab",
            "c1m-srv",
            "c1m-cli1",
            "c1m-run-99999999999",
        ] {
            assert_eq!(run_netns_pid(other), None, "{other}");
        }
    }
}
