//! The exposition text, the request parser and the address check, without
//! sockets.

use super::*;
use crate::wire::ProxyCounts;

fn snapshot() -> MetricsSnapshot {
    let mut failed = CauseCounts::default();
    failed.add(Cause::Refused);
    failed.add(Cause::Refused);
    failed.add(Cause::Timeout);
    let clients = Stats {
        planned: 100,
        attempted: 90,
        connecting: 7,
        established: 80,
        opened: 82,
        closed_fin: 2,
        failed,
        proxy: ProxyCounts {
            headers: 82,
            bytes: 82 * 46,
            ..ProxyCounts::default()
        },
        ..Stats::default()
    };
    let servers = Stats {
        attempted: 85,
        established: 80,
        opened: 82,
        closed_fin: 2,
        rejected: 3,
        sent: 4096,
        dropped: 3,
        drops: DropCounts {
            oversized: 1,
            idle: 2,
            unread: 0,
            proxy_header: 4,
        },
        proxy: ProxyCounts {
            headers: 70,
            ..ProxyCounts::default()
        },
        ..Stats::default()
    };
    MetricsSnapshot {
        servers: Some(RoleMetrics::servers(&servers, 2, Some(4 << 20))),
        clients: Some(RoleMetrics::clients(&clients, 3, None)),
    }
}

#[test]
fn the_whole_exposition() {
    let version = env!("CARGO_PKG_VERSION");
    let expected = format!(
        r#"# HELP c1m_build_info c1m's version, as a label; the value is always 1.
# TYPE c1m_build_info gauge
c1m_build_info{{version="{version}"}} 1
# HELP c1m_workers Worker processes alive.
# TYPE c1m_workers gauge
c1m_workers{{role="server"}} 2
c1m_workers{{role="client"}} 3
# HELP c1m_workers_resident_memory_bytes Summed resident set size of the workers, in bytes.
# TYPE c1m_workers_resident_memory_bytes gauge
c1m_workers_resident_memory_bytes{{role="server"}} 4194304
# HELP c1m_connections Connections now, by state: established (held), connecting (handshake under way).
# TYPE c1m_connections gauge
c1m_connections{{role="server",state="established"}} 80
c1m_connections{{role="client",state="established"}} 80
c1m_connections{{role="client",state="connecting"}} 7
# HELP c1m_connections_accepted_total Connections the servers accepted, those reset at the cap included.
# TYPE c1m_connections_accepted_total counter
c1m_connections_accepted_total{{role="server"}} 85
# HELP c1m_connections_opened_total Connections that got established.
# TYPE c1m_connections_opened_total counter
c1m_connections_opened_total{{role="server"}} 82
c1m_connections_opened_total{{role="client"}} 82
# HELP c1m_connections_closed_by_peer_total Connections the peer closed or reset while they were held.
# TYPE c1m_connections_closed_by_peer_total counter
c1m_connections_closed_by_peer_total{{role="server"}} 2
c1m_connections_closed_by_peer_total{{role="client"}} 2
# HELP c1m_connections_rejected_total Connections the servers accepted and reset at once, beyond their cap.
# TYPE c1m_connections_rejected_total counter
c1m_connections_rejected_total{{role="server"}} 3
# HELP c1m_connections_dropped_total Peers the servers closed with a reset for breaking a rule, by the flag that sets it: max-message (a line too long), idle-timeout (no line in time), max-unsent (echoes unread), proxy-protocol (no valid PROXY header first).
# TYPE c1m_connections_dropped_total counter
c1m_connections_dropped_total{{role="server",rule="max-message"}} 1
c1m_connections_dropped_total{{role="server",rule="idle-timeout"}} 2
c1m_connections_dropped_total{{role="server",rule="max-unsent"}} 0
c1m_connections_dropped_total{{role="server",rule="proxy-protocol"}} 4
# HELP c1m_echoed_bytes_total Bytes the servers echoed back to their peers.
# TYPE c1m_echoed_bytes_total counter
c1m_echoed_bytes_total{{role="server"}} 4096
# HELP c1m_proxy_headers_total PROXY protocol headers the clients sent (--proxy-protocol), or the servers took off their connections.
# TYPE c1m_proxy_headers_total counter
c1m_proxy_headers_total{{role="server"}} 70
c1m_proxy_headers_total{{role="client"}} 82
# HELP c1m_connection_failures_total Failed connects (clients) or accepts (servers), by cause (c1m's names: errno or timeout).
# TYPE c1m_connection_failures_total counter
"#
    );
    let text = render(Some(&snapshot()));
    let (head, failures) = text.split_at(expected.len());
    assert_eq!(head, expected);
    let lines: Vec<&str> = failures.lines().collect();
    assert_eq!(lines.len(), 2 * Cause::ALL.len());
    assert_eq!(
        lines[..3],
        [
            r#"c1m_connection_failures_total{role="server",cause="ECONNREFUSED"} 0"#,
            r#"c1m_connection_failures_total{role="server",cause="timeout"} 0"#,
            r#"c1m_connection_failures_total{role="server",cause="EADDRNOTAVAIL"} 0"#,
        ]
    );
    let client: Vec<&str> = lines[Cause::ALL.len()..].to_vec();
    assert_eq!(
        client[..2],
        [
            r#"c1m_connection_failures_total{role="client",cause="ECONNREFUSED"} 2"#,
            r#"c1m_connection_failures_total{role="client",cause="timeout"} 1"#,
        ]
    );
    assert!(
        client
            .contains(&r#"c1m_connection_failures_total{role="client",cause="ENOBUFS/ENOMEM"} 0"#)
    );
}

#[test]
fn before_the_first_update_only_the_build() {
    let text = render(None);
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with(&format!(
        "c1m_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
    assert_eq!(Metrics::new().render(), text);
}

#[test]
fn a_serve_session_shows_no_client_series() {
    let s = MetricsSnapshot {
        servers: snapshot().servers,
        clients: None,
    };
    let text = render(Some(&s));
    assert!(!text.contains("role=\"client\""));
    assert!(!text.contains("state=\"connecting\""));
    assert!(text.contains("c1m_connections_rejected_total{role=\"server\"} 3\n"));
}

#[test]
fn every_sample_line_is_well_formed() {
    let text = render(Some(&snapshot()));
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(!declared.contains(&name), "{name} declared twice");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
            declared.push(name);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        value.parse::<u64>().unwrap();
        let name = series.split('{').next().unwrap();
        assert_eq!(Some(&name), declared.last(), "{line} outside its family");
        assert!(name.starts_with("c1m_"));
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape("a\nb"), r"a\nb");
}

#[test]
fn requests() {
    use Request::*;
    let cases: [(&[u8], Request); 11] = [
        (
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            Metrics { head: false },
        ),
        (
            b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
            Metrics { head: false },
        ),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", Metrics { head: true }),
        (b"GET /metrics HTTP/1.1\n\n", Metrics { head: false }),
        (b"GET / HTTP/1.1\r\n\r\n", NotFound { head: false }),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", NotFound { head: false }),
        (b"POST /metrics HTTP/1.1\r\n\r\n", BadMethod),
        (b"GET /metrics HTTP/2\r\n\r\n", Malformed),
        (b"GET /metrics\r\n\r\n", Malformed),
        (b"GET /metrics HTTP/1.1\r\nHost: x", Malformed),
        (b"\xff\xfe\r\n\r\n", Malformed),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            Request::parse(bytes),
            want,
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(MAX_REQUEST, b'a');
    assert_eq!(Request::parse(&big), TooLarge);
    assert_eq!(Request::parse(b""), Malformed);
}

#[test]
fn responses() {
    let ok = String::from_utf8(response(Request::Metrics { head: false }, || {
        "x 1\n".into()
    }))
    .unwrap();
    assert_eq!(
        ok,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n"
    );
    let head =
        String::from_utf8(response(Request::Metrics { head: true }, || "x 1\n".into())).unwrap();
    assert!(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
    let not_found = response(Request::NotFound { head: false }, || unreachable!());
    assert!(not_found.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    let bad = String::from_utf8(response(Request::BadMethod, || unreachable!())).unwrap();
    assert!(bad.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(bad.contains("\r\nAllow: GET, HEAD\r\n"));
    let large = response(Request::TooLarge, || unreachable!());
    assert!(large.starts_with(b"HTTP/1.1 431 "));
    let late = String::from_utf8(response(Request::TimedOut, || unreachable!())).unwrap();
    assert!(
        late.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{late}"
    );
    assert!(late.ends_with("within 5 s\n"), "{late}");
}

#[test]
fn only_loopback_unless_public() {
    let ok = [
        "127.0.0.1:9464",
        "127.0.0.2:1",
        "[::1]:9464",
        "[::ffff:127.0.0.1]:9464",
    ];
    for a in ok {
        check_addr(a.parse().unwrap(), false).unwrap();
    }
    for a in ["0.0.0.0:9464", "10.1.2.3:9464", "[::]:9464"] {
        let e = check_addr(a.parse().unwrap(), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--metrics-public"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        check_addr(a.parse().unwrap(), true).unwrap();
    }
}

#[test]
fn a_fleet_without_workers_has_no_roles() {
    let fleet = Fleet::new().unwrap();
    assert_eq!(
        MetricsSnapshot::of_fleet(&fleet),
        MetricsSnapshot::default()
    );
    assert_eq!(render(Some(&MetricsSnapshot::default())), render(None));
}
