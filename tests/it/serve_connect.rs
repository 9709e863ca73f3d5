//! `c1m serve` and `c1m connect` as separate commands, as a user runs them
//! against each other (or against any server).

use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::*;

/// `c1m connect 127.0.0.1:8800-8801 -n N --hold 1s`, its report at
/// `report_path(name)`.
fn connect_to_serve(name: &str, n: &str) -> Outcome {
    Outcome::run(
        name,
        &["connect", "127.0.0.1:8800-8801", "-n", n, "--hold", "1s"],
    )
}

#[test]
fn connect_holds_what_serve_accepts_and_the_cap_is_clean() {
    let _g = heavy();
    let (mut serve, serve_json) = spawn_with_report(
        "serve",
        &[
            "serve",
            "--listen",
            "127.0.0.1:8800-8801",
            "--max-conns",
            "6000",
            "--worker-conns",
            "2000",
        ],
    );
    serve.wait_line("hold", Duration::from_secs(30));
    let servers = children(serve.pid());
    assert_eq!(servers.len(), 3, "6,000 at 2,000 per worker");

    // Within the cap: every connection is held, as the kernel confirms
    // (serve held the other ends).
    let o = connect_to_serve("connect-ok", "4000");
    o.assert_code(0);
    assert_kernel_counted(&o.json, 4000);
    assert_eq!(o.json["plan"]["endpoints"].as_array().unwrap().len(), 2);

    // Past the cap: the excess is refused at once with a reset, not left
    // hanging in a queue.
    let o = connect_to_serve("connect-over", "8000");
    o.assert_code(1);
    // The kernel's count: the clients' own may not yet have seen the last
    // resets when it was taken.
    let held = o.u64("kernel.at_end.client_side");
    assert_eq!(o.u64("held.at_end"), held);
    assert!(held <= 6000, "{held}");
    // Accepted, then reset: each is a close by RST, never held.
    let resets = o.u64("closes.rst");
    assert!(resets >= 2000, "{resets} resets; {}", o.stdout);
    assert_eq!(resets + held, 8000, "{}", o.stdout);
    assert!(o.stderr.contains("held"), "{}", o.stderr);

    let (code, out, err) = serve.interrupt(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
    assert!(out.contains("most held at once"), "{out}");
    let r = read_json(&serve_json);
    assert!(
        r["servers"]["rejected"].as_u64().unwrap() >= 2000,
        "{}",
        r["servers"]
    );
    assert!(r["held"]["reached"].as_u64().unwrap() >= 4000);
    // Its kernel count at the top was read while the clients held, not
    // at the end when they had gone.
    let top = &r["kernel"]["at_top"];
    assert_eq!(top["status"], "counted", "{top}");
    let own = top["server_own"].as_u64().unwrap();
    assert!(
        (4000..=6000).contains(&own) && own <= r["held"]["reached"].as_u64().unwrap(),
        "{top}"
    );
    assert_eq!(r["kernel"]["at_end"]["server_own"], 0);
    assert_all_gone(&servers, Duration::from_secs(5));
}

#[test]
fn connect_to_nothing_counts_refusals_and_explains_them() {
    let o = Outcome::run(
        "refused",
        &["connect", "127.0.0.1:8899", "-n", "50", "--hold", "0s"],
    );
    o.assert_code(1);
    let stdout = &o.stdout;
    assert!(stdout.contains("ECONNREFUSED"), "{stdout}");
    assert!(stdout.contains("check the server is up"), "{stdout}");
    assert_eq!(o.u64("held.at_end"), 0);
    assert_eq!(o.u64("clients.failed.refused"), 50);
    // c1m ran no servers: their count is null (an empty CSV field), not 0.
    let timeline = o.json["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty());
    assert!(
        timeline.iter().all(|s| s["server_established"].is_null()),
        "{}",
        o.json["timeline"]
    );
}

#[test]
fn plain_bind_caps_a_source_at_the_port_range_and_no_port_goes_past() {
    let _g = heavy();
    // A range of 4,000 ports, not the default 28,232: bind(ip, 0) near
    // the range's end searches it for a free port each time (quadratic),
    // which took two minutes over the default; the behaviour is the same.
    let Some(_range) =
        crate::util::root::ensure_sysctl("/proc/sys/net/ipv4/ip_local_port_range", "40000\t43999")
    else {
        return;
    };
    let serve = start_serve(&[
        "--listen",
        "127.0.0.1:8840-8843",
        "--max-conns",
        "40000",
        "--worker-conns",
        "19000",
    ]);
    let ports = local_port_count();
    let n = (ports + 2_000).to_string();
    // From one source, 2,000 more than the port range, in `mode`.
    let from_one_source = |mode: &'static str| {
        vec![
            "connect",
            "127.0.0.1:8840-8843",
            "--sources",
            "127.0.3.1",
            "--bind-mode",
            mode,
            "-n",
            &n,
        ]
    };

    // Refused up front, with the arithmetic and the fix…
    let out = run(&from_one_source("plain"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("plain bind(ip, 0) takes a port"), "{err}");
    assert!(err.contains("--bind-mode no-port"), "{err}");

    // …and when forced, the kernel stops it near the port range.
    let o = Outcome::run(
        "plain",
        &[&from_one_source("plain")[..], &["--force", "--hold", "0s"]].concat(),
    );
    o.assert_code(1);
    let stdout = &o.stdout;
    let rep = &o.json;
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
    let o = Outcome::run(
        "no-port",
        &[&from_one_source("no-port")[..], &["--hold", "0s"]].concat(),
    );
    o.assert_code(0);
    assert_eq!(o.u64("held.at_end"), ports + 2_000);

    let _ = serve.interrupt(Duration::from_secs(30));
}
