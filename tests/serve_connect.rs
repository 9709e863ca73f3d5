//! `c1m serve` and `c1m connect` as separate commands, as a user runs them
//! against each other (or against any server).

mod util;

use std::time::Duration;

use util::*;

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
    assert_eq!(r["reached"], 4000);
    assert_eq!(r["verified"]["Ok"]["client_side"], 4000);
    assert_eq!(
        r["verified"]["Ok"]["server_side"], 4000,
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
    let held = r["verified"]["Ok"]["client_side"].as_u64().unwrap();
    assert!(held <= 6000, "{held}");
    let resets =
        r["clients"]["peer_closed"].as_u64().unwrap() + r["clients"]["failed"][6].as_u64().unwrap();
    assert!(resets >= 2000, "{resets} resets; {}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("ECONNRESET")
            || resets == r["clients"]["peer_closed"].as_u64().unwrap()
    );

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
    assert!(r["reached"].as_u64().unwrap() >= 4000);
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
    assert_eq!(r["reached"], 0);
    assert_eq!(r["clients"]["failed"][0], 50);
}
