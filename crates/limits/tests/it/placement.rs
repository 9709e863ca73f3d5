//! The placement table against the running kernel and the doctor's output:
//! a sysctl the table calls per-namespace is present and writable in a
//! fresh network namespace, one it calls machine-wide is absent or
//! read-only there (read by `unshare --net` + `stat`, not by c1m); and
//! the doctor shows the place of every setting, in text and JSON.

use std::process::Command;

use c1m_limits::placement::{self, Place, Scope, TABLE};
use c1m_limits::{Facts, Role, Target, preflight, render};

use crate::util::machine;

/// `(major, minor)` of the running kernel, from uname -r.
fn kernel() -> (u32, u32) {
    let out = Command::new("uname").arg("-r").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.trim().split(['.', '-']);
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

fn at_least(version: &str) -> bool {
    let mut p = version.split('.').map(|x| x.parse::<u32>().unwrap());
    kernel() >= (p.next().unwrap(), p.next().unwrap())
}

#[test]
fn per_namespace_sysctls_are_writable_in_a_fresh_network_namespace() {
    let sysctls: Vec<&placement::Placement> = TABLE
        .iter()
        .filter(|p| p.name.starts_with("net.") && p.scope != Scope::Rlimit)
        .collect();
    // One shell in one new network namespace prints each file's mode, or
    // "absent".
    let script: String = sysctls
        .iter()
        .map(|p| {
            let path = format!("/proc/sys/{}", p.name.replace('.', "/"));
            format!("if [ -e {path} ]; then stat -c '%a' {path}; else echo absent; fi\n")
        })
        .collect();
    let out = match Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .output()
    {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "skipped: unshare --net failed (needs CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: no unshare(1): {e}");
            return;
        }
    };
    let modes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(modes.len(), sysctls.len());
    let mut checked = 0;
    for (p, mode) in sysctls.iter().zip(&modes) {
        let in_ns = mode != "absent" && u32::from_str_radix(mode, 8).unwrap() & 0o200 != 0;
        match p.scope {
            Scope::NetNamespace => {
                if p.namespaced_since_kernel.is_some_and(|k| !at_least(k)) {
                    continue;
                }
                // A conntrack or other module not loaded: nothing to read.
                if mode == "absent" && p.name.starts_with("net.netfilter.") {
                    continue;
                }
                assert!(
                    in_ns,
                    "{}: the table says per namespace, a new netns shows {mode}",
                    p.name
                );
            }
            _ => assert!(
                !in_ns,
                "{}: the table says machine-wide, but a new netns can write it (mode {mode})",
                p.name
            ),
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} sysctls checked");
}

#[test]
fn the_doctor_says_where_each_setting_is_set_in_a_pod() {
    let m = machine("this-machine");
    let v = preflight(&m.roots, &Target::new(1_000_000, Role::Both));
    let place = |name: &str| {
        v.rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
            .place
    };
    assert_eq!(place("net.ipv4.ip_local_port_range"), Some(Place::Pod));
    assert_eq!(place("net.core.somaxconn"), Some(Place::PodUnsafe));
    assert_eq!(
        place("net.ipv4.tcp_max_syn_backlog"),
        Some(Place::PodUnsafe)
    );
    assert_eq!(place("fs.file-max"), Some(Place::Node));
    assert_eq!(place("fs.nr_open"), Some(Place::Node));
    assert_eq!(place("net.ipv4.tcp_mem"), Some(Place::Node));
    assert_eq!(place("net.netfilter.nf_conntrack_max"), Some(Place::Node));
    assert_eq!(place("RLIMIT_NOFILE"), Some(Place::Runtime));
    assert_eq!(place("MemAvailable"), None);
    assert_eq!(place("fs.file-nr"), None);

    let text = render::doctor_text(&v);
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("in a Kubernetes pod"))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        section[0],
        "in a Kubernetes pod (kernel namespacing; safe sysctls of Kubernetes 1.32):"
    );
    let line = |label: &str| {
        section
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no line {label:?} in {section:#?}"))
            .to_string()
    };
    let pod = line("pod (securityContext.sysctls)");
    assert!(pod.contains("net.ipv4.ip_local_port_range"), "{pod}");
    assert!(pod.contains("net.ipv4.tcp_rmem (since 1.32)"), "{pod}");
    let unsafe_line = line("pod, once the kubelet has --allowed-unsafe-sysctls");
    assert!(unsafe_line.contains("net.core.somaxconn"), "{unsafe_line}");
    assert!(
        unsafe_line.contains("net.ipv4.tcp_tw_reuse"),
        "{unsafe_line}"
    );
    let node = line("node only");
    for name in ["fs.file-max", "fs.nr_open", "net.ipv4.tcp_max_orphans"] {
        assert!(node.contains(name), "{name} not in {node}");
    }
    assert!(line("container runtime").contains("RLIMIT_NOFILE"));
    // The verdict stays the last line.
    assert!(text.ends_with(&format!("{}\n", v.line())));

    let json: serde_json::Value =
        serde_json::from_str(&render::doctor_json(&v, &Facts::read(&m.roots))).unwrap();
    let row = |name: &str| {
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row("net.core.somaxconn")["place"], "pod_unsafe");
    assert_eq!(row("net.ipv4.ip_local_port_range")["place"], "pod");
    assert_eq!(row("fs.file-max")["place"], "node");
    assert_eq!(row("RLIMIT_NOFILE")["place"], "runtime");
    assert!(row("MemAvailable")["place"].is_null());
}
