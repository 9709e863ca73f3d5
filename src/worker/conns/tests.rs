use super::*;
use crate::stages::backoff::Reconnect;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn idle(count: u64) -> Conns {
    Conns::new(count, 100, Duration::from_secs(1), None)
}

fn beats(count: u64, interval: Duration, expect: Option<&[u8]>, pipelined: bool) -> Conns {
    Conns::new(
        count,
        100,
        Duration::from_secs(1),
        Some(Heartbeats {
            interval,
            expect: expect.map(<[u8]>::to_vec),
            pipelined,
        }),
    )
}

fn heartbeat(count: u64, interval: Duration, expect: Option<&[u8]>) -> Conns {
    beats(count, interval, expect, false)
}

/// Heartbeats whose replies are echoes of `msg`: sent on schedule.
fn echoed(count: u64, interval: Duration, msg: &[u8]) -> Conns {
    beats(count, interval, Some(msg), true)
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
    c.open_failed(a, ms(0), Cause::AddrNotAvail);
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
    assert_eq!(c.room(ms(0)), 3);
    for _ in 0..3 {
        let i = c.next_to_open().unwrap();
        c.connecting(i, ms(0));
    }
    assert_eq!(c.room(ms(0)), 0);
    assert!(c.handshake(0, ms(1), Handshake::Established));
    assert_eq!(c.room(ms(0)), 1);
    c.pause();
    assert_eq!(c.room(ms(0)), 0, "paused: nothing more to open");
    assert_eq!(c.stats.planned, 3);
}

/// The top's reading of a stage not met: frozen, nothing opens (nor
/// reopens: the window has no room) until the next target, which goes
/// on from where the plan is, not from what was opened.
#[test]
fn a_freeze_waits_for_the_next_target() {
    let mut c = Conns::new(10, 10, Duration::from_secs(1), None);
    c.set_target(10, Duration::ZERO, ms(0));
    for _ in 0..4 {
        let i = c.next_to_open().unwrap();
        c.connecting(i, ms(0));
    }
    c.freeze();
    assert_eq!(c.room(ms(0)), 0, "frozen: nothing more to open");
    assert_eq!(c.window_room(), 0, "nor to reopen");
    assert_eq!(c.stats.behind, 6, "the plan still wants 10");
    c.set_target(10, Duration::ZERO, ms(1));
    assert_eq!(c.room(ms(1)), 6, "the next target opens the rest");
    assert_eq!(c.stats.planned, 10);
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
fn replies_awaited_at_the_end_of_the_heartbeats_are_lost_and_timed_to_it() {
    let mut c = heartbeat(3, ms(100), None);
    hold(&mut c, 3, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    c.due(1);
    c.sent(1, ms(150), ms(150), Sent::Whole);
    // Connection 0 skips its send at 200 ms behind the one in flight.
    c.due(0);
    // The end at 900 ms: 0 owes the replies to 100 ms and 200 ms, 1 to
    // 150 ms; 2 sent nothing and owes none.
    c.give_up_awaited(ms(900));
    assert_eq!((c.stats.lost, c.stats.established), (3, 3));
    assert_eq!(c.awaiting(), 0);
    assert_eq!(
        values(&c.latency.rtt),
        vec![700_000, 750_000, 800_000]
            .into_iter()
            .map(|v| c.latency.rtt.highest_equivalent(v))
            .collect::<Vec<_>>()
    );
    // The teardown later finds nothing more to give up on.
    c.close_all(ms(5_000));
    assert_eq!(c.stats.lost, 3);
    assert_eq!(c.latency.rtt.len(), 3);
}

/// A reply given up on at the heartbeats' end that comes after, on a
/// connection the server then closes with a FIN, is neither a reply nor
/// the server's first bytes; words a server sends unasked still are.
#[test]
fn a_reply_given_up_on_is_not_the_servers_first_bytes() {
    let mut c = echoed(2, ms(100), b"hi");
    hold(&mut c, 2, ms(0));
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    c.give_up_awaited(ms(900));
    c.data(0, ms(950), b"hi");
    c.closed(0, ms(960), PeerClose::Fin);
    assert_eq!(c.stats.replies, 0);
    assert_eq!(c.take_first_bytes(), None);
    // Connection 1 owed nothing: its server's words are kept.
    c.data(1, ms(970), b"bye");
    c.closed(1, ms(980), PeerClose::Fin);
    assert_eq!(c.take_first_bytes().as_deref(), Some(&b"bye"[..]));
}

#[test]
fn sends_unsent_at_the_end_are_lost_and_timed_to_it() {
    let mut c = echoed(3, ms(100), b"hi");
    hold(&mut c, 3, ms(0));
    // Connection 1 is closed by its server: it owes nothing after.
    c.closed(1, ms(50), PeerClose::Fin);
    c.due(0);
    c.sent(0, ms(100), ms(100), Sent::Whole);
    // The end at 900 ms finds the sends at 200 ms (on 0, outstanding
    // behind one in flight), 250 ms (on 1, closed) and 300 ms (on 2)
    // not made.
    c.unsent(0, ms(200), ms(900));
    c.unsent(1, ms(250), ms(900));
    c.unsent(2, ms(300), ms(900));
    assert_eq!((c.stats.unsent, c.stats.lost, c.stats.sent), (2, 2, 1));
    assert_eq!(
        values(&c.latency.rtt),
        vec![600_000, 700_000]
            .into_iter()
            .map(|v| c.latency.rtt.highest_equivalent(v))
            .collect::<Vec<_>>()
    );
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

/// Opens what the target at `now` has room for, completing each
/// handshake at once; returns how many.
fn follow(c: &mut Conns, now: Duration) -> u64 {
    let mut n = 0;
    while c.room(now) > 0 {
        let i = c.next_to_open().unwrap();
        c.connecting(i, now);
        assert!(c.handshake(i, now, Handshake::Established));
        n += 1;
    }
    while c.surplus(now) > 0 {
        c.turn_off(now).unwrap();
    }
    n
}

#[test]
fn a_target_opens_and_closes_at_its_pace() {
    let mut c = Conns::new(100, 1000, Duration::from_secs(1), None);
    // Before any target: everything at once, as a plain ramp.
    assert_eq!(c.room(ms(0)), 100);
    c.set_target(100, ms(1000), ms(0));
    assert_eq!(
        c.room(ms(0)),
        0,
        "the first target starts from what is open"
    );
    assert_eq!(c.stats.behind, 100);
    assert_eq!(c.next_change(ms(0)), Some(ms(10)));
    assert_eq!(follow(&mut c, ms(250)), 25);
    assert_eq!(follow(&mut c, ms(1000)), 75);
    assert_eq!((c.stats.established, c.stats.behind), (100, 0));
    assert!(c.stats.target_reached());
    // Down to 40 over a second: the most recently opened go first.
    c.set_target(40, ms(1000), ms(2000));
    follow(&mut c, ms(2500));
    assert_eq!(c.stats.established, 70);
    assert!(c.is_held(69) && !c.is_held(70));
    follow(&mut c, ms(3000));
    assert_eq!((c.stats.established, c.stats.shed), (40, 60));
    assert_eq!(
        c.stats.peer_closed(),
        0,
        "our own closes are not the peer's"
    );
    // Up again: the freed slots open again, counted as attempts.
    c.set_target(100, Duration::ZERO, ms(4000));
    assert_eq!(follow(&mut c, ms(4000)), 60);
    assert_eq!((c.stats.established, c.stats.attempted), (100, 160));
    // Past its slots, a target is its slots.
    c.set_target(1000, Duration::ZERO, ms(5000));
    assert_eq!(c.room(ms(5000)), 0);
}

#[test]
fn a_stage_that_could_not_keep_up_is_not_carried_into_the_next() {
    let mut c = Conns::new(10, 1000, Duration::from_secs(1), None);
    c.set_target(10, ms(100), ms(0));
    // Nothing opened; the next line starts from 10, not from 0.
    c.set_target(4, ms(600), ms(100));
    assert_eq!(c.room(ms(100)), 10);
    assert_eq!(c.room(ms(400)), 7);
}

#[test]
fn turning_off_frees_every_kind_of_slot() {
    let mut c = heartbeat(4, ms(100), None);
    hold(&mut c, 2, ms(0));
    c.due(1);
    c.sent(1, ms(10), ms(10), Sent::Whole);
    let i = c.next_to_open().unwrap();
    c.connecting(i, ms(20));
    let j = c.next_to_open().unwrap();
    c.open_failed(j, ms(20), Cause::Refused);
    assert_eq!(c.turn_off(ms(30)), Some((3, Off::Nothing)));
    assert_eq!(c.turn_off(ms(30)), Some((2, Off::Socket)));
    assert_eq!(c.turn_off(ms(30)), Some((1, Off::Held)));
    assert_eq!(c.stats.lost, 1, "the reply awaited is lost");
    assert_eq!(c.turn_off(ms(30)), Some((0, Off::Held)));
    assert_eq!(c.turn_off(ms(30)), None);
    assert_eq!(
        (c.stats.established, c.stats.connecting, c.stats.shed),
        (0, 0, 2)
    );
}

fn reconnecting(count: u64, window: u64) -> Conns {
    Conns::new(count, window, ms(100), None).with_reconnect(
        Some(Reconnect {
            delay_ms: 100,
            max_delay_ms: 1000,
            rate: None,
        }),
        7,
    )
}

/// Sweeps the whole table at `now`: (reopened, expired).
fn sweep_all(c: &mut Conns, now: Duration, budget: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut reopen, mut expired) = (Vec::new(), Vec::new());
    for _ in 0..c.count.div_ceil(SWEEP_BATCH).max(1) {
        c.sweep(now, budget - reopen.len() as u64, &mut reopen, &mut expired);
    }
    (reopen, expired)
}

#[test]
fn lost_connections_wait_out_their_back_off_then_reopen() {
    let mut c = reconnecting(10, 100);
    hold(&mut c, 10, ms(0));
    c.closed(0, ms(1000), PeerClose::Fin);
    c.closed(1, ms(1000), PeerClose::Rst);
    c.data(2, ms(1000), b"bye");
    c.closed(2, ms(1000), PeerClose::Fin);
    assert_eq!((c.stats.established, c.stats.retrying), (7, 3));
    assert!(c.sweeping());
    // The first step is 100 ms: a reopen waits 50 to 100 ms.
    assert_eq!(sweep_all(&mut c, ms(1049), 100).0, Vec::<usize>::new());
    let (reopen, _) = sweep_all(&mut c, ms(1100), 100);
    assert_eq!(reopen, vec![0, 1, 2]);
    assert_eq!(c.stats.retrying, 0);
    let r = c.stats.reconnects;
    assert_eq!((r.fin, r.rst, r.failed), (2, 1, 0));
    // The caller opens them: the slots are held again.
    for &i in &reopen {
        c.connecting(i, ms(1100));
        assert!(c.handshake(i, ms(1101), Handshake::Established));
    }
    assert_eq!(c.stats.established, 10);
    assert_eq!(c.stats.attempted, 10, "reopens are not first attempts");
    assert!(!c.sweeping());
}

#[test]
fn each_failure_in_a_row_doubles_the_wait() {
    let mut c = reconnecting(1, 100);
    let i = c.next_to_open().unwrap();
    let mut now = ms(0);
    let mut waits = Vec::new();
    for _ in 0..6 {
        c.connecting(i, now);
        assert!(!c.handshake(i, now, Handshake::Failed(Cause::Refused)));
        // Find when it comes due, a millisecond at a time.
        let failed_at = now;
        loop {
            now += ms(1);
            if !sweep_all(&mut c, now, 1).0.is_empty() {
                break;
            }
        }
        waits.push((now - failed_at).as_millis() as u64);
    }
    // Steps 100, 200, 400, 800, 1000 (the cap), 1000: each wait in
    // [step/2, step].
    for (w, step) in waits.iter().zip([100, 200, 400, 800, 1000, 1000]) {
        assert!(*w >= step / 2 && *w <= step, "{waits:?}");
    }
    assert_eq!(c.stats.reconnects.failed, 6);
    // Established again: the next close starts from the first step.
    c.connecting(i, now);
    assert!(c.handshake(i, now, Handshake::Established));
    c.closed(i, now, PeerClose::Fin);
    let at = now;
    loop {
        now += ms(1);
        if !sweep_all(&mut c, now, 1).0.is_empty() {
            break;
        }
    }
    assert!((now - at) <= ms(100));
}

#[test]
fn reopens_respect_the_window_and_the_budget() {
    let mut c = reconnecting(10, 4);
    hold(&mut c, 10, ms(0));
    for i in 0..10 {
        c.closed(i, ms(0), PeerClose::Rst);
    }
    let (reopen, _) = sweep_all(&mut c, ms(500), 3);
    assert_eq!(reopen.len(), 3, "the budget");
    for &i in &reopen {
        c.connecting(i, ms(500));
    }
    let (more, _) = sweep_all(&mut c, ms(500), 100);
    assert_eq!(more.len(), 1, "the window: 4 in flight at most");
    assert_eq!(c.stats.retrying, 6);
}

#[test]
fn a_reopened_handshake_times_out_wherever_it_is() {
    let mut c = reconnecting(3, 100);
    hold(&mut c, 3, ms(0));
    let mut expired = Vec::new();
    c.expire(ms(0), &mut expired);
    c.closed(0, ms(0), PeerClose::Rst);
    let (reopen, _) = sweep_all(&mut c, ms(200), 10);
    assert_eq!(reopen, vec![0]);
    c.connecting(0, ms(200));
    // The oldest-first walk is past slot 0; the sweep finds it.
    c.expire(ms(400), &mut expired);
    assert!(expired.is_empty());
    let (_, expired) = sweep_all(&mut c, ms(400), 10);
    assert_eq!(expired, vec![0]);
    assert_eq!(c.stats.failed.get(Cause::Timeout), 1);
    assert_eq!((c.stats.connecting, c.stats.retrying), (0, 1));
}

#[test]
fn a_pause_stops_reopens_and_teardown_zeroes_the_waiting() {
    let mut c = reconnecting(3, 100);
    hold(&mut c, 3, ms(0));
    c.closed(0, ms(0), PeerClose::Rst);
    c.pause();
    c.closed(1, ms(0), PeerClose::Rst);
    assert_eq!(c.stats.retrying, 1, "lost after the pause: not reopened");
    assert!(sweep_all(&mut c, ms(5000), 10).0.is_empty());
    c.close_all(ms(6000));
    assert_eq!((c.stats.retrying, c.stats.established), (0, 0));
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
fn a_header_that_cannot_be_written_closes_its_connection_by_cause() {
    let mut c = idle(3);
    hold(&mut c, 3, ms(0));
    c.header_sent(46);
    c.header_sent(28);
    c.header_failed(2, ms(1), Cause::Reset);
    // Once only: the connection is no longer held.
    c.header_failed(2, ms(1), Cause::Reset);
    let s = c.stats;
    assert_eq!((s.proxy.headers, s.proxy.bytes), (2, 74));
    assert_eq!(s.proxy.failed.get(Cause::Reset), 1);
    assert_eq!(s.failed.get(Cause::Reset), 1, "a failed connection too");
    assert_eq!((s.established, s.opened), (2, 3));
    assert_eq!(s.peer_closed(), 0, "c1m closed it, not the peer");
    assert!(!c.is_held(2));
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
    assert_eq!(c.room(ms(5)), 1, "a TLS handshake stays in the window");
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
    c.insecure(b, ms(1), Cause::TlsCertificate);
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
    assert_eq!(c.room(ms(25)), 1, "an upgrade stays in the window");
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
    c.insecure(a, ms(1), Cause::WsStatus);
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
