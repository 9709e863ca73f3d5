//! Presenting a [`Verdict`] (text table or versioned JSON) and a tuning
//! [`Plan`] (a diff). Pure: callers pass in anything read from disk.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::facts::Facts;
use crate::num::{plural, thousands};
use crate::placement::{self, KubeVersion, Place, SAFE_SET_VERSION};
use crate::target::{Role, Target};
use crate::tune::{DropIn, Plan};
use crate::verdict::{Group, Row, Scope, Status, Verdict};

/// The `schema` of `c1m doctor --json` documents.
pub const DOCTOR_SCHEMA: &str = "c1m.doctor/1";

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Binds => "BINDS",
        Status::FansOut => "fans out",
        Status::Warn => "WARN",
        Status::Unreadable => "unreadable",
        Status::Info => "",
    }
}

fn capacity_label(r: &Row) -> String {
    match (r.capacity, r.scope) {
        (None, _) => String::new(),
        (Some(c), Scope::Machine) => thousands(c),
        (Some(c), Scope::Process) => format!("{}/process", thousands(c)),
    }
}

/// The doctor's report as text: one section per group, one row per limit
/// (value, connections it allows, status, note), the warnings, and the
/// verdict line last.
pub fn doctor_text(v: &Verdict) -> String {
    let t = &v.target;
    let mut out = format!(
        "c1m doctor: {}, role {}: {} on this box\n",
        plural(t.conns, "connection", "connections"),
        role_name(t.role),
        plural(t.sockets(), "socket", "sockets")
    );
    let name_w = v
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let value_w = v
        .rows
        .iter()
        .map(|r| r.value.chars().count())
        .filter(|w| *w <= 40)
        .max()
        .unwrap_or(0);
    let cap_w = v
        .rows
        .iter()
        .map(|r| capacity_label(r).len())
        .max()
        .unwrap_or(0)
        .max("allows".len());
    let mut group: Option<Group> = None;
    for r in &v.rows {
        if group != Some(r.group) {
            group = Some(r.group);
            let _ = writeln!(
                out,
                "\n{:<name_w$}  {:<value_w$}  {:>cap_w$}  {:<10}  note",
                r.group.title(),
                "value",
                "allows",
                "",
                name_w = name_w + 2
            );
        }
        let line = format!(
            "  {:<name_w$}  {:<value_w$}  {:>cap_w$}  {:<10}  {}",
            r.name,
            r.value,
            capacity_label(r),
            status_label(r.status),
            r.note
        );
        out += line.trim_end();
        out.push('\n');
        // A binding row's fix ends the verdict line; a warning's is here.
        if let (Status::Warn, Some(fix)) = (r.status, &r.fix) {
            let _ = writeln!(out, "  {:<name_w$}  fix: {fix}", "");
        }
    }
    out.push('\n');
    out += &places_text(v);
    for w in &v.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out += &v.line();
    out.push('\n');
    out
}

/// Where the settings among the rows can be set when c1m runs in a
/// Kubernetes pod, one line per place (empty when no row is a setting):
/// kernel namespacing and the safe set of [`SAFE_SET_VERSION`].
pub fn places_text(v: &Verdict) -> String {
    let mut out = String::new();
    let places = [Place::Pod, Place::PodUnsafe, Place::Node, Place::Runtime];
    let lines: Vec<(Place, Vec<String>)> = places
        .iter()
        .map(|&place| {
            let mut names: Vec<String> = Vec::new();
            for r in v.rows.iter().filter(|r| r.place == Some(place)) {
                let name = match placement::of(&r.name).and_then(|p| p.safe_since) {
                    Some(since) if place == Place::Pod && since > KubeVersion(1, 4) => {
                        format!("{} (since {since})", r.name)
                    }
                    _ => r.name.clone(),
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            (place, names)
        })
        .filter(|(_, names)| !names.is_empty())
        .collect();
    if lines.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "in a Kubernetes pod (kernel namespacing; safe sysctls of Kubernetes {SAFE_SET_VERSION}):"
    );
    let w = lines
        .iter()
        .map(|(p, _)| p.label().chars().count())
        .max()
        .unwrap_or(0);
    for (place, names) in lines {
        let _ = writeln!(out, "  {:<w$}  {}", place.label(), names.join(", "));
    }
    out.push('\n');
    out
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Server => "server",
        Role::Client => "client",
        Role::Both => "both",
    }
}

#[derive(Serialize)]
struct Workers {
    server: u64,
    client: u64,
}

#[derive(Serialize)]
struct DoctorJson<'a> {
    schema: &'static str,
    target: &'a Target,
    sockets_per_connection: u64,
    ok: bool,
    verdict: String,
    binding: Option<&'a str>,
    fix: Option<&'a str>,
    max_connections: Option<u64>,
    per_process: Option<u64>,
    worker_processes: Workers,
    warnings: &'a [String],
    unchecked: &'a [String],
    rows: &'a [Row],
    ehash: crate::ehash::Summary,
    facts: &'a Facts,
}

/// The doctor's report as a versioned JSON document
/// (`{"schema":"c1m.doctor/1", …}`; see `schema/doctor.schema.json`).
pub fn doctor_json(v: &Verdict, facts: &Facts) -> String {
    let doc = DoctorJson {
        schema: DOCTOR_SCHEMA,
        target: &v.target,
        sockets_per_connection: v.target.role.sockets_per_connection(),
        ok: v.ok(),
        verdict: v.line(),
        binding: v.binding().map(|r| r.name.as_str()),
        fix: v.fix(),
        max_connections: v.max_connections(),
        per_process: v.per_process,
        worker_processes: Workers {
            server: v.worker_processes(Role::Server),
            client: v.worker_processes(Role::Client),
        },
        warnings: &v.warnings,
        unchecked: &v.unchecked,
        rows: &v.rows,
        ehash: crate::ehash::Summary::of(facts, &v.target),
        facts,
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        serde_json::json!({ "schema": DOCTOR_SCHEMA, "error": e.to_string() }).to_string()
    });
    text.push('\n');
    text
}

/// A drop-in as it is now: its path and contents (`None` when absent).
pub type CurrentFile = (DropIn, PathBuf, Option<String>);

/// The tuning plan as a diff: settings current → proposed with where each
/// goes, what is already enough, what is refused, then each drop-in's
/// content change.
pub fn tune_text(plan: &Plan, current: &[CurrentFile]) -> String {
    let r = &plan.request;
    let sockets = r.conns.saturating_mul(r.role.sockets_per_connection());
    let mut out = format!(
        "c1m tune: {}, role {}: {} + 10 % headroom\n\n",
        plural(r.conns, "connection", "connections"),
        role_name(r.role),
        plural(sockets, "socket", "sockets")
    );
    let path_of = |d: DropIn| {
        current
            .iter()
            .find(|(k, _, _)| *k == d)
            .map_or_else(|| format!("{d:?}"), |(_, p, _)| p.display().to_string())
    };
    if plan.changes.is_empty() {
        out += "nothing to change\n";
    }
    let name_w = plan.changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let cur_w = plan
        .changes
        .iter()
        .map(|c| c.current.chars().count())
        .max()
        .unwrap_or(0);
    let new_w = plan
        .changes
        .iter()
        .map(|c| c.proposed.chars().count())
        .max()
        .unwrap_or(0);
    for c in &plan.changes {
        let target = match (c.live.is_some(), c.drop_in) {
            (true, Some(d)) => format!("live + {}", path_of(d)),
            (true, None) => "live".into(),
            (false, Some(d)) => path_of(d),
            (false, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:>cur_w$} → {:<new_w$}  {target}\n      {}",
            c.name, c.current, c.proposed, c.why
        );
    }
    if !plan.kept.is_empty() {
        out += "\nalready enough:\n";
        for (name, value, needed) in &plan.kept {
            let _ = writeln!(out, "  {name} = {value} ({needed})");
        }
    }
    if !plan.refusals.is_empty() {
        out += "\nrefused:\n";
        for x in &plan.refusals {
            let scope = if x.blocking {
                "--apply refuses"
            } else {
                "not done"
            };
            let _ = writeln!(out, "  {} [{scope}]: {}", x.what, x.reason);
        }
    }
    for (drop_in, text) in &plan.files {
        let (path, old) = current
            .iter()
            .find(|(k, _, _)| k == drop_in)
            .map_or((path_of(*drop_in), None), |(_, p, o)| {
                (p.display().to_string(), o.as_deref())
            });
        out.push('\n');
        match old {
            Some(old) if old == text => {
                let _ = writeln!(out, "{path}: unchanged");
                continue;
            }
            Some(old) => {
                let _ = writeln!(out, "--- {path}\n+++ {path}");
                for l in old.lines() {
                    let _ = writeln!(out, "-{l}");
                }
            }
            None => {
                let _ = writeln!(out, "--- {path} (absent)\n+++ {path}");
            }
        }
        for l in text.lines() {
            let _ = writeln!(out, "+{l}");
        }
    }
    out
}
