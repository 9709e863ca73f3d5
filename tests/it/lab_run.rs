//! `c1m lab run`: the experiment across network namespaces, each client
//! host with its own port space, counted inside the namespaces. Needs
//! root (skipped otherwise); as root, a lab already up fails it
//! (`util::lab`).

use crate::util::lab::{lab_namespaces, start};
use crate::util::outcome::Outcome;
use crate::util::*;

/// `c1m lab run` of 100,000 connections in `topology`; its report, once
/// it exited 0.
fn lab_run(topology: &str, name: &str) -> serde_json::Value {
    let o = Outcome::run(
        name,
        &[
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
        ],
    );
    o.assert_code(0);
    o.json
}

#[test]
fn both_topologies_reach_their_counts_across_namespaces() {
    let Some(_lab) = start() else {
        return;
    };
    let up = run(&["lab", "up", "--clients", "2", "--client-addrs", "4"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));

    // Many client addresses to one server port.
    let r = lab_run("many-ips", "lab-many-ips");
    // Counted inside the namespaces: the server's ends in c1m-srv, the
    // clients' in each client host.
    assert_kernel_counted(&r, 100_000);
    assert_eq!(r["server_side"]["seen"], "local");
    assert_eq!(r["phantoms"]["count"], 0);
    assert_eq!(r["plan"]["sources"].as_array().unwrap().len(), 8);
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(r["end"]["kind"], "completed");

    // One address per client host to server ports 8090-8119.
    let r = lab_run("many-ports", "lab-many-ports");
    assert_kernel_counted(&r, 100_000);
    assert_eq!(r["plan"]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 30);

    let down = run(&["lab", "down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert!(
        lab_namespaces().is_empty(),
        "left behind: {:?}",
        lab_namespaces()
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

#[test]
fn lab_up_then_lab_run_work_on_their_defaults() {
    let Some(_lab) = start() else {
        return;
    };
    let up = run(&["lab", "up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    // One client host with one address: 100,000 from it need eight
    // server ports at 14,116 per (address, port) pair.
    let o = Outcome::run("lab-defaults", &["lab", "run", "--hold", "1s"]);
    o.assert_code(0);
    assert_kernel_counted(&o.json, 100_000);
    let ports: Vec<&str> = o.json["plan"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(ports.len(), 8, "{ports:?}");
    assert!(
        ports.iter().all(|e| e.starts_with("198.18.0.1:809")),
        "{ports:?}"
    );

    // What the lab cannot hold is refused with lab up's own flags.
    let out = run(&["lab", "run", "-n", "2M", "--topology", "many-ports"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("lab up --clients"), "{err}");
    assert!(!err.contains("--sources"), "{err}");
    // `spread` is run's, not the lab's.
    let out = run(&["lab", "run", "--topology", "spread"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let down = run(&["lab", "down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
}
