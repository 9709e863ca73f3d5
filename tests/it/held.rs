//! Issue 9, "held means held": nothing is counted as held that the server
//! closed, never accepted, or never created.
//!
//! Each test starts a server as its own process (a misbehaving test server
//! from `crate::util::testserver`, or `c1m serve`), runs `c1m connect` against it,
//! and checks report v3 (`c1m.report/3`) against the kernel's own table
//! read by `crate::util::truth` while c1m holds: the server process's sockets by
//! inode, the client sockets by state, the listener's accept queue. Never
//! against c1m's own counters. The first tests check the truth itself.
//!
//! Addresses: 127.0.9.10-15 and 127.0.9.92; ports 18102 and 18110-18125.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::util::outcome::{Outcome, connect_and_look, connect_and_see};
use crate::util::root::ensure_sysctl;
use crate::util::testserver::{Mode, TestServer};
use crate::util::truth::{self, TcpState};
use crate::util::*;

const SETTLE: Duration = Duration::from_secs(10);

fn connect_all(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect()
}

// ---------------------------------------------------------------------
// The truth, checked against sockets the test opens itself.

#[test]
fn truth_parses_the_kernels_rows() {
    // Captured on Linux 6.18: a listener on 127.0.9.10:18199 with one
    // connection still in its accept queue (inode 0: no file yet).
    let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0A09007F:4717 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 3379104 2 00000000ddc25479 100 0 0 10 0
   2: 0100007F:B426 0A09007F:4717 01 00000000:00000000 00:00000000 00000000     0        0 3379105 2 000000006f57c5fc 20 0 0 10 -1
   3: 0A09007F:4717 0100007F:B426 01 00000000:00000000 00:00000000 00000000     0        0 0 1 000000002599c249 20 0 0 10 -1
";
    let rows = truth::parse_table(v4).unwrap();
    assert_eq!(rows.len(), 3);
    let l = &rows[0];
    assert_eq!(l.local, "127.0.9.10:18199".parse().unwrap());
    assert_eq!(l.state, TcpState::Listen);
    assert_eq!((l.rx_queue, l.inode), (1, 3379104));
    assert_eq!(rows[1].local, "127.0.0.1:46118".parse().unwrap());
    assert_eq!(rows[1].remote, l.local);
    assert_eq!(rows[1].state, TcpState::Established);
    assert_eq!((rows[2].remote, rows[2].inode), (rows[1].local, 0));

    // ::1 port 18198, an accepted connection with 5 bytes unread.
    let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 00000000000000000000000001000000:4716 00000000000000000000000001000000:D516 01 00000000:00000005 00:00000000 00000000     0        0 3379108 1 0000000046c9edb8 20 4 30 10 -1
";
    let rows = truth::parse_table(v6).unwrap();
    assert_eq!(rows[0].local, "[::1]:18198".parse().unwrap());
    assert_eq!(rows[0].remote, "[::1]:54550".parse().unwrap());
    assert_eq!((rows[0].rx_queue, rows[0].inode), (5, 3379108));

    assert!(truth::parse_table("header\n   0: 0A09007F 00000000:0000 0A\n").is_err());
    assert!(
        truth::parse_table("header\n   0: 0A09007F:4717 00000000:0000 0F 0:0 0 0 0 0 1\n").is_err()
    );
}

#[test]
fn truth_counts_what_a_server_process_holds_and_what_it_closed() {
    let srv = TestServer::start(Mode::Cap { n: 5, line: vec![] }, "127.0.9.10:18110", 16);
    let (a, pid) = (srv.addr, [srv.pid()]);
    assert!(truth::process_tree(std::process::id()).contains(&srv.pid()));
    let held = connect_all(a, 5);
    let server = truth::poll_until(5, SETTLE, || truth::server_established(&pid, a));
    assert_eq!(server, 5, "the server process's own ESTABLISHED sockets");
    assert!(truth::socket_inodes(srv.pid()).len() >= 6, "listener + 5");
    assert_eq!(truth::client_states(a).get(TcpState::Established), 5);
    assert_eq!(truth::established_on(a), 5);
    assert_eq!(truth::listen_queue(a), Some(0));
    assert_eq!(truth::phantoms(a), 0);
    // The same rows, but not this process's sockets: the inode filter.
    assert_eq!(truth::server_established(&[std::process::id()], a), 0);

    // Past its cap it closes: our ends wait in CLOSE_WAIT until closed.
    let over = connect_all(a, 2);
    let cw = truth::poll_until(2, SETTLE, || {
        truth::client_states(a).get(TcpState::CloseWait)
    });
    assert_eq!(cw, 2, "{:?}", truth::client_states(a));
    assert_eq!(truth::client_states(a).get(TcpState::Established), 5);
    assert_eq!(truth::server_established(&pid, a), 5);

    drop(over);
    drop(held);
    let server = truth::poll_until(0, SETTLE, || truth::server_established(&pid, a));
    assert_eq!(server, 0, "our closes reached the server");
}

#[test]
fn truth_sees_connections_waiting_in_an_accept_queue() {
    // backlog 4: the queue holds 5 (the kernel's test is `> backlog`).
    let srv = TestServer::start(Mode::StopAfter { k: 3 }, "127.0.9.10:18111", 4);
    let (a, pid) = (srv.addr, [srv.pid()]);
    let _accepted = connect_all(a, 3);
    let server = truth::poll_until(3, SETTLE, || truth::server_established(&pid, a));
    assert_eq!(server, 3);
    let _waiting = connect_all(a, 5);
    assert_eq!(truth::listen_queue(a), Some(5));
    assert_eq!(
        truth::server_established(&pid, a),
        3,
        "queued: no file yet\n{}",
        truth::describe(a, &pid)
    );
    assert_eq!(truth::established_on(a), 8, "the kernel holds all 8");
    assert_eq!(truth::client_states(a).get(TcpState::Established), 8);
    assert_eq!(truth::phantoms(a), 0);
    // Queue full: the SYN is dropped, the connect times out.
    assert!(TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_err());
}

#[test]
fn truth_sees_a_server_that_closes_everything() {
    let srv = TestServer::start(Mode::AcceptClose, "127.0.9.10:18112", 16);
    let a = srv.addr;
    let _conns = connect_all(a, 5);
    let cw = truth::poll_until(5, SETTLE, || {
        truth::client_states(a).get(TcpState::CloseWait)
    });
    assert_eq!(cw, 5, "{:?}", truth::client_states(a));
    assert_eq!(truth::client_states(a).get(TcpState::Established), 0);
    assert_eq!(truth::server_established(&[srv.pid()], a), 0);
}

/// The kernel's table is printed a page at a time, and sockets opened and
/// closed meanwhile repeat or skip rows (measured here: 28 of 43 reads of
/// a 15,000-row table under churn repeated rows, up to 1,416 in one). The
/// counts on a quiet address must stay exact all the same: without
/// `truth`'s de-duplication and settling, this test read 6 and 7 server
/// sockets where there were 5.
#[test]
fn truth_is_exact_while_other_sockets_come_and_go() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let _g = heavy();
    let quiet = TestServer::start(Mode::Cap { n: 5, line: vec![] }, "127.0.9.10:18113", 16);
    let (a, pid) = (quiet.addr, [quiet.pid()]);
    let _held = connect_all(a, 5);
    assert_eq!(
        truth::poll_until(5, SETTLE, || truth::server_established(&pid, a)),
        5
    );
    // Churn: both ends of up to 3,000 connections, closed 1,000 at a time.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // A deep accept queue: std's bind() listens with a backlog of 128,
    // which the connects overflowed in bursts, each dropped SYN stalling
    // its connect a second (~260 connections a second, 12 s for 3,000).
    let listener = std::net::TcpListener::from(
        c1m_sys::socket::listen("127.0.9.10:18114".parse().unwrap(), 4096, false).unwrap(),
    );
    let to = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server_stop = std::sync::Arc::new(AtomicBool::new(false));
    let server = {
        let stop = server_stop.clone();
        std::thread::spawn(move || {
            let mut live = Vec::new();
            while !stop.load(Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => live.push(s),
                    Err(_) => std::thread::yield_now(),
                }
                if live.len() > 3000 {
                    live.drain(..1000);
                }
            }
        })
    };
    let churned = std::sync::Arc::new(AtomicU64::new(0));
    let churn = {
        let (stop, n) = (stop.clone(), churned.clone());
        std::thread::spawn(move || {
            let mut live = Vec::new();
            while !stop.load(Relaxed) {
                if let Ok(s) = TcpStream::connect(to) {
                    live.push(s);
                    n.fetch_add(1, Relaxed);
                }
                if live.len() > 3000 {
                    live.drain(..1000);
                }
            }
        })
    };
    // At least 10 readings, over at least 3,000 connections churned.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut readings = Vec::new();
    while readings.len() < 10
        || (churned.load(Relaxed) < 3_000 && std::time::Instant::now() < deadline)
    {
        readings.push((
            truth::server_established(&pid, a),
            truth::client_states(a).get(TcpState::Established),
            truth::established_on(a),
            truth::listen_queue(a),
        ));
    }
    stop.store(true, Relaxed);
    // The client first, so that no connect waits on a server gone.
    churn.join().unwrap();
    server_stop.store(true, Relaxed);
    server.join().unwrap();
    let churned = churned.load(Relaxed);
    assert!(churned >= 3_000, "only {churned} connections churned");
    assert!(
        readings.iter().all(|r| *r == (5, 5, 5, Some(0))),
        "{readings:?}"
    );
}

// ---------------------------------------------------------------------
// Case 1: a server that closes what it accepted.

#[test]
fn a_server_that_accepts_and_closes_holds_nothing() {
    let _g = heavy();
    let srv = TestServer::start(Mode::AcceptClose, "127.0.9.11:18121", 128);
    let a = srv.addr.to_string();
    for n in [1u64, 50] {
        let (o, seen) = connect_and_look(
            &format!("accept-close-{n}"),
            &[&a, "-n", &n.to_string(), "--hold", "2s"],
            srv.addr,
            &[srv.pid()],
        );
        let ctx = || format!("-n {n}{}", o.context());
        // The truth: nothing is held on either side.
        if let Some(s) = &seen {
            assert_eq!(s.server, 0, "{}", ctx());
            assert_eq!(s.client.get(TcpState::Established), 0, "{}", ctx());
        }
        o.assert_exit(1);
        assert_eq!(o.u64("target"), n, "{}", ctx());
        assert_eq!(o.u64("held.at_end"), 0, "{}", ctx());
        let closes = o.u64("closes.fin") + o.u64("closes.rst") + o.u64("closes.fin_with_data");
        assert_eq!(closes, n, "every connection closed by the server{}", ctx());
        assert!(
            o.u64("closes.fin") + o.u64("closes.rst") >= 1,
            "closed without data{}",
            ctx()
        );
        assert_eq!(o.u64("closes.fin_with_data"), 0, "{}", ctx());
    }
}

const REDIS_FULL: &str = "-ERR max number of clients reached";

#[test]
fn a_capped_server_with_an_error_line_is_held_at_its_cap() {
    let _g = heavy();
    let line = format!("{REDIS_FULL}\r\n").into_bytes();
    let srv = TestServer::start(Mode::Cap { n: 200, line }, "127.0.9.12:18122", 512);
    let (o, s) = connect_and_see(
        "cap-200",
        &[&srv.addr.to_string(), "-n", "400", "--hold", "2s"],
        srv.addr,
        &[srv.pid()],
    );
    let ctx = || o.context();
    // The truth: the server holds its 200, and so do the clients.
    assert_eq!(s.server, 200, "{}", ctx());
    assert_eq!(s.client.get(TcpState::Established), 200, "{}", ctx());
    o.assert_exit(1);
    assert_eq!(o.u64("held.at_end"), s.server, "{}", ctx());
    assert_eq!(o.u64("closes.fin_with_data"), 200, "{}", ctx());
    assert!(
        o.str("closes.first_bytes").contains(REDIS_FULL),
        "{}",
        ctx()
    );
    assert!(
        o.stdout.contains(REDIS_FULL),
        "the summary names it{}",
        ctx()
    );
    // c1m closed its end of each connection the server closed: none is
    // left in CLOSE_WAIT during the hold.
    assert_eq!(s.client.get(TcpState::CloseWait), 0, "{}", ctx());
}

// ---------------------------------------------------------------------
// Case 2: a server that does not accept.

#[test]
fn a_server_that_never_accepts_holds_nothing_and_they_wait_in_its_queue() {
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.92:18102".parse().unwrap();
    let serve = start_serve(&["--listen", "127.0.9.92:18102", "--no-accept"]);
    let tree = truth::process_tree(serve.pid());
    // Never accepting, it needs one worker and one listener: --backlog
    // is then the whole queue (not one of several SO_REUSEPORT queues).
    assert_eq!(tree.len(), 2, "c1m serve and its one worker: {tree:?}");
    let listeners = truth::tcp_table()
        .iter()
        .filter(|r| r.state == truth::TcpState::Listen && r.local == addr)
        .count();
    assert_eq!(listeners, 1, "LISTEN sockets on {addr}");

    // The command, with a hold so that the kernel can be read
    // while c1m still has its connections.
    let (o, s) = connect_and_see(
        "no-accept",
        &[
            "127.0.9.92:18102",
            "-n",
            "10",
            "--find-limit",
            "--hold",
            "2s",
        ],
        addr,
        &tree,
    );
    let ctx = || o.context();
    // Nothing accepts: all 10 wait in the queue, the kernel's, not the
    // application's.
    let waiting = s.waiting.unwrap();
    assert_eq!((waiting, s.server, s.on_server), (10, 0, 10), "{}", ctx());

    // Exactly: the truth is 0.
    o.assert_found(s.server, "not-accepting");
    assert_eq!(o.str("server_side.seen"), "local", "{}", ctx());
    assert_eq!(o.u64("server_side.waiting"), waiting, "{}", ctx());
    assert_eq!(o.u64("server_side.accepted"), s.server, "{}", ctx());
    assert_eq!(o.u64("server_side.established"), s.on_server, "{}", ctx());

    // The server's own report read its kernel while they waited (its
    // top), not only at its end, when the client had gone.
    let (_, out, _) = serve.interrupt(Duration::from_secs(30));
    let top = out
        .lines()
        .find(|l| l.trim_start().starts_with("kernel count at the top"))
        .unwrap_or_else(|| panic!("no top row:\n{out}"));
    assert!(
        top.contains(&format!(
            "everyone's on the targets: {} server-side",
            s.on_server
        )),
        "{top}"
    );
}

#[test]
fn a_server_that_stops_accepting_after_100_breaks_at_100() {
    let _g = heavy();
    // Backlog 32: 33 more wait in the queue, then SYNs are dropped.
    let srv = TestServer::start(Mode::StopAfter { k: 100 }, "127.0.9.13:18123", 32);
    let (o, s) = connect_and_see(
        "stop-after-100",
        &[
            &srv.addr.to_string(),
            "-n",
            "400",
            "--find-limit",
            "--connect-timeout",
            "2s",
            "--hold",
            "2s",
        ],
        srv.addr,
        &[srv.pid()],
    );
    let ctx = || o.context();
    let waiting = s.waiting.unwrap();
    assert_eq!((s.server, waiting), (100, 33), "{}", ctx());
    o.assert_found(s.server, "not-accepting");
    assert_eq!(o.u64("server_side.waiting"), waiting, "{}", ctx());
    assert_eq!(o.u64("server_side.accepted"), s.server, "{}", ctx());
}

// ---------------------------------------------------------------------
// Case 3: connections that exist only on the client (SYN cookies).

/// What the kernel does here (net/ipv4/tcp_input.c, tcp_ipv4.c,
/// syncookies.c): `c1m serve --backlog 1 --max-conns 100` runs one worker,
/// so one listener whose accept queue holds 2. A burst of 100 SYNs is
/// processed ahead of the handshakes' last ACKs; once the SYN queue is
/// "full" for a backlog of 1, `tcp_conn_request` answers with a SYN cookie
/// (TCPReqQFullDoCookies, SyncookiesSent) and keeps no state, because the
/// accept queue is not full *yet*. The cookie ACKs then pass
/// `cookie_v4_check` (SyncookiesRecv) but `tcp_v4_syn_recv_sock` finds the
/// accept queue full (`sk_acceptq_is_full`) and drops them
/// (ListenOverflows, ListenDrops). The client got its SYN-ACK and sent its
/// ACK: it is ESTABLISHED, idle, and the server has nothing, not even a
/// request socket to retransmit from. Measured here (Linux 6.18, 2 cores):
/// 88-96 of 100 connections every run, SyncookiesSent = the phantoms,
/// ListenOverflows about twice that. The count is stable during the hold.
#[test]
fn connections_only_the_client_has_are_phantoms_as_the_kernel_counts_them() {
    let Some(_cookies) = ensure_sysctl("/proc/sys/net/ipv4/tcp_syncookies", "1") else {
        return;
    };
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.14:18124".parse().unwrap();
    let serve = start_serve(&[
        "--listen",
        "127.0.9.14:18124",
        "--backlog",
        "1",
        "--max-conns",
        "100",
    ]);
    let cookies_before = truth::netstat("TcpExt", "SyncookiesSent");
    let (mut c, json) = spawn_with_report(
        "phantoms",
        &["connect", "127.0.9.14:18124", "-n", "100", "--hold", "6s"],
    );
    // One reading per progress line of the hold (the last one left out:
    // the hold may end while it is taken).
    let mut diffs = Vec::new();
    while c
        .wait_line_or_exit(" hold ", Duration::from_secs(60))
        .is_some()
    {
        diffs.push(truth::phantoms(addr));
    }
    diffs.pop();
    let mut o = Outcome::of_finished(c.finish(Duration::from_secs(60)), &json);
    let cookies = truth::netstat("TcpExt", "SyncookiesSent") - cookies_before;
    let _ = serve.interrupt(Duration::from_secs(30));
    o.note_truth(format_args!(
        "client-minus-server ESTABLISHED during the hold {diffs:?}, SyncookiesSent +{cookies}"
    ));
    let ctx = || o.context();

    let truth = *diffs
        .first()
        .unwrap_or_else(|| panic!("c1m never held long enough to look{}", ctx()));
    // Cookie phantoms leave the server no state to retransmit from: the
    // difference holds still, so it is the same whenever c1m took it.
    assert!(
        diffs.iter().all(|&d| d == truth),
        "the kernel's difference moved during the hold{}",
        ctx()
    );
    let truth =
        u64::try_from(truth).unwrap_or_else(|_| panic!("more servers than clients{}", ctx()));
    if truth == 0 {
        eprintln!("note: the kernel made no phantom this run; checking the count is 0");
    }
    assert_eq!(o.u64("phantoms.count"), truth, "{}", ctx());
    o.assert_exit(if truth > 0 { 1 } else { 0 });
    let sent = o.u64("listen_counters.syncookies_sent");
    assert!(sent <= cookies, "c1m's delta within the test's{}", ctx());
    if truth > 0 {
        assert!(sent > 0, "{}", ctx());
        assert!(o.u64("listen_counters.listen_overflows") > 0, "{}", ctx());
    }
    // The top has them too, and says what they are: the test's count,
    // the counters that moved, still there at the end (trial 5's Redis).
    let top = o
        .stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("only on the client at the top"))
        .map(str::trim);
    match truth {
        0 => assert_eq!(top, None, "{}", ctx()),
        n => {
            let top = top.unwrap_or_else(|| panic!("no top row{}", ctx()));
            assert!(
                top.starts_with(&format!(
                    "{n} ESTABLISHED on the client side had no server-side socket yet"
                )) && top.contains("ListenOverflows +")
                    && top.ends_with(&format!("{n} still client-only at the end")),
                "{top}{}",
                ctx()
            );
        }
    }
}

// ---------------------------------------------------------------------
// Case 4: a frozen server shows in the heartbeat latency.

#[test]
fn a_frozen_server_shows_in_the_round_trip_percentiles() {
    let _g = heavy();
    let serve = start_serve(&["--listen", "127.0.9.15:18125", "--max-conns", "100"]);
    let workers = children(serve.pid());
    assert_eq!(
        workers.len(),
        1,
        "one c1m worker under c1m serve: {workers:?}"
    );

    let (hold, interval) = (Duration::from_secs(4), Duration::from_millis(100));
    let (mut c, json) = spawn_with_report(
        "frozen",
        &[
            "connect",
            "127.0.9.15:18125",
            "-n",
            "1",
            "--mode",
            "heartbeat",
            "--interval",
            "100ms",
            "--hold",
            "4s",
        ],
    );
    // ~1 s into the hold, the server's worker freezes for 1 s: ten sends
    // are due meanwhile, and the first reply comes ~1 s late.
    let line = c.wait_line(" hold ", Duration::from_secs(60));
    let frozen = Stopped::stop(workers[0]);
    let since = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    drop(frozen);
    let stopped_for = since.elapsed();
    let mut o = Outcome::of_finished(c.finish(Duration::from_secs(60)), &json);
    o.note_truth(format_args!(
        "worker {} stopped (state T) for {stopped_for:?} after {line:?}",
        workers[0]
    ));
    let _ = serve.interrupt(Duration::from_secs(30));

    o.assert_exit(0);
    // From their scheduled times the sends during the freeze waited
    // ~1.0, 0.9, … 0.1 s: 8 of ~40 above 0.3 s, so p90 is ~0.5 s.
    let p90 = o.u64("latency.rtt.p90");
    assert!(p90 >= 300_000, "p90 {p90} µs{}", o.context());
    let scheduled = (hold.as_millis() / interval.as_millis()) as u64;
    let count = o.u64("latency.rtt.count");
    assert!(
        count * 10 >= scheduled * 9,
        "{count} samples of {scheduled} scheduled sends{}",
        o.context()
    );
}
