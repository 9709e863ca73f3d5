//! What a new user's trial of issue 14's runs found untrue in c1m's
//! reports, end to end, each figure checked against the test's own
//! reading of the kernel's table (`/proc/PID/net/tcp` of a worker inside
//! the run's network namespace, or `/proc/net/tcp`), taken every 50 ms
//! by a thread of the test with the wall-clock time of each.
//!
//! - A ramp-down to 0 ends with nothing of c1m's called another
//!   process's (in the run's own namespace, where the test finds only
//!   c1m's workers' sockets), and nothing c1m closed itself called the
//!   server's.
//! - The top's two counts are of one fleet: c1m's own never above
//!   everyone's.
//! - `serve` whose hold ends while its clients still come shows the most
//!   it held as its top, and the rate they come at.
//! - Ctrl-C in a ramp-down is named so.
//!
//! Ports: 127.0.0.1:8940 (`run` in its namespace), 127.0.9.140:8941
//! (`serve`), 8942 (Ctrl-C).

use std::collections::HashSet;
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::truth::{self, TcpState};
use crate::util::watch::{Watch, between, unix_now, worker_in_run_netns};
use crate::util::*;

/// The run's namespace, read through `worker`'s `/proc/PID/net/tcp`,
/// while its servers still listen on `port`: client sockets ESTABLISHED
/// to it. A table without the listeners is not a reading of the run
/// (its workers are gone, or going).
fn clients_while_served(worker: u32, port: u16) -> impl Fn() -> Option<u64> {
    move || {
        let rows = truth::tcp_table_of(worker);
        let listening = rows
            .iter()
            .any(|r| r.state == TcpState::Listen && r.local.port() == port);
        let n = rows
            .iter()
            .filter(|r| r.state == TcpState::Established && r.remote.port() == port)
            .count() as u64;
        listening.then_some(n)
    }
}

/// The time of the first timeline sample of `phase`, and of the last.
fn phase_span(o: &Outcome, phase: &str) -> (f64, f64) {
    let ts: Vec<f64> = o
        .get("timeline")
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["phase"] == phase)
        .map(|s| s["t"].as_f64().unwrap())
        .collect();
    match (ts.first(), ts.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => panic!("no {phase} sample{}", o.context()),
    }
}

/// A kernel count's figures: (client_own, client_side, server_own,
/// server_side).
fn counted(o: &Outcome, when: &str) -> (u64, u64, u64, u64) {
    let k = |f: &str| o.u64(&format!("kernel.{when}.{f}"));
    (
        k("client_own"),
        k("client_side"),
        k("server_own"),
        k("server_side"),
    )
}

/// `c1m run` ramps 6,000 up, holds while its servers reset 30% (all
/// reopened), and ramps down to 0 in half a second. In its namespace the
/// test finds only its workers' sockets, so none may ever be called
/// another process's; the end, read right on the ramp-down's last
/// closes, holds none, of c1m's or anyone's; no close of its own
/// ramp-down is called the server's. At the top its own count is
/// everyone's, which is the test's.
#[test]
fn a_ramp_down_to_zero_ends_with_nothing_called_anothers() {
    let _g = heavy();
    let (mut run, json) = spawn_with_report(
        "trial-ramp-down",
        &[
            "run",
            "-n",
            "6000",
            "--ports",
            "8940",
            "--ramp-up",
            "1s",
            "--hold",
            "2s",
            "--ramp-down",
            "500ms",
            "--reconnect",
            "--reconnect-delay",
            "200ms",
            "--close-fraction",
            "30%@2.5s",
        ],
    );
    let worker = worker_in_run_netns(run.pid());
    let watch = Watch::fine_near_zero(clients_while_served(worker, 8940));
    // In the hold, before the servers' resets: every ESTABLISHED socket
    // on the target in the run's namespace is one of c1m's workers', so
    // none may ever be called another process's.
    run.wait_line(" hold ", Duration::from_secs(60));
    let strangers = truth::settled(|| {
        let workers = truth::process_tree(run.pid());
        let table = truth::tcp_table_of(worker);
        let theirs: HashSet<u64> = workers
            .iter()
            .flat_map(|&p| truth::socket_inodes(p))
            .collect();
        let ours = table
            .iter()
            .filter(|r| r.state == TcpState::Established)
            .filter(|r| r.remote.port() == 8940 || r.local.port() == 8940)
            .collect::<Vec<_>>();
        let strangers = ours.iter().filter(|r| !theirs.contains(&r.inode)).count();
        (ours.len(), strangers)
    });
    assert_eq!(strangers, (12000, 0), "(sockets, not c1m's workers')");
    run.wait_line("teardown", Duration::from_secs(60));
    let seen = watch.stop();
    let mut o = Outcome::of_finished(run.finish(Duration::from_secs(60)), &json);
    o.note_truth(&seen);
    o.assert_code(0);
    // The servers did reset some, and the clients reopened them.
    assert!(o.u64("closes.rst") > 0, "{}", o.context());
    assert!(o.u64("clients.reconnects.rst") > 0, "{}", o.context());
    // The end is read right on the ramp-down's last closes (the test
    // read c1m's sockets still open just before the stage's end): what
    // c1m closed is in neither count, and nothing is called another
    // process's. (The moment of c1m's reading is its own: the test's
    // readings after it fall on the closes, or on the teardown.)
    let ended = o.get("stages.stages")[2]["ended"]
        .as_f64()
        .unwrap_or_else(|| panic!("the ramp-down did not end{}", o.context()));
    let before = between(&o, &seen, ended - 0.2, ended);
    assert!(
        before.iter().any(|&n| n > 0 && n < 6000),
        "the test read {before:?} before the ramp-down's end{}",
        o.context()
    );
    assert_eq!(counted(&o, "at_end"), (0, 0, 0, 0), "{}", o.context());
    assert_eq!(o.u64("held.at_end"), 0);
    assert!(
        !o.stdout.contains("not c1m's") && !o.stdout.contains("other processes'"),
        "{}",
        o.context()
    );
    // Its own closes are not the server's.
    assert!(
        !o.stdout.contains("the server then closed"),
        "{}",
        o.context()
    );
    // The top: all 6,000, c1m's own and everyone's alike, as the test read
    // them in the flat stage before the servers' resets. (The top is read
    // between the first stage and the second, its clients paused while
    // it is: the second stage begins when it is done.)
    let flat = o.get("stages.stages")[1]["started"]
        .as_f64()
        .unwrap_or_else(|| panic!("the flat stage did not start{}", o.context()));
    let reset = o.get("server_closes")[0]["done_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("no reset{}", o.context()));
    let before = between(&o, &seen, flat + 0.1, reset - 0.1);
    assert!(
        !before.is_empty() && before.iter().all(|&n| n == 6000),
        "the test read {before:?} at the top{}",
        o.context()
    );
    let (own, all, server_own, server_all) = counted(&o, "at_top");
    assert_eq!((own, all), (6000, 6000), "{}", o.context());
    assert!(server_own <= server_all, "{}", o.context());
}

/// `c1m serve --hold 3s` while `connect` opens 6,000 at 1,000 a second:
/// the hold ends with the clients still coming. The top is what the end
/// read (the most it held), as the test read the kernel then; the
/// progress lines say the rate they come at, as the test's readings
/// rise.
#[test]
fn a_serve_that_ends_while_its_clients_ramp_shows_its_top_and_their_rate() {
    let _g = heavy();
    let listen = "127.0.9.140:8941";
    // The server side, counted by `ss` (netlink, filtered in the kernel).
    let filter = format!("src {listen}");
    let watch = Watch::fine_near_zero(move || Some(ss_established(&filter)));
    let (mut serve, json) = spawn_with_report(
        "trial-serve",
        &["serve", "--listen", listen, "--hold", "3s"],
    );
    serve.wait_line(" hold ", Duration::from_secs(30));
    let connect = spawn(&[
        "connect", listen, "-n", "6000", "--rate", "1000", "--hold", "1s",
    ]);
    let mut o = Outcome::of_finished(serve.finish(Duration::from_secs(60)), &json);
    // The connect's ramp goes on, refused, to its end (~6 s), and its
    // top is read then: after the server reset what it held.
    let (_, connect_out, _) = connect.finish(Duration::from_secs(60));
    let seen = watch.stop();
    o.note_truth(&seen);
    o.assert_code(0);
    // Its top, below reached, says when it was read and why (trial 4, C).
    assert!(
        connect_out.contains("read when the ramp ended")
            && connect_out.contains("the server had closed")
            && connect_out.contains("so the top's count is below reached"),
        "{connect_out}"
    );
    // Handshakes the clients were making while the end was read are not
    // phantoms, nor drops to fix with a backlog (trial 4, D): the listen
    // counters saw no SYN cookie or overflow.
    let drops = o.u64("listen_counters.listen_overflows")
        + o.u64("listen_counters.syncookies_sent")
        + o.u64("listen_counters.listen_drops");
    if drops == 0 {
        assert_eq!(o.u64("phantoms.count"), 0, "{}", o.context());
        assert!(!o.stdout.contains("listen backlog"), "{}", o.context());
        // Absent when none.
        let under_way = o.get("phantoms.under_way").as_u64().unwrap_or(0);
        assert_eq!(
            o.stdout.contains("handshakes under way"),
            under_way > 0,
            "{}",
            o.context()
        );
    }
    let own = o.u64("kernel.at_end.server_own");
    // Still coming when the hold ended: more than a second's worth, fewer
    // than all.
    assert!((1000..6000).contains(&own), "{}", o.context());
    // The top is the end's count, the most it held.
    assert_eq!(o.u64("kernel.at_top.server_own"), own, "{}", o.context());
    assert!(o.u64("held.reached") >= own, "{}", o.context());
    // The test's readings: the count was rising when the hold's last
    // sample was taken (the end is read after it: no fewer), and no
    // reading up to the teardown had more, give or take a reading's
    // 50 ms at 1,000 a second.
    let (_, hold_end) = phase_span(&o, "hold");
    let (teardown, _) = phase_span(&o, "teardown");
    let before = between(&o, &seen, hold_end - 0.5, hold_end);
    let upto = between(&o, &seen, hold_end - 0.5, teardown);
    let lo = before.iter().copied().max().unwrap_or(u64::MAX);
    let hi = upto.iter().copied().max().unwrap_or(0);
    assert!(
        own + 60 >= lo && own <= hi + 60,
        "c1m's end {own}, the test read {before:?} then {upto:?}{}",
        o.context()
    );
    // The rate the progress lines show, against the test's: the count's
    // rise over the last second of the hold.
    let rates: Vec<f64> = o
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("hold"))
        .filter_map(|l| {
            let (before, _) = l.split_once("/s now")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .collect();
    let t0 = o.get("origin.started_at").as_f64().unwrap();
    let rise: Vec<&(f64, u64)> = (seen.iter())
        .filter(|(t, _)| *t >= t0 + hold_end - 1.0 && *t <= t0 + hold_end)
        .collect();
    let truth_rate = match (rise.first(), rise.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0),
        _ => 0.0,
    };
    assert!(
        truth_rate > 500.0,
        "the test's rate {truth_rate}{}",
        o.context()
    );
    let last = rates.last().copied().unwrap_or(0.0);
    assert!(
        (last - truth_rate).abs() < truth_rate / 2.0,
        "the progress line's {last}/s now, the test's {truth_rate:.0}/s{}",
        o.context()
    );
}

/// Ctrl-C while a run ramps down: the end says "during the ramp-down",
/// and what it held is what the test read of the paused fleet.
#[test]
fn ctrl_c_in_a_ramp_down_is_named_so() {
    let _g = heavy();
    let (mut run, json) = spawn_with_report(
        "trial-ctrl-c-down",
        &[
            "run",
            "-n",
            "3000",
            "--ports",
            "8942",
            "--ramp-up",
            "1s",
            "--hold",
            "1s",
            "--ramp-down",
            "4s",
        ],
    );
    let worker = worker_in_run_netns(run.pid());
    let watch = Watch::fine_near_zero(clients_while_served(worker, 8942));
    run.wait_line("ramp-down ", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let sigint = unix_now();
    c1m_kill(run.pid(), "INT");
    run.wait_line("teardown", Duration::from_secs(30));
    let teardown_seen = unix_now();
    let seen = watch.stop();
    let mut o = Outcome::of_finished(run.finish(Duration::from_secs(60)), &json);
    o.note_truth(&seen);
    o.assert_code(130);
    assert_eq!(o.str("end.during"), "ramp-down", "{}", o.context());
    assert_eq!(
        o.last_stderr_line(),
        "c1m: interrupted by SIGINT during the ramp-down",
        "{}",
        o.context()
    );
    // Paused in the ramp-down: fewer than the top, more than none, and
    // exactly what the test read of the fleet at rest before teardown.
    let at_rest: Vec<u64> = seen
        .iter()
        .filter(|(t, _)| *t >= sigint + 0.3 && *t <= teardown_seen)
        .map(|(_, n)| *n)
        .collect();
    let held = o.u64("held.at_end");
    assert!((1..3000).contains(&held), "{}", o.context());
    assert_eq!(
        at_rest.iter().copied().max(),
        Some(held),
        "the test read {at_rest:?}{}",
        o.context()
    );
    let (own, all, _, _) = counted(&o, "at_end");
    assert_eq!((own, all), (held, held), "{}", o.context());
}
