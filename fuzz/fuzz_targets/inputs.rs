//! Every parser of what people type into c1m on the same input: its bytes
//! as text, then texts and values generated from them, with the round
//! trips (see `../inputs.rs`). `addresses`, `numbers`, `words` and
//! `reports` fuzz each group alone.
//! Run: `cargo +nightly fuzz run inputs` in `fuzz/`; on stable, a bounded
//! run of the same checks is `tests/it/fuzz_inputs.rs`.

#![no_main]

#[path = "../inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inputs::check(data);
});
