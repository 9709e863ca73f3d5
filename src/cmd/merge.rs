//! `c1m merge`: several shards' reports made one ([`crate::report::merge`]),
//! shown and written like a single run's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::report::{self, merge};

/// `c1m merge` flags.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' reports: `--json` files, or logs that hold one
    /// (`kubectl logs POD`, with the report printed by `--json -`).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Also write the merged report as JSON to this file (`-`: to stdout,
    /// one line; the summary then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the merged report as one self-contained HTML file.
    #[arg(long, value_name = "FILE", value_parser = super::args::html_file())]
    pub html: Option<PathBuf>,
}

/// Reads, merges, prints the summary, writes the outputs; the exit code is
/// the merged verdict's (0 only when every shard held its part).
pub fn run(a: &MergeArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.json {
        super::settings::writable("--json", p, true)?;
    }
    if let Some(p) = &a.html {
        super::settings::writable("--html", p, false)?;
    }
    let mut reports = Vec::with_capacity(a.reports.len());
    for path in &a.reports {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "report {name}: cannot read it ({e}); name a --json report or a log holding one"
            )
        })?;
        let r = read(&name, &text)?;
        reports.push((name, r));
    }
    let merged = merge::merge(&reports)?;
    report::publish(&merged, a.json.as_deref(), a.html.as_deref(), None)
}

/// The report in file `name`'s `text` ([`report::read_json_in`]). A text
/// that is not one JSON document and has no line that looks like a report
/// (a `{` line with a `"schema"` field) is said to hold none, rather than
/// to be "not JSON": merge takes logs too.
pub(super) fn read(name: &str, text: &str) -> anyhow::Result<report::model::Report> {
    let found = report::read_json_in(text);
    if found.is_ok() || serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return found.with_context(|| name.to_string());
    }
    let mut lines = text.lines().rev().map(str::trim);
    match lines.find(|l| l.starts_with('{') && l.contains("\"schema\"")) {
        Some(line) => report::read_json(line).with_context(|| format!("{name}: its report line")),
        None => anyhow::bail!(
            "no c1m report found in {name} (expected a --json report or a log holding one)"
        ),
    }
}
