//! `--proxy-protocol` (HAProxy's PROXY protocol, v1 and v2) against real
//! servers configured by the test to accept it: HAProxy (`bind …
//! accept-proxy` in front of `c1m serve`, logging each connection's
//! client address `%ci:%cp` as soon as it is through, `option logasap`)
//! and nginx (`listen … proxy_protocol`, and `ssl proxy_protocol` for
//! a header before TLS, its access log writing
//! `$proxy_protocol_addr:$proxy_protocol_port` beside the real peer),
//! both from Debian's packages (./test.sh installs them), on loopback.
//! Every connection's client address as the server saw it is checked
//! against the real 4-tuple the test reads itself with `ss`, or against
//! the `--proxy-sources` range. Then `c1m serve` taking the headers off
//! (`c1m run … --proxy-protocol v2 --mode heartbeat` end to end), and
//! refusing what is not a header, each refusal as the peer saw it.
//!
//! Ports: 8720-8729 on 127.0.0.1.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::daemon::{Daemon, cert_files, require, start_nginx, temp_dir};
use crate::util::peers::{LONG, connect, read_until_closed};
use crate::util::*;

/// Connections per c1m connect: a few hundred, each checked.
const N: usize = 250;
/// What `--proxy-sources` gives: 192.0.2.1-192.0.2.254 (the network and
/// broadcast addresses left out), so N connections take .1 to .250, each
/// once. Documentation addresses: they are only ever written in headers.
const SOURCES: &str = "192.0.2.0/24";

/// Waits until `f` gives `Some`, at most [`LONG`] (a bound against a
/// hang, not a timing).
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LONG;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {LONG:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The client ends of the ESTABLISHED connections to `to`, as `ss` reads
/// them from the kernel: their real source address and port.
fn ss_sources(to: &str) -> BTreeSet<SocketAddr> {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", "dst", to])
        .output()
        .expect("running ss (iproute2)");
    assert!(out.status.success(), "ss failed: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

/// `c1m connect TO -n N ARGS`, held: returns it with its report's path
/// once every connection is open (its hold began).
fn connect_held(name: &str, to: &str, args: &[&str]) -> (Running, PathBuf) {
    let n = N.to_string();
    let mut all = vec!["connect", to, "-n", &n, "--rate", "2000"];
    all.extend_from_slice(args);
    let (mut c, json) = spawn_with_report(name, &all);
    c.wait_line(" hold ", LONG);
    (c, json)
}

/// Stops a held connect with Ctrl-C and returns its report: every header
/// sent, none failed, and the bytes the test expects (`bytes`, from the
/// real ports it read).
fn stop_and_check(c: Running, json: &Path, bytes: usize) -> serde_json::Value {
    let (code, out, err) = c.interrupt(LONG);
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    let r = read_json(&json.to_path_buf());
    let p = &r["clients"]["proxy"];
    assert_eq!(p["headers"], N as u64, "{p}");
    assert_eq!(p["bytes"], bytes as u64, "{p}");
    let failed: u64 = p["failed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(failed, 0, "{p}");
    assert!(out.contains("PROXY headers sent"), "{out}");
    r
}

/// The length of `PROXY TCP4 SRC DST SPORT DPORT\r\n`.
fn v1_len(src: SocketAddr, dst: &str) -> usize {
    let dst: SocketAddr = dst.parse().unwrap();
    format!(
        "PROXY TCP4 {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .len()
}

fn haproxy(dir: &Path, backend: &str) -> Daemon {
    require("/usr/sbin/haproxy");
    let d = dir.display();
    let conf = format!(
        "global
    maxconn 2000
    log stdout format raw local0
defaults
    log global
    option logasap
    log-format \"%fp %ci:%cp\"
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend v1
    bind 127.0.0.1:8720 accept-proxy
    default_backend echo
frontend v2
    bind 127.0.0.1:8721 accept-proxy
    default_backend echo
backend echo
    server c1m {backend}
"
    );
    std::fs::write(dir.join("haproxy.cfg"), conf).unwrap();
    let check = Command::new("/usr/sbin/haproxy")
        .args(["-c", "-f", &format!("{d}/haproxy.cfg")])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let child = Command::new("/usr/sbin/haproxy")
        .args(["-db", "-f", &format!("{d}/haproxy.cfg")])
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("starting haproxy");
    let s = Daemon(child);
    for port in [8720, 8721] {
        wait_listening_on(SocketAddr::from(([127, 0, 0, 1], port)), LONG);
    }
    s
}

/// The client addresses HAProxy logged for connections to its frontend
/// on `port`: those it took from their PROXY headers.
fn haproxy_log(dir: &Path, port: u16) -> Vec<SocketAddr> {
    let log = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| {
            let (p, client) = l.split_once(' ')?;
            (p == port.to_string()).then(|| client.trim().parse().ok())?
        })
        .collect()
}

/// HAProxy in front of `c1m serve`: v1 headers with each connection's
/// real 4-tuple, then v2 headers with `--proxy-sources`; HAProxy's own
/// log has every client address c1m sent.
#[test]
fn haproxy_sees_the_real_sources_in_v1_and_the_proxy_sources_in_v2() {
    let _g = heavy();
    let dir = temp_dir("haproxy");
    let serve = start_serve(&["--listen", "127.0.0.1:8722", "--max-conns", "1000"]);
    let _haproxy = haproxy(&dir, "127.0.0.1:8722");

    let to = "127.0.0.1:8720";
    let (c, json) = connect_held("proxy-haproxy-v1", to, &["--proxy-protocol", "v1"]);
    let real = ss_sources(to);
    assert_eq!(real.len(), N, "ss: {real:?}");
    let seen = wait_for("HAProxy's log for 8720", || {
        let s = haproxy_log(&dir, 8720);
        (s.len() >= N).then_some(s)
    });
    assert_eq!(
        seen.iter().copied().collect::<BTreeSet<_>>(),
        real,
        "HAProxy's client addresses are the real sources"
    );
    assert_eq!(seen.len(), N);
    let bytes = real.iter().map(|&s| v1_len(s, to)).sum();
    stop_and_check(c, &json, bytes);

    let to = "127.0.0.1:8721";
    let (c, json) = connect_held(
        "proxy-haproxy-v2",
        to,
        &["--proxy-protocol", "v2", "--proxy-sources", SOURCES],
    );
    let real = ss_sources(to);
    assert_eq!(real.len(), N, "ss: {real:?}");
    let seen = wait_for("HAProxy's log for 8721", || {
        let s = haproxy_log(&dir, 8721);
        (s.len() >= N).then_some(s)
    });
    let ips: BTreeSet<String> = seen.iter().map(|a| a.ip().to_string()).collect();
    let want: BTreeSet<String> = (1..=N).map(|k| format!("192.0.2.{k}")).collect();
    assert_eq!(ips, want, "each connection its own address of the range");
    let ports: BTreeSet<u16> = seen.iter().map(SocketAddr::port).collect();
    let real_ports: BTreeSet<u16> = real.iter().map(SocketAddr::port).collect();
    assert_eq!(ports, real_ports, "the ports are the connections' own");
    stop_and_check(c, &json, 28 * N);
    let (code, _, _) = serve.interrupt(LONG);
    assert_eq!(code, Some(130));
}

fn nginx(dir: &Path) -> Daemon {
    // For the TLS listener: a certificate for its address, made with
    // c1m's own maker (rcgen); the clients trust it with --ca.
    cert_files(dir, &["127.0.0.1"]);
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections 1024; }}
         http {{
           log_format pp '$server_port $proxy_protocol_addr:$proxy_protocol_port '
                         '$proxy_protocol_server_addr:$proxy_protocol_server_port '
                         '$remote_addr:$remote_port';
           access_log {d}/access.log pp;
           keepalive_timeout 120s;
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
           server {{
             listen 127.0.0.1:8723 proxy_protocol;
             listen 127.0.0.1:8724 proxy_protocol;
             listen 127.0.0.1:8726 ssl proxy_protocol;
             ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;
             location / {{ return 200 \"ok\\n\"; }}
           }}
         }}"
    );
    let listening = [8723, 8724, 8726].map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
    start_nginx(dir, &conf, &listening)
}

/// One access-log line: (the header's source, the header's destination,
/// the real peer).
type Logged = (SocketAddr, SocketAddr, SocketAddr);

/// nginx's access log lines for requests on `port`.
fn nginx_log(dir: &Path, port: u16) -> Vec<Logged> {
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() != 4 || w[0] != port.to_string() {
                return None;
            }
            Some((w[1].parse().ok()?, w[2].parse().ok()?, w[3].parse().ok()?))
        })
        .collect()
}

/// nginx with `proxy_protocol` listeners: v2 headers with the real
/// 4-tuple, then v1 with `--proxy-sources`, then v2 before TLS (`listen
/// … ssl proxy_protocol`: the header in the clear, then the TLS
/// handshake); each connection makes one request, and nginx's access log
/// has, for every one, the address the header gave beside the real peer
/// `ss` saw.
#[test]
fn nginx_logs_the_real_sources_in_v2_the_proxy_sources_in_v1_and_through_tls() {
    let _g = heavy();
    let dir = temp_dir("nginx-proxy");
    let _nginx = nginx(&dir);
    let request = "GET / HTTP/1.1\\r\\nHost: c1m\\r\\n\\r\\n";

    let to = "127.0.0.1:8723";
    let (c, json) = connect_held(
        "proxy-nginx-v2",
        to,
        &["--proxy-protocol", "v2", "--first-message", request],
    );
    let real = ss_sources(to);
    assert_eq!(real.len(), N, "ss: {real:?}");
    let logged = wait_for("nginx's log for 8723", || {
        let l = nginx_log(&dir, 8723);
        (l.len() >= N).then_some(l)
    });
    assert_eq!(logged.len(), N, "one request per connection");
    for (src, dst, peer) in &logged {
        assert_eq!(src, peer, "the header's source is the real one");
        assert_eq!(dst.to_string(), to, "the header's destination");
    }
    let srcs: BTreeSet<SocketAddr> = logged.iter().map(|l| l.0).collect();
    assert_eq!(srcs, real, "every connection's real source, as ss saw it");
    stop_and_check(c, &json, 28 * N);

    let to = "127.0.0.1:8724";
    let (c, json) = connect_held(
        "proxy-nginx-v1",
        to,
        &[
            "--proxy-protocol",
            "v1",
            "--proxy-sources",
            SOURCES,
            "--first-message",
            request,
        ],
    );
    let real = ss_sources(to);
    assert_eq!(real.len(), N, "ss: {real:?}");
    let logged = wait_for("nginx's log for 8724", || {
        let l = nginx_log(&dir, 8724);
        (l.len() >= N).then_some(l)
    });
    let mut ips = BTreeSet::new();
    for (src, dst, peer) in &logged {
        assert_eq!(src.port(), peer.port(), "the port is the connection's own");
        assert_eq!(dst.to_string(), to);
        ips.insert(src.ip().to_string());
    }
    let want: BTreeSet<String> = (1..=N).map(|k| format!("192.0.2.{k}")).collect();
    assert_eq!(ips, want, "each connection its own address of the range");
    let peers: BTreeSet<SocketAddr> = logged.iter().map(|l| l.2).collect();
    assert_eq!(peers, real);
    let bytes = logged
        .iter()
        .map(|(src, _, _)| v1_len(*src, to))
        .sum::<usize>();
    stop_and_check(c, &json, bytes);

    let to = "127.0.0.1:8726";
    let ca = dir.join("cert.pem");
    let (c, json) = connect_held(
        "proxy-nginx-tls",
        to,
        &[
            "--proxy-protocol",
            "v2",
            "--tls",
            "--ca",
            ca.to_str().unwrap(),
            "--first-message",
            request,
        ],
    );
    let real = ss_sources(to);
    assert_eq!(real.len(), N, "ss: {real:?}");
    let logged = wait_for("nginx's log for 8726", || {
        let l = nginx_log(&dir, 8726);
        (l.len() >= N).then_some(l)
    });
    assert_eq!(logged.len(), N, "one request per connection, through TLS");
    let srcs: BTreeSet<SocketAddr> = logged.iter().map(|l| l.0).collect();
    assert_eq!(srcs, real, "every connection's real source, as ss saw it");
    let r = stop_and_check(c, &json, 28 * N);
    assert_eq!(r["clients"]["tls_handshakes"], N as u64, "{}", r["clients"]);
}

/// `c1m run --proxy-protocol v2 --mode heartbeat`: c1m's servers take
/// every header off, so every heartbeat comes back as sent (a header
/// echoed would be a reply that does not match), and none is refused.
#[test]
fn run_with_v2_headers_echoes_every_heartbeat() {
    let _g = heavy();
    let (c, json) = spawn_with_report(
        "proxy-run",
        &[
            "run",
            "-n",
            "300",
            "--worker-conns",
            "200",
            "--proxy-protocol",
            "v2",
            "--proxy-sources",
            SOURCES,
            "--mode",
            "heartbeat",
            "--interval",
            "200ms",
            "--hold",
            "2s",
        ],
    );
    let (code, out, err) = c.finish(LONG);
    assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
    let r = read_json(&json);
    assert_eq!(r["held"]["at_end"], 300);
    assert_kernel_counted(&r, 300);
    let (cl, sv) = (&r["clients"], &r["servers"]);
    assert_eq!(cl["mismatched"], 0, "{cl}");
    assert!(cl["replies"].as_u64().unwrap() >= 300, "{cl}");
    assert_eq!(cl["proxy"]["headers"], 300, "{cl}");
    assert_eq!(sv["proxy"]["headers"], 300, "{sv}");
    assert_eq!(sv["proxy"]["bytes"], 28 * 300, "{sv}");
    assert_eq!(sv["dropped"], 0, "{sv}");
    assert!(out.contains("PROXY headers taken"), "{out}");
}

/// `c1m serve --proxy-protocol v1` takes a whole header however it comes
/// (in one write with a line, a byte at a time) and echoes only what
/// follows it; a peer whose first bytes are no v1 header (a request, a v2
/// header, a line too long, a header cut short by a FIN) is reset, and
/// counted by the rule, as many as the peers saw.
#[test]
fn serve_takes_headers_off_and_resets_what_is_not_one() {
    let _g = heavy();
    let listen = "127.0.0.1:8725";
    let to: SocketAddr = listen.parse().unwrap();
    let (mut serve, report) = spawn_with_report(
        "proxy-serve",
        &[
            "serve",
            "--listen",
            listen,
            "--max-conns",
            "100",
            "--proxy-protocol",
            "v1",
        ],
    );
    serve.wait_line(" hold ", LONG);
    let header = b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 8725\r\n";
    let line = b"c1m heartbeat.\r\n";
    let mut taken = 0;
    // Whole, with a line behind it in the same write.
    let mut s = connect(to);
    s.write_all(&[&header[..], line].concat()).unwrap();
    let mut back = [0u8; 16];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, line, "only what follows the header is echoed");
    taken += 1;
    // A byte at a time, then a line.
    let mut t = connect(to);
    t.set_nodelay(true).unwrap();
    for b in header {
        t.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    t.write_all(line).unwrap();
    t.read_exact(&mut back).unwrap();
    assert_eq!(&back, line);
    taken += 1;
    // What is not a v1 header: each is reset.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend([
        0x21, 0x11, 0, 12, 192, 0, 2, 1, 127, 0, 0, 1, 0x9c, 0x40, 0x22, 0x15,
    ]);
    let long = [&b"PROXY TCP4 "[..], &[b'1'; 120][..]].concat();
    let bad: [(&str, &[u8], bool); 4] = [
        ("a request", b"GET / HTTP/1.1\r\n\r\n", false),
        ("a v2 header", &v2, false),
        ("no end of line in 107 bytes", &long, false),
        ("cut short", b"PROXY TCP4 192.0.2.1 12", true),
    ];
    let mut refused = 0;
    for (what, bytes, fin) in bad {
        let mut p = connect(to);
        p.write_all(bytes).unwrap();
        if fin {
            p.shutdown(Shutdown::Write).unwrap();
        }
        let mut buf = [0u8; 64];
        let got = p.read(&mut buf);
        assert!(
            matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{what}: {got:?}"
        );
        assert!(read_until_closed(&mut p));
        refused += 1;
    }
    drop((s, t));
    let (code, out, _) = serve.interrupt(LONG);
    assert_eq!(code, Some(130), "{out}");
    let r = read_json(&report);
    let sv = &r["servers"];
    assert_eq!(sv["proxy"]["headers"], taken, "{sv}");
    assert_eq!(sv["proxy"]["bytes"], taken * header.len() as u64, "{sv}");
    assert_eq!(sv["drops"]["proxy_header"], refused, "{sv}");
    assert_eq!(sv["dropped"], refused, "{sv}");
    assert!(out.contains("--proxy-protocol"), "{out}");
}
