//! The crate's modules form layers, and so do the modules of `diag`: a
//! module uses only modules of a lower layer, never one of its own layer
//! or above, so there is no module cycle, and the shared parsing pieces
//! never depend on a reader. A new module must be given a layer here.
//! The rules (what counts as a use, what is not seen): `c1m_tidy`.

use std::path::{Path, PathBuf};

use c1m_tidy::Layers;

/// The crate's top-level modules, lowest first.
const LAYERS: Layers<'static> = &[
    // `ParseError`, the one error of every parser.
    &["error"],
    // Private helpers of the line-oriented parsers: whole-text checks,
    // numbers, `N kB`, reading a file and naming it in errors.
    &["text"],
    // A `/proc` file held open and re-read with one `pread`.
    &["procfile"],
    // The readers, one per source, independent of each other: `/proc`
    // files (`process` samples `statm` through `procfile`) and netlink
    // sock_diag (`diag`).
    &[
        "meminfo", "sysctl", "sockstat", "netstat", "slabinfo", "process", "diag",
    ],
];

/// The modules of `diag`, lowest first. `diag/mod.rs` (the query types and
/// `TcpDiag`, which sends the requests) stands above them all.
const DIAG_LAYERS: Layers<'static> = &[
    // Pure pieces: the inet_diag filter bytecode; TCP states, state sets
    // and per-state counts.
    &["bytecode", "state"],
    // Walking the netlink messages of a dump reply.
    &["reply"],
    // Classifying the sockets of a reply by target endpoint.
    &["endpoints"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_uses_only_lower_layers() {
    if let Err(problems) = c1m_tidy::check_layers(&src(), LAYERS) {
        panic!("{problems}");
    }
}

#[test]
fn every_diag_module_uses_only_lower_layers() {
    if let Err(problems) = c1m_tidy::check_module_layers(&src(), "diag", DIAG_LAYERS) {
        panic!("{problems}");
    }
}

#[test]
fn the_checker_sees_this_crate_s_uses() {
    // Not vacuous: the uses the layers above allow are seen as edges.
    let edges = |m| {
        c1m_tidy::module_graph(&src(), m)
            .unwrap()
            .edges
            .into_iter()
            .map(|e| format!("{}→{}", e.from, e.to))
            .collect::<Vec<_>>()
    };
    let top = edges("");
    for e in [
        "process→procfile",
        "meminfo→error",
        "meminfo→text",
        "text→error",
    ] {
        assert!(top.iter().any(|t| t == e), "{e} not in {top:?}");
    }
    let diag = edges("diag");
    for e in [
        "endpoints→bytecode",
        "endpoints→reply",
        "endpoints→state",
        "reply→state",
    ] {
        assert!(diag.iter().any(|t| t == e), "{e} not in {diag:?}");
    }
}
