//! The report's charts, each built from the JSON document alone. A chart
//! that has nothing to draw says why instead.

use super::svg::{Band, Bar, BarChart, LineChart, Series, number};
use super::{J, Pt, sides};
use crate::cause::Cause;
use crate::report::bytes;
use crate::report::model::PROC_SCAN_CACHES;

/// A drawn chart, or why there is none.
pub type Figure = Result<String, String>;

/// Rates are taken over windows of at least this many seconds, and at
/// least 1/40 of the time drawn: workers report their counters about four
/// times a second, so shorter windows only show when the reports came.
const RATE_WINDOW: (f64, f64) = (0.5, 2.0);

/// When the ramp began, seconds since the start: the last ramp sample is
/// taken when the ramp is seen done, `time_to_reach` after the ramp began.
/// A derived estimate, so it is used only where it is consistent.
pub fn ramp_start(doc: J, tl: &[Pt]) -> Option<f64> {
    let ttr = doc.at("time_to_reach").f64()?;
    let first = tl.iter().find(|p| p.phase == "ramp")?.t;
    let last = tl.iter().rev().find(|p| p.phase == "ramp")?.t;
    let s = last - ttr;
    (s >= 0.0 && s <= first).then_some(s)
}

/// The phases as shaded stretches: each runs from the end of the one
/// before (or the ramp's start) to its last sample.
pub fn bands(tl: &[Pt], start: Option<f64>) -> Vec<Band> {
    let mut out: Vec<Band> = Vec::new();
    let mut i = 0;
    while i < tl.len() {
        let phase = tl[i].phase;
        let mut j = i;
        while j + 1 < tl.len() && tl[j + 1].phase == phase {
            j += 1;
        }
        let x0 = match out.last() {
            Some(b) => b.x1,
            None if phase == "ramp" => start.unwrap_or(tl[i].t),
            None => tl[i].t,
        };
        let class = match phase {
            "ramp" => "band-ramp",
            "hold" => "band-hold",
            "teardown" => "band-teardown",
            _ => "band-other",
        };
        out.push(Band {
            x0,
            x1: tl[j].t,
            label: phase.to_string(),
            class,
        });
        i = j + 1;
    }
    out
}

/// Established connections over time: (a).
pub fn connections(doc: J, tl: &[Pt]) -> Figure {
    if tl.is_empty() {
        return Err("no timeline samples in this report".into());
    }
    let start = ramp_start(doc, tl);
    let (clients, servers) = sides(doc, tl);
    let line = |f: fn(&Pt) -> f64| -> Vec<(f64, f64)> {
        start
            .map(|s| (s, 0.0))
            .into_iter()
            .chain(tl.iter().map(|p| (p.t, f(p))))
            .collect()
    };
    let mut series = Vec::new();
    if clients {
        series.push(Series {
            name: "clients' established".into(),
            color: "k1",
            dashed: false,
            points: line(|p| p.est),
        });
    }
    if servers {
        series.push(Series {
            name: "servers' established".into(),
            color: "k2",
            dashed: true,
            points: line(|p| p.srv),
        });
    }
    if tl.iter().any(|p| p.failed > 0.0) {
        series.push(Series {
            name: "failed (all causes, total)".into(),
            color: "k5",
            dashed: true,
            points: line(|p| p.failed),
        });
    }
    LineChart {
        title: "Connections held over time".into(),
        x_label: "seconds since start".into(),
        y_label: "connections".into(),
        y_integer: true,
        y_zero: true,
        series,
        bands: bands(tl, start),
        x_unit: "s".into(),
        y_unit: "connections".into(),
        ..Default::default()
    }
    .render(340.0)
    .ok_or_else(|| "no side held connections".into())
}

/// Rate of change of `points` over windows of at least `min_dt`, as a
/// step line: each window contributes its start and end at its rate. A
/// tail shorter than a window joins the last window; points shorter than
/// one window in all make one.
pub fn rates(points: &[(f64, f64)], min_dt: f64) -> Vec<(f64, f64)> {
    let Some((&first, rest)) = points.split_first() else {
        return Vec::new();
    };
    let mut cuts = vec![first];
    for &p in rest {
        if p.0 - cuts[cuts.len() - 1].0 >= min_dt {
            cuts.push(p);
        }
    }
    if let Some(&last) = rest.last()
        && last.0 > cuts[cuts.len() - 1].0
    {
        if cuts.len() > 1 {
            cuts.pop();
        }
        cuts.push(last);
    }
    cuts.windows(2)
        .flat_map(|w| {
            let r = (w[1].1 - w[0].1) / (w[1].0 - w[0].0);
            [(w[0].0, r), (w[1].0, r)]
        })
        .collect()
}

/// Connections per second over time, ramp and hold: (b).
pub fn rate(doc: J, tl: &[Pt]) -> Figure {
    let live: Vec<Pt> = tl
        .iter()
        .filter(|p| p.phase != "teardown")
        .cloned()
        .collect();
    if live.len() < 2 {
        return Err("fewer than two samples before teardown: no rate to draw".into());
    }
    let start = ramp_start(doc, &live);
    let (clients, servers) = sides(doc, tl);
    let span = live[live.len() - 1].t - start.unwrap_or(live[0].t);
    let window = (span / 40.0).clamp(RATE_WINDOW.0, RATE_WINDOW.1);
    let counts = |f: fn(&Pt) -> f64| -> Vec<(f64, f64)> {
        start
            .map(|s| (s, 0.0))
            .into_iter()
            .chain(live.iter().map(|p| (p.t, f(p))))
            .collect()
    };
    let mut series = Vec::new();
    if clients {
        series.push(Series {
            name: "clients: new established / s".into(),
            color: "k1",
            dashed: false,
            points: rates(&counts(|p| p.est), window),
        });
    }
    if servers {
        series.push(Series {
            name: "servers: new established / s".into(),
            color: "k2",
            dashed: true,
            points: rates(&counts(|p| p.srv), window),
        });
    }
    series.retain(|s| !s.points.is_empty());
    LineChart {
        title: "Connection rate".into(),
        x_label: "seconds since start".into(),
        y_label: "connections / s".into(),
        y_zero: true,
        series,
        bands: bands(&live, start),
        x_unit: "s".into(),
        y_unit: "conn/s".into(),
        ..Default::default()
    }
    .render(300.0)
    .ok_or_else(|| "no rate to draw".into())
}

/// A binary unit that keeps `max` between 1 and 1024: (divisor, name).
/// Heartbeat round trips over time: p50, p99 and max of each sample's
/// interval, in milliseconds.
pub fn latency(tl: &[Pt]) -> Figure {
    let series_of =
        |name: &str, color: &'static str, dashed: bool, f: fn(&Pt) -> Option<f64>| Series {
            name: name.into(),
            color,
            dashed,
            points: tl
                .iter()
                .filter_map(|p| Some((p.t, f(p)? / 1000.0)))
                .collect(),
        };
    let mut series = vec![
        series_of("p50", "k1", false, |p| p.rtt_p50),
        series_of("p99", "k2", true, |p| p.rtt_p99),
        series_of("max", "k3", true, |p| p.rtt_max),
    ];
    series.retain(|s| !s.points.is_empty());
    if series.is_empty() {
        return Err("no round trip was timed".into());
    }
    LineChart {
        title: "Round trip over time (from each send's scheduled time)".into(),
        x_label: "seconds since start".into(),
        y_label: "milliseconds".into(),
        y_zero: true,
        series,
        bands: bands(tl, None),
        x_unit: "s".into(),
        y_unit: "ms".into(),
        ..Default::default()
    }
    .render(300.0)
    .ok_or_else(|| "no round trip to draw".into())
}

pub fn byte_unit(max: f64) -> (f64, &'static str) {
    let mut d = 1.0;
    for u in ["B", "KiB", "MiB", "GiB"] {
        if max.abs() < d * 1024.0 {
            return (d, u);
        }
        d *= 1024.0;
    }
    (d, "TiB")
}

/// Memory against connections held, from the timeline: (c).
pub fn memory(tl: &[Pt]) -> Figure {
    let live: Vec<&Pt> = tl.iter().filter(|p| p.phase != "teardown").collect();
    if live.is_empty() {
        return Err("no timeline samples before teardown".into());
    }
    // Each reading's change since the first sample that has it.
    let change = |f: fn(&Pt) -> Option<f64>, sign: f64| -> Vec<(f64, f64)> {
        let base = live.iter().find_map(|p| f(p));
        live.iter()
            .filter_map(|p| Some((p.est.max(p.srv), sign * (f(p)? - base?))))
            .collect()
    };
    let raw = [
        ("slab growth", "k3", false, change(|p| p.slab, 1.0)),
        ("MemAvailable drop", "k4", true, change(|p| p.avail, -1.0)),
        ("workers' RSS growth", "k2", false, change(|p| p.rss, 1.0)),
    ];
    let max = raw
        .iter()
        .flat_map(|r| r.3.iter().map(|p| p.1.abs()))
        .fold(0.0, f64::max);
    let (div, unit) = byte_unit(max);
    let series: Vec<Series> = raw
        .into_iter()
        .filter(|r| !r.3.is_empty())
        .map(|(name, color, dashed, pts)| Series {
            name: name.into(),
            color,
            dashed,
            points: pts.into_iter().map(|(x, y)| (x, y / div)).collect(),
        })
        .collect();
    LineChart {
        title: "Memory vs connections held".into(),
        x_label: "connections held".into(),
        y_label: format!("change since the first sample ({unit})"),
        x_integer: true,
        y_zero: true,
        series,
        x_unit: "connections".into(),
        y_unit: unit.into(),
        ..Default::default()
    }
    .render(320.0)
    .ok_or_else(|| "the timeline has no memory readings (MemAvailable, Slab, RSS)".into())
}

/// Kernel memory by slab cache, per socket: (d), the seed's slabtop
/// reading. The /proc scanner's caches are their own, muted rows.
pub fn slab(doc: J) -> Figure {
    let m = doc.at("memory");
    if !m.present() {
        return Err("no memory measurement in this report".into());
    }
    if let Some(why) = m.at("slab_unreadable").str() {
        return Err(format!("/proc/slabinfo was unreadable: {why}"));
    }
    let caches = m.at("slab_caches").arr();
    if caches.is_empty() {
        return Err("no slab cache changed".into());
    }
    let sockets = m.at("sockets").u64().unwrap_or(0);
    let per = sockets > 0;
    let div = if per { sockets as f64 } else { 1.0 };
    let (unit_div, unit) = if per {
        (1.0, "B")
    } else {
        let max = caches
            .iter()
            .filter_map(|c| J(Some(c)).at("bytes").f64())
            .fold(0.0, |a: f64, b| a.max(b.abs()));
        byte_unit(max)
    };
    let mut bars = Vec::new();
    let mut scanner = false;
    for c in caches {
        let c = J(Some(c));
        let name = c.at("name").str().unwrap_or("?");
        let total = c.at("bytes").f64().unwrap_or(0.0);
        let objs = c.at("objects").f64().unwrap_or(0.0);
        let scan = PROC_SCAN_CACHES.contains(&name);
        scanner |= scan;
        let v = total / div;
        let mut text = if per {
            format!(
                "{}/socket · {} · {} objs",
                bytes(v),
                bytes(total),
                number(objs, 0)
            )
        } else {
            format!("{} · {} objs", bytes(total), number(objs, 0))
        };
        if scan {
            text.push_str(" · the /proc scanner's, not the sockets'");
        }
        bars.push(Bar {
            label: if scan {
                format!("{name} †")
            } else {
                name.into()
            },
            value: v / unit_div,
            hover: format!("{name}: {text}"),
            text,
            color: match (scan, name) {
                (true, _) => "muted scan",
                (_, "other") => "muted",
                _ => "k3",
            },
        });
    }
    let mut notes = Vec::new();
    if scanner {
        notes.push(
            "† grows because a /proc/*/fd scanner reads every process's descriptors: not the sockets' cost, left out of the per-socket figure."
                .to_string(),
        );
    }
    if let Some(k) = super::kernel_per_socket(m) {
        notes.push(format!(
            "All caches less the scanner's: {} per socket over {} sockets. \"other\" folds the remaining caches.",
            bytes(k),
            number(sockets as f64, 0)
        ));
    } else if !per {
        notes.push(
            "No sockets were held when measured: these are total changes, not per-socket costs."
                .into(),
        );
    }
    BarChart {
        title: if per {
            "Kernel memory per socket, by slab cache".into()
        } else {
            "Kernel memory change by slab cache".into()
        },
        x_label: if per {
            "bytes per socket".into()
        } else {
            format!("change ({unit})")
        },
        x_integer: per,
        bars,
        notes,
    }
    .render()
    .ok_or_else(|| "no slab cache changed".into())
}

/// Failures by cause and side: (e). `None` when there were none.
pub fn errors(doc: J) -> Option<Figure> {
    let rows = super::failures(doc);
    if rows.is_empty() {
        return None;
    }
    let bars = rows
        .iter()
        .map(|&(side, c, n)| Bar {
            label: format!("{side} {}", cause_name(c)),
            value: n as f64,
            text: number(n as f64, 0),
            color: if side == "client" { "k5" } else { "k2" },
            hover: cause_explain(c).to_string(),
        })
        .collect();
    Some(
        BarChart {
            title: "Failures by cause".into(),
            x_label: "connections".into(),
            x_integer: true,
            bars,
            notes: Vec::new(),
        }
        .render()
        .ok_or_else(|| "no failures".into()),
    )
}

/// A cause by its index in the report's arrays (`Cause::ALL` order).
pub fn cause_name(i: usize) -> String {
    Cause::ALL
        .get(i)
        .map_or_else(|| format!("cause #{i}"), |c| c.name().to_string())
}

pub fn cause_explain(i: usize) -> &'static str {
    Cause::ALL
        .get(i)
        .map_or("a cause this version of c1m does not know", |c| c.explain())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: f64, phase: &'static str, est: f64) -> Pt<'static> {
        Pt {
            t,
            phase,
            est,
            srv: est,
            failed: 0.0,
            avail: None,
            slab: None,
            rss: None,
            rtt_p50: None,
            rtt_p99: None,
            rtt_max: None,
        }
    }

    #[test]
    fn rates_use_windows_of_at_least_min_dt() {
        let pts = [(0.0, 0.0), (0.1, 50.0), (0.25, 100.0), (0.5, 200.0)];
        assert_eq!(
            rates(&pts, 0.2),
            [(0.0, 400.0), (0.25, 400.0), (0.25, 400.0), (0.5, 400.0)]
        );
        // A short tail joins the last window.
        let tail = [(0.0, 0.0), (0.5, 100.0), (0.75, 150.0)];
        assert_eq!(rates(&tail, 0.5), [(0.0, 200.0), (0.75, 200.0)]);
        // Shorter than a window: one rate over everything.
        assert_eq!(rates(&pts[..2], 0.2), [(0.0, 500.0), (0.1, 500.0)]);
        assert!(rates(&pts[..1], 0.2).is_empty());
        assert!(rates(&[], 0.2).is_empty());
    }

    #[test]
    fn bands_follow_phases() {
        let tl = [
            pt(0.2, "ramp", 10.0),
            pt(0.4, "ramp", 20.0),
            pt(0.7, "hold", 20.0),
            pt(1.0, "hold", 20.0),
            pt(1.3, "teardown", 0.0),
        ];
        let b: Vec<(f64, f64, &str)> = bands(&tl, Some(0.1))
            .iter()
            .map(|b| (b.x0, b.x1, b.class))
            .collect();
        assert_eq!(
            b,
            [
                (0.1, 0.4, "band-ramp"),
                (0.4, 1.0, "band-hold"),
                (1.0, 1.3, "band-teardown")
            ]
        );
    }

    #[test]
    fn byte_units_keep_values_readable() {
        assert_eq!(byte_unit(0.0), (1.0, "B"));
        assert_eq!(byte_unit(1023.0), (1.0, "B"));
        assert_eq!(byte_unit(80.0 * 1024.0 * 1024.0).1, "MiB");
        assert_eq!(byte_unit(-3.0 * 1024.0 * 1024.0 * 1024.0).1, "GiB");
    }

    #[test]
    fn unknown_causes_are_named_by_index() {
        assert_eq!(cause_name(0), "ECONNREFUSED");
        assert_eq!(cause_name(42), "cause #42");
    }
}
