//! `c1m lab up|down|status`: namespaces, bridge and veths built and removed,
//! a TCP connection across the lab, and the host's own interfaces
//! untouched. Needs root (skipped otherwise, `util::root`); as root, a lab
//! already up (it is someone's) fails it (`util::lab`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use c1m::lab::{self, STATE_FILE};
use c1m_sys::netns;

use crate::util::ip_cmd;
use crate::util::lab::{host_view, lab_namespaces, start};

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Connects from each of `sources` in `netns` to `target`.
fn connect_all(netns: &str, sources: &[IpAddr], target: SocketAddr) {
    netns::run_in(netns, || {
        for src in sources {
            let r = c1m::ip::connect_from(*src, target, Duration::from_secs(3));
            assert_eq!(r, Ok(()), "{src} -> {target}");
        }
    })
    .unwrap();
}

#[test]
fn lab_up_connect_down() {
    // Whatever happens below, leave no lab behind.
    let Some(_lab) = start() else {
        return;
    };
    let host_before = host_view();

    // Bad input: refused before anything is built.
    let e = lab::up(512, 1).unwrap_err();
    assert!(e.to_string().contains("use fewer clients"), "{e}");
    let e = lab::up(2, 300 * 254).unwrap_err();
    assert!(e.to_string().contains("198.18.0.0/15"), "{e}");
    assert!(lab::up(0, 1).is_err());
    assert!(lab_namespaces().is_empty());
    assert!(!std::path::Path::new(STATE_FILE).exists());
    // Nothing up: down has nothing to do, and says so (no error).
    let d = lab::down().unwrap();
    assert!(!d.was_up && d.removed.is_empty(), "{d:?}");
    assert!(lab::layout().unwrap().is_none());

    // A failure halfway (the second client's bridge port name is too long
    // for the kernel) removes what was built.
    let mut bad = lab::plan::plan(3, 2).unwrap();
    bad.clients[1].bridge_port = "c1m-v-name-too-long".into();
    let e = lab::up_layout(bad).unwrap_err();
    assert!(
        format!("{e:#}").contains("what was built is removed"),
        "{e:#}"
    );
    assert!(format!("{e:#}").contains("c1m-cli2"), "{e:#}");
    assert!(lab_namespaces().is_empty(), "{:?}", lab_namespaces());
    assert!(!std::path::Path::new(STATE_FILE).exists());
    assert_eq!(host_view(), host_before, "the host's interfaces changed");

    // Up: two clients with three addresses each.
    let layout = lab::up(2, 3).unwrap();
    assert_eq!(lab::layout().unwrap().as_ref(), Some(&layout));
    assert_eq!(
        lab_namespaces(),
        ["c1m-cli1", "c1m-cli2", "c1m-lab", "c1m-srv"]
    );
    let bridge_links = ip_cmd(&["-n", "c1m-lab", "-o", "link"]);
    for port in ["c1m-v-srv", "c1m-v-cli1", "c1m-v-cli2"] {
        let line = bridge_links
            .lines()
            .find(|l| l.contains(&format!(" {port}@")))
            .unwrap_or_else(|| panic!("{port} missing: {bridge_links}"));
        assert!(line.contains("master c1m-br0"), "{line}");
        assert!(line.contains(",UP"), "{line}");
    }
    let srv = ip_cmd(&["-n", "c1m-srv", "-o", "-4", "addr"]);
    assert!(srv.contains("c1m-eth0    inet 198.18.0.1/15"), "{srv}");
    let cli2 = ip_cmd(&["-n", "c1m-cli2", "-o", "-4", "addr"]);
    for a in [
        "198.18.2.1/15",
        "198.18.2.2/32",
        "198.18.2.3/32",
        "127.0.0.1/8",
    ] {
        assert!(cli2.contains(a), "{a} missing: {cli2}");
    }
    let routes = ip_cmd(&["-n", "c1m-srv", "-4", "route"]);
    for r in [
        "198.18.1.0/24 via 198.18.1.1 dev c1m-eth0",
        "198.18.2.0/24 via 198.18.2.1 dev c1m-eth0",
    ] {
        assert!(routes.contains(r), "{r} missing: {routes}");
    }
    for h in layout.hosts() {
        let (lo, hi) = h.local_port_range.expect("port range read");
        assert!(lo < hi);
    }
    let status = lab::describe(&layout);
    assert!(
        status.contains("c1m-cli2: c1m-eth0 3 addresses 198.18.2.1…198.18.2.3"),
        "{status}"
    );

    // Up twice: refused, naming `lab down`; the lab is untouched.
    let e = lab::up(1, 1).unwrap_err();
    assert!(e.to_string().contains("c1m lab down"), "{e}");
    assert_eq!(lab::layout().unwrap().as_ref(), Some(&layout));
    assert_eq!(lab_namespaces().len(), 4);

    // TCP from a client host to the server host, from each client address.
    let listener = netns::run_in("c1m-srv", || {
        c1m_sys::socket::listen(SocketAddr::new(ipa("198.18.0.1"), 0), 64, false).unwrap()
    })
    .unwrap();
    let target = c1m_sys::socket::local_addr(&listener).unwrap();
    for h in &layout.clients {
        connect_all(&h.netns, &h.addrs, target);
    }
    let mut peers = Vec::new();
    while let Some(fd) = c1m_sys::socket::accept(&listener).unwrap() {
        peers.push(fd);
    }
    assert_eq!(peers.len(), 6);
    // One ARP entry per client host on the server, not one per address.
    let neigh = ip_cmd(&["-n", "c1m-srv", "-4", "neigh"]);
    assert_eq!(neigh.lines().count(), 2, "{neigh}");
    // The server's address is not the host's: a client's own namespace is
    // the only place it answers from.
    assert!(!ip_cmd(&["-o", "addr"]).contains("198.18.0.1/"));
    drop(peers);
    drop(listener);
    // The lab's addresses are c1m-marked too.
    let marked = netns::run_in("c1m-cli1", || c1m::ip::c1m_addresses("c1m-eth0").unwrap()).unwrap();
    assert_eq!(marked.len(), 3);

    // Down removes every namespace, and the host is as it was.
    let down = lab::down().unwrap();
    assert_eq!(down.removed.len(), 4);
    assert!(
        down.gone.is_empty() && down.left_alone.is_empty(),
        "{down:?}"
    );
    assert!(lab_namespaces().is_empty());
    assert!(!std::path::Path::new(STATE_FILE).exists());
    assert_eq!(host_view(), host_before, "the host's interfaces changed");
    assert!(!ip_cmd(&["-o", "link"]).contains("c1m-"));
    // A second down: nothing up, nothing removed.
    let d = lab::down().unwrap();
    assert!(
        !d.was_up && d.removed.is_empty() && d.gone.is_empty(),
        "{d:?}"
    );

    // One client with 600 addresses: three /24 blocks. (Namespaces with
    // lab names that no state file records are someone else's, never
    // cleaned up: `tests/it/lab_faults.rs`.)
    let one = lab::up(1, 600).unwrap();
    assert_eq!(one.clients.len(), 1);
    assert_eq!(lab_namespaces(), ["c1m-cli1", "c1m-lab", "c1m-srv"]);
    let listener = netns::run_in("c1m-srv", || {
        c1m_sys::socket::listen(SocketAddr::new(ipa("198.18.0.1"), 0), 4096, false).unwrap()
    })
    .unwrap();
    let target = c1m_sys::socket::local_addr(&listener).unwrap();
    connect_all("c1m-cli1", &one.clients[0].addrs, target);
    let neigh = ip_cmd(&["-n", "c1m-srv", "-4", "neigh"]);
    assert_eq!(neigh.lines().count(), 1, "{neigh}");
    drop(listener);
    lab::down().unwrap();
    assert!(lab_namespaces().is_empty());
    assert_eq!(host_view(), host_before, "the host's interfaces changed");
}
