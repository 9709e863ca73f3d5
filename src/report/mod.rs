//! What an experiment tells its user. The session fills one typed
//! [`model::Report`]; [`judge`] decides what was held and whether the run
//! did what was asked; [`rows`] turns the report into the summary's rows
//! once, which [`text`] prints and [`html`] lays out; the JSON is the
//! report itself, serialized.
//!
//! **Invariant:** no renderer reads the JSON by string keys, and no row
//! of the summary is written twice: both renderers take [`rows::summary`].

pub mod html;
pub mod judge;
pub mod model;
pub mod rows;
pub mod text;

use std::path::Path;

use anyhow::Context;

use crate::latency::{Latency, Percentiles};
use crate::traffic::Traffic;
use model::{LatencyReport, Report, TrafficSummary};

/// Writes the JSON report to `path`.
pub fn write_json(path: &Path, r: &Report) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(r)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("writing the report to {}", path.display()))
}

/// Writes the HTML report to `path`.
pub fn write_html(path: &Path, r: &Report) -> anyhow::Result<()> {
    let page = html::render(r)?;
    std::fs::write(path, page)
        .with_context(|| format!("writing the HTML report to {}", path.display()))
}

/// Reads a JSON report back; fails for anything that is not a
/// `c1m.report/2` document, naming what is wrong.
pub fn read_json(text: &str) -> anyhow::Result<Report> {
    let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(model::SCHEMA) => {}
        Some(other) => anyhow::bail!("not a {} report: its schema is {other:?}", model::SCHEMA),
        None => anyhow::bail!("not a c1m report: no \"schema\" field"),
    }
    serde_json::from_value(v).context("a c1m.report/2 document that does not match its schema")
}

impl TrafficSummary {
    /// The traffic settings in a reader's words.
    pub fn of(t: &Traffic) -> Self {
        let show = |b: &[u8]| b.escape_ascii().to_string();
        Self {
            mode: t.mode,
            interval_ms: t.interval.as_millis() as u64,
            message: show(&t.message),
            expect: t.expect.as_deref().map(show),
        }
    }
}

impl LatencyReport {
    /// Percentiles of every histogram (`lost` left at 0).
    pub fn of(l: &Latency) -> Self {
        Self {
            connect: Percentiles::of(&l.connect),
            first_byte: Percentiles::of(&l.first_byte),
            rtt: Percentiles::of(&l.rtt),
            lost: 0,
        }
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

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(3993.6), "3.9 KiB");
        assert_eq!(bytes(-2048.0), "-2.0 KiB");
        assert_eq!(bytes(3.2 * 1024.0 * 1024.0 * 1024.0), "3.2 GiB");
    }

    #[test]
    fn peak_rate_over_one_second_windows() {
        let pts: Vec<(f64, f64)> = (0..=8)
            .map(|i| {
                (
                    i as f64 * 0.25,
                    [0.0, 10.0, 20.0, 30.0, 40.0, 100.0, 200.0, 300.0, 400.0][i],
                )
            })
            .collect();
        // From t=1.0 (40) to t=2.0 (400): 360/s.
        assert_eq!(peak_rate_of(&pts), Some(360.0));
        assert_eq!(peak_rate_of(&pts[..2]), None);
    }
}
