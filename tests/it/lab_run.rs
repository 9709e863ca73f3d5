//! `c1m lab run`: the experiment across network namespaces, each client
//! host with its own port space, counted inside the namespaces.

use std::process::Command;

use crate::util::*;

/// Takes the lab down whatever happens.
struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&["lab", "down"]);
    }
}

fn c1m_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("c1m-"))
        .map(str::to_string)
        .collect()
}

fn lab_run(topology: &str, name: &str) -> serde_json::Value {
    let json = report_path(name);
    let out = run(&[
        "lab",
        "run",
        "-n",
        "100000",
        "--topology",
        topology,
        "--worker-conns",
        "10000",
        "--hold",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    read_json(&json)
}

#[test]
fn both_topologies_reach_their_counts_across_namespaces() {
    if rustix_euid() != 0 {
        eprintln!("skipped: c1m lab needs root (network namespaces)");
        return;
    }
    if !c1m_namespaces().is_empty() {
        eprintln!("skipped: a c1m lab is already up on this machine");
        return;
    }
    let _g = heavy();
    let _lab = Lab;
    let up = run(&["lab", "up", "--clients", "2", "--client-addrs", "4"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));

    // Many client addresses to one server port.
    let r = lab_run("many-ips", "lab-many-ips");
    assert_eq!(r["held"]["at_end"], 100_000);
    // Counted inside the namespaces: the server's ends in c1m-srv, the
    // clients' in each client host.
    assert_eq!(
        r["kernel"]["at_top"]["server_side"], 100_000,
        "{}",
        r["kernel"]
    );
    assert_eq!(r["kernel"]["at_top"]["client_side"], 100_000);
    assert_eq!(r["server_side"]["seen"], "local");
    assert_eq!(r["phantoms"]["count"], 0);
    assert_eq!(r["plan"]["sources"].as_array().unwrap().len(), 8);
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(r["end"]["kind"], "completed");

    // One address per client host to server ports 8090-8119.
    let r = lab_run("many-ports", "lab-many-ports");
    assert_eq!(r["held"]["at_end"], 100_000);
    assert_eq!(r["kernel"]["at_end"]["server_side"], 100_000);
    assert_eq!(r["plan"]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 30);

    let down = run(&["lab", "down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert!(
        c1m_namespaces().is_empty(),
        "left behind: {:?}",
        c1m_namespaces()
    );
    // Running without a lab says what to do.
    let out = run(&["lab", "run", "-n", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("c1m lab up"),
        "{}",
        text(&out.stderr)
    );
}

fn rustix_euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(u32::MAX)
}
