//! The root crate's shape, checked: its modules form layers (a module uses
//! only the layers below it, so there is no cycle), and nothing below the
//! command line imports clap.

use std::path::Path;

use c1m_tidy::Layers;

/// Lowest first. Each layer may use the layers before it only.
const LAYERS: Layers<'static> = &[
    // Vocabulary, pure: causes, histograms, the heartbeat schedule, the
    // address planner, the grammar of --fail-if, PROXY protocol headers.
    &["cause", "latency", "traffic", "plan", "threshold", "proxy"],
    // TLS's and WebSocket's settings, configurations and failure causes,
    // sans I/O.
    &["tls", "ws"],
    // Load shapes over time, pure: stages, the reconnect back-off,
    // --close-fraction.
    &["stages"],
    // The supervisor↔worker protocol: its messages, and a server's cap
    // as one count its workers share.
    &["wire", "cap"],
    // What an experiment found, judged and rendered.
    &["report"],
    // The worker processes.
    &["worker"],
    // The supervisor: one experiment from start to report.
    &["supervisor"],
    // The tools beside the experiment; the manifests of sharded runs
    // (pure: uses only the vocabulary).
    &["ip", "stat", "deploy"],
    &["lab"],
    // The command line.
    &["cmd"],
];

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn modules_use_only_lower_layers() {
    if let Err(problems) = c1m_tidy::check_layers(&src(), LAYERS) {
        panic!("{problems}");
    }
}

#[test]
fn nothing_below_the_command_line_imports_clap() {
    let found = c1m_tidy::scan(&src(), &["cmd", "main.rs"], &["clap"]).unwrap();
    let wrong: Vec<String> = found.iter().map(|f| f.to_string()).collect();
    assert!(
        wrong.is_empty(),
        "clap belongs in src/cmd (implement its traits there for lower types):\n{}",
        wrong.join("\n")
    );
}
