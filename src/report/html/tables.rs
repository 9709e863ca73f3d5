//! The page's tables: the headline cards, the summary (the text
//! summary's rows, from the document), and the plan.

use std::fmt::Write as _;

use serde_json::Value;

use super::svg::number;
use super::{J, Pt, charts, end_text, esc, failures, is_serve, kernel_per_socket};
use crate::report::{self, bytes};

pub(super) fn cards(o: &mut String, d: J) {
    let mut cards: Vec<(String, String, String)> = Vec::new();
    if let (Some(t), Some(r)) = (d.at("target").u64(), d.at("reached").u64()) {
        let pct = if t > 0 {
            100.0 * r as f64 / t as f64
        } else {
            0.0
        };
        let sub = if is_serve(d) {
            format!("cap {}", number(t as f64, 0))
        } else {
            format!("{pct:.1}% of {}", number(t as f64, 0))
        };
        cards.push(("connections held".into(), number(r as f64, 0), sub));
    }
    if let (Some(ttr), Some(r)) = (d.at("time_to_reach").f64(), d.at("reached").u64()) {
        let rate = r as f64 / ttr.max(1e-9);
        cards.push((
            "time to reach".into(),
            format!("{ttr:.2} s"),
            format!("{} conn/s average", number(rate, 0)),
        ));
    }
    let m = d.at("memory");
    if let Some(k) = kernel_per_socket(m) {
        cards.push((
            "kernel memory / socket".into(),
            bytes(k),
            format!(
                "slab, over {} sockets",
                number(m.at("sockets").f64().unwrap_or(0.0), 0)
            ),
        ));
    }
    if m.at("sockets").u64().unwrap_or(0) > 0 {
        let per = |side: &str| m.at(side).at("rss_per_conn").f64();
        if let (Some(s), Some(c)) = (per("servers"), per("clients")) {
            cards.push((
                "user memory / connection".into(),
                bytes(s + c),
                format!("RSS: servers {}, clients {}", bytes(s), bytes(c)),
            ));
        }
    }
    let failed: u64 = failures(d).iter().map(|r| r.2).sum();
    cards.push((
        "failures".into(),
        number(failed as f64, 0),
        if failed == 0 {
            "none".into()
        } else {
            "see errors by cause".into()
        },
    ));
    o.push_str("<section class=\"cards\">");
    for (k, v, sub) in cards {
        let _ = write!(
            o,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"sub\">{}</div></div>",
            esc(&k),
            esc(&v),
            esc(&sub)
        );
    }
    o.push_str("</section>\n");
}

fn row(o: &mut String, k: &str, v: &str) {
    let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
}

fn us(v: f64) -> String {
    if v < 1_000.0 {
        format!("{v:.0} µs")
    } else if v < 1_000_000.0 {
        format!("{:.1} ms", v / 1e3)
    } else {
        format!("{:.2} s", v / 1e6)
    }
}

fn percentiles(p: J) -> Option<String> {
    let g = |k: &str| p.at(k).f64().map_or("?".into(), us);
    p.present().then(|| {
        format!(
            "p50 {}, p90 {}, p99 {}, p99.9 {}, max {} ({} samples)",
            g("p50"),
            g("p90"),
            g("p99"),
            g("p999"),
            g("max"),
            number(p.at("count").f64().unwrap_or(0.0), 0)
        )
    })
}

/// The best one-second connection rate of the ramp, as the text summary
/// computes it.
fn peak_rate(tl: &[Pt]) -> Option<f64> {
    let ramp: Vec<(f64, f64)> = tl
        .iter()
        .filter(|p| p.phase == "ramp")
        .map(|p| (p.t, p.est))
        .collect();
    report::peak_rate_of(&ramp)
}

pub(super) fn summary(o: &mut String, d: J, tl: &[Pt]) {
    let n = |v: Option<u64>| v.map_or("not recorded".into(), |v| number(v as f64, 0));
    let (target, reached) = (d.at("target").u64(), d.at("reached").u64());
    if is_serve(d) {
        row(o, "cap (--max-conns)", &n(target));
        row(o, "most held at once", &n(reached));
    } else {
        row(o, "target", &n(target));
        let pct = match (target, reached) {
            (Some(t), Some(r)) if t > 0 => format!(" ({:.1}%)", 100.0 * r as f64 / t as f64),
            _ => String::new(),
        };
        row(o, "reached", &format!("{}{pct}", n(reached)));
    }
    match d.at("time_to_reach").f64() {
        Some(t) => {
            let rate = reached.unwrap_or(0) as f64 / t.max(1e-9);
            row(
                o,
                "time to reach",
                &format!("{t:.2} s ({} conn/s average)", number(rate, 0)),
            );
            if let Some(peak) = peak_rate(tl) {
                row(o, "peak rate (1 s)", &format!("{} conn/s", number(peak, 0)));
            }
        }
        None if !is_serve(d) => row(o, "time to reach", "not reached: the ramp did not finish"),
        None => {}
    }
    let lat = d.at("latency");
    if let Some(p) = percentiles(lat.at("connect")) {
        row(o, "connect time", &p);
    } else {
        let c = d.at("clients_at_top");
        if let (Some(sum), Some(max), Some(opened)) = (
            c.at("connect_us_sum").f64(),
            c.at("connect_us_max").f64(),
            c.at("opened").f64().filter(|&v| v > 0.0),
        ) {
            row(
                o,
                "connect time",
                &format!("avg {}, max {}", us(sum / opened), us(max)),
            );
        }
    }
    for (k, name) in [("first_byte", "first reply"), ("rtt", "round trip")] {
        if let Some(p) = percentiles(lat.at(k)) {
            row(o, name, &p);
        }
    }
    if let Some(s) = d.at("servers_at_top").at("established").u64()
        && d.at("servers_at_top").at("planned").u64().unwrap_or(0) > 0
    {
        row(o, "held by servers", &n(Some(s)));
    }
    let v = d.at("verified");
    if let Some(ok) = v.at("Ok").0 {
        let ok = J(Some(ok));
        row(
            o,
            "kernel count (netlink)",
            &format!(
                "{} server-side + {} client-side ESTABLISHED ({:.0} ms)",
                n(ok.at("server_side").u64()),
                n(ok.at("client_side").u64()),
                ok.at("took").f64().unwrap_or(0.0) * 1e3
            ),
        );
    } else if let Some(e) = v.at("Err").str() {
        row(o, "kernel count (netlink)", &format!("unavailable: {e}"));
    } else {
        row(o, "kernel count (netlink)", "not taken");
    }
    memory_rows(o, d.at("memory"));
    let fails = failures(d);
    if fails.is_empty() {
        row(o, "errors", "none");
    } else {
        let total: u64 = fails.iter().map(|r| r.2).sum();
        row(o, "errors", &number(total as f64, 0));
        for &(side, c, count) in &fails {
            let _ = write!(
                o,
                "<tr class=\"cause\"><th>{} {}</th><td><b>{}</b> <span class=\"why\">{}</span></td></tr>",
                esc(side),
                esc(&charts::cause_name(c)),
                esc(&number(count as f64, 0)),
                esc(charts::cause_explain(c))
            );
        }
    }
    let c = d.at("clients");
    if let Some(p) = c.at("peer_closed").u64().filter(|&p| p > 0) {
        row(o, "closed by the server", &n(Some(p)));
    }
    if let Some(r) = d.at("servers").at("rejected").u64().filter(|&r| r > 0) {
        row(o, "rejected at the server cap", &n(Some(r)));
    }
    if let Some(w) = d.at("workers").u64() {
        let closed = d.at("workers_closed").u64();
        row(
            o,
            "workers",
            &format!("{w} started, {} closed cleanly", n(closed)),
        );
    }
    for dead in d.at("dead").arr().iter().filter_map(Value::as_str) {
        row(o, "worker lost", dead);
    }
    if let Some(t) = d.at("teardown").f64() {
        row(o, "teardown", &format!("{t:.2} s"));
    }
    row(o, "end", &end_text(d));
}

fn memory_rows(o: &mut String, m: J) {
    if !m.present() {
        row(o, "memory", "not measured");
        return;
    }
    let (conns, sockets) = (
        m.at("conns").u64().unwrap_or(0),
        m.at("sockets").u64().unwrap_or(0),
    );
    if conns == 0 || sockets == 0 {
        row(o, "memory", "nothing held at the end to measure");
        return;
    }
    if let Some(k) = kernel_per_socket(m) {
        row(
            o,
            "kernel memory / socket",
            &format!(
                "{} (slab, over {} sockets)",
                bytes(k),
                number(sockets as f64, 0)
            ),
        );
    }
    if let Some(total) = m
        .at("slab_caches_total")
        .f64()
        .or(m.at("meminfo_slab").f64())
    {
        row(
            o,
            "kernel memory / connection",
            &bytes(total / conns as f64),
        );
    }
    if let Some(drop) = m.at("mem_available_drop").f64() {
        row(o, "MemAvailable drop / conn", &bytes(drop / conns as f64));
    }
    if let Some(p) = m.at("tcp_mem_pages").u64() {
        row(
            o,
            "tcp_mem at the top",
            &format!("{} pages", number(p as f64, 0)),
        );
    }
    for side in ["servers", "clients"] {
        let u = m.at(side);
        let Some(per) = u.at("rss_per_conn").f64() else {
            continue;
        };
        let pss = u.at("pss").f64().map_or(String::new(), |p| {
            format!(", PSS {}", bytes(p / conns as f64))
        });
        row(
            o,
            &format!("user memory / conn, {side}"),
            &format!(
                "{} RSS{pss} (total change {})",
                bytes(per),
                bytes(u.at("rss").f64().unwrap_or(0.0))
            ),
        );
    }
    if let Some(e) = m.at("slab_unreadable").str() {
        row(o, "slab caches", &format!("unreadable: {e}"));
    }
}

/// The memory report's baseline-to-top figures, per connection.
pub(super) fn measured_line(d: J) -> Option<String> {
    let m = d.at("memory");
    let conns = m.at("conns").u64().filter(|&c| c > 0)? as f64;
    m.at("sockets").u64().filter(|&s| s > 0)?;
    let slab = m.at("meminfo_slab").f64()?;
    let mut s = format!(
        "Baseline to top ({} connections): Slab {} per connection",
        number(conns, 0),
        bytes(slab / conns)
    );
    if let Some(a) = m.at("mem_available_drop").f64() {
        let _ = write!(s, ", MemAvailable drop {} per connection", bytes(a / conns));
    }
    s.push_str(". The chart below follows the timeline samples, from the first one taken.");
    Some(s)
}

pub(super) fn plan(o: &mut String, d: J) {
    let p = d.at("plan");
    if !p.present() {
        return;
    }
    o.push_str("<section><h2>Plan</h2><table class=\"summary\">");
    let strs = |k: &str| -> Vec<&str> { p.at(k).arr().iter().filter_map(Value::as_str).collect() };
    let list = |v: Vec<&str>| -> String {
        const SHOWN: usize = 8;
        let mut s = v.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
        if v.len() > SHOWN {
            let _ = write!(s, " … ({} in all)", number(v.len() as f64, 0));
        }
        s
    };
    if let Some(c) = p.at("conns").u64() {
        row(o, "connections planned", &number(c as f64, 0));
    }
    let eps = strs("endpoints");
    if !eps.is_empty() {
        row(o, "destinations", &list(eps));
    }
    let srcs = strs("sources");
    row(
        o,
        "sources",
        &if srcs.is_empty() {
            "the kernel's choice".into()
        } else {
            list(srcs)
        },
    );
    if let Some(b) = p.at("bind").str() {
        row(o, "bind mode", b);
    }
    if let (Some(f), Some(m)) = (p.at("families").u64(), p.at("per_family_max").u64())
        && f > 0
    {
        row(
            o,
            "(source, destination) pairs",
            &format!(
                "{}, at most {} connections each",
                number(f as f64, 0),
                number(m as f64, 0)
            ),
        );
    }
    if let Some(c) = p.at("capacity").u64() {
        let why = p.at("capacity_why").str().filter(|s| !s.is_empty());
        let text = match why {
            Some(w) => format!("{} = {w}", number(c as f64, 0)),
            None => number(c as f64, 0),
        };
        row(o, "4-tuple capacity", &text);
    }
    let (c, s) = (p.at("clients").arr().len(), p.at("servers").arr().len());
    if c + s > 0 {
        row(o, "worker shares", &format!("{s} server, {c} client"));
    }
    for w in p.at("warnings").arr().iter().filter_map(Value::as_str) {
        row(o, "warning", w);
    }
    o.push_str("</table></section>\n");
}

/// A warning when the TCP slab caches changed by a different number of
/// objects than the sockets the experiment held: the kernel's accounting
/// is machine-wide, so something else opened or closed sockets meanwhile
/// and the memory figures are not this experiment's alone.
pub(super) fn slab_disagrees(d: J) -> Option<String> {
    let m = d.at("memory");
    let sockets = m.at("sockets").u64().filter(|&s| s > 0)? as f64;
    let rows: Vec<J> = m
        .at("slab_caches")
        .arr()
        .iter()
        .map(|c| J(Some(c)))
        .filter(|c| matches!(c.at("name").str(), Some("TCP" | "TCPv6")))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let objects: f64 = rows.iter().filter_map(|c| c.at("objects").f64()).sum();
    let off = (objects - sockets).abs() / sockets;
    (off > SLAB_TOLERANCE).then(|| {
        format!(
            "Caution: the TCP slab caches changed by {} objects while the experiment held {} sockets. \
             Slab and MemAvailable are machine-wide: something else on this machine opened or closed \
             sockets during the run, so the memory figures below are not this experiment's alone.",
            number(objects, 0),
            number(sockets, 0)
        )
    })
}

/// How far the TCP caches' object count may stray from the sockets held.
const SLAB_TOLERANCE: f64 = 0.1;
