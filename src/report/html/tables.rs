//! The page's tables: the headline cards, the summary (the text
//! summary's rows), the server side, the listen counters and the plan.

use std::fmt::Write as _;

use serde::Serialize;

use super::esc;
use crate::latency::human_us;
use crate::plan::thousands;
use crate::report::bytes;
use crate::report::model::{CommandKind, CountSource, Report, Seen, ThresholdStatus};
use crate::report::rows::{self, Tone};

/// A unit enum's name as the JSON writes it (`no-port`, `server-cap`),
/// from its serde attributes, so the page and the JSON use one name.
pub(super) fn json_name<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).map_or_else(|_| "?".into(), |s| s.trim_matches('"').to_string())
}

/// `12.5%` of `of`, or nothing when `of` is 0.
fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return String::new();
    }
    format!("{:.1}%", 100.0 * n as f64 / of as f64)
}

/// One card: a figure, what it is, a line under it, and figures beside it.
struct Card {
    key: &'static str,
    value: String,
    sub: String,
    /// `ok`, `warn`, `bad`, or empty.
    tone: &'static str,
    /// (what, figure) pairs shown beside the value.
    beside: Vec<(&'static str, String)>,
}

impl Card {
    fn new(key: &'static str, value: String, sub: String) -> Self {
        Card {
            key,
            value,
            sub,
            tone: "",
            beside: Vec::new(),
        }
    }
    fn tone(mut self, tone: &'static str) -> Self {
        self.tone = tone;
        self
    }
}

/// The headline card (held at the end, against the target; red when the
/// verdict failed; reached and the fewest in the hold beside it), then
/// the figures a reader looks for next.
pub(super) fn cards(o: &mut String, r: &Report) {
    let h = &r.held;
    let source = match h.source {
        CountSource::Kernel => "ESTABLISHED, the kernel's count",
        CountSource::Workers => "the workers' count (the kernel's was unavailable)",
    };
    let of = if r.command == CommandKind::Serve {
        format!("cap {}", thousands(r.target))
    } else {
        let what = if r.command == CommandKind::FindLimit {
            "most to try"
        } else {
            "target"
        };
        format!(
            "of {} {what} ({})",
            thousands(r.target),
            pct(h.at_end, r.target)
        )
    };
    let mut held = Card::new(
        "held at the end",
        thousands(h.at_end),
        format!("{of} · {source}"),
    )
    .tone(if r.verdict.ok { "ok" } else { "bad" });
    held.beside
        .push(("reached (most at once)", thousands(h.reached)));
    // A serve's hold starts before anyone connects: its lowest sample
    // says nothing (the summary leaves it out too).
    if r.command != CommandKind::Serve
        && let Some(m) = h.min_during_hold
    {
        held.beside.push(("fewest held in the hold", thousands(m)));
    }
    let mut cards = vec![held];
    if !r.thresholds.is_empty() {
        let failed: Vec<String> = r
            .thresholds
            .iter()
            .filter(|t| t.status != ThresholdStatus::Pass)
            .map(|t| t.threshold.to_string())
            .collect();
        let n = r.thresholds.len();
        let card = match failed.len() {
            0 => Card::new(
                "thresholds",
                format!("{n} of {n} passed"),
                "--fail-if".into(),
            )
            .tone("ok"),
            f => Card::new(
                "thresholds",
                format!("{f} of {n} failed"),
                format!("--fail-if {}", failed.join(" · ")),
            )
            .tone("bad"),
        };
        cards.push(card);
    }
    if let Some(f) = &r.find_limit {
        cards.push(
            Card::new(
                "limit found",
                thousands(f.break_point),
                format!("held by the server · {}", json_name(&f.diagnosis.limit)),
            )
            .tone("ok"),
        );
    }
    let s = &r.server_side;
    if let (Seen::Local, Some(a), Some(w)) = (s.seen, s.accepted, s.waiting) {
        cards.push(
            Card::new(
                "server app accepted",
                thousands(a),
                format!("{} waiting in accept queues", thousands(w)),
            )
            .tone(if w > 0 { "bad" } else { "" }),
        );
    }
    if let Some(p) = r.phantoms.as_ref().filter(|p| p.count > 0) {
        cards.push(
            Card::new(
                "only on the client",
                thousands(p.count),
                "the server never created them".into(),
            )
            .tone("bad"),
        );
    }
    let c = &r.closes;
    if c.total() > 0 {
        cards.push(
            Card::new(
                "closed by the server",
                thousands(c.total()),
                format!(
                    "FIN {} · data, then FIN {} · RST {}",
                    thousands(c.fin),
                    thousands(c.fin_with_data),
                    thousands(c.rst)
                ),
            )
            .tone("bad"),
        );
    }
    if let Some(t) = r.time_to_reach.filter(|_| h.reached > 0) {
        cards.push(Card::new(
            "time to reach",
            format!("{t:.2} s"),
            format!(
                "{} conn/s average",
                thousands((h.reached as f64 / t.max(1e-9)).round() as u64)
            ),
        ));
    }
    if let Some(m) = &r.memory
        && let Some(per) = rows::kernel_per_socket(m)
    {
        cards.push(Card::new(
            "kernel memory / socket",
            bytes(per),
            format!("slab, over {} sockets", thousands(m.sockets)),
        ));
    }
    if let Some(p) = &r.latency.rtt {
        cards.push(Card::new(
            "round trip p99",
            human_us(p.p99),
            format!(
                "p50 {} · {} samples · {} lost",
                human_us(p.p50),
                thousands(p.count),
                thousands(r.latency.lost)
            ),
        ));
    }
    let failed = r.clients.failed.total() + r.servers.failed.total();
    cards.push(
        Card::new(
            "failures",
            thousands(failed),
            if failed == 0 {
                "none".into()
            } else {
                "see errors by cause".into()
            },
        )
        .tone(if failed > 0 { "bad" } else { "" }),
    );
    o.push_str("<section class=\"cards\">");
    for (i, c) in cards.iter().enumerate() {
        let wide = if i == 0 { " wide" } else { "" };
        let _ = write!(
            o,
            "<div class=\"card{wide} {}\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"sub\">{}</div>",
            c.tone,
            esc(c.key),
            esc(&c.value),
            esc(&c.sub)
        );
        if !c.beside.is_empty() {
            o.push_str("<dl>");
            for (k, v) in &c.beside {
                let _ = write!(o, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(v));
            }
            o.push_str("</dl>");
        }
        o.push_str("</div>");
    }
    o.push_str("</section>\n");
}

/// The text summary's rows as a table: the tone a CSS class, detail rows
/// indented.
pub(super) fn summary(o: &mut String, r: &Report) {
    o.push_str("<table class=\"summary\">");
    for row in rows::summary(r) {
        let tone = match row.tone {
            Tone::Plain => "plain",
            Tone::Good => "good",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
        };
        let detail = if row.detail { " detail" } else { "" };
        // Rows align their figures with spaces for the terminal.
        let value = row.value.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = write!(
            o,
            "<tr class=\"{tone}{detail}\"><th>{}</th><td>{}</td></tr>",
            esc(&row.key),
            esc(&value)
        );
    }
    o.push_str("</table>");
}

fn row(o: &mut String, k: &str, v: &str) {
    let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
}

/// What the server side holds, its listeners' accept queues, and
/// connections only the client has.
pub(super) fn server_side(o: &mut String, r: &Report) {
    let s = &r.server_side;
    let lede = match (s.seen, s.established, s.accepted, s.waiting) {
        (Seen::Local, Some(e), Some(a), Some(w)) => format!(
            "At the end of the hold, {} connections were ESTABLISHED on the target endpoints: the server application had accepted {} and {} waited unaccepted in its listeners' accept queues.",
            thousands(e),
            thousands(a),
            thousands(w)
        ),
        (Seen::Local, ..) => "The server's listeners are visible from here.".into(),
        (Seen::Remote, ..) => "The server is not visible from here (another host or network namespace): every figure is the client's. What the server application accepted, what waits in its accept queues, and connections it never created cannot be seen.".into(),
    };
    let _ = write!(o, "<p class=\"lede\">{}</p>", esc(&lede));
    if let Some(p) = r.phantoms.as_ref().filter(|p| p.count > 0) {
        let mut text = format!(
            "{} connections exist only on the client: the server never created them.",
            thousands(p.count)
        );
        for line in [&p.cause, &p.fix].into_iter().flatten() {
            let _ = write!(text, " {line}.");
        }
        let _ = write!(o, "<p class=\"caution bad\">{}</p>", esc(&text));
    }
    if s.listeners.is_empty() {
        return;
    }
    // SO_REUSEPORT groups: one row per address, its sockets summed.
    let mut groups: Vec<(std::net::SocketAddr, u64, u64, u32)> = Vec::new();
    for l in &s.listeners {
        match groups.iter_mut().find(|g| g.0 == l.addr) {
            Some(g) => {
                g.1 += 1;
                g.2 += u64::from(l.accept_queue);
                g.3 = g.3.max(l.backlog);
            }
            None => groups.push((l.addr, 1, l.accept_queue.into(), l.backlog)),
        }
    }
    o.push_str(
        "<table class=\"grid\" id=\"listeners\"><caption>The target endpoints' listeners at the end</caption>\
         <tr><th>address</th><th>listening sockets</th><th>waiting in the accept queue</th><th>backlog (each)</th></tr>",
    );
    for (addr, n, queue, backlog) in groups {
        let full = if queue > 0 { " class=\"bad\"" } else { "" };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td{full}>{}</td><td>{}</td></tr>",
            esc(&addr.to_string()),
            thousands(n),
            thousands(queue),
            thousands(backlog.into())
        );
    }
    o.push_str("</table>");
}

/// The listen-queue counters' changes over the experiment, every one,
/// those that moved marked.
pub(super) fn listen_counters(o: &mut String, r: &Report) {
    let Some(k) = &r.listen_counters else {
        o.push_str("<p class=\"lede\">The listen-queue counters (<code>/proc/net/netstat</code>) could not be read.</p>");
        return;
    };
    o.push_str(
        "<table class=\"grid\" id=\"listen-counters\"><caption>Listen-queue counters, change over the experiment (<code>TcpExt</code> of <code>/proc/net/netstat</code>)</caption>\
         <tr><th>counter</th><th>change</th></tr>",
    );
    for (name, n) in rows::listen_counters(k) {
        let (moved, change) = if n > 0 {
            (" class=\"warn\"", format!("+{}", thousands(n)))
        } else {
            ("", "0".into())
        };
        let _ = write!(
            o,
            "<tr{moved}><td><code>{}</code></td><td>{change}</td></tr>",
            esc(name)
        );
    }
    o.push_str("</table>");
}

pub(super) fn plan(o: &mut String, r: &Report) {
    let p = &r.plan;
    o.push_str("<section><h2>Plan</h2><table class=\"summary\">");
    let list = |v: Vec<String>| -> String {
        const SHOWN: usize = 8;
        let mut s = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > SHOWN {
            let _ = write!(s, " … ({} in all)", thousands(v.len() as u64));
        }
        s
    };
    row(o, "connections planned", &thousands(p.conns));
    if !p.endpoints.is_empty() {
        row(
            o,
            "destinations",
            &list(p.endpoints.iter().map(|e| e.to_string()).collect()),
        );
    }
    let sources = if p.sources.is_empty() {
        "the kernel's choice".into()
    } else {
        list(p.sources.iter().map(|s| s.to_string()).collect())
    };
    row(o, "sources", &sources);
    row(o, "bind mode", &json_name(&p.bind));
    if p.pairs > 0 {
        row(
            o,
            "(source, destination) pairs",
            &format!(
                "{}, at most {} connections each",
                thousands(p.pairs),
                thousands(p.per_pair_max)
            ),
        );
    }
    let capacity = if p.capacity_why.is_empty() {
        thousands(p.capacity)
    } else {
        format!("{} = {}", thousands(p.capacity), p.capacity_why)
    };
    row(o, "4-tuple capacity", &capacity);
    if !p.clients.is_empty() || !p.servers.is_empty() {
        row(
            o,
            "worker shares",
            &format!("{} server, {} client", p.servers.len(), p.clients.len()),
        );
    }
    for w in &p.warnings {
        row(o, "warning", w);
    }
    o.push_str("</table></section>\n");
}
