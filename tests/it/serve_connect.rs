//! `c1m serve` and `c1m connect` as separate commands, as a user runs them
//! against each other (or against any server).

use std::time::Duration;

use crate::util::*;

#[test]
fn connect_holds_what_serve_accepts_and_the_cap_is_clean() {
    let _g = heavy();
    let serve_json = report_path("serve");
    let mut serve = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:8800-8801",
        "--max-conns",
        "6000",
        "--worker-conns",
        "2000",
        "--json",
        serve_json.to_str().unwrap(),
    ]);
    serve.wait_line("hold", Duration::from_secs(30));
    let servers = children(serve.pid());
    assert_eq!(servers.len(), 3, "6,000 at 2,000 per worker");

    // Within the cap: every connection is held, as the kernel confirms.
    let json = report_path("connect-ok");
    let out = run(&[
        "connect",
        "127.0.0.1:8800-8801",
        "-n",
        "4000",
        "--hold",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = read_json(&json);
    assert_eq!(r["held"]["at_end"], 4000);
    assert_eq!(r["kernel"]["at_end"]["client_side"], 4000);
    assert_eq!(
        r["kernel"]["at_end"]["server_side"], 4000,
        "serve held the other ends"
    );
    assert_eq!(r["plan"]["endpoints"].as_array().unwrap().len(), 2);

    // Past the cap: the excess is refused at once with a reset, not left
    // hanging in a queue.
    let json = report_path("connect-over");
    let out = run(&[
        "connect",
        "127.0.0.1:8800-8801",
        "-n",
        "8000",
        "--hold",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "short of the target");
    let r = read_json(&json);
    // The kernel's count: the clients' own may not yet have seen the last
    // resets when it was taken.
    let held = r["kernel"]["at_end"]["client_side"].as_u64().unwrap();
    assert_eq!(r["held"]["at_end"].as_u64().unwrap(), held);
    assert!(held <= 6000, "{held}");
    // Accepted, then reset: each is a close by RST, never held.
    let resets = r["closes"]["rst"].as_u64().unwrap();
    assert!(resets >= 2000, "{resets} resets; {}", text(&out.stdout));
    assert_eq!(resets + held, 8000, "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("held"), "{}", text(&out.stderr));

    c1m_kill(serve.pid(), "INT");
    let (code, out, err) = serve.finish(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    assert!(out.contains("most held at once"), "{out}");
    let r = read_json(&serve_json);
    assert!(
        r["servers"]["rejected"].as_u64().unwrap() >= 2000,
        "{}",
        r["servers"]
    );
    assert!(r["held"]["reached"].as_u64().unwrap() >= 4000);
    assert!(all_gone(&servers, Duration::from_secs(5)));
}

#[test]
fn connect_to_nothing_counts_refusals_and_explains_them() {
    let json = report_path("refused");
    let out = run(&[
        "connect",
        "127.0.0.1:8899",
        "-n",
        "50",
        "--hold",
        "0s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ECONNREFUSED"), "{stdout}");
    assert!(stdout.contains("check the server is up"), "{stdout}");
    let r = read_json(&json);
    assert_eq!(r["held"]["at_end"], 0);
    assert_eq!(r["clients"]["failed"]["refused"], 50);
}

#[test]
fn plain_bind_caps_a_source_at_the_port_range_and_no_port_goes_past() {
    let _g = heavy();
    let mut serve = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:8840-8843",
        "--max-conns",
        "40000",
        "--worker-conns",
        "19000",
    ]);
    serve.wait_line("hold", Duration::from_secs(30));
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let r: Vec<u64> = range
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let ports = r[1] - r[0] + 1;
    let n = (ports + 2_000).to_string();

    // Refused up front, with the arithmetic and the fix…
    let out = run(&[
        "connect",
        "127.0.0.1:8840-8843",
        "--sources",
        "127.0.3.1",
        "--bind-mode",
        "plain",
        "-n",
        &n,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("plain bind(ip, 0) takes a port"), "{err}");
    assert!(err.contains("--bind-mode no-port"), "{err}");

    // …and when forced, the kernel stops it near the port range.
    let json = report_path("plain");
    let out = run(&[
        "connect",
        "127.0.0.1:8840-8843",
        "--sources",
        "127.0.3.1",
        "--bind-mode",
        "plain",
        "-n",
        &n,
        "--force",
        "--hold",
        "0s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let rep = read_json(&json);
    let reached = rep["held"]["at_end"].as_u64().unwrap();
    assert!(
        reached <= ports && reached + 100 >= ports,
        "{reached} of {ports} ports"
    );
    // bind(ip, 0) with no port left fails with EADDRINUSE (connect() would
    // say EADDRNOTAVAIL).
    let f = &rep["clients"]["failed"];
    let no_port = f["addr_not_avail"].as_u64().unwrap() + f["addr_in_use"].as_u64().unwrap();
    assert!(no_port >= 1_900, "{no_port} port failures: {stdout}");
    assert!(stdout.contains("EADDRINUSE"), "{stdout}");
    assert!(
        stdout.contains("--bind-mode no-port shares ports"),
        "{stdout}"
    );

    // The same source with IP_BIND_ADDRESS_NO_PORT goes past it.
    let json = report_path("no-port");
    let out = run(&[
        "connect",
        "127.0.0.1:8840-8843",
        "--sources",
        "127.0.3.1",
        "--bind-mode",
        "no-port",
        "-n",
        &n,
        "--hold",
        "0s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        read_json(&json)["held"]["at_end"].as_u64().unwrap(),
        ports + 2_000
    );

    c1m_kill(serve.pid(), "INT");
    let _ = serve.finish(Duration::from_secs(30));
}
