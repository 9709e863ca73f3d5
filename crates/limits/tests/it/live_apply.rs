//! `tune --apply` then `--revert` against the real /proc: every live
//! value ends exactly as it began. Needs root (skipped otherwise,
//! `util::root`); as root, a read-only /proc/sys fails it. The drop-ins go to a copy of
//! /etc. A guard restores the snapshot on drop, so the machine is left as it
//! was even when an assertion fails.

use std::fs;
use std::path::Path;

use c1m_limits::apply;
use c1m_limits::tune::{self, Request};
use c1m_limits::{Facts, Role, Roots};

use crate::util::root::needs_root;

/// Every sysctl tune may write.
const TOUCHED: [&str; 7] = [
    "net.ipv4.ip_local_reserved_ports",
    "fs.nr_open",
    "fs.file-max",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.netfilter.nf_conntrack_max",
    "net.ipv4.ip_local_port_range",
];

/// The raw text of each touched sysctl; restored on drop.
struct Snapshot(Vec<(std::path::PathBuf, Option<String>)>);

impl Snapshot {
    fn take() -> Self {
        Snapshot(
            TOUCHED
                .iter()
                .map(|n| {
                    let p = c1m_probe::sysctl::path(Path::new("/proc"), n);
                    let v = fs::read_to_string(&p).ok();
                    (p, v)
                })
                .collect(),
        )
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        for (path, value) in self.0.iter().rev() {
            if let Some(v) = value
                && fs::read_to_string(path).ok().as_ref() != Some(v)
                && let Err(e) = fs::write(path, v)
            {
                eprintln!("RESTORE FAILED: {}: {e}", path.display());
            }
        }
    }
}

fn copy_etc(to: &Path) {
    for rel in ["security/limits.conf", "sysctl.conf", "systemd/system.conf"] {
        let from = Path::new("/etc").join(rel);
        if from.exists() {
            fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
            fs::copy(&from, to.join(rel)).unwrap();
        }
    }
    for dir in ["sysctl.d", "security/limits.d", "systemd/system.conf.d"] {
        let Ok(entries) = fs::read_dir(Path::new("/etc").join(dir)) else {
            continue;
        };
        fs::create_dir_all(to.join(dir)).unwrap();
        for e in entries.flatten() {
            if e.path().is_file() {
                fs::copy(e.path(), to.join(dir).join(e.file_name())).unwrap();
            }
        }
    }
}

#[test]
fn apply_then_revert_on_the_real_proc_restores_every_value() {
    let Some(root) = needs_root("writing /proc/sys (tune --apply)") else {
        return;
    };
    let _live = crate::util::live_proc();
    let probe = Path::new("/proc/sys/fs/nr_open");
    root.check(
        fs::read_to_string(probe).and_then(|v| fs::write(probe, v)),
        "writing /proc/sys/fs/nr_open back unchanged",
        "run where root may write /proc/sys (a VM or host, not a container with /proc/sys read-only)",
    );
    let guard = Snapshot::take();
    let before = guard.0.clone();
    let tmp = tempfile::tempdir().unwrap();
    let roots = Roots {
        proc_root: "/proc".into(),
        etc_root: tmp.path().join("etc"),
        state_dir: tmp.path().join("state"),
    };
    copy_etc(&roots.etc_root);

    // A listener on an ephemeral port: inside any range that covers today's.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listening = u64::from(listener.local_addr().unwrap().port());

    // 1,100,000 as the seeds; 1,200,000 with a port range also raises
    // file-max here, and reserves the listener's port first.
    for (conns, port_range) in [(1_100_000, None), (1_200_000, Some((1024, 65535)))] {
        let req = Request {
            conns,
            role: Role::Both,
            port_range,
            tuples: None,
        };
        let plan = tune::plan(&Facts::read(&roots), &roots.etc_root, &req);
        assert!(!plan.is_blocked(), "{:#?}", plan.refusals);
        let log = apply::apply(&plan, &roots).unwrap();
        println!("applied {conns}:\n  {}", log.join("\n  "));
        for (name, value) in plan.live_writes() {
            let now = c1m_probe::sysctl::read(Path::new("/proc"), name).unwrap();
            assert!(
                now.split_whitespace().eq(value.split_whitespace()),
                "{name}: {now} != {value}"
            );
        }
        if port_range.is_some() {
            // Read back from the kernel, not from the plan.
            let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").unwrap();
            let covered = text.trim().split(',').any(|part| {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
                (a..=b).contains(&listening)
            });
            assert!(covered, "port {listening} not reserved: {text:?}");
        }
        let log = apply::revert(&roots).unwrap();
        println!("reverted:\n  {}", log.join("\n  "));
        let after = Snapshot::take();
        for ((path, was), (_, now)) in before.iter().zip(&after.0) {
            assert_eq!(was, now, "{} not restored byte for byte", path.display());
        }
        std::mem::forget(after); // nothing to restore from a snapshot of the restored state
    }
    drop(guard);
}
