//! The metrics endpoint over real TCP, its body read by a Prometheus
//! text-format parser.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use c1m::cause::{Cause, CauseCounts};
use c1m::supervisor::metrics::{self, MetricsSnapshot, RoleMetrics};
use c1m::wire::Stats;
use prometheus_parse::{Scrape, Value};

/// Sends `request` and reads the answer to EOF: status line, headers, body.
fn http(addr: SocketAddr, request: &[u8]) -> (String, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .expect("a blank line after the headers");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: c1m\r\n\r\n").as_bytes(),
    )
}

fn parse(body: &str) -> Scrape {
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    // The parser skips lines it cannot read: none may be skipped.
    let sample_lines = body.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(scrape.samples.len(), sample_lines, "{body}");
    scrape
}

/// The value of the one sample of `name` with these labels.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Value {
    let found: Vec<&Value> = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|&(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| &x.value)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].clone()
}

fn snapshot() -> MetricsSnapshot {
    let mut failed = CauseCounts::default();
    for _ in 0..5 {
        failed.add(Cause::AddrNotAvail);
    }
    failed.add(Cause::Timeout);
    let clients = Stats {
        attempted: 1_000_006,
        connecting: 12,
        established: 999_990,
        opened: 1_000_000,
        closed_fin: 10,
        failed,
        ..Stats::default()
    };
    let servers = Stats {
        attempted: 1_000_003,
        established: 999_990,
        opened: 1_000_000,
        closed_fin: 10,
        rejected: 3,
        ..Stats::default()
    };
    MetricsSnapshot {
        servers: Some(RoleMetrics::servers(&servers, 50, Some(1 << 30))),
        clients: Some(RoleMetrics::clients(&clients, 51, Some(3 << 29))),
    }
}

#[test]
fn a_scrape_reads_the_latest_snapshot() {
    let server = metrics::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    // Before the first update: the build, and no made-up zeros.
    let (status, headers, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(headers.contains("Connection: close"));
    assert!(
        headers.contains(&format!("Content-Length: {}", body.len())),
        "{headers}"
    );
    let s = parse(&body);
    assert_eq!(s.samples.len(), 1);
    assert_eq!(
        value(
            &s,
            "c1m_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Value::Gauge(1.0)
    );

    server.update(&snapshot());
    let (_, _, body) = get(addr, "/metrics?x=1");
    let s = parse(&body);
    let server_: &[(&str, &str)] = &[("role", "server")];
    let client: &[(&str, &str)] = &[("role", "client")];
    let established: &[(&str, &str)] = &[("role", "server"), ("state", "established")];
    let connecting: &[(&str, &str)] = &[("role", "client"), ("state", "connecting")];
    let (gauge, counter) = (Value::Gauge, Value::Counter);
    for (name, labels, want) in [
        ("c1m_workers", server_, gauge(50.0)),
        ("c1m_workers", client, gauge(51.0)),
        (
            "c1m_workers_resident_memory_bytes",
            client,
            gauge((3u64 << 29) as f64),
        ),
        ("c1m_connections", established, gauge(999_990.0)),
        ("c1m_connections", connecting, gauge(12.0)),
        (
            "c1m_connections_accepted_total",
            server_,
            counter(1_000_003.0),
        ),
        ("c1m_connections_opened_total", client, counter(1_000_000.0)),
        (
            "c1m_connections_closed_by_peer_total",
            server_,
            counter(10.0),
        ),
        ("c1m_connections_rejected_total", server_, counter(3.0)),
    ] {
        assert_eq!(value(&s, name, labels), want, "{name} {labels:?}");
    }
    for c in Cause::ALL {
        let want = match c {
            Cause::AddrNotAvail => 5.0,
            Cause::Timeout => 1.0,
            _ => 0.0,
        };
        let labels = [("role", "client"), ("cause", c.name())];
        assert_eq!(
            value(&s, "c1m_connection_failures_total", &labels),
            Value::Counter(want),
            "{c}"
        );
    }
    assert!(s.docs.contains_key("c1m_connection_failures_total"));

    // A newer snapshot replaces the old one.
    let mut newer = snapshot();
    newer.clients = None;
    server.update(&newer);
    let s = parse(&get(addr, "/metrics").2);
    assert!(
        s.samples
            .iter()
            .all(|x| x.labels.get("role") != Some("client"))
    );
}

#[test]
fn anything_else_is_refused_and_a_silent_client_does_not_block() {
    let server = metrics::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/").0, "HTTP/1.1 404 Not Found");
    let (status, headers, _) = http(addr, b"POST /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(headers.contains("Allow: GET, HEAD"));
    let (status, _, body) = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
    assert_eq!(http(addr, b"hello\r\n\r\n").0, "HTTP/1.1 400 Bad Request");
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(metrics::MAX_REQUEST + 100, b'a');
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(&big);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Clients that say nothing, or trickle their request, hold no one
    // up: a scrape is answered while they are still connected (the
    // endpoint has not closed them: a read would still block).
    let silent = TcpStream::connect(addr).unwrap();
    let mut trickling = TcpStream::connect(addr).unwrap();
    trickling.write_all(b"GET /metr").unwrap();
    assert_eq!(get(addr, "/metrics").0, "HTTP/1.1 200 OK");
    for s in [&silent, &trickling] {
        s.set_nonblocking(true).unwrap();
        let mut one = [0u8; 1];
        let still = (&*s).read(&mut one);
        assert!(
            matches!(&still, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{still:?}"
        );
    }
    // (What the trickling one gets at the deadline: tests/it/hostile.rs.)

    // Dropping the server closes the port.
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn the_address_must_be_loopback_unless_public() {
    let public: SocketAddr = "0.0.0.0:9464".parse().unwrap();
    let e = metrics::check_addr(public, false).unwrap_err().to_string();
    assert!(e.contains("--metrics-public") && !e.contains('\n'), "{e}");
    metrics::check_addr(public, true).unwrap();
    metrics::check_addr("127.0.0.1:9464".parse().unwrap(), false).unwrap();
}
