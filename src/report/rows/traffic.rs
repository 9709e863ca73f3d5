//! The summary's traffic rows: WebSocket upgrades, TLS handshakes, the
//! heartbeats (messages, whether the schedule was kept, round trips) and
//! the PROXY protocol headers.

use super::*;

/// WebSocket: the upgrades (how many each side, their time) and how each
/// side spoke it.
pub(super) fn ws_rows(o: &mut Rows, r: &Report) {
    let Some(w) = &r.websocket else { return };
    let done = match (w.clients.is_some(), w.servers.is_some()) {
        (true, true) => format!(
            "clients {} upgrades, servers {}",
            thousands(r.clients.ws_upgrades),
            thousands(r.servers.ws_upgrades)
        ),
        (true, false) => format!("{} upgrades", thousands(r.clients.ws_upgrades)),
        _ => format!("{} upgrades", thousands(r.servers.ws_upgrades)),
    };
    o.row("WebSocket", done);
    if let Some(c) = &w.clients {
        o.detail("clients", c);
    }
    if let Some(s) = &w.servers {
        o.detail("servers", s);
    }
    if let Some(p) = &r.latency.ws_upgrade {
        o.row("WebSocket upgrade time", percentiles(p));
    }
}

/// TLS: the handshakes (how many, resumed, their time), what they agreed
/// on, and how each side was set up.
pub(super) fn tls_rows(o: &mut Rows, r: &Report) {
    let Some(t) = &r.tls else { return };
    let side = |s: &crate::wire::Stats| {
        format!(
            "{} handshakes ({} resumed)",
            thousands(s.tls_handshakes),
            thousands(s.tls_resumed)
        )
    };
    let done = match (t.clients.is_some(), t.servers.is_some()) {
        (true, true) => format!("clients {}, servers {}", side(&r.clients), side(&r.servers)),
        (true, false) => side(&r.clients),
        _ => side(&r.servers),
    };
    let agreed = t
        .agreed
        .as_deref()
        .map_or(String::new(), |a| format!("; {a}"));
    o.row("TLS", format!("{done}{agreed}"));
    if let Some(c) = &t.clients {
        o.detail("clients", c);
    }
    if let Some(s) = &t.servers {
        o.detail("servers", s);
    }
    if let Some(p) = &r.latency.tls_handshake {
        o.row("TLS handshake time", percentiles(p));
    }
}

pub(super) fn traffic_rows(o: &mut Rows, r: &Report) {
    let Some(t) = &r.traffic else { return };
    let c = &r.clients;
    o.row(
        "heartbeat",
        format!(
            "\"{}\" every {:.3} s per connection{}",
            t.message,
            t.interval_ms as f64 / 1e3,
            t.expect
                .as_ref()
                .map_or(String::new(), |e| format!(", expecting \"{e}\""))
        ),
    );
    let hold: Vec<_> = r
        .timeline
        .iter()
        .filter(|x| x.phase == Phase::Hold)
        .collect();
    let rate = match (hold.first(), hold.last()) {
        (Some(a), Some(b)) if b.t > a.t => (b.replies - a.replies) as f64 / (b.t - a.t),
        _ => 0.0,
    };
    o.row(
        "messages",
        format!(
            "{} sent{}, {} replies{}, {} mismatched, {} late, {} lost; {:.0} replies/s during the hold",
            thousands(c.sent),
            match c.unsent {
                0 => String::new(),
                n => format!(" ({} more scheduled, not sent by the end)", thousands(n)),
            },
            thousands(c.replies),
            pct(c.replies, c.sent),
            thousands(c.mismatched),
            thousands(c.late),
            thousands(c.lost),
            rate
        ),
    );
    if let Some(words) = schedule_not_kept(r) {
        o.tone("heartbeat rate", words, Tone::Bad);
    }
    if c.mismatched > 0 {
        o.detail(
            "",
            "mismatched: replies that did not start with the expected bytes (check --expect)",
        );
    }
    if c.late > 0 {
        o.detail(
            "",
            "late: sends due while the previous reply had not come, skipped (replies that are not echoes cannot be told apart, so they are not pipelined); each is timed from its own scheduled time when that reply comes",
        );
    }
    if c.lost > 0 {
        o.detail(
            "",
            "lost: replies that never came (connection closed, send failed, or the end came first: sends not made by then included); timed until c1m gave up",
        );
    }
    if let Some(p) = &r.latency.rtt {
        o.row("round trip", percentiles(p));
        o.detail(
            "",
            "every scheduled send is one sample, timed from its schedule (coordinated-omission-correct)",
        );
    }
    if let Some(p) = &r.latency.first_byte {
        o.row("first byte", percentiles(p));
    }
}

/// A share of the sends a schedule had due that may still wait when
/// the heartbeats end on a worker that kept up (a turn of its loop);
/// more is a worker that fell behind.
pub const BEHIND_SHARE: f64 = 0.01;

/// When the client workers fell behind their heartbeat schedule (more
/// than [`BEHIND_SHARE`] of the sends it had due were never made): the
/// rate offered against the rate sent in the hold (or, with no hold,
/// over the run), and the sends never made. `None` when it was kept.
pub fn schedule_not_kept(r: &Report) -> Option<String> {
    let t = r.traffic.as_ref()?;
    let c = &r.clients;
    let due = c.sent + c.late + c.unsent;
    if c.unsent == 0 || (c.unsent as f64) <= BEHIND_SHARE * due as f64 {
        return None;
    }
    let offered = match t.offered {
        Some(v) => format!("{}/s offered", thousands(v.round() as u64)),
        None => format!(
            "one message every {} ms per connection offered",
            t.interval_ms
        ),
    };
    let in_hold = r.timeline.iter().filter(|x| x.phase == Phase::Hold).count() >= 2;
    let (rate, when) = match in_hold {
        true => (per_second(r, |x| x.phase == Phase::Hold), "during the hold"),
        false => (
            per_second(r, |x| x.phase != Phase::Teardown),
            "over the run",
        ),
    };
    Some(format!(
        "not delivered: {offered}, {}/s sent {when}: the client workers fell behind their schedule, and {} of the {} sends it had due were never made",
        thousands(rate.round() as u64),
        thousands(c.unsent),
        thousands(due)
    ))
}

/// Messages sent a second over the samples `which` keeps, first to last.
fn per_second(r: &Report, which: impl Fn(&Sample) -> bool) -> f64 {
    let kept: Vec<&Sample> = r.timeline.iter().filter(|x| which(x)).collect();
    match (kept.first(), kept.last()) {
        (Some(a), Some(b)) if b.t > a.t => b.sent.saturating_sub(a.sent) as f64 / (b.t - a.t),
        _ => 0.0,
    }
}

/// The PROXY protocol headers (`--proxy-protocol`) the clients sent and
/// c1m's servers took; those refused are with the server's closes.
pub(super) fn proxy_rows(o: &mut Rows, r: &Report) {
    let (c, s) = (&r.clients.proxy, &r.servers.proxy);
    if c.headers + c.failed.total() > 0 {
        o.row(
            "PROXY headers sent",
            format!(
                "{} ({}), each its connection's first bytes",
                thousands(c.headers),
                bytes(c.bytes as f64)
            ),
        );
        for (cause, n) in c.failed.seen() {
            o.detail(
                &format!("not written: {}", cause.name()),
                format!("{:>10}  closed by c1m; {}", thousands(n), cause.explain()),
            );
        }
    }
    if s.headers > 0 {
        o.row(
            "PROXY headers taken",
            format!(
                "{} ({}) by c1m's servers, before any line",
                thousands(s.headers),
                bytes(s.bytes as f64)
            ),
        );
    }
}
