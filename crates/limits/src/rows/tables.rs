//! Kernel queues and tables: the listen and SYN queues, connection
//! tracking, and what closing connections leaves (TIME_WAIT, orphans).

use super::{Ctx, Group, Status};
use crate::closing::{ORPHAN_OVERFLOW, TIME_WAIT_OVERFLOW};
use crate::num::{thousands, with_headroom};

pub(super) fn queues(cx: &mut Ctx) {
    let f = cx.f;
    cx.info(Group::Queues, "net.core.somaxconn", &f.somaxconn, |v| {
        let note = "caps each listen() backlog: a burst not yet accept()ed beyond it is dropped and retried \
                    (slows the ramp, caps nothing)";
        (if v < 1024 { Status::Warn } else { Status::Info }, note.into())
    });
    cx.info(Group::Queues, "net.ipv4.tcp_max_syn_backlog", &f.tcp_max_syn_backlog, |v| {
        let note = "half-open connections per listener before SYNs are dropped or answered with cookies";
        (if v < 1024 { Status::Warn } else { Status::Info }, note.into())
    });
    cx.info(
        Group::Queues,
        "net.ipv4.tcp_syncookies",
        &f.tcp_syncookies,
        |v| match v {
            0 => (
                Status::Warn,
                "off: SYNs beyond the backlog are dropped (1 s retransmit); set it to 1".into(),
            ),
            1 => (Status::Info, "on when the SYN queue overflows".into()),
            _ => (Status::Info, "always on".into()),
        },
    );
}

pub(super) fn conntrack(cx: &mut Ctx) {
    const NAME: &str = "net.netfilter.nf_conntrack_max";
    let t = cx.t;
    let Some(ct) = &cx.f.conntrack else {
        let note = "connections are not tracked: not binding".to_string();
        cx.push(
            Group::Conntrack,
            "nf_conntrack",
            "not loaded".into(),
            Status::Info,
            note,
        );
        return;
    };
    let Some(max) = ct.max.get() else {
        return cx.unreadable(
            Group::Conntrack,
            NAME,
            ct.max.unreadable().unwrap_or(""),
            true,
        );
    };
    let count = ct.count.get();
    let value = format!(
        "{} ({} tracked)",
        thousands(max),
        count.map_or("?".into(), thousands)
    );
    match ct.tracking() {
        Some(true) => {
            let why = if ct.nat_table {
                "an iptables nat table"
            } else {
                "entries exist"
            };
            let used = count.unwrap_or(0);
            let note = format!("tracking ({why}): every connection takes an entry");
            let fix = format!(
                "raise {NAME} to ≥ {} ({}) or exempt loopback: iptables -t raw -I PREROUTING -i lo -j NOTRACK; \
                 iptables -t raw -I OUTPUT -o lo -j NOTRACK",
                thousands(with_headroom(t.conns).saturating_add(used)),
                cx.tune
            );
            cx.cap(
                Group::Conntrack,
                NAME,
                value,
                max.saturating_sub(used),
                note,
                fix,
            );
        }
        Some(false) => {
            let note = format!(
                "loaded, not tracking (no entries, no nat table): not binding; a NAT or stateful rule would cap at {}",
                thousands(max)
            );
            cx.push(Group::Conntrack, NAME, value, Status::Info, note);
        }
        None => cx.unreadable(
            Group::Conntrack,
            "nf_conntrack_count",
            ct.count.unreadable().unwrap_or(""),
            true,
        ),
    }
}

pub(super) fn time_wait(cx: &mut Ctx) {
    let f = cx.f;
    cx.info(
        Group::TimeWait,
        "net.ipv4.tcp_max_tw_buckets",
        &f.tcp_max_tw_buckets,
        |_| {
            let note = format!(
                "TIME_WAIT sockets kept for 60 s on the side that closes first; beyond it {TIME_WAIT_OVERFLOW}: \
                 matters when connections close (--close fin), not while held"
            );
            (Status::Info, note)
        },
    );
    cx.info(
        Group::TimeWait,
        "net.ipv4.tcp_max_orphans",
        &f.tcp_max_orphans,
        |_| {
            let note = format!(
                "sockets closed by their process while their FIN is in flight; {ORPHAN_OVERFLOW}: \
                 matters when connections close (--close fin), not while held"
            );
            (Status::Info, note)
        },
    );
    cx.info(
        Group::TimeWait,
        "net.ipv4.tcp_tw_reuse",
        &f.tcp_tw_reuse,
        |v| {
            let note = match v {
                0 => "off: new outgoing connections never reuse TIME_WAIT ports",
                1 => "on: new outgoing connections may reuse TIME_WAIT ports",
                _ => "loopback only: outgoing connections over lo may reuse TIME_WAIT ports",
            };
            (
                Status::Info,
                format!("{note} (matters for churn, not for holding)"),
            )
        },
    );
}
