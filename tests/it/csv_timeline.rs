//! The timeline CSV (`--csv`, `c1m report --csv`), pure and fast:
//!
//! - the README's list of its columns is the code's, every one of them
//!   (`target`, `reconnects` and `retrying` included), so the two cannot
//!   drift apart;
//! - a run's CSV and the CSV `c1m report --csv` makes of the run's saved
//!   JSON are the same bytes, whatever the floats (every sample's `t`
//!   survives the JSON exactly: serde_json's `float_roundtrip`).
//!
//! End to end, `gate.rs` compares a real run's `--csv` with `c1m report
//! --csv -` of its `--json`.

use std::path::Path;

use c1m::report::model::{Phase, Sample};

/// Every column the CSV can have: a sample with every optional figure
/// (the stages' `target`, `--reconnect`'s `reconnects` and `retrying`).
fn every_column() -> Vec<String> {
    let full = Sample {
        target: Some(1),
        reconnects: Some(1),
        retrying: Some(1),
        ..Sample::default()
    };
    let text = String::from_utf8(c1m::report::csv::timeline(&[full]).unwrap()).unwrap();
    let header = text.lines().next().unwrap();
    header.split(',').map(str::to_string).collect()
}

/// The README's list of the columns: the backquoted text that starts
/// `` `t, phase, ``, its words split on commas.
fn readme_columns() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let at = readme
        .find("`t, phase,")
        .expect("README.md lists the CSV's columns as `t, phase, …`");
    let rest = &readme[at + 1..];
    let end = rest.find('`').unwrap();
    rest[..end]
        .split(',')
        .map(|w| w.split_whitespace().collect::<String>())
        .collect()
}

#[test]
fn the_readme_lists_every_csv_column_in_order() {
    let code = every_column();
    assert!(
        ["target", "reconnects", "retrying"]
            .iter()
            .all(|c| code.iter().any(|k| k == c)),
        "{code:?}"
    );
    assert_eq!(
        readme_columns(),
        code,
        "README.md's list of the CSV's columns is not the code's (report::csv::timeline's header)"
    );
}

/// Seconds as the supervisor makes a sample's `t` (a monotonic clock's
/// elapsed time, to the nanosecond), or as arithmetic on them makes them
/// (a merged timeline's offsets): full 17-digit floats, one in five of
/// which serde_json's default (best-effort) parse reads an ulp off.
fn elapsed(rng: &mut fastrand::Rng) -> f64 {
    let d = std::time::Duration::from_nanos(rng.u64(..3_600_000_000_000)).as_secs_f64();
    if rng.bool() { d + rng.f64() * 1e-3 } else { d }
}

/// serde_json's exact float parse is asked for by c1m itself, not only
/// by a test dependency (which gives it to the tests' build alone): the
/// binary people build reads reports back exactly too.
#[test]
fn reports_are_read_back_with_exact_floats_in_every_build() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("serde_json ="))
        .expect("serde_json in [workspace.dependencies]");
    assert!(line.contains("float_roundtrip"), "{line}");
}

#[test]
fn a_saved_reports_csv_is_the_runs_byte_for_byte() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/run-fanout.json");
    let mut r = c1m::report::read_json_in(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut rng = fastrand::Rng::with_seed(0xc5f_1e5);
    let mut t = 0.0;
    r.timeline = (0..20_000)
        .map(|i| {
            t += elapsed(&mut rng) / 1e6;
            Sample {
                t: if i % 2 == 0 { t } else { elapsed(&mut rng) },
                phase: Phase::Hold,
                established: rng.u64(..),
                mem_available: rng.bool().then(|| rng.u64(..)),
                target: Some(rng.u64(..1_000_000)),
                reconnects: Some(i),
                retrying: Some(0),
                ..Sample::default()
            }
        })
        .collect();
    let direct = c1m::report::csv::timeline(&r.timeline).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.json");
    // As `--json FILE` writes it, and as `c1m report` reads it back.
    c1m::report::write_json(&saved, &r).unwrap();
    let back = c1m::report::read_json_in(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let converted = c1m::report::csv::timeline(&back.timeline).unwrap();
    let (a, b) = (
        String::from_utf8_lossy(&direct),
        String::from_utf8_lossy(&converted),
    );
    if let Some((x, y)) = a.lines().zip(b.lines()).find(|(x, y)| x != y) {
        panic!("the saved report's CSV differs from the run's:\n  run:   {x}\n  saved: {y}");
    }
    assert_eq!(direct, converted);
    // `--json -` writes it on one line: the same.
    let line = serde_json::to_string(&r).unwrap();
    let back = c1m::report::read_json_in(&line).unwrap();
    assert_eq!(c1m::report::csv::timeline(&back.timeline).unwrap(), direct);
}
