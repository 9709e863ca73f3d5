//! What an experiment tells its user: the plan line, live progress, and
//! the summary table at the end. Pure formatting over plain data.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::cause::{Cause, CauseCounts};
use crate::latency::{Latency, Percentiles, human_us};
use crate::measure::{MemoryReport, PROC_SCAN_CACHES, Verified};
use crate::plan::{BindMode, Plan, thousands};
use crate::traffic::{Mode, Traffic};
use crate::wire::Stats;

/// One point of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the experiment started.
    pub t: f64,
    pub phase: &'static str,
    /// Connections the clients hold.
    pub established: u64,
    /// Connections the servers hold.
    pub server_established: u64,
    /// Handshakes under way.
    pub connecting: u64,
    /// Failures so far, all causes.
    pub failed: u64,
    pub mem_available: Option<u64>,
    pub slab: Option<u64>,
    /// Workers' summed RSS.
    pub rss: Option<u64>,
    /// Heartbeats sent and replies received so far.
    pub sent: u64,
    pub replies: u64,
    /// Round trips since the previous sample, microseconds.
    pub rtt_p50_us: Option<u64>,
    pub rtt_p99_us: Option<u64>,
    pub rtt_max_us: Option<u64>,
}

/// The traffic settings, in words a report reader wants.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficSummary {
    pub mode: Mode,
    #[serde(serialize_with = "secs")]
    pub interval: Duration,
    /// The message, with unprintable bytes escaped.
    pub message: String,
    pub expect: Option<String>,
}

impl TrafficSummary {
    pub fn of(t: &Traffic) -> Self {
        let show = |b: &[u8]| b.escape_ascii().to_string();
        Self {
            mode: t.mode,
            interval: t.interval,
            message: show(&t.message),
            expect: t.expect.as_deref().map(show),
        }
    }
}

/// Latency percentiles over the whole experiment, microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyReport {
    pub connect: Option<Percentiles>,
    pub first_byte: Option<Percentiles>,
    pub rtt: Option<Percentiles>,
}

impl LatencyReport {
    pub fn of(l: &Latency) -> Self {
        Self {
            connect: Percentiles::of(&l.connect),
            first_byte: Percentiles::of(&l.first_byte),
            rtt: Percentiles::of(&l.rtt),
        }
    }
}

/// How an experiment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// Ramp, hold and teardown ran their course.
    Completed,
    /// Ctrl-C or SIGTERM (the signal number).
    Interrupted(i32),
    /// A worker died on its own (how).
    WorkerDied(String),
}

/// Everything known at the end of an experiment.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub label: &'static str,
    pub plan: Plan,
    pub target: u64,
    /// Connections held when the ramp ended.
    pub reached: u64,
    /// From the first connect to the last handshake.
    #[serde(serialize_with = "opt_secs")]
    pub time_to_reach: Option<Duration>,
    /// Final counters (after teardown).
    pub clients: Stats,
    pub servers: Stats,
    /// Counters at the top, before teardown.
    pub clients_at_top: Stats,
    pub servers_at_top: Stats,
    /// The kernel's own count, or why it could not be taken.
    pub verified: Option<Result<Verified, String>>,
    pub memory: Option<MemoryReport>,
    /// What the connections did besides being held.
    pub traffic: Option<TrafficSummary>,
    /// What a capacity search (`--find-limit`) found.
    pub find_limit: Option<crate::session::FindLimitReport>,
    pub latency: LatencyReport,
    pub timeline: Vec<Sample>,
    #[serde(serialize_with = "secs")]
    pub teardown: Duration,
    pub workers: usize,
    pub workers_closed: usize,
    /// Workers that died on their own, and how.
    pub dead: Vec<String>,
    pub end: End,
}

/// The version of the JSON report; bumped on any incompatible change.
pub const SCHEMA: &str = "c1m.report/1";

/// The JSON report: the outcome under a schema tag.
#[derive(Serialize)]
pub struct Document<'a> {
    pub schema: &'static str,
    #[serde(flatten)]
    pub outcome: &'a Outcome,
}

/// Writes the JSON report to `path`.
pub fn write_json(path: &std::path::Path, o: &Outcome) -> anyhow::Result<()> {
    use anyhow::Context;
    let doc = Document {
        schema: SCHEMA,
        outcome: o,
    };
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("writing the report to {}", path.display()))
}

/// Writes the HTML report to `path`, rendered from the JSON document.
pub fn write_html(path: &std::path::Path, o: &Outcome) -> anyhow::Result<()> {
    use anyhow::Context;
    let doc = serde_json::to_value(Document {
        schema: SCHEMA,
        outcome: o,
    })?;
    let page = crate::html::render(&doc)?;
    std::fs::write(path, page)
        .with_context(|| format!("writing the HTML report to {}", path.display()))
}

/// Serializes a duration as seconds.
pub fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Serializes an optional duration as seconds.
pub fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Whether the experiment did what was asked: 0 yes, 1 no, 130 interrupted.
pub fn exit_code(o: &Outcome) -> ExitCode {
    match o.end {
        End::Interrupted(_) => ExitCode::from(130),
        End::WorkerDied(_) => ExitCode::from(1),
        End::Completed if o.reached >= o.target || o.plan.clients.is_empty() => ExitCode::SUCCESS,
        End::Completed if o.find_limit.is_some() => ExitCode::SUCCESS,
        End::Completed => ExitCode::from(1),
    }
}

/// Bytes in a short binary unit: `3.9 KiB`, `1.2 GiB`; signed and
/// fractional, for deltas and per-connection figures.
pub fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.abs();
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let sign = if n <= -0.5 || (u > 0 && n < 0.0) {
        "-"
    } else {
        ""
    };
    if u == 0 {
        format!("{sign}{v:.0} B")
    } else {
        format!("{sign}{v:.1} {}", units[u])
    }
}

/// The line that says what is about to happen.
pub fn plan_line(label: &str, p: &Plan, servers: usize, clients: usize) -> String {
    let mut s = format!("c1m {label}: {} connections", thousands(p.conns));
    if !p.endpoints.is_empty() {
        let _ = write!(
            s,
            " to {} endpoint{}",
            thousands(p.endpoints.len() as u64),
            if p.endpoints.len() == 1 { "" } else { "s" }
        );
    }
    if !p.sources.is_empty() {
        let _ = write!(
            s,
            " from {} source addresses",
            thousands(p.sources.len() as u64)
        );
    }
    let _ = write!(s, "; {servers} server + {clients} client worker processes");
    let bind = match p.bind {
        BindMode::None => None,
        BindMode::NoPort => Some("IP_BIND_ADDRESS_NO_PORT"),
        BindMode::Plain => Some("plain bind(ip, 0)"),
        BindMode::Range => Some("IP_LOCAL_PORT_RANGE slices"),
    };
    if let Some(b) = bind {
        let _ = write!(s, "; sources bound with {b}");
    }
    if p.families > 0 {
        let _ = write!(
            s,
            "; ≤{} per (source, destination) pair",
            thousands(p.per_family_max)
        );
    }
    s
}

/// Connections per second between the last two samples a second apart.
fn rate_now(tl: &[Sample]) -> f64 {
    let Some(last) = tl.last() else { return 0.0 };
    let Some(prev) = tl.iter().rev().find(|s| last.t - s.t >= 1.0) else {
        return 0.0;
    };
    (last.established as f64 - prev.established as f64) / (last.t - prev.t)
}

/// One line of live progress.
pub fn progress_line(phase: &str, p: &Plan, tl: &[Sample], ramp_start: Duration) -> String {
    let Some(last) = tl.last() else {
        return format!("{phase}: starting");
    };
    let est = last.established.max(last.server_established);
    let elapsed = (last.t - ramp_start.as_secs_f64()).max(0.001);
    let avg = est as f64 / elapsed;
    let now = rate_now(tl);
    let mut s = format!(
        "{phase:>5} {:>6.1}s  {}/{} established  {:.0}/s now  {:.0}/s avg  {} connecting  {} failed",
        elapsed,
        thousands(est),
        thousands(p.conns),
        now,
        avg,
        thousands(last.connecting),
        thousands(last.failed)
    );
    if let (Some(first), Some(slab)) = (tl.first().and_then(|f| f.slab), last.slab) {
        let _ = write!(s, "  slab +{}", bytes(slab as f64 - first as f64));
    }
    if phase == "ramp" && now > 0.0 && est < p.conns {
        let _ = write!(s, "  ETA {:.0}s", (p.conns - est) as f64 / now);
    }
    s
}

fn row(out: &mut String, k: &str, v: impl AsRef<str>) {
    let _ = writeln!(out, "  {k:<28} {}", v.as_ref());
}

fn per(n: Option<f64>) -> String {
    n.map_or("n/a".into(), bytes)
}

/// The summary table printed at the end of every experiment.
pub fn summary(o: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nc1m {} summary", o.label);
    if o.plan.clients.is_empty() {
        // A server only holds what comes; its target is a cap.
        row(&mut s, "cap (--max-conns)", thousands(o.target));
        row(&mut s, "most held at once", thousands(o.reached));
    } else {
        let what = if o.find_limit.is_some() {
            "most to try"
        } else {
            "target"
        };
        row(&mut s, what, thousands(o.target));
        let pct = if o.target > 0 {
            100.0 * o.reached as f64 / o.target as f64
        } else {
            0.0
        };
        row(
            &mut s,
            "reached",
            format!("{} ({pct:.1}%)", thousands(o.reached)),
        );
    }
    if let Some(t) = o.time_to_reach {
        let rate = o.reached as f64 / t.as_secs_f64().max(1e-9);
        row(
            &mut s,
            "time to reach",
            format!("{:.2} s ({:.0} conn/s average)", t.as_secs_f64(), rate),
        );
        if let Some(peak) = peak_rate(&o.timeline) {
            row(&mut s, "peak rate (1 s)", format!("{peak:.0} conn/s"));
        }
    }
    if let Some(p) = &o.latency.connect {
        row(&mut s, "connect time", percentiles(p));
    }
    if o.servers_at_top.planned > 0 {
        row(
            &mut s,
            "held by servers",
            thousands(o.servers_at_top.established),
        );
    }
    match &o.verified {
        Some(Ok(v)) => row(
            &mut s,
            "kernel count (netlink)",
            format!(
                "{} server-side + {} client-side ESTABLISHED ({} ms)",
                thousands(v.server_side),
                thousands(v.client_side),
                v.took.as_millis()
            ),
        ),
        Some(Err(e)) => row(
            &mut s,
            "kernel count (netlink)",
            format!("unavailable: {e}"),
        ),
        None => {}
    }
    match &o.memory {
        Some(m) if m.sockets > 0 && m.conns > 0 => memory_rows(&mut s, m),
        Some(_) => row(&mut s, "memory", "nothing held at the end to measure"),
        None => {}
    }
    if let Some(f) = &o.find_limit {
        row(
            &mut s,
            "limit found",
            format!("{} connections", thousands(f.break_point)),
        );
        row(&mut s, "why", &f.diagnosis.explanation);
    }
    if let Some(t) = &o.traffic
        && t.mode == Mode::Heartbeat
    {
        traffic_rows(&mut s, o, t);
    }
    let mut failed = CauseCounts::default();
    failed.merge(&o.clients_at_top.failed);
    failed.merge(&o.servers_at_top.failed);
    failed.merge(&o.clients.failed);
    if failed.total() == 0 {
        row(&mut s, "errors", "none");
    } else {
        row(
            &mut s,
            "errors",
            thousands(o.clients.failed.total() + o.servers.failed.total()),
        );
        for (c, n) in o.clients.failed.seen() {
            cause_row(&mut s, "client", c, n);
            if let Some(why) = cause_context(o, c) {
                row(&mut s, "", why);
            }
        }
        for (c, n) in o.servers.failed.seen() {
            cause_row(&mut s, "server", c, n);
        }
    }
    if o.clients.peer_closed > 0 {
        row(
            &mut s,
            "closed by the server",
            thousands(o.clients.peer_closed),
        );
    }
    if o.servers.rejected > 0 {
        row(
            &mut s,
            "rejected at the server cap",
            thousands(o.servers.rejected),
        );
    }
    row(
        &mut s,
        "workers",
        format!("{} started, {} closed cleanly", o.workers, o.workers_closed),
    );
    for d in &o.dead {
        row(&mut s, "worker lost", d);
    }
    row(
        &mut s,
        "teardown",
        format!("{:.2} s", o.teardown.as_secs_f64()),
    );
    let end = match &o.end {
        End::Completed => "completed".to_string(),
        End::Interrupted(sig) => format!("interrupted by {}", c1m_sys::process::signal_name(*sig)),
        End::WorkerDied(w) => format!("stopped: {w}"),
    };
    row(&mut s, "end", end);
    s
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
        human_us(p.p50),
        human_us(p.p90),
        human_us(p.p99),
        human_us(p.p999),
        human_us(p.max),
        thousands(p.count)
    )
}

fn traffic_rows(s: &mut String, o: &Outcome, t: &TrafficSummary) {
    let c = &o.clients;
    row(
        s,
        "heartbeat",
        format!(
            "\"{}\" every {:.3} s per connection{}",
            t.message,
            t.interval.as_secs_f64(),
            t.expect
                .as_ref()
                .map_or(String::new(), |e| format!(", expecting \"{e}\""))
        ),
    );
    let hold: Vec<&Sample> = o.timeline.iter().filter(|x| x.phase == "hold").collect();
    let rate = match (hold.first(), hold.last()) {
        (Some(a), Some(b)) if b.t > a.t => (b.replies - a.replies) as f64 / (b.t - a.t),
        _ => 0.0,
    };
    let pct = if c.sent > 0 {
        100.0 * c.replies as f64 / c.sent as f64
    } else {
        0.0
    };
    row(
        s,
        "messages",
        format!(
            "{} sent, {} replies ({pct:.2}%), {} mismatched, {} late; {:.0} replies/s during the hold",
            thousands(c.sent),
            thousands(c.replies),
            thousands(c.mismatched),
            thousands(c.late),
            rate
        ),
    );
    if c.mismatched > 0 {
        row(
            s,
            "",
            "mismatched: replies that did not start with the expected bytes (check --expect)",
        );
    }
    if c.late > 0 {
        row(
            s,
            "",
            "late: sends skipped because the previous reply had not come within the interval",
        );
    }
    if let Some(p) = &o.latency.rtt {
        row(s, "round trip", percentiles(p));
    }
    if let Some(p) = &o.latency.first_byte {
        row(s, "first byte", percentiles(p));
    }
    if o.servers.dropped > 0 {
        row(
            s,
            "closed by servers",
            format!(
                "{} misbehaving peers (idle, oversized, not reading)",
                thousands(o.servers.dropped)
            ),
        );
    }
}

/// A failure seen with a set-up that explains it better than the cause's
/// general line.
fn cause_context(o: &Outcome, c: Cause) -> Option<&'static str> {
    match (c, o.plan.bind) {
        (Cause::AddrNotAvail | Cause::AddrInUse, BindMode::Plain) => Some(
            "plain bind(ip, 0) takes a port for the source address whatever the destination, so each source stops at the local port range (bind then fails with EADDRINUSE) and those ports are closed to every other outgoing connection on the machine; --bind-mode no-port shares ports across destinations",
        ),
        _ => None,
    }
}

fn cause_row(s: &mut String, side: &str, c: Cause, n: u64) {
    let _ = writeln!(
        s,
        "    {side} {:<14} {:>10}  {}",
        c.name(),
        thousands(n),
        c.explain()
    );
}

fn memory_rows(s: &mut String, m: &MemoryReport) {
    row(
        s,
        "kernel memory / socket",
        format!(
            "{} (slab, over {} sockets)",
            per(m.kernel_per_socket()),
            thousands(m.sockets)
        ),
    );
    if m.conns > 0 {
        if let Some(total) = m.slab_caches_total.or(m.meminfo_slab) {
            row(
                s,
                "kernel memory / connection",
                bytes(total as f64 / m.conns as f64),
            );
        }
        if let Some(d) = m.mem_available_drop {
            row(
                s,
                "MemAvailable drop / conn",
                bytes(d as f64 / m.conns as f64),
            );
        }
    }
    for (side, u) in [("servers", &m.servers), ("clients", &m.clients)] {
        if let Some(p) = u.rss_per_conn.filter(|_| u.rss != 0 || u.pss.is_some()) {
            let pss = match u.pss {
                Some(pss) if m.conns > 0 => format!(", PSS {}", bytes(pss as f64 / m.conns as f64)),
                _ => String::new(),
            };
            row(
                s,
                &format!("user memory / conn, {side}"),
                format!(
                    "{} RSS{pss} (total change {})",
                    bytes(p),
                    bytes(u.rss as f64)
                ),
            );
        }
    }
    let tcp_objs: i64 = m
        .slab_caches
        .iter()
        .filter(|c| c.name == "TCP" || c.name == "TCPv6")
        .map(|c| c.objects)
        .sum();
    if m.slab_unreadable.is_none() && (tcp_objs - m.sockets as i64).unsigned_abs() * 10 > m.sockets
    {
        row(
            s,
            "caution",
            format!(
                "the TCP caches changed by {tcp_objs} objects for {} sockets: something else on this machine opened or closed sockets meanwhile, and slab figures are machine-wide",
                thousands(m.sockets)
            ),
        );
    }
    if let Some(e) = &m.slab_unreadable {
        row(s, "slab caches", format!("unreadable: {e}"));
    } else if !m.slab_caches.is_empty() && m.sockets > 0 {
        let _ = writeln!(s, "  slab caches (change, per socket):");
        for c in &m.slab_caches {
            let note = if PROC_SCAN_CACHES.contains(&c.name.as_str()) {
                "  (a /proc/*/fd scanner's, not the sockets')"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "    {:<22} {:>12} objs {:>10} {:>9}/socket{note}",
                c.name,
                c.objects,
                bytes(c.bytes as f64),
                bytes(c.bytes as f64 / m.sockets as f64)
            );
        }
    }
}

/// The best one-second connection rate of the ramp.
pub fn peak_rate(tl: &[Sample]) -> Option<f64> {
    peak_rate_of(
        &tl.iter()
            .filter(|s| s.phase == "ramp")
            .map(|s| (s.t, s.established as f64))
            .collect::<Vec<_>>(),
    )
}

/// The best rate of change of `(seconds, count)` points over windows of at
/// least one second.
pub fn peak_rate_of(points: &[(f64, f64)]) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut j = 0;
    for i in 0..points.len() {
        while j < i && points[i].0 - points[j + 1].0 >= 1.0 {
            j += 1;
        }
        let dt = points[i].0 - points[j].0;
        if dt >= 1.0 {
            let r = (points[i].1 - points[j].1) / dt;
            best = Some(best.map_or(r, |b: f64| b.max(r)));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, established: u64) -> Sample {
        Sample {
            t,
            phase: "ramp",
            established,
            server_established: 0,
            connecting: 0,
            failed: 0,
            mem_available: None,
            slab: None,
            rss: None,
            sent: 0,
            replies: 0,
            rtt_p50_us: None,
            rtt_p99_us: None,
            rtt_max_us: None,
        }
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(3993.6), "3.9 KiB");
        assert_eq!(bytes(-2048.0), "-2.0 KiB");
        assert_eq!(bytes(3.2 * 1024.0 * 1024.0 * 1024.0), "3.2 GiB");
    }

    #[test]
    fn peak_rate_over_one_second_windows() {
        let tl: Vec<Sample> = (0..=8)
            .map(|i| sample(i as f64 * 0.25, [0, 10, 20, 30, 40, 100, 200, 300, 400][i]))
            .collect();
        // From t=1.0 (40) to t=2.0 (400): 360/s.
        assert_eq!(peak_rate(&tl), Some(360.0));
        assert_eq!(peak_rate(&tl[..2]), None);
    }

    #[test]
    fn rate_now_uses_the_last_second() {
        let tl: Vec<Sample> = (0..=8)
            .map(|i| sample(i as f64 * 0.25, i as u64 * 100))
            .collect();
        assert_eq!(rate_now(&tl), 400.0);
    }
}
