//! `c1m lab` and `c1m ip` against what someone else did to the machine:
//! a namespace with a lab name that is not c1m's, `lab up` twice, `lab
//! down` after an `up` that failed halfway or was killed, `lab run` after
//! a namespace was deleted (or replaced) by hand, `ip del` of an address
//! another program added. Each refusal is one line naming the cause and
//! the fix (exit 2); nothing of anyone else's is touched; `lab down`
//! removes all c1m built. Checked with iproute2 (`ip netns list`, `ip -o
//! addr`, `ip -o link`) and the state file. Needs root (skipped
//! otherwise); as root, a lab already up fails it (`util::lab`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use c1m::lab::{self, STATE_FILE};

use crate::util::lab::{host_view, lab_namespaces, start};
use crate::util::root::needs_root;
use crate::util::{c1m, ip_cmd, run, text};

/// A namespace "someone else" made with iproute2, holding a link of
/// theirs; deleted when dropped.
struct Theirs(&'static str);

impl Theirs {
    fn add(name: &'static str) -> Self {
        quiet_del(name);
        ip(&["netns", "add", name]);
        ip(&[
            "-n", name, "link", "add", "theirs0", "type", "veth", "peer", "name", "theirs1",
        ]);
        Theirs(name)
    }

    /// Their namespace is there, with their link in it.
    #[track_caller]
    fn assert_intact(&self) {
        let links = ip_cmd(&["-n", self.0, "-o", "link"]);
        assert!(links.contains("theirs0@theirs1"), "{}: {links}", self.0);
    }
}

impl Drop for Theirs {
    fn drop(&mut self) {
        quiet_del(self.0);
    }
}

/// `ip netns del NAME`, whether or not it exists.
fn quiet_del(name: &str) {
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs iproute2, which must succeed.
#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
}

/// c1m's refusal: exit code 2 and one line on stderr, `c1m: …`,
/// containing each of `parts`; nothing on stdout.
#[track_caller]
fn refused(out: &Output, parts: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}{}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("c1m: "), "{err}");
    for p in parts {
        assert!(err.contains(p), "{p:?} missing: {err}");
    }
    err
}

fn state_exists() -> bool {
    Path::new(STATE_FILE).exists()
}

#[test]
fn lab_never_touches_what_it_did_not_build() {
    let Some(_lab) = start() else {
        return;
    };
    let host_before = host_view();
    // Someone's namespaces with lab names: one the lab would use, one not.
    let cli2 = Theirs::add("c1m-cli2");
    let cli7 = Theirs::add("c1m-cli7");
    let theirs = ["c1m-cli2", "c1m-cli7"];

    // 1. `up` whose namespace name is taken: refused before building.
    let out = run(&["lab", "up", "--clients", "2"]);
    refused(
        &out,
        &[
            "network namespace c1m-cli2 exists already",
            "not c1m's",
            "nothing was built or removed",
            "`ip netns del c1m-cli2`",
        ],
    );
    assert_eq!(lab_namespaces(), theirs);
    assert!(!state_exists());
    // 2. `down` after it: nothing of c1m's to remove (exit 0: teardown
    // is idempotent), theirs named and kept.
    let out = run(&["lab", "down"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    for p in [
        "nothing is up",
        "left alone: c1m-cli2, c1m-cli7",
        "not c1m's",
    ] {
        assert!(said.contains(p), "{p:?} missing: {said}");
    }
    assert_eq!(lab_namespaces(), theirs);

    // 3. `up` failing halfway (the client's bridge port name is too long
    // for the kernel): only what this `up` built is removed.
    let mut bad = lab::plan::plan(1, 2).unwrap();
    bad.clients[0].bridge_port = "c1m-v-name-too-long".into();
    let e = format!("{:#}", lab::up_layout(bad).unwrap_err());
    assert!(
        e.contains("what was built is removed") && e.contains("c1m-cli1"),
        "{e}"
    );
    assert_eq!(lab_namespaces(), theirs);
    assert!(!state_exists());
    let out = run(&["lab", "down"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing is up"));

    // 4. `up` twice: the second refused, the first lab untouched.
    let out = run(&["lab", "up", "--clients", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let state = std::fs::read(STATE_FILE).unwrap();
    let up = lab_namespaces();
    let out = run(&["lab", "up", "--clients", "1"]);
    refused(
        &out,
        &["a lab is already up", "`c1m lab down` removes it first"],
    );
    assert_eq!(std::fs::read(STATE_FILE).unwrap(), state);
    assert_eq!(lab_namespaces(), up);

    // 5. `lab run` after a namespace was deleted by hand: refused before
    // anything starts; then replaced by an empty one of the same name.
    ip(&["netns", "del", "c1m-cli1"]);
    let out = run(&["lab", "run", "-n", "10", "--hold", "0s"]);
    refused(
        &out,
        &[
            "the lab's network namespace c1m-cli1 is gone",
            "`c1m lab down`, then `c1m lab up --clients 1 --client-addrs 1`",
        ],
    );
    ip(&["netns", "add", "c1m-cli1"]);
    let out = run(&["lab", "run", "-n", "10", "--hold", "0s"]);
    refused(
        &out,
        &[
            "c1m-cli1 has no interface c1m-eth0",
            "not the one `c1m lab up` built",
        ],
    );
    ip(&["netns", "del", "c1m-cli1"]);
    // `down` cleans the rest, says what was gone and what it left alone.
    let out = run(&["lab", "down"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("removed network namespaces c1m-srv, c1m-lab (not there: c1m-cli1)")
            && said.contains(
                "left alone: c1m-cli2, c1m-cli7 (lab names, but no c1m lab recorded them"
            ),
        "{said}"
    );
    assert_eq!(lab_namespaces(), theirs);
    assert!(!state_exists());

    // 6. `up` killed halfway (SIGKILL as soon as the client host's
    // namespace appears, while its 500 addresses are being added): `down`
    // removes what it built.
    let mut up = c1m()
        .args(["lab", "up", "--clients", "1", "--client-addrs", "500"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new("/run/netns/c1m-cli1").exists() && up.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "lab up built no c1m-cli1");
        std::thread::yield_now();
    }
    let _ = up.kill();
    up.wait().unwrap();
    let out = run(&["lab", "down"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lab_namespaces(), theirs);
    assert!(!state_exists());

    // Theirs untouched throughout, and the host as it was.
    cli2.assert_intact();
    cli7.assert_intact();
    assert_eq!(host_view(), host_before, "the host's interfaces changed");
    drop((cli2, cli7));
    assert!(lab_namespaces().is_empty());
}

#[test]
fn ip_del_touches_only_c1ms_addresses() {
    let Some(_root) = needs_root("network namespaces (c1m ip)") else {
        return;
    };
    let ns = format!("c1m-test-ipdel-{}", std::process::id());
    quiet_del(&ns);
    ip(&["netns", "add", &ns]);
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            quiet_del(&self.0);
        }
    }
    let _gone = Gone(ns.clone());
    ip(&[
        "-n",
        &ns,
        "link",
        "add",
        "c1m-dum0",
        "type",
        "veth",
        "peer",
        "name",
        "c1m-dum0p",
    ]);
    // Another program's address, added with iproute2; then c1m's.
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        "198.18.200.7/24",
        "dev",
        "c1m-dum0",
    ]);
    let c1m_ip = |args: &[&str]| {
        let mut all = vec!["ip"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--netns", &ns]);
        run(&all)
    };
    let out = c1m_ip(&["add", "c1m-dum0", "198.18.200.8"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let addrs = || ip_cmd(&["-n", &ns, "-o", "-4", "addr", "show", "dev", "c1m-dum0"]);
    let before = addrs();
    assert!(
        before.contains("198.18.200.7/24") && before.contains("198.18.200.8/32"),
        "{before}"
    );

    // Theirs, alone or with one of c1m's: refused whole.
    for list in ["198.18.200.7", "198.18.200.8,198.18.200.7"] {
        let out = c1m_ip(&["del", "c1m-dum0", list]);
        refused(
            &out,
            &[
                "198.18.200.7 on c1m-dum0 was not added by c1m",
                "nothing was removed",
                "`ip addr del 198.18.200.7/24 dev c1m-dum0`",
            ],
        );
        assert_eq!(addrs(), before, "{list}");
    }
    // Adding theirs again: refused.
    let out = c1m_ip(&["add", "c1m-dum0", "198.18.200.7"]);
    refused(
        &out,
        &[
            "198.18.200.7 is already in use on c1m-dum0",
            "nothing was added",
        ],
    );
    // Everything of c1m's: theirs stays.
    let out = c1m_ip(&["del", "c1m-dum0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("removed 1 c1m address from c1m-dum0: 198.18.200.8"));
    let after = addrs();
    assert!(
        after.contains("198.18.200.7/24") && !after.contains("198.18.200.8"),
        "{after}"
    );
}
