//! A small SVG chart kit: linear scales, round ticks, line charts and
//! horizontal bar charts. Pure string building, no I/O; colours come from
//! the page's CSS through class names (`k1`…`k6` pick a series colour), so
//! one drawing reads in light and dark.

use std::fmt::Write as _;

use super::esc;
use crate::plan::thousands;

/// Chart width in SVG user units; the page scales it to its column.
pub const WIDTH: f64 = 900.0;

/// A linear map from a domain onto a pixel range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    /// Maps `v`; an empty domain maps everything to the range's middle.
    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 || !span.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// A round step (1, 2 or 5 × 10^k) that cuts `span` into at most about
/// `max_ticks` intervals.
pub fn nice_step(span: f64, max_ticks: usize) -> f64 {
    if !span.is_finite() || span <= 0.0 {
        return 1.0;
    }
    let raw = span / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Round axis bounds and ticks covering `lo..=hi`: the bounds are
/// multiples of the step, every tick lies on one. `integer` keeps the step
/// at 1 or more (counts). An empty or inverted range is widened so there is
/// always something to draw.
pub fn ticks(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> Axis {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        if lo == 0.0 {
            hi = 1.0;
        } else {
            let pad = lo.abs() * 0.1;
            lo -= pad;
            hi += pad;
        }
    }
    let mut step = nice_step(hi - lo, max_ticks);
    if integer {
        step = step.max(1.0);
    }
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let n = (last - first).clamp(1.0, 1000.0) as usize;
    let values = (0..=n).map(|i| (first + i as f64) * step).collect();
    Axis { step, values }
}

/// Tick values and the step between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub step: f64,
    pub values: Vec<f64>,
}

impl Axis {
    pub fn lo(&self) -> f64 {
        self.values.first().copied().unwrap_or(0.0)
    }
    pub fn hi(&self) -> f64 {
        self.values.last().copied().unwrap_or(1.0)
    }
    /// A tick's label with as many decimals as the step needs.
    pub fn label(&self, v: f64) -> String {
        let decimals = if self.step >= 1.0 {
            0
        } else {
            (-self.step.log10()).ceil().clamp(0.0, 6.0) as usize
        };
        number(v, decimals)
    }
}

/// A number with thousands separators (`crate::plan::thousands`):
/// `1,250,000`, `-2,000`, `0.25`.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    // "-0" is just "0".
    if v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    match int.parse::<u64>() {
        Ok(n) => out.push_str(&thousands(n)),
        // Past u64: the digits as they are.
        Err(_) => out.push_str(int),
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// Colour class, `k1`…`k6`.
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A shaded stretch of the x axis (a phase of the experiment).
#[derive(Debug, Clone)]
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
    /// `band-ramp`, `band-hold`, …
    pub class: &'static str,
}

/// A line chart with its axes, title and legend.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_integer: bool,
    pub y_integer: bool,
    /// Whether the y axis starts at zero whatever the data.
    pub y_zero: bool,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    /// Hover text for each dot: `x_unit` and `y_unit` follow the values.
    pub x_unit: String,
    pub y_unit: String,
}

const TOP: f64 = 64.0;
const BOTTOM: f64 = 48.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 24.0;
/// Dots are drawn on lines with at most this many points.
const MAX_DOTS: usize = 40;

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

fn title_and_legend(out: &mut String, title: &str, legend: &[(&str, &'static str, bool)]) {
    let _ = write!(
        out,
        r#"<text class="title" x="0" y="18">{}</text>"#,
        esc(title)
    );
    let mut x = LEFT;
    for (name, color, dashed) in legend {
        let dash = if *dashed { " dash" } else { "" };
        let _ = write!(
            out,
            r#"<path class="line {color}{dash}" d="M{} 38 H{}"/><text class="legend" x="{}" y="42">{}</text>"#,
            fmt1(x),
            fmt1(x + 22.0),
            fmt1(x + 28.0),
            esc(name)
        );
        x += 28.0 + 7.2 * name.chars().count() as f64 + 22.0;
    }
}

impl LineChart {
    /// The chart as an `<svg>` element; `None` when no series has a point.
    pub fn render(&self, height: f64) -> Option<String> {
        let pts = || self.series.iter().flat_map(|s| s.points.iter());
        pts().next()?;
        let fold = |f: fn(f64, f64) -> f64, init: f64, it: &mut dyn Iterator<Item = f64>| {
            it.filter(|v| v.is_finite()).fold(init, f)
        };
        let bx = self.bands.iter().flat_map(|b| [b.x0, b.x1]);
        let x_lo = fold(
            f64::min,
            f64::INFINITY,
            &mut pts().map(|p| p.0).chain(bx.clone()),
        );
        let x_hi = fold(
            f64::max,
            f64::NEG_INFINITY,
            &mut pts().map(|p| p.0).chain(bx),
        );
        let mut y_lo = fold(f64::min, f64::INFINITY, &mut pts().map(|p| p.1));
        let y_hi = fold(f64::max, f64::NEG_INFINITY, &mut pts().map(|p| p.1));
        if self.y_zero {
            y_lo = y_lo.min(0.0);
        }
        let xa = ticks(x_lo, x_hi, 10, self.x_integer);
        let ya = ticks(y_lo, y_hi, 6, self.y_integer);
        let (w, h) = (WIDTH, height);
        let xs = Scale {
            d0: xa.lo(),
            d1: xa.hi(),
            r0: LEFT,
            r1: w - RIGHT,
        };
        let ys = Scale {
            d0: ya.lo(),
            d1: ya.hi(),
            r0: h - BOTTOM,
            r1: TOP,
        };
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(&self.title)
        );
        let legend: Vec<_> = self
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.color, s.dashed))
            .collect();
        title_and_legend(&mut o, &self.title, &legend);
        let spans: Vec<(f64, f64, usize)> = self
            .bands
            .iter()
            .map(|b| (xs.map(b.x0), xs.map(b.x1), b.label.chars().count()))
            .collect();
        let label_xs = band_label_xs(&spans, WIDTH - RIGHT);
        for ((b, &(x0, x1, _)), lx) in self.bands.iter().zip(&spans).zip(label_xs) {
            // Empty, inverted or not a number: nothing to shade.
            if x1.partial_cmp(&x0) != Some(std::cmp::Ordering::Greater) {
                continue;
            }
            let _ = write!(
                o,
                r#"<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
                b.class,
                fmt1(x0),
                fmt1(TOP),
                fmt1(x1 - x0),
                fmt1(h - BOTTOM - TOP),
                esc(&b.label)
            );
            // The label sits above the plot, where no line runs.
            if let Some(lx) = lx {
                let _ = write!(
                    o,
                    r#"<text class="band-label" x="{}" y="{}">{}</text>"#,
                    fmt1(lx),
                    fmt1(TOP - 5.0),
                    esc(&b.label)
                );
            }
        }
        self.axes(&mut o, &xa, &ya, &xs, &ys, h);
        for s in &self.series {
            let d = path(&s.points, &xs, &ys);
            if d.is_empty() {
                continue;
            }
            let dash = if s.dashed { " dash" } else { "" };
            let _ = write!(
                o,
                r#"<path class="line {}{dash}" d="{d}"><title>{}</title></path>"#,
                s.color,
                esc(&s.name)
            );
            if s.points.len() <= MAX_DOTS {
                for &(x, y) in s
                    .points
                    .iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                {
                    let _ = write!(
                        o,
                        r#"<circle class="dot {}" cx="{}" cy="{}" r="2.5"><title>{}: {} {}, {} {}</title></circle>"#,
                        s.color,
                        fmt1(xs.map(x)),
                        fmt1(ys.map(y)),
                        esc(&s.name),
                        xa.label(x),
                        esc(&self.x_unit),
                        number(y, if y.abs() >= 100.0 { 0 } else { 2 }),
                        esc(&self.y_unit)
                    );
                }
            }
        }
        o.push_str("</svg>");
        Some(o)
    }

    fn axes(&self, o: &mut String, xa: &Axis, ya: &Axis, xs: &Scale, ys: &Scale, h: f64) {
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        for &v in &ya.values {
            let y = fmt1(ys.map(v));
            let _ = write!(
                o,
                r#"<line class="grid" x1="{x0}" x2="{x1}" y1="{y}" y2="{y}"/><text class="tick" x="{}" y="{y}" dy="4" text-anchor="end">{}</text>"#,
                x0 - 6.0,
                ya.label(v)
            );
        }
        for &v in &xa.values {
            let x = fmt1(xs.map(v));
            let _ = write!(
                o,
                r#"<line class="grid" x1="{x}" x2="{x}" y1="{TOP}" y2="{}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
                h - BOTTOM,
                h - BOTTOM + 16.0,
                xa.label(v)
            );
        }
        let _ = write!(
            o,
            r#"<line class="axis" x1="{x0}" x2="{x1}" y1="{b}" y2="{b}"/><line class="axis" x1="{x0}" x2="{x0}" y1="{TOP}" y2="{b}"/>"#,
            b = h - BOTTOM
        );
        let _ = write!(
            o,
            r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text><text class="axis-label" transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            fmt1((x0 + x1) / 2.0),
            h - 8.0,
            esc(&self.x_label),
            fmt1((TOP + h - BOTTOM) / 2.0),
            esc(&self.y_label)
        );
    }
}

/// The width of one character of a band label (10 px capitals, spaced).
const LABEL_EM: f64 = 7.5;
/// The least space between two band labels.
const LABEL_GAP: f64 = 8.0;

/// Where each band's label starts, for bands given as `(x0, x1, label
/// characters)` in pixels, left to right: at its band's left edge, or
/// just after the label before when that one runs past its own band (a
/// ramp too short for its label pushes the hold's label right), never
/// past `right`. `None` for an empty band, or a label that would overlap
/// the one before or start past its band's end (its band still names
/// itself on hover).
pub fn band_label_xs(bands: &[(f64, f64, usize)], right: f64) -> Vec<Option<f64>> {
    let mut end = f64::NEG_INFINITY;
    bands
        .iter()
        .map(|&(x0, x1, chars)| {
            if x1.partial_cmp(&x0) != Some(std::cmp::Ordering::Greater) {
                return None;
            }
            let w = LABEL_EM * chars as f64;
            let mut x = (x0 + 2.0).max(end + LABEL_GAP);
            if x + w > right {
                x = right - w;
            }
            if x < end + LABEL_GAP || x > x1 {
                return None;
            }
            end = x + w;
            Some(x)
        })
        .collect()
}

/// `M x y L x y …` through the finite points, in the order given.
pub fn path(points: &[(f64, f64)], xs: &Scale, ys: &Scale) -> String {
    let mut d = String::new();
    for &(x, y) in points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
        let cmd = if d.is_empty() { 'M' } else { 'L' };
        let _ = write!(d, "{cmd}{} {}", fmt1(xs.map(x)), fmt1(ys.map(y)));
    }
    if d.starts_with('M') && !d.contains('L') {
        // A single point: a zero-length line still shows its round cap.
        d.push_str(" h0.01");
    }
    d
}

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Shown after the bar: the value with its unit, and whatever else.
    pub text: String,
    /// Colour class, `k1`…`k6`, or `muted`.
    pub color: &'static str,
    /// Hover text.
    pub hover: String,
}

/// A horizontal bar chart: one labelled row per bar, bars from zero.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub x_integer: bool,
    pub bars: Vec<Bar>,
    /// Lines under the chart (footnotes).
    pub notes: Vec<String>,
}

const ROW: f64 = 26.0;
/// The width of one character of a bar's text, roughly.
const TEXT_EM: f64 = 6.4;

impl BarChart {
    /// The chart as an `<svg>` element; `None` without bars.
    pub fn render(&self) -> Option<String> {
        if self.bars.is_empty() {
            return None;
        }
        let longest = self.bars.iter().map(|b| b.label.chars().count()).max();
        let left = (16.0 + 7.4 * longest.unwrap_or(0) as f64).clamp(110.0, 300.0);
        let finite = || self.bars.iter().map(|b| b.value).filter(|v| v.is_finite());
        let lo = finite().fold(0.0, f64::min);
        let hi = finite().fold(0.0, f64::max);
        let xa = ticks(lo, hi, 6, self.x_integer);
        // The narrowest margin in which every bar's text fits after it.
        let fits = |room: f64| {
            let xs = Scale {
                d0: xa.lo(),
                d1: xa.hi(),
                r0: left,
                r1: WIDTH - room,
            };
            self.bars.iter().all(|b| {
                let end = xs.map(if b.value.is_finite() {
                    b.value.max(0.0)
                } else {
                    0.0
                });
                end + 12.0 + TEXT_EM * b.text.chars().count() as f64 <= WIDTH
            })
        };
        let text_room = (8..=40)
            .map(|i| 10.0 * i as f64)
            .find(|&r| fits(r))
            .unwrap_or(400.0);
        let top = 34.0;
        let plot_h = ROW * self.bars.len() as f64;
        let h = top + plot_h + 40.0 + 18.0 * self.notes.len() as f64;
        let xs = Scale {
            d0: xa.lo(),
            d1: xa.hi(),
            r0: left,
            r1: WIDTH - text_room,
        };
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(&self.title)
        );
        title_and_legend(&mut o, &self.title, &[]);
        let base = top + plot_h;
        for &v in &xa.values {
            let x = fmt1(xs.map(v));
            let _ = write!(
                o,
                r#"<line class="grid" x1="{x}" x2="{x}" y1="{top}" y2="{base}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
                base + 16.0,
                xa.label(v)
            );
        }
        let zero = xs.map(0.0);
        for (i, b) in self.bars.iter().enumerate() {
            let y = top + ROW * i as f64;
            let v = if b.value.is_finite() { b.value } else { 0.0 };
            let end = xs.map(v);
            let (x0, x1) = (zero.min(end), zero.max(end));
            let _ = write!(
                o,
                r#"<text class="bar-label" x="{}" y="{}" text-anchor="end">{}</text><rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect><text class="bar-text" x="{}" y="{}">{}</text>"#,
                fmt1(left - 8.0),
                fmt1(y + ROW / 2.0 + 4.0),
                esc(&b.label),
                b.color,
                fmt1(x0),
                fmt1(y + 4.0),
                fmt1((x1 - x0).max(1.0)),
                fmt1(ROW - 8.0),
                esc(&b.hover),
                fmt1(x1.max(zero) + 6.0),
                fmt1(y + ROW / 2.0 + 4.0),
                esc(&b.text)
            );
        }
        let _ = write!(
            o,
            r#"<line class="axis" x1="{z}" x2="{z}" y1="{top}" y2="{base}"/><text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            fmt1((left + WIDTH - text_room) / 2.0),
            base + 34.0,
            esc(&self.x_label),
            z = fmt1(zero)
        );
        for (i, n) in self.notes.iter().enumerate() {
            let _ = write!(
                o,
                r#"<text class="note" x="0" y="{}">{}</text>"#,
                fmt1(base + 56.0 + 18.0 * i as f64),
                esc(n)
            );
        }
        o.push_str("</svg>");
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(1_000_000.0, 5), 200_000.0);
        assert_eq!(nice_step(10.0, 10), 1.0);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(0.29, 6), 0.05);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_step(f64::NAN, 5), 1.0);
    }

    #[test]
    fn ticks_cover_the_range_on_round_values() {
        let a = ticks(0.0, 20_000.0, 6, true);
        assert_eq!(a.step, 5_000.0);
        assert_eq!(a.values, [0.0, 5_000.0, 10_000.0, 15_000.0, 20_000.0]);
        let a = ticks(0.14, 1.84, 10, false);
        assert_eq!(a.step, 0.2);
        assert!(a.lo() <= 0.14 && a.hi() >= 1.84);
        assert_eq!(a.label(a.values[1]), "0.2");
        // Counts never get fractional ticks.
        assert_eq!(ticks(0.0, 3.0, 10, true).step, 1.0);
        // Negative values.
        let a = ticks(-12.0, 45.0, 6, false);
        assert_eq!((a.lo(), a.hi(), a.step), (-20.0, 50.0, 10.0));
    }

    #[test]
    fn degenerate_ranges_still_have_ticks() {
        for (lo, hi) in [(0.0, 0.0), (5.0, 5.0), (f64::NAN, 1.0), (3.0, -3.0)] {
            let a = ticks(lo, hi, 6, false);
            assert!(a.values.len() >= 2, "{lo}..{hi}: {a:?}");
            assert!(a.hi() > a.lo());
        }
    }

    #[test]
    fn numbers_have_thousands_separators() {
        assert_eq!(number(1_000_000.0, 0), "1,000,000");
        assert_eq!(number(-2_500.0, 0), "-2,500");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(1234.5, 1), "1,234.5");
        assert_eq!(number(-0.0001, 2), "0.00");
        assert_eq!(number(f64::NAN, 0), "–");
    }

    #[test]
    fn scale_maps_linearly_and_flips() {
        let s = Scale {
            d0: 0.0,
            d1: 100.0,
            r0: 300.0,
            r1: 100.0,
        };
        assert_eq!(s.map(0.0), 300.0);
        assert_eq!(s.map(50.0), 200.0);
        assert_eq!(s.map(100.0), 100.0);
        let flat = Scale { d1: 0.0, ..s };
        assert_eq!(flat.map(7.0), 200.0);
    }

    #[test]
    fn paths_skip_non_finite_points() {
        let s = Scale {
            d0: 0.0,
            d1: 10.0,
            r0: 0.0,
            r1: 100.0,
        };
        let d = path(&[(0.0, 0.0), (f64::NAN, 1.0), (10.0, 10.0)], &s, &s);
        assert_eq!(d, "M0.0 0.0L100.0 100.0");
        assert_eq!(path(&[], &s, &s), "");
        assert!(path(&[(1.0, 1.0)], &s, &s).ends_with("h0.01"));
    }

    #[test]
    fn band_labels_never_overlap() {
        // A 0.05 s ramp before a 3 s hold: "ramp" (30 px) runs into the
        // hold, whose label moves right of it.
        let xs = band_label_xs(
            &[(84.0, 90.0, 4), (90.0, 800.0, 4), (800.0, 876.0, 8)],
            876.0,
        );
        assert_eq!(xs, [Some(86.0), Some(124.0), Some(802.0)]);
        // A teardown label that would pass the right edge ends there.
        let xs = band_label_xs(&[(84.0, 860.0, 4), (860.0, 876.0, 8)], 876.0);
        assert_eq!(xs, [Some(86.0), Some(816.0)]);
        // No room at all: the later label is left out, never drawn over.
        let xs = band_label_xs(&[(84.0, 86.0, 4), (86.0, 88.0, 4), (88.0, 876.0, 8)], 876.0);
        assert_eq!(xs, [Some(86.0), None, Some(124.0)]);
        // Empty and inverted bands have no label.
        assert_eq!(
            band_label_xs(&[(5.0, 5.0, 4), (9.0, 1.0, 4)], 876.0),
            [None, None]
        );
        // Every placed label clears the one before.
        let many: Vec<(f64, f64, usize)> = (0..30)
            .map(|i| (84.0 + i as f64, 85.0 + i as f64, 8))
            .collect();
        let placed: Vec<f64> = band_label_xs(&many, 876.0).into_iter().flatten().collect();
        assert!(
            placed
                .windows(2)
                .all(|w| w[1] >= w[0] + 8.0 * LABEL_EM + LABEL_GAP)
        );
    }

    #[test]
    fn charts_without_data_are_none() {
        assert!(LineChart::default().render(300.0).is_none());
        assert!(BarChart::default().render().is_none());
    }

    #[test]
    fn text_is_escaped() {
        let c = BarChart {
            title: "<b>&".into(),
            bars: vec![Bar {
                label: "a<script>".into(),
                value: 1.0,
                text: "\"x\"".into(),
                color: "k1",
                hover: "'".into(),
            }],
            ..Default::default()
        };
        let svg = c.render().unwrap();
        assert!(svg.contains("&lt;b&gt;&amp;"));
        assert!(svg.contains("a&lt;script&gt;"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&quot;x&quot;"));
    }
}
