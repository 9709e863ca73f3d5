//! sock_diag: captured dump replies, hostile bytes, and live counts of
//! loopback connections checked against what we opened and against `ss`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;

use crate::util::{cut_points, fixture, garbage, mutations};
use c1m_probe::diag::{
    DiagQuery, Families, PortMatch, ReplyStatus, StateSet, TcpCounts, TcpDiag, TcpState, count_tcp,
    parse_reply,
};

/// The state counts of a parsed reply, non-zero ones, by name.
fn states(c: &TcpCounts) -> Vec<(&'static str, u64)> {
    c.iter()
        .filter(|&(_, n)| n > 0)
        .map(|(s, n)| (s.name(), n))
        .collect()
}

/// Both captures hold one listener, two established connections, one
/// closed by the client only (FIN_WAIT2 / CLOSE_WAIT) and one closed by
/// both (TIME_WAIT): see tests/fixtures/README.md.
#[test]
fn parses_captured_dumps() {
    for (file, server, clients) in [
        ("diag/v4.bin", 54929, [47494, 47506, 47516, 47530]),
        ("diag/v6.bin", 37395, [53652, 53660, 53668, 53678]),
    ] {
        let mut c = TcpCounts::new(true);
        assert_eq!(
            parse_reply(&fixture(file), &mut c),
            Ok(ReplyStatus::Done),
            "{file}"
        );
        assert_eq!(
            states(&c),
            [
                ("ESTABLISHED", 4),
                ("FIN_WAIT2", 1),
                ("TIME_WAIT", 1),
                ("CLOSE_WAIT", 1),
                ("LISTEN", 1)
            ],
            "{file}"
        );
        assert_eq!(c.total(), 8);
        let mut ports: BTreeMap<u16, u64> = clients.iter().map(|&p| (p, 1)).collect();
        ports.insert(server, 4);
        assert_eq!(c.by_local_port(), Some(&ports), "{file}");
    }
}

#[test]
fn a_dump_stops_at_its_done() {
    let mut both = fixture("diag/v4.bin");
    both.extend(fixture("diag/v6.bin"));
    let mut c = TcpCounts::new(false);
    assert_eq!(parse_reply(&both, &mut c), Ok(ReplyStatus::Done));
    assert_eq!(c.total(), 8);
}

/// `nlmsghdr` + payload, as the kernel lays it out.
fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(payload);
    m
}

#[test]
fn kernel_errors_are_reported() {
    let mut c = TcpCounts::new(false);
    let eperm = message(2, &[(-1i32).to_ne_bytes().as_slice(), &[0; 16]].concat());
    assert_eq!(parse_reply(&eperm, &mut c), Ok(ReplyStatus::Failed(1)));
    let done_err = message(3, &(-4i32).to_ne_bytes());
    assert_eq!(parse_reply(&done_err, &mut c), Ok(ReplyStatus::Failed(4)));
    assert_eq!(parse_reply(&message(3, &[]), &mut c), Ok(ReplyStatus::Done));
    assert_eq!(parse_reply(&message(1, &[]), &mut c), Ok(ReplyStatus::More));
    assert!(parse_reply(&message(99, &[]), &mut c).is_err());
    assert!(parse_reply(&message(20, &[2; 40]), &mut c).is_err());
    assert!(
        parse_reply(&message(20, &[7; 72]), &mut c).is_err(),
        "family 7"
    );
    assert_eq!(c.total(), 0);
}

#[test]
fn truncated_and_garbage_replies_never_pass_for_whole() {
    assert!(
        parse_reply(
            &fixture("bad/diag_v4.truncated.bin"),
            &mut TcpCounts::new(true)
        )
        .is_err()
    );
    for file in ["diag/v4.bin", "diag/v6.bin"] {
        let good = fixture(file);
        for cut in cut_points(&good) {
            let mut c = TcpCounts::new(true);
            match parse_reply(&good[..cut], &mut c) {
                Ok(ReplyStatus::More) | Err(_) => assert!(c.total() <= 8),
                other => panic!("{file} cut at {cut}: {other:?}"),
            }
        }
        for bad in mutations(&good, 2000).into_iter().chain(garbage()) {
            let _ = parse_reply(&bad, &mut TcpCounts::new(true));
        }
    }
}

/// A listener and `n` accepted connections to it, all held open.
struct Loopback {
    port: u16,
    _listener: TcpListener,
    _held: Vec<TcpStream>,
}

fn open(ip: &str, n: usize) -> Option<Loopback> {
    let listener = TcpListener::bind(SocketAddr::new(ip.parse().unwrap(), 0)).ok()?;
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::with_capacity(2 * n);
    for _ in 0..n {
        held.push(TcpStream::connect(addr).unwrap());
        held.push(listener.accept().unwrap().0);
    }
    Some(Loopback {
        port: addr.port(),
        _listener: listener,
        _held: held,
    })
}

/// `ss`'s count of established sockets with this local or remote port,
/// if `ss` is installed.
fn ss_count(port: u16) -> Option<u64> {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", &filter])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "ss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count() as u64,
    )
}

fn established_on(port: u16, families: Families) -> DiagQuery {
    DiagQuery {
        families,
        local_ports: Some(port..=port),
        remote_ports: Some(port..=port),
        port_match: PortMatch::Any,
        ..DiagQuery::new(StateSet::only(TcpState::Established))
    }
}

#[test]
fn live_counts_match_opened_connections_and_ss() {
    const N: u64 = 200;
    let lo = open("127.0.0.1", N as usize).unwrap();
    let query = established_on(lo.port, Families::V4);
    let counts = count_tcp(&query).unwrap();
    assert_eq!(counts.get(TcpState::Established), 2 * N);
    assert_eq!(counts.total(), 2 * N);
    if let Some(ss) = ss_count(lo.port) {
        assert_eq!(ss, 2 * N, "ss disagrees");
    }

    let mut diag = TcpDiag::new().unwrap();
    // Both families: the IPv6 dump adds nothing here.
    assert_eq!(
        diag.count(&established_on(lo.port, Families::Both))
            .unwrap()
            .total(),
        2 * N
    );
    // One side at a time: the accepted sockets, then the clients.
    let server = DiagQuery {
        remote_ports: None,
        per_local_port: true,
        ..query.clone()
    };
    let c = diag.count(&server).unwrap();
    assert_eq!(c.total(), N);
    assert_eq!(c.by_local_port().unwrap().get(&lo.port), Some(&N));
    let clients = DiagQuery {
        local_ports: None,
        per_local_port: true,
        ..query.clone()
    };
    let c = diag.count(&clients).unwrap();
    assert_eq!(c.total(), N);
    assert_eq!(
        c.by_local_port().unwrap().len() as u64,
        N,
        "one ephemeral port each"
    );
    // Both conditions at once: no socket is on the port at both ends.
    let both = DiagQuery {
        port_match: PortMatch::All,
        ..query.clone()
    };
    assert_eq!(diag.count(&both).unwrap().total(), 0);
    // The listener is LISTEN, not ESTABLISHED.
    let listen = DiagQuery {
        states: StateSet::only(TcpState::Listen),
        ..server
    };
    assert_eq!(diag.count(&listen).unwrap().get(TcpState::Listen), 1);
    assert_eq!(
        diag.count(&DiagQuery {
            states: StateSet::EMPTY,
            ..query
        })
        .unwrap()
        .total(),
        0
    );
}

#[test]
fn live_counts_ipv6() {
    const N: u64 = 50;
    let Some(lo) = open("::1", N as usize) else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    assert_eq!(
        count_tcp(&established_on(lo.port, Families::V6))
            .unwrap()
            .total(),
        2 * N
    );
    assert_eq!(
        count_tcp(&established_on(lo.port, Families::V4))
            .unwrap()
            .total(),
        0
    );
    assert_eq!(
        count_tcp(&established_on(lo.port, Families::Both))
            .unwrap()
            .total(),
        2 * N
    );
    if let Some(ss) = ss_count(lo.port) {
        assert_eq!(ss, 2 * N, "ss disagrees");
    }
}

#[test]
fn live_capture_reads_back() {
    let lo = open("127.0.0.1", 20).unwrap();
    let query = established_on(lo.port, Families::V4);
    let raw = TcpDiag::new().unwrap().capture(&query).unwrap();
    let mut c = TcpCounts::new(false);
    assert_eq!(parse_reply(&raw, &mut c), Ok(ReplyStatus::Done));
    assert_eq!(c.get(TcpState::Established), 40);
}
