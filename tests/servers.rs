//! c1m against real servers started by the test: nginx and Redis from
//! Debian's packages (./test.sh installs them), bound to loopback.

mod util;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

/// A server process the test started; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run ./test.sh, which installs the servers the tests use"
    );
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("c1m-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nginx(port: u16, worker_connections: u32) -> Server {
    require("/usr/sbin/nginx");
    let dir = temp_dir("nginx");
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections {worker_connections}; }}
         http {{
           access_log off;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }}
         }}"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("/usr/sbin/nginx")
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nginx");
    let s = Server(child);
    wait_listening(port);
    s
}

fn redis(port: u16) -> Server {
    require("/usr/bin/redis-server");
    let dir = temp_dir("redis");
    let child = Command::new("/usr/bin/redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &dir.display().to_string(),
            "--maxclients",
            "5000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting redis-server");
    let s = Server(child);
    wait_listening(port);
    s
}

/// Runs a capacity search against nginx; returns the break point.
fn nginx_limit(port: u16, extra: &[&str], name: &str) -> u64 {
    let _nginx = nginx(port, 1000);
    let json = report_path(name);
    let target = format!("127.0.0.1:{port}");
    let mut args = vec![
        "connect",
        &target,
        "--find-limit",
        "-n",
        "3000",
        "--rate",
        "300",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_json(&json);
    let f = &r["find_limit"];
    assert_eq!(f["diagnosis"]["limit"], "server-cap", "{stdout}");
    assert!(stdout.contains("worker_connections"), "{stdout}");
    f["break_point"].as_u64().unwrap()
}

#[test]
fn find_limit_names_nginx_worker_connections() {
    let _g = heavy();
    // Busy connections (a request under way): nginx's hard cap, less the
    // one its listening socket takes.
    let at = nginx_limit(
        8950,
        &["--first-message", "GET / HTTP/1.1\\r\\nHost: c1m\\r\\n"],
        "nginx-busy",
    );
    assert!((950..=1000).contains(&at), "break point {at}");
    // Idle connections: nginx closes idle ones to make room once fewer than
    // 1/16 of worker_connections are free, so it breaks near 15/16.
    let at = nginx_limit(8953, &[], "nginx-idle");
    assert!((900..=1000).contains(&at), "break point {at}");
}

#[test]
fn find_limit_diagnoses_an_accept_queue_overflow() {
    let _g = heavy();
    let mut serve = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:8951",
        "--backlog",
        "16",
        "--no-accept",
        "--max-conns",
        "100",
    ]);
    serve.wait_line("hold", Duration::from_secs(30));
    let json = report_path("backlog");
    let out = run(&[
        "connect",
        "127.0.0.1:8951",
        "--find-limit",
        "-n",
        "2000",
        "--rate",
        "500",
        "--connect-timeout",
        "2s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    c1m_kill(serve.pid(), "INT");
    let _ = serve.finish(Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_json(&json);
    let f = &r["find_limit"];
    assert_eq!(f["diagnosis"]["limit"], "accept-queue", "{stdout}");
    assert!(f["evidence"]["listen_overflows"].as_u64().unwrap() > 0);
    // A backlog of 16 holds 17 completed handshakes.
    let at = f["break_point"].as_u64().unwrap();
    assert!((16..=18).contains(&at), "break point {at}: {stdout}");
    assert!(stdout.contains("ListenOverflows"), "{stdout}");
}

#[test]
fn heartbeats_to_redis_check_every_pong_and_report_latency() {
    let _g = heavy();
    let _redis = redis(8960);
    let json = report_path("redis");
    let out = run(&[
        "connect",
        "127.0.0.1:8960",
        "-n",
        "1000",
        "--mode",
        "heartbeat",
        "--interval",
        "500ms",
        "--message",
        "PING\\r\\n",
        "--expect",
        "+PONG\\r\\n",
        "--hold",
        "3s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = read_json(&json);
    let c = &r["clients"];
    let sent = c["sent"].as_u64().unwrap();
    assert!(sent >= 4000, "{sent} sent in 3 s of 1,000 × 2/s: {stdout}");
    // Every PING got its PONG (replies still in flight at teardown aside).
    let replies = c["replies"].as_u64().unwrap();
    assert!(sent - replies <= 1000, "{sent} sent, {replies} replies");
    assert_eq!(c["mismatched"], 0);
    let rtt = &r["latency"]["rtt"];
    assert_eq!(rtt["count"].as_u64().unwrap(), replies);
    assert!(rtt["p50"].as_u64().unwrap() <= rtt["p99"].as_u64().unwrap());
    assert!(stdout.contains("round trip"), "{stdout}");
    assert!(stdout.contains("p99.9"), "{stdout}");

    // An expectation Redis never meets is reported, not waited on.
    let out = run(&[
        "connect",
        "127.0.0.1:8960",
        "-n",
        "50",
        "--message",
        "PING\\r\\n",
        "--expect",
        "+NOPE",
        "--interval",
        "200ms",
        "--hold",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let r = read_json(&json);
    assert!(
        r["clients"]["mismatched"].as_u64().unwrap() > 0,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(r["clients"]["replies"], 0);
    assert!(text(&out.stdout).contains("mismatched"));
}

#[test]
fn bad_traffic_options_are_refused_clearly() {
    for (args, needle) in [
        (
            &["connect", "127.0.0.1:1", "--find-limit", "--slo", "p99>5ms"][..],
            "write e.g. p99<50ms",
        ),
        (
            &["connect", "127.0.0.1:1", "--interval", "0s"],
            "--interval must be more than zero",
        ),
        (
            &["connect", "127.0.0.1:1", "--interval", "-1s"],
            "not a duration",
        ),
        (
            &["connect", "127.0.0.1:1", "--message", "bad\\q"],
            "bad escape",
        ),
        (
            &["connect", "127.0.0.1:1", "--message-rate", "-5"],
            "must be a positive number",
        ),
        (
            &["connect", "127.0.0.1:1", "--slo", "p99<5ms"],
            "--find-limit",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
