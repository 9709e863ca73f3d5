//! Issue 14, points 1 and 2: ramp stages (`--stages`, `--ramp-up`,
//! `--ramp-down`) and `--reconnect` against servers that close a
//! fraction of their connections (`--close-fraction`).
//!
//! Each run is watched by the test itself: a thread reads the kernel's
//! TCP table every 50 ms (`/proc/net/tcp`, or `/proc/PID/net/tcp` of a
//! worker inside the run's network namespace) and counts the client
//! sockets in ESTABLISHED to the target, with the wall-clock time of
//! each reading. The stages' times come from the report (when each began
//! and ended, on its timeline, placed on the wall clock by
//! `origin.started_at`); every count judged is the test's own, never
//! c1m's counters. Tolerances are on counts and generous; the stages are
//! paced far below what the machine opens (1,500 connections a second),
//! and the readings judged are taken well inside a stage, away from its
//! ends.
//!
//! Ports: 127.0.0.1:8876 (`serve` for `connect --stages`), 8877 (`run`).

use std::time::Duration;

use serde_json::Value;

use crate::util::outcome::Outcome;
use crate::util::truth::{self, TcpRow, TcpState};
use crate::util::watch::{Readings, Watch, between, worker_in_run_netns};
use crate::util::*;

/// Client sockets ESTABLISHED to `port` in `table()`: the client
/// sockets to the servers (`run` spreads them over 127.0.1.x).
fn clients_to(port: u16, table: impl Fn() -> Vec<TcpRow>) -> impl Fn() -> Option<u64> {
    move || {
        let n = table()
            .iter()
            .filter(|r| r.state == TcpState::Established && r.remote.port() == port)
            .count() as u64;
        Some(n)
    }
}

/// Stage `k`'s (start, end) on the report's timeline.
fn span(o: &Outcome, k: usize) -> (f64, f64) {
    let s = &o.get("stages.stages")[k];
    let f = |key: &str| {
        s[key]
            .as_f64()
            .unwrap_or_else(|| panic!("stage {k} has no {key}{}", o.context()))
    };
    (f("started"), f("ended"))
}

/// Every reading from `a` to `b` is within `tol` of `want`, and there
/// are some.
fn all_near(o: &Outcome, seen: &Readings, (a, b): (f64, f64), want: u64, tol: u64, what: &str) {
    let got = between(o, seen, a, b);
    assert!(
        got.len() >= 3,
        "{what}: too few readings from {a:.2} to {b:.2} s: {got:?}{}",
        o.context()
    );
    assert!(
        got.iter().all(|n| n.abs_diff(want) <= tol),
        "{what}: the kernel's counts from {a:.2} to {b:.2} s are not all {want} ± {tol}: {got:?}{}",
        o.context()
    );
}

/// Some reading from `a` to `b` is strictly inside (`lo`, `hi`): the
/// count was on its way, not jumped.
fn some_inside(o: &Outcome, seen: &Readings, (a, b): (f64, f64), lo: u64, hi: u64, what: &str) {
    let got = between(o, seen, a, b);
    assert!(
        got.iter().any(|&n| n > lo && n < hi),
        "{what}: no kernel count from {a:.2} to {b:.2} s between {lo} and {hi}: {got:?}{}",
        o.context()
    );
}

fn stage_targets(o: &Outcome) -> Vec<u64> {
    o.get("stages.stages")
        .as_array()
        .unwrap_or_else(|| panic!("no stages{}", o.context()))
        .iter()
        .map(|s| s["target"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_staged_connect_follows_its_stages_by_the_kernels_count() {
    let _g = heavy();
    let serve = start_serve(&["--listen", "127.0.0.1:8876", "--max-conns", "4000"]);
    let watch = Watch::every(
        Duration::from_millis(50),
        clients_to(8876, truth::tcp_table),
    );
    let stages = "3s:1500,2s:1500,3s:3000,2s:3000,3s:500,2s:500";
    let mut o = Outcome::run(
        "stages-connect",
        &["connect", "127.0.0.1:8876", "--stages", stages],
    );
    let seen = watch.stop();
    o.note_truth(&seen);
    drop(serve);
    o.assert_code(0);
    assert_eq!(o.str("stages.spec"), stages);
    assert_eq!(stage_targets(&o), [1500, 1500, 3000, 3000, 500, 500]);
    // Planned for the largest, judged on the last.
    assert_eq!((o.u64("plan.conns"), o.u64("target")), (3000, 500));
    // Flat stages: every reading from half a second in to the end holds
    // the target (±2%).
    for (k, want) in [(1, 1500), (3, 3000), (5, 500)] {
        let (a, b) = span(&o, k);
        all_near(
            &o,
            &seen,
            (a + 0.5, b - 0.1),
            want,
            want / 50,
            &format!("stage {}", k + 1),
        );
    }
    // Ramps: inside each, the count is on its way (neither where the
    // stage began nor where it ends), going up and coming down.
    for (k, from, to) in [(0, 0, 1500), (2, 1500, 3000), (4, 3000, 500)] {
        let (a, b) = span(&o, k);
        let (lo, hi) = (from.min(to), from.max(to));
        let d = (hi - lo) / 10;
        some_inside(
            &o,
            &seen,
            (a, b),
            lo + d,
            hi - d,
            &format!("stage {} ({from} to {to})", k + 1),
        );
    }
    // The report says each was met, with counts the test's readings at
    // each stage's end agree with (±2% of the larger end).
    for (k, s) in o
        .get("stages.stages")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(
            s["met"],
            Value::Bool(true),
            "stage {}{}",
            k + 1,
            o.context()
        );
        let (_, end) = span(&o, k);
        // The workers' line and the test's readings both lag a loaded
        // machine's clock a little: c1m's count is one the kernel had
        // around the stage's end.
        let near = between(&o, &seen, end - 0.3, end + 0.5);
        let held = s["held"].as_u64().unwrap();
        let larger = s["from"]
            .as_u64()
            .unwrap()
            .max(s["target"].as_u64().unwrap());
        assert!(
            near.iter()
                .any(|n| n.abs_diff(held) <= (larger / 50).max(40)),
            "stage {}: c1m counted {held} at its end, the test read {near:?}{}",
            k + 1,
            o.context()
        );
    }
    // Going down, c1m closed what the stages asked (3,000 to 500).
    assert_eq!(o.u64("clients.shed"), 2500, "{}", o.context());
}

#[test]
fn reconnect_restores_the_count_after_the_server_closes_thirty_percent() {
    let _g = heavy();
    // 3,000 opened over a second, held six, closed over a second; the
    // servers reset 30% of theirs three seconds in; each lost client
    // waits 0.5 to 1 s and reopens.
    let (mut run, json) = spawn_with_report(
        "stages-reconnect",
        &[
            "run",
            "-n",
            "3000",
            "--ports",
            "8877",
            "--ramp-up",
            "1s",
            "--hold",
            "6s",
            "--ramp-down",
            "1s",
            "--reconnect",
            "--reconnect-delay",
            "1s",
            "--close-fraction",
            "30%@3s",
        ],
    );
    // A worker in the run's network namespace: its /proc/PID/net/tcp is
    // that namespace's table.
    let worker = worker_in_run_netns(run.pid());
    let every = Duration::from_millis(50);
    let watch = Watch::every(every, clients_to(8877, move || truth::tcp_table_of(worker)));
    run.wait_line("teardown", Duration::from_secs(60));
    let seen = watch.stop();
    let mut o = Outcome::of_finished(run.finish(Duration::from_secs(60)), &json);
    o.note_truth(&seen);
    o.assert_code(0);
    assert_eq!(o.str("stages.spec"), "1s:3000,6s:3000,1s:0");
    let (hold_start, hold_end) = span(&o, 1);
    let closed_at = o.get("server_closes")[0]["done_at"]
        .as_f64()
        .unwrap_or_else(|| panic!("no close{}", o.context()));
    assert!(closed_at > hold_start + 1.0 && closed_at < hold_end - 2.5);
    // Before the close, all 3,000.
    all_near(
        &o,
        &seen,
        (hold_start + 0.3, closed_at - 0.1),
        3000,
        30,
        "before the close",
    );
    // Right after it, the kernel holds about 70%: the servers closed 30%
    // and nothing came back before half the first back-off step.
    let dip = between(&o, &seen, closed_at, closed_at + 0.6);
    let low = dip.iter().copied().min().unwrap_or(3000);
    assert!(
        (2000..=2250).contains(&low),
        "after the close the kernel's count fell to {low}, not about 2,100: {dip:?}{}",
        o.context()
    );
    // Then every one is back, and stays, to the hold's end.
    all_near(
        &o,
        &seen,
        (closed_at + 1.6, hold_end - 0.05),
        3000,
        30,
        "after the reconnects",
    );
    // The ramp-down closes at its pace, to none.
    let (down_start, down_end) = span(&o, 2);
    let mid = (down_start + down_end) / 2.0;
    some_inside(
        &o,
        &seen,
        (mid - 0.3, mid + 0.3),
        300,
        2700,
        "the ramp-down",
    );
    // c1m's own count of the reopens covers what the kernel saw lost,
    // each counted after a reset (--close rst).
    let rst = o.u64("clients.reconnects.rst");
    assert!(
        rst >= 3000 - low && rst <= 1000,
        "{rst} reopens{}",
        o.context()
    );
    assert_eq!(
        o.u64("servers.shed"),
        o.u64("closes.rst"),
        "{}",
        o.context()
    );
    assert_eq!(o.u64("held.at_end"), 0);
    for s in o.get("stages.stages").as_array().unwrap() {
        assert_eq!(s["met"], Value::Bool(true), "{}", o.context());
    }
}
