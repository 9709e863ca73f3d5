//! Escapes (`--message`, `--expect`), `--sni`, `--alpn`, `--websocket`, `--header`, `--slo`, `--shard`, `--start-at`, and the words manifests carry (`--name`, `--cpu`, `--time`, …): none may panic, a refusal is one line,
//! what is accepted is in range (see `../inputs.rs`).
//! Run: `cargo +nightly fuzz run words` in `fuzz/`.

#![no_main]

#[path = "../inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inputs::words(&String::from_utf8_lossy(data));
});
