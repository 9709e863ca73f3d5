//! A [`View`] as lines of text: the screen on a terminal, the same lines
//! without styling otherwise. Pure formatting.
//!
//! A figure that could not be read shows as `n/a`, never as a zero; each
//! section says where its figures come from and how old they are.

use std::fmt::Write as _;

use c1m_probe::diag::TcpState;

use super::view::{Counter, Gauge, MIN_SOCKETS_PER_SOCKET, View};
use crate::plan::thousands;

/// How a line is drawn on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The first line: what is watched.
    Title,
    /// A section's first line.
    Heading,
    /// A figure or a table row, drawn plain.
    Body,
    /// Why something is missing or how to read it.
    Note,
}

/// One line of the screen, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// How a terminal draws it (bold, dim, plain); ignored off a terminal.
    pub style: Style,
    /// The text, no escape sequences; empty for a blank line.
    pub text: String,
}

/// Builds the lines of a view.
#[derive(Default)]
struct Out(Vec<Line>);

impl Out {
    fn push(&mut self, style: Style, text: impl Into<String>) {
        self.0.push(Line {
            style,
            text: text.into(),
        });
    }
    fn blank(&mut self) {
        self.push(Style::Body, "");
    }
}

const NA: &str = "n/a";

fn count(n: Option<u64>) -> String {
    n.map_or(NA.into(), thousands)
}

/// `+1,234`, `-5`, `0`.
fn signed(n: i64) -> String {
    let sign = match n.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    format!("{sign}{}", thousands(n.unsigned_abs()))
}

/// `+12,345/s`, `-0.5/s`, `0/s`.
fn per_s(r: Option<f64>) -> String {
    match r {
        // The first refresh has no rate yet (nor has a counter not
        // read): never `n/a/s`.
        None => format!("rate {NA}"),
        Some(0.0) => "0/s".into(),
        Some(r) if r.abs() < 10.0 => format!("{r:+.1}/s"),
        Some(r) => format!("{}/s", signed(r.round() as i64)),
    }
}

fn size(n: Option<u64>) -> String {
    n.map_or(NA.into(), |n| crate::report::bytes(n as f64))
}

/// `+9.1 MiB`, `-512 B`, `0 B`.
fn size_delta(n: i64) -> String {
    let plus = if n > 0 { "+" } else { "" };
    format!("{plus}{}", crate::report::bytes(n as f64))
}

fn age(s: f64) -> String {
    format!("{s:.1} s")
}

fn took(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// The lines of one refresh.
pub fn render(v: &View) -> Vec<Line> {
    let mut o = Out::default();
    title(&mut o, v);
    o.blank();
    states(&mut o, v);
    o.blank();
    totals(&mut o, v);
    o.blank();
    memory(&mut o, v);
    o.blank();
    slab(&mut o, v);
    o.0
}

fn title(o: &mut Out, v: &View) {
    let ports = match v.filter.ports {
        None => "all ports".to_string(),
        Some([lo, hi]) if lo == hi => format!("port {lo} (local or remote)"),
        Some([lo, hi]) => format!("ports {lo}-{hi} (local or remote)"),
    };
    let families = match v.filter.families {
        "ipv4" => "IPv4",
        "ipv6" => "IPv6",
        _ => "IPv4+IPv6",
    };
    o.push(
        Style::Title,
        format!(
            "c1m stat: TCP on {ports}, {families}; refresh {} every {}, {} since start",
            v.seq,
            humantime::format_duration(std::time::Duration::from_secs_f64(v.interval_s)),
            age(v.t_s)
        ),
    );
}

fn states(o: &mut Out, v: &View) {
    let s = &v.states;
    let mut head = "SOCKETS BY STATE  netlink sock_diag".to_string();
    if let (Some(a), Some(t)) = (s.age_s, s.took_s) {
        let _ = write!(head, ", {} old, the count took {}", age(a), took(t));
    }
    o.push(Style::Heading, head);
    if let Some(e) = &s.error {
        o.push(Style::Note, format!("  unavailable: {e}"));
        return;
    }
    let Some(by) = &s.by_state else {
        o.push(
            Style::Note,
            "  counting (the first netlink dump is under way)",
        );
        return;
    };
    let cell = |st: TcpState| format!("{:<12}{:>10}", st.name(), thousands(by.get(st)));
    // The rate needs two counts; at 2M sockets they are ~17 s apart.
    let est = match s.established_per_s {
        Some(r) => format!("{}  {}", cell(TcpState::Established), per_s(Some(r))),
        None => cell(TcpState::Established),
    };
    use TcpState::*;
    let rows = [
        (est, FinWait1, CloseWait),
        (cell(SynSent), FinWait2, LastAck),
        (cell(SynRecv), TimeWait, Closing),
    ];
    for (first, b, c) in rows {
        o.push(
            Style::Body,
            format!("  {first:<34}  {}  {}", cell(b), cell(c)),
        );
    }
    let total = format!("{:<12}{:>10}", "total", count(s.total));
    let last = format!("  {:<34}  {}  {total}", cell(Listen), cell(Close));
    o.push(Style::Body, last);
    if !s.top_local_ports.is_empty() {
        let ports: Vec<String> = s
            .top_local_ports
            .iter()
            .map(|p| format!("{} {}", p.port, thousands(p.sockets)))
            .collect();
        let mut line = format!("  top local ports: {}", ports.join(", "));
        if let Some(n) = s.local_ports.filter(|&n| n > ports.len()) {
            let _ = write!(line, " (of {} ports)", thousands(n as u64));
        }
        o.push(Style::Body, line);
    }
}

fn counter(name: &str, c: &Counter) -> String {
    format!(
        "{name} {} (+{} since start, {})",
        count(c.total),
        count(c.since_start),
        per_s(c.per_s)
    )
}

fn totals(o: &mut Out, v: &View) {
    let t = &v.tcp;
    o.push(
        Style::Heading,
        "TCP TOTALS  every port, this refresh (/proc/net/snmp, sockstat)",
    );
    for e in &t.errors {
        o.push(Style::Note, format!("  unavailable: {e}"));
    }
    o.push(
        Style::Body,
        format!(
            "  CurrEstab {} ({}; ESTABLISHED + CLOSE_WAIT, every port)",
            count(t.curr_estab),
            per_s(t.curr_estab_per_s)
        ),
    );
    o.push(
        Style::Body,
        format!(
            "  inuse {} (TCP6 {})  orphan {}  tw {}  alloc {}  mem {} ({} pages)",
            count(t.inuse),
            count(t.inuse6),
            count(t.orphan),
            count(t.tw),
            count(t.alloc),
            size(t.mem_bytes),
            count(t.mem_pages)
        ),
    );
    let l = &v.listen;
    o.push(
        Style::Body,
        format!(
            "  {}  {}",
            counter("ListenOverflows", &l.overflows),
            counter("ListenDrops", &l.drops)
        ),
    );
    o.push(
        Style::Body,
        format!("  {}", counter("TCPMemoryPressures", &l.memory_pressures)),
    );
}

fn gauge(name: &str, g: &Gauge) -> String {
    let delta = g.since_start.map_or(NA.into(), size_delta);
    format!("{name} {} ({delta})", size(g.bytes))
}

fn memory(o: &mut Out, v: &View) {
    let m = &v.memory;
    o.push(Style::Heading, "MEMORY  /proc/meminfo (change since start)");
    if let Some(e) = &m.error {
        o.push(Style::Note, format!("  unavailable: {e}"));
        return;
    }
    o.push(
        Style::Body,
        format!(
            "  {}  {}  {}",
            gauge("MemAvailable", &m.mem_available),
            gauge("Slab", &m.slab),
            gauge("SUnreclaim", &m.sunreclaim)
        ),
    );
}

fn slab(o: &mut Out, v: &View) {
    let s = &v.slab;
    let mut head = "SLAB CACHES  /proc/slabinfo".to_string();
    if let (Some(a), Some(span)) = (s.age_s, s.span_s) {
        let _ = write!(
            head,
            ", change over {} since start, read {} ago",
            age(span),
            age(a)
        );
        if let Some(n) = s.sockets {
            let _ = write!(head, "; TCP sockets {}", signed(n));
        }
    }
    o.push(Style::Heading, head);
    if let Some(e) = &s.error {
        o.push(Style::Note, format!("  unavailable: {e}"));
        return;
    }
    if s.age_s.is_none() {
        o.push(Style::Note, "  not read yet");
        return;
    }
    if s.caches.is_empty() {
        o.push(Style::Note, "  no cache changed since start");
        return;
    }
    o.push(
        Style::Body,
        format!(
            "  {:<24}{:>12}{:>11}{:>12}{:>12}{:>13}",
            "cache", "objects", "change", "bytes", "change", "per socket"
        ),
    );
    for c in &s.caches {
        let per = match (c.proc_scanner, c.per_socket_bytes) {
            (true, _) => "  (a /proc scanner's cache, not the sockets')".to_string(),
            (false, Some(b)) if c.proc_scanner_objects > 0 => format!(
                "{:>13}  (less {} objs, the /proc scanner's)",
                per_socket(b),
                thousands(c.proc_scanner_objects.unsigned_abs())
            ),
            (false, Some(b)) => format!("{:>13}", per_socket(b)),
            (false, None) => String::new(),
        };
        o.push(
            Style::Body,
            format!(
                "  {:<24}{:>12}{:>11}{:>12}{:>12}{per}",
                c.name,
                c.objects.map_or(String::new(), thousands),
                signed(c.objects_delta),
                c.bytes
                    .map_or(String::new(), |b| crate::report::bytes(b as f64)),
                size_delta(c.bytes_delta),
            ),
        );
    }
    if let Some(total) = s.total_bytes {
        let per = s.per_socket_bytes.map_or(String::new(), |b| {
            format!("{:>13} (less /proc-scanner caches)", per_socket(b))
        });
        o.push(
            Style::Body,
            format!(
                "  {:<24}{:>35}{:>12}{per}",
                "all caches",
                "",
                size_delta(total)
            ),
        );
    }
    if s.per_socket_bytes.is_none() {
        o.push(
            Style::Note,
            format!(
                "  per-socket figures once TCP sockets grow by {} since start",
                thousands(MIN_SOCKETS_PER_SOCKET as u64)
            ),
        );
    }
}

/// Bytes per socket, to the byte: `2,390 B`.
fn per_socket(b: f64) -> String {
    let sign = if b < 0.0 { "-" } else { "" };
    format!("{sign}{} B", thousands(b.abs().round() as u64))
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
