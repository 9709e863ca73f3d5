//! `nofile` for new logins (limits.d) and for services (systemd's
//! `DefaultLimitNOFILE`): both bounded by `fs.nr_open`, which `tune` raises
//! first in the same plan.

use super::{Builder, Change, DROP_IN_NAME, DropIn};
use crate::facts::{Facts, Reading};
use crate::num::thousands;
use crate::parse::{self, Nofile};

/// systemd's soft DefaultLimitNOFILE, kept low for select()-based programs.
const SYSTEMD_SOFT: u64 = 1024;

/// The `(soft, hard)` pam_limits gives `user` from the lines as read: the
/// user's own lines win over `*` (when `wildcard`), later lines over earlier
/// ones; 0 where nothing sets it.
///
/// `*` is not applied to root (limits.conf(5): "group and wildcard limits
/// are not applied to the root user"; Debian's and Ubuntu's pam_limits skip
/// it for uid 0), so root needs its own lines. Upstream Linux-PAM's
/// `parse_config_file` (`modules/pam_limits/pam_limits.c`) does apply `*`
/// to root, so root is computed both ways: its own lines are what it gets
/// where `*` skips it, and a `root` line lower than `*` would lower root
/// where `*` reaches it.
fn effective_nofile(f: &Facts, user: &str, nr_open: u64, wildcard: bool) -> (u64, u64) {
    let mut own = (None, None);
    let mut any = (None, None);
    for l in &f.nofile_limits.lines {
        let slot = match l.domain.as_str() {
            d if d == user => &mut own,
            "*" if wildcard => &mut any,
            _ => continue,
        };
        let v = l.value.resolve(nr_open);
        if l.kind != parse::LimitKind::Hard {
            slot.0 = Some(v);
        }
        if l.kind.sets_hard() {
            slot.1 = Some(v);
        }
    }
    (own.0.or(any.0).unwrap_or(0), own.1.or(any.1).unwrap_or(0))
}

pub(super) fn nofile(b: &mut Builder, fds: u64, why: &str) {
    let f = b.f;
    let nr_open = f.nr_open.get().unwrap_or(0);
    let all = effective_nofile(f, "*", nr_open, true);
    let root = effective_nofile(f, "root", nr_open, true);
    let root_own = effective_nofile(f, "root", nr_open, false);
    // Never lower: a domain already above the target keeps its value, since
    // this file, read after limits.conf, would override it.
    let raise = |(soft, hard): (u64, u64)| (soft.max(fds), hard.max(fds));
    let (new_all, new_root) = (raise(all), raise(root));
    let pair = |(soft, hard): (u64, u64)| match (soft, hard) {
        (0, 0) => "not set".to_string(),
        _ => format!("{}:{}", thousands(soft), thousands(hard)),
    };
    if new_all == all && raise(root_own) == root_own {
        let kept = (
            "nofile (*, root)".into(),
            format!("* {}, root's own {}", pair(all), pair(root_own)),
            format!("≥ {}", thousands(fds)),
        );
        return b.plan.kept.push(kept);
    }
    let current = if f.nofile_limits.lines.is_empty() {
        "not set".to_string()
    } else {
        format!("* {}, root's own {}", pair(all), pair(root_own))
    };
    let proposed = if new_all == new_root && new_all.0 == new_all.1 {
        format!("{0} soft, {0} hard", thousands(new_all.0))
    } else {
        format!("* {}, root {}", pair(new_all), pair(new_root))
    };
    b.plan.changes.push(Change {
        name: "nofile (*, root)".into(),
        current,
        proposed,
        live: None,
        drop_in: Some(DropIn::Limits),
        why: format!("{why}; new logins only, never above fs.nr_open"),
    });
    let text = format!(
        "# Written by `c1m tune --target {} --apply`; undo with `c1m tune --revert`.\n\
         # Never above fs.nr_open (see /etc/sysctl.d/{DROP_IN_NAME}), or logins fail.\n\
         # `*` is not applied to root (limits.conf(5)): root gets its own lines.\n\
         *     soft  nofile  {}\n*     hard  nofile  {}\n\
         root  soft  nofile  {}\nroot  hard  nofile  {}\n",
        b.plan.request.conns, new_all.0, new_all.1, new_root.0, new_root.1
    );
    b.plan.files.push((DropIn::Limits, text));
    b.plan.nofile_max = b.plan.nofile_max.max(new_all.1).max(new_root.1);
}

pub(super) fn systemd(b: &mut Builder, fds: u64, why: &str) {
    let f = b.f;
    if !f.systemd.present {
        return;
    }
    if !f.systemd_relevant() {
        let init = f.init.value().map_or("", |s| s.as_str());
        let kept = (
            "DefaultLimitNOFILE".into(),
            "unused".into(),
            format!("no drop-in: PID 1 is {init}, not systemd"),
        );
        return b.plan.kept.push(kept);
    }
    let (soft, hard) = match &f.systemd.default_limit_nofile {
        None => (Nofile::Count(SYSTEMD_SOFT), Nofile::Count(524_288)),
        Some((_, Reading::Value(v))) => *v,
        Some((source, Reading::Unreadable(why))) => {
            return b.refuse(
                "DefaultLimitNOFILE",
                format!("{source}: {why}: left alone"),
                false,
            );
        }
    };
    let hard_now = hard.resolve(f.nr_open.get().unwrap_or(0));
    if hard_now >= fds {
        let kept = (
            "DefaultLimitNOFILE".into(),
            format!("{}:{}", soft.display(), hard.display()),
            format!("hard ≥ {}", thousands(fds)),
        );
        return b.plan.kept.push(kept);
    }
    let soft = match soft {
        Nofile::Count(s) if s <= fds => s,
        _ => SYSTEMD_SOFT,
    };
    b.plan.changes.push(Change {
        name: "DefaultLimitNOFILE".into(),
        current: format!("{}:{}", thousands(soft), hard.display()),
        proposed: format!("{}:{}", thousands(soft), thousands(fds)),
        live: None,
        drop_in: Some(DropIn::Systemd),
        why: format!("{why}; services started after `systemctl daemon-reexec` or a reboot; soft stays low for select()"),
    });
    let text = format!(
        "# Written by `c1m tune --target {} --apply`; undo with `c1m tune --revert`.\n\
         [Manager]\nDefaultLimitNOFILE={soft}:{fds}\n",
        b.plan.request.conns
    );
    b.plan.files.push((DropIn::Systemd, text));
    b.plan.nofile_max = b.plan.nofile_max.max(fds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{LimitKind, NofileLine};

    fn line(domain: &str, kind: LimitKind, value: Nofile) -> NofileLine {
        NofileLine {
            source: "limits.conf:1".into(),
            domain: domain.into(),
            kind,
            value,
        }
    }

    #[test]
    fn pam_precedence_user_lines_beat_the_wildcard() {
        let mut f = Facts::sample();
        f.nofile_limits.lines = vec![
            line("root", LimitKind::Hard, Nofile::Count(10)),
            line("*", LimitKind::Both, Nofile::Count(100)),
            line("*", LimitKind::Soft, Nofile::Count(50)),
            line("root", LimitKind::Soft, Nofile::Unlimited),
        ];
        assert_eq!(
            effective_nofile(&f, "root", 1_048_576, true),
            (1_048_576, 10)
        );
        assert_eq!(effective_nofile(&f, "*", 1_048_576, true), (50, 100));
        assert_eq!(effective_nofile(&f, "bob", 1_048_576, true), (50, 100));
        assert_eq!(effective_nofile(&f, "bob", 1_048_576, false), (0, 0));
    }

    #[test]
    fn never_lowers_a_higher_nofile() {
        let mut f = Facts::sample();
        f.nofile_limits.lines = vec![line("*", LimitKind::Both, Nofile::Count(3_000_000))];
        f.nr_open = Reading::Value(3_000_000);
        let p = super::super::plan(
            &f,
            std::path::Path::new("/etc"),
            &super::super::Request {
                conns: 1_000_000,
                role: crate::target::Role::Both,
                port_range: None,
                tuples: None,
            },
        );
        let c = p
            .changes
            .iter()
            .find(|c| c.name == "nofile (*, root)")
            .unwrap();
        // root has no line of its own, so `*` does not reach it
        // (limits.conf(5)); where pam_limits applies `*` to root anyway it
        // has 3M, which a lower root line would cut: 3M is right either way.
        assert_eq!(c.proposed, "3,000,000 soft, 3,000,000 hard");
        let text = &p
            .files
            .iter()
            .find(|(d, _)| *d == DropIn::Limits)
            .unwrap()
            .1;
        assert!(
            text.contains("*     hard  nofile  3000000\nroot  soft  nofile  3000000\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# `*` is not applied to root (limits.conf(5)): root gets its own lines.\n"
            ),
            "{text}"
        );
        assert_eq!(c.current, "* 3,000,000:3,000,000, root's own not set");
    }
}
