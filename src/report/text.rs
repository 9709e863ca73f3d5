//! The terminal's words: the plan line before, the progress line during,
//! and the summary after (the rows of [`super::rows`]). Pure.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cause::{Cause, CauseCounts};
use crate::plan::{BindMode, Plan, thousands};
use c1m_limits::num::plural;

use super::bytes;
use super::model::{Phase, Report, Sample};
use super::rows::{self, SLAB_NOISE};

/// The line that says what is about to happen.
pub fn plan_line(label: &str, p: &Plan, servers: usize, clients: usize) -> String {
    let mut s = format!(
        "c1m {label}: {}",
        plural(p.conns, "connection", "connections")
    );
    if !p.endpoints.is_empty() {
        let _ = write!(
            s,
            " to {}",
            plural(p.endpoints.len() as u64, "endpoint", "endpoints")
        );
    }
    if !p.sources.is_empty() {
        let _ = write!(
            s,
            " from {}",
            plural(p.sources.len() as u64, "source address", "source addresses")
        );
    }
    let procs = if servers + clients == 1 {
        "worker process"
    } else {
        "worker processes"
    };
    let _ = write!(s, "; {servers} server + {clients} client {procs}");
    let bind = match p.bind {
        BindMode::None => None,
        BindMode::NoPort => Some("IP_BIND_ADDRESS_NO_PORT"),
        BindMode::Plain => Some("plain bind(ip, 0)"),
        BindMode::Range => Some("IP_LOCAL_PORT_RANGE slices"),
    };
    if let Some(b) = bind {
        let _ = write!(s, "; sources bound with {b}");
    }
    if p.pairs > 0 {
        let _ = write!(
            s,
            "; ≤{} per (source, destination) pair",
            thousands(p.per_pair_max)
        );
    }
    s
}

/// Unix seconds as RFC 3339 in UTC, to the millisecond
/// (`2026-12-01T10:00:00Z`, `2026-12-01T10:00:00.25Z`).
pub fn utc(unix_seconds: f64) -> String {
    jiff::Timestamp::from_millisecond((unix_seconds * 1000.0).round() as i64)
        .map_or_else(|_| format!("@{unix_seconds}"), |t| t.to_string())
}

/// Connections per second over the last second of samples, or over what
/// there is of it (at least two samples, a quarter second apart), so the
/// first lines of a fast ramp do not read `0/s`. Of the side the progress
/// line counts: the clients', or the servers' when they hold more
/// (`serve`, whose clients are not c1m's).
fn rate_now(tl: &[Sample]) -> Option<f64> {
    let held = |s: &Sample| s.established.max(s.servers()) as f64;
    let last = tl.last()?;
    let prev = tl
        .iter()
        .rev()
        .find(|s| last.t - s.t >= 1.0)
        .or_else(|| tl.first().filter(|f| last.t - f.t >= 0.2))?;
    Some((held(last) - held(prev)) / (last.t - prev.t))
}

/// A rate of the progress line: `1200/s now`, or `closing 4441/s now`
/// when the count falls (never a negative rate).
fn rate_words(r: f64) -> String {
    if r < -0.5 {
        format!("closing {:.0}/s now", -r)
    } else {
        format!("{:.0}/s now", r.max(0.0))
    }
}

/// The line that ends a hold with nothing in it and nothing left to
/// open (no `--reconnect`, no stage to come): what became of the
/// connections, the commonest failure's cause and fix, and where.
pub fn nothing_left_line(failed: &CauseCounts, closed: u64, endpoints: &[SocketAddr]) -> String {
    let mut what = Vec::new();
    if let Some(&(cause, n)) = failed.seen().first() {
        let others = failed.total() - n;
        let more = if others > 0 {
            format!(" (and {} of other causes)", thousands(others))
        } else {
            String::new()
        };
        let why = match cause {
            Cause::Refused => format!(
                "nothing listens on {}; check the server is up and where it listens",
                endpoints_words(endpoints)
            ),
            c => c.explain().to_string(),
        };
        what.push(format!("{} {}{more}: {why}", thousands(n), cause.name()));
    }
    if closed > 0 {
        what.push(format!(
            "{} closed by the server (--reconnect opens them again)",
            thousands(closed)
        ));
    }
    let how = match (failed.total() > 0, closed > 0) {
        (true, false) => "every connection failed",
        (false, true) => "the server closed every connection",
        _ => "every connection failed or was closed by the server",
    };
    format!(
        "c1m: nothing held and nothing left to open: {how} ({}); the hold ends now",
        what.join("; ")
    )
}

/// Endpoints in a line: one, or the first and how many more.
fn endpoints_words(eps: &[SocketAddr]) -> String {
    match eps {
        [] => "the targets".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!(
            "{first} and {}",
            plural(rest.len() as u64, "more endpoint", "more endpoints")
        ),
    }
}

/// A phase as the progress line and the charts name it.
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Ramp => "ramp",
        Phase::Hold => "hold",
        Phase::RampDown => "ramp-down",
        Phase::Teardown => "teardown",
    }
}

/// One line of live progress; `failed` is the fleet's failures by cause
/// (the commonest is named beside the count).
pub fn progress_line(
    phase: Phase,
    p: &Plan,
    tl: &[Sample],
    ramp_start: Duration,
    failed: &CauseCounts,
) -> String {
    let name = phase_name(phase);
    let Some(last) = tl.last() else {
        return format!("{name}: starting");
    };
    let est = last.established.max(last.servers());
    let elapsed = (last.t - ramp_start.as_secs_f64()).max(0.001);
    let avg = est as f64 / elapsed;
    let now = rate_now(tl);
    let mut s = format!(
        "{name:>5} {elapsed:>6.1}s  {}/{} established  {}  {avg:.0}/s avg  {} connecting  {} failed",
        thousands(est),
        thousands(p.conns),
        now.map_or("-/s now".to_string(), rate_words),
        thousands(last.connecting),
        thousands(last.failed)
    );
    if last.failed > 0
        && let Some((cause, _)) = failed.seen().first()
    {
        let _ = write!(s, " ({})", cause.name());
    }
    if last.closed > 0 {
        let _ = write!(s, "  {} closed by the server", thousands(last.closed));
    }
    if let (Some(first), Some(slab)) = (tl.first().and_then(|f| f.slab), last.slab) {
        let d = slab as i64 - first as i64;
        if d.abs() > SLAB_NOISE {
            let sign = if d > 0 { "+" } else { "" };
            let _ = write!(s, "  slab {sign}{}", bytes(d as f64));
        }
    }
    // With stages (each sample has its target) the schedule sets when
    // each count is due: no ETA from the rate toward the largest.
    let staged = last.target.is_some();
    if let Some(now) = now.filter(|&r| phase == Phase::Ramp && r > 0.0 && est < p.conns && !staged)
    {
        let _ = write!(s, "  ETA {:.0}s", (p.conns - est) as f64 / now);
    }
    s
}

/// The summary table printed at the end of every experiment.
pub fn summary(r: &Report) -> String {
    let mut s = format!("\nc1m {} summary\n", r.label);
    for row in rows::summary(r) {
        let indent = if row.detail { "    " } else { "  " };
        let width = if row.detail { 26 } else { 28 };
        let _ = writeln!(s, "{indent}{:<width$} {}", row.key, row.value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, established: u64) -> Sample {
        crate::report::fixtures::sample(t, Phase::Ramp, established)
    }

    fn plan(conns: u64) -> Plan {
        Plan {
            conns,
            sources: vec![],
            bind: BindMode::None,
            endpoints: vec![],
            pairs: 0,
            per_pair_max: 0,
            capacity: 0,
            capacity_why: String::new(),
            clients: vec![],
            servers: vec![],
            warnings: vec![],
        }
    }

    #[test]
    fn the_progress_line_names_the_commonest_failure() {
        // Trial 5: `0/5 established … 5 failed` every second, the cause
        // only in the summary.
        let mut tl = vec![sample(0.0, 0), sample(1.0, 0)];
        tl[1].failed = 5;
        let mut failed = CauseCounts::default();
        for _ in 0..4 {
            failed.add(Cause::Refused);
        }
        failed.add(Cause::Timeout);
        let line = progress_line(Phase::Hold, &plan(5), &tl, Duration::ZERO, &failed);
        assert!(line.ends_with("5 failed (ECONNREFUSED)"), "{line}");
        tl[1].failed = 0;
        let line = progress_line(Phase::Hold, &plan(5), &tl, Duration::ZERO, &failed);
        assert!(line.ends_with("0 failed"), "{line}");
    }

    #[test]
    fn a_falling_count_reads_as_closing_never_a_negative_rate() {
        // Trial 5: `-4441/s now` when a server died.
        let tl = vec![sample(0.0, 10_000), sample(1.0, 5_559)];
        let line = progress_line(
            Phase::Hold,
            &plan(10_000),
            &tl,
            Duration::ZERO,
            &CauseCounts::default(),
        );
        assert!(line.contains("closing 4441/s now"), "{line}");
        assert!(!line.contains("-4441"), "{line}");
        let flat = vec![sample(0.0, 10), sample(1.0, 10)];
        let line = progress_line(
            Phase::Hold,
            &plan(10),
            &flat,
            Duration::ZERO,
            &CauseCounts::default(),
        );
        assert!(line.contains(" 0/s now"), "{line}");
    }

    #[test]
    fn a_hold_with_nothing_left_ends_naming_the_cause_and_the_fix() {
        let mut failed = CauseCounts::default();
        for _ in 0..5 {
            failed.add(Cause::Refused);
        }
        let ep: SocketAddr = "127.0.44.12:19495".parse().unwrap();
        assert_eq!(
            nothing_left_line(&failed, 0, &[ep]),
            "c1m: nothing held and nothing left to open: every connection failed (5 ECONNREFUSED: nothing listens on 127.0.44.12:19495; check the server is up and where it listens); the hold ends now"
        );
        let line = nothing_left_line(&CauseCounts::default(), 3, &[ep, ep]);
        assert!(line.contains("the server closed every connection (3 closed by the server (--reconnect opens them again))"), "{line}");
        failed.add(Cause::Timeout);
        let line = nothing_left_line(&failed, 2, &[ep, ep, ep]);
        assert!(line.contains("failed or was closed"), "{line}");
        assert!(line.contains("5 ECONNREFUSED (and 1 of other causes): nothing listens on 127.0.44.12:19495 and 2 more endpoints"), "{line}");
    }

    #[test]
    fn instants_read_in_utc() {
        assert_eq!(utc(1_764_583_200.0), "2025-12-01T10:00:00Z");
        assert_eq!(utc(1_764_583_200.25), "2025-12-01T10:00:00.25Z");
    }

    #[test]
    fn rate_now_uses_the_last_second() {
        let tl: Vec<Sample> = (0..=8)
            .map(|i| sample(i as f64 * 0.25, i as u64 * 100))
            .collect();
        assert_eq!(rate_now(&tl), Some(400.0));
    }

    #[test]
    fn a_server_alone_shows_the_rate_its_clients_come_at() {
        // `serve`: no client of c1m's, 1,000 more accepted each second.
        let tl: Vec<Sample> = (0..=8)
            .map(|i| {
                let mut s = sample(i as f64 * 0.25, 0);
                s.server_established = Some(i as u64 * 250);
                s
            })
            .collect();
        assert_eq!(rate_now(&tl), Some(1000.0));
    }

    #[test]
    fn the_first_lines_of_a_fast_ramp_show_a_rate() {
        // 70,000 established half a second in: not "0/s".
        let tl = vec![sample(0.0, 0), sample(0.25, 30_000), sample(0.5, 70_000)];
        assert_eq!(rate_now(&tl), Some(140_000.0));
        assert_eq!(rate_now(&tl[..1]), None);
        let p = plan(1_000_000);
        let line = progress_line(
            Phase::Ramp,
            &p,
            &tl,
            Duration::ZERO,
            &CauseCounts::default(),
        );
        assert!(line.contains("140000/s now"), "{line}");
        assert!(!line.contains(" 0/s now"), "{line}");
        assert!(line.contains("ETA "), "{line}");
        // With stages the schedule says when: no ETA toward the largest
        // (trial 4: `ETA 23s` for a stage due 2.7 s later).
        let staged: Vec<Sample> = tl
            .iter()
            .map(|s| Sample {
                target: Some(200_000),
                ..s.clone()
            })
            .collect();
        let line = progress_line(
            Phase::Ramp,
            &p,
            &staged,
            Duration::ZERO,
            &CauseCounts::default(),
        );
        assert!(!line.contains("ETA"), "{line}");
    }
}
