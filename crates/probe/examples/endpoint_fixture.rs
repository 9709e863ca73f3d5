//! Captures the endpoint fixtures `tests/fixtures/diag/endpoints_v{4,6}.bin`
//! (the scene is described in tests/fixtures/README.md):
//!
//! ```sh
//! flock /tmp/c1m-e2e.lock cargo run --release -p c1m-probe --example endpoint_fixture -- DIR
//! ```

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use c1m_probe::diag::{EndpointQuery, Families, TcpDiag};
use rustix::net::{AddressFamily, SocketType, sockopt};

fn listen(addr: SocketAddr, backlog: i32) -> TcpListener {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket(family, SocketType::STREAM, None).expect("socket");
    sockopt::set_socket_reuseaddr(&fd, true).expect("SO_REUSEADDR");
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, false).expect("IPV6_V6ONLY");
    }
    rustix::net::bind(&fd, &addr).expect("bind");
    rustix::net::listen(&fd, backlog).expect("listen");
    TcpListener::from(fd)
}

fn connect(to: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(to).expect("connect"))
        .collect()
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: endpoint_fixture DIR"),
    );
    // 18795: 3 connections; the first accepted then closed by the server
    // (client CLOSE_WAIT, server FIN_WAIT2), two left in the accept queue.
    let l95 = listen("127.0.77.20:18795".parse().unwrap(), 16);
    let _c95 = connect("127.0.77.20:18795", 3);
    let (first, _) = l95.accept().expect("accept");
    first.shutdown(Shutdown::Both).expect("shutdown");
    drop(first);
    // Not an endpoint: same port, another address.
    let l95b = listen("127.0.77.21:18795".parse().unwrap(), 16);
    let _c95b = connect("127.0.77.21:18795", 1);
    let _a95b = l95b.accept().expect("accept");
    // 18796: a dual-stack [::] listener, one IPv4 and one IPv6 client, both
    // accepted.
    let l96 = listen("[::]:18796".parse().unwrap(), 16);
    let _c96 = connect("127.0.77.20:18796", 1);
    let _c96v6 = connect("[::1]:18796", 1);
    let _a96: Vec<TcpStream> = (0..2).map(|_| l96.accept().expect("accept").0).collect();
    std::thread::sleep(Duration::from_millis(200));

    let endpoints: Vec<SocketAddr> = ["127.0.77.20:18795", "127.0.77.20:18796", "[::1]:18796"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut diag = TcpDiag::new().expect("sock_diag");
    for (families, name) in [
        (Families::V4, "endpoints_v4.bin"),
        (Families::V6, "endpoints_v6.bin"),
    ] {
        let mut q = EndpointQuery::new(endpoints.clone());
        q.families = families;
        let raw = diag.capture_endpoints(&q).expect("capture");
        std::fs::write(dir.join(name), &raw).expect("write");
        let counts = diag.endpoints(&q).expect("endpoints");
        println!(
            "{name}: {} bytes\n{}",
            raw.len(),
            serde_json::to_string_pretty(&counts).unwrap_or_default()
        );
    }
    let ss = std::process::Command::new("ss")
        .args([
            "-tanoe",
            "( sport >= :18795 and sport <= :18796 ) or ( dport >= :18795 and dport <= :18796 )",
        ])
        .output();
    if let Ok(out) = ss {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
