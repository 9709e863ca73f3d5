//! One run split over shards (issue 11): `connect --shard I/N` and the
//! Slurm variables that name a shard, `--start-at`, targets by name, and
//! `--json -`. Held counts are checked against the server's sockets as the
//! kernel's table shows them (`util::truth`), never c1m's own counters.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::truth;
use crate::util::*;

/// The variables through which a scheduler names a shard: cleared on
/// every child, so a test run inside a Slurm job or a pod is not sharded
/// by accident.
const SCHEDULER_VARS: [&str; 8] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "JOB_COMPLETION_INDEX",
];

/// c1m with no scheduler variable but `env`.
fn c1m_with(env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = c1m();
    for v in SCHEDULER_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).args(args);
    cmd
}

/// Environment variables, as set on a child.
type Env<'a> = &'a [(&'a str, &'a str)];

fn run_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    c1m_with(env, args).output().expect("running c1m")
}

/// Runs `cmd` (c1m with its arguments: [`c1m_with`], [`c1m_in_hosts`])
/// with `--json`, a report named `name`; asserts it exits 0, and returns
/// its output and report.
fn run_ok(mut cmd: Command, name: &str) -> (Output, serde_json::Value) {
    let json = report_path(name);
    let out = cmd.arg("--json").arg(&json).output().expect("running c1m");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    (out, read_json(&json))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `c1m serve` on `listen`, ready. Against it, a connect holds at least
/// 1 s: at the end of a hold of 0 s, its last connections may still wait
/// in the accept queue, not yet held by the server application.
fn serve(listen: &[&str]) -> Running {
    let mut args = vec!["serve", "--listen"];
    args.extend_from_slice(listen);
    args.extend_from_slice(&["--max-conns", "12000"]);
    let s = spawn(&args);
    for l in listen {
        wait_listening_on(addr(l), Duration::from_secs(30));
    }
    s
}

/// Stops `serve` with Ctrl-C and returns its report's exit code.
fn stop(serve: Running) {
    c1m_kill(serve.pid(), "INT");
    let (code, out, err) = serve.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
}

/// Three shards of 10,001, one after another against one server: each
/// holds its part, as the server's own sockets show while it holds, and
/// the parts add up to the whole.
#[test]
fn three_shards_hold_the_whole_between_them() {
    let _g = heavy();
    let server = addr("127.0.0.1:8870");
    let srv = serve(&["127.0.0.1:8870"]);
    let server_pids = truth::process_tree(srv.pid());
    let total = 10_001u64;
    let mut held_by_server = 0;
    let mut held_in_reports = 0;
    for i in 0..3u64 {
        let part = total / 3 + u64::from(i < total % 3);
        let first = i * (total / 3) + i.min(total % 3);
        let json = report_path(&format!("shard-{i}-of-3"));
        let shard = format!("{i}/3");
        let mut c = spawn_cmd(c1m_with(
            &[],
            &[
                "connect",
                "127.0.0.1:8870",
                "-n",
                "10001",
                "--shard",
                &shard,
                // The server's count is read from the hold's first
                // progress line (~1 s in), and is there at once.
                "--hold",
                "3s",
                "--json",
                json.to_str().unwrap(),
            ],
        ));
        let line = c.wait_line("c1m connect: shard", Duration::from_secs(30));
        assert!(
            line.contains(&format!("shard {i}/3 (from --shard)")),
            "{line}"
        );
        // While it holds, the server application holds its part.
        c.wait_line(" hold ", Duration::from_secs(60));
        let seen = truth::poll_until(part, Duration::from_secs(3), || {
            truth::server_established(&server_pids, server)
        });
        assert_eq!(seen, part, "shard {i}: the server's sockets");
        held_by_server += seen;
        let (code, out, err) = c.finish(Duration::from_secs(60));
        assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with("shard ") && l.contains(&format!(" {i}/3 on "))),
            "{out}"
        );
        let r = read_json(&json);
        assert_eq!(r["target"], part);
        assert_eq!(r["origin"]["shard"]["index"], i);
        assert_eq!(r["origin"]["shard"]["count"], 3);
        assert_eq!(r["plan"]["clients"][0]["first"], first, "its own indices");
        assert_eq!(r["held"]["at_end"], part);
        held_in_reports += r["held"]["at_end"].as_u64().unwrap();
        // Torn down before the next shard: nothing left on the server.
        let left = truth::poll_until(0, Duration::from_secs(10), || truth::established_on(server));
        assert_eq!(left, 0);
    }
    assert_eq!(held_by_server, total);
    assert_eq!(held_in_reports, total);
    stop(srv);
}

/// Without --shard, Slurm's variables name the shard; a Kubernetes index
/// alone, a malformed variable, or a capacity search split into shards
/// is refused before anything starts, with a line naming the fix.
#[test]
fn slurm_variables_name_the_shard_and_bad_ones_are_refused() {
    let _g = heavy();
    let srv = serve(&["127.0.0.1:8871"]);
    let cases: [(Env, u64, u64, u64); 2] = [
        // --array=4-6: task 5 is index 1 of 3; 10 = 4 + 3 + 3.
        (
            &[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "4"),
                ("SLURM_ARRAY_TASK_MAX", "6"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                // The array wins over the step's tasks.
                ("SLURM_PROCID", "0"),
                ("SLURM_NTASKS", "2"),
            ],
            1,
            3,
            3,
        ),
        // srun --ntasks=4: rank 3 of 4; 10 = 3 + 3 + 2 + 2.
        (&[("SLURM_PROCID", "3"), ("SLURM_NTASKS", "4")], 3, 4, 2),
    ];
    for (env, index, count, part) in cases {
        let (_, r) = run_ok(
            c1m_with(
                env,
                &["connect", "127.0.0.1:8871", "-n", "10", "--hold", "1s"],
            ),
            &format!("slurm-{index}-of-{count}"),
        );
        assert_eq!(r["origin"]["shard"]["index"], index, "{env:?}");
        assert_eq!(r["origin"]["shard"]["count"], count, "{env:?}");
        assert_eq!(r["target"], part, "{env:?}");
        assert_eq!(r["held"]["at_end"], part, "{env:?}");
    }
    let refusals: [(Env, &[&str], &str); 4] = [
        (
            &[("JOB_COMPLETION_INDEX", "2")],
            &[],
            "pass --shard $(JOB_COMPLETION_INDEX)/N",
        ),
        (
            &[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "four")],
            &[],
            "SLURM_NTASKS=\"four\" is not a whole number",
        ),
        (
            &[("SLURM_ARRAY_TASK_ID", "1")],
            &[],
            "SLURM_ARRAY_TASK_COUNT is not",
        ),
        (
            &[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")],
            &["--find-limit"],
            "--find-limit searches from one client and cannot run as shard 1/2 (from SLURM_PROCID of SLURM_NTASKS)",
        ),
    ];
    for (env, extra, says) in refusals {
        let mut args = vec!["connect", "127.0.0.1:8871", "-n", "10"];
        args.extend_from_slice(extra);
        let out = run_with(env, &args);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{env:?}: {err}");
    }
    // More shards than connections: refused, not an empty run.
    let out = run_with(
        &[],
        &["connect", "127.0.0.1:8871", "-n", "2", "--shard", "2/3"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("use at most 2 shards"),
        "{}",
        describe(&out)
    );
    stop(srv);
}

#[test]
fn start_at_in_the_past_is_refused_before_anything_starts() {
    let past = format!("@{:.0}", now_unix() - 60.0);
    for cmd in ["connect", "run"] {
        let mut args = vec![cmd, "--start-at", &past];
        if cmd == "connect" {
            args.push("127.0.0.1:8872");
        }
        let out = run_with(&[], &args);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = text(&out.stderr);
        assert!(err.contains("s in the past"), "{err}");
        assert_eq!(err.lines().count(), 1, "nothing started: {err}");
    }
}

/// The workers start and are ready, the ramp waits for the instant, and
/// the report records it; no sample of the timeline is before it.
#[test]
fn start_at_waits_with_the_workers_ready_then_ramps() {
    let _g = heavy();
    let server = addr("127.0.0.1:8873");
    let srv = serve(&["127.0.0.1:8873"]);
    let at = SystemTime::now() + Duration::from_secs(2);
    let at_unix = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    // RFC 3339 to the millisecond, as another tool prints it.
    let at_text = humantime::format_rfc3339_millis(at).to_string();
    let at_ms = (at_unix * 1000.0).floor() / 1000.0;
    let json = report_path("start-at");
    let mut c = spawn_cmd(c1m_with(
        &[],
        &[
            "connect",
            "127.0.0.1:8873",
            "-n",
            "500",
            "--hold",
            "1s",
            "--start-at",
            &at_text,
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    let line = c.wait_line("c1m: waiting", Duration::from_secs(30));
    assert!(line.contains("s for --start-at 20"), "{line}");
    // Ready before the wait: its client worker runs.
    assert_eq!(children(c.pid()).len(), 1, "{line}");
    // Nothing connects before the instant.
    let early = truth::established_on(server);
    if now_unix() < at_ms - 0.2 {
        assert_eq!(early, 0, "connections before --start-at");
    }
    let (code, out, err) = c.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
    assert!(out.contains("start at"), "{out}");
    let r = read_json(&json);
    let start_at = r["origin"]["start_at"].as_f64().unwrap();
    assert!((start_at - at_ms).abs() < 1e-3, "{start_at} vs {at_ms}");
    let started_at = r["origin"]["started_at"].as_f64().unwrap();
    let timeline = r["timeline"].as_array().unwrap();
    let first = timeline[0]["t"].as_f64().unwrap();
    assert!(
        started_at + first >= start_at,
        "first sample at {} before --start-at {start_at}",
        started_at + first
    );
    assert_eq!(r["held"]["at_end"], 500);
    stop(srv);
}

/// Ctrl-C while waiting for --start-at ends it cleanly: exit 130, a
/// complete report, no worker left, no connection made.
#[test]
fn ctrl_c_during_the_wait_ends_cleanly() {
    let _g = heavy();
    let server = addr("127.0.0.1:8874");
    let srv = serve(&["127.0.0.1:8874"]);
    let at = format!("@{:.3}", now_unix() + 600.0);
    let json = report_path("start-at-interrupted");
    let mut c = spawn_cmd(c1m_with(
        &[],
        &[
            "connect",
            "127.0.0.1:8874",
            "-n",
            "500",
            "--start-at",
            &at,
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    c.wait_line("c1m: waiting", Duration::from_secs(30));
    let workers = children(c.pid());
    assert_eq!(workers.len(), 1);
    c1m_kill(c.pid(), "INT");
    let (code, out, err) = c.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    assert!(out.contains("c1m connect summary"), "{out}");
    assert!(
        all_gone(&workers, Duration::from_secs(5)),
        "a worker outlived c1m"
    );
    let r = read_json(&json);
    assert_eq!(r["end"]["kind"], "interrupted");
    assert_eq!(r["verdict"]["exit_code"], 130);
    assert!(r["origin"]["start_at"].as_f64().is_some());
    assert_eq!(truth::established_on(server), 0);
    stop(srv);
}

/// `--json -`: stdout is exactly one report; the summary goes to stderr.
#[test]
fn json_dash_writes_one_report_to_stdout() {
    let _g = heavy();
    let srv = serve(&["127.0.0.1:8875"]);
    let runs: [&[&str]; 3] = [
        &[
            "connect",
            "127.0.0.1:8875",
            "-n",
            "300",
            "--hold",
            "1s",
            "--json",
            "-",
        ],
        &[
            "serve",
            "--listen",
            "127.0.0.1:8876",
            "--max-conns",
            "100",
            "--hold",
            "0s",
            "--json",
            "-",
        ],
        &["run", "-n", "300", "--hold", "0s", "--json", "-"],
    ];
    for args in runs {
        let out = run_with(&[], args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON document ({e}): {}",
                describe(&out)
            )
        });
        assert_eq!(r["schema"], "c1m.report/3");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("c1m {} summary", r["label"].as_str().unwrap())),
            "{err}"
        );
        if args[0] != "serve" {
            assert_eq!(r["held"]["at_end"], 300, "{args:?}");
        }
    }
    stop(srv);
}

/// A file to bind over /etc/hosts in a private mount namespace (the
/// machine's own file is never touched), or why that cannot be done here.
fn private_hosts(lines: &str) -> Result<std::path::PathBuf, String> {
    let hosts = report_path("hosts").with_extension("txt");
    std::fs::write(&hosts, lines).unwrap();
    let out = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && getent ahosts db-1",
        ])
        .arg(&hosts)
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if !out.status.success() {
        return Err(format!("unshare -m + mount --bind: {}", describe(&out)));
    }
    Ok(hosts)
}

/// c1m in a mount namespace whose /etc/hosts is `hosts`.
fn c1m_in_hosts(hosts: &std::path::Path, args: &[&str]) -> Command {
    let c = c1m_with(&[], args);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
    ])
    .arg(hosts)
    .arg(c.get_program())
    .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// A name resolves once, with the system's resolver, to every address it
/// has (db-1: 127.0.0.1 and ::1, from an /etc/hosts seen only by c1m);
/// -4 and -6 choose; each address gets its share, as the server's
/// sockets show. A name that does not resolve is one line, before
/// anything starts.
#[test]
fn names_resolve_to_every_address() {
    let _g = heavy();
    let v4 = addr("127.0.0.1:8877");
    let v6 = addr("[::1]:8877");
    let srv = serve(&["127.0.0.1:8877", "[::1]:8877"]);
    let server_pids = truth::process_tree(srv.pid());

    // .invalid never resolves (RFC 6761).
    let out = run_with(&[], &["connect", "nowhere.invalid:8877", "-n", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("c1m: target nowhere.invalid:8877: nowhere.invalid does not resolve: "),
        "{err}"
    );

    // localhost, by the machine's own resolver: every address it has.
    let mut want: Vec<SocketAddr> = Vec::new();
    for a in std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 8877)).unwrap() {
        if !want.contains(&a) {
            want.push(a);
        }
    }
    let (out, r) = run_ok(
        c1m_with(
            &[],
            &["connect", "localhost:8877", "-n", "100", "--hold", "1s"],
        ),
        "localhost",
    );
    assert!(
        text(&out.stderr).contains("c1m: localhost → "),
        "{}",
        describe(&out)
    );
    let eps: Vec<SocketAddr> = serde_json::from_value(r["plan"]["endpoints"].clone()).unwrap();
    assert_eq!(eps, want);

    let hosts = match private_hosts("127.0.0.1 db-1\n::1 db-1\n") {
        Ok(h) => h,
        Err(why) => {
            eprintln!("skipped: a custom name needs a private /etc/hosts: {why}");
            stop(srv);
            return;
        }
    };
    let json = report_path("db-1");
    let mut c = spawn_cmd(c1m_in_hosts(
        &hosts,
        &[
            "connect",
            "db-1:8877",
            "-n",
            "1000",
            // Read from the hold's first progress line (~1 s in).
            "--hold",
            "3s",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    // In the resolver's order (RFC 6724's, which may put ::1 first).
    let line = c.wait_line("c1m: db-1 → ", Duration::from_secs(30));
    let mut shown: Vec<&str> = line.rsplit_once("→ ").unwrap().1.split(", ").collect();
    shown.sort();
    assert_eq!(shown, ["127.0.0.1", "::1"], "{line}");
    c.wait_line(" hold ", Duration::from_secs(60));
    for a in [v4, v6] {
        let seen = truth::poll_until(500, Duration::from_secs(3), || {
            truth::server_established(&server_pids, a)
        });
        assert_eq!(seen, 500, "{a}");
    }
    let (code, out, err) = c.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
    let r = read_json(&json);
    let mut eps: Vec<SocketAddr> = serde_json::from_value(r["plan"]["endpoints"].clone()).unwrap();
    eps.sort();
    assert_eq!(eps, vec![v4, v6]);
    assert_eq!(r["held"]["at_end"], 1000);

    for (flag, want) in [("-4", v4), ("-6", v6)] {
        let (_, r) = run_ok(
            c1m_in_hosts(
                &hosts,
                &["connect", flag, "db-1:8877", "-n", "10", "--hold", "1s"],
            ),
            &format!("db-1{flag}"),
        );
        let eps: Vec<SocketAddr> = serde_json::from_value(r["plan"]["endpoints"].clone()).unwrap();
        assert_eq!(eps, vec![want], "{flag}");
    }
    stop(srv);
}
