//! Held counts c1m's own connections, never another process's to the same
//! targets: two `c1m connect` at once to one `c1m serve` each report their
//! own `-n`, and each sees the other's connections as not its own.
//!
//! The truth is read while both hold, apart from c1m's code: the kernel's
//! table (`/proc/net/tcp`) joined with each c1m process tree's socket
//! inodes (`/proc/PID/fd`), by `crate::util::truth`.
//!
//! Address: 127.0.9.50:18150. (A local nginx with another client is in
//! `servers.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::truth::{self, TcpState};
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// The summary row `key` of a c1m's stdout: its value, trimmed.
fn row<'a>(o: &'a Outcome, key: &str) -> &'a str {
    o.stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key:?} row{}", o.context()))
}

#[test]
fn two_connects_to_one_server_each_hold_their_own() {
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.50:18150".parse().unwrap();
    let mut serve = spawn(&[
        "serve",
        "--listen",
        "127.0.9.50:18150",
        "--max-conns",
        "6000",
        "--worker-conns",
        "3000",
        "--hold",
        "120s",
    ]);
    wait_listening_on(addr, Duration::from_secs(30));
    let (json_a, json_b) = (report_path("others-a"), report_path("others-b"));
    // a holds 3,000 from before b starts until b holds too; b's 2,000
    // outlive a's hold.
    let mut a = spawn(&[
        "connect",
        "127.0.9.50:18150",
        "-n",
        "3000",
        "--hold",
        "8s",
        "--json",
        json_a.to_str().unwrap(),
    ]);
    a.wait_line(" hold ", LIMIT);
    let mut b = spawn(&[
        "connect",
        "127.0.9.50:18150",
        "-n",
        "2000",
        "--hold",
        "10s",
        "--json",
        json_b.to_str().unwrap(),
    ]);
    b.wait_line(" hold ", LIMIT);
    let seen_a = truth::client_established_of(&truth::process_tree(a.pid()), addr);
    let seen_b = truth::client_established_of(&truth::process_tree(b.pid()), addr);
    let everyone = truth::client_states(addr).get(TcpState::Established);
    assert_eq!((seen_a, seen_b, everyone), (3_000, 2_000, 5_000));

    let mut a = Outcome::of_finished(a.finish(LIMIT), &json_a);
    let mut b = Outcome::of_finished(b.finish(LIMIT), &json_b);
    serve.child.kill().unwrap();
    a.note_truth(("a", seen_a));
    b.note_truth(("b", seen_b));
    a.assert_exit(0);
    b.assert_exit(0);

    // Each held what its own processes held, by the truth, not 5,000.
    assert_eq!(a.u64("held.at_end"), seen_a, "{}", a.context());
    assert_eq!(a.u64("held.reached"), seen_a, "{}", a.context());
    assert_eq!(b.u64("held.at_end"), seen_b, "{}", b.context());
    assert_eq!(b.u64("held.reached"), seen_b, "{}", b.context());
    assert!(row(&b, "held at the end").starts_with("2,000 (100.0%) ESTABLISHED"));

    // b's top: a's 3,000 on the same target, counted by netlink, not b's.
    assert_eq!(b.u64("kernel.at_top.client_own"), seen_b);
    assert_eq!(b.u64("kernel.at_top.client_side"), everyone);
    assert_eq!(
        row(&b, "not c1m's at the top"),
        "3,000 ESTABLISHED to the targets are other processes' — not counted"
    );
    // a's end: b's 2,000.
    assert_eq!(a.u64("kernel.at_end.client_own"), seen_a);
    assert_eq!(a.u64("kernel.at_end.client_side"), everyone);
    assert_eq!(
        row(&a, "not c1m's at the end"),
        "2,000 ESTABLISHED to the targets are other processes' — not counted"
    );
    // Both ends of every connection are on this host: nobody's is a
    // phantom, whoever's they are.
    assert_eq!(a.u64("phantoms.count"), 0);
    assert_eq!(b.u64("phantoms.count"), 0);
}
