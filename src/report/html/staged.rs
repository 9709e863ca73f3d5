//! The charts' part for load shapes: the stages' target line and one
//! shaded band per stage (met or not) on the connections chart, and the
//! reconnects over time.

use super::charts::{Figure, line};
use super::svg::{Band, LineChart, Series};
use crate::report::model::{Phase, Report};
use crate::report::staged::words;

/// The stages' target over time, dashed, when the run had stages.
pub fn target_line(r: &Report) -> Option<Series> {
    let pts: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .filter(|s| s.phase != Phase::Teardown)
        .filter_map(|s| Some((s.t, s.target? as f64)))
        .collect();
    (!pts.is_empty()).then(|| Series {
        name: "the stages' target".into(),
        color: "k3",
        dashed: true,
        points: pts,
    })
}

/// One band per stage that began, labelled with its number and whether
/// it was met (a stage not met is shaded as such); `None` without
/// stages.
pub fn bands(r: &Report) -> Option<Vec<Band>> {
    let st = r.stages.as_ref()?;
    let end = r.timeline.last().map_or(0.0, |s| s.t);
    let out: Vec<Band> = st
        .stages
        .iter()
        .enumerate()
        .filter_map(|(k, s)| {
            let x0 = s.started?;
            let x1 = s.ended.unwrap_or(end).max(x0);
            let (label, class) = match s.met {
                Some(false) => (format!("{} NOT met", k + 1), "band-missed"),
                Some(true) => (format!("{} met", k + 1), kind(s.from, s.target)),
                None => (format!("{}", k + 1), kind(s.from, s.target)),
            };
            Some(Band {
                x0,
                x1,
                label,
                class,
            })
        })
        .collect();
    Some(out)
}

/// A stage's band by its direction.
fn kind(from: u64, to: u64) -> &'static str {
    match to.cmp(&from) {
        std::cmp::Ordering::Greater => "band-ramp",
        std::cmp::Ordering::Equal => "band-hold",
        std::cmp::Ordering::Less => "band-rampdown",
    }
}

/// Reconnects over time (`--reconnect`): reopened so far, and waiting out
/// their back-off; `None` without reconnects.
pub fn reconnects(r: &Report) -> Option<Figure> {
    let tl = &r.timeline;
    if !tl.iter().any(|s| s.reconnects.is_some()) {
        return None;
    }
    let series = vec![
        Series {
            name: "reopened (total)".into(),
            color: "k4",
            dashed: false,
            points: line(None, tl, |s| s.reconnects.unwrap_or(0)),
        },
        Series {
            name: "waiting to reconnect".into(),
            color: "k5",
            dashed: true,
            points: line(None, tl, |s| s.retrying.unwrap_or(0)),
        },
        Series {
            name: "clients' established".into(),
            color: "k1",
            dashed: false,
            points: line(None, tl, |s| s.established),
        },
    ];
    let title = match &r.stages {
        Some(st) if st.stages.len() <= 4 => format!(
            "Reconnects over time (stages: {})",
            st.stages.iter().map(words).collect::<Vec<_>>().join(", ")
        ),
        Some(st) => format!("Reconnects over time ({} stages)", st.stages.len()),
        None => "Reconnects over time".into(),
    };
    Some(
        LineChart {
            title,
            x_label: "seconds since start".into(),
            y_label: "connections".into(),
            y_integer: true,
            y_zero: true,
            series,
            bands: bands(r).unwrap_or_default(),
            x_unit: "s".into(),
            y_unit: "connections".into(),
            ..Default::default()
        }
        .render(300.0)
        .ok_or_else(|| "nothing to draw".to_string()),
    )
}
