//! Addresses, port lists and ranges, CIDR blocks, endpoints and targets (`--sources`, `--dests`, `--ports`, `--listen`, `connect` targets, `ip add`, `ip check --target`, `k8s`/`slurm --target`): none may panic, a refusal is one line,
//! what is accepted is in range (see `../inputs.rs`).
//! Run: `cargo +nightly fuzz run addresses` in `fuzz/`.

#![no_main]

#[path = "../inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inputs::addresses(&String::from_utf8_lossy(data));
});
