//! The settings a target needs, with the seeds' 10 % headroom, and what
//! `tune` refuses to do.
//!
//! **Invariant:** pure; `apply.rs` does the writing. Values are only ever
//! raised, never lowered (except an explicitly requested port range), and
//! `fs.nr_open` always comes before anything bounded by it: a `nofile` hard
//! limit above `fs.nr_open` makes pam_limits deny every login it covers.

mod nofile;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::facts::{CAP_SYS_RESOURCE, Facts, KERNEL_DEFAULT_NR_OPEN, Reading};
use crate::num::{plural, thousands, with_headroom};
use crate::parse::{self, Nofile, SysctlLine};
use crate::ports::{self, format_ranges, merge_ranges, pairs, pairs_needed};
use crate::target::{Role, Tuples, WORKER_FD_RESERVE};

/// The name of every drop-in c1m writes.
pub const DROP_IN_NAME: &str = "90-c1m.conf";

/// The largest `fs.nr_open` c1m writes (what systemd raises it to; the
/// kernel's own ceiling is a little higher on 64-bit).
pub const NR_OPEN_MAX: u64 = 1_073_741_816;

/// What `somaxconn` and `tcp_max_syn_backlog` are raised to.
pub const QUEUE_LENGTH: u64 = 65_535;

/// A file c1m writes, relative to the etc root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropIn {
    /// `sysctl.d/90-c1m.conf`: persistent sysctls.
    Sysctl,
    /// `security/limits.d/90-c1m.conf`: `nofile` for new logins.
    Limits,
    /// `systemd/system.conf.d/90-c1m.conf`: `DefaultLimitNOFILE` for services.
    Systemd,
}

impl DropIn {
    /// Every drop-in, in the order they are written.
    pub const ALL: [DropIn; 3] = [DropIn::Sysctl, DropIn::Limits, DropIn::Systemd];

    /// Its path under `etc_root`.
    pub fn path(self, etc_root: &Path) -> PathBuf {
        let dir = match self {
            DropIn::Sysctl => "sysctl.d",
            DropIn::Limits => "security/limits.d",
            DropIn::Systemd => "systemd/system.conf.d",
        };
        etc_root.join(dir).join(DROP_IN_NAME)
    }
}

/// What to tune for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Connections to hold.
    pub conns: u64,
    /// Which ends are on this box.
    pub role: Role,
    /// `ip_local_port_range` to set, `(lo, hi)` inclusive, only when asked
    /// for (`--port-range LO-HI`).
    pub port_range: Option<(u64, u64)>,
    /// The client side's fixed 4-tuple space (`--sources`, `--dest-addrs`,
    /// `--dest-ports`), against which a requested port range is checked;
    /// `None` when `c1m run` plans it.
    pub tuples: Option<Tuples>,
}

/// One setting to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The setting: a sysctl name, `nofile`, `DefaultLimitNOFILE`.
    pub name: String,
    /// Its value now, formatted.
    pub current: String,
    /// Its value after `--apply`, formatted.
    pub proposed: String,
    /// The sysctl value to write live, when it changes now.
    pub live: Option<String>,
    /// The drop-in that makes it persistent.
    pub drop_in: Option<DropIn>,
    /// Why this value.
    pub why: String,
}

/// Something `tune` will not do, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// What is refused.
    pub what: String,
    /// Why, and what happens instead.
    pub reason: String,
    /// Whether `--apply` refuses as a whole (else only this item is skipped).
    pub blocking: bool,
}

/// The settings for a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// What it was computed for.
    pub request: Request,
    /// Changes, in the safe order: `fs.nr_open` first.
    pub changes: Vec<Change>,
    /// Settings already high enough: name, value, what it needed.
    pub kept: Vec<(String, String, String)>,
    /// What will not be done.
    pub refusals: Vec<Refusal>,
    /// The drop-ins to write and their whole contents.
    pub files: Vec<(DropIn, String)>,
    /// The highest `nofile` hard limit the drop-ins set (limits.d's and
    /// systemd's), 0 when they set none: `apply` reads `fs.nr_open` from
    /// the kernel before writing them and refuses if it is lower.
    pub nofile_max: u64,
}

impl Plan {
    /// Whether `--apply` must refuse as a whole.
    pub fn is_blocked(&self) -> bool {
        self.refusals.iter().any(|r| r.blocking)
    }

    /// `(sysctl, value)` to write live, in the safe order.
    pub fn live_writes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.changes
            .iter()
            .filter_map(|c| Some((c.name.as_str(), c.live.as_deref()?)))
    }
}

struct Builder<'a> {
    f: &'a Facts,
    plan: Plan,
    /// `key = value` lines of the sysctl drop-in, in the order they apply.
    sysctl_lines: Vec<(String, String)>,
}

impl Builder<'_> {
    fn refuse(&mut self, what: impl Into<String>, reason: impl Into<String>, blocking: bool) {
        self.plan.refusals.push(Refusal {
            what: what.into(),
            reason: reason.into(),
            blocking,
        });
    }

    /// Raises sysctl `name` to at least `needed` live and persistently.
    fn raise(&mut self, name: &str, reading: &Reading<u64>, needed: u64, why: String) {
        let Some(live) = reading.get() else {
            let reason = format!(
                "{}: left alone, c1m only ever raises a value it has read",
                reading.unreadable().unwrap_or("")
            );
            return self.refuse(name, reason, false);
        };
        if live >= needed {
            let kept = (
                name.to_string(),
                thousands(live),
                format!("≥ {}", thousands(needed)),
            );
            return self.plan.kept.push(kept);
        }
        self.plan.changes.push(Change {
            name: name.into(),
            current: thousands(live),
            proposed: thousands(needed),
            live: Some(needed.to_string()),
            drop_in: Some(DropIn::Sysctl),
            why,
        });
        self.sysctl_lines.push((name.into(), needed.to_string()));
    }
}

/// Computes the settings for `req` on the machine `f` describes, whose
/// drop-ins live under `etc_root`.
pub fn plan(f: &Facts, etc_root: &Path, req: &Request) -> Plan {
    let mut b = Builder {
        f,
        plan: Plan {
            request: *req,
            changes: Vec::new(),
            kept: Vec::new(),
            refusals: Vec::new(),
            files: Vec::new(),
            nofile_max: 0,
        },
        sysctl_lines: Vec::new(),
    };
    if f.euid.get() != Some(0) {
        let who = f
            .euid
            .get()
            .map_or_else(|| "euid unreadable".to_string(), |u| format!("euid {u}"));
        b.refuse(
            "--apply",
            format!("needs root ({who}); without --apply, tune only shows the diff"),
            true,
        );
    }
    let sockets = req.conns.saturating_mul(req.role.sockets_per_connection());
    let fds = with_headroom(sockets);
    if fds > NR_OPEN_MAX {
        let reason = format!(
            "{} per process would exceed the largest fs.nr_open, {}",
            plural(fds, "descriptor", "descriptors"),
            thousands(NR_OPEN_MAX)
        );
        b.refuse(format!("--target {}", req.conns), reason, true);
        return b.plan;
    }
    let why_fds = format!("{} + 10 % headroom", plural(sockets, "socket", "sockets"));
    nr_open(&mut b, fds, &why_fds);
    let in_use = f.file_nr.value().map_or(0, |n| n.in_use());
    let file_max = (fds.saturating_add(in_use))
        .div_ceil(1000)
        .saturating_mul(1000);
    b.raise(
        "fs.file-max",
        &f.file_max,
        file_max,
        format!("{why_fds} + {} open now", thousands(in_use)),
    );
    nofile::nofile(&mut b, fds, &why_fds);
    nofile::systemd(&mut b, fds, &why_fds);
    let queue_why = "a fast ramp overflows short accept and SYN queues".to_string();
    b.raise(
        "net.core.somaxconn",
        &f.somaxconn,
        QUEUE_LENGTH,
        queue_why.clone(),
    );
    b.raise(
        "net.ipv4.tcp_max_syn_backlog",
        &f.tcp_max_syn_backlog,
        QUEUE_LENGTH,
        queue_why,
    );
    if let Some(ct) = &f.conntrack {
        let needed = with_headroom(req.conns).saturating_add(ct.count.get().unwrap_or(0));
        let why =
            "one entry per connection whenever a NAT or stateful rule tracks them".to_string();
        b.raise("net.netfilter.nf_conntrack_max", &ct.max, needed, why);
    }
    port_range(&mut b);
    this_process(&mut b, fds);
    persist(&mut b, etc_root);
    b.plan
}

/// `fs.nr_open` ≥ every `nofile` hard limit this plan or limits.conf sets,
/// live now and at boot.
fn nr_open(b: &mut Builder, fds: u64, why: &str) {
    let f = b.f;
    let Some(live) = f.nr_open.get() else {
        let reason = format!(
            "{}: refusing to write nofile without knowing its ceiling (a nofile above fs.nr_open locks logins out)",
            f.nr_open.unreadable().unwrap_or("")
        );
        return b.refuse("fs.nr_open", reason, true);
    };
    let existing = f
        .nofile_limits
        .lines
        .iter()
        .filter(|l| l.kind.sets_hard())
        .filter_map(|l| match l.value {
            Nofile::Count(v) => Some(v),
            Nofile::Unlimited => None,
        })
        .max()
        .unwrap_or(0);
    if existing > NR_OPEN_MAX {
        let reason = format!(
            "a nofile line sets {}: above the largest fs.nr_open; fix that line by hand",
            thousands(existing)
        );
        return b.refuse("fs.nr_open", reason, true);
    }
    let needed = fds.max(existing);
    let why = if existing > fds {
        format!(
            "≥ the highest nofile hard limit already configured ({})",
            thousands(existing)
        )
    } else {
        format!("{why}; ≥ nofile, set below")
    };
    let boot = f
        .boot_sysctl("fs.nr_open", None)
        .and_then(|(v, _)| parse::number(&v).ok())
        .unwrap_or(KERNEL_DEFAULT_NR_OPEN);
    if live >= needed && boot >= needed {
        return b.plan.kept.push((
            "fs.nr_open".into(),
            thousands(live),
            format!("≥ {}", thousands(needed)),
        ));
    }
    let value = live.max(needed);
    b.plan.changes.push(Change {
        name: "fs.nr_open".into(),
        current: if boot < live {
            format!("{} (at boot {})", thousands(live), thousands(boot))
        } else {
            thousands(live)
        },
        proposed: thousands(value),
        live: (live < needed).then(|| value.to_string()),
        drop_in: Some(DropIn::Sysctl),
        why,
    });
    b.sysctl_lines
        .push(("fs.nr_open".into(), value.to_string()));
}

/// `ip_local_port_range` as asked, after reserving the ports listening now
/// inside it; refused when it cannot hold the target in a fixed 4-tuple
/// space.
fn port_range(b: &mut Builder) {
    const NAME: &str = "net.ipv4.ip_local_port_range";
    let Some((lo, hi)) = b.plan.request.port_range else {
        return;
    };
    let asked = format!("--port-range {lo}-{hi}");
    if lo < 1024 || lo > hi || hi > 65_535 {
        let reason =
            format!("{lo}-{hi}: must lie within 1024-65535 (ports below 1024 belong to services)");
        return b.refuse(asked, reason, true);
    }
    let current = match b.f.port_range.get() {
        Some((a, z)) if (a, z) == (lo, hi) => {
            b.plan
                .kept
                .push((NAME.into(), format!("{a}-{z}"), "as asked".into()));
            None
        }
        Some((a, z)) => Some(format!("{a}-{z}")),
        None => Some("unreadable".into()),
    };
    let reservation = match current {
        Some(_) => reserve_listeners(b, (lo, hi)),
        None => None,
    };
    let reserved = match &reservation {
        Some((_, merged)) => merged.clone(),
        None => b.f.reserved_ports.value().cloned().unwrap_or_default(),
    };
    let usable = parse::usable_ports((lo, hi), &reserved);
    let Some(why) = range_arithmetic(b, &asked, usable) else {
        return;
    };
    let Some(current) = current else {
        return;
    };
    if let Some((change, _)) = reservation {
        // Reserved before the range widens over them, live and at boot.
        b.sysctl_lines
            .push((change.name.clone(), change.proposed.clone()));
        b.plan.changes.push(change);
    }
    let mut why = why;
    if lo % 2 == hi % 2 {
        why += "; the kernel prefers ends of different parity";
    }
    b.plan.changes.push(Change {
        name: NAME.into(),
        current,
        proposed: format!("{lo}-{hi}"),
        live: Some(format!("{lo} {hi}")),
        drop_in: Some(DropIn::Sysctl),
        why,
    });
    b.sysctl_lines.push((NAME.into(), format!("{lo} {hi}")));
}

/// The reservation of the ports listening now inside `range`, merged
/// with the reserved list: the change and the list after it; `None` when
/// no listener is exposed (or after a refusal when either is unreadable).
fn reserve_listeners(b: &mut Builder, range: (u64, u64)) -> Option<(Change, Vec<(u64, u64)>)> {
    const NAME: &str = "net.ipv4.ip_local_reserved_ports";
    let f = b.f;
    let (listening, reserved) = match (&f.listening, &f.reserved_ports) {
        (Reading::Value(l), Reading::Value(r)) => (l, r),
        (l, r) => {
            let why = l.unreadable().or(r.unreadable()).unwrap_or("");
            let reason = format!(
                "{why}: cannot tell which listening ports the new range covers; reserve them by hand, or an \
                 outgoing connection's ephemeral port can take one while its server restarts"
            );
            b.refuse(NAME, reason, false);
            return None;
        }
    };
    let exposed = ports::exposed_listen_ports(range, reserved, listening);
    if exposed.is_empty() {
        return None;
    }
    let mut all = reserved.clone();
    all.extend_from_slice(&exposed);
    let merged = merge_ranges(&all);
    let list = format_ranges(&merged);
    let count: u64 = exposed.iter().map(|(a, z)| z - a + 1).sum();
    let change = Change {
        name: NAME.into(),
        current: if reserved.is_empty() {
            "none".into()
        } else {
            format_ranges(reserved)
        },
        proposed: list.clone(),
        live: Some(list),
        drop_in: Some(DropIn::Sysctl),
        why: format!(
            "{} LISTEN now inside the new range ({}): reserved first, merged with the list, so no outgoing \
             connection's ephemeral port takes one while its server restarts (EADDRINUSE, or a client connected \
             to itself)",
            plural(count, "port", "ports"),
            format_ranges(&exposed)
        ),
    };
    Some((change, merged))
}

/// The arithmetic of a requested range with `usable` ports against the
/// target: the `why` of the change, or `None` after a refusal when a fixed
/// 4-tuple space cannot hold the target.
fn range_arithmetic(b: &mut Builder, asked: &str, usable: u64) -> Option<String> {
    let req = b.plan.request;
    let conns = plural(req.conns, "connection", "connections");
    let budget = ports::pair_budget(usable);
    let per_pair = format!(
        "{} per (source, destination) pair, as asked (connect() slows past {} per pair)",
        plural(usable, "port", "ports"),
        thousands(budget)
    );
    if !req.role.has_client() {
        return Some(format!(
            "{per_pair}; the server side does not use it (accepted sockets share the listening port)"
        ));
    }
    let (least, fast) = pairs_needed(req.conns, usable);
    let Some(t) = req.tuples else {
        return Some(format!(
            "{per_pair}; {conns} need ≥ {} ({} to keep connect() fast): c1m run plans them, \
             c1m connect needs --sources × destinations to match",
            pairs(least),
            thousands(fast)
        ));
    };
    let dests = t.dest_addrs.saturating_mul(t.dest_ports);
    let have = t.sources.saturating_mul(dests);
    let arithmetic = ports::tuple_arithmetic(usable, t.sources, dests);
    if have >= least {
        return Some(format!("{per_pair}; {arithmetic}, enough for {conns}"));
    }
    let reason = format!(
        "too small for {conns}: {arithmetic}; they need ≥ {} at {} each: with {} that is ≥ {} (--sources), \
         or add destinations, or widen the range",
        pairs(least),
        plural(usable, "port", "ports"),
        plural(dests, "destination", "destinations"),
        plural(
            least.div_ceil(dests.max(1)),
            "source address",
            "source addresses"
        )
    );
    b.refuse(asked, reason, true);
    None
}

/// What tune cannot do for the running process: its own hard limit.
fn this_process(b: &mut Builder, fds: u64) {
    let f = b.f;
    let Some(rl) = f.rlimit_nofile.get() else {
        return;
    };
    let hard = rl.hard;
    if hard >= fds || f.has_cap(CAP_SYS_RESOURCE).get() == Some(true) {
        return;
    }
    let per = hard.saturating_sub(WORKER_FD_RESERVE).max(1);
    let reason = format!(
        "raising a hard limit needs CAP_SYS_RESOURCE, which this process lacks, and limits.d only reaches new logins: \
         c1m fans out across worker processes instead ({} per side)",
        thousands(b.plan.request.conns.div_ceil(per))
    );
    b.refuse(
        format!("RLIMIT_NOFILE hard of this process ({})", thousands(hard)),
        reason,
        false,
    );
}

/// Writes the sysctl drop-in and checks that no later file undoes it at
/// boot; for `fs.nr_open` that would be the lockout trap.
fn persist(b: &mut Builder, etc_root: &Path) {
    let mut lines: Vec<SysctlLine> = Vec::new();
    let mut text = format!(
        "# Written by `c1m tune --target {} --apply`; undo with `c1m tune --revert`.\n\
         # fs.nr_open comes first: nofile in /etc/security/limits.d/{DROP_IN_NAME}\n\
         # must never exceed it, or logins fail.\n",
        b.plan.request.conns
    );
    for (key, value) in b.sysctl_lines.clone() {
        lines.push(SysctlLine {
            key: key.clone(),
            value: value.clone(),
            line: text.lines().count() + 1,
        });
        text += &format!("{key} = {value}\n");
    }
    if lines.is_empty() {
        return;
    }
    let path = DropIn::Sysctl.path(etc_root);
    for l in &lines {
        let Some((at_boot, source)) = b.f.boot_sysctl(&l.key, Some((DROP_IN_NAME, &path, &lines)))
        else {
            continue;
        };
        let same = at_boot.split_whitespace().eq(l.value.split_whitespace());
        let higher = matches!(
            (parse::number(&at_boot), parse::number(&l.value)),
            (Ok(boot), Ok(ours)) if boot >= ours
        );
        if same || higher {
            continue;
        }
        let trap = l.key == "fs.nr_open";
        let reason = if trap {
            format!(
                "{source} sets it to {at_boot} after {DROP_IN_NAME} at boot: nofile {} would then lock logins out; \
                 remove or raise that line first",
                l.value
            )
        } else {
            format!(
                "{source} sets it to {at_boot} after {DROP_IN_NAME}: the raise lasts only until reboot"
            )
        };
        b.refuse(l.key.clone(), reason, trap);
    }
    b.plan.files.insert(0, (DropIn::Sysctl, text));
}

#[cfg(test)]
mod tests {
    use super::*;
    fn req(conns: u64) -> Request {
        Request {
            conns,
            role: Role::Both,
            port_range: None,
            tuples: None,
        }
    }

    #[test]
    fn only_raises_and_keeps_what_is_enough() {
        let mut f = Facts::sample();
        f.somaxconn = Reading::Value(100_000);
        f.nr_open = Reading::Value(5_000_000);
        f.sysctl_files = vec![crate::facts::SysctlFile {
            path: "/etc/sysctl.d/50-big.conf".into(),
            order: "50-big.conf".into(),
            lines: Reading::Value(vec![SysctlLine {
                key: "fs.nr_open".into(),
                value: "5000000".into(),
                line: 1,
            }]),
        }];
        let p = plan(&f, Path::new("/etc"), &req(1_000_000));
        let kept: Vec<&str> = p.kept.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(kept, ["fs.nr_open", "fs.file-max", "net.core.somaxconn"]);
        assert!(p.changes.iter().all(|c| c.name != "fs.nr_open"));
    }

    #[test]
    fn unreadable_values_are_left_alone() {
        let mut f = Facts::sample();
        f.somaxconn = Reading::Unreadable("/proc/sys/net/core/somaxconn: missing".into());
        let p = plan(&f, Path::new("/etc"), &req(1_000));
        let r = p
            .refusals
            .iter()
            .find(|r| r.what == "net.core.somaxconn")
            .unwrap();
        assert!(
            !r.blocking
                && r.reason
                    .ends_with("left alone, c1m only ever raises a value it has read")
        );
        assert!(!p.is_blocked());
    }

    #[test]
    fn headroom_is_ten_percent_over_both_ends() {
        let p = plan(&Facts::sample(), Path::new("/etc"), &req(1_000_000));
        let nr = &p.changes[0];
        assert_eq!(
            (nr.name.as_str(), nr.live.as_deref()),
            ("fs.nr_open", Some("2200000"))
        );
        let p = plan(
            &Facts::sample(),
            Path::new("/etc"),
            &Request {
                role: Role::Server,
                ..req(1_000_000)
            },
        );
        assert_eq!(p.changes[0].live.as_deref(), Some("1100000"));
        assert_eq!(p.files.len(), 2, "sysctl.d and limits.d; no systemd here");
    }
}
