//! The reports, and logs holding one, that `c1m merge` reads: none may panic, a refusal is one line,
//! what is accepted is in range (see `../inputs.rs`).
//! Run: `cargo +nightly fuzz run reports` in `fuzz/`.

#![no_main]

#[path = "../inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inputs::reports(&String::from_utf8_lossy(data));
});
