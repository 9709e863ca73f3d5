//! Helpers shared by the integration tests: fixtures and hostile inputs;
//! and the workspace's one rule for tests that need root (`root`).

#![allow(dead_code)]

pub mod live;
/// Shared with the root crate's tests: one rule for every crate.
#[path = "../../../../../tests/it/util/root.rs"]
pub mod root;

use std::path::{Path, PathBuf};

use c1m_probe::ParseError;

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture's bytes, by path under `tests/fixtures`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixtures().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The captured `/proc` tree, a stand-in `proc_root`.
pub fn proc_root() -> PathBuf {
    fixtures().join("proc")
}

/// Prefix lengths to try: all of them for short inputs, otherwise every
/// 7th plus both sides of every newline.
pub fn cut_points(input: &[u8]) -> Vec<usize> {
    if input.len() <= 4096 {
        return (0..input.len()).collect();
    }
    let mut cuts: Vec<usize> = (0..input.len()).step_by(7).collect();
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' {
            cuts.extend([i, i + 1]);
        }
    }
    cuts.retain(|&c| c < input.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Every cut-short copy of a `/proc` text file must be refused unless it
/// ends at a line end (then it may parse); none may panic.
pub fn check_prefixes<T>(input: &[u8], parse: impl Fn(&[u8]) -> Result<T, ParseError>) {
    for cut in cut_points(input) {
        let prefix = &input[..cut];
        let result = parse(prefix);
        if prefix.last() != Some(&b'\n') {
            assert!(result.is_err(), "prefix of {cut} bytes parsed");
        }
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Copies of `input` with a few bytes changed, deleted or duplicated.
pub fn mutations(input: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(input.len() as u64 ^ 0x9e37_79b9);
    const SPICE: &[u8] = b"0123456789 :\n\t-kB#\xff\x00";
    (0..count)
        .map(|_| {
            let mut v = input.to_vec();
            for _ in 0..1 + rng.below(4) {
                if v.is_empty() {
                    break;
                }
                let at = rng.below(v.len());
                match rng.below(4) {
                    0 => v[at] = rng.next() as u8,
                    1 => v[at] = SPICE[rng.below(SPICE.len())],
                    2 => {
                        v.remove(at);
                    }
                    _ => {
                        let b = v[at];
                        v.insert(at, b);
                    }
                }
            }
            v
        })
        .collect()
}

/// Random bytes, and the garbage fixture.
pub fn garbage() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(7);
    let mut out: Vec<Vec<u8>> = (0..64)
        .map(|i| (0..i * 13).map(|_| rng.next() as u8).collect())
        .collect();
    out.push(fixture("bad/garbage.bin"));
    out.push(Vec::new());
    out.push(b"\n".to_vec());
    out
}

/// Runs `parse` on mutated copies and garbage: any result, but no panic.
pub fn check_hostile<T>(input: &[u8], parse: impl Fn(&[u8]) -> Result<T, ParseError>) {
    for bad in mutations(input, 300).into_iter().chain(garbage()) {
        let _ = parse(&bad);
    }
}
