//! File-descriptor rows: system (`fs.file-max`, `fs.file-nr`), per process
//! (`fs.nr_open`, RLIMIT_NOFILE, CAP_SYS_RESOURCE) and per login
//! (limits.conf / limits.d `nofile`, systemd's `DefaultLimitNOFILE`), each
//! `nofile` checked for the nr_open lockout trap.

use super::{Ctx, Group, Scope, Status};
use crate::facts::{CAP_SYS_ADMIN, CAP_SYS_RESOURCE, KERNEL_DEFAULT_NR_OPEN, Reading};
use crate::num::{plural, thousands, with_headroom};
use crate::parse::{self, LimitKind, Nofile, NofileLine};
use crate::target::WORKER_FD_RESERVE;

pub(super) fn fds(cx: &mut Ctx) {
    let (f, t) = (cx.f, cx.t);
    let spc = t.role.sockets_per_connection();
    let in_use = f.file_nr.value().map(|n| n.in_use());
    let has_admin = f.has_cap(CAP_SYS_ADMIN).get() == Some(true);
    match f.file_max.get() {
        Some(max) => {
            let free = max.saturating_sub(in_use.unwrap_or(0));
            let need = with_headroom(t.sockets()).saturating_add(in_use.unwrap_or(0));
            let mut note = format!(
                "open files system-wide: {} in use, {} per connection",
                in_use.map_or("? (file-nr unreadable)".into(), thousands),
                plural(spc, "socket", "sockets")
            );
            if has_admin && free / spc < t.conns {
                note += " (CAP_SYS_ADMIN may allocate past it, but every other process then gets ENFILE)";
            }
            let fix = format!(
                "raise fs.file-max to ≥ {}: {} (writes /etc/sysctl.d/90-c1m.conf)",
                thousands(need),
                cx.tune
            );
            cx.cap(
                Group::Fds,
                "fs.file-max",
                thousands(max),
                free / spc,
                note,
                fix,
            );
        }
        None => cx.unreadable(
            Group::Fds,
            "fs.file-max",
            f.file_max.unreadable().unwrap_or(""),
            true,
        ),
    }
    match &f.file_nr {
        Reading::Value(n) => {
            let note = "already open, counted against fs.file-max".to_string();
            cx.push(
                Group::Fds,
                "fs.file-nr",
                format!("{} in use", thousands(n.in_use())),
                Status::Info,
                note,
            );
        }
        Reading::Unreadable(why) => cx.unreadable(Group::Fds, "fs.file-nr", why, false),
    }

    let boot = f.boot_sysctl("fs.nr_open", None);
    let boot_nr_open = boot.as_ref().and_then(|(v, _)| parse::number(v).ok());
    let boot_text = match &boot {
        Some((v, src)) => format!("{v} from {src}"),
        None => format!(
            "{} (kernel default; no sysctl file sets it)",
            thousands(KERNEL_DEFAULT_NR_OPEN)
        ),
    };
    let boot_nr_open = boot_nr_open.unwrap_or(KERNEL_DEFAULT_NR_OPEN);
    let nr_open = f.nr_open.get();
    let cap_resource = f.has_cap(CAP_SYS_RESOURCE).get();
    match nr_open {
        Some(n) => {
            let note = format!("ceiling of any RLIMIT_NOFILE; at boot: {boot_text}");
            let row = cx.push(Group::Fds, "fs.nr_open", thousands(n), Status::Info, note);
            if cap_resource == Some(true) {
                row.capacity = Some(n.saturating_sub(WORKER_FD_RESERVE));
                row.scope = Scope::Process;
            }
        }
        None => cx.unreadable(
            Group::Fds,
            "fs.nr_open",
            f.nr_open.unreadable().unwrap_or(""),
            false,
        ),
    }

    match f.rlimit_nofile.get() {
        Some(rl) => {
            let hard = rl.hard;
            let (usable, basis) = match (cap_resource, nr_open) {
                (Some(true), Some(n)) if n > hard => (
                    n,
                    format!(
                        "RLIMIT_NOFILE {} hard, raisable to fs.nr_open {} with CAP_SYS_RESOURCE",
                        thousands(hard),
                        thousands(n)
                    ),
                ),
                (Some(true), _) => (hard, format!("RLIMIT_NOFILE {} hard", thousands(hard))),
                (Some(false), _) => (
                    hard,
                    format!(
                        "RLIMIT_NOFILE {} hard, no CAP_SYS_RESOURCE",
                        thousands(hard)
                    ),
                ),
                (None, _) => (hard, format!("RLIMIT_NOFILE {} hard", thousands(hard))),
            };
            let per = usable.saturating_sub(WORKER_FD_RESERVE);
            cx.sheet.per_process = Some(per);
            cx.sheet.per_process_basis = basis;
            let value = format!("{} soft / {} hard", thousands(rl.soft), thousands(rl.hard));
            if per == 0 {
                let note = format!(
                    "at most {WORKER_FD_RESERVE} descriptors: no room for a single connection"
                );
                let fix = format!(
                    "raise the hard limit above {WORKER_FD_RESERVE} (ulimit -Hn, or {} and log in again)",
                    cx.tune
                );
                cx.cap(Group::Fds, "RLIMIT_NOFILE", value, 0, note, fix);
                return nofile_rows(cx, nr_open, boot_nr_open, &boot_text);
            }
            let workers = t.conns.div_ceil(per);
            let fans_out = workers > 1;
            let note = format!(
                "a worker holds {} ({} − {WORKER_FD_RESERVE} reserve; c1m raises soft to hard itself): {} per side",
                thousands(per),
                thousands(usable),
                if fans_out {
                    plural(workers, "worker process", "worker processes")
                } else {
                    "one process".into()
                }
            );
            let status = if fans_out {
                Status::FansOut
            } else {
                Status::Ok
            };
            let row = cx.push(Group::Fds, "RLIMIT_NOFILE", value, status, note);
            row.capacity = Some(per);
            row.scope = Scope::Process;
            row.binds = fans_out;
        }
        None => cx.unreadable(
            Group::Fds,
            "RLIMIT_NOFILE",
            f.rlimit_nofile.unreadable().unwrap_or(""),
            true,
        ),
    }
    match cap_resource {
        Some(held) => {
            let (value, note) = if held {
                ("held", "the hard limit can be raised, up to fs.nr_open")
            } else {
                (
                    "absent",
                    "the hard limit cannot be raised: c1m fans out across processes instead",
                )
            };
            cx.push(
                Group::Fds,
                "CAP_SYS_RESOURCE",
                value.into(),
                Status::Info,
                note.into(),
            );
        }
        None => cx.unreadable(
            Group::Fds,
            "CAP_SYS_RESOURCE",
            f.cap_eff.unreadable().unwrap_or(""),
            false,
        ),
    }
    nofile_rows(cx, nr_open, boot_nr_open, &boot_text);
}

/// Why a `*` line needs a `root` line beside it.
const WILDCARD_NOT_ROOT: &str =
    "`*` is not applied to root (limits.conf(5)): root needs its own `root` line";

/// Whether `root` lines set every half (soft, hard) a `*` line of `kind`
/// sets, so root does not depend on `*`.
fn root_has_own(lines: &[NofileLine], kind: LimitKind) -> bool {
    let root = lines.iter().filter(|l| l.domain == "root");
    let soft = root.clone().any(|l| l.kind != LimitKind::Hard);
    let hard = root.clone().any(|l| l.kind.sets_hard());
    match kind {
        LimitKind::Soft => soft,
        LimitKind::Hard => hard,
        LimitKind::Both => soft && hard,
    }
}

/// limits.conf / limits.d `nofile` lines and systemd's DefaultLimitNOFILE,
/// each checked for the nr_open trap.
fn nofile_rows(cx: &mut Ctx, nr_open: Option<u64>, boot_nr_open: u64, boot_text: &str) {
    let f = cx.f;
    if f.nofile_limits.lines.is_empty() && f.nofile_limits.problems.is_empty() {
        let note =
            "no limits.conf or limits.d line: new logins inherit their parent's limit".to_string();
        cx.push(Group::Fds, "nofile", "not set".into(), Status::Info, note);
    }
    for line in &f.nofile_limits.lines {
        let value = format!(
            "{} {} {}",
            line.domain,
            line.kind.as_str(),
            line.value.display()
        );
        let mut status = Status::Info;
        let mut note = format!(
            "{}: applies to new logins, not to running processes",
            line.source
        );
        if line.value == Nofile::Unlimited {
            status = Status::Warn;
            note = format!(
                "{}: `unlimited` is not a number of descriptors: current pam_limits sets fs.nr_open ({}), \
                 older releases fail to set it and deny the login; write a number",
                line.source,
                nr_open.map_or("unreadable".into(), thousands)
            );
        }
        if let (Nofile::Count(v), true) = (line.value, line.kind.sets_hard()) {
            if nr_open.is_some_and(|n| v > n) {
                status = Status::Warn;
                note = format!(
                    "{}: TRAP: above fs.nr_open ({}): pam_limits cannot set it and denies logins for {}",
                    line.source,
                    thousands(nr_open.unwrap_or(0)),
                    line.domain
                );
            } else if v > boot_nr_open {
                status = Status::Warn;
                note = format!(
                    "{}: TRAP after reboot: fs.nr_open at boot is {boot_text}, below {}; persist fs.nr_open first ({})",
                    line.source,
                    thousands(v),
                    cx.tune
                );
            }
        }
        if line.domain == "*" && !root_has_own(&f.nofile_limits.lines, line.kind) {
            status = Status::Warn;
            note += &format!("; {WILDCARD_NOT_ROOT}");
        }
        if status == Status::Warn {
            cx.sheet.warnings.push(format!("nofile {value} at {note}"));
        }
        cx.push(Group::Fds, "nofile", value, status, note);
    }
    for problem in &f.nofile_limits.problems {
        cx.unreadable(Group::Fds, "nofile", problem, false);
    }
    if !f.systemd.present {
        return;
    }
    const NAME: &str = "DefaultLimitNOFILE";
    let not_init = match f.init.value() {
        Some(init) if init != "systemd" => {
            format!(" (systemd is not PID 1 here, {init} is: it applies to nothing)")
        }
        _ => String::new(),
    };
    match &f.systemd.default_limit_nofile {
        None => {
            let note =
                format!("systemd's default for services; system.conf does not set it{not_init}");
            cx.push(Group::Fds, NAME, "1,024:524,288".into(), Status::Info, note);
        }
        Some((_, Reading::Unreadable(why))) => cx.unreadable(Group::Fds, NAME, why, false),
        Some((source, Reading::Value((soft, hard)))) => {
            let value = format!("{}:{}", soft.display(), hard.display());
            let (status, note) = match (hard, nr_open) {
                (Nofile::Count(h), Some(n)) if *h > n => (
                    Status::Warn,
                    format!(
                        "{source}: above fs.nr_open ({}): services cannot get it",
                        thousands(n)
                    ),
                ),
                _ => (
                    Status::Info,
                    format!("{source}: systemd's default for services{not_init}"),
                ),
            };
            if status == Status::Warn {
                cx.sheet.warnings.push(format!("{NAME}={value} at {note}"));
            }
            cx.push(Group::Fds, NAME, value, status, note);
        }
    }
}
