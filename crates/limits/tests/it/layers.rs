//! The crate's modules form layers: a module uses only modules of a lower
//! layer, never one of its own layer or above, so there is no cycle and the
//! readers and parsers (`num`, `parse`, `facts`) never depend on the
//! verdict, the tuning plan or their presentation.
//!
//! Read from the source by `c1m_tidy::check_layers`: every `crate::NAME`
//! path (in `use` lines, braces included, and inline) in a file of a
//! module is an edge from that module to `NAME`. A new module must be
//! given a layer here.

use std::path::Path;

use c1m_tidy::Layers;

/// Lowest first. A module may use modules of earlier layers only.
const LAYERS: Layers<'static> = &[
    // Counts, sizes and plurals as the reports write them; atomic writes;
    // the lock that keeps tunes one at a time.
    &["num", "files", "lock"],
    // Pure parsers for each file read; never panic.
    &["parse"],
    // c1m's measured kernel bytes per socket.
    // Where each setting can be set from a pod.
    &["calibration", "placement"],
    // Reading every limit into `Facts` (the only reading); what is checked
    // for (`Target`, `Role`, `Tuples`).
    &["facts", "target"],
    // The local port range as `connect()` uses it; what `--close fin`
    // leaves behind (TIME_WAIT, orphans). Pure.
    // The established hash table's sizing. Pure.
    &["ports", "closing", "ehash"],
    // `Facts` + `Target` → the doctor's rows. Pure.
    &["rows"],
    // The binding limit and the verdict; the tuning plan. Pure.
    &["verdict", "tune"],
    // Writing and reverting a plan; text, JSON and diff output.
    &["apply", "render"],
    // clap arguments and entry points for the binary.
    &["cli"],
];

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if let Err(problems) = c1m_tidy::check_layers(&src, LAYERS) {
        panic!("{problems}");
    }
}
