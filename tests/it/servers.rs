//! c1m against real servers started by the test: nginx and Redis from
//! Debian's packages (./test.sh installs them), bound to loopback, and the
//! misbehaving test servers of `crate::util::testserver`.
//!
//! `--find-limit` is checked against the truth counted independently of
//! c1m while it holds after the break: the server process's own ESTABLISHED
//! sockets (`crate::util::truth`, by inode from /proc/PID/fd).
//!
//! Ports: 8950-8960 on 127.0.0.1; 18140-18144 on 127.0.9.40-44;
//! 18145-18148 on 127.0.9.45.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::daemon::{Daemon, require, start_nginx, temp_dir};
use crate::util::outcome::{Outcome, Seen, connect_and_see};
use crate::util::testserver::{Mode, TestServer};
use crate::util::truth;
use crate::util::*;

fn nginx(addr: &str, worker_connections: u32) -> Daemon {
    let dir = temp_dir(&format!("nginx-{addr}"));
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections {worker_connections}; }}
         http {{
           access_log off;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           server {{ listen {addr}; location / {{ return 200 \"ok\\n\"; }} }}
         }}"
    );
    start_nginx(&dir, &conf, &[addr.parse().unwrap()])
}

fn redis(addr: &str, maxclients: u32) -> Daemon {
    require("/usr/bin/redis-server");
    let a: SocketAddr = addr.parse().unwrap();
    let dir = temp_dir(&format!("redis-{addr}"));
    let child = Command::new("/usr/bin/redis-server")
        .args([
            "--port",
            &a.port().to_string(),
            "--bind",
            &a.ip().to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &dir.display().to_string(),
            "--maxclients",
            &maxclients.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting redis-server");
    let s = Daemon(child);
    wait_listening_on(a, Duration::from_secs(10));
    s
}

/// Runs a capacity search against nginx; returns the break point.
fn nginx_limit(addr: &str, extra: &[&str], name: &str) -> u64 {
    let _nginx = nginx(addr, 1000);
    let mut args = vec![
        "connect",
        addr,
        "--find-limit",
        "-n",
        "3000",
        "--rate",
        "300",
    ];
    args.extend_from_slice(extra);
    let o = Outcome::run(name, &args);
    o.assert_exit(0);
    assert_eq!(
        o.str("find_limit.diagnosis.limit"),
        "server-cap",
        "{}",
        o.context()
    );
    assert!(o.stdout.contains("worker_connections"), "{}", o.context());
    o.u64("find_limit.break_point")
}

#[test]
fn find_limit_names_nginx_worker_connections() {
    let _g = heavy();
    // Busy connections (a request under way): nginx's hard cap, less the
    // one its listening socket takes.
    let at = nginx_limit(
        "127.0.0.1:8950",
        &["--first-message", "GET / HTTP/1.1\\r\\nHost: c1m\\r\\n"],
        "nginx-busy",
    );
    assert!((950..=1000).contains(&at), "break point {at}");
    // Idle connections: nginx closes idle ones to make room once fewer than
    // 1/16 of worker_connections are free, so it breaks near 15/16.
    let at = nginx_limit("127.0.0.1:8953", &[], "nginx-idle");
    assert!((900..=1000).contains(&at), "break point {at}");
}

/// `c1m serve --no-accept`: the connections wait in its accept queue (a
/// backlog of 16 holds 17), the rest overflow it; the application holds 0.
#[test]
fn find_limit_on_a_server_that_never_accepts_sees_its_full_queue() {
    let _g = heavy();
    let addr: SocketAddr = "127.0.0.1:8951".parse().unwrap();
    let serve = start_serve(&[
        "--listen",
        "127.0.0.1:8951",
        "--backlog",
        "16",
        "--no-accept",
        "--max-conns",
        "100",
    ]);
    let tree = truth::process_tree(serve.pid());
    let (o, s) = connect_and_see(
        "backlog",
        &[
            "127.0.0.1:8951",
            "--find-limit",
            "-n",
            "2000",
            "--rate",
            "500",
            "--connect-timeout",
            "2s",
            "--hold",
            "1s",
        ],
        addr,
        &tree,
    );
    let _ = serve.interrupt(Duration::from_secs(30));
    let ctx = || o.context();
    assert_eq!((s.server, s.waiting), (0, Some(17)), "{}", ctx());
    // Exactly: the truth is 0.
    o.assert_found(s.server, "not-accepting");
    assert_eq!(o.u64("server_side.waiting"), 17, "{}", ctx());
    assert!(o.u64("listen_counters.listen_overflows") > 0, "{}", ctx());
    assert!(o.stdout.contains("ListenOverflows"), "{}", ctx());
}

#[test]
fn heartbeats_to_redis_check_every_pong_and_report_latency() {
    let _g = heavy();
    let _redis = redis("127.0.0.1:8960", 5000);
    let o = Outcome::run(
        "redis",
        &[
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
        ],
    );
    o.assert_exit(0);
    let sent = o.u64("clients.sent");
    assert!(
        sent >= 4000,
        "{sent} sent in 3 s of 1,000 × 2/s{}",
        o.context()
    );
    // Every PING got its PONG (replies still in flight at teardown aside).
    let replies = o.u64("clients.replies");
    assert!(sent - replies <= 1000, "{sent} sent, {replies} replies");
    assert_eq!(o.u64("clients.mismatched"), 0);
    // Every scheduled send is one sample: the replies, and at most one
    // in flight per connection at the end (lost, or skipped behind it).
    let count = o.u64("latency.rtt.count");
    assert!(
        (replies..=replies + 1000).contains(&count),
        "{count} samples, {replies} replies{}",
        o.context()
    );
    assert!(o.u64("latency.rtt.p50") <= o.u64("latency.rtt.p99"));
    assert!(o.stdout.contains("round trip"), "{}", o.stdout);
    assert!(o.stdout.contains("p99.9"), "{}", o.stdout);

    // An expectation Redis never meets is reported, not waited on.
    let o = Outcome::run(
        "redis-nope",
        &[
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
        ],
    );
    assert!(o.u64("clients.mismatched") > 0, "{}", o.context());
    assert_eq!(o.u64("clients.replies"), 0);
    assert!(o.stdout.contains("mismatched"));
    // Held, but not answering as expected: not OK.
    o.assert_exit(1);
    assert!(
        o.stderr.contains("did not start with --expect \"+NOPE\""),
        "{}",
        o.context()
    );
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
            "'--interval <INTERVAL>': \"0s\" must be more than zero",
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

// ---------------------------------------------------------------------
// Issue 9, point 6: `--find-limit` within ±3% of what the server really
// holds, with the cause named.

/// `c1m connect ADDR --find-limit -n N EXTRA --hold 2s`, the truth read
/// during the hold after the break.
fn find_limit(
    addr: SocketAddr,
    n: u64,
    extra: &[&str],
    pids: &[u32],
    name: &str,
) -> (Outcome, Seen) {
    let (a, n) = (addr.to_string(), n.to_string());
    let mut args = vec![a.as_str(), "--find-limit", "-n", &n, "--hold", "2s"];
    args.extend_from_slice(extra);
    connect_and_see(name, &args, addr, pids)
}

#[test]
fn find_limit_on_nginx_is_what_nginx_holds() {
    let _g = heavy();
    let addr = "127.0.9.40:18140";
    let nginx = nginx(addr, 512);
    // Busy connections (a request under way), which nginx never drops to
    // make room: it holds worker_connections less its listening socket,
    // then accepts and closes the rest.
    let (o, seen) = find_limit(
        addr.parse().unwrap(),
        1500,
        &["--first-message", "GET / HTTP/1.1\\r\\nHost: c1m\\r\\n"],
        &nginx.pids(),
        "nginx-512",
    );
    assert!(
        (400..=511).contains(&seen.server),
        "nginx's own count{}",
        o.context()
    );
    o.assert_found(seen.server, "server-cap");
    assert!(o.stdout.contains("worker_connections"), "{}", o.context());
}

#[test]
fn find_limit_on_redis_is_its_maxclients_and_names_its_error() {
    let _g = heavy();
    let addr = "127.0.9.41:18141";
    let redis = redis(addr, 200);
    let (o, seen) = find_limit(addr.parse().unwrap(), 400, &[], &redis.pids(), "redis-200");
    assert_eq!(seen.server, 200, "redis's own count{}", o.context());
    o.assert_found(seen.server, "server-cap");
    let full = "max number of clients reached";
    assert!(
        o.stdout.contains(full),
        "the summary names it{}",
        o.context()
    );
    assert!(
        o.str("closes.first_bytes").contains(full),
        "{}",
        o.context()
    );
}

#[test]
fn find_limit_on_a_server_that_stops_accepting_is_what_it_accepted() {
    let _g = heavy();
    let srv = TestServer::start(Mode::StopAfter { k: 1000 }, "127.0.9.43:18143", 64);
    let (o, seen) = find_limit(
        srv.addr,
        3000,
        &["--connect-timeout", "2s"],
        &[srv.pid()],
        "stop-after-1000",
    );
    assert_eq!(
        (seen.server, seen.waiting),
        (1000, Some(65)),
        "{}",
        o.context()
    );
    o.assert_found(seen.server, "not-accepting");
    assert_eq!(o.u64("server_side.waiting"), 65, "{}", o.context());
}

#[test]
fn find_limit_on_a_server_that_closes_everything_is_zero() {
    let _g = heavy();
    let srv = TestServer::start(Mode::AcceptClose, "127.0.9.42:18142", 128);
    let (o, seen) = find_limit(srv.addr, 100, &[], &[srv.pid()], "accept-close");
    assert_eq!(seen.server, 0, "{}", o.context());
    assert_eq!(o.u64("find_limit.break_point"), 0, "{}", o.context());
    o.assert_found(0, "server-closes");
}

/// A local nginx that another client (this test, 1,500 idle connections)
/// also uses: c1m holds its own 1,000, by the truth of its own processes'
/// sockets; the server side counts everyone's 2,500, none a phantom; the
/// summary names the other 1,500.
#[test]
fn connect_to_an_nginx_others_use_holds_its_own() {
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.44:18144".parse().unwrap();
    let nginx = nginx("127.0.9.44:18144", 4096);
    let pids = nginx.pids();
    let others: Vec<std::net::TcpStream> = (0..1500)
        .map(|i| std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("other {i}: {e}")))
        .collect();
    let accepted = truth::poll_until(1500, Duration::from_secs(10), || {
        truth::server_established(&pids, addr)
    });
    assert_eq!(accepted, 1500, "nginx holds the other client's");
    let json = report_path("nginx-others");
    let limit = Duration::from_secs(120);
    let mut c = spawn(&[
        "connect",
        "127.0.9.44:18144",
        "-n",
        "1000",
        "--hold",
        "2s",
        "--json",
        json.to_str().unwrap(),
    ]);
    c.wait_line(" hold ", limit);
    let mine = truth::client_established_of(&truth::process_tree(c.pid()), addr);
    let server = truth::server_established(&pids, addr);
    let mut o = Outcome::of_finished(c.finish(limit), &json);
    o.note_truth(("c1m's", mine, "nginx's", server));
    o.assert_exit(0);
    assert_eq!((mine, server), (1000, 2500), "{}", o.context());
    assert_eq!(o.u64("held.at_end"), mine, "{}", o.context());
    assert_eq!(o.u64("held.reached"), mine, "{}", o.context());
    assert_eq!(o.u64("kernel.at_end.client_own"), mine, "{}", o.context());
    assert_eq!(o.u64("kernel.at_end.client_side"), 2500, "{}", o.context());
    assert_eq!(o.u64("server_side.accepted"), server, "{}", o.context());
    assert_eq!(o.u64("phantoms.count"), 0, "{}", o.context());
    assert!(
        o.stdout
            .contains("1,500 ESTABLISHED to the targets are other processes' — not counted"),
        "{}",
        o.context()
    );
    drop(others);
}

/// The report's listeners are nginx's, as `ss -ltn` lists them, each
/// once, by address and port (the kernel's dump comes in its hash
/// table's order), with the backlog `ss` gives; nginx listens on four
/// ports, opened out of order.
#[test]
fn the_reports_listeners_are_nginxs_in_order() {
    let _g = heavy();
    let ports = [18147u16, 18145, 18148, 18146];
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| format!("127.0.9.45:{p}").parse().unwrap())
        .collect();
    let dir = temp_dir("nginx-listeners");
    let d = dir.display();
    let listens: String = addrs.iter().map(|a| format!("listen {a}; ")).collect();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections 1024; }}
         http {{
           access_log off;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           server {{ {listens} location / {{ return 200 \"ok\\n\"; }} }}
         }}"
    );
    let _nginx = start_nginx(&dir, &conf, &addrs);
    // What the kernel lists: (address, backlog), by ss -ltn.
    let ss = Command::new("ss")
        .args(["-Hltn", "src", "127.0.9.45"])
        .output()
        .expect("running ss");
    let mut listed: Vec<(SocketAddr, u64)> = text(&ss.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // State, Recv-Q, Send-Q (the backlog for a listener), Local.
            (f[3].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    listed.sort();
    assert_eq!(listed.len(), 4, "{listed:?}");
    let json = report_path("nginx-listeners");
    let out = run(&[
        "connect",
        "127.0.9.45:18145-18148",
        "-n",
        "400",
        "--hold",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let r = read_json(&json);
    let reported: Vec<(SocketAddr, u64)> = r["server_side"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["addr"].as_str().unwrap().parse().unwrap(),
                l["backlog"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported, listed, "{}", r["server_side"]);
}
