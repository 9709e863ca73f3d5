//! Kernel queues and tables: the listen and SYN queues, connection
//! tracking, and what closing connections leaves (TIME_WAIT, orphans).

use super::{Ctx, Group, Status};
use crate::closing::{ORPHAN_OVERFLOW, TIME_WAIT_OVERFLOW};
use crate::ehash::{self, Summary};
use crate::facts::Reading;
use crate::num::bytes;
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

/// What a chain ~8 long cost here: the C heartbeat reference at 1M
/// connections (2M sockets), 100k msg/s offered (issue 10).
const EHASH_MEASURED: &str = "measured on a 2-core box at 1M connections, 100k heartbeats/s offered: \
     53k replies/s, p99 17 s with 262,144 buckets; 97.6k replies/s, p99 2.6 s with 4,194,304";

pub(super) fn ehash(cx: &mut Ctx) {
    const NAME: &str = "net.ipv4.tcp_ehash_entries";
    const CHILD: &str = "net.ipv4.tcp_child_ehash_entries";
    let f = cx.f;
    let s = Summary::of(f, cx.t);
    let want = thousands(s.suggested);
    let fix = format!(
        "{want} buckets ({}) keep the load ≤ 0.5: for the host's own namespace, boot with \
         thash_entries={} (kernel command line); for a container or namespace (Linux 6.1+), \
         sysctl {CHILD}={} before creating it — `c1m run` does this by default",
        bytes(ehash::cost_bytes(s.suggested)),
        s.suggested,
        s.suggested
    );
    match &f.tcp_ehash_entries {
        Reading::Value(t) => {
            let whose = if t.own {
                "this namespace's own table"
            } else {
                "shared with the host's namespace"
            };
            let value = format!("{} buckets ({whose})", thousands(t.buckets));
            let load = s.load.unwrap_or(0.0);
            let note = format!(
                "{} sockets at the target / {} buckets = {load:.2} a bucket: every packet and every \
                 connect()'s 4-tuple check walks a chain that long (__inet_lookup_established); \
                 the table costs {} ({EHASH_MEASURED})",
                thousands(s.sockets),
                thousands(t.buckets),
                bytes(ehash::cost_bytes(t.buckets)),
            );
            let status = if load > 1.0 {
                Status::Warn
            } else {
                Status::Info
            };
            let row = cx.push(Group::Ehash, NAME, value, status, note);
            if status == Status::Warn {
                row.fix = Some(fix);
            }
        }
        Reading::Unreadable(why) if why.ends_with("missing") => {
            let note = "this kernel (before 6.1) has one established table for every namespace, \
                        sized at boot: thash_entries= on the kernel command line sizes it"
                .to_string();
            cx.push(Group::Ehash, NAME, "absent".into(), Status::Info, note);
        }
        Reading::Unreadable(why) => cx.unreadable(Group::Ehash, NAME, why, false),
    }
    match &f.tcp_child_ehash_entries {
        Reading::Value(v) => {
            let (value, note) = match *v {
                0 => (
                    "0".to_string(),
                    "namespaces created from this one share its table".to_string(),
                ),
                n => (
                    thousands(n),
                    format!(
                        "namespaces created from this one get their own table of {} buckets ({})",
                        thousands(n.next_power_of_two()),
                        bytes(ehash::cost_bytes(n.next_power_of_two()))
                    ),
                ),
            };
            cx.push(Group::Ehash, CHILD, value, Status::Info, note);
        }
        Reading::Unreadable(why) if why.ends_with("missing") => {}
        Reading::Unreadable(why) => cx.unreadable(Group::Ehash, CHILD, why, false),
    }
}
