//! The HTML report: one self-contained page (inline CSS, inline SVG drawn
//! here, no script, no external load) that reads in light and dark.
//!
//! It is rendered from the typed report ([`Report`]), the same value the
//! JSON holds, so a saved report renders again once read back with
//! [`crate::report::read_json`]. The summary table is the text summary's
//! rows ([`rows::summary`]) laid out as HTML; the cards, the server-side
//! tables and the charts read the report's fields. The page's content
//! security policy forbids every load and script, so a browser reports
//! (and blocks) anything that would make it less than self-contained.
//!
//! **Invariant:** no lookup by string key, no second copy of a summary
//! row, and every text that comes from the report goes through [`esc`].

mod charts;
mod staged;
mod svg;
mod tables;

use std::fmt::Write as _;

use crate::plan::thousands;
use crate::report::model::{CommandKind, End, KernelCount, Report, SCHEMA};
use crate::report::rows;

/// Renders a report as a self-contained HTML page.
///
/// Never fails for a report that deserialized: every figure the report
/// may lack (null memory, a count not taken, an empty timeline) is said
/// in words instead. The `Result` is for the callers' `?`.
pub fn render(r: &Report) -> anyhow::Result<String> {
    let mut o = String::with_capacity(64 * 1024);
    let headline = headline(r);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&format!("c1m {}: {headline}", r.label))
    );
    header(&mut o, r, &headline);
    let missing = missing(r);
    if !missing.is_empty() {
        o.push_str("<section class=\"missing\"><h2>Not in this report</h2><ul>");
        for m in &missing {
            let _ = write!(o, "<li>{}</li>", esc(m));
        }
        o.push_str("</ul></section>\n");
    }
    tables::cards(&mut o, r);
    o.push_str("<section><h2>Summary</h2>");
    tables::summary(&mut o, r);
    o.push_str("</section>\n<section><h2>Connections</h2>");
    figure(&mut o, "connections", charts::connections(r));
    figure(&mut o, "rate", charts::rate(r));
    if let Some(f) = staged::reconnects(r) {
        figure(&mut o, "reconnects", f);
    }
    o.push_str("</section>\n<section><h2>Server side</h2>");
    tables::server_side(&mut o, r);
    figure(&mut o, "at-end", charts::at_end(r));
    match charts::closes(r) {
        Some(f) => figure(&mut o, "closes", f),
        None => o.push_str("<p class=\"lede\">The server closed no established connection.</p>"),
    }
    tables::listen_counters(&mut o, r);
    if r.timeline.iter().any(|s| s.rtt_p50_us.is_some()) {
        o.push_str("</section>\n<section><h2>Latency</h2>");
        figure(&mut o, "latency", charts::latency(r));
    }
    o.push_str("</section>\n<section><h2>Memory</h2>");
    if let Some(caution) = r.memory.as_ref().and_then(rows::slab_caution) {
        let _ = write!(o, "<p class=\"caution\">Caution: {}.</p>", esc(&caution));
    }
    o.push_str(
        "<p class=\"lede\">Machine-wide readings against connections held, as changes since the first sample; the per-socket figures are in the summary.</p>",
    );
    figure(&mut o, "memory", charts::memory(r));
    figure(&mut o, "slab", charts::slab(r));
    o.push_str("</section>\n<section><h2>Errors</h2>");
    match charts::errors(r) {
        Some(f) => figure(&mut o, "errors", f),
        None => o.push_str("<p class=\"lede\">No connection failed.</p>"),
    }
    o.push_str("</section>\n");
    tables::plan(&mut o, r);
    let _ = write!(
        o,
        "<footer>Rendered by c1m {} from a <code>{}</code> report.</footer>\n</main>\n</body>\n</html>\n",
        esc(env!("CARGO_PKG_VERSION")),
        esc(SCHEMA)
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

/// The page's one-line answer: what was held at the end, of what.
fn headline(r: &Report) -> String {
    let h = &r.held;
    match (r.command, &r.find_limit) {
        (CommandKind::Serve, _) => format!(
            "{} connections held at the end (most at once {}, cap {})",
            thousands(h.at_end),
            thousands(h.reached),
            thousands(r.target)
        ),
        (_, Some(f)) => format!(
            "limit: {} connections held by the server ({})",
            thousands(f.break_point),
            tables::json_name(&f.diagnosis.limit)
        ),
        _ => format!(
            "{} of {} connections held at the end",
            thousands(h.at_end),
            thousands(r.target)
        ),
    }
}

/// The title, the headline, the verdict with its reason and exit code,
/// and how the experiment ended.
fn header(o: &mut String, r: &Report, headline: &str) {
    let v = &r.verdict;
    let (class, word) = if v.ok { ("ok", "OK") } else { ("bad", "FAIL") };
    let end_class = match r.end {
        End::Completed => "ok",
        End::Interrupted { .. } => "warn",
        End::WorkerDied { .. } | End::Aborted { .. } => "bad",
    };
    let _ = writeln!(
        o,
        "<header><h1>c1m <span class=\"label\">{}</span></h1><p class=\"headline\">{}</p>\
         <p class=\"verdict {class}\"><b>{word}</b> <span class=\"code\">exit code {}</span>{}</p>\
         <p class=\"end {end_class}\">{}</p></header>",
        esc(&r.label),
        esc(headline),
        v.exit_code,
        v.reason.as_deref().map_or(String::new(), |why| format!(
            " <span class=\"reason\">{}</span>",
            esc(why)
        )),
        esc(&rows::end_line(&r.end))
    );
}

/// What a reader might expect and this report lacks.
fn missing(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(r.kernel.at_top, KernelCount::NotTaken) {
        out.push("The kernel's count at the top (`kernel.at_top` was not taken): the experiment ended before the ramp did.".into());
    }
    if matches!(r.kernel.at_end, KernelCount::NotTaken) {
        out.push("The kernel's count at the end of the hold (`kernel.at_end` was not taken): the experiment ended before it, so what was held at the end is the workers' count.".into());
    }
    if r.memory.is_none() {
        out.push("Memory measurements (`memory` is null): the experiment ended before its top, so nothing was compared with the baseline.".into());
    }
    if r.timeline.is_empty() {
        out.push(
            "Timeline samples (`timeline` is empty): the connection, rate and memory charts are left out."
                .into(),
        );
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
