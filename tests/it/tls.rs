//! TLS (`--tls`): c1m's clients and servers speaking TLS on loopback,
//! and c1m's clients against nginx terminating TLS (its stream module, in
//! front of a plain `c1m serve`), each figure checked against the kernel
//! (`ss` in the run's namespace; the servers' and nginx's own descriptors,
//! by inode from /proc/PID/fd) and every heartbeat's reply checked.
//!
//! Addresses: 127.0.9.70-74, ports 18170-18174.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::util::daemon::{Daemon, cert_files, require, start_nginx};
use crate::util::layer::{Layer, run_holds_and_echoes};
use crate::util::outcome::{Outcome, connect_and_see};
use crate::util::truth;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn run_tls_holds_every_connection_and_echoes_every_heartbeat() {
    let _g = heavy();
    // The user memory of TLS state, per side: the target is 10 KiB a
    // client connection.
    let tls = Layer {
        done: "tls_handshakes",
        latency: "tls_handshake",
        memory: "tls",
        words: "TLS",
        heap: 2000 * 1024 + 1..=2000 * 10 * 1024,
    };
    let o = run_holds_and_echoes("tls-run", &["--tls"], &tls);
    assert!(
        o.str("tls.agreed").starts_with("TLSv1_3"),
        "{}",
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

/// nginx's stream module terminating TLS on `listen` with `cert` and
/// `key`, each connection proxied to `backend` in plain TCP.
fn nginx_tls(dir: &Path, listen: &str, backend: &str, cert: &Path, key: &Path) -> Daemon {
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    require(module);
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
    start_nginx(dir, &conf, &[listen.parse().unwrap()])
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
    let nginx_pids = nginx.pids();
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
    o.assert_every_reply();

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
