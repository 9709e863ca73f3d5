//! The HTML report: one self-contained page (inline CSS, inline SVG drawn
//! here, no script, no external link) that reads in light and dark.
//!
//! It is rendered from the JSON document (`c1m.report/1`, described by
//! `schema/report.schema.json`), never from the Rust types, so a report
//! file written by an older c1m renders the same way, and the page shows
//! only what the published format holds. Any field may be missing or null:
//! the page shows what exists and says what does not. Its content security
//! policy forbids every load and script, so a browser reports (and blocks)
//! anything that would make the page less than self-contained.

mod charts;
mod svg;
mod tables;

use std::fmt::Write as _;

use anyhow::bail;
use serde_json::Value;

use crate::report;
use crate::report::model::PROC_SCAN_CACHES;
use svg::number;

/// Renders a JSON report (`c1m.report/1`) as a self-contained HTML page.
/// Fails only for a document that is not a c1m report of this version.
pub fn render(r: &crate::report::model::Report) -> anyhow::Result<String> {
    render_value(&serde_json::to_value(r)?)
}

/// Renders a JSON report as a page (being moved to the typed report).
pub(crate) fn render_value(doc: &Value) -> anyhow::Result<String> {
    if !doc.is_object() {
        bail!("not a c1m report: the document is not a JSON object");
    }
    let d = J(Some(doc));
    match d.at("schema").str() {
        Some(report::model::SCHEMA) => {}
        Some(other) => bail!(
            "not a {} report: its schema is {other:?}",
            report::model::SCHEMA
        ),
        None => bail!("not a c1m report: no \"schema\" field"),
    }
    let tl = timeline(d);
    let label = d.at("label").str().unwrap_or("report");
    let mut o = String::with_capacity(64 * 1024);
    let title = format!("c1m {label}: {}", headline(d));
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    let _ = writeln!(
        o,
        "<header><h1>c1m <span class=\"label\">{}</span></h1><p class=\"headline\">{}</p><p class=\"end {}\">{}</p></header>",
        esc(label),
        esc(&headline(d)),
        end_class(d),
        esc(&end_text(d))
    );
    let missing = missing(d, &tl);
    if !missing.is_empty() {
        o.push_str("<section class=\"missing\"><h2>Not in this report</h2><ul>");
        for m in &missing {
            let _ = write!(o, "<li>{}</li>", esc(m));
        }
        o.push_str("</ul></section>\n");
    }
    tables::cards(&mut o, d);
    o.push_str("<section><h2>Summary</h2><table class=\"summary\">");
    tables::summary(&mut o, d, &tl);
    o.push_str("</table></section>\n");
    o.push_str("<section><h2>Connections</h2>");
    figure(&mut o, "connections", charts::connections(d, &tl));
    figure(&mut o, "rate", charts::rate(d, &tl));
    if tl.iter().any(|p| p.rtt_p50.is_some()) {
        o.push_str("</section>\n<section><h2>Latency</h2>");
        figure(&mut o, "latency", charts::latency(&tl));
    }
    o.push_str("</section>\n<section><h2>Memory</h2>");
    if let Some(w) = tables::slab_disagrees(d) {
        let _ = write!(o, "<p class=\"caution\">{}</p>", esc(&w));
    }
    if let Some(line) = tables::measured_line(d) {
        let _ = write!(o, "<p class=\"lede\">{}</p>", esc(&line));
    }
    figure(&mut o, "memory", charts::memory(&tl));
    figure(&mut o, "slab", charts::slab(d));
    o.push_str("</section>\n<section><h2>Errors</h2>");
    match charts::errors(d) {
        Some(f) => figure(&mut o, "errors", f),
        None => o.push_str("<p class=\"lede\">No connection failed.</p>"),
    }
    o.push_str("</section>\n");
    tables::plan(&mut o, d);
    let _ = write!(
        o,
        "<footer>Rendered by c1m {} from a <code>{}</code> JSON report.</footer>\n</main>\n</body>\n</html>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(report::model::SCHEMA)
    );
    Ok(o)
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A possibly missing JSON value, read without panicking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct J<'a>(Option<&'a Value>);

impl<'a> J<'a> {
    fn at(self, k: &str) -> J<'a> {
        J(self.0.and_then(|v| v.get(k)))
    }
    fn u64(self) -> Option<u64> {
        self.0?.as_u64()
    }
    fn i64(self) -> Option<i64> {
        self.0?.as_i64()
    }
    fn f64(self) -> Option<f64> {
        self.0?.as_f64().filter(|v| v.is_finite())
    }
    fn str(self) -> Option<&'a str> {
        self.0?.as_str()
    }
    fn arr(self) -> &'a [Value] {
        self.0
            .and_then(Value::as_array)
            .map_or(&[], |v| v.as_slice())
    }
    /// Neither missing nor null.
    fn present(self) -> bool {
        self.0.is_some_and(|v| !v.is_null())
    }
}

/// One timeline sample, as the charts need it.
#[derive(Debug, Clone)]
pub(crate) struct Pt<'a> {
    t: f64,
    phase: &'a str,
    est: f64,
    srv: f64,
    failed: f64,
    avail: Option<f64>,
    slab: Option<f64>,
    rss: Option<f64>,
    /// Round trips since the previous sample, microseconds.
    rtt_p50: Option<f64>,
    rtt_p99: Option<f64>,
    rtt_max: Option<f64>,
}

/// The samples that have a time, in order.
fn timeline(d: J<'_>) -> Vec<Pt<'_>> {
    let mut tl: Vec<Pt> = d
        .at("timeline")
        .arr()
        .iter()
        .filter_map(|s| {
            let s = J(Some(s));
            Some(Pt {
                t: s.at("t").f64()?,
                phase: s.at("phase").str().unwrap_or("?"),
                est: s.at("established").f64().unwrap_or(0.0),
                srv: s.at("server_established").f64().unwrap_or(0.0),
                failed: s.at("failed").f64().unwrap_or(0.0),
                avail: s.at("mem_available").f64(),
                slab: s.at("slab").f64(),
                rss: s.at("rss").f64(),
                rtt_p50: s.at("rtt_p50_us").f64(),
                rtt_p99: s.at("rtt_p99_us").f64(),
                rtt_max: s.at("rtt_max_us").f64(),
            })
        })
        .collect();
    tl.sort_by(|a, b| a.t.total_cmp(&b.t));
    tl
}

/// Whether the report has a client side and a server side to draw.
pub(crate) fn sides(d: J, tl: &[Pt]) -> (bool, bool) {
    let clients = !d.at("plan").at("clients").arr().is_empty()
        || d.at("clients_at_top").at("planned").u64().unwrap_or(0) > 0
        || tl.iter().any(|p| p.est > 0.0);
    let servers = !d.at("plan").at("servers").arr().is_empty()
        || d.at("servers_at_top").at("planned").u64().unwrap_or(0) > 0
        || tl.iter().any(|p| p.srv > 0.0);
    (clients, servers)
}

fn is_serve(d: J) -> bool {
    d.at("plan").present() && d.at("plan").at("clients").arr().is_empty()
}

/// Kernel slab bytes per socket, less the /proc scanner's caches (as
/// `MemoryReport::kernel_per_socket`).
pub(crate) fn kernel_per_socket(m: J) -> Option<f64> {
    let total = m
        .at("slab_caches_total")
        .i64()
        .or(m.at("meminfo_slab").i64())?;
    let scan: i64 = m
        .at("slab_caches")
        .arr()
        .iter()
        .filter(|c| PROC_SCAN_CACHES.contains(&J(Some(c)).at("name").str().unwrap_or("")))
        .filter_map(|c| J(Some(c)).at("bytes").i64())
        .sum();
    let sockets = m.at("sockets").u64().unwrap_or(0);
    (sockets > 0).then(|| (total - scan) as f64 / sockets as f64)
}

/// Failures as (side, cause index, count), most first: the larger of the
/// final and at-the-top counters (they only grow, unless a worker died).
pub(crate) fn failures(d: J) -> Vec<(&'static str, usize, u64)> {
    let mut rows = Vec::new();
    for (side, fin, top) in [
        ("client", "clients", "clients_at_top"),
        ("server", "servers", "servers_at_top"),
    ] {
        let (a, b) = (d.at(fin).at("failed").arr(), d.at(top).at("failed").arr());
        for i in 0..a.len().max(b.len()) {
            let n = |v: &[Value]| v.get(i).and_then(Value::as_u64).unwrap_or(0);
            let count = n(a).max(n(b));
            if count > 0 {
                rows.push((side, i, count));
            }
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    rows
}

fn headline(d: J) -> String {
    let (target, reached) = (d.at("target").u64(), d.at("reached").u64());
    match (target, reached) {
        (Some(t), Some(r)) if is_serve(d) => {
            format!(
                "held at most {} connections (cap {})",
                number(r as f64, 0),
                number(t as f64, 0)
            )
        }
        (Some(t), Some(r)) => format!(
            "{} of {} connections",
            number(r as f64, 0),
            number(t as f64, 0)
        ),
        (None, Some(r)) => format!("{} connections", number(r as f64, 0)),
        (Some(t), None) => format!("target {} connections", number(t as f64, 0)),
        (None, None) => "report".into(),
    }
}

fn end_text(d: J) -> String {
    let e = d.at("end");
    if let Some(s) = e.str() {
        return s.to_string();
    }
    if let Some(sig) = e.at("interrupted").i64() {
        let name = i32::try_from(sig).map_or("a signal", c1m_sys::process::signal_name);
        return format!("interrupted by {name}");
    }
    if let Some(w) = e.at("worker-died").str() {
        return format!("stopped: {w}");
    }
    match e.0 {
        Some(v) => format!("ended: {v}"),
        None => "how it ended is not recorded".into(),
    }
}

fn end_class(d: J) -> &'static str {
    match d.at("end").str() {
        Some("completed") => {
            let short = !is_serve(d)
                && d.at("reached").u64().unwrap_or(0) < d.at("target").u64().unwrap_or(0);
            if short { "warn" } else { "ok" }
        }
        _ => "bad",
    }
}

/// What a reader might expect and this report lacks.
fn missing(d: J, tl: &[Pt]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, what) in [
        ("target", "the target"),
        ("reached", "the count reached"),
        ("plan", "the plan"),
    ] {
        if !d.at(k).present() {
            out.push(format!("{what} (`{k}`)"));
        }
    }
    if !d.at("verified").present() {
        out.push("The kernel's count of established sockets (`verified` is null): the experiment ended before it could be taken.".into());
    }
    if !d.at("memory").present() {
        out.push("Memory measurements (`memory` is null): the experiment ended before its top, so nothing was compared with the baseline.".into());
    }
    if tl.is_empty() {
        out.push("Timeline samples: the connection, rate and memory charts are left out.".into());
    }
    out
}

fn figure(o: &mut String, id: &str, f: charts::Figure) {
    match f {
        Ok(svg) => {
            let _ = write!(o, "<figure id=\"chart-{}\">{svg}</figure>", esc(id));
        }
        Err(why) => {
            let _ = write!(
                o,
                "<figure id=\"chart-{}\" class=\"none\"><p>No chart: {}.</p></figure>",
                esc(id),
                esc(&why)
            );
        }
    }
}

const CSS: &str = include_str!("report.css");

#[cfg(test)]
mod tests;
