use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn idle(count: u64) -> Conns {
    Conns::new(count, 100, Duration::from_secs(1), None)
}

fn heartbeat(count: u64, interval: Duration, expect: Option<&[u8]>) -> Conns {
    Conns::new(
        count,
        100,
        Duration::from_secs(1),
        Some(Heartbeats {
            interval,
            expect: expect.map(<[u8]>::to_vec),
            pipelined: false,
        }),
    )
}

/// Heartbeats whose replies are echoes of `msg`: sent on schedule.
fn echoed(count: u64, interval: Duration, msg: &[u8]) -> Conns {
    Conns::new(
        count,
        100,
        Duration::from_secs(1),
        Some(Heartbeats {
            interval,
            expect: Some(msg.to_vec()),
            pipelined: true,
        }),
    )
}

fn near(v: u64, want: u64) -> bool {
    v.abs_diff(want) * 100 <= want.max(100)
}

/// Opens `n` connections at `at` and completes their handshakes.
fn hold(c: &mut Conns, n: usize, at: Duration) {
    for _ in 0..n {
        let i = c.next_to_open().unwrap();
        c.connecting(i, at);
        assert!(c.handshake(i, at + ms(1), Handshake::Established));
    }
}

fn values(h: &hdrhistogram::Histogram<u64>) -> Vec<u64> {
    h.iter_recorded()
        .flat_map(|v| std::iter::repeat_n(v.value_iterated_to(), v.count_at_value() as usize))
        .collect()
}

#[test]
fn a_close_in_the_handshakes_own_event_is_never_held() {
    // A server that accepts and closes: the handshake's end and the FIN
    // arrive together; the glue reports both in turn.
    let mut c = idle(1);
    let i = c.next_to_open().unwrap();
    c.connecting(i, ms(0));
    assert!(c.handshake(i, ms(1), Handshake::Established));
    c.closed(i, ms(1), PeerClose::Fin);
    assert_eq!(c.stats.established, 0);
    assert_eq!(c.stats.opened, 1);
    assert_eq!(c.stats.closed_fin, 1);
    assert!(!c.is_held(i));
    assert!(c.ramp_done());
}

#[test]
fn closes_are_told_apart_by_how() {
    let mut c = idle(4);
    hold(&mut c, 3, ms(0));
    c.data(0, ms(5), b"-ERR max number of clients reached\r\n");
    c.closed(0, ms(5), PeerClose::Fin);
    c.closed(1, ms(6), PeerClose::Fin);
    c.closed(2, ms(7), PeerClose::Rst);
    // A reset reported with the handshake's end.
    let i = c.next_to_open().unwrap();
    c.connecting(i, ms(8));
    assert!(!c.handshake(i, ms(9), Handshake::Reset));
    assert_eq!(
        (
            c.stats.closed_fin_data,
            c.stats.closed_fin,
            c.stats.closed_rst
        ),
        (1, 1, 2)
    );
    assert_eq!(c.stats.peer_closed(), 4);
    assert_eq!(c.stats.established, 0);
    assert_eq!(c.stats.opened, 4);
    assert_eq!(
        c.take_first_bytes().as_deref(),
        Some(&b"-ERR max number of clients reached\r\n"[..])
    );
    assert_eq!(c.take_first_bytes(), None, "told once");
}

#[test]
fn a_greeting_on_a_connection_that_stays_is_not_a_closing_line() {
    let mut c = idle(2);
    hold(&mut c, 2, ms(0));
    c.data(0, ms(2), b"220 hello\r\n");
    c.closed(1, ms(3), PeerClose::Fin);
    assert_eq!(c.stats.closed_fin, 1);
    assert_eq!(c.take_first_bytes(), None);
    assert_eq!(c.stats.established, 1);
}

#[test]
fn first_bytes_are_bounded() {
    let mut c = idle(1);
    hold(&mut c, 1, ms(0));
    c.data(0, ms(1), &[b'x'; 4096]);
    c.closed(0, ms(2), PeerClose::Fin);
    assert_eq!(c.take_first_bytes().unwrap().len(), FIRST_BYTES);
}

#[test]
fn failures_and_timeouts() {
    let mut c = Conns::new(3, 10, ms(100), None);
    let a = c.next_to_open().unwrap();
    c.open_failed(a, Cause::AddrNotAvail);
    let b = c.next_to_open().unwrap();
    c.connecting(b, ms(0));
    let d = c.next_to_open().unwrap();
    c.connecting(d, ms(50));
    assert!(!c.handshake(b, ms(10), Handshake::Failed(Cause::Refused)));
    let mut expired = Vec::new();
    c.expire(ms(120), &mut expired);
    assert!(expired.is_empty(), "50 ms + 100 ms is not yet");
    c.expire(ms(150), &mut expired);
    assert_eq!(expired, vec![d]);
    assert_eq!(c.stats.failed.get(Cause::AddrNotAvail), 1);
    assert_eq!(c.stats.failed.get(Cause::Refused), 1);
    assert_eq!(c.stats.failed.get(Cause::Timeout), 1);
    assert_eq!(c.stats.connecting, 0);
    assert!(c.ramp_done());
    // A late handshake report for an expired connection changes nothing.
    assert!(!c.handshake(d, ms(200), Handshake::Established));
    assert_eq!(c.stats.established, 0);
}

#[test]
fn the_window_bounds_handshakes_under_way() {
    let mut c = Conns::new(10, 3, Duration::from_secs(1), None);
    assert_eq!(c.room(), 3);
    for _ in 0..3 {
        let i = c.next_to_open().unwrap();
        c.connecting(i, ms(0));
    }
    assert_eq!(c.room(), 0);
    assert!(c.handshake(0, ms(1), Handshake::Established));
    assert_eq!(c.room(), 1);
    c.pause();
    assert_eq!(c.room(), 0, "paused: nothing more to open");
    assert_eq!(c.stats.planned, 3);
}

#[test]
fn replies_are_timed_from_the_scheduled_send() {
    let mut c = heartbeat(1, ms(100), Some(b"PONG"));
    hold(&mut c, 1, ms(0));
    assert_eq!(c.due(0), Due::Send);
    c.sent(0, ms(1000), ms(1003), Sent::Whole);
    c.data(0, ms(1010), b"PO");
    c.data(0, ms(1020), b"NG");
    assert_eq!(c.stats.replies, 1);
    // To HdrHistogram's precision (two significant digits).
    assert!(c.latency.rtt.equivalent(values(&c.latency.rtt)[0], 20_000));
    assert_eq!(c.latency.rtt.len(), 1);
    assert!(
        c.latency
            .first_byte
            .equivalent(values(&c.latency.first_byte)[0], 10_000)
    );
}

#[test]
fn sends_skipped_behind_a_slow_reply_are_each_timed_when_it_comes() {
    // A server frozen for a second under a 100 ms heartbeat: the send at
    // t=1.0 s waits 1 s, nine more fall due behind it.
    let mut c = heartbeat(1, ms(100), None);
    hold(&mut c, 1, ms(0));
    assert_eq!(c.due(0), Due::Send);
    c.sent(0, ms(1000), ms(1000), Sent::Whole);
    for _ in 1..10 {
        assert_eq!(c.due(0), Due::Skipped);
    }
    c.data(0, ms(2000), b"x");
    assert_eq!(c.stats.late, 9);
    assert_eq!(c.stats.replies, 1);
    let got = values(&c.latency.rtt);
    assert_eq!(got.len(), 10, "one sample per scheduled send");
    // 1000 ms, 900 ms, ..., 100 ms, to HdrHistogram's 1% precision.
    for (v, want) in got.iter().rev().zip((1..=10).rev().map(|k| k * 100_000)) {
        assert!(v.abs_diff(want) * 100 <= want, "{v} vs {want}");
    }
    // The next send goes out and is timed on its own.
    assert_eq!(c.due(0), Due::Send);
}

#[test]
fn replies_that_never_come_are_lost_and_recorded_at_the_give_up() {
    let mut c = heartbeat(2, ms(100), None);
    hold(&mut c, 2, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    c.due(0);
    c.due(1);
    c.sent(1, ms(150), ms(150), Sent::Whole);
    c.closed(1, ms(450), PeerClose::Rst);
    c.close_all(ms(600));
    // Connection 0: the send at 100 ms and the one skipped at 200 ms;
    // connection 1: the send at 150 ms.
    assert_eq!(c.stats.lost, 3);
    assert_eq!(c.latency.rtt.len(), 3);
    assert_eq!(
        c.latency.rtt.max(),
        c.latency.rtt.highest_equivalent(500_000)
    );
    assert_eq!(c.stats.established, 0);
}

#[test]
fn a_stalled_or_broken_send_is_lost() {
    let mut c = heartbeat(2, ms(100), None);
    hold(&mut c, 2, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(130), Sent::Stalled);
    assert!(
        c.is_held(0),
        "a full send buffer does not end the connection"
    );
    c.due(1);
    c.sent(1, ms(100), ms(140), Sent::Broken);
    assert!(!c.is_held(1));
    assert_eq!(c.stats.lost, 2);
    assert_eq!(c.stats.closed_rst, 1);
    assert_eq!(c.latency.rtt.len(), 2);
}

#[test]
fn a_wrong_reply_ends_the_wait_and_is_counted() {
    let mut c = heartbeat(1, ms(100), Some(b"+PONG\r\n"));
    hold(&mut c, 1, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    c.data(0, ms(105), b"-ERR\r\n");
    assert_eq!(c.stats.mismatched, 1);
    assert_eq!(c.stats.replies, 0);
    assert_eq!(c.latency.rtt.len(), 1);
    assert_eq!(c.due(0), Due::Send);
}

#[test]
fn teardown_zeroes_the_gauges() {
    let mut c = idle(3);
    hold(&mut c, 2, ms(0));
    let i = c.next_to_open().unwrap();
    c.connecting(i, ms(5));
    c.close_all(ms(10));
    assert_eq!((c.stats.established, c.stats.connecting), (0, 0));
    assert_eq!(
        c.stats.peer_closed(),
        0,
        "our own closes are not the peer's"
    );
}

#[test]
fn sends_go_out_on_schedule_behind_outstanding_echoes() {
    // A server frozen for a second under a 100 ms heartbeat: every send
    // still goes out, and the echoes, coming back together in one read,
    // are each timed from their own send's schedule.
    let mut c = echoed(1, ms(100), b"ping\n");
    hold(&mut c, 1, ms(0));
    for k in 0..10 {
        assert_eq!(c.due(0), Due::Send, "send {k}");
        c.sent(0, ms(1000 + 100 * k), ms(1000 + 100 * k), Sent::Whole);
    }
    assert_eq!(c.stats.sent, 10);
    assert_eq!(c.stats.late, 0, "nothing skipped");
    c.data(0, ms(2000), &b"ping\n".repeat(10));
    assert_eq!(c.stats.replies, 10);
    let mut got = values(&c.latency.rtt);
    got.sort_unstable();
    // 100 ms, 200 ms, ..., 1000 ms.
    for (v, want) in got.iter().zip((1..=10).map(|k| k * 100_000)) {
        assert!(near(*v, want), "{v} vs {want}");
    }
    assert_eq!(c.awaiting(), 0);
    assert_eq!(c.due(0), Due::Send);
}

#[test]
fn echoes_split_across_reads_are_matched_in_order() {
    let mut c = echoed(1, ms(100), b"ping\n");
    hold(&mut c, 1, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    c.due(0);
    c.sent(0, ms(200), ms(200), Sent::Whole);
    c.data(0, ms(250), b"ping\npi");
    assert_eq!(c.stats.replies, 1);
    assert_eq!(c.awaiting(), 1);
    c.data(0, ms(260), b"ng\n");
    assert_eq!(c.stats.replies, 2);
    assert_eq!(c.awaiting(), 0);
    let mut got = values(&c.latency.rtt);
    got.sort_unstable();
    assert!(near(got[0], 60_000) && near(got[1], 150_000), "{got:?}");
}

#[test]
fn outstanding_echoes_are_each_lost_at_the_give_up_and_a_wrong_one_ends_all() {
    let mut c = echoed(2, ms(100), b"ping\n");
    hold(&mut c, 2, ms(0));
    for k in 0..3 {
        c.due(0);
        c.sent(0, ms(100 + 100 * k), ms(100 + 100 * k), Sent::Whole);
        c.due(1);
        c.sent(1, ms(100 + 100 * k), ms(100 + 100 * k), Sent::Whole);
    }
    // Connection 1: its first echo right, the second wrong.
    c.data(1, ms(450), b"ping\npong\n");
    assert_eq!(c.stats.replies, 1);
    assert_eq!(c.stats.mismatched, 1);
    assert!(c.is_held(1) && c.due(1) == Due::Send);
    c.close_all(ms(600));
    // Connection 0: three sends outstanding, each lost and timed to 600 ms.
    assert_eq!(c.stats.lost, 3);
    // 3 (connection 0) + 1 reply + 2 ended by the wrong one (connection 1).
    assert_eq!(c.latency.rtt.len(), 6);
}

#[test]
fn a_tls_connection_is_held_once_its_tls_handshake_is_done() {
    let mut c = Conns::new(4, 2, ms(100), None).with_tls();
    let a = c.next_to_open().unwrap();
    c.connecting(a, ms(0));
    assert!(c.handshake(a, ms(5), Handshake::Established));
    assert!(c.is_securing(a) && !c.is_held(a));
    let s = c.stats;
    assert_eq!((s.connecting, s.established, s.opened), (1, 0, 0));
    assert_eq!(c.room(), 1, "a TLS handshake stays in the window");
    c.secured(a, ms(25), true);
    assert!(c.is_held(a));
    let s = c.stats;
    assert_eq!((s.connecting, s.established, s.opened), (0, 1, 1));
    assert_eq!((s.tls_handshakes, s.tls_resumed), (1, 1));
    // Each from its own start: TCP's from connect(), TLS's from TCP's end.
    let (tcp, tls) = (values(&c.latency.connect), values(&c.latency.tls_handshake));
    assert!(tcp.len() == 1 && near(tcp[0], 5_000), "{tcp:?}");
    assert!(tls.len() == 1 && near(tls[0], 20_000), "{tls:?}");
}

#[test]
fn tls_failures_count_by_cause_and_closes_by_how() {
    let mut c = Conns::new(4, 10, ms(100), None).with_tls();
    // The certificate refused: a failure, never opened.
    let b = c.next_to_open().unwrap();
    c.connecting(b, ms(0));
    assert!(c.handshake(b, ms(1), Handshake::Established));
    c.insecure(b, Cause::TlsCertificate);
    assert_eq!(c.stats.failed.get(Cause::TlsCertificate), 1);
    assert_eq!((c.stats.opened, c.stats.connecting), (0, 0));
    // The server resets during the TLS handshake (its cap): a close of a
    // connection that existed, never held.
    let d = c.next_to_open().unwrap();
    c.connected_at_once(d, ms(0));
    assert!(c.is_securing(d));
    c.closed(d, ms(2), PeerClose::Rst);
    let s = c.stats;
    assert_eq!((s.closed_rst, s.opened, s.established), (1, 1, 0));
    // No answer to the ClientHello in time.
    let e = c.next_to_open().unwrap();
    c.connecting(e, ms(0));
    assert!(c.handshake(e, ms(10), Handshake::Established));
    let mut expired = Vec::new();
    c.expire(ms(100), &mut expired);
    assert!(
        expired.is_empty(),
        "the TLS handshake's time runs from 10 ms"
    );
    c.expire(ms(110), &mut expired);
    assert_eq!(expired, vec![e]);
    assert_eq!(c.stats.failed.get(Cause::TlsTimeout), 1);
    assert_eq!(c.stats.connecting, 0);
    // A late end of an expired handshake changes nothing.
    c.secured(e, ms(120), false);
    assert_eq!(c.stats.established, 0);
}

#[test]
fn a_websocket_is_held_once_upgraded_over_tls_or_tcp() {
    // Over TLS: TCP, then TLS, then the upgrade, all in the window.
    let mut c = Conns::new(4, 2, ms(100), None).with_tls().with_ws();
    let a = c.next_to_open().unwrap();
    c.connecting(a, ms(0));
    assert!(c.handshake(a, ms(5), Handshake::Established));
    c.secured(a, ms(25), false);
    assert!(c.is_upgrading(a) && !c.is_held(a));
    let s = c.stats;
    assert_eq!((s.connecting, s.established, s.tls_handshakes), (1, 0, 1));
    assert_eq!(c.room(), 1, "an upgrade stays in the window");
    c.upgraded(a, ms(32));
    assert!(c.is_held(a));
    let s = c.stats;
    assert_eq!(
        (s.connecting, s.established, s.opened, s.ws_upgrades),
        (0, 1, 1, 1)
    );
    // The upgrade's time runs from TLS's end.
    let up = values(&c.latency.ws_upgrade);
    assert!(up.len() == 1 && near(up[0], 7_000), "{up:?}");
    // Over plain TCP: the upgrade follows TCP's handshake.
    let mut c = Conns::new(4, 2, ms(100), None).with_ws();
    let b = c.next_to_open().unwrap();
    c.connected_at_once(b, ms(0));
    assert!(c.is_upgrading(b));
    c.upgraded(b, ms(3));
    assert!(c.is_held(b));
    assert_eq!(c.stats.established, 1);
}

#[test]
fn upgrades_refused_time_out_or_closed_are_counted_by_cause() {
    let mut c = Conns::new(4, 10, ms(100), None).with_ws();
    // Refused by status: a failure, never opened.
    let a = c.next_to_open().unwrap();
    c.connecting(a, ms(0));
    assert!(c.handshake(a, ms(1), Handshake::Established));
    c.insecure(a, Cause::WsStatus);
    assert_eq!(c.stats.failed.get(Cause::WsStatus), 1);
    assert_eq!((c.stats.opened, c.stats.connecting), (0, 0));
    // Closed by the server meanwhile: a close, never held.
    let b = c.next_to_open().unwrap();
    c.connected_at_once(b, ms(0));
    c.closed(b, ms(2), PeerClose::Fin);
    let s = c.stats;
    assert_eq!((s.closed_fin, s.opened, s.established), (1, 1, 0));
    // No answer in time.
    let d = c.next_to_open().unwrap();
    c.connecting(d, ms(0));
    assert!(c.handshake(d, ms(10), Handshake::Established));
    let mut expired = Vec::new();
    c.expire(ms(110), &mut expired);
    assert_eq!(expired, vec![d]);
    assert_eq!(c.stats.failed.get(Cause::WsTimeout), 1);
    assert_eq!(c.stats.connecting, 0);
    c.upgraded(d, ms(120));
    assert_eq!(c.stats.established, 0, "a late 101 changes nothing");
}
