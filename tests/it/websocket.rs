//! WebSocket (`--websocket`): c1m's clients and servers speaking it on
//! loopback, and c1m's clients against a real server that is not c1m:
//! nginx (Debian's, its http module) terminating TLS and proxying the
//! upgrade to an asyncio echo server on Debian's python3-websockets,
//! which counts what it answered. Each figure is checked against the
//! kernel (`ss`, the servers' own descriptors by inode from
//! /proc/PID/fd) or the echo server's own count, never c1m's alone.
//!
//! Addresses: 127.0.9.80-83, ports 18180-18183.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::truth;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// Every heartbeat sent got its reply, whole and as expected.
#[track_caller]
fn every_reply_checked(o: &Outcome) -> u64 {
    let sent = o.u64("clients.sent");
    assert!(sent > 0, "no heartbeat sent{}", o.context());
    assert_eq!(o.u64("clients.replies"), sent, "replies{}", o.context());
    assert_eq!(o.u64("clients.mismatched"), 0, "{}", o.context());
    assert_eq!(o.u64("clients.lost"), 0, "{}", o.context());
    assert_eq!(o.u64("latency.rtt.count"), sent, "{}", o.context());
    sent
}

#[test]
fn run_websocket_holds_every_connection_and_echoes_every_heartbeat() {
    let _g = heavy();
    let (mut r, json) = spawn_with_report(
        "ws-run",
        &[
            "run",
            "--websocket",
            "--ws-heartbeat",
            "text",
            "-n",
            "2000",
            "--hold",
            "3s",
            "--mode",
            "heartbeat",
            "--interval",
            "500ms",
        ],
    );
    r.wait_line(" hold ", LIMIT);
    let ns = run_netns(r.pid());
    let server = ss_established_in(&ns, "( sport = :8090 )");
    let client = ss_established_in(&ns, "( dport = :8090 )");
    let o = Outcome::of_finished(r.finish(LIMIT), &json);
    o.assert_exit(0);
    assert_eq!((server, client), (2000, 2000), "ss in {ns}{}", o.context());
    assert_kernel_counted(&o.json, 2000);
    for side in ["clients", "servers"] {
        assert_eq!(
            o.u64(&format!("{side}.ws_upgrades")),
            2000,
            "{}",
            o.context()
        );
        // The WebSocket state of an idle connection, by the allocator's
        // count of what the layer allocated: tungstenite's context
        // (256 B) and its 128-byte read buffer, in glibc's chunks.
        assert_eq!(
            o.u64(&format!("memory.{side}.ws_conns")),
            2000,
            "{}",
            o.context()
        );
        let heap = o.get(&format!("memory.{side}.ws_heap")).as_i64().unwrap();
        assert!(
            (2000 * 300..=2000 * 1024).contains(&heap),
            "{side}: {heap} bytes of WebSocket state for 2,000 connections{}",
            o.context()
        );
    }
    assert_eq!(o.u64("latency.ws_upgrade.count"), 2000, "{}", o.context());
    every_reply_checked(&o);
    assert!(
        o.stdout.contains("of which WebSocket state"),
        "the summary shows the split{}",
        o.context()
    );
}

/// A child process killed (and reaped) when dropped, with its process
/// group: nginx's workers outlive a master killed alone (ppid 1, still
/// listening with SO_REUSEPORT beside the next run's nginx, which then
/// answers with another certificate), so nginx gets a group of its own.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An asyncio echo server on python3-websockets (Debian's): echoes every
/// message, answers pings (counting the pongs it sends), and on SIGTERM
/// prints its counts as one JSON line: messages echoed, pongs sent,
/// connections opened, closes with code 1000.
const ECHO: &str = r#"
import asyncio, json, resource, signal, sys
import websockets
from websockets.legacy.server import WebSocketServerProtocol

counts = {"echoed": 0, "pongs": 0, "opened": 0, "close_1000": 0}

class Counting(WebSocketServerProtocol):
    async def pong(self, data=b""):
        counts["pongs"] += 1
        await super().pong(data)

async def echo(ws, path=None):
    counts["opened"] += 1
    try:
        async for m in ws:
            await ws.send(m)
            counts["echoed"] += 1
    except websockets.ConnectionClosed:
        pass
    if ws.close_code == 1000:
        counts["close_1000"] += 1

async def main(host, port):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, host, port, create_protocol=Counting,
                                ping_interval=None, compression=None, backlog=4096):
        print("listening", flush=True)
        await stop
    print(json.dumps(counts), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"#;

/// The echo server on `listen`, once it listens.
fn echo_server(dir: &Path, listen: SocketAddr) -> (Proc, BufReader<std::process::ChildStdout>) {
    let python = "/usr/bin/python3";
    let ok = Command::new(python)
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} lacks websockets: run ./test.sh, which installs python3-websockets"
    );
    let script = dir.join("echo.py");
    std::fs::write(&script, ECHO).unwrap();
    let mut child = Command::new(python)
        .arg(&script)
        .args([listen.ip().to_string(), listen.port().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the echo server");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    (Proc(child), out)
}

/// Stops the echo server (SIGTERM) and reads its counts.
fn echo_counts(p: Proc, mut out: BufReader<std::process::ChildStdout>) -> serde_json::Value {
    c1m_kill(p.0.id(), "TERM");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    drop(p);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// nginx's http module terminating TLS on `listen` and proxying the
/// upgrade of `/echo` to `backend` (Upgrade and Connection passed on, as
/// its documentation's WebSocket proxying does); a request without
/// `X-Token: secret` is answered 403. Four worker processes: 10,000
/// connections and their upstream ones are over one process's 20,000
/// descriptors.
fn nginx_ws(dir: &Path, listen: SocketAddr, backend: SocketAddr, cert: &Path, key: &Path) -> Proc {
    assert!(
        Path::new("/usr/sbin/nginx").exists(),
        "/usr/sbin/nginx is missing: run ./test.sh, which installs it"
    );
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process on; worker_processes 4; worker_rlimit_nofile 8192; user root;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections 7000; }}
         http {{
           access_log off;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
           fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           map $http_x_token $token_ok {{ default 0; secret 1; }}
           server {{
             listen {listen} ssl reuseport;
             ssl_protocols TLSv1.2 TLSv1.3;
             ssl_certificate {}; ssl_certificate_key {};
             location /echo {{
               if ($token_ok = 0) {{ return 403; }}
               proxy_pass http://{backend};
               proxy_http_version 1.1;
               proxy_set_header Upgrade $http_upgrade;
               proxy_set_header Connection upgrade;
               proxy_read_timeout 1h;
             }}
           }}
         }}",
        cert.display(),
        key.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("/usr/sbin/nginx")
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("starting nginx");
    let n = Proc(child);
    wait_listening_on(listen, Duration::from_secs(10));
    n
}

fn cert_files(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let t = c1m::tls::cert::self_signed(&names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, t.cert_pem).unwrap();
    std::fs::write(&key, t.key_pem).unwrap();
    (cert, key)
}

#[test]
fn nginx_and_a_python_echo_server_carry_ten_thousand_tls_websockets() {
    let _g = heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path(), &["localhost", "127.0.9.81"]);
    let front: SocketAddr = "127.0.9.81:18181".parse().unwrap();
    let back: SocketAddr = "127.0.9.80:18180".parse().unwrap();
    let (echo, echo_out) = echo_server(dir.path(), back);
    let nginx = nginx_ws(dir.path(), front, back, &cert, &key);
    let ca = cert.to_str().unwrap();
    let target = "127.0.9.81:18181";

    let json = report_path("ws-nginx");
    let mut c = spawn(&[
        "connect",
        "--tls",
        "--ca",
        ca,
        target,
        "--websocket",
        "/echo",
        "--header",
        "X-Token: secret",
        "--ws-heartbeat",
        "text",
        "-n",
        "10000",
        // Each (source, destination) pair takes at most half the local
        // port range (4,000 ports on some machines): 8 sources.
        "--sources",
        "127.0.10.1-127.0.10.8",
        "--mode",
        "heartbeat",
        "--interval",
        "4s",
        "--hold",
        "4s",
        "--close",
        "fin",
        "--json",
        json.to_str().unwrap(),
    ]);
    c.wait_line(" hold ", LIMIT);
    // nginx's own descriptors: a TLS connection from each client, one to
    // the echo server for each; the echo server's, one each.
    let nginx_pids = truth::process_tree(nginx.0.id());
    let at_nginx = truth::server_established(&nginx_pids, front);
    let upstream = truth::client_established_of(&nginx_pids, back);
    let at_echo = truth::server_established(&[echo.0.id()], back);
    let clients = ss_established(&format!("( dport = :{} )", front.port()));
    let o = Outcome::of_finished(c.finish(LIMIT), &json);
    let counts = echo_counts(echo, echo_out);
    o.assert_exit(0);
    assert_eq!(
        (at_nginx, upstream, at_echo, clients),
        (10_000, 10_000, 10_000, 10_000),
        "nginx's sockets, its upstream ones, the echo server's, ss's client side{}",
        o.context()
    );
    assert_eq!(o.u64("held.at_end"), 10_000, "{}", o.context());
    assert_eq!(o.u64("clients.ws_upgrades"), 10_000, "{}", o.context());
    assert_eq!(o.u64("clients.tls_handshakes"), 10_000, "{}", o.context());
    let sent = every_reply_checked(&o);
    // The echo server's own count: every upgrade, every message echoed,
    // every close frame (1000) c1m sent at the end.
    assert_eq!(counts["opened"], 10_000, "{counts}{}", o.context());
    assert_eq!(counts["echoed"], sent, "{counts}{}", o.context());
    assert_eq!(counts["close_1000"], 10_000, "{counts}{}", o.context());
    // The split by layer: TLS, then WebSocket on top, per idle client
    // connection (the issue's target: at most 12 KiB in all).
    let tls = o.get("memory.clients.tls_heap").as_i64().unwrap();
    let ws = o.get("memory.clients.ws_heap").as_i64().unwrap();
    assert!(
        ws > 0 && tls > 0 && tls + ws <= 10_000 * 12 * 1024,
        "TLS {tls} B, WebSocket {ws} B for 10,000 connections{}",
        o.context()
    );
    drop(nginx);
}

#[test]
fn an_upgrade_refused_counts_by_status_and_pings_get_their_pongs() {
    let _g = heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path(), &["localhost", "127.0.9.83"]);
    let front: SocketAddr = "127.0.9.83:18183".parse().unwrap();
    let back: SocketAddr = "127.0.9.82:18182".parse().unwrap();
    let (echo, echo_out) = echo_server(dir.path(), back);
    let _nginx = nginx_ws(dir.path(), front, back, &cert, &key);
    let ca = cert.to_str().unwrap();
    let target = "127.0.9.83:18183";

    // Without the header nginx answers 403: every upgrade fails by that
    // status, explained, and the run fails (exit 1: none held).
    let o = Outcome::run(
        "ws-403",
        &[
            "connect",
            "--tls",
            "--ca",
            ca,
            target,
            "--websocket",
            "/echo",
            "-n",
            "30",
            "--hold",
            "0s",
        ],
    );
    o.assert_exit(1);
    assert_eq!(o.u64("clients.failed.ws_status"), 30, "{}", o.context());
    assert_eq!(o.u64("held.at_end"), 0, "{}", o.context());
    let st = &o.json["websocket"]["statuses"][0];
    assert_eq!(
        (st["status"].as_u64(), st["count"].as_u64()),
        (Some(403), Some(30))
    );
    assert!(
        o.stdout.contains("HTTP 403 Forbidden: 30"),
        "the summary counts it by status{}",
        o.context()
    );
    assert!(o.last_stderr_line().contains("0 of 30"), "{}", o.context());

    // With it, pings: each answered by the server's own pong, counted by
    // the server; c1m checks each pong's payload.
    let o = Outcome::run(
        "ws-ping",
        &[
            "connect",
            "--tls",
            "--ca",
            ca,
            target,
            "--websocket",
            "/echo",
            "--header",
            "X-Token:secret",
            "-n",
            "200",
            "--mode",
            "heartbeat",
            "--interval",
            "1s",
            "--hold",
            "2s",
        ],
    );
    let counts = echo_counts(echo, echo_out);
    o.assert_exit(0);
    let sent = every_reply_checked(&o);
    assert_eq!(counts["pongs"], sent, "{counts}{}", o.context());
    assert_eq!(counts["echoed"], 0, "{counts}{}", o.context());
}
