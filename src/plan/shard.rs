//! Shards: one run split over N client machines (or pods, or Slurm array
//! tasks) with no coordinator. Shard `I` of `N` takes `total / N` of every
//! count, and the `total % N` left over go one each to the lowest indexes,
//! so the shards are disjoint and sum to the whole whatever the numbers.
//!
//! Pure arithmetic, no I/O.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0-based: `0 ≤ index < count`, `count ≥ 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// This shard's index, from 0.
    pub index: u32,
    /// How many shards share the work.
    pub count: u32,
}

/// Why a shard could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `I/N` with two whole numbers.
    #[error("a shard is I/N with whole numbers, 0 ≤ I < N (e.g. 0/4), not {0:?}")]
    Syntax(String),
    /// `N` is 0.
    #[error("a shard count must be at least 1 (write I/N, e.g. 0/4)")]
    NoShards,
    /// `I ≥ N`.
    #[error(
        "shard index {index} is not below the shard count {count}: indexes start at 0 (write 0/{count} to {last}/{count})", last = count.saturating_sub(1)
    )]
    OutOfRange {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

impl Shard {
    /// The whole (shard 0 of 1).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`ShardError::NoShards`] for `count == 0`,
    /// [`ShardError::OutOfRange`] for `index ≥ count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            Err(ShardError::NoShards)
        } else if index >= count {
            Err(ShardError::OutOfRange { index, count })
        } else {
            Ok(Self { index, count })
        }
    }

    /// This shard's part of `total`: `total / count`, plus one for the
    /// `total % count` lowest indexes.
    pub fn part(self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(i < total % n)
    }

    /// Where this shard's part starts among `0..total`: the parts of the
    /// shards before it. Shard `I`'s part is `offset..offset + part`.
    pub fn offset(self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        i * (total / n) + i.min(total % n)
    }

    /// This shard's part of a rate (per second): an even split.
    pub fn part_of_rate(self, total: f64) -> f64 {
        total / f64::from(self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// `I/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse().map_err(|_| syntax())?;
        let count = n.trim().parse().map_err(|_| syntax())?;
        Self::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every count up to 1000 shards, over totals that divide and do not:
    /// parts are disjoint, in order, and add up to the whole.
    #[test]
    fn shards_are_disjoint_and_complete() {
        for count in 1..=1000u32 {
            for total in [0, 1, 7, 999, 1000, 1001, 100_000, 1_000_003] {
                let mut next = 0;
                for index in 0..count {
                    let s = Shard::new(index, count).unwrap();
                    assert_eq!(s.offset(total), next, "{s} of {total}");
                    next += s.part(total);
                    // Parts differ by at most one, the larger first.
                    assert!(
                        s.part(total)
                            == total / u64::from(count)
                                + u64::from(u64::from(index) < total % u64::from(count))
                    );
                }
                assert_eq!(next, total, "{count} shards of {total}");
            }
        }
    }

    #[test]
    fn remainders_go_to_the_lowest_indexes() {
        let parts: Vec<u64> = (0..4).map(|i| Shard::new(i, 4).unwrap().part(10)).collect();
        assert_eq!(parts, [3, 3, 2, 2]);
        assert_eq!(Shard::new(3, 4).unwrap().offset(10), 8);
        assert_eq!(Shard::WHOLE.part(12_345), 12_345);
        assert_eq!(Shard::new(1, 4).unwrap().part_of_rate(1000.0), 250.0);
    }

    #[test]
    fn parsing_names_what_is_wrong() {
        assert_eq!("2/5".parse(), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(" 0 / 1 ".parse(), Ok(Shard::WHOLE));
        assert_eq!(
            "5/5".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 5, count: 5 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::NoShards));
        for bad in ["", "3", "a/b", "-1/4", "1/4/5", "1.5/4"] {
            assert_eq!(
                bad.parse::<Shard>(),
                Err(ShardError::Syntax(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(Shard::new(3, 8).unwrap().to_string(), "3/8");
    }
}
