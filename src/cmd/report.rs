//! `c1m report`: a saved report shown again, converted (`--csv` for its
//! timeline, `--html`, `--json`), or judged against thresholds
//! (`--fail-if`), exiting with the verdict's code: CI runs the experiment
//! once and gates on its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::report::{self, gate, judge};
use crate::threshold::{self, Gate, Threshold};

/// `c1m report` flags.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report: a `--json` file, or a log that holds one (`kubectl
    /// logs POD`, with the report printed by `--json -`).
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Write its timeline as CSV to this file (`-`: stdout, the summary
    /// then going to stderr): one row per sample, the JSON timeline's
    /// columns, a header row.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write it as one self-contained HTML file with charts.
    #[arg(long, value_name = "FILE", value_parser = super::args::html_file())]
    pub html: Option<PathBuf>,
    /// Write it as JSON to this file (`-`: stdout, one line), with the
    /// thresholds of --fail-if and their verdict.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Judge it against this threshold (repeatable; as `c1m run
    /// --fail-if`), in place of those it was run with; the exit code is
    /// then the new verdict's (3 held, 4 latency, 5 failures, 6 the
    /// ramp's pace).
    #[arg(long = "fail-if", value_name = "THRESHOLD", value_parser = threshold::parse)]
    pub fail_if: Vec<Threshold>,
}

/// Reads the report, judges it when asked, shows and writes it. The exit
/// code: judged again (`--fail-if`), or only shown, the verdict's (the
/// saved run's when not judged again: `c1m report run.json` fails as the
/// run did); converted (`--csv`, `--html`, `--json`) without `--fail-if`,
/// 0 once written, since converting a report is not the run (`c1m report
/// R --csv - > t.csv` works under `set -e` whatever R's run did); 2 when
/// an output could not be written.
pub fn run(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let stdout = |p: &Option<PathBuf>| p.as_deref().is_some_and(report::is_stdout);
    if stdout(&a.csv) && stdout(&a.json) {
        bail!("--csv - and --json - both write to stdout: send one of them to a file");
    }
    // Every output is checked before anything is read or written.
    if let Some(p) = &a.json {
        super::settings::writable("--json", p, true)?;
    }
    if let Some(p) = &a.html {
        super::settings::writable("--html", p, false)?;
    }
    if let Some(p) = &a.csv {
        super::settings::writable("--csv", p, true)?;
    }
    let name = a.report.display().to_string();
    let text = std::fs::read_to_string(&a.report).map_err(|e| {
        anyhow::anyhow!(
            "REPORT {name}: {e}; name a report c1m wrote with --json (or a log holding one)"
        )
    })?;
    let mut r = super::merge::read(&name, &text)?;
    if !a.fail_if.is_empty() {
        r.thresholds = gate::judge(&Gate::new(a.fail_if.clone(), false), &r);
        r.verdict = match r.merged {
            // A merged report's verdict weighs its shards too: kept, and
            // the thresholds judged on top.
            Some(_) => judge::with_thresholds(r.verdict.clone(), &r.end, &r.thresholds),
            None => judge::verdict(&r),
        };
    }
    let verdict = report::publish(&r, a.json.as_deref(), a.html.as_deref(), a.csv.as_deref())?;
    let converting = a.csv.is_some() || a.html.is_some() || a.json.is_some();
    Ok(if converting && a.fail_if.is_empty() {
        ExitCode::SUCCESS
    } else {
        verdict
    })
}
