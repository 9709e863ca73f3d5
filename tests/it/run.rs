//! `c1m run` end to end, on loopback, through the multi-process path.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::*;

/// `c1m run -n N --worker-conns 5000 ARGS --json REPORT` (the report at
/// `report_path(name)`), started, once its first progress line naming
/// `phase` (`ramp`, `hold`) is out: c1m, its worker processes, the
/// report's path.
fn start_run(name: &str, n: &str, args: &[&str], phase: &str) -> (Running, Vec<u32>, PathBuf) {
    let mut all = vec!["run", "-n", n, "--worker-conns", "5000"];
    all.extend_from_slice(args);
    let (mut c, json) = spawn_with_report(name, &all);
    c.wait_line(phase, Duration::from_secs(120));
    let workers = children(c.pid());
    (c, workers, json)
}

/// The count c1m reports must equal the kernel's, taken by `ss` while c1m
/// holds (in the run's own network namespace when it made one), and both
/// ends must be there.
fn run_and_check(topology: &str, port_args: &[&str], server_filter: &str, name: &str) {
    let _g = heavy();
    let mut args = vec!["--hold", "4s", "--topology", topology];
    args.extend_from_slice(port_args);
    let (c, workers, json) = start_run(name, "100000", &args, "hold");
    let filter = format!("( {server_filter} )");
    let name = run_netns(c.pid());
    let server_side = if run_namespaces().contains(&name) {
        ss_established_in(&name, &filter)
    } else {
        ss_established(&filter)
    };
    let (code, out, err) = c.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{}", err.join("\n"));
    assert_eq!(
        server_side, 100_000,
        "ss saw {server_side} server-side sockets"
    );
    // 100k over 5,000 per worker: at least 20 client and 20 server processes.
    assert!(workers.len() >= 40, "only {} workers", workers.len());
    let r = read_json(&json);
    assert_eq!(r["schema"], "c1m.report/3");
    assert_eq!(r["held"]["at_end"], 100_000);
    assert_kernel_counted(&r, 100_000);
    assert_eq!(r["servers_at_top"]["established"], 100_000);
    assert_eq!(r["workers"]["closed_cleanly"], r["workers"]["started"]);
    assert_eq!(r["end"]["kind"], "completed");
    assert_eq!(r["verdict"]["ok"], true);
    assert!(
        out.lines()
            .any(|l| l.contains("held at the end") && l.contains("100,000 (100.0%)")),
        "{out}"
    );
    assert_all_gone(&workers, Duration::from_secs(5));
}

#[test]
fn spread_100k_over_many_processes() {
    run_and_check("spread", &["--ports", "8190"], "sport = :8190", "spread");
}

#[test]
fn many_ips_100k_to_one_server_port() {
    run_and_check(
        "many-ips",
        &["--ports", "8290"],
        "sport = :8290",
        "many-ips",
    );
    let r = read_json(&report_path("many-ips"));
    let sources = r["plan"]["sources"].as_array().unwrap().len();
    assert!(sources >= 8, "{sources} sources");
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(r["plan"]["bind"], "no-port");
}

#[test]
fn many_ports_100k_from_one_client_ip() {
    run_and_check(
        "many-ports",
        &["--ports", "8300-8329"],
        "sport >= :8300 and sport <= :8329",
        "many-ports",
    );
    let r = read_json(&report_path("many-ports"));
    assert!(r["plan"]["sources"].as_array().unwrap().is_empty());
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 30);
}

#[test]
fn an_impossible_plan_is_refused_with_the_arithmetic() {
    let n = 30 * local_port_count() + 1;
    let out = run(&["run", "--topology", "many-ports", "-n", &n.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    // The doctor's line, then the one-line refusal.
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("c1m: "), "{err}");
    assert!(last.contains("do not fit"), "{err}");
    assert!(last.contains("30 destinations"), "{err}");
    assert!(last.contains("ip_local_port_range"), "{err}");
    assert!(err.lines().count() <= 2, "{err}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn a_target_beyond_the_machine_is_refused_with_the_doctors_verdict() {
    let out = run(&["run", "-n", "100000000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap();
    assert!(last.contains("100,000,000 connections: capped at"), "{err}");
    assert!(last.contains("fix:"), "{err}");
}

#[test]
fn bad_input_is_refused_before_anything_starts() {
    for (args, needle) in [
        (&["run", "-n", "0"][..], "at least 1"),
        (&["run", "--ports", "9000-8000"], "upside down"),
        (&["run", "--dests", "300.1.1.1"], "not an IP address"),
        (&["run", "--sources", "127.0.0.9-127.0.0.1"], "upside down"),
        (
            &["run", "--worker-conns", "99999999"],
            "more than one process may hold",
        ),
        (&["run", "--hold", "soon"], "not a duration"),
        (
            &["run", "-n", "10", "--sources", "::1"],
            "--sources ::1 is IPv6 but the servers' addresses are IPv4",
        ),
        (
            &[
                "run",
                "-n",
                "10",
                "--sources",
                "127.0.0.1",
                "--dests",
                "::1",
            ],
            "--sources 127.0.0.1 is IPv4 but the servers' addresses are IPv6",
        ),
        (&["connect", "nowhere"], "not ADDRESS:PORTS"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn ctrl_c_mid_ramp_leaves_a_complete_report_and_no_processes() {
    let _g = heavy();
    let (c, workers, json) = start_run(
        "interrupted",
        "100000",
        &["--rate", "10000", "--ports", "8390"],
        "ramp",
    );
    assert!(workers.len() >= 40);
    let (code, out, err) = c.interrupt(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    assert!(out.contains("interrupted by SIGINT"), "{out}");
    assert!(out.contains("c1m spread summary"), "{out}");
    let r = read_json(&json);
    let reached = r["held"]["reached"].as_u64().unwrap();
    assert!(reached > 0 && reached < 100_000, "{reached}");
    // Read at rest: the clients stopped opening at the Ctrl-C and the
    // servers caught up, so in the run's own namespace (no other
    // process's sockets) c1m's sockets are everyone's, none waits
    // unaccepted and none exists only on the client.
    let end = &r["kernel"]["at_end"];
    assert_eq!(end["status"], "counted", "{end}");
    assert_eq!(end["client_own"], end["client_side"], "{end}");
    assert_eq!(end["server_own"], end["server_side"], "{end}");
    assert_eq!(end["client_own"], end["server_own"], "{end}");
    assert_eq!(r["server_side"]["waiting"], 0, "{}", r["server_side"]);
    assert_eq!(r["phantoms"]["count"], 0, "{}", r["phantoms"]);
    assert_eq!(
        r["workers"]["closed_cleanly"], r["workers"]["started"],
        "every worker closed in order"
    );
    assert_all_gone(&workers, Duration::from_secs(5));
    // Nothing holds: not in the host's namespace, and the run's is gone.
    assert_eq!(ss_established("( sport = :8390 or dport = :8390 )"), 0);
    assert!(run_namespaces().is_empty(), "{:?}", run_namespaces());
}

// A killed worker, a killed supervisor, Ctrl-C and SIGTERM at every
// stage, at 20,000 connections over 20 workers: tests/it/faults.rs.

/// `c1m run … 2>&1 | head -2`: the reader of stderr is gone after the
/// first lines, and every line after (the progress, the summary) meets a
/// closed pipe (EPIPE). The run goes on to its end as if it were read: it
/// exits with its verdict's code, not by a panic's abort, writes its JSON
/// report, and the kernel counted every connection held; nothing is left.
#[test]
fn a_closed_stderr_does_not_end_the_run() {
    let _g = heavy();
    let json = report_path("stderr-closed");
    let mut child = c1m()
        .args([
            "run", "-n", "2000", "--hold", "2s", "--ports", "8391", "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting c1m");
    let pid = child.id();
    // Read the first line, then close the pipe, as `head -1` would.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    drop(err);
    // Its workers, to see them gone at the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut workers = Vec::new();
    while workers.len() < 2 && std::time::Instant::now() < deadline {
        workers = children(pid);
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline + Duration::from_secs(60) {
            let _ = child.kill();
            panic!("c1m did not end within 2 minutes with its stderr closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "c1m (first line {first:?}) ended {status:?}"
    );
    let r = read_json(&json);
    assert_kernel_counted(&r, 2000);
    assert!(workers.len() >= 2, "no workers seen: {workers:?}");
    assert_all_gone(&workers, Duration::from_secs(5));
    assert!(run_namespaces().is_empty(), "{:?}", run_namespaces());
}

#[test]
fn range_mode_keeps_each_worker_in_its_own_ports() {
    let _g = heavy();
    let o = Outcome::run(
        "range",
        &[
            "run",
            "-n",
            "20000",
            "--worker-conns",
            "5000",
            "--bind-mode",
            "range",
            "--hold",
            "0s",
            "--ports",
            "8790",
        ],
    );
    o.assert_code(0);
    let r = &o.json;
    assert_eq!(r["held"]["at_end"], 20_000);
    assert_eq!(r["plan"]["bind"], "range");
    let slices: Vec<(u64, u64)> = r["plan"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["ports"][0].as_u64().unwrap(),
                c["ports"][1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(slices.len(), 4);
    assert!(slices.windows(2).all(|w| w[0].1 < w[1].0), "{slices:?}");
}
