//! The report's charts, each drawn from the typed report. A chart that
//! has nothing to draw says why instead.

use super::svg::{Band, Bar, BarChart, LineChart, Series};
use crate::plan::thousands;
use crate::report::model::{CommandKind, KernelCount, Phase, ProcScan, Report, Sample, Seen};
use crate::report::text::phase_name;
use crate::report::{byte_unit, bytes, rows};

/// A drawn chart, or why there is none.
pub type Figure = Result<String, String>;

/// Rates are taken over windows of at least this many seconds, and at
/// least 1/40 of the time drawn: workers report their counters about four
/// times a second, so shorter windows only show when the reports came.
const RATE_WINDOW: (f64, f64) = (0.5, 2.0);

/// When the ramp began, seconds since the start: the last ramp sample is
/// taken when the ramp is seen done, `time_to_reach` after the ramp began.
/// A derived estimate, so it is used only where it is consistent.
pub fn ramp_start(r: &Report, tl: &[Sample]) -> Option<f64> {
    let ttr = r.time_to_reach?;
    let first = tl.iter().find(|s| s.phase == Phase::Ramp)?.t;
    let last = tl.iter().rev().find(|s| s.phase == Phase::Ramp)?.t;
    let s = last - ttr;
    (s >= 0.0 && s <= first).then_some(s)
}

/// The phases as shaded stretches: each runs from the end of the one
/// before (or the ramp's start) to its last sample.
pub fn bands(tl: &[Sample], start: Option<f64>) -> Vec<Band> {
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
            None if phase == Phase::Ramp => start.unwrap_or(tl[i].t),
            None => tl[i].t,
        };
        out.push(Band {
            x0,
            x1: tl[j].t,
            label: phase_name(phase).to_string(),
            class: match phase {
                Phase::Ramp => "band-ramp",
                Phase::Hold => "band-hold",
                Phase::RampDown => "band-rampdown",
                Phase::Teardown => "band-teardown",
            },
        });
        i = j + 1;
    }
    out
}

/// Whether the report has a client side and a server side to draw.
fn sides(r: &Report) -> (bool, bool) {
    let tl = &r.timeline;
    let clients = !r.plan.clients.is_empty()
        || r.clients_at_top.planned > 0
        || tl.iter().any(|s| s.established > 0);
    let servers = !r.plan.servers.is_empty()
        || r.servers_at_top.planned > 0
        || tl.iter().any(|s| s.servers() > 0);
    (clients, servers)
}

/// `(t, f(sample))` for every sample, from `(start, 0)` when the ramp's
/// start is known.
pub fn line(start: Option<f64>, tl: &[Sample], f: fn(&Sample) -> u64) -> Vec<(f64, f64)> {
    start
        .map(|s| (s, 0.0))
        .into_iter()
        .chain(tl.iter().map(|s| (s.t, f(s) as f64)))
        .collect()
}

/// Established connections over time, failures, and the server's closes.
pub fn connections(r: &Report) -> Figure {
    let tl = &r.timeline;
    if tl.is_empty() {
        return Err("no timeline samples in this report".into());
    }
    let start = ramp_start(r, tl);
    let (clients, servers) = sides(r);
    let mut series = Vec::new();
    if clients {
        series.push(Series {
            name: "clients' established".into(),
            color: "k1",
            dashed: false,
            points: line(start, tl, |s| s.established),
        });
    }
    if servers {
        series.push(Series {
            name: "servers' established".into(),
            color: "k2",
            dashed: true,
            points: line(start, tl, |s| s.servers()),
        });
    }
    if tl.iter().any(|s| s.failed > 0) {
        series.push(Series {
            name: "failed (all causes, total)".into(),
            color: "k5",
            dashed: true,
            points: line(start, tl, |s| s.failed),
        });
    }
    if tl.iter().any(|s| s.closed > 0) {
        series.push(Series {
            name: "closed by the server (total)".into(),
            color: "k4",
            dashed: true,
            points: line(start, tl, |s| s.closed),
        });
    }
    if let Some(target) = super::staged::target_line(r) {
        series.push(target);
    }
    LineChart {
        title: "Connections held over time".into(),
        x_label: "seconds since start".into(),
        y_label: "connections".into(),
        y_integer: true,
        y_zero: true,
        series,
        bands: super::staged::bands(r).unwrap_or_else(|| bands(tl, start)),
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

/// Connections per second over time, ramp and hold.
pub fn rate(r: &Report) -> Figure {
    let live: Vec<Sample> = r
        .timeline
        .iter()
        .filter(|s| s.phase != Phase::Teardown)
        .cloned()
        .collect();
    if live.len() < 2 {
        return Err("fewer than two samples before teardown: no rate to draw".into());
    }
    let start = ramp_start(r, &live);
    let (clients, servers) = sides(r);
    let span = live[live.len() - 1].t - start.unwrap_or(live[0].t);
    let window = (span / 40.0).clamp(RATE_WINDOW.0, RATE_WINDOW.1);
    let mut series = Vec::new();
    if clients {
        series.push(Series {
            name: "clients: new established / s".into(),
            color: "k1",
            dashed: false,
            points: rates(&line(start, &live, |s| s.established), window),
        });
    }
    if servers {
        series.push(Series {
            name: "servers: new established / s".into(),
            color: "k2",
            dashed: true,
            points: rates(&line(start, &live, |s| s.servers()), window),
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

/// Heartbeat round trips over time: p50, p99 and max of each sample's
/// interval, in milliseconds.
pub fn latency(r: &Report) -> Figure {
    let tl = &r.timeline;
    let series_of =
        |name: &str, color: &'static str, dashed: bool, f: fn(&Sample) -> Option<u64>| Series {
            name: name.into(),
            color,
            dashed,
            points: tl
                .iter()
                .filter_map(|s| Some((s.t, f(s)? as f64 / 1000.0)))
                .collect(),
        };
    let mut series = vec![
        series_of("p50", "k1", false, |s| s.rtt_p50_us),
        series_of("p99", "k2", true, |s| s.rtt_p99_us),
        series_of("max", "k3", true, |s| s.rtt_max_us),
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
        bands: bands(tl, ramp_start(r, tl)),
        x_unit: "s".into(),
        y_unit: "ms".into(),
        ..Default::default()
    }
    .render(300.0)
    .ok_or_else(|| "no round trip to draw".into())
}

/// Memory against connections held, from the timeline.
pub fn memory(r: &Report) -> Figure {
    let live: Vec<&Sample> = r
        .timeline
        .iter()
        .filter(|s| s.phase != Phase::Teardown)
        .collect();
    if live.is_empty() {
        return Err("no timeline samples before teardown".into());
    }
    // Each reading's change since the first sample that has it.
    let change = |f: fn(&Sample) -> Option<u64>, sign: f64| -> Vec<(f64, f64)> {
        let base = live.iter().find_map(|s| f(s));
        live.iter()
            .filter_map(|s| {
                let held = s.established.max(s.servers()) as f64;
                Some((held, sign * (f(s)? as f64 - base? as f64)))
            })
            .collect()
    };
    let raw = [
        ("slab growth", "k3", false, change(|s| s.slab, 1.0)),
        (
            "MemAvailable drop",
            "k4",
            true,
            change(|s| s.mem_available, -1.0),
        ),
        ("workers' RSS growth", "k2", false, change(|s| s.rss, 1.0)),
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

/// Kernel memory by slab cache, per socket (slabtop's reading). The
/// /proc scanner's caches are their own, muted rows.
pub fn slab(r: &Report) -> Figure {
    let Some(m) = &r.memory else {
        return Err("no memory measurement in this report".into());
    };
    if let Some(why) = &m.slab_unreadable {
        return Err(format!("/proc/slabinfo was unreadable: {why}"));
    }
    if m.slab_caches.is_empty() {
        return Err("no slab cache changed".into());
    }
    let per = m.sockets > 0;
    let div = if per { m.sockets as f64 } else { 1.0 };
    let (unit_div, unit) = if per {
        (1.0, "B")
    } else {
        let max = m
            .slab_caches
            .iter()
            .map(|c| c.bytes.unsigned_abs() as f64)
            .fold(0.0, f64::max);
        byte_unit(max)
    };
    let mut bars = Vec::new();
    let mut scanner = false;
    let proc_scan = m.proc_scan();
    for c in &m.slab_caches {
        let name = c.name.as_str();
        let total = c.bytes as f64;
        let (scan_objects, scan_bytes) = proc_scan.share(name, c.objects, c.bytes);
        let scan = ProcScan::whole(name);
        let part = scan_objects > 0 && !scan;
        scanner |= scan || part;
        // A shared cache's bar is the sockets' part of it.
        let v = if part {
            (c.bytes - scan_bytes) as f64 / div
        } else {
            total / div
        };
        let objs = rows::thousands_signed(c.objects);
        let mut text = if per {
            format!("{}/socket · {} · {objs} objs", bytes(v), bytes(total))
        } else {
            format!("{} · {objs} objs", bytes(total))
        };
        if scan {
            text.push_str(" · the /proc scanner's, not the sockets'");
        } else if part {
            let n = rows::thousands_signed(scan_objects);
            text.push_str(&format!(" · less {n} objs, the /proc scanner's"));
        }
        bars.push(Bar {
            label: if scan || part {
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
            "† grows (wholly, or one object per /proc inode) because a /proc/*/fd scanner reads every process's descriptors: not the sockets' cost, left out of the per-socket figure."
                .to_string(),
        );
    }
    if let Some(k) = rows::kernel_per_socket(m) {
        notes.push(format!(
            "All caches less the scanner's: {} per socket over {} sockets. \"other\" folds the remaining caches.",
            bytes(k),
            thousands(m.sockets)
        ));
    } else if per {
        notes.push(format!(
            "The slab change is within the ±{} noise of this machine: too small for a per-socket figure.",
            bytes(rows::SLAB_NOISE as f64)
        ));
    } else {
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

/// Where the connections were at the end of the hold: the client side,
/// the server side, what the server application accepted, what waited in
/// the accept queues, and what only the client had.
pub fn at_end(r: &Report) -> Figure {
    let s = &r.server_side;
    if s.seen == Seen::Remote {
        return Err(
            "the server is not visible from here, so only the client side can be counted".into(),
        );
    }
    let (own, everyone, close_wait) = match &r.kernel.at_end {
        KernelCount::Counted {
            client_own,
            server_own,
            client_side,
            client_own_close_wait,
            ..
        } => (
            Some((*server_own, *client_own)),
            Some(*client_side),
            *client_own_close_wait,
        ),
        _ => (None, None, 0),
    };
    let phantoms = r.phantoms.as_ref().map_or(0, |p| p.count);
    let waiting = s.waiting.unwrap_or(0);
    let mut bars = Vec::new();
    let mut bar = |label: &str, n: u64, color: &'static str, hover: &str| {
        bars.push(Bar {
            label: label.into(),
            value: n as f64,
            text: thousands(n),
            color,
            hover: hover.into(),
        });
    };
    if let Some((server_own, client_own)) = own {
        if r.command != CommandKind::Serve {
            bar(
                "c1m's client sockets ESTABLISHED",
                client_own,
                "k1",
                "each of c1m's client sockets asked its state (getsockopt TCP_INFO): what held counts",
            );
        }
        if server_own > 0 {
            bar(
                "c1m's server sockets ESTABLISHED",
                server_own,
                "k1",
                "each socket c1m's server workers accepted, asked its state (getsockopt TCP_INFO)",
            );
        }
    }
    if let Some(c) =
        everyone.filter(|&c| r.command == CommandKind::Serve || Some(c) != own.map(|o| o.1))
    {
        bar(
            "client side ESTABLISHED, every process's",
            c,
            "k4",
            "client sockets connected to a target endpoint, c1m's and any other process's (netlink sock_diag)",
        );
    }
    if let Some(e) = s.established {
        bar(
            "server side ESTABLISHED",
            e,
            "k2",
            "sockets on a target endpoint, every client's, c1m's or not (netlink sock_diag)",
        );
    }
    if let Some(a) = s.accepted {
        bar(
            "accepted by the server app",
            a,
            "k3",
            "server side ESTABLISHED less those waiting in the accept queues, every client's",
        );
    }
    bar(
        "waiting in accept queues",
        waiting,
        if waiting > 0 { "k5" } else { "muted" },
        "complete in the kernel, not yet accept()ed by the application",
    );
    bar(
        "only on the client",
        phantoms,
        if phantoms > 0 { "k5" } else { "muted" },
        "client side ESTABLISHED to local targets less their server side: connections the server never created",
    );
    if close_wait > 0 {
        bar(
            "c1m's client sockets in CLOSE-WAIT",
            close_wait,
            "k4",
            "the server closed them and c1m had not yet: not held",
        );
    }
    BarChart {
        title: "Connections at the end of the hold, by side".into(),
        x_label: "connections".into(),
        x_integer: true,
        bars,
        notes: Vec::new(),
    }
    .render()
    .ok_or_else(|| "nothing was counted at the end".into())
}

/// Established connections the server closed, by how. `None` when it
/// closed none.
pub fn closes(r: &Report) -> Option<Figure> {
    let c = &r.closes;
    if c.total() == 0 {
        return None;
    }
    let bar = |label: &str, n: u64, hover: &str| Bar {
        label: label.into(),
        value: n as f64,
        text: thousands(n),
        color: if n > 0 { "k4" } else { "muted" },
        hover: hover.into(),
    };
    let mut notes = Vec::new();
    if let Some(b) = &c.first_bytes {
        notes.push(format!("First bytes a server sent before closing: \"{b}\""));
    }
    Some(
        BarChart {
            title: "Closed by the server, by how".into(),
            x_label: "connections".into(),
            x_integer: true,
            bars: vec![
                bar(
                    "FIN, no data first",
                    c.fin,
                    "accepted, then closed (nginx past worker_connections)",
                ),
                bar(
                    "data, then FIN",
                    c.fin_with_data,
                    "the server wrote first, then closed (Redis past maxclients)",
                ),
                bar("RST", c.rst, "the server reset an established connection"),
            ],
            notes,
        }
        .render()
        .ok_or_else(|| "no closes".into()),
    )
}

/// Failures by cause and side. `None` when there were none.
pub fn errors(r: &Report) -> Option<Figure> {
    let mut rows = Vec::new();
    for (side, counts, color) in [
        ("client", &r.clients.failed, "k5"),
        ("server", &r.servers.failed, "k2"),
    ] {
        for (c, n) in counts.seen() {
            rows.push((side, c, n, color));
        }
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.2));
    let bars = rows
        .iter()
        .map(|&(side, c, n, color)| Bar {
            label: format!("{side} {}", c.name()),
            value: n as f64,
            text: thousands(n),
            color,
            hover: c.explain().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: f64, phase: Phase, est: u64) -> Sample {
        Sample {
            server_established: Some(est),
            ..crate::report::fixtures::sample(t, phase, est)
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
            pt(0.2, Phase::Ramp, 10),
            pt(0.4, Phase::Ramp, 20),
            pt(0.7, Phase::Hold, 20),
            pt(1.0, Phase::Hold, 20),
            pt(1.3, Phase::Teardown, 0),
        ];
        let b: Vec<(f64, f64, &str, String)> = bands(&tl, Some(0.1))
            .into_iter()
            .map(|b| (b.x0, b.x1, b.class, b.label))
            .collect();
        assert_eq!(
            b,
            [
                (0.1, 0.4, "band-ramp", "ramp".to_string()),
                (0.4, 1.0, "band-hold", "hold".to_string()),
                (1.0, 1.3, "band-teardown", "teardown".to_string())
            ]
        );
        assert_eq!(bands(&tl[2..], None)[0].x0, 0.7, "no ramp: from the hold");
    }
}
