//! A layer c1m speaks over TCP on both sides of `c1m run` (`--tls`,
//! `--websocket`): one run of 2,000 connections with heartbeats, both
//! ends counted with `ss` in the run's namespace during its hold, and the
//! layer's figures checked for the clients and the servers alike.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::outcome::Outcome;
use super::{assert_kernel_counted, run_netns, spawn_with_report, ss_established_in};

/// The connections of [`run_holds_and_echoes`].
pub const N: u64 = 2000;

/// Where a run's report and summary speak of a layer.
pub struct Layer {
    /// Each side's count of connections the layer set up
    /// (`clients.tls_handshakes`: `tls_handshakes`).
    pub done: &'static str,
    /// The histogram of its set-up's time (`latency.tls_handshake`).
    pub latency: &'static str,
    /// Its prefix in each side's memory figures (`memory.clients.tls_conns`,
    /// `tls_heap`: `tls`).
    pub memory: &'static str,
    /// Its name in the summary's split ("of which TLS state": `TLS`).
    pub words: &'static str,
    /// The bytes of its state each side may hold for the [`N`]
    /// connections, idle between heartbeats.
    pub heap: RangeInclusive<i64>,
}

/// `c1m run FLAGS -n 2000 --hold 3s --mode heartbeat --interval 500ms`:
/// asserts it exits 0 with every connection on both ends by `ss` in its
/// namespace and by the kernel's count in its report, each side's
/// set-ups, connections and memory of `layer`, one set-up time each, and
/// every heartbeat's reply; returns the outcome for the layer's own
/// checks.
#[track_caller]
pub fn run_holds_and_echoes(name: &str, flags: &[&str], layer: &Layer) -> Outcome {
    let limit = Duration::from_secs(120);
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        "-n",
        "2000",
        "--hold",
        "3s",
        "--mode",
        "heartbeat",
        "--interval",
        "500ms",
    ]);
    let (mut r, json) = spawn_with_report(name, &args);
    r.wait_line(" hold ", limit);
    let ns = run_netns(r.pid());
    let server = ss_established_in(&ns, "( sport = :8090 )");
    let client = ss_established_in(&ns, "( dport = :8090 )");
    let o = Outcome::of_finished(r.finish(limit), &json);
    o.assert_exit(0);
    assert_eq!((server, client), (N, N), "ss in {ns}{}", o.context());
    assert_kernel_counted(&o.json, N);
    for side in ["clients", "servers"] {
        assert_eq!(
            o.u64(&format!("{side}.{}", layer.done)),
            N,
            "{}",
            o.context()
        );
        let m = layer.memory;
        assert_eq!(
            o.u64(&format!("memory.{side}.{m}_conns")),
            N,
            "{}",
            o.context()
        );
        let heap = o.get(&format!("memory.{side}.{m}_heap")).as_i64().unwrap();
        assert!(
            layer.heap.contains(&heap),
            "{side}: {heap} bytes of {} state for 2,000 connections{}",
            layer.words,
            o.context()
        );
    }
    assert_eq!(
        o.u64(&format!("latency.{}.count", layer.latency)),
        N,
        "{}",
        o.context()
    );
    o.assert_every_reply();
    assert!(
        o.stdout
            .contains(&format!("of which {} state", layer.words)),
        "the summary shows the split{}",
        o.context()
    );
    o
}
