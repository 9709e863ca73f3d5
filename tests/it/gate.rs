//! Issue 14, points 3 and 4: `--fail-if` thresholds for CI, with their
//! exit codes (3 held, 4 latency, 5 failures, 6 the ramp's pace), and
//! the timeline as CSV (`--csv`, `c1m report --csv`).
//!
//! Each threshold kind fails and passes against a real `c1m serve` (one
//! worker, a cap of 1,500) or a real `c1m run`; the figure judged is
//! checked against the kernel's table read by the test while c1m holds
//! (`crate::util::truth`), never against c1m's own counters.
//!
//! Ports: 127.0.0.1:8880 (served), 8881 (nothing listens), 8882 (`run`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::util::outcome::{Outcome, connect_and_see};
use crate::util::truth::{self, TcpState};
use crate::util::*;

const CAP: u64 = 1500;

fn served() -> SocketAddr {
    "127.0.0.1:8880".parse().unwrap()
}

/// The one threshold result of a report, and its figure, checked to be
/// the threshold asked for.
fn only_threshold<'a>(o: &'a Outcome, text: &str) -> &'a Value {
    let ts = o.get("thresholds");
    let t = &ts[0];
    assert_eq!(t["threshold"], text, "{ts}{}", o.context());
    t
}

/// `c1m connect 127.0.0.1:8880 -n N --hold 2s EXTRA` to the capped
/// server, with the clients' sockets by state as the test read them from
/// the kernel in its hold (its first progress line of the hold comes
/// about a second in).
fn connect(name: &str, n: &str, extra: &[&str], server: &[u32]) -> (Outcome, truth::StateCounts) {
    let mut args = vec!["127.0.0.1:8880", "-n", n, "--hold", "2s"];
    args.extend_from_slice(extra);
    let (o, seen) = connect_and_see(name, &args, served(), server);
    (o, seen.client)
}

/// `c1m connect TARGET -n N --hold 1s EXTRA`.
fn quick(name: &str, target: &str, n: &str, extra: &[&str]) -> Outcome {
    let mut args = vec!["connect", target, "-n", n, "--hold", "1s"];
    args.extend_from_slice(extra);
    Outcome::run(name, &args)
}

#[test]
fn each_threshold_kind_fails_and_passes_with_its_exit_code() {
    let _g = heavy();
    let serve = start_serve(&[
        "--listen",
        "127.0.0.1:8880",
        "--max-conns",
        &CAP.to_string(),
    ]);
    let server = truth::process_tree(serve.pid());

    // Held: 2,000 asked of a server that holds 1,500. The figure judged
    // is the kernel's count of the clients' ESTABLISHED sockets.
    let (o, client) = connect("held-fails", "2000", &["--fail-if", "held<80%"], &server);
    o.assert_code(3);
    let t = only_threshold(&o, "held<80%");
    assert_eq!(t["status"], "fail");
    assert_eq!(t["exit_code"], 3);
    let kernel = client.get(TcpState::Established);
    assert_eq!(kernel, CAP, "the test's own count{}", o.context());
    assert_eq!(t["value"].as_f64(), Some(100.0 * kernel as f64 / 2000.0));
    assert!(
        o.last_stderr_line()
            .starts_with("c1m: --fail-if held<80%: 1,500 of 2,000 (75%) held at the end"),
        "{}",
        o.context()
    );
    // A held threshold says how many are enough: 75% passes 'held<70%'
    // (exit 0, where the run's own rule, all of -n, would give 1), and
    // the count is the kernel's; closes are the 500 the cap reset.
    let (o, client) = connect(
        "held-passes",
        "2000",
        &["--fail-if", "held<1500", "--fail-if", "closes>=500"],
        &server,
    );
    o.assert_code(5);
    let held = &o.get("thresholds")[0];
    assert_eq!(held["status"], "pass", "{}", o.context());
    assert_eq!(
        held["value"].as_f64(),
        Some(client.get(TcpState::Established) as f64)
    );
    // Reset by the cap: every one asked for that the kernel does not hold.
    let closes = &o.get("thresholds")[1];
    assert_eq!(closes["status"], "fail");
    let reset = 2000 - client.get(TcpState::Established);
    assert_eq!(
        closes["value"].as_f64(),
        Some(reset as f64),
        "{}",
        o.context()
    );
    let o = quick(
        "held-ok",
        "127.0.0.1:8880",
        "2000",
        &["--fail-if", "held<70%"],
    );
    o.assert_code(0);
    assert_eq!(o.get("verdict.ok"), &Value::Bool(true));

    // Errors: half of 200 go to a port where nothing listens (refused).
    let half: SocketAddr = "127.0.0.1:8881".parse().unwrap();
    assert_eq!(truth::listen_queue(half), None, "nothing listens on {half}");
    let (o, seen) = connect_and_see(
        "errors-fail",
        &[
            "127.0.0.1:8880-8881",
            "-n",
            "200",
            "--hold",
            "2s",
            "--fail-if",
            "errors>40%",
        ],
        served(),
        &server,
    );
    o.assert_code(5);
    let t = only_threshold(&o, "errors>40%");
    let refused = 200 - seen.client.get(TcpState::Established);
    assert_eq!(refused, 100, "the test's own count");
    assert_eq!(t["value"].as_f64(), Some(100.0 * refused as f64 / 200.0));
    // The short runs that follow hold at most 1,000 of the server's
    // 1,500 between them and judge only their own figures (exit codes,
    // their own latency and ramp): they run at once, each against the
    // same server as alone.
    let spread = "127.0.0.1:8880-8881";
    let one = "127.0.0.1:8880";
    let beats = ["--mode", "heartbeat", "--interval", "100ms"];
    let rtt_fail = [&beats[..], &["--fail-if", "p99(rtt)>1µs"]].concat();
    let rtt_pass = [&beats[..], &["--fail-if", "p99(rtt)>10s"]].concat();
    let held_half = ["--fail-if", "errors>60%", "--fail-if", "held<50%"];
    let runs: [(&str, &str, &[&str]); 6] = [
        ("errors-pass", spread, &["--fail-if", "errors>60%"]),
        ("errors-pass-held", spread, &held_half),
        ("rtt-fail", one, &rtt_fail),
        ("rtt-pass", one, &rtt_pass),
        ("pace-fail", one, &["--fail-if", "ramp_time>1us"]),
        ("pace-pass", one, &["--fail-if", "connect_rate<1/s"]),
    ];
    let [
        errors_pass,
        errors_pass_held,
        rtt_fail,
        rtt_pass,
        pace_fail,
        pace_pass,
    ] = std::thread::scope(|s| {
        runs.map(|(name, target, extra)| s.spawn(move || quick(name, target, "200", extra)))
            .map(|t| t.join().unwrap())
    });

    // Passing errors>60% leaves the run's own rule: fewer held, exit 1;
    // with a held threshold that accepts half, exit 0.
    errors_pass.assert_code(1);
    errors_pass_held.assert_code(0);

    // Latency: round trips of heartbeats echoed by c1m serve.
    rtt_fail.assert_code(4);
    let t = only_threshold(&rtt_fail, "p99(rtt)>1µs");
    assert_eq!(
        t["value"].as_f64(),
        rtt_fail.get("latency.rtt.p99").as_f64()
    );
    rtt_pass.assert_code(0);

    // The ramp's pace: any ramp takes more than 1 µs; none is slower than
    // one connection a second.
    pace_fail.assert_code(6);
    pace_pass.assert_code(0);

    // Several fail: the lowest family's code, every one named.
    let several = ["--fail-if", "ramp_time>1us", "--fail-if", "held<99%"];
    let o = quick("several", one, "2000", &several);
    o.assert_code(3);
    let why = o.last_stderr_line();
    assert!(
        why.contains("--fail-if ramp_time>1us: ") && why.contains("--fail-if held<99%: "),
        "{why}"
    );

    // --abort-on-fail: held falls below in the hold, and the run ends
    // there instead of holding 10 minutes.
    let o = Outcome::run(
        "abort-hold",
        &[
            "connect",
            "127.0.0.1:8880",
            "-n",
            "2000",
            "--hold",
            "10m",
            "--fail-if",
            "held<90%",
            "--abort-on-fail",
        ],
    );
    o.assert_code(3);
    assert_eq!(o.str("end.kind"), "aborted", "{}", o.context());
    assert!(
        o.str("end.why").starts_with("--fail-if held<90% failed "),
        "{}",
        o.context()
    );
    assert_eq!(
        o.get("thresholds")[0]["tripped"]["value"].as_f64(),
        Some(75.0)
    );
    // Errors during the ramp: the clients stop opening at once.
    let o = Outcome::run(
        "abort-ramp",
        &[
            "connect",
            "127.0.0.1:8880-8881",
            "-n",
            "2000",
            "--rate",
            "1000",
            "--fail-if",
            "errors>5",
            "--abort-on-fail",
        ],
    );
    o.assert_code(5);
    assert_eq!(o.str("end.kind"), "aborted", "{}", o.context());
    assert!(o.u64("clients.attempted") < 2000, "{}", o.context());

    let _ = serve.interrupt(Duration::from_secs(30));
}

/// Splits a CSV line of numbers and names (no quoting needed).
fn fields(line: &str) -> Vec<&str> {
    line.split(',').collect()
}

/// `c1m run --csv`: one row per JSON timeline sample, the same columns
/// and values; `c1m report --csv -` writes the same bytes from the saved
/// report; `c1m report --fail-if` judges it again.
#[test]
fn the_csv_is_the_json_timeline_and_a_saved_report_is_judged_again() {
    let _g = heavy();
    let csv = report_path("run-timeline").with_extension("csv");
    let o = Outcome::run(
        "run-timeline",
        &[
            "run",
            "-n",
            "1000",
            "--hold",
            "1s",
            "--ports",
            "8882",
            "--mode",
            "heartbeat",
            "--fail-if",
            "held<99.9%",
            "--fail-if",
            "min_held<100%",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    o.assert_code(0);
    let written = std::fs::read_to_string(&csv).unwrap();
    let mut lines = written.lines();
    let header = fields(lines.next().unwrap());
    let timeline = o.get("timeline").as_array().unwrap();
    assert!(timeline.len() >= 4, "{}", o.context());
    let keys: Vec<&String> = timeline[0].as_object().unwrap().keys().collect();
    let mut sorted = header.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, keys, "the CSV's columns are the JSON's");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), timeline.len());
    for (row, sample) in rows.iter().zip(timeline) {
        for (k, v) in header.iter().zip(fields(row)) {
            match &sample[*k] {
                Value::Null => assert_eq!(v, "", "{k} in {row}"),
                Value::String(s) => assert_eq!(v, s, "{k} in {row}"),
                n => assert_eq!(v.parse::<f64>().ok(), n.as_f64(), "{k} in {row}"),
            }
        }
    }
    assert!(written.contains(",hold,"), "{written}");

    // The saved report, converted and judged again.
    let saved = report_path("run-timeline");
    let out = run(&["report", saved.to_str().unwrap(), "--csv", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        text(&out.stdout),
        written,
        "the same CSV from the saved report"
    );
    assert!(text(&out.stderr).contains("thresholds (--fail-if)"));
    let again = |t: &str| {
        run(&["report", saved.to_str().unwrap(), "--fail-if", t])
            .status
            .code()
    };
    assert_eq!(again("p99(rtt)>1us"), Some(4));
    assert_eq!(again("p99(rtt)>1m"), Some(0));
    assert_eq!(again("reached<=100%"), Some(3));
    assert_eq!(again("errors>=0"), Some(5));
    assert_eq!(again("connect_rate<1G/s"), Some(6));
    // Durations as --hold takes them: bare seconds, hours.
    assert_eq!(again("p99(rtt)>50"), Some(0));
    assert_eq!(again("ramp_time>2h"), Some(0));
    let bad = run(&[
        "report",
        saved.to_str().unwrap(),
        "--fail-if",
        "p99(rtt)>50x",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"x\" is not a unit of time"),
        "{}",
        describe(&bad)
    );
}

/// Converting a saved report is not the run (trial 4, F): a run that
/// lost a worker (its verdict exit 1) converted to CSV exits 0 once the
/// CSV is written; shown alone, or judged again with --fail-if, it exits
/// with the verdict's code. No sockets; ~0.1 s.
#[test]
fn converting_a_report_exits_0_once_written() {
    let saved = format!(
        "{}/tests/fixtures/reports/run-worker-died.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = run(&["report", &saved, "--csv", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stdout).starts_with("t,phase,"),
        "{}",
        describe(&out)
    );
    let html = report_path("converted").with_extension("html");
    let out = run(&["report", &saved, "--html", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(std::fs::read_to_string(&html).unwrap().contains("</html>"));
    // Shown alone, or judged: the verdict's code.
    assert_eq!(run(&["report", &saved]).status.code(), Some(1));
    let judged = run(&["report", &saved, "--csv", "-", "--fail-if", "held<1%"]);
    assert_eq!(judged.status.code(), Some(1), "{}", describe(&judged));
}
