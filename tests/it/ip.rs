//! `c1m ip add|del|check`, inside a network namespace the test creates
//! (never on the machine's own interfaces). Needs root (skipped otherwise,
//! `util::root`).

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use c1m::cmd::ip::{IpArgs, IpCommand};
use c1m::ip::{self, rtnl::Rtnl};
use c1m_sys::netns;

use crate::util::root::needs_root;
use crate::util::{ip_cmd, read_json, report_path, state_dir, text};

/// What the tests here need root for.
const WHY: &str = "network namespaces (c1m ip)";

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A namespace for one test, deleted on drop.
struct TestNs(String);

impl TestNs {
    fn new(tag: &str) -> Self {
        let name = format!("c1m-test-{tag}-{}", std::process::id());
        let _ = netns::delete(&name);
        netns::create(&name).unwrap_or_else(|e| panic!("creating network namespace {name}: {e}"));
        Self(name)
    }
}

impl TestNs {
    /// `c1m ARGS` run inside the namespace (`ip netns exec`), with the
    /// tests' state directory.
    fn c1m(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_c1m")])
            .args(args)
            .env("C1M_STATE_DIR", state_dir());
        cmd
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
    }
}

const DEV: &str = "c1m-dum0";

/// The IPv4 addresses of `iface` (an up interface has an IPv6 link-local
/// one too).
fn v4(iface: &str) -> Vec<c1m::ip::rtnl::Addr> {
    ip::list(iface)
        .unwrap()
        .into_iter()
        .filter(|a| a.ip.is_ipv4())
        .collect()
}

/// A namespace with lo up and an interface `DEV` (one end of a veth pair)
/// carrying a
/// non-c1m address 198.18.200.1/24.
fn namespace_with_iface(tag: &str) -> TestNs {
    let ns = TestNs::new(tag);
    netns::run_in(&ns.0, || {
        let mut nl = Rtnl::open().unwrap();
        let lo = nl.link("lo").unwrap().unwrap().index;
        nl.set_up(lo).unwrap();
        // A veth pair (this kernel may lack the dummy module).
        nl.add_veth(DEV, "c1m-dum0p", None).unwrap();
        let peer = nl.link("c1m-dum0p").unwrap().unwrap().index;
        nl.set_up(peer).unwrap();
        let dev = nl.link(DEV).unwrap().unwrap().index;
        nl.add_address(dev, ipa("198.18.200.1"), 24, None, None)
            .unwrap();
        nl.set_up(dev).unwrap();
    })
    .unwrap();
    ns
}

#[test]
fn add_check_del_inside_a_namespace() {
    let Some(_root) = needs_root(WHY) else {
        return;
    };
    let host_addrs = ip_cmd(&["-o", "addr"]);
    let ns = namespace_with_iface("ip");
    netns::run_in(&ns.0, || {
        let ips = ip::parse_distinct("198.18.200.8/30,198.18.200.20").unwrap();
        assert_eq!(ips.len(), 3);
        let added = ip::add(DEV, &ips, None).unwrap();
        assert_eq!(added, ips);
        let mut mine = ip::c1m_addresses(DEV).unwrap();
        mine.sort();
        assert_eq!(
            mine,
            [
                ipa("198.18.200.9"),
                ipa("198.18.200.10"),
                ipa("198.18.200.20")
            ]
        );
        // The primary address is not c1m's.
        let all = v4(DEV);
        assert_eq!(all.len(), 4);
        let primary = all.iter().find(|a| a.ip == ipa("198.18.200.1")).unwrap();
        assert!(!ip::is_c1m(primary));

        // Refused: already there (c1m's or not), all or nothing.
        let e = ip::add(DEV, &[ipa("198.18.200.30"), ipa("198.18.200.9")], None).unwrap_err();
        assert!(e.to_string().contains("already in use on c1m-dum0"), "{e}");
        let e = ip::add(DEV, &[ipa("198.18.200.1")], None).unwrap_err();
        assert!(e.to_string().contains("already in use"), "{e}");
        assert_eq!(v4(DEV).len(), 4, "a refused add added something");
        // Refused: no such interface.
        let e = ip::add("c1m-nonesuch", &[ipa("198.18.200.40")], None).unwrap_err();
        assert!(
            e.to_string().contains("no interface \"c1m-nonesuch\""),
            "{e}"
        );
        let e = ip::c1m_addresses("c1m-nonesuch").unwrap_err();
        assert!(e.to_string().contains("no interface"), "{e}");
        // Refused: overlapping input.
        let e = ip::parse_distinct("198.18.200.0/29,198.18.200.4").unwrap_err();
        assert!(e.to_string().contains("more than once"), "{e}");

        // check: each c1m address connects to a listener on the primary.
        let listener =
            c1m_sys::socket::listen(SocketAddr::new(ipa("198.18.200.1"), 0), 16, false).unwrap();
        let target = c1m_sys::socket::local_addr(&listener).unwrap();
        let results = ip::check(DEV, target, Duration::from_secs(2)).unwrap();
        assert_eq!(results.len(), 3);
        for (src, r) in &results {
            assert_eq!(r, &Ok(()), "{src}");
        }
        // ... and a closed port is reported, not hidden.
        drop(listener);
        let results = ip::check(DEV, target, Duration::from_secs(2)).unwrap();
        assert!(results.iter().all(|(_, r)| r.is_err()), "{results:?}");

        // del of a non-c1m address is refused; del removes only c1m's.
        let e = ip::del(DEV, Some(&[ipa("198.18.200.1")])).unwrap_err();
        assert!(e.to_string().contains("not added by c1m"), "{e}");
        let one = ip::del(DEV, Some(&[ipa("198.18.200.20")])).unwrap();
        assert_eq!(one, [ipa("198.18.200.20")]);
        let rest = ip::del(DEV, None).unwrap();
        assert_eq!(rest.len(), 2);
        let left = v4(DEV);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].ip, ipa("198.18.200.1"));
        assert!(ip::del(DEV, None).unwrap().is_empty());
    })
    .unwrap();
    assert_eq!(
        ip_cmd(&["-o", "addr"]),
        host_addrs,
        "the host's addresses changed"
    );
}

#[test]
fn the_mark_is_visible_to_iproute2() {
    let Some(_root) = needs_root(WHY) else {
        return;
    };
    let ns = namespace_with_iface("ipmark");
    // Through the command's entry point, with --netns.
    let code = c1m::cmd::ip::run(&IpArgs {
        command: IpCommand::Add {
            iface: DEV.into(),
            addrs: "198.18.200.50-198.18.200.51".into(),
            prefix_len: None,
            netns: Some(ns.0.clone()),
        },
    })
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let shown = ip_cmd(&["-n", &ns.0, "-o", "-4", "addr", "show", "dev", DEV]);
    let line = shown
        .lines()
        .find(|l| l.contains("198.18.200.50/32"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains("c1m-dum0:c1m"), "{line}");
    let mine = netns::run_in(&ns.0, || ip::c1m_addresses(DEV).unwrap()).unwrap();
    assert_eq!(mine.len(), 2);
    // Interface names too long for the label are marked by IFA_PROTO only.
    netns::run_in(&ns.0, || {
        let mut nl = Rtnl::open().unwrap();
        nl.add_veth("c1m-longname12", "c1m-longpeer", None).unwrap();
        let i = nl.link("c1m-longname12").unwrap().unwrap().index;
        nl.set_up(i).unwrap();
        ip::add("c1m-longname12", &[ipa("198.18.201.1")], None).unwrap();
        assert_eq!(
            ip::c1m_addresses("c1m-longname12").unwrap(),
            [ipa("198.18.201.1")]
        );
        assert_eq!(ip::del("c1m-longname12", None).unwrap().len(), 1);
    })
    .unwrap();
    let code = c1m::cmd::ip::run(&IpArgs {
        command: IpCommand::Del {
            iface: DEV.into(),
            addrs: None,
            netns: Some(ns.0.clone()),
        },
    })
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(
        netns::run_in(&ns.0, || ip::c1m_addresses(DEV).unwrap())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn connect_source_from_uses_every_c1m_address() {
    let Some(_root) = needs_root(WHY) else {
        return;
    };
    let ns = namespace_with_iface("srcfrom");
    netns::run_in(&ns.0, || {
        let ips = ip::parse_distinct("198.18.200.8/30").unwrap();
        ip::add(DEV, &ips, None).unwrap();
    })
    .unwrap();
    let json = report_path("ip-source-from");
    // c1m serve and c1m connect, both inside the namespace.
    let mut serve = ns
        .c1m(&[
            "serve",
            "--listen",
            "198.18.200.1:8930",
            "--max-conns",
            "1000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Ready when its listener is there (polled, not slept on).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !listening_in(&ns.0, 8930) {
        assert!(
            std::time::Instant::now() < deadline,
            "c1m serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = ns
        .c1m(&["connect", "198.18.200.1:8930", "--source-from", DEV])
        .args(["-n", "30", "--hold", "0s", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = Command::new("kill")
        .args(["-INT", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = read_json(&json);
    assert_eq!(r["held"]["at_end"], 30);
    let mut sources: Vec<String> = r["plan"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    sources.sort();
    assert_eq!(sources, ["198.18.200.10", "198.18.200.9"]);

    // An interface without c1m's addresses is refused with the fix.
    let out = ns
        .c1m(&["connect", "198.18.200.1:8930", "--source-from", "lo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("c1m ip add lo"));
}

/// Whether something listens on TCP `port` inside network namespace `ns`.
fn listening_in(ns: &str, port: u16) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-Hltn"])
        .arg(format!("sport = :{port}"))
        .output()
        .is_ok_and(|o| !o.stdout.is_empty())
}
