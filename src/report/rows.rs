//! The summary's rows, computed once from the report: the text summary
//! prints them, the HTML page lays them out as its summary table. Pure.

use crate::cause::{Cause, Rule};
use crate::latency::{Percentiles, human_us};
use crate::plan::{BindMode, thousands};
use crate::traffic::Mode;

use super::bytes;
use super::judge::{closes_line, held_by_server};
use super::model::{
    CommandKind, CountSource, End, KernelCount, ListenCounters, Memory, Phase, Report, Sample,
    Seen, ThresholdStatus,
};

/// How a row reads: plain, or a judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A figure.
    Plain,
    /// What was asked, done.
    Good,
    /// Worth a look: it may distort the figures.
    Warn,
    /// What was asked, not done, or something false avoided.
    Bad,
}

/// One row of the summary: a key and its value; `detail` rows explain
/// the row above them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What the figure is; empty for a continuation line.
    pub key: String,
    /// The figure, in words.
    pub value: String,
    /// How it reads.
    pub tone: Tone,
    /// Indented under the row above (causes, slab caches).
    pub detail: bool,
}

/// The rows being built.
#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn push(&mut self, key: &str, value: impl Into<String>, tone: Tone, detail: bool) {
        self.0.push(Row {
            key: key.to_string(),
            value: value.into(),
            tone,
            detail,
        });
    }
    fn row(&mut self, key: &str, value: impl Into<String>) {
        self.push(key, value, Tone::Plain, false);
    }
    fn tone(&mut self, key: &str, value: impl Into<String>, tone: Tone) {
        self.push(key, value, tone, false);
    }
    fn detail(&mut self, key: &str, value: impl Into<String>) {
        self.push(key, value, Tone::Plain, true);
    }
}

/// Listeners shown one per row at most; more are summed in one.
const LISTENER_ROWS: usize = 4;

/// Slab changes smaller than this are noise: on this 2-core VM the
/// machine's Slab moved by up to 172 KiB over 10 s with nothing but
/// compilers running (`/proc/meminfo` read every 0.5 s).
pub const SLAB_NOISE: i64 = 1 << 20;
/// MemAvailable changes smaller than this are noise: it moved by up to
/// 232 MiB over the same 10 s (page cache comes and goes).
pub const MEM_AVAILABLE_NOISE: i64 = 256 << 20;
/// RSS changes smaller than this per worker are noise (a few pages of
/// stack, heap and buffers move whatever the connections do).
pub const RSS_NOISE_PER_WORKER: i64 = 64 << 10;

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return String::new();
    }
    format!(" ({:.1}%)", 100.0 * n as f64 / of as f64)
}

/// The percentiles in one line: `p50 1.2 ms  p90 …  (N samples)`.
pub fn percentiles(p: &Percentiles) -> String {
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

/// A per-connection (or per-socket: `what`) figure from a machine-wide
/// change, or why it cannot be told from the noise of its reading.
pub fn per_conn(total: i64, n: u64, what: &str, noise: i64) -> String {
    if n == 0 {
        return "n/a".into();
    }
    if total.abs() <= noise {
        return format!(
            "too small to measure ({} over {} {what}, within the ±{} noise of this reading)",
            bytes(total as f64),
            thousands(n),
            bytes(noise as f64)
        );
    }
    bytes(total as f64 / n as f64)
}

/// The best one-second connection rate of the ramp.
pub fn peak_rate(r: &Report) -> Option<f64> {
    let pts: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .filter(|s| s.phase == Phase::Ramp)
        .map(|s| (s.t, s.established as f64))
        .collect();
    super::peak_rate_of(&pts)
}

/// Every row of the summary, in order.
pub fn summary(r: &Report) -> Vec<Row> {
    let mut o = Rows::default();
    origin_rows(&mut o, r);
    shard_rows(&mut o, r);
    held_rows(&mut o, r);
    o.0.extend(super::staged::rows(r));
    if let Some(t) = r.time_to_reach.filter(|_| r.held.reached > 0) {
        let rate = r.held.reached as f64 / t.max(1e-9);
        o.row(
            "time to reach",
            format!("{t:.2} s ({rate:.0} conn/s average)"),
        );
        if let Some(peak) = peak_rate(r) {
            o.row("peak rate (1 s)", format!("{peak:.0} conn/s"));
        }
    }
    if let Some(p) = &r.latency.connect {
        o.row("connect time", percentiles(p));
    }
    tls_rows(&mut o, r);
    ws_rows(&mut o, r);
    kernel_rows(&mut o, r);
    server_rows(&mut o, r);
    match &r.memory {
        Some(m) if m.sockets > 0 && m.conns > 0 => memory_rows(&mut o, m),
        Some(_) => o.row("memory", "nothing held at the top to measure"),
        None => {}
    }
    if let Some(f) = &r.find_limit {
        o.tone(
            "limit found",
            format!(
                "{} connections held by the server (most at once on the client: {})",
                thousands(f.break_point),
                thousands(f.peak)
            ),
            Tone::Good,
        );
        o.detail("why", &f.diagnosis.explanation);
    }
    if let Some(t) = &r.traffic
        && t.mode == Mode::Heartbeat
    {
        traffic_rows(&mut o, r);
    }
    proxy_rows(&mut o, r);
    server_close_rows(&mut o, r);
    error_rows(&mut o, r);
    if r.servers.rejected > 0 {
        o.row("rejected at the server cap", thousands(r.servers.rejected));
    }
    let killed = match r.workers.killed {
        0 => String::new(),
        n => format!(", {n} stopped at once by c1m"),
    };
    o.row(
        "workers",
        format!(
            "{} started, {} closed cleanly{killed}",
            r.workers.started, r.workers.closed_cleanly
        ),
    );
    for d in &r.workers.lost {
        o.tone("worker lost", d, Tone::Bad);
    }
    o.row("teardown", format!("{:.2} s", r.teardown));
    o.row("end", end_line(&r.end));
    threshold_rows(&mut o, r);
    match &r.verdict.reason {
        None => o.tone("verdict", "OK", Tone::Good),
        Some(why) => o.tone("verdict", format!("FAIL: {why}"), Tone::Bad),
    }
    o.0
}

/// The `--fail-if` thresholds, each passed or failed with its figure.
fn threshold_rows(o: &mut Rows, r: &Report) {
    let n = r.thresholds.len();
    let failed = r
        .thresholds
        .iter()
        .filter(|t| t.status != ThresholdStatus::Pass);
    match failed.count() {
        _ if n == 0 => return,
        0 => o.tone(
            "thresholds (--fail-if)",
            format!("{n} of {n} passed"),
            Tone::Good,
        ),
        f => o.tone(
            "thresholds (--fail-if)",
            format!("{f} of {n} failed"),
            Tone::Bad,
        ),
    }
    for t in &r.thresholds {
        let (word, tone) = match t.status {
            ThresholdStatus::Pass => ("pass".to_string(), Tone::Good),
            _ => (format!("FAIL (exit {})", t.exit_code), Tone::Bad),
        };
        o.push(
            &t.threshold.to_string(),
            format!("{word}: {}", t.figure),
            tone,
            true,
        );
    }
}

/// Which shards a merged report holds.
fn shard_rows(o: &mut Rows, r: &Report) {
    let Some(shards) = &r.merged else { return };
    let nodes = r.memory.as_ref().map_or(0, |m| m.nodes.len());
    // Kernels by boot ID (`origin.kernel` lists them once each): nodes
    // sharing one (the lab's namespaces, pods on one machine) share its
    // slab, counted once.
    let kernels = r
        .origin
        .kernel
        .as_deref()
        .map_or(nodes, |k| k.split(',').count());
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    o.row(
        "shards merged",
        format!(
            "{} from {} (kernel memory once per kernel: {nodes} node{} on {kernels} kernel{})",
            shards.len(),
            r.origin.host,
            plural(nodes),
            plural(kernels),
        ),
    );
    for s in shards {
        let name = s
            .shard
            .map_or_else(|| "whole".to_string(), |s| s.to_string());
        let verdict = match &s.verdict.reason {
            None => "OK".to_string(),
            Some(why) => format!("FAIL: {why}"),
        };
        let tone = if s.verdict.ok { Tone::Plain } else { Tone::Bad };
        o.push(
            &name,
            format!(
                "{}: held {} of {} ({}) — {verdict}",
                s.host,
                thousands(s.held_at_end),
                thousands(s.target),
                s.file
            ),
            tone,
            true,
        );
    }
}

/// How the experiment ended, in words: `completed`, `interrupted by
/// SIGINT`, `stopped: client worker 3 … was killed by SIGKILL (9)`.
pub fn end_line(end: &End) -> String {
    end.words()
}

/// Kernel slab bytes per socket ([`Memory::kernel_per_socket`]) when
/// the slab change is past [`SLAB_NOISE`]; `None` when it cannot be told
/// from the noise.
pub fn kernel_per_socket(m: &Memory) -> Option<f64> {
    let total = m.slab_caches_total.or(m.meminfo_slab)?;
    m.kernel_per_socket().filter(|_| total.abs() > SLAB_NOISE)
}

/// The listen-queue counters with the kernel's `TcpExt` names, in
/// [`ListenCounters::KEYS`] order.
pub fn listen_counters(k: &ListenCounters) -> [(&'static str, u64); 8] {
    let [a, b, c, d, e, f, g, h] = ListenCounters::KEYS;
    [
        (a, k.syncookies_sent),
        (b, k.syncookies_recv),
        (c, k.syncookies_failed),
        (d, k.reqq_full_do_cookies),
        (e, k.reqq_full_drop),
        (f, k.listen_overflows),
        (g, k.listen_drops),
        (h, k.memory_pressures),
    ]
}

/// A warning when the TCP slab caches changed by more than 10% more or
/// fewer objects than the sockets held: slab figures are machine-wide,
/// so something else opened or closed sockets meanwhile. `None` when
/// they agree, or the change is within [`SLAB_NOISE`], or there are no
/// per-cache figures.
pub fn slab_caution(m: &Memory) -> Option<String> {
    let tcp_objs: i64 = m
        .slab_caches
        .iter()
        .filter(|c| c.name == "TCP" || c.name == "TCPv6")
        .map(|c| c.objects)
        .sum();
    let measurable = m
        .slab_caches_total
        .or(m.meminfo_slab)
        .is_some_and(|t| t.abs() > SLAB_NOISE);
    (measurable
        && m.slab_unreadable.is_none()
        && !m.slab_caches.is_empty()
        && (tcp_objs - m.sockets as i64).unsigned_abs() * 10 > m.sockets)
        .then(|| {
            format!(
                "the TCP caches changed by {} objects for {} sockets: something else on this machine opened or closed sockets meanwhile, and slab figures are machine-wide",
                thousands_signed(tcp_objs),
                thousands(m.sockets)
            )
        })
}

/// A signed count with thousands separators: `-360,000`, `1,250`.
pub fn thousands_signed(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", thousands(n.unsigned_abs()))
}

/// A shard's place in the whole, and the instant it was told to start.
fn origin_rows(o: &mut Rows, r: &Report) {
    if let Some(s) = r.origin.shard {
        o.row("shard", format!("{s} on {}", r.origin.host));
    }
    if let Some(at) = r.origin.start_at {
        o.row("start at", format!("{} (--start-at)", super::text::utc(at)));
    }
    if let Some(ns) = &r.origin.run_netns {
        let table = match (ns.buckets, ns.own_table) {
            (Some(b), Some(true)) => format!("{} established buckets", thousands(b)),
            (Some(b), _) => format!(
                "the host's {} established buckets: the kernel could not allocate {}",
                thousands(b),
                thousands(ns.planned_buckets)
            ),
            (None, _) => format!(
                "{} established buckets asked for, size unread",
                thousands(ns.planned_buckets)
            ),
        };
        o.row("network namespace", format!("{} ({table})", ns.name));
    }
}

fn held_rows(o: &mut Rows, r: &Report) {
    let h = &r.held;
    let source = match (h.source, &r.kernel.at_end) {
        (CountSource::Kernel, _) => "the kernel's count",
        // A second Ctrl-C: the workers were killed before the count.
        (CountSource::Workers, KernelCount::NotTaken) if r.workers.killed > 0 => {
            "the workers' last count; stopped at once before the kernel's was read"
        }
        (CountSource::Workers, _) => "the workers' count; the kernel's was unavailable",
    };
    if r.command == CommandKind::Serve {
        o.row("cap (--max-conns)", thousands(r.target));
        o.row("most held at once", thousands(h.reached));
        o.row(
            "held at the end",
            format!("{} ({source})", thousands(h.at_end)),
        );
        return;
    }
    let what = if r.command == CommandKind::FindLimit {
        "most to try"
    } else {
        "target"
    };
    // With stages, the target is the last stage's: the largest beside it.
    let target = match &r.stages {
        Some(_) if r.plan.conns != r.target => format!(
            "{} (the last stage's; {} at the most)",
            thousands(r.target),
            thousands(r.plan.conns)
        ),
        _ => thousands(r.target),
    };
    o.row(what, target);
    // With stages, of the largest stage's count (the target is the last).
    let peak = match r.stages {
        Some(_) => r.plan.conns,
        None => r.target,
    };
    o.row(
        "reached (most at once)",
        format!(
            "{}{}, the most seen (samples every 250 ms, each worker's peak)",
            thousands(h.reached),
            pct(h.reached, peak)
        ),
    );
    // Closes beyond reached (each connection opened once: no reconnect,
    // no stages) are connections held that c1m's counts did not all see
    // at once: a server ending resets every one together, between two
    // samples, and a worker may read a handshake with its reset.
    if r.closes.total() > h.reached
        && r.command != CommandKind::Serve
        && r.reconnect.is_none()
        && r.stages.is_none()
    {
        o.detail(
            "",
            format!(
                "the server closed {} of c1m's connections, more than reached: more were held at once than c1m's counts saw (a peak between two samples, or handshakes seen together with their close), so the most held at once is at least that",
                thousands(r.closes.total())
            ),
        );
    }
    let held = held_by_server(h.at_end, &r.server_side);
    let turned_away = r.closes.total() > 0 || r.server_side.waiting.is_some_and(|w| w > 0);
    // Fewer held than reached is the server's doing only where fewer
    // than the end's target are held: a stage going down closed the rest
    // itself, at c1m's own pace.
    if h.reached > held && held < r.target && turned_away {
        let what = "reached: the most ESTABLISHED at once on the client, as c1m's workers counted them every 250 ms;";
        let why = match r.clients.shed {
            0 => "the server then closed some or never accepted them, so it held fewer (held at the end, below)".to_string(),
            shed => format!(
                "c1m then closed {} itself (its stages going down), and the server closed some or never accepted them, so it held fewer than the last stage's target (held at the end, below)",
                thousands(shed)
            ),
        };
        o.detail("", format!("{what} {why}"));
    }
    let tone = match r.command {
        CommandKind::FindLimit => Tone::Plain,
        _ if held >= r.target => Tone::Good,
        // With stages: the last one met, within its tolerance.
        _ if r
            .stages
            .as_ref()
            .and_then(|st| st.stages.last())
            .is_some_and(|s| s.met == Some(true)) =>
        {
            Tone::Good
        }
        _ => Tone::Bad,
    };
    // The row says what the verdict judged: with the server visible, no
    // more than its application accepted (the rest wait in its accept
    // queue, held by no one yet).
    let value = if held < h.at_end {
        format!(
            "{}{} (of {} ESTABLISHED on the client ({source}), {} not accepted by the server application)",
            thousands(held),
            pct(held, r.target),
            thousands(h.at_end),
            thousands(h.at_end - held)
        )
    } else {
        format!(
            "{}{} ESTABLISHED ({source})",
            thousands(h.at_end),
            pct(h.at_end, r.target)
        )
    };
    o.tone("held at the end", value, tone);
    if let Some(m) = h.min_during_hold {
        o.row("fewest held in the hold", thousands(m));
    }
}

/// The kernel's two counts at the top and at the end: c1m's own sockets
/// (what held counts) and everyone's on the endpoints, then what on the
/// endpoints is not c1m's.
fn kernel_rows(o: &mut Rows, r: &Report) {
    for (when, k) in [("top", &r.kernel.at_top), ("end", &r.kernel.at_end)] {
        let key = format!("kernel count at the {when}");
        match k {
            KernelCount::Counted {
                client_own,
                client_own_close_wait,
                server_own,
                own_took,
                server_side,
                client_side,
                client_close_wait,
                took,
                ..
            } => {
                let mut own = match (r.command, *server_own > 0) {
                    (CommandKind::Serve, _) => {
                        format!("{} of c1m's server sockets", thousands(*server_own))
                    }
                    (_, true) => format!(
                        "{} server-side + {} client-side of c1m's own",
                        thousands(*server_own),
                        thousands(*client_own)
                    ),
                    (_, false) => format!("{} of c1m's own", thousands(*client_own)),
                };
                own += " ESTABLISHED";
                if *client_own_close_wait > 0 {
                    own += &format!(
                        ", {} CLOSE-WAIT (closed by the server, not held)",
                        thousands(*client_own_close_wait)
                    );
                }
                let mut all = match r.server_side.seen {
                    Seen::Local => format!(
                        "{} server-side + {} client-side ESTABLISHED",
                        thousands(*server_side),
                        thousands(*client_side)
                    ),
                    Seen::Remote => {
                        format!("{} client-side ESTABLISHED", thousands(*client_side))
                    }
                };
                if *client_close_wait > 0 {
                    all += &format!(", {} CLOSE-WAIT", thousands(*client_close_wait));
                }
                // Read one after the other, c1m's own first: only
                // connections closed in between make c1m's own more.
                let gone = client_own.saturating_sub(*client_side)
                    + server_own.saturating_sub(*server_side);
                if gone > 0 {
                    all += &format!(
                        "; {} of c1m's closed between the two readings",
                        thousands(gone)
                    );
                }
                o.row(
                    &key,
                    format!(
                        "{own} (each socket's state, TCP_INFO, {} CPU); then everyone's on the targets: {all} (netlink, {:.0} ms)",
                        seconds_short(*own_took),
                        took * 1e3
                    ),
                );
                if when == "top"
                    && let Some(why) = top_below_reached(r, *client_own)
                {
                    o.detail("", why);
                }
                others_row(o, r.command, k, when);
                if when == "top"
                    && let Some(why) = client_only_at_top(r, *server_side, *client_side)
                {
                    o.row("only on the client at the top", why);
                }
            }
            KernelCount::Unavailable { reason } => {
                o.tone(&key, format!("unavailable: {reason}"), Tone::Warn)
            }
            KernelCount::NotTaken => {}
        }
    }
}

/// When c1m's own count at the top (`own`, read once the ramp ended) is
/// below reached and the server closed connections between the most
/// held and that reading (the timeline's `closed`): when it was read and
/// why it is lower, in one line. None otherwise (and for `serve`, whose
/// top is its own sockets).
fn top_below_reached(r: &Report, own: u64) -> Option<String> {
    if r.command == CommandKind::Serve || own >= r.held.reached {
        return None;
    }
    // The sample with the most: reached itself, or below it when a
    // worker's own high-water mark came between two samples.
    let most = r.timeline.iter().map(|s| s.established).max()?;
    let peak = r.timeline.iter().find(|s| s.established == most)?;
    let when = match most == r.held.reached {
        true => "at",
        false => "after",
    };
    // The top is read once the ramp ended, before the hold's first sample.
    let read = r
        .timeline
        .iter()
        .find(|s| s.phase != Phase::Ramp && s.t >= peak.t)
        .or(r.timeline.last())?;
    let closed = read.closed.saturating_sub(peak.closed);
    (closed > 0).then(|| {
        format!(
            "read when the ramp ended, {:.1} s in: the server had closed {} of c1m's connections since the most were held ({} {when} {:.1} s), so the top's count is below reached",
            read.t,
            thousands(closed),
            thousands(r.held.reached),
            peak.t
        )
    })
}

/// The connections ESTABLISHED on the client side at the top with no
/// server-side socket (everyone's `client_side` less `server_side`, the
/// server in sight): what they are, by the listen counters, and where
/// they were at the end. None when there are none.
fn client_only_at_top(r: &Report, server_side: u64, client_side: u64) -> Option<String> {
    if r.server_side.seen != Seen::Local || r.command == CommandKind::Serve {
        return None;
    }
    let n = client_side.checked_sub(server_side).filter(|&n| n > 0)?;
    let mut why = format!(
        "{} ESTABLISHED on the client side had no server-side socket yet: handshakes the client had completed and the server's kernel had not",
        thousands(n)
    );
    let moved: Vec<String> = r
        .listen_counters
        .as_ref()
        .map(|k| {
            listen_counters(k)
                .iter()
                .filter(|(name, n)| *n > 0 && *name != "SyncookiesRecv")
                .map(|(name, n)| format!("{name} +{}", thousands(*n)))
                .collect()
        })
        .unwrap_or_default();
    if moved.is_empty() {
        why += " (no listen counter moved: still under way when the kernel was read)";
    } else {
        let backlog = r.server_side.listeners.iter().map(|l| l.backlog).max();
        why += &format!(
            " (the accept queue was full: its final ACK dropped, or a SYN cookie not yet used; {}{})",
            moved.join(", "),
            backlog.map_or(String::new(), |b| format!(
                "; backlog {}",
                thousands(b.into())
            ))
        );
    }
    if let KernelCount::Counted {
        server_side: s_end,
        client_side: c_end,
        ..
    } = &r.kernel.at_end
    {
        why += &match c_end.saturating_sub(*s_end) {
            0 => "; by the end every one had a server-side socket".to_string(),
            left => format!("; {} still client-only at the end", thousands(left)),
        };
    }
    Some(why)
}

/// `3,000 ESTABLISHED to the targets are other processes' — not
/// counted`, when there are any.
fn others_row(o: &mut Rows, command: CommandKind, k: &KernelCount, when: &str) {
    let Some(n) = k.others(command).filter(|&n| n > 0) else {
        return;
    };
    let value = match command {
        CommandKind::Serve => format!(
            "{} ESTABLISHED on the targets were not held by c1m's workers when they counted (in an accept queue, come in after the count, or another process's) — not counted",
            thousands(n)
        ),
        _ => format!(
            "{} ESTABLISHED to the targets are other processes' — not counted",
            thousands(n)
        ),
    };
    o.tone(&format!("not c1m's at the {when}"), value, Tone::Warn);
}

/// A short duration: `850 µs`, `12 ms`, `1.2 s`.
fn seconds_short(s: f64) -> String {
    human_us((s * 1e6).round() as u64)
}

fn server_rows(o: &mut Rows, r: &Report) {
    let s = &r.server_side;
    match s.seen {
        Seen::Local => {
            if let (Some(a), Some(w)) = (s.accepted, s.waiting) {
                let tone = if w > 0 { Tone::Bad } else { Tone::Plain };
                o.tone(
                    "held by the server app",
                    format!(
                        "{} accepted; {} waiting unaccepted in the accept queue",
                        thousands(a),
                        thousands(w)
                    ),
                    tone,
                );
            }
            // SO_REUSEPORT listeners of one address are one row.
            let mut by_addr: Vec<(std::net::SocketAddr, u64, u64, u32)> = Vec::new();
            for l in &s.listeners {
                match by_addr.iter_mut().find(|(a, ..)| *a == l.addr) {
                    Some((_, n, queue, _)) => {
                        *n += 1;
                        *queue += u64::from(l.accept_queue);
                    }
                    None => by_addr.push((l.addr, 1, l.accept_queue.into(), l.backlog)),
                }
            }
            // Many listeners (c1m's own fleet): one line, and the ones with
            // connections waiting.
            let many = by_addr.len() > LISTENER_ROWS;
            if many {
                let waiting: u64 = by_addr.iter().map(|l| l.2).sum();
                o.detail(
                    "listeners",
                    format!(
                        "{} addresses, {} connections waiting in their accept queues in all",
                        thousands(by_addr.len() as u64),
                        thousands(waiting)
                    ),
                );
            }
            for (addr, n, queue, backlog) in by_addr
                .into_iter()
                .filter(|l| !many || l.2 > 0)
                .take(LISTENER_ROWS)
            {
                let (sockets, each) = if n > 1 {
                    (format!(" ({n} SO_REUSEPORT sockets)"), " each")
                } else {
                    (String::new(), "")
                };
                o.detail(
                    "listener",
                    format!(
                        "{addr}{sockets}: accept queue {} of backlog {}{each}",
                        thousands(queue),
                        thousands(backlog.into())
                    ),
                );
            }
        }
        Seen::Remote if r.command != CommandKind::Serve => o.row(
            "server side",
            "not visible from here (another host or network namespace): every figure is the client's; what the server application accepted, what waits in its accept queue, and connections it never created cannot be seen",
        ),
        Seen::Remote => {}
    }
    if let Some(p) = r.phantoms.as_ref().filter(|p| p.count > 0) {
        o.tone("only on the client", thousands(p.count), Tone::Bad);
        if let Some(c) = &p.cause {
            o.detail("why", c);
        }
        if let Some(f) = &p.fix {
            o.detail("fix", f);
        }
    }
    if let Some(p) = r.phantoms.as_ref().filter(|p| p.under_way > 0) {
        o.row(
            "handshakes under way",
            format!(
                "{} ESTABLISHED on the client side only while the kernel was read: connections still being opened then (no SYN cookie, no listen drop, no accept queue full), not connections the server lost",
                thousands(p.under_way)
            ),
        );
    }
    if r.closes.total() > 0 {
        o.tone(
            "closed by the server",
            format!(
                "{}: {}",
                thousands(r.closes.total()),
                closes_line(&r.closes, 0)
            ),
            Tone::Bad,
        );
    }
    if let Some(k) = &r.listen_counters {
        // SyncookiesRecv counts connections made from cookies: the
        // cookies sent already warn.
        let seen: Vec<String> = listen_counters(k)
            .iter()
            .filter(|(name, n)| *n > 0 && *name != "SyncookiesRecv")
            .map(|(name, n)| format!("{name} +{}", thousands(*n)))
            .collect();
        if !seen.is_empty() {
            // /proc/net/netstat counts for the whole network namespace:
            // every listener's, not only the targets'.
            o.tone(
                "listen queues",
                format!(
                    "{} (this network namespace's counters: every listener's, not only these)",
                    seen.join(", ")
                ),
                Tone::Warn,
            );
        }
    }
}

/// How c1m's servers' connections ended: for `serve`, those the peers
/// closed and the bytes echoed; for any command, the peers the servers
/// closed, by the rule each broke.
fn server_close_rows(o: &mut Rows, r: &Report) {
    let s = &r.servers;
    if r.command == CommandKind::Serve && s.opened > 0 {
        o.row(
            "closed by peers",
            format!(
                "{} ({} with a FIN, {} reset)",
                thousands(s.peer_closed()),
                thousands(s.closed_fin + s.closed_fin_data),
                thousands(s.closed_rst)
            ),
        );
    }
    if r.command == CommandKind::Serve && s.sent > 0 {
        o.row("echoed", bytes(s.sent as f64));
    }
    if s.dropped == 0 {
        return;
    }
    o.row(
        "closed by the server",
        format!(
            "{} misbehaving peers, each with a reset",
            thousands(s.dropped)
        ),
    );
    for rule in Rule::ALL {
        let n = s.drops.get(rule);
        if n > 0 {
            o.detail(
                rule.flag(),
                format!("{:>10}  {}", thousands(n), rule.what()),
            );
        }
    }
    if s.drops.total() < s.dropped {
        o.detail("", "by rule: not recorded in this report");
    }
}

fn error_rows(o: &mut Rows, r: &Report) {
    let total = r.clients.failed.total() + r.servers.failed.total();
    if total == 0 {
        o.row("errors", "none");
        return;
    }
    o.tone("errors", thousands(total), Tone::Bad);
    for (side, counts) in [("client", &r.clients.failed), ("server", &r.servers.failed)] {
        for (c, n) in counts.seen() {
            o.detail(
                &format!("{side} {}", c.name()),
                format!("{:>10}  {}", thousands(n), c.explain()),
            );
            if side == "client"
                && let Some(why) = cause_context(r, c)
            {
                o.detail("", why);
            }
            if let Some(e) = r.tls.as_ref().and_then(|t| t.example(side, c)) {
                o.detail("", format!("e.g. {e}"));
            }
            if let Some(w) = &r.websocket {
                if side == "client" && c == Cause::WsStatus {
                    for st in &w.statuses {
                        o.detail(
                            "",
                            format!(
                                "HTTP {} {}: {} — {}",
                                st.status,
                                st.reason,
                                thousands(st.count),
                                st.meaning
                            ),
                        );
                    }
                } else if let Some(e) = w.example(side, c) {
                    o.detail("", format!("e.g. {e}"));
                }
            }
        }
    }
}

/// A failure seen with a set-up that explains it better than the cause's
/// general line.
fn cause_context(r: &Report, c: Cause) -> Option<&'static str> {
    match (c, r.plan.bind) {
        (Cause::AddrNotAvail | Cause::AddrInUse, BindMode::Plain) => Some(
            "plain bind(ip, 0) takes a port for the source address whatever the destination, so each source stops at the local port range (bind then fails with EADDRINUSE) and those ports are closed to every other outgoing connection on the machine; --bind-mode no-port shares ports across destinations",
        ),
        _ => None,
    }
}

mod memory;
mod traffic;
use memory::memory_rows;
pub use traffic::{BEHIND_SHARE, schedule_not_kept};
use traffic::{proxy_rows, tls_rows, traffic_rows, ws_rows};

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
