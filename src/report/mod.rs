//! What an experiment tells its user. The session fills one typed
//! [`model::Report`]; [`judge`] decides what was held and whether the run
//! did what was asked; [`rows`] turns the report into the summary's rows
//! once, which [`text`] prints and [`html`] lays out; the JSON is the
//! report itself, serialized.
//!
//! **Invariant:** no renderer reads the JSON by string keys, and no row
//! of the summary is written twice: both renderers take [`rows::summary`].

pub mod csv;
pub mod gate;
pub mod html;
pub mod judge;
pub mod merge;
pub mod model;
pub mod rows;
pub mod staged;
pub mod text;
pub mod tls;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::latency::{Latency, Percentiles};
use crate::traffic::Traffic;
use model::{LatencyReport, Report, TrafficSummary};

/// The path that means stdout (`--json -`).
pub const STDOUT: &str = "-";

/// Whether `path` means stdout ([`STDOUT`]).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == STDOUT
}

/// Writes the JSON report to `path`, indented; or to stdout for `-`, as
/// one compact line and a newline, flushed (a log that interleaves stderr,
/// as `kubectl logs` does, still holds the report whole on one line:
/// [`read_json_in`] finds it).
pub fn write_json(path: &Path, r: &Report) -> anyhow::Result<()> {
    if is_stdout(path) {
        // Every failure named so, the serializer's writes included
        // (trial 5: `| head -c 10` gave a bare "Broken pipe").
        let mut out = std::io::stdout().lock();
        return serde_json::to_writer(&mut out, r)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush())
            .context("writing the JSON report to stdout");
    }
    let text = serde_json::to_string_pretty(r)? + "\n";
    write_whole(path, text.as_bytes())
        .with_context(|| format!("writing the JSON report to {}", path.display()))
}

/// Writes `bytes` to `path` whole or not at all: a regular file (or a new
/// one) is written beside it under a temporary name, synced, and renamed
/// over it, so a full disk or a crash never leaves a truncated report and
/// an older file at `path` stays as it was; the temporary file is removed
/// on failure. Anything else (a FIFO, `/dev/stdout`, a symlink) is
/// written in place, as are files in a directory c1m may not create in.
///
/// Errors: those of open(2), write(2) (`ENOSPC`: a full disk, `EDQUOT`),
/// fsync(2) and rename(2).
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let replaceable = match std::fs::symlink_metadata(path) {
        Ok(m) => m.file_type().is_file(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    let Some(name) = path.file_name().filter(|_| replaceable) else {
        return std::fs::write(path, bytes);
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".c1m-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let mut file = match std::fs::File::create(&tmp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return std::fs::write(path, bytes);
        }
        Err(e) => return Err(e),
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Shows a finished report and writes it: the summary on stdout (on
/// stderr when the JSON goes to stdout), the verdict's reason as the last
/// line of stderr, the JSON to `json` (`-`: stdout, one compact line, so
/// a log that mixes both streams still holds it whole on one line), the
/// HTML to `html`, the timeline as CSV to `csv` (`-`: stdout; the summary
/// then goes to stderr too). Returns the verdict's exit code.
///
/// Every output is tried whatever happened to the others: a summary that
/// cannot be written (stdout on a full disk) does not keep the files
/// from being written, nor a JSON file that cannot the HTML.
///
/// Errors: an output that could not be written, each named with its path
/// and the system's reason (`No space left on device`), and whether the
/// summary reached stdout; the verdict's reason is on stderr before it.
/// The caller exits 2 on an error, whatever the verdict was.
pub fn publish(
    r: &Report,
    json: Option<&Path>,
    html: Option<&Path>,
    csv: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let to_stdout = json.is_some_and(is_stdout) || csv.is_some_and(is_stdout);
    let summary = text::summary(r);
    let mut failed = Vec::new();
    let mut shown = true;
    if to_stdout {
        crate::say!("{summary}");
    } else {
        // A reader that stopped reading (`c1m merge … | head -1`) is not
        // c1m's failure: the rest of the summary goes nowhere, the files
        // are still written, and the exit code is still the verdict's.
        match writeln!(std::io::stdout().lock(), "{summary}")
            .and_then(|()| std::io::stdout().lock().flush())
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                shown = false;
                failed.push(format!("writing the summary to stdout: {e}"));
            }
        }
    }
    if let Some(why) = &r.verdict.reason {
        crate::say!("c1m: {why}");
    }
    if let Some(path) = json
        && let Err(e) = write_json(path, r)
    {
        failed.push(format!("{e:#}"));
    }
    if let Some(path) = html
        && let Err(e) = write_html(path, r)
    {
        failed.push(format!("{e:#}"));
    }
    if let Some(path) = csv
        && let Err(e) = csv::write(path, &r.timeline)
    {
        failed.push(format!("{e:#}"));
    }
    if failed.is_empty() {
        return Ok(ExitCode::from(r.verdict.exit_code));
    }
    let whole = if shown {
        "; the summary above has every figure"
    } else {
        ""
    };
    anyhow::bail!(
        "{}{whole} (the experiment's verdict: {})",
        failed.join("; "),
        r.verdict.reason.as_deref().unwrap_or("OK")
    )
}

/// `d` in seconds to the microsecond, as the timeline's `t` is written:
/// `8.298852`, never `8.298851623000001` (the float nearest a whole
/// number of microseconds prints as that number).
pub fn micros(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// Writes the HTML report to `path`.
pub fn write_html(path: &Path, r: &Report) -> anyhow::Result<()> {
    let page = html::render(r)?;
    write_whole(path, page.as_bytes())
        .with_context(|| format!("writing the HTML report to {}", path.display()))
}

/// Reads a JSON report back; fails for anything that is not a
/// `c1m.report/3` document, naming what is wrong.
///
/// Errors, each one line with `{:#}`: not JSON; no `"schema"` field;
/// another schema (a `c1m.report/1` file written by an older c1m, named
/// as such); a `c1m.report/3` document whose fields do not match the
/// types (serde's message, with the line and column).
pub fn read_json(text: &str) -> anyhow::Result<Report> {
    let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(model::SCHEMA) => {}
        Some(other) => anyhow::bail!(
            "a {other:?} report: this c1m reads {:?} reports only (run the experiment again with this version)",
            model::SCHEMA
        ),
        None => anyhow::bail!("not a c1m report: no \"schema\" field naming its format"),
    }
    serde_json::from_value(v).with_context(|| {
        format!(
            "a {:?} report that does not match its schema",
            model::SCHEMA
        )
    })
}

/// Reads a JSON report from a file's text: the whole text, or, for a
/// log that holds more (`kubectl logs` mixes a pod's stderr summary with
/// the one-line report `--json -` prints on stdout), its last line that is
/// a c1m report.
///
/// Errors: those of [`read_json`] for the whole text when no line of it is
/// a report.
pub fn read_json_in(text: &str) -> anyhow::Result<Report> {
    let whole = read_json(text);
    if whole.is_ok() {
        return whole;
    }
    text.lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{') && l.contains("\"schema\""))
        .find_map(|l| read_json(l).ok())
        .map_or(whole, Ok)
}

/// The report's JSON Schema (draft 2020-12), generated from
/// [`model::Report`] and the types it holds: their doc comments are its
/// descriptions, `deny_unknown_fields` closes every object. This is what
/// `schema/report.schema.json` holds; `tests/it/report_schema.rs` fails when
/// the committed file differs (`C1M_BLESS=1 cargo test --release --test it
/// report_schema` rewrites it).
pub fn schema() -> serde_json::Value {
    use serde_json::Value;
    let root = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Report>();
    let mut s = Value::from(root);
    tidy_schema(&mut s);
    s["$id"] = model::SCHEMA.into();
    s["title"] = "c1m report (--json)".into();
    s["description"] = SCHEMA_DESCRIPTION.into();
    s["properties"]["schema"]["const"] = model::SCHEMA.into();
    s
}

/// The schema's top description (the one of [`Report`] is a line).
const SCHEMA_DESCRIPTION: &str = "What `c1m run|serve|connect|lab run --json FILE` writes at the end of an experiment: the plan; how many connections were held (at the top, at the end of the hold, at the lowest) and the verdict on it; the kernel's own counts; what the server side accepted and left waiting in its accept queues; connections only the client has; closes by cause; the listen-queue counters; the workers' counters; what the connections cost in kernel and user memory; latency; a capacity search's finding; the `--fail-if` thresholds, each judged pass or fail with the figure and its exit code; and the timeline sampled about every 250 ms (`--csv` writes it as CSV, the same columns). Times are seconds unless a name ends in `_us` (microseconds) or `_ms`, memory is bytes, counts are connections unless said otherwise. A figure that could not be taken is null, never 0. The HTML report (`--html`) is rendered from the same document, and `c1m::report::read_json` reads one back. Generated from the report's Rust types (src/report/model.rs).";

/// Makes schemars' output read as documentation: a doc comment's wrapped
/// lines joined (paragraphs kept), rustdoc link brackets dropped, and
/// the tag of an internally tagged enum described by its variant.
fn tidy_schema(v: &mut serde_json::Value) {
    use serde_json::Value;
    let Value::Object(m) = v else {
        if let Value::Array(a) = v {
            a.iter_mut().for_each(tidy_schema);
        }
        return;
    };
    if let Some(Value::String(d)) = m.get_mut("description") {
        *d = d
            .split("\n\n")
            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n\n")
            .replace("[`", "`")
            .replace("`]", "`");
    }
    let variant = m
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let (Some(variant), Some(Value::Object(props))) = (variant, m.get_mut("properties")) {
        for p in props.values_mut() {
            if let (Some(tag), None) =
                (p.get("const").and_then(Value::as_str), p.get("description"))
            {
                p["description"] = format!("`{tag}`: {variant}").into();
            }
        }
    }
    m.values_mut().for_each(tidy_schema);
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
            offered: None,
        }
    }

    /// [`TrafficSummary::of`], with the rate a heartbeat schedule over
    /// `conns` connections offered.
    pub fn offered(t: &Traffic, conns: u64) -> Self {
        let beats = t.mode == crate::traffic::Mode::Heartbeat && conns > 0;
        Self {
            offered: beats.then(|| conns as f64 / t.interval.as_secs_f64().max(1e-9)),
            ..Self::of(t)
        }
    }
}

impl LatencyReport {
    /// Percentiles of every histogram, and the histograms (`lost` left
    /// at 0).
    pub fn of(l: &Latency) -> Self {
        Self {
            connect: Percentiles::of(&l.connect),
            tls_handshake: Percentiles::of(&l.tls_handshake),
            ws_upgrade: Percentiles::of(&l.ws_upgrade),
            first_byte: Percentiles::of(&l.first_byte),
            rtt: Percentiles::of(&l.rtt),
            lost: 0,
            histograms: Some(l.encode()),
        }
    }
}

/// The binary unit that keeps `|n|` between 1 and 1024 (or under 1 KiB
/// in bytes, or in TiB past them): `(divisor, name)`, `(1024.0, "KiB")`.
/// [`bytes`] formats with it; charts scale an axis with it.
pub fn byte_unit(n: f64) -> (f64, &'static str) {
    let mut d = 1.0;
    for u in ["B", "KiB", "MiB", "GiB"] {
        if n.abs() < d * 1024.0 {
            return (d, u);
        }
        d *= 1024.0;
    }
    (d, "TiB")
}

/// Bytes in a short binary unit: `3.9 KiB`, `1.2 GiB`; signed and
/// fractional, for deltas and per-connection figures.
pub fn bytes(n: f64) -> String {
    let (d, unit) = byte_unit(n);
    let v = n.abs() / d;
    let sign = if n <= -0.5 || (d > 1.0 && n < 0.0) {
        "-"
    } else {
        ""
    };
    if d == 1.0 {
        format!("{sign}{v:.0} B")
    } else {
        format!("{sign}{v:.1} {unit}")
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

/// The captured reports of `tests/fixtures/reports/` (made by real runs,
/// as their README says), for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::model::{KernelCount, Origin, Phase, Report, Sample};

    /// A run's origin on host (and node) `host`, started at Unix second
    /// 1,764,583,200 (2026-12-01 10:00 UTC), whole.
    pub fn origin(host: &str) -> Origin {
        Origin {
            version: "0.1.0".into(),
            host: host.into(),
            node: host.into(),
            kernel: Some(format!("boot-id-of-{host}")),
            netns: None,
            shard: None,
            started_at: 1_764_583_200.0,
            start_at: None,
            ramp_started_at: Some(1_764_583_200.5),
            run_netns: None,
        }
    }

    /// A timeline point with `established` clients held and every other
    /// figure zero or unread.
    pub fn sample(t: f64, phase: Phase, established: u64) -> Sample {
        Sample {
            t,
            phase,
            established,
            server_established: None,
            connecting: 0,
            failed: 0,
            closed: 0,
            mem_available: None,
            slab: None,
            rss: None,
            sent: 0,
            replies: 0,
            rtt_p50_us: None,
            rtt_p99_us: None,
            rtt_max_us: None,
            target: None,
            reconnects: None,
            retrying: None,
        }
    }

    /// A kernel count of c1m's own `(server_own, client_own)` ESTABLISHED
    /// sockets among everyone's `(server_side, client_side)` on the
    /// endpoints, none in another state.
    pub fn counted(
        server_own: u64,
        client_own: u64,
        server_side: u64,
        client_side: u64,
    ) -> KernelCount {
        KernelCount::Counted {
            client_own,
            client_own_close_wait: 0,
            client_own_other: 0,
            server_own,
            own_took: 0.001,
            server_side,
            client_side,
            client_close_wait: 0,
            took: 0.01,
        }
    }

    /// Every captured report's name.
    pub const FIXTURES: [&str; 8] = [
        "run-fanout",
        "run-heartbeat",
        "run-worker-died",
        "connect-mixed",
        "connect-others",
        "connect-redis-cap",
        "find-limit",
        "serve",
    ];

    /// One captured report, read back.
    pub fn fixture(name: &str) -> Report {
        let path = format!(
            "{}/tests/fixtures/reports/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        super::read_json(&text).unwrap_or_else(|e| panic!("{path}: {e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_to_the_microsecond() {
        let d = std::time::Duration::from_nanos(8_298_851_623);
        assert_eq!(serde_json::to_string(&micros(d)).unwrap(), "8.298851");
        let d = std::time::Duration::from_nanos(1_000_000_400);
        assert_eq!(serde_json::to_string(&micros(d)).unwrap(), "1.0");
    }

    #[test]
    fn byte_units() {
        assert_eq!(byte_unit(0.0), (1.0, "B"));
        assert_eq!(byte_unit(1023.0), (1.0, "B"));
        assert_eq!(byte_unit(80.0 * 1024.0 * 1024.0).1, "MiB");
        assert_eq!(byte_unit(-3.0 * 1024.0 * 1024.0 * 1024.0).1, "GiB");
        assert_eq!(byte_unit(5e15).1, "TiB");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(-0.4), "0 B");
        assert_eq!(bytes(-1023.0), "-1023 B");
        assert_eq!(bytes(1024.0), "1.0 KiB");
        assert_eq!(bytes(3993.6), "3.9 KiB");
        assert_eq!(bytes(-2048.0), "-2.0 KiB");
        assert_eq!(bytes(3.2 * 1024.0 * 1024.0 * 1024.0), "3.2 GiB");
    }

    /// A report written by an older c1m is refused in one line that
    /// names its schema, not with serde's first unknown field.
    #[test]
    fn a_report_is_found_in_a_log() {
        let r = fixtures::fixture("connect-mixed");
        let line = serde_json::to_string(&r).unwrap();
        let log = format!("c1m connect: 1,000 held\n{line}\nc1m: held 1,000 of 2,000\n");
        assert_eq!(read_json_in(&log).unwrap(), r);
        let pretty = serde_json::to_string_pretty(&r).unwrap();
        assert_eq!(read_json_in(&pretty).unwrap(), r);
        let e = format!(
            "{:#}",
            read_json_in("no report here\n{\"x\": 1}").unwrap_err()
        );
        assert!(e.starts_with("not JSON"), "{e}");
    }

    #[test]
    fn old_reports_are_refused_naming_their_schema() {
        let v2 = r#"{"schema": "c1m.report/2", "label": "spread", "target": 20000,
            "reached": 20000, "verified": {"Ok": {"server_side": 1}}, "end": "completed"}"#;
        let e = format!("{:#}", read_json(v2).unwrap_err());
        assert_eq!(
            e,
            "a \"c1m.report/2\" report: this c1m reads \"c1m.report/3\" reports only (run the experiment again with this version)"
        );
        for (doc, says) in [
            ("[1, 2]", "no \"schema\" field"),
            ("{\"label\": \"run\"}", "no \"schema\" field"),
            ("{\"schema\": 2}", "no \"schema\" field"),
            ("{\"schema\": \"c1m.stat/1\"}", "\"c1m.stat/1\""),
            ("not json", "not JSON: "),
            (
                "{\"schema\": \"c1m.report/3\", \"label\": \"run\"}",
                "a \"c1m.report/3\" report that does not match its schema: missing field",
            ),
        ] {
            let e = format!("{:#}", read_json(doc).unwrap_err());
            assert!(e.contains(says), "{doc}: {e}");
            assert!(!e.contains('\n'), "{doc}: not one line: {e}");
        }
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
