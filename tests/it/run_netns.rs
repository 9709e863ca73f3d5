//! `c1m run` in its own network namespace (issue 10, point 7): the
//! namespace exists while the run holds, its established hash table has
//! the planned size, the connections are in it (`ss` inside), the host's
//! `tcp_child_ehash_entries` is back, `c1m stat` finds it, and no run
//! namespace is left at any end — normal, Ctrl-C, or a SIGKILLed
//! supervisor (removed by the next run).

use std::time::Duration;

use crate::util::root::needs_root;
use crate::util::*;

const CHILD_EHASH: &str = "/proc/sys/net/ipv4/tcp_child_ehash_entries";

/// The size the test expects for `sockets`: the power of two at or above
/// twice the sockets (worked out here, not by c1m's function).
fn expected_buckets(sockets: u64) -> u64 {
    let mut b = 1u64;
    while b < 2 * sockets {
        b *= 2;
    }
    b.min(1 << 24)
}

/// Root and a kernel with per-namespace tables (6.1+), or the test says
/// why it cannot run.
fn needs_own_tables(why: &str) -> bool {
    let Some(root) = needs_root(why) else {
        return false;
    };
    root.require(
        std::path::Path::new(CHILD_EHASH).exists(),
        "this kernel has no net.ipv4.tcp_child_ehash_entries",
        "Linux 6.1 or later",
    );
    true
}

fn host_child_setting() -> String {
    std::fs::read_to_string(CHILD_EHASH).unwrap()
}

/// `cat` of a sysctl file inside `netns`.
fn cat_in(netns: &str, path: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", netns, "cat", path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn a_run_holds_its_connections_in_a_namespace_sized_for_them() {
    if !needs_own_tables("creating network namespaces") {
        return;
    }
    let _g = heavy();
    let before = host_child_setting();
    let (mut c, json) = spawn_with_report(
        "netns-hold",
        &[
            "run",
            "-n",
            "20000",
            "--worker-conns",
            "5000",
            "--hold",
            "300s",
            "--ports",
            "8791",
        ],
    );
    let name = run_netns(c.pid());
    let line = c.wait_line("look inside", Duration::from_secs(60));
    assert!(
        line.contains(&format!("ip netns exec {name} ss -s")),
        "{line}"
    );
    c.wait_line("hold", Duration::from_secs(120));
    assert!(run_namespaces().contains(&name), "{:?}", run_namespaces());
    // 20,000 connections, both ends here: 40,000 sockets.
    let want = expected_buckets(40_000);
    assert_eq!(want, 131_072);
    assert_eq!(
        cat_in(&name, "/proc/sys/net/ipv4/tcp_ehash_entries"),
        want.to_string()
    );
    assert_eq!(ss_established_in(&name, ""), 40_000);
    // Not in the host's namespace.
    assert_eq!(ss_established("( sport = :8791 or dport = :8791 )"), 0);
    // The host's setting is back as it was.
    assert_eq!(host_child_setting(), before);
    // The per-namespace settings the planner read are the host's.
    for s in ["ip_local_port_range", "ip_local_reserved_ports"] {
        let host = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{s}")).unwrap();
        assert_eq!(
            cat_in(&name, &format!("/proc/sys/net/ipv4/{s}")),
            host.trim(),
            "{s}"
        );
    }
    // `c1m stat` finds the running run's namespace by itself.
    let out = run(&["stat", "--count", "1", "--json", "-4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&name), "{}", text(&out.stderr));
    let rec: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(rec["states"]["by_state"]["ESTABLISHED"], 40_000, "{rec}");
    // … and `--host-netns` does not.
    let out = run(&["stat", "--count", "1", "--json", "-4", "--host-netns"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(&name), "{}", text(&out.stderr));

    let (code, out, err) = c.interrupt(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    assert!(
        out.lines()
            .any(|l| l.contains("network namespace") && l.contains(&name)),
        "{out}"
    );
    let r = read_json(&json);
    assert_eq!(r["origin"]["run_netns"]["name"], name.as_str());
    assert_eq!(r["origin"]["run_netns"]["planned_buckets"], want);
    assert_eq!(r["origin"]["run_netns"]["buckets"], want);
    assert_eq!(r["origin"]["run_netns"]["own_table"], true);
    assert_eq!(r["held"]["at_end"], 20_000);
    assert_kernel_counted(&r, 20_000);
    assert!(!run_namespaces().contains(&name), "{:?}", run_namespaces());
}

#[test]
fn no_namespace_is_left_after_a_run_or_ctrl_c_mid_ramp() {
    if !needs_own_tables("creating network namespaces") {
        return;
    }
    let _g = heavy();
    // A normal end.
    let (c, json) = spawn_with_report(
        "netns-normal",
        &["run", "-n", "2000", "--hold", "0s", "--ports", "8792"],
    );
    let name = run_netns(c.pid());
    let (code, out, err) = c.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
    assert_eq!(
        read_json(&json)["origin"]["run_netns"]["name"],
        name.as_str()
    );
    assert!(!run_namespaces().contains(&name), "{:?}", run_namespaces());

    // Ctrl-C mid-ramp.
    let (mut c, json) = spawn_with_report(
        "netns-interrupted",
        &[
            "run",
            "-n",
            "50000",
            "--worker-conns",
            "5000",
            "--rate",
            "5000",
            "--ports",
            "8793",
        ],
    );
    let name = run_netns(c.pid());
    c.wait_line("ramp", Duration::from_secs(120));
    assert!(run_namespaces().contains(&name));
    let (code, out, err) = c.interrupt(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    let reached = read_json(&json)["held"]["reached"].as_u64().unwrap();
    assert!(reached < 50_000, "{reached}");
    assert!(!run_namespaces().contains(&name), "{:?}", run_namespaces());
}

#[test]
fn a_killed_runs_namespace_is_removed_by_the_next_run() {
    if !needs_own_tables("creating network namespaces") {
        return;
    }
    let _g = heavy();
    let mut c = spawn(&["run", "-n", "2000", "--hold", "300s", "--ports", "8794"]);
    let name = run_netns(c.pid());
    c.wait_line("hold", Duration::from_secs(120));
    let workers = children(c.pid());
    c1m_kill(c.pid(), "KILL");
    let _ = c.finish(Duration::from_secs(10));
    assert_all_gone(&workers, Duration::from_secs(10));
    // Nothing ran its Drop: the namespace is still there.
    assert!(run_namespaces().contains(&name), "{:?}", run_namespaces());
    let out = run(&["run", "-n", "100", "--hold", "0s", "--ports", "8795"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains("left by killed runs") && l.contains(&name)),
        "{err}"
    );
    assert!(!run_namespaces().contains(&name), "{:?}", run_namespaces());
}

#[test]
fn host_netns_stays_in_the_hosts_namespace() {
    let _g = heavy();
    let (c, json) = spawn_with_report(
        "netns-host",
        &[
            "run",
            "-n",
            "2000",
            "--hold",
            "300s",
            "--ports",
            "8796",
            "--host-netns",
        ],
    );
    let mut c = c;
    c.wait_line("hold", Duration::from_secs(120));
    assert!(!run_namespaces().contains(&run_netns(c.pid())));
    assert_eq!(ss_established("( sport = :8796 or dport = :8796 )"), 4_000);
    let (code, out, err) = c.interrupt(Duration::from_secs(120));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    let r = read_json(&json);
    assert!(r["origin"]["run_netns"].is_null(), "{}", r["origin"]);
    assert!(!err.iter().any(|l| l.contains("look inside")), "{err:?}");
}
