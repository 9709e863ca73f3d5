//! c1m's figures against the kernel's own files, read by the test while
//! c1m holds 100,000 connections. Needs root for `/proc/slabinfo`
//! (skipped otherwise, `util::root`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::root::needs_root;
use crate::util::*;

/// `/proc/slabinfo` active objects by cache.
fn slab_objects() -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string("/proc/slabinfo").expect("reading /proc/slabinfo");
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// VmRSS from /proc/PID/status, bytes.
fn vm_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb * 1024
}

fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(body: &str, name_and_labels: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name_and_labels} not in\n{body}"))
}

#[test]
fn figures_match_the_kernels_files() {
    let Some(root) = needs_root("reading /proc/slabinfo") else {
        return;
    };
    root.check(
        std::fs::read("/proc/slabinfo"),
        "reading /proc/slabinfo",
        "a kernel that provides it (CONFIG_SLUB_DEBUG)",
    );
    let _g = heavy();
    let before = slab_objects();
    let (mut c, json) = spawn_with_report(
        "measure",
        &[
            "run",
            "-n",
            "100000",
            "--worker-conns",
            "10000",
            "--hold",
            "6s",
            "--ports",
            "8690",
            "--metrics",
            "127.0.0.1:9470",
        ],
    );
    c.wait_line("hold", Duration::from_secs(120));
    // Ready when the exported snapshot shows the hold (polled).
    let established = "c1m_connections{role=\"server\",state=\"established\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !scrape(9470)
        .lines()
        .any(|l| l.strip_prefix(established).map(str::trim) == Some("100000"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no hold in the metrics"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = slab_objects();
    let workers = children(c.pid());
    let body = scrape(9470);
    let rss: u64 = workers.iter().map(|&p| vm_rss(p)).sum();
    let (code, out, err) = c.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
    let r = read_json(&json);

    // The kernel's count equals c1m's, both ends.
    assert_kernel_counted(&r, 100_000);

    // The TCP cache grew by one object per socket in c1m's report and in
    // the test's own reading (other caches are machine-wide and move with
    // whatever else runs; TCP objects are sockets).
    let tcp_test = during["TCP"] - before["TCP"];
    let rows = r["memory"]["slab_caches"].as_array().unwrap();
    let tcp_c1m = rows.iter().find(|c| c["name"] == "TCP").unwrap()["objects"]
        .as_i64()
        .unwrap();
    for (who, n) in [("test", tcp_test), ("c1m", tcp_c1m)] {
        assert!(
            (199_000..=201_000).contains(&n),
            "{who} saw {n} TCP objects"
        );
    }
    assert!(
        (tcp_test - tcp_c1m).abs() <= 1_000,
        "test {tcp_test} vs c1m {tcp_c1m}"
    );

    // The workers' RSS c1m exports equals VmRSS from /proc/PID/status
    // within 1%.
    let exported = metric(&body, "c1m_workers_resident_memory_bytes{role=\"server\"}")
        + metric(&body, "c1m_workers_resident_memory_bytes{role=\"client\"}");
    let diff = (exported - rss as f64).abs() / rss as f64;
    assert!(
        diff <= 0.01,
        "exported {exported} vs VmRSS {rss} ({:.2}%)",
        diff * 100.0
    );
    assert_eq!(
        metric(
            &body,
            "c1m_connections{role=\"server\",state=\"established\"}"
        ),
        100_000.0
    );
}
