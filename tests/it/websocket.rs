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
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::util::daemon::{Daemon, cert_files, start_nginx};
use crate::util::layer::{Layer, run_holds_and_echoes};
use crate::util::outcome::Outcome;
use crate::util::truth;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn run_websocket_holds_every_connection_and_echoes_every_heartbeat() {
    let _g = heavy();
    // The WebSocket state of an idle connection, by the allocator's
    // count of what the layer allocated: tungstenite's context (256 B)
    // and its 128-byte read buffer, in glibc's chunks.
    let ws = Layer {
        done: "ws_upgrades",
        latency: "ws_upgrade",
        memory: "ws",
        words: "WebSocket",
        heap: 2000 * 300..=2000 * 1024,
    };
    run_holds_and_echoes("ws-run", &["--websocket", "--ws-heartbeat", "text"], &ws);
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
fn echo_server(dir: &Path, listen: SocketAddr) -> (Daemon, BufReader<ChildStdout>) {
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
    (Daemon(child), out)
}

/// nginx's http module terminating TLS on `listen` and proxying the
/// upgrade of `/echo` to `backend` (Upgrade and Connection passed on, as
/// its documentation's WebSocket proxying does); a request without
/// `X-Token: secret` is answered 403. Four worker processes: 10,000
/// connections and their upstream ones are over one process's 20,000
/// descriptors.
fn nginx_ws(
    dir: &Path,
    listen: SocketAddr,
    backend: SocketAddr,
    cert: &Path,
    key: &Path,
) -> Daemon {
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
    start_nginx(dir, &conf, &[listen])
}

/// The echo server on `back` behind nginx on `front`, whose certificate
/// is for `front`'s address and `localhost`; all of it gone when dropped.
struct Site {
    echo: Daemon,
    echo_out: BufReader<ChildStdout>,
    nginx: Daemon,
    front: SocketAddr,
    back: SocketAddr,
    target: String,
    /// The certificate's file, for `--ca`.
    ca: String,
    /// The servers' files; removed last.
    _dir: tempfile::TempDir,
}

impl Site {
    fn start(front: &str, back: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let (front, back): (SocketAddr, SocketAddr) =
            (front.parse().unwrap(), back.parse().unwrap());
        let (cert, key) = cert_files(dir.path(), &["localhost", &front.ip().to_string()]);
        let (echo, echo_out) = echo_server(dir.path(), back);
        let nginx = nginx_ws(dir.path(), front, back, &cert, &key);
        Site {
            echo,
            echo_out,
            nginx,
            front,
            back,
            target: front.to_string(),
            ca: cert.to_str().unwrap().to_string(),
            _dir: dir,
        }
    }

    /// `c1m connect --tls --ca CA FRONT --websocket /echo MORE`.
    fn connect<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "connect",
            "--tls",
            "--ca",
            &self.ca,
            &self.target,
            "--websocket",
            "/echo",
        ];
        args.extend_from_slice(more);
        args
    }

    /// Stops the echo server (SIGTERM) and reads its counts.
    fn echo_counts(&mut self) -> serde_json::Value {
        c1m_kill(self.echo.pid(), "TERM");
        let mut line = String::new();
        self.echo_out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }
}

#[test]
fn nginx_and_a_python_echo_server_carry_ten_thousand_tls_websockets() {
    let _g = heavy();
    let mut site = Site::start("127.0.9.81:18181", "127.0.9.80:18180");
    let (mut c, json) = spawn_with_report(
        "ws-nginx",
        &site.connect(&[
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
        ]),
    );
    c.wait_line(" hold ", LIMIT);
    // nginx's own descriptors: a TLS connection from each client, one to
    // the echo server for each; the echo server's, one each.
    let (front, back) = (site.front, site.back);
    let nginx_pids = site.nginx.pids();
    let at_nginx = truth::server_established(&nginx_pids, front);
    let upstream = truth::client_established_of(&nginx_pids, back);
    let at_echo = truth::server_established(&[site.echo.pid()], back);
    let clients = ss_established(&format!("( dport = :{} )", front.port()));
    let o = Outcome::of_finished(c.finish(LIMIT), &json);
    let counts = site.echo_counts();
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
    let sent = o.assert_every_reply();
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
}

#[test]
fn an_upgrade_refused_counts_by_status_and_pings_get_their_pongs() {
    let _g = heavy();
    let mut site = Site::start("127.0.9.83:18183", "127.0.9.82:18182");

    // Without the header nginx answers 403: every upgrade fails by that
    // status, explained, and the run fails (exit 1: none held).
    let o = Outcome::run("ws-403", &site.connect(&["-n", "30", "--hold", "0s"]));
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
        &site.connect(&[
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
        ]),
    );
    let counts = site.echo_counts();
    o.assert_exit(0);
    let sent = o.assert_every_reply();
    assert_eq!(counts["pongs"], sent, "{counts}{}", o.context());
    assert_eq!(counts["echoed"], 0, "{counts}{}", o.context());
}
