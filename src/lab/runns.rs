//! `c1m run`'s own network namespace: `c1m-run-<supervisor pid>`, made
//! with an established hash table sized for the run's sockets, so the
//! 4-tuple lookup (`__inet_lookup_established`) walks chains of at most
//! ~0.5 sockets instead of the host table's (`c1m_limits::ehash`).
//!
//! Making one ([`RunNetns::create`]):
//!
//! 1. remove the namespaces of runs whose supervisor no longer runs
//!    (a SIGKILLed `c1m run` leaves its namespace behind);
//! 2. write the size to the host's `net.ipv4.tcp_child_ehash_entries`,
//!    create the namespace (`ip netns add`: bind-mounted under
//!    `/run/netns`), and put the host's value back at once, whatever
//!    happened (the size is read only while a namespace is created);
//! 3. inside: bring `lo` up (127.0.0.0/8 is on it), copy the host's
//!    per-namespace sysctls the planner and `c1m tune` rely on (a new
//!    namespace starts from the kernel's defaults, not the host's), and
//!    read `tcp_ehash_entries` back: the kernel falls back to the host's
//!    table when it cannot allocate one (it then reads negative).
//!
//! **Architecture invariant: the namespace is removed at every end.** A
//! [`RunNetns`] deletes it when dropped: after the report (normal end,
//! Ctrl-C, a worker that died, an error, a panic — unwinding drops it).
//! The workers inside are gone by then (`Fleet` kills and reaps them, and
//! they die with the supervisor: `PR_SET_PDEATHSIG`). Only a SIGKILL of
//! the supervisor skips the drop; the next `c1m run` removes what it left
//! (step 1).

use std::io;
use std::path::Path;

use anyhow::{Context, Result, bail};
use c1m_limits::placement::{self, Scope};
use c1m_limits::{Facts, Reading};
use c1m_sys::netns;

use crate::ip::rtnl::Rtnl;
use crate::plan::netns::{run_netns_name, run_netns_pid};
use crate::report::model::RunNetnsReport;

/// The host's sysctl that sizes a new namespace's table (Linux 6.1+).
const CHILD_EHASH: &str = "net.ipv4.tcp_child_ehash_entries";

/// Per-namespace sysctls a new namespace sizes from its own table
/// (`tcp_sk_init`, net/ipv4/tcp_ipv4.c): the larger of the host's value
/// and the kernel's default for the table is kept.
const SIZED_BY_TABLE: [&str; 2] = [
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_tw_buckets",
];

/// CAP_SYS_ADMIN (capability(7)): creating and entering namespaces.
const CAP_SYS_ADMIN: u32 = 21;

/// A run's network namespace, deleted when dropped.
#[derive(Debug)]
pub struct RunNetns {
    name: String,
    planned: u64,
    table: Option<c1m_limits::parse::EhashTable>,
    /// Sysctls copied from the host, `name = value`.
    pub copied: Vec<String>,
    /// What could not be set up inside, one line each (the run goes on).
    pub warnings: Vec<String>,
}

/// Why the run stays in the host's namespace, when it cannot have its
/// own: one line (not root, no CAP_SYS_ADMIN, a kernel before 6.1, …).
pub fn unavailable(facts: &Facts) -> Option<String> {
    match facts.has_cap(CAP_SYS_ADMIN) {
        Reading::Value(true) => {}
        Reading::Value(false) => {
            return Some("creating a network namespace needs CAP_SYS_ADMIN (run as root)".into());
        }
        Reading::Unreadable(why) => return Some(format!("capabilities unreadable ({why})")),
    }
    match &facts.tcp_child_ehash_entries {
        Reading::Value(_) => None,
        Reading::Unreadable(why) if why.ends_with("missing") => Some(format!(
            "this kernel ({}) has no {CHILD_EHASH} (Linux 6.1+)",
            facts.kernel_release.value().map_or("?", String::as_str)
        )),
        Reading::Unreadable(why) => Some(format!("{CHILD_EHASH} unreadable: {why}")),
    }
}

/// Removes the run namespaces whose supervisor no longer runs; returns
/// their names.
pub fn remove_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in netns::list().context("listing network namespaces")? {
        let Some(pid) = run_netns_pid(&name) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        match netns::delete(&name) {
            Ok(()) => removed.push(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing stale {name}")),
        }
    }
    Ok(removed)
}

fn write_sysctl(name: &str, value: &str) -> io::Result<()> {
    std::fs::write(c1m_probe::sysctl::path(Path::new("/proc"), name), value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {value} to {name}: {e}")))
}

fn read_sysctl(name: &str) -> io::Result<String> {
    c1m_probe::sysctl::read(Path::new("/proc"), name)
}

impl RunNetns {
    /// Makes the namespace of the run whose supervisor is this process,
    /// with a table of `buckets` buckets (a power of two ≤ 2^24: see
    /// `c1m_limits::ehash::child_buckets`). Needs CAP_SYS_ADMIN and Linux
    /// 6.1+ (check [`unavailable`] first). On an error nothing is left:
    /// neither the namespace nor a changed host sysctl.
    pub fn create(buckets: u64) -> Result<Self> {
        let name = run_netns_name(std::process::id());
        if netns::exists(&name) {
            netns::delete(&name).with_context(|| format!("removing an earlier {name}"))?;
        }
        let before = read_sysctl(CHILD_EHASH).with_context(|| format!("reading {CHILD_EHASH}"))?;
        write_sysctl(CHILD_EHASH, &buckets.to_string())?;
        let made = netns::create(&name);
        let restored = write_sysctl(CHILD_EHASH, &before);
        made?;
        let mut ns = RunNetns {
            name,
            planned: buckets,
            table: None,
            copied: Vec::new(),
            warnings: Vec::new(),
        };
        // From here on, dropping `ns` deletes the namespace.
        if let Err(e) = restored {
            bail!("{e}; set it back by hand: sysctl -w {CHILD_EHASH}={before}");
        }
        let host: Vec<(&'static str, Option<String>)> = placement::TABLE
            .iter()
            .filter(|p| p.scope == Scope::NetNamespace)
            .map(|p| (p.name, read_sysctl(p.name).ok()))
            .collect();
        let inside = netns::run_in(&ns.name, || -> Result<_> {
            let mut nl = Rtnl::open().context("opening rtnetlink")?;
            super::bring_up_loopback(&mut nl)?;
            let mut copied = Vec::new();
            let mut warnings = Vec::new();
            for (key, value) in &host {
                let Some(value) = value else { continue };
                let Ok(now) = read_sysctl(key) else { continue };
                let keep_larger = SIZED_BY_TABLE.contains(key);
                let wanted = match (keep_larger, value.parse::<u64>(), now.parse::<u64>()) {
                    (true, Ok(h), Ok(n)) if n >= h => continue,
                    _ if normalize(&now) == normalize(value) => continue,
                    _ => value,
                };
                match write_sysctl(key, wanted) {
                    Ok(()) => copied.push(format!("{key} = {wanted}")),
                    Err(e) => warnings.push(format!("{e}")),
                }
            }
            let table = c1m_limits::facts::read_ehash(Path::new("/proc")).get();
            Ok((copied, warnings, table))
        })?;
        let (copied, warnings, table) =
            inside.with_context(|| format!("setting up {}", ns.name))?;
        ns.copied = copied;
        ns.warnings = warnings;
        ns.table = table;
        Ok(ns)
    }

    /// The namespace's name (`c1m-run-PID`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the report records: the buckets asked for and got.
    pub fn report(&self) -> RunNetnsReport {
        RunNetnsReport {
            name: self.name.clone(),
            planned_buckets: self.planned,
            buckets: self.table.map(|t| t.buckets),
            own_table: self.table.map(|t| t.own),
        }
    }
}

impl Drop for RunNetns {
    fn drop(&mut self) {
        match netns::delete(&self.name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => crate::say!(
                "c1m: could not remove network namespace {}: {e}; `ip netns del {}` removes it",
                self.name,
                self.name
            ),
        }
    }
}

/// A sysctl's text with its whitespace made single spaces (multi-value
/// sysctls read tab-separated and are written space-separated).
fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}
