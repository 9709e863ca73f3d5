//! Live sockets for the endpoint tests, and an independent reading of
//! them: `/proc/net/tcp` and `/proc/net/tcp6` parsed here, with nothing
//! shared with the sock_diag code under test. Tests that use these run
//! under `flock /tmp/c1m-e2e.lock` (the session's rule for socket tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketType, sockopt};

/// `/proc/net/tcp` state numbers (`include/net/tcp_states.h`).
pub const ESTABLISHED: u8 = 0x01;
pub const SYN_SENT: u8 = 0x02;
pub const SYN_RECV: u8 = 0x03;
pub const FIN_WAIT2: u8 = 0x05;
pub const TIME_WAIT: u8 = 0x06;
pub const CLOSE_WAIT: u8 = 0x08;
pub const LISTEN: u8 = 0x0a;

/// One row of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Local address, IPv4-mapped IPv6 shown as IPv4.
    pub local: SocketAddr,
    /// Remote address, likewise.
    pub remote: SocketAddr,
    /// The `st` column.
    pub state: u8,
    /// The `rx_queue` column: for a LISTEN row, the accept queue
    /// (`get_tcp4_sock()`: `sk_ack_backlog`).
    pub rx_queue: u32,
    /// The `inode` column.
    pub inode: u64,
    /// From `tcp6`.
    pub v6_file: bool,
}

fn hex_u32(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// `0100007F:1F90` (IPv4: the `__be32` printed as a native u32) or 32 hex
/// digits (IPv6: four such words), then the port in host order.
fn parse_addr(field: &str) -> SocketAddr {
    let (ip, port) = field.split_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(hex_u32(ip).to_ne_bytes())),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&hex_u32(&ip[i * 8..i * 8 + 8]).to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b)).to_canonical()
        }
        n => panic!("address of {n} hex digits: {field}"),
    };
    SocketAddr::new(ip, port)
}

/// Every row of `/proc/net/tcp` and `/proc/net/tcp6` (this namespace).
pub fn proc_tcp() -> Vec<Row> {
    let mut rows = Vec::new();
    for (file, v6_file) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let (_tx, rx) = f[4].split_once(':').unwrap();
            rows.push(Row {
                local: parse_addr(f[1]),
                remote: parse_addr(f[2]),
                state: u8::from_str_radix(f[3], 16).unwrap(),
                rx_queue: hex_u32(rx),
                inode: f[9].parse().unwrap(),
                v6_file,
            });
        }
    }
    rows
}

/// What `/proc` says about one endpoint, by the rules of the module under
/// test, applied here on their own: server rows have it as local address
/// (LISTEN rows aside), client rows as remote address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSides {
    pub server_established: u64,
    pub server_established_no_inode: u64,
    pub server_close_wait: u64,
    pub server_fin_wait2: u64,
    pub client_established: u64,
    pub client_close_wait: u64,
}

pub fn sides(rows: &[Row], endpoint: SocketAddr) -> ProcSides {
    let mut s = ProcSides::default();
    for r in rows.iter().filter(|r| r.state != LISTEN) {
        if r.local == endpoint {
            match r.state {
                ESTABLISHED => {
                    s.server_established += 1;
                    s.server_established_no_inode += u64::from(r.inode == 0);
                }
                CLOSE_WAIT => s.server_close_wait += 1,
                FIN_WAIT2 => s.server_fin_wait2 += 1,
                _ => {}
            }
        }
        if r.remote == endpoint {
            match r.state {
                ESTABLISHED => s.client_established += 1,
                CLOSE_WAIT => s.client_close_wait += 1,
                _ => {}
            }
        }
    }
    s
}

/// The LISTEN row bound exactly to `local` (as bound: `0.0.0.0:P`, …).
pub fn listen_row(rows: &[Row], local: SocketAddr) -> Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.state == LISTEN && r.local == local)
        .collect();
    assert_eq!(found.len(), 1, "LISTEN rows on {local}: {found:?}");
    *found[0]
}

/// Re-reads `/proc/net/tcp{,6}` until `ready` holds (connections on
/// loopback finish their handshakes and closes in softirq, a moment after
/// the system calls return); panics after 10 s. Not a timing assertion:
/// only a wait for the state the test then checks.
pub fn settle(what: &str, ready: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let start = Instant::now();
    loop {
        let rows = proc_tcp();
        if ready(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never settled: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn family(addr: SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    }
}

/// A blocking listener on `addr` with this backlog, `SO_REUSEADDR`, and
/// `IPV6_V6ONLY` set as asked for IPv6 ones (`None`: the system default).
pub fn listen(addr: SocketAddr, backlog: i32, v6_only: Option<bool>) -> TcpListener {
    let fd = rustix::net::socket(family(addr), SocketType::STREAM, None).unwrap();
    sockopt::set_socket_reuseaddr(&fd, true).unwrap();
    if let Some(v) = v6_only {
        sockopt::set_ipv6_v6only(&fd, v).unwrap();
    }
    rustix::net::bind(&fd, &addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    rustix::net::listen(&fd, backlog).unwrap();
    TcpListener::from(fd)
}

/// A connection from `source` (port 0: any) to `to`.
pub fn connect_from(source: SocketAddr, to: SocketAddr) -> TcpStream {
    let fd = rustix::net::socket(family(to), SocketType::STREAM, None).unwrap();
    rustix::net::bind(&fd, &source).unwrap();
    rustix::net::connect(&fd, &to).unwrap_or_else(|e| panic!("connect {to}: {e}"));
    TcpStream::from(fd)
}

/// A nonblocking connect to `to`, left to finish (or not) on its own.
pub fn connect_nonblocking(to: SocketAddr) -> std::os::fd::OwnedFd {
    let fd = rustix::net::socket_with(
        family(to),
        SocketType::STREAM,
        rustix::net::SocketFlags::NONBLOCK,
        None,
    )
    .unwrap();
    match rustix::net::connect(&fd, &to) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => fd,
        Err(e) => panic!("connect {to}: {e}"),
    }
}

/// `n` connections to `to`.
pub fn connect_n(to: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}")))
        .collect()
}

/// Whether `::1` can be bound (IPv6 may be off).
pub fn has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}
