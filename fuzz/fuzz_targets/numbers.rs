//! Counts, whole numbers, rates with k/M/G, durations and port ranges (`-n`, `--window`, `--rate`, `--hold`, `--interval`, `--port-range`, `stat --ports`): none may panic, a refusal is one line,
//! what is accepted is in range (see `../inputs.rs`).
//! Run: `cargo +nightly fuzz run numbers` in `fuzz/`.

#![no_main]

#[path = "../inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inputs::numbers(&String::from_utf8_lossy(data));
});
