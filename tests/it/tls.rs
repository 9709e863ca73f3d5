//! TLS (`--tls`): c1m's clients and servers speaking TLS on loopback,
//! and c1m's clients against nginx terminating TLS (its stream module, in
//! front of a plain `c1m serve`), each figure checked against the kernel
//! (`ss` in the run's namespace; the servers' and nginx's own descriptors,
//! by inode from /proc/PID/fd) and every heartbeat's reply checked.
//!
//! Addresses: 127.0.9.70-74, ports 18170-18174.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::outcome::{Outcome, connect_and_see};
use crate::util::truth;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// A certificate and key made with c1m's own maker (rcgen), self-signed,
/// for `names`, written to `dir`.
fn cert_files(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let t = c1m::tls::cert::self_signed(&names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, t.cert_pem).unwrap();
    std::fs::write(&key, t.key_pem).unwrap();
    (cert, key)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every heartbeat sent got its reply, whole and as expected.
#[track_caller]
fn every_reply_checked(o: &Outcome) {
    let sent = o.u64("clients.sent");
    assert!(sent > 0, "no heartbeat sent{}", o.context());
    assert_eq!(o.u64("clients.replies"), sent, "replies{}", o.context());
    assert_eq!(o.u64("clients.mismatched"), 0, "{}", o.context());
    assert_eq!(o.u64("clients.lost"), 0, "{}", o.context());
    assert_eq!(o.u64("latency.rtt.count"), sent, "{}", o.context());
}

#[test]
fn run_tls_holds_every_connection_and_echoes_every_heartbeat() {
    let _g = heavy();
    let (mut r, json) = spawn_with_report(
        "tls-run",
        &[
            "run",
            "--tls",
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
            o.u64(&format!("{side}.tls_handshakes")),
            2000,
            "{}",
            o.context()
        );
    }
    assert_eq!(
        o.u64("latency.tls_handshake.count"),
        2000,
        "{}",
        o.context()
    );
    assert!(
        o.str("tls.agreed").starts_with("TLSv1_3"),
        "{}",
        o.context()
    );
    every_reply_checked(&o);
    // The user memory of TLS state, per side: the target is 10 KiB a
    // client connection.
    for side in ["clients", "servers"] {
        assert_eq!(
            o.u64(&format!("memory.{side}.tls_conns")),
            2000,
            "{}",
            o.context()
        );
        let heap = o.get(&format!("memory.{side}.tls_heap")).as_i64().unwrap();
        assert!(
            heap > 2000 * 1024 && heap <= 2000 * 10 * 1024,
            "{side}: {heap} bytes of TLS state for 2,000 connections{}",
            o.context()
        );
    }
    assert!(
        o.stdout.contains("of which TLS state"),
        "the summary shows the split{}",
        o.context()
    );
}

#[test]
fn a_self_signed_certificate_fails_by_cause_unless_trusted() {
    let _g = heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path(), &["localhost", "127.0.9.71"]);
    let addr: SocketAddr = "127.0.9.71:18171".parse().unwrap();
    let (mut serve, serve_json) = spawn_with_report(
        "tls-serve",
        &[
            "serve",
            "--listen",
            "127.0.9.71:18171",
            "--tls",
            "--cert",
            s(&cert),
            "--key",
            s(&key),
            "--max-conns",
            "1000",
            "--hold",
            "120s",
        ],
    );
    serve.wait_line(" hold ", LIMIT);
    let pids = truth::process_tree(serve.pid());
    let target = "127.0.9.71:18171";

    // The system's roots do not know it: every handshake fails on the
    // certificate, with rustls' words and the cause's fix.
    let o = Outcome::run(
        "tls-untrusted",
        &["connect", "--tls", target, "-n", "40", "--hold", "0s"],
    );
    o.assert_exit(1);
    assert_eq!(
        o.u64("clients.failed.tls_certificate"),
        40,
        "{}",
        o.context()
    );
    assert_eq!(o.u64("held.at_end"), 0, "{}", o.context());
    let example = &o.json["tls"]["examples"][0];
    assert_eq!(example["cause"], "tls-certificate", "{}", o.context());
    assert!(
        example["detail"]
            .as_str()
            .unwrap()
            .contains("UnknownIssuer"),
        "{}",
        o.context()
    );
    assert!(
        o.stdout.contains("client TLS certificate") && o.stdout.contains("--insecure"),
        "the summary explains the cause{}",
        o.context()
    );
    assert!(o.last_stderr_line().contains("0 of 40"), "{}", o.context());

    // Its name other than the certificate's: a certificate failure too.
    let o = Outcome::run(
        "tls-wrong-name",
        &[
            "connect",
            "--tls",
            "--ca",
            s(&cert),
            "--sni",
            "example.com",
            target,
            "-n",
            "10",
            "--hold",
            "0s",
        ],
    );
    o.assert_exit(1);
    assert_eq!(
        o.u64("clients.failed.tls_certificate"),
        10,
        "{}",
        o.context()
    );

    // Trusted through --ca (checked against the address), and by name.
    for (name, extra) in [("tls-ca", None), ("tls-ca-sni", Some("localhost"))] {
        let mut args = vec![
            "--tls",
            "--ca",
            s(&cert),
            target,
            "-n",
            "40",
            "--hold",
            "2s",
        ];
        if let Some(n) = extra {
            args.extend(["--sni", n]);
        }
        let (o, seen) = connect_and_see(name, &args, addr, &pids);
        o.assert_exit(0);
        assert_eq!(seen.server, 40, "serve's own sockets{}", o.context());
        assert_eq!(o.u64("clients.tls_handshakes"), 40, "{}", o.context());
    }
    // --insecure takes it as it is.
    let (o, seen) = connect_and_see(
        "tls-insecure",
        &[
            "--tls",
            "--insecure",
            target,
            "-n",
            "40",
            "--no-resume",
            "--hold",
            "2s",
        ],
        addr,
        &pids,
    );
    o.assert_exit(0);
    assert_eq!(seen.server, 40, "serve's own sockets{}", o.context());
    assert_eq!(
        o.get("clients.tls_resumed").as_u64().unwrap_or(0),
        0,
        "absent or zero{}",
        o.context()
    );

    // A peer that speaks plain TCP gets no echo in the clear: a TLS alert
    // record, then the close.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain.write_all(b"c1m heartbeat.\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        got.first() == Some(&0x15),
        "a TLS alert (content type 21), not {got:?}"
    );

    let done = serve.interrupt(LIMIT);
    let so = Outcome::of_finished(done, &serve_json);
    // 50 refused c1m's certificate with an alert; one plain peer.
    assert_eq!(so.u64("servers.failed.tls_alert"), 50, "{}", so.context());
    assert_eq!(so.u64("servers.failed.tls_other"), 1, "{}", so.context());
    assert_eq!(so.u64("servers.tls_handshakes"), 120, "{}", so.context());
}

#[test]
fn find_limit_over_tls_is_the_servers_cap() {
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.72:18172".parse().unwrap();
    let serve = start_serve(&[
        "--listen",
        "127.0.9.72:18172",
        "--tls",
        "--max-conns",
        "300",
        "--hold",
        "120s",
    ]);
    let pids = truth::process_tree(serve.pid());
    let (o, seen) = connect_and_see(
        "tls-find-limit",
        &[
            "--tls",
            "--insecure",
            "127.0.9.72:18172",
            "--find-limit",
            "-n",
            "1000",
            "--rate",
            "500",
            "--hold",
            "2s",
        ],
        addr,
        &pids,
    );
    assert_eq!(seen.server, 300, "serve's own sockets{}", o.context());
    o.assert_found(seen.server, "server-cap");
}

/// nginx, running in the foreground until dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx's stream module terminating TLS on `listen` with `cert` and
/// `key`, each connection proxied to `backend` in plain TCP.
fn nginx_tls(dir: &Path, listen: &str, backend: &str, cert: &Path, key: &Path) -> Nginx {
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    for p in ["/usr/sbin/nginx", module] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: run ./test.sh, which installs it"
        );
    }
    let d = dir.display();
    let conf = format!(
        "load_module {module};
         daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 8192;
         error_log {d}/error.log; pid {d}/nginx.pid;
         events {{ worker_connections 4096; }}
         stream {{
           server {{
             listen {listen} ssl;
             ssl_protocols TLSv1.2 TLSv1.3;
             ssl_certificate {}; ssl_certificate_key {};
             proxy_pass {backend};
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
        .spawn()
        .expect("starting nginx");
    let n = Nginx(child);
    wait_listening_on(listen.parse().unwrap(), Duration::from_secs(10));
    n
}

#[test]
fn nginx_terminates_tls_for_a_thousand_connections_with_heartbeats() {
    let _g = heavy();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path(), &["localhost", "127.0.9.74"]);
    let front: SocketAddr = "127.0.9.74:18174".parse().unwrap();
    let back: SocketAddr = "127.0.9.73:18173".parse().unwrap();
    let backend = start_serve(&["--listen", "127.0.9.73:18173", "--hold", "120s"]);
    let nginx = nginx_tls(
        dir.path(),
        "127.0.9.74:18174",
        "127.0.9.73:18173",
        &cert,
        &key,
    );
    let nginx_pids = truth::process_tree(nginx.0.id());
    let backend_pids = truth::process_tree(backend.pid());

    let json = report_path("tls-nginx");
    let mut c = spawn(&[
        "connect",
        "--tls",
        "--ca",
        s(&cert),
        "127.0.9.74:18174",
        "-n",
        "1000",
        "--mode",
        "heartbeat",
        "--interval",
        "1s",
        "--hold",
        "3s",
        "--json",
        s(&json),
    ]);
    c.wait_line(" hold ", LIMIT);
    // nginx's own descriptors: a TLS connection from each client, a
    // plain one to the backend for each; the backend's, one each.
    let at_nginx = truth::server_established(&nginx_pids, front);
    let upstream = truth::client_established_of(&nginx_pids, back);
    let at_backend = truth::server_established(&backend_pids, back);
    let clients = ss_established(&format!("( dport = :{} )", front.port()));
    let o = Outcome::of_finished(c.finish(LIMIT), &json);
    o.assert_exit(0);
    assert_eq!(
        (at_nginx, upstream, at_backend, clients),
        (1000, 1000, 1000, 1000),
        "nginx's sockets, its upstream ones, the backend's, ss's client side{}",
        o.context()
    );
    assert_eq!(o.u64("held.at_end"), 1000, "{}", o.context());
    assert_eq!(o.u64("clients.tls_handshakes"), 1000, "{}", o.context());
    assert!(
        o.str("tls.agreed").starts_with("TLSv1_3"),
        "{}",
        o.context()
    );
    every_reply_checked(&o);

    // Without --ca the system's roots do not know the certificate.
    let o = Outcome::run(
        "tls-nginx-untrusted",
        &[
            "connect",
            "--tls",
            "127.0.9.74:18174",
            "-n",
            "20",
            "--hold",
            "0s",
        ],
    );
    o.assert_exit(1);
    assert_eq!(
        o.u64("clients.failed.tls_certificate"),
        20,
        "{}",
        o.context()
    );
    assert!(o.last_stderr_line().contains("0 of 20"), "{}", o.context());
}
