//! Unit tests of the summary's rows (`rows.rs`).

use super::*;
use crate::report::fixtures::fixture;
use crate::report::model::Listener;

fn find<'a>(rows: &'a [Row], key: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no {key:?} row in {rows:#?}"))
}

/// A server that never accepts: every connection ESTABLISHED on the
/// client waits in its accept queue. The row says what the verdict
/// judged, and why it is less than the client's count.
#[test]
fn held_at_the_end_is_what_the_server_application_accepted() {
    let mut r = fixture("connect-mixed");
    r.target = 50;
    r.held.at_end = 50;
    r.server_side.seen = crate::report::model::Seen::Local;
    r.server_side.established = Some(50);
    r.server_side.accepted = Some(0);
    r.server_side.waiting = Some(50);
    r.verdict = crate::report::judge::verdict(&r);
    let rows = summary(&r);
    let h = find(&rows, "held at the end");
    assert_eq!(h.tone, Tone::Bad);
    assert!(
        h.value
            .starts_with("0 (0.0%) (of 50 ESTABLISHED on the client")
            && h.value
                .ends_with("50 not accepted by the server application)"),
        "{}",
        h.value
    );
    assert!(
        find(&rows, "verdict")
            .value
            .starts_with("FAIL: held 0 of 50")
    );
    // reached (the client's count) is explained next to it.
    assert!(
        rows.iter().any(|x| x
            .value
            .starts_with("reached: the most ESTABLISHED at once on the client")),
        "{rows:#?}"
    );
}

/// A run that ramped down to 0 after the server reset 6,000 (all
/// reopened): fewer held at the end than reached is c1m's own doing, so
/// the server is not said to have closed them; one whose last stage
/// (10,000) the server left short is, beside c1m's own closes.
#[test]
fn a_ramp_down_is_not_called_the_servers_closes() {
    use crate::report::model::CountSource;
    use crate::report::staged::{StageResult, StagesReport};
    fn reached_row(rows: &[Row]) -> Option<&Row> {
        rows.iter().find(|x| x.value.starts_with("reached: "))
    }
    let mut r = fixture("run-fanout");
    let stage = |from, target| StageResult {
        duration: 5.0,
        from,
        target,
        started: Some(0.0),
        ended: Some(5.0),
        held: Some(target),
        source: Some(CountSource::Kernel),
        tolerance: 200,
        met: Some(true),
    };
    r.stages = Some(StagesReport {
        spec: "5s:20000,5s:20000,5s:0".into(),
        tolerance: 0.01,
        stages: vec![stage(0, 20_000), stage(20_000, 20_000), stage(20_000, 0)],
    });
    r.plan.conns = 20_000;
    r.target = 0;
    r.held.reached = 20_000;
    r.held.at_end = 0;
    r.clients.shed = 20_000;
    r.closes.rst = 6_000;
    r.verdict = crate::report::judge::verdict(&r);
    let rows = summary(&r);
    assert_eq!(reached_row(&rows), None, "{rows:#?}");
    // Down to 10,000, of which the server left 8,000.
    let st = r.stages.as_mut().unwrap();
    st.stages[2] = stage(20_000, 10_000);
    st.stages[2].held = Some(8_000);
    st.stages[2].met = Some(false);
    r.target = 10_000;
    r.held.at_end = 8_000;
    r.clients.shed = 10_000;
    let rows = summary(&r);
    let row = reached_row(&rows).expect("the server's part explained");
    assert!(
        row.value.contains(
            "c1m then closed 10,000 itself (its stages going down), and the server closed some"
        ),
        "{}",
        row.value
    );
}

/// Heartbeats offered faster than the client workers could send: the
/// summary says so with the rates, offered and sent, and what was never
/// sent. The fixture's run kept its schedule (4,000/s offered, 3,990/s
/// sent in the hold): no row.
#[test]
fn a_heartbeat_rate_not_delivered_is_said_with_its_figures() {
    let mut r = fixture("run-heartbeat");
    r.traffic.as_mut().unwrap().offered = Some(4000.0);
    assert_eq!(schedule_not_kept(&r), None);
    // A turn of the loop's worth still due at the end is no lag.
    r.clients.unsent = 50;
    assert_eq!(schedule_not_kept(&r), None);
    assert!(!summary(&r).iter().any(|x| x.key == "heartbeat rate"));
    // Asked for ten times what went out.
    r.traffic.as_mut().unwrap().offered = Some(40_000.0);
    r.clients.unsent = 100_000;
    let rows = summary(&r);
    let row = find(&rows, "heartbeat rate");
    assert_eq!(
        row.value,
        "not delivered: 40,000/s offered, 3,990/s sent during the hold: the client workers fell behind their schedule, and 100,000 of the 112,093 sends it had due were never made"
    );
    assert_eq!(row.tone, Tone::Bad);
}

/// Figures a busy machine disturbed are not shown as costs.
#[test]
fn disturbed_memory_figures_are_not_measurable() {
    let r = fixture("run-fanout");
    let rows = summary(&r);
    assert!(
        find(&rows, "kernel memory / socket")
            .value
            .ends_with("(slab, over 40,000 sockets)"),
        "{rows:#?}"
    );
    let mut busy = r.clone();
    let m = busy.memory.as_mut().unwrap();
    for c in m.slab_caches.iter_mut().filter(|c| c.name == "TCP") {
        c.objects *= 3;
    }
    m.clients.rss = -5_000_000;
    let rows = summary(&busy);
    let k = find(&rows, "kernel memory / socket");
    assert!(
        k.value.starts_with("not measurable in this run ("),
        "{}",
        k.value
    );
    assert_eq!(k.tone, Tone::Warn);
    assert!(
        find(&rows, "user memory / conn, clients")
            .value
            .starts_with("not measurable in this run (the workers' RSS fell by 4.8 MiB"),
        "{rows:#?}"
    );
}

/// MemAvailable that rose while 20,000 connections were opened (another
/// process freed 516 MiB meanwhile) is no negative cost per connection;
/// one that rose within its noise is too small to measure.
#[test]
fn a_mem_available_that_rose_is_not_a_cost() {
    let mut r = fixture("run-fanout");
    let m = r.memory.as_mut().unwrap();
    m.conns = 20_000;
    m.mem_available_drop = Some(-(516 << 20));
    let rows = summary(&r);
    let row = find(&rows, "MemAvailable drop / conn");
    assert_eq!(
        row.value,
        "not measurable in this run (MemAvailable rose by 516.0 MiB while 20,000 connections were opened: memory freed by other processes meanwhile)"
    );
    assert_eq!(row.tone, Tone::Warn);
    assert!(!row.value.contains("-"), "{}", row.value);
    r.memory.as_mut().unwrap().mem_available_drop = Some(-(100 << 20));
    let rows = summary(&r);
    let row = find(&rows, "MemAvailable drop / conn");
    assert!(
        row.value.starts_with("too small to measure ("),
        "{}",
        row.value
    );
    r.memory.as_mut().unwrap().mem_available_drop = Some(400 << 20);
    let rows = summary(&r);
    assert_eq!(find(&rows, "MemAvailable drop / conn").value, "20.5 KiB");
}

#[test]
fn the_verdict_row_says_why() {
    let r = fixture("connect-redis-cap");
    let rows = summary(&r);
    let v = find(&rows, "verdict");
    assert_eq!(v.tone, Tone::Bad);
    assert!(v.value.starts_with("FAIL: held "), "{}", v.value);
    assert_eq!(find(&rows, "held at the end").tone, Tone::Bad);
    let ok = summary(&fixture("run-fanout"));
    assert_eq!(find(&ok, "verdict").value, "OK");
}

/// Another process's 1,500 connections to the same c1m serve: the
/// endpoints' count has them, what c1m held does not, and the rows
/// say whose they are.
#[test]
fn other_processes_connections_are_shown_and_not_counted() {
    let r = fixture("connect-others");
    let rows = summary(&r);
    let held = find(&rows, "held at the end");
    assert!(
        held.value.starts_with("1,000 (100.0%) ESTABLISHED"),
        "{held:?}"
    );
    assert_eq!(held.tone, Tone::Good);
    for when in ["top", "end"] {
        let k = find(&rows, &format!("kernel count at the {when}"));
        assert!(
            k.value.starts_with("1,000 of c1m's own ESTABLISHED"),
            "{k:?}"
        );
        assert!(
            k.value.contains("2,500 server-side + 2,500 client-side"),
            "{k:?}"
        );
        let others = find(&rows, &format!("not c1m's at the {when}"));
        assert_eq!(
            others.value,
            "1,500 ESTABLISHED to the targets are other processes' — not counted"
        );
        assert_eq!(others.tone, Tone::Warn);
    }
    assert_eq!(find(&rows, "verdict").value, "OK");
    // Alone on its targets, a run has no such row.
    let alone = summary(&fixture("run-fanout"));
    assert!(!alone.iter().any(|r| r.key.starts_with("not c1m's")));
    let k = find(&alone, "kernel count at the end");
    assert!(
        k.value
            .starts_with("20,000 server-side + 20,000 client-side of c1m's own ESTABLISHED"),
        "{k:?}"
    );
}

#[test]
fn many_listeners_fold_into_one_row() {
    let mut r = fixture("run-fanout");
    let listener = |i: u8, queue: u32| Listener {
        addr: std::net::SocketAddr::from(([127, 0, 1, i], 8090)),
        accept_queue: queue,
        backlog: 4096,
    };
    r.server_side.listeners = (1..=100).map(|i| listener(i, 0)).collect();
    r.server_side.listeners.push(listener(7, 3));
    let rows = summary(&r);
    let n = rows.iter().filter(|r| r.key == "listener").count();
    assert_eq!(n, 1, "only the one with a queue: {rows:#?}");
    assert!(
        find(&rows, "listeners")
            .value
            .starts_with("100 addresses, 3 ")
    );
    assert!(
        find(&rows, "listener")
            .value
            .contains("(2 SO_REUSEPORT sockets)")
    );
    assert!(
        find(&rows, "listener")
            .value
            .ends_with("of backlog 4,096 each")
    );
    // One listener: its backlog, not "each".
    r.server_side.listeners = vec![listener(1, 1)];
    let rows = summary(&r);
    assert_eq!(
        find(&rows, "listener").value,
        "127.0.1.1:8090: accept queue 1 of backlog 4,096"
    );
}

#[test]
fn figures_within_their_noise_say_so() {
    assert_eq!(per_conn(8 << 20, 1024, "sockets", SLAB_NOISE), "8.0 KiB");
    let small = per_conn(-21 << 10, 900, "connections", MEM_AVAILABLE_NOISE);
    assert!(
        small.starts_with("too small to measure (-21.0 KiB over 900"),
        "{small}"
    );
    assert!(!small.contains("/ conn"));
    assert_eq!(per_conn(5, 0, "sockets", SLAB_NOISE), "n/a");
}

#[test]
fn the_servers_closes_say_which_rule_each_peer_broke() {
    let mut r = fixture("serve");
    r.servers.opened = 20;
    r.servers.closed_fin = 7;
    r.servers.closed_rst = 3;
    r.servers.sent = 3 << 20;
    r.servers.dropped = 6;
    r.servers.drops.add(Rule::Idle);
    r.servers.drops.add(Rule::Idle);
    r.servers.drops.add(Rule::Unread);
    r.servers.drops.oversized = 3;
    let rows = summary(&r);
    assert_eq!(
        find(&rows, "closed by peers").value,
        "10 (7 with a FIN, 3 reset)"
    );
    assert_eq!(find(&rows, "echoed").value, "3.0 MiB");
    assert!(find(&rows, "closed by the server").value.starts_with("6 "));
    for (flag, n) in [
        ("--max-message", 3),
        ("--idle-timeout", 2),
        ("--max-unsent", 1),
    ] {
        let row = find(&rows, flag);
        assert!(row.detail, "{row:?}");
        assert!(
            row.value.trim_start().starts_with(&format!("{n} ")),
            "{row:?}"
        );
    }
    // An older report counted drops without their rules.
    r.servers.drops = Default::default();
    let rows = summary(&r);
    assert!(rows.iter().any(|x| x.value.contains("not recorded")));
}

#[test]
fn proxy_headers_are_shown_sent_taken_and_refused() {
    let mut r = fixture("run-fanout");
    let rows = summary(&r);
    assert!(
        !rows.iter().any(|x| x.key.starts_with("PROXY")),
        "none without the flag"
    );
    r.clients.proxy.headers = 1000;
    r.clients.proxy.bytes = 46_000;
    r.clients.proxy.failed.add(crate::cause::Cause::Reset);
    r.servers.proxy.headers = 999;
    r.servers.proxy.bytes = 45_954;
    r.servers.dropped = 1;
    r.servers.drops.add(Rule::ProxyHeader);
    let rows = summary(&r);
    assert!(
        find(&rows, "PROXY headers sent")
            .value
            .starts_with("1,000 (44.9 KiB)")
    );
    let failed = find(&rows, "not written: ECONNRESET");
    assert!(failed.detail && failed.value.trim_start().starts_with("1  closed by c1m"));
    assert!(find(&rows, "PROXY headers taken").value.starts_with("999 "));
    let refused = find(&rows, "--proxy-protocol");
    assert!(refused.detail && refused.value.contains("PROXY protocol header"));
}

/// A PSS that fell (more processes sharing the workers' pages) is
/// never shown as a negative cost per connection.
#[test]
fn a_pss_that_fell_is_not_shown() {
    let mut r = fixture("run-fanout");
    let m = r.memory.as_mut().unwrap();
    m.servers.rss = 2_000_000;
    m.servers.pss = Some(-400_000);
    m.clients.rss = 2_000_000;
    m.clients.pss = Some(1_000_000);
    let rows = summary(&r);
    let servers = &find(&rows, "user memory / conn, servers").value;
    assert!(!servers.contains("PSS"), "{servers}");
    let clients = &find(&rows, "user memory / conn, clients").value;
    assert!(clients.contains(", PSS "), "{clients}");
    assert!(!rows.iter().any(|r| r.value.contains("PSS -")), "{rows:#?}");
}

/// The server went away during the ramp (trial 4, C): 4,495 were held
/// at 2.2 s, the server reset them all, and c1m's own count at the top,
/// read once the ramp ended, is 0. The row under the top's count says
/// when it was read and why it is below reached.
#[test]
fn a_top_read_after_the_server_closed_says_when_and_why() {
    use crate::report::fixtures::{counted, sample};
    let mut r = fixture("connect-mixed");
    let closed = |mut s: crate::report::model::Sample, n: u64| {
        s.closed = n;
        s
    };
    r.timeline = vec![
        sample(1.0, Phase::Ramp, 2_000),
        sample(2.2, Phase::Ramp, 4_495),
        closed(sample(3.4, Phase::Ramp, 0), 4_495),
        closed(sample(5.1, Phase::Hold, 0), 4_495),
    ];
    r.held.reached = 4_495;
    r.kernel.at_top = counted(0, 0, 0, 0);
    let rows = summary(&r);
    let i = rows
        .iter()
        .position(|x| x.key == "kernel count at the top")
        .unwrap();
    assert_eq!(
        rows[i + 1].value,
        "read when the ramp ended, 5.1 s in: the server had closed 4,495 of c1m's connections since the most were held (4,495 at 2.2 s), so the top's count is below reached"
    );
    // A top at the most held has no such line.
    r.kernel.at_top = counted(0, 4_495, 0, 4_495);
    let rows = summary(&r);
    assert!(
        !rows
            .iter()
            .any(|x| x.value.starts_with("read when the ramp"))
    );
}

/// `serve` whose hold ended mid-ramp: 11 on the client only, with no
/// SYN cookie, no drop and no accept queue full, are handshakes under
/// way, said so; no "only on the client", no backlog fix.
#[test]
fn handshakes_under_way_are_said_and_not_called_phantoms() {
    let mut r = fixture("serve");
    r.phantoms = Some(crate::report::judge::phantoms(
        11,
        Some(&Default::default()),
        false,
    ));
    let rows = summary(&r);
    assert_eq!(
        find(&rows, "handshakes under way").value,
        "11 ESTABLISHED on the client side only while the kernel was read: connections still being opened then (no SYN cookie, no listen drop, no accept queue full), not connections the server lost"
    );
    assert!(!rows.iter().any(|x| x.key == "only on the client"));
    assert!(!rows.iter().any(|x| x.value.contains("listen backlog")));
}

/// Trial 5's Redis run: at the top 10,000 ESTABLISHED on the client,
/// 9,514 on the server (its backlog 511 overflowed); by the end all on
/// the server. The top's 486 are said to be handshakes the server's
/// kernel had not completed, with the counters that moved.
#[test]
fn client_only_connections_at_the_top_are_named() {
    use crate::report::model::{KernelCount, Seen};
    let mut r = fixture("connect-others");
    let counted = |server_side, client_side| KernelCount::Counted {
        client_own: 10_000,
        client_own_close_wait: 0,
        client_own_other: 0,
        server_own: 0,
        own_took: 0.01,
        server_side,
        client_side,
        client_close_wait: 0,
        took: 0.02,
    };
    r.kernel.at_top = counted(9_514, 10_000);
    r.kernel.at_end = counted(10_000, 10_000);
    r.server_side.seen = Seen::Local;
    r.server_side.listeners = vec![Listener {
        addr: "127.0.0.1:6379".parse().unwrap(),
        accept_queue: 0,
        backlog: 511,
    }];
    r.listen_counters = Some(c1m_probe::netstat::ListenCounters {
        listen_overflows: 5_115,
        syncookies_sent: 1_692,
        ..Default::default()
    });
    let rows = summary(&r);
    let top = find(&rows, "only on the client at the top");
    assert!(
        top.value.starts_with(
            "486 ESTABLISHED on the client side had no server-side socket yet: handshakes the client had completed and the server's kernel had not (the accept queue was full"
        ) && top.value.contains("ListenOverflows +5,115")
            && top.value.contains("SyncookiesSent +1,692")
            && top.value.contains("backlog 511")
            && top.value.ends_with("by the end every one had a server-side socket"),
        "{top:?}"
    );
    // None at the end: no such row for a top without them.
    r.kernel.at_top = counted(10_000, 10_000);
    assert!(
        !summary(&r)
            .iter()
            .any(|x| x.key == "only on the client at the top")
    );
}
