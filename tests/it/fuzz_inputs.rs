//! The user-input parsers fuzzed on stable, bounded (issue 12, point 1):
//! the checks of the cargo-fuzz targets (`fuzz/inputs.rs`: no panic, a
//! refusal in one line, what is accepted in range, what c1m writes reads
//! back as itself) over a fixed number of texts and values generated from
//! seeded random bytes, so each run is the same and its time is bounded
//! by the count, not by a clock. `C1M_FUZZ_SEED` varies the seed. Every
//! input that once made a parser fail is kept in [`REGRESSIONS`].
//!
//! cargo-fuzz itself (coverage-guided, open-ended) needs nightly's
//! sanitizer coverage; the test says so and how to run it.

#[path = "../../fuzz/inputs.rs"]
mod inputs;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arbitrary::Unstructured;

/// Texts generated and given to every parser.
const TEXTS: usize = 240_000;

/// Round trips (each a few values of every kind).
const ROUND_TRIPS: usize = 40_000;

/// Inputs that once made a parser panic or fail a property, with what
/// they found.
const REGRESSIONS: &[(&str, &str)] = &[
    (
        "18446744073709551616",
        "a duration of 2^64 s overflowed std's time arithmetic (panic)",
    ),
    ("18446744073709551616s", "the same, with a unit"),
    (
        "1e30",
        "a duration of 1e30 s: Duration::from_secs_f64 panicked",
    ),
    ("-1", "a negative duration"),
    ("NaN", "NaN as a duration or a rate"),
    ("inf", "an infinite duration or rate"),
    ("1e30k", "a rate past 10^12 was taken and started a run"),
    (
        " 5\n-3",
        "tune --port-range printed the text raw: a refusal over two lines",
    ),
    (
        "1.1.1.1\n-0.0.0.0",
        "an address range printed raw: a refusal over two lines",
    ),
    (
        "10.0.0.0/12,10.16.0.0/12",
        "a list of blocks expanded past MAX_EXPANSION (2 M addresses)",
    ),
    (
        "p99<18446744073709551616s",
        "an objective longer than a year",
    ),
    (
        "@18446744073709551616",
        "Unix seconds past what SystemTime holds",
    ),
];

fn seed() -> u64 {
    std::env::var("C1M_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c1_3f22)
}

#[test]
fn every_user_input_parser_keeps_its_properties_on_generated_inputs() {
    for (input, found) in REGRESSIONS {
        eprintln!("fuzz_inputs: regression {input:?} ({found})");
        inputs::all(input);
    }
    let start = Instant::now();
    let seed = seed();
    let texts = AtomicUsize::new(0);
    let trips = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for k in 0..threads {
            let (texts, trips) = (&texts, &trips);
            s.spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed ^ (k as u64).wrapping_mul(0x9e37_79b9));
                let mut bytes = vec![0u8; 4096];
                while texts.load(Ordering::Relaxed) < TEXTS {
                    rng.fill(&mut bytes);
                    let mut u = Unstructured::new(&bytes);
                    let mut n = 0;
                    while u.len() > 64 {
                        let Ok(t) = inputs::text(&mut u) else { break };
                        inputs::all(&t);
                        n += 1;
                    }
                    texts.fetch_add(n, Ordering::Relaxed);
                }
                while trips.fetch_add(1, Ordering::Relaxed) < ROUND_TRIPS {
                    rng.fill(&mut bytes[..512]);
                    inputs::round_trips(&mut Unstructured::new(&bytes[..512])).unwrap();
                }
            });
        }
    });
    eprintln!(
        "fuzz_inputs: {} generated texts through every user-input parser and {ROUND_TRIPS} round trips in {:.2} s (seed {seed}, {threads} threads); {} regression inputs",
        texts.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        REGRESSIONS.len()
    );
    eprintln!(
        "fuzz_inputs: the open-ended cargo-fuzz run is skipped here: cargo-fuzz instruments with -Zsanitizer=fuzzer, which only nightly Rust has; run it with `cargo +nightly fuzz run inputs` in fuzz/ (targets: inputs, addresses, numbers, words, reports, parsers)"
    );
}
