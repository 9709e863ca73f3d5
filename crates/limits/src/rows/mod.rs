//! The rows of the doctor's sheet, one builder per section, and the types
//! of a row. Pure, like `verdict.rs`, which picks the binding row from them.

mod fds;
mod memory;
mod ports;
mod tables;

use serde::Serialize;

use crate::facts::{Facts, Reading};
use crate::num::thousands;
use crate::placement::{self, Place};
use crate::target::Target;

/// The section of the report a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// File descriptors: system, user, process.
    Fds,
    /// Local ports and the 4-tuple.
    Ports,
    /// Kernel memory per socket.
    Memory,
    /// Listen and SYN queues.
    Queues,
    /// Connection tracking.
    Conntrack,
    /// TIME_WAIT handling.
    TimeWait,
    /// The established hash table (the 4-tuple lookup).
    Ehash,
}

impl Group {
    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Group::Fds => "fds",
            Group::Ports => "ports",
            Group::Memory => "memory",
            Group::Queues => "queues",
            Group::Conntrack => "conntrack",
            Group::TimeWait => "TIME_WAIT",
            Group::Ehash => "established hash table",
        }
    }
}

/// What a row's capacity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Connections on this box: a hard cap.
    Machine,
    /// Connections one worker process holds: c1m fans out past it.
    Process,
}

/// How a row stands against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Allows the target.
    Ok,
    /// Caps connections below the target.
    Binds,
    /// Binds per process; c1m fans out across worker processes.
    FansOut,
    /// Caps nothing now but is a trap or slows the run.
    Warn,
    /// Could not be read.
    Unreadable,
    /// Shown for context; caps nothing.
    Info,
}

/// One limit, as read and as it stands against the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Section.
    pub group: Group,
    /// The limit's name: a sysctl, `RLIMIT_NOFILE`, `MemAvailable`, …
    pub name: String,
    /// Its current value, formatted; `unreadable: …` when it could not be read.
    pub value: String,
    /// Connections it allows (see `scope`), when it caps connections at all.
    pub capacity: Option<u64>,
    /// What `capacity` counts.
    pub scope: Scope,
    /// Whether it is below what the target needs.
    pub binds: bool,
    /// How it stands.
    pub status: Status,
    /// One line of explanation.
    pub note: String,
    /// How to lift it, when it binds.
    pub fix: Option<String>,
    /// Where it can be set when c1m runs in a Kubernetes pod (the newest
    /// safe set known, [`placement::SAFE_SET_VERSION`]); `None` for what is
    /// not a setting (`MemAvailable`, `fs.file-nr`, the 4-tuple …).
    pub place: Option<Place>,
}

/// The rows and what the verdict needs beside them.
pub(crate) struct Sheet {
    pub rows: Vec<Row>,
    pub per_process: Option<u64>,
    pub per_process_basis: String,
    pub warnings: Vec<String>,
    pub unchecked: Vec<String>,
}

/// What every section builder reads and writes.
pub(crate) struct Ctx<'a> {
    pub f: &'a Facts,
    pub t: &'a Target,
    pub tune: String,
    pub sheet: Sheet,
}

impl Ctx<'_> {
    /// A row that caps nothing.
    pub fn push(
        &mut self,
        group: Group,
        name: &str,
        value: String,
        status: Status,
        note: String,
    ) -> &mut Row {
        self.sheet.rows.push(Row {
            group,
            name: name.into(),
            value,
            capacity: None,
            scope: Scope::Machine,
            binds: false,
            status,
            note,
            fix: None,
            place: placement::of(name).map(placement::Placement::place),
        });
        self.sheet.rows.last_mut().expect("just pushed")
    }

    /// A hard cap of `capacity` connections on this box.
    pub fn cap(
        &mut self,
        group: Group,
        name: &str,
        value: String,
        capacity: u64,
        note: String,
        fix: String,
    ) {
        let binds = capacity < self.t.conns;
        let row = self.push(
            group,
            name,
            value,
            if binds { Status::Binds } else { Status::Ok },
            note,
        );
        row.capacity = Some(capacity);
        row.binds = binds;
        row.fix = binds.then_some(fix);
    }

    /// A [`Status::Warn`] row whose danger is also listed among the
    /// verdict's warnings as `what: note`.
    pub fn warn(&mut self, group: Group, name: &str, value: String, what: &str, note: String) {
        self.sheet.warnings.push(format!("{what}: {note}"));
        self.push(group, name, value, Status::Warn, note);
    }

    /// A row for a value that could not be read; a hard cap left unchecked
    /// when `is_cap`.
    pub fn unreadable(&mut self, group: Group, name: &str, why: &str, is_cap: bool) {
        self.push(
            group,
            name,
            format!("unreadable: {why}"),
            Status::Unreadable,
            String::new(),
        );
        if is_cap {
            self.sheet.unchecked.push(name.into());
        }
    }

    /// A plain informational number.
    pub fn info(
        &mut self,
        group: Group,
        name: &str,
        reading: &Reading<u64>,
        note: impl FnOnce(u64) -> (Status, String),
    ) {
        match reading {
            Reading::Value(v) => {
                let (status, note) = note(*v);
                self.push(group, name, thousands(*v), status, note);
            }
            Reading::Unreadable(why) => self.unreadable(group, name, why, false),
        }
    }
}

/// Builds every row for `target` on `facts`.
pub(crate) fn build(f: &Facts, t: &Target) -> Sheet {
    let mut cx = Ctx {
        f,
        t,
        tune: format!("c1m tune --target {} --apply", t.conns),
        sheet: Sheet {
            rows: Vec::new(),
            per_process: None,
            per_process_basis: String::new(),
            warnings: Vec::new(),
            unchecked: Vec::new(),
        },
    };
    fds::fds(&mut cx);
    ports::ports(&mut cx);
    memory::memory(&mut cx);
    tables::queues(&mut cx);
    tables::conntrack(&mut cx);
    tables::time_wait(&mut cx);
    tables::ehash(&mut cx);
    cx.sheet
}
