//! What trial 5 found untrue in c1m's counts, each checked against the
//! test's own reading of the kernel's table (`/proc/net/tcp`, every
//! 20 ms by a thread, with the wall-clock time of each):
//!
//! - A stage not met (`--rate` slower than `--ramp-up` asks) keeps the
//!   clients opening to the end: the top and the end are read from a
//!   fleet at rest (told to stop opening, settled), so none of c1m's own
//!   handshakes is called another process's, and what it held is what
//!   the test counts on the plateau, all of it accepted by the server.
//! - A server whose hold ends mid-ramp resets everything held at once,
//!   between two samples: "reached" keeps each worker's own high-water
//!   mark, so it is no less than the most held at once.
//!
//! Ports: 127.0.9.151:18151 (stage not met), 127.0.9.152:18152 (server
//! ending).

use std::net::SocketAddr;
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::truth::{self, TcpState};
use crate::util::watch::Watch;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// Client-side ESTABLISHED to `addr`, whoever's: one read of the table
/// (no settling: it is read while a ramp moves).
fn clients_of(addr: SocketAddr) -> impl Fn() -> Option<u64> {
    move || {
        let rows = truth::tcp_table();
        Some(
            rows.iter()
                .filter(|r| r.state == TcpState::Established && r.remote == addr)
                .count() as u64,
        )
    }
}

/// The summary rows of a c1m's stdout whose key starts with `key`.
fn rows_of<'a>(o: &'a Outcome, key: &str) -> Vec<&'a str> {
    o.stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
        .collect()
}

/// `--ramp-up 2s --rate 500 -n 3000 --hold 1s` to a `c1m serve` of its
/// own process: both stages unmet, the clients opening through the top
/// and the end. The test's table holds no other client of the target,
/// so nothing may be called another process's; the end's count is the
/// plateau the test read after the clients stopped opening (the most it
/// ever read: nothing closes before the teardown), and the server
/// accepted all of it.
#[test]
fn a_stage_not_met_is_read_at_rest_and_none_of_c1ms_is_anothers() {
    let _g = heavy();
    let listen = "127.0.9.151:18151";
    let addr: SocketAddr = listen.parse().unwrap();
    let serve = spawn(&["serve", "--listen", listen, "--hold", "120s"]);
    wait_listening_on(addr, Duration::from_secs(30));
    let watch = Watch::every(Duration::from_millis(20), clients_of(addr));
    let (c, json) = spawn_with_report(
        "truth15-unmet",
        &[
            "connect",
            listen,
            "--ramp-up",
            "2s",
            "--rate",
            "500",
            "-n",
            "3000",
            "--hold",
            "1s",
        ],
    );
    let mut o = Outcome::of_finished(c.finish(LIMIT), &json);
    let seen = watch.stop();
    let _ = serve.interrupt(Duration::from_secs(30));
    let most = seen.iter().map(|&(_, n)| n).max().unwrap_or(0);
    o.note_truth(format_args!(
        "the test's most client-side ESTABLISHED {most}"
    ));
    let ctx = || o.context();

    // Neither stage met: 500 a second cannot open 3,000 in 3 s.
    o.assert_exit(1);
    let stages = o.get("stages.stages").as_array().unwrap();
    assert!(
        stages.iter().all(|s| s["met"] == false),
        "both stages unmet{}",
        ctx()
    );
    // Only c1m's clients were on the target: none called another's, at
    // the top or at the end.
    for when in ["at_top", "at_end"] {
        let own = o.u64(&format!("kernel.{when}.client_own"));
        let under_way = o.u64(&format!("kernel.{when}.client_own_other"));
        let all = o.u64(&format!("kernel.{when}.client_side"));
        assert!(
            all <= own + under_way,
            "{when}: everyone's {all}, c1m's own {own} + {under_way} under way{}",
            ctx()
        );
    }
    assert!(rows_of(&o, "not c1m's at the").is_empty(), "{}", ctx());
    // The end is the plateau the test read: the most it ever read (its
    // ramp only rose, and the end is read once the clients stopped).
    let held = o.u64("held.at_end");
    assert_eq!(held, most, "{}", ctx());
    assert_eq!(o.u64("kernel.at_end.client_own"), most, "{}", ctx());
    // The server accepted every one; none waits in its accept queue.
    assert_eq!(o.u64("server_side.accepted"), most, "{}", ctx());
    assert_eq!(o.u64("server_side.waiting"), 0, "{}", ctx());
    // The top, read with the clients frozen, is a count the test read
    // too (a plateau of at least half a second), below the end's.
    let top = o.u64("kernel.at_top.client_own");
    assert!(
        seen.iter().any(|&(_, n)| n == top) && top < held,
        "top {top}{}",
        ctx()
    );
}

/// A `c1m serve --hold 2s` whose hold ends while `connect -n 10000
/// --rate 2000` ramps: it resets every connection it holds together, at
/// the ramp's highest, between two of c1m's samples (trial 5 problem 5:
/// reached 4,453, 4,805 reset). The test reads the clients' ESTABLISHED
/// every 5 ms: reached, which keeps the worker's own high-water mark (or
/// the closes, beyond it, which the summary then names), is no less
/// than the most the test read, and the row says what it is.
#[test]
fn reached_is_not_below_a_peak_between_samples() {
    let _g = heavy();
    let listen = "127.0.9.152:18152";
    let addr: SocketAddr = listen.parse().unwrap();
    let watch = Watch::every(Duration::from_millis(5), clients_of(addr));
    let mut serve = spawn(&["serve", "--listen", listen, "--hold", "2s"]);
    serve.wait_line(" hold ", LIMIT);
    let (c, json) = spawn_with_report(
        "truth15-peak",
        &[
            "connect", listen, "-n", "10000", "--rate", "2000", "--hold", "1s",
        ],
    );
    let mut o = Outcome::of_finished(c.finish(LIMIT), &json);
    let _ = serve.finish(LIMIT);
    let most = watch.stop().iter().map(|&(_, n)| n).max().unwrap_or(0);
    o.note_truth(format_args!("the most the test read at once: {most}"));
    let ctx = || o.context();
    let closes = o.u64("closes.rst") + o.u64("closes.fin") + o.u64("closes.fin_with_data");
    // The server's end closed what it held, mid-ramp.
    assert!(closes > 0 && most < 10_000, "{}", ctx());
    let reached = o.u64("held.reached");
    let row = rows_of(&o, "reached (most at once)");
    assert!(
        row.len() == 1
            && row[0].ends_with(", the most seen (samples every 250 ms, each worker's peak)"),
        "{row:?}{}",
        ctx()
    );
    let between = o
        .stdout
        .contains("more were held at once than c1m's counts saw");
    assert_eq!(between, closes > reached, "{}", ctx());
    // One worker: its peak is the fleet's, at one instant; a handshake
    // it read together with its reset is in the closes (the summary then
    // says so).
    assert!(reached.max(closes) >= most, "{}", ctx());
}
