//! The established hash table: where TCP finds the socket of a 4-tuple
//! (`__inet_lookup_established`, net/ipv4/inet_hashtables.c), for every
//! packet that arrives and for every `connect()`'s uniqueness check. Pure:
//! the sizing arithmetic and the summary the doctor reports.
//!
//! Each bucket heads a chain (an `hlist_nulls_head`, one pointer: 8 bytes
//! on 64-bit). With more sockets than buckets the chains grow and every
//! lookup walks one. The host's table is sized once, at boot (from memory,
//! or the `thash_entries=` kernel parameter, Documentation/admin-guide/
//! kernel-parameters.txt); since Linux 6.1 a new network namespace can get
//! its own table of `net.ipv4.tcp_child_ehash_entries` buckets, read from
//! its creator's namespace when it is created (0: share the host's table).
//! `net.ipv4.tcp_ehash_entries` reads this namespace's size, negative when
//! it shares the first namespace's table (Documentation/networking/
//! ip-sysctl.rst; `proc_tcp_ehash_entries`, net/ipv4/sysctl_net_ipv4.c).
//! A child's `tcp_max_tw_buckets` defaults to half its size and its
//! `tcp_max_syn_backlog` to max(128, size / 128) (`tcp_sk_init`,
//! net/ipv4/tcp_ipv4.c).

use serde::Serialize;

use crate::facts::Facts;
use crate::parse::EhashTable;
use crate::target::Target;

/// The most buckets `net.ipv4.tcp_child_ehash_entries` accepts: 2^24
/// (ip-sysctl.rst; `tcp_child_ehash_entries_max`).
pub const MAX_CHILD_BUCKETS: u64 = 1 << 24;

/// Bytes one bucket costs: an `hlist_nulls_head` (one pointer, 64-bit).
/// The kernel adds a spinlock array of its own (`ehash_locks`, at most a
/// few hundred KiB), not counted here.
pub const BYTES_PER_BUCKET: u64 = 8;

/// The load the sizing aims at: sockets per bucket, at most 0.5.
pub const TARGET_LOAD: f64 = 0.5;

/// Buckets for a namespace that holds `sockets` TCP sockets: the power of
/// two at or above 2 × `sockets` (load ≤ [`TARGET_LOAD`]), at most
/// [`MAX_CHILD_BUCKETS`]. At least 1 (0 would mean "share the host's").
///
/// `c1m run` holds 2 sockets per connection: 1,000,000 connections →
/// 2,000,000 sockets → 4,194,304 buckets (32 MiB).
pub fn child_buckets(sockets: u64) -> u64 {
    sockets
        .saturating_mul(2)
        .max(1)
        .checked_next_power_of_two()
        .unwrap_or(MAX_CHILD_BUCKETS)
        .min(MAX_CHILD_BUCKETS)
}

/// Sockets per bucket: the mean chain length a lookup walks.
pub fn load(sockets: u64, buckets: u64) -> Option<f64> {
    (buckets > 0).then(|| sockets as f64 / buckets as f64)
}

/// Bytes `buckets` buckets cost (see [`BYTES_PER_BUCKET`]).
pub fn cost_bytes(buckets: u64) -> u64 {
    buckets.saturating_mul(BYTES_PER_BUCKET)
}

/// The established hash table against a target: the doctor's summary
/// (`ehash` in `c1m doctor --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Buckets of this network namespace's table; `None` when
    /// `net.ipv4.tcp_ehash_entries` is unreadable (before Linux 6.1 it
    /// does not exist).
    pub buckets: Option<u64>,
    /// Whether this namespace owns its table (`false`: it shares the
    /// first namespace's, the sysctl reads negative).
    pub own: Option<bool>,
    /// Sockets the target holds here (2 per connection for `both`).
    pub sockets: u64,
    /// Sockets per bucket at the target; `None` without `buckets`.
    pub load: Option<f64>,
    /// `net.ipv4.tcp_child_ehash_entries` of this namespace: the size of
    /// the next namespace created from it (0: it shares); `None` when
    /// unreadable (before Linux 6.1).
    pub child_setting: Option<u64>,
    /// Buckets that keep the load at the target ≤ 0.5 ([`child_buckets`]).
    pub suggested: u64,
    /// What [`Self::suggested`] buckets cost, bytes.
    pub suggested_bytes: u64,
}

impl Summary {
    /// The table of the namespace `facts` were read in, against `t`.
    pub fn of(facts: &Facts, t: &Target) -> Self {
        let table: Option<EhashTable> = facts.tcp_ehash_entries.get();
        let sockets = t.conns.saturating_mul(t.role.sockets_per_connection());
        let suggested = child_buckets(sockets);
        Self {
            buckets: table.map(|t| t.buckets),
            own: table.map(|t| t.own),
            sockets,
            load: table.and_then(|tb| load(sockets, tb.buckets)),
            child_setting: facts.tcp_child_ehash_entries.get(),
            suggested,
            suggested_bytes: cost_bytes(suggested),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_keeps_load_at_most_half_in_powers_of_two() {
        let cases = [
            (0, 1),
            (1, 2),
            (40_000, 131_072),
            (65_536, 131_072),
            (65_537, 262_144),
            (400_000, 1_048_576),
            (2_000_000, 4_194_304),
            (8_388_608, 16_777_216),
            (8_388_609, MAX_CHILD_BUCKETS),
            (u64::MAX, MAX_CHILD_BUCKETS),
        ];
        for (sockets, want) in cases {
            let got = child_buckets(sockets);
            assert_eq!(got, want, "{sockets} sockets");
            assert!(got.is_power_of_two());
            if got < MAX_CHILD_BUCKETS {
                assert!(load(sockets, got).unwrap() <= TARGET_LOAD, "{sockets}");
            }
        }
    }

    #[test]
    fn load_and_cost() {
        assert_eq!(load(2_000_000, 262_144), Some(2_000_000.0 / 262_144.0));
        assert_eq!(load(1, 0), None);
        assert_eq!(cost_bytes(4_194_304), 32 << 20);
    }
}
