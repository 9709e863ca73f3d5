//! Half-open connections against `c1m serve` (issue 12, point 4): peers
//! that vanish without a word, as when a cable is pulled or a machine
//! dies. The peers live in one network namespace, `c1m serve` in another,
//! joined by a veth pair that is then deleted: the peers' kernel still has
//! them ESTABLISHED, and nothing will ever come from them. The server
//! closes them at the idle timeout, while well-behaved peers on its own
//! side go on. Needs root (namespaces); skipped, saying so, otherwise.

use std::net::{Shutdown, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::peers::*;
use crate::util::root::needs_root;
use crate::util::*;

/// Two network namespaces joined by a veth pair, removed when dropped.
struct Link {
    server_ns: String,
    peer_ns: String,
    veth: String,
}

impl Link {
    fn up(server_ip: &str, peer_ip: &str) -> Link {
        remove_stale();
        let id = std::process::id() % 100_000;
        let link = Link {
            server_ns: format!("c1m-hostile-s{id}"),
            peer_ns: format!("c1m-hostile-p{id}"),
            veth: format!("c1mhs{id}"),
        };
        let peer_veth = format!("c1mhp{id}");
        let (s, p, v) = (&link.server_ns, &link.peer_ns, &link.veth);
        for args in [
            vec!["netns", "add", s],
            vec!["netns", "add", p],
            vec![
                "link", "add", v, "netns", s, "type", "veth", "peer", "name", &peer_veth, "netns",
                p,
            ],
            vec!["-n", s, "addr", "add", server_ip, "dev", v],
            vec!["-n", p, "addr", "add", peer_ip, "dev", &peer_veth],
            vec!["-n", s, "link", "set", v, "up"],
            vec!["-n", p, "link", "set", &peer_veth, "up"],
            vec!["-n", s, "link", "set", "lo", "up"],
        ] {
            let out = Command::new("ip").args(&args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
        }
        link
    }

    /// Pulls the cable: the veth pair is deleted, with nothing said to
    /// either end.
    fn cut(&self) {
        let out = Command::new("ip")
            .args(["-n", &self.server_ns, "link", "del", &self.veth])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// Removes the namespaces of a test process that was killed before it
/// could (`c1m-hostile-sPID`, `c1m-hostile-pPID`, PID no longer running).
fn remove_stale() {
    for ns in ip_cmd(&["netns", "list"]).lines() {
        let Some(name) = ns.split_whitespace().next() else {
            continue;
        };
        let pid = name
            .strip_prefix("c1m-hostile-")
            .and_then(|r| r.get(1..))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !alive(p)) {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.peer_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Half-open connections: peers in one namespace, `c1m serve` in another,
/// joined by a veth pair that is then deleted. The peers' kernel still
/// has them ESTABLISHED; nothing will ever arrive from them. The server
/// closes them at the idle timeout, while well-behaved peers on its own
/// side go on.
#[test]
fn vanished_peers_are_closed_at_the_idle_timeout() {
    const PEERS: usize = 20;
    let Some(root) = needs_root("network namespaces and a veth pair") else {
        return;
    };
    let link = Link::up("192.0.2.1/30", "192.0.2.2/30");
    let listen: SocketAddr = "192.0.2.1:8990".parse().unwrap();
    let json = report_path("hostile-half-open");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &link.server_ns, env!("CARGO_BIN_EXE_c1m")])
        .args(["serve", "--listen", "192.0.2.1:8990", "127.0.0.1:8990"])
        .args(["--max-conns", "100"])
        .args(["--idle-timeout", "2s", "--json", json.to_str().unwrap()])
        .env("C1M_STATE_DIR", state_dir());
    let mut serve = spawn_cmd(cmd);
    serve.wait_line(" hold ", Duration::from_secs(30));

    let open = |ns: &str, to: SocketAddr, n: usize| {
        root.check(
            c1m_sys::netns::run_in(ns, || {
                (0..n)
                    .map(|_| {
                        let mut s = connect(to);
                        assert!(exchange(&mut s, b"h\n").unwrap());
                        s
                    })
                    .collect::<Vec<_>>()
            }),
            "entering a namespace",
            "run as root with CAP_SYS_ADMIN",
        )
    };
    let vanishing = open(&link.peer_ns, listen, PEERS);
    // The well-behaved, beside the server: over its namespace's loopback.
    let mut good = open(&link.server_ns, "127.0.0.1:8990".parse().unwrap(), 2);
    let server_side = || ss_established_in(&link.server_ns, "( sport = :8990 )");
    assert_eq!(server_side(), PEERS as u64 + 2);
    link.cut();

    // The well-behaved exchange a line every 100 ms until the vanished
    // are gone from the server's table.
    let deadline = Instant::now() + LONG;
    let mut lines = 0;
    while server_side() > 2 {
        assert!(Instant::now() < deadline, "vanished peers still held");
        for s in &mut good {
            assert!(exchange(s, format!("g{lines}\n").as_bytes()).unwrap());
        }
        lines += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // The peers' own kernel: still ESTABLISHED, told nothing.
    assert_eq!(
        ss_established_in(&link.peer_ns, "( dport = :8990 )"),
        PEERS as u64
    );
    for s in &mut good {
        s.shutdown(Shutdown::Write).unwrap();
        assert!(read_until_closed(s));
    }
    let (code, stdout, _) = serve.interrupt(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{stdout}");
    let r = read_json(&json);
    assert_eq!(
        r["servers"]["drops"]["idle"], PEERS as u64,
        "{}",
        r["servers"]
    );
    assert_eq!(r["servers"]["dropped"], PEERS as u64);
    assert_eq!(r["servers"]["closed_fin"], 2);
    drop(vanishing);
    drop(link);
}
