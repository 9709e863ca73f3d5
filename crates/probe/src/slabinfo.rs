//! `/proc/slabinfo` (version 2.1): what each kernel object cache holds.
//!
//! Each TCP socket lives in slab caches (`TCP`, `TCPv6`, `tw_sock_TCP`,
//! `request_sock_TCP`, plus its buffers in `skbuff_*` and `kmalloc-*`), so a
//! delta between two readings is the kernel-side memory cost of what
//! happened in between. See slabinfo(5).
//!
//! Caveats worth knowing when reading the numbers:
//! - With SLUB, `active_objs` counts objects in per-CPU slabs as active, so
//!   it over-counts by up to a few slabs per CPU; `num_slabs` is exact.
//! - SLUB merges caches of similar size and flags (`slab_merge`), so some
//!   names share one cache; the big socket caches are not merged.
//! - Reading the file walks every cache's partial slab lists under a lock
//!   (0.3–0.4 ms here with 400k sockets open; more as partial lists grow):
//!   fine once a second, not something to poll at 4 Hz at 2M sockets.
//! - The file is mode 0400: reading it needs root.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::ParseError;
use crate::text::{malformed, number, read_file, whole_text};

const WHAT: &str = "slabinfo";

/// One cache's line of `/proc/slabinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// The cache's name (`TCP`, `kmalloc-256`).
    pub name: String,
    /// Objects in use (see the module docs for SLUB's over-count).
    pub active_objs: u64,
    /// Objects allocated in the cache's slabs, used or free.
    pub num_objs: u64,
    /// Size of one object in bytes, including the allocator's metadata.
    pub objsize: u64,
    /// Objects per slab.
    pub objperslab: u64,
    /// Pages per slab.
    pub pagesperslab: u64,
    /// Slabs holding at least one object in use.
    pub active_slabs: u64,
    /// Slabs allocated.
    pub num_slabs: u64,
}

impl Cache {
    /// Memory the cache holds: `num_slabs * pagesperslab * page_size`.
    pub fn bytes_held(&self, page_size: u64) -> u64 {
        self.num_slabs
            .saturating_mul(self.pagesperslab)
            .saturating_mul(page_size)
    }

    /// Bytes in objects in use: `active_objs * objsize`.
    pub fn bytes_active(&self) -> u64 {
        self.active_objs.saturating_mul(self.objsize)
    }
}

/// The parsed `/proc/slabinfo`: every cache, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlabInfo {
    caches: BTreeMap<String, Cache>,
}

/// How one cache changed between two readings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheDelta {
    /// The cache's name, or `other` for a folded row.
    pub name: String,
    /// Change in `active_objs`.
    pub objects: i64,
    /// Change in memory held ([`Cache::bytes_held`]), in bytes.
    pub bytes: i64,
}

impl SlabInfo {
    /// Parses the text of `/proc/slabinfo`; only version 2.x is understood.
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        let text = whole_text(input, WHAT)?;
        let mut lines = text.lines().enumerate();
        let (_, first) = lines.next().ok_or(ParseError::Truncated { what: WHAT })?;
        let version = first
            .strip_prefix("slabinfo - version:")
            .ok_or_else(|| malformed(WHAT, 1, "no 'slabinfo - version:' header"))?
            .trim();
        if !version.starts_with("2.") {
            return Err(malformed(
                WHAT,
                1,
                format!("version {version:?}, expected 2.x"),
            ));
        }
        let mut caches = BTreeMap::new();
        for (i, line) in lines {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cache = parse_line(line, i + 1)?;
            caches.insert(cache.name.clone(), cache);
        }
        Ok(Self { caches })
    }

    /// One cache by name.
    pub fn get(&self, name: &str) -> Option<&Cache> {
        self.caches.get(name)
    }

    /// All caches, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Cache> {
        self.caches.values()
    }

    /// Number of caches.
    pub fn len(&self) -> usize {
        self.caches.len()
    }

    /// True if no cache was listed.
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// Memory held by all caches, in bytes.
    pub fn total_bytes_held(&self, page_size: u64) -> u64 {
        self.caches
            .values()
            .fold(0, |sum, c| sum.saturating_add(c.bytes_held(page_size)))
    }

    /// What changed from `before` to `after`, one row per cache whose
    /// objects or memory changed (a cache present in only one reading counts
    /// as zero in the other), sorted by bytes delta descending, then name.
    pub fn delta(after: &SlabInfo, before: &SlabInfo, page_size: u64) -> Vec<CacheDelta> {
        let mut names: Vec<&String> = after.caches.keys().chain(before.caches.keys()).collect();
        names.sort();
        names.dedup();
        let mut rows: Vec<CacheDelta> = names
            .into_iter()
            .filter_map(|name| {
                let a = after.caches.get(name);
                let b = before.caches.get(name);
                let objs = |c: Option<&Cache>| c.map_or(0, |c| c.active_objs);
                let held = |c: Option<&Cache>| c.map_or(0, |c| c.bytes_held(page_size));
                let row = CacheDelta {
                    name: name.clone(),
                    objects: signed_diff(objs(a), objs(b)),
                    bytes: signed_diff(held(a), held(b)),
                };
                (row.objects != 0 || row.bytes != 0).then_some(row)
            })
            .collect();
        sort_rows(&mut rows);
        rows
    }
}

/// Keeps the `n` rows with the largest absolute bytes delta and folds the
/// rest into one row named `other` (objects and bytes summed), placed last.
/// The kept rows stay sorted by bytes delta descending.
pub fn top_n(deltas: &[CacheDelta], n: usize) -> Vec<CacheDelta> {
    let mut by_size: Vec<&CacheDelta> = deltas.iter().collect();
    by_size.sort_by(|x, y| {
        y.bytes
            .unsigned_abs()
            .cmp(&x.bytes.unsigned_abs())
            .then(x.name.cmp(&y.name))
    });
    let mut kept: Vec<CacheDelta> = by_size.iter().take(n).map(|&d| d.clone()).collect();
    sort_rows(&mut kept);
    let rest = by_size.get(n..).unwrap_or_default();
    if !rest.is_empty() {
        kept.push(CacheDelta {
            name: "other".into(),
            objects: rest.iter().fold(0i64, |s, d| s.saturating_add(d.objects)),
            bytes: rest.iter().fold(0i64, |s, d| s.saturating_add(d.bytes)),
        });
    }
    kept
}

/// Reads `<proc_root>/slabinfo`. Without root the error says so rather
/// than reading as empty.
pub fn read(proc_root: &Path) -> io::Result<SlabInfo> {
    let path = proc_root.join("slabinfo");
    let bytes = match read_file(&path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(io::Error::new(
                e.kind(),
                format!("reading {} needs root (permission denied)", path.display()),
            ));
        }
        other => other?,
    };
    SlabInfo::parse(&bytes).map_err(|e| crate::text::invalid_data(&path, e))
}

fn sort_rows(rows: &mut [CacheDelta]) {
    rows.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.name.cmp(&y.name)));
}

/// `after - before`, clamped into `i64`.
fn signed_diff(after: u64, before: u64) -> i64 {
    let d = i128::from(after) - i128::from(before);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// `name active num objsize objperslab pagesperslab : tunables l b s :
/// slabdata active_slabs num_slabs sharedavail`.
fn parse_line(line: &str, n: usize) -> Result<Cache, ParseError> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let field = |i: usize, name: &str| -> Result<u64, ParseError> {
        let token = tokens
            .get(i)
            .ok_or_else(|| malformed(WHAT, n, format!("missing {name}")))?;
        number(token, WHAT, n, name)
    };
    let name = tokens
        .first()
        .ok_or_else(|| malformed(WHAT, n, "empty line"))?
        .to_string();
    let slabdata = tokens
        .iter()
        .position(|&t| t == "slabdata")
        .ok_or_else(|| malformed(WHAT, n, "no 'slabdata' section"))?;
    Ok(Cache {
        name,
        active_objs: field(1, "active_objs")?,
        num_objs: field(2, "num_objs")?,
        objsize: field(3, "objsize")?,
        objperslab: field(4, "objperslab")?,
        pagesperslab: field(5, "pagesperslab")?,
        active_slabs: field(slabdata + 1, "active_slabs")?,
        num_slabs: field(slabdata + 2, "num_slabs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "slabinfo - version: 2.1\n# name <active_objs> ...\n";

    fn info(lines: &str) -> SlabInfo {
        SlabInfo::parse(format!("{HEAD}{lines}").as_bytes()).unwrap()
    }

    #[test]
    fn parses_a_line() {
        let s = info("TCP  26 39 2368 13 8 : tunables 0 0 0 : slabdata 2 3 0\n");
        let tcp = s.get("TCP").unwrap();
        assert_eq!((tcp.active_objs, tcp.num_objs, tcp.objsize), (26, 39, 2368));
        assert_eq!((tcp.objperslab, tcp.pagesperslab), (13, 8));
        assert_eq!((tcp.active_slabs, tcp.num_slabs), (2, 3));
        assert_eq!(tcp.bytes_held(4096), 3 * 8 * 4096);
        assert_eq!(tcp.bytes_active(), 26 * 2368);
    }

    #[test]
    fn delta_sorts_and_folds() {
        let before = info(
            "a 1 1 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\nb 5 5 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n",
        );
        let after = info(
            "a 9 9 64 64 1 : tunables 0 0 0 : slabdata 3 3 0\nc 1 1 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n",
        );
        let d = SlabInfo::delta(&after, &before, 4096);
        let rows: Vec<(&str, i64, i64)> = d
            .iter()
            .map(|r| (r.name.as_str(), r.objects, r.bytes))
            .collect();
        assert_eq!(rows, [("a", 8, 8192), ("c", 1, 4096), ("b", -5, -4096)]);
        let top: Vec<(String, i64, i64)> = top_n(&d, 1)
            .into_iter()
            .map(|r| (r.name, r.objects, r.bytes))
            .collect();
        assert_eq!(top, [("a".into(), 8, 8192), ("other".into(), -4, 0)]);
        assert_eq!(top_n(&d, 5).len(), 3);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "slabinfo - version: 1.1\n",
            "nonsense\n",
            "slabinfo - version: 2.1\nTCP 1 2 3\n",
            "slabinfo - version: 2.1\nTCP 1 2 3 4 5 : tunables 0 0 0 : slabdata 1\n",
            "slabinfo - version: 2.1\nTCP x 2 3 4 5 : tunables 0 0 0 : slabdata 1 1 0\n",
            "slabinfo - version: 2.1\nTCP 1 2 3 4 5 : tunables 0 0 0 : slabdata 1 1 0",
        ] {
            assert!(SlabInfo::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn diff_clamps() {
        assert_eq!(signed_diff(u64::MAX, 0), i64::MAX);
        assert_eq!(signed_diff(0, u64::MAX), i64::MIN);
        assert_eq!(signed_diff(3, 5), -2);
    }
}
