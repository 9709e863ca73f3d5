//! The rows of the doctor's sheet, one builder per section. Pure, like
//! `verdict.rs`, which picks the binding row from them.

mod fds;

use crate::facts::{Facts, Reading};
use crate::num::{bytes, thousands, with_headroom};
use crate::parse;
use crate::verdict::{ESTIMATED_BYTES_PER_SOCKET, Group, Row, Scope, Status, Target};

/// The rows and what the verdict needs beside them.
pub(crate) struct Sheet {
    pub rows: Vec<Row>,
    pub per_process: Option<u64>,
    pub per_process_basis: String,
    pub warnings: Vec<String>,
    pub unchecked: Vec<String>,
}

pub(crate) struct Ctx<'a> {
    pub f: &'a Facts,
    pub t: &'a Target,
    pub tune: String,
    pub sheet: Sheet,
}

impl Ctx<'_> {
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
    ports(&mut cx);
    memory(&mut cx);
    queues(&mut cx);
    conntrack(&mut cx);
    time_wait(&mut cx);
    cx.sheet
}

fn ports(cx: &mut Ctx) {
    const NAME: &str = "net.ipv4.ip_local_port_range";
    let (f, t) = (cx.f, cx.t);
    let reserved = f.reserved_ports.value().cloned().unwrap_or_default();
    match f.port_range.get() {
        Some((lo, hi)) => {
            let usable = parse::usable_ports((lo, hi), &reserved);
            let value = format!("{lo}–{hi} ({} ports)", thousands(usable));
            match (t.role.has_client(), t.tuples) {
                (false, _) => {
                    let note =
                        "server side is not port bound: accepted sockets share the listening port"
                            .into();
                    cx.push(Group::Ports, NAME, value, Status::Info, note);
                }
                (true, Some(tu)) => {
                    let dests = tu.dest_addrs.saturating_mul(tu.dest_ports);
                    let capacity = usable.saturating_mul(tu.sources).saturating_mul(dests);
                    let note = format!(
                        "client side: {} ports × {} source address(es) × {} destination(s)",
                        thousands(usable),
                        thousands(tu.sources),
                        thousands(dests)
                    );
                    let per_source = usable.saturating_mul(dests).max(1);
                    let fix = format!(
                        "use ≥ {} source addresses (--sources), more destination ports, or a wider range: \
                         c1m tune --target {} --port-range 1024-65535 --apply",
                        thousands(t.conns.div_ceil(per_source)),
                        t.conns
                    );
                    cx.cap(Group::Ports, NAME, value, capacity, note, fix);
                }
                (true, None) => {
                    let pairs = t.conns.div_ceil(usable.max(1));
                    let note = format!(
                        "client side: {} connections need ≥ {} (source, destination) address pairs at {} ports each; \
                         c1m run plans them over 127.0.0.0/8 (not binding)",
                        thousands(t.conns),
                        thousands(pairs),
                        thousands(usable)
                    );
                    cx.push(Group::Ports, NAME, value, Status::Info, note);
                }
            }
        }
        None => {
            let is_cap = t.role.has_client() && t.tuples.is_some();
            cx.unreadable(
                Group::Ports,
                NAME,
                f.port_range.unreadable().unwrap_or(""),
                is_cap,
            );
        }
    }
    match &f.reserved_ports {
        Reading::Value(r) if r.is_empty() => {
            let note = "no ports withheld from the range".to_string();
            cx.push(
                Group::Ports,
                "net.ipv4.ip_local_reserved_ports",
                "none".into(),
                Status::Info,
                note,
            );
        }
        Reading::Value(r) => {
            let list: Vec<String> = r
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}–{b}")
                    }
                })
                .collect();
            let note = "withheld from automatic port choice (already subtracted above)".to_string();
            cx.push(
                Group::Ports,
                "net.ipv4.ip_local_reserved_ports",
                list.join(","),
                Status::Info,
                note,
            );
        }
        Reading::Unreadable(why) => {
            cx.unreadable(Group::Ports, "net.ipv4.ip_local_reserved_ports", why, false)
        }
    }
    let note = "per server ip:port, clients differ by source ip (2^32) × source port (2^16) = 2^48 ≈ 2.8 × 10^14: \
                fds and memory bind long before"
        .to_string();
    cx.push(Group::Ports, "4-tuple", "2^48".into(), Status::Info, note);
}

fn memory(cx: &mut Ctx) {
    let (f, t) = (cx.f, cx.t);
    let spc = t.role.sockets_per_connection();
    let (per_socket, basis) = match &f.calibration {
        Reading::Value(Some(c)) => {
            let mut basis = format!(
                "{} per socket measured by c1m over {} sockets on kernel {}",
                bytes(c.kernel_bytes_per_socket.round() as u64),
                thousands(c.sockets),
                c.kernel_release
            );
            if f.kernel_release
                .value()
                .is_some_and(|k| *k != c.kernel_release)
            {
                basis += &format!(
                    " (this is {})",
                    f.kernel_release.value().map_or("", |s| s.as_str())
                );
            }
            (c.kernel_bytes_per_socket, basis)
        }
        Reading::Value(None) => (
            ESTIMATED_BYTES_PER_SOCKET,
            "~3.9 KiB per socket (estimate; c1m has not measured this machine yet)".to_string(),
        ),
        Reading::Unreadable(why) => (
            ESTIMATED_BYTES_PER_SOCKET,
            format!("~3.9 KiB per socket (estimate; calibration unreadable: {why})"),
        ),
    };
    match f.mem_available.get() {
        Some(avail) => {
            let per_conn = per_socket * spc as f64;
            let capacity = (avail as f64 / per_conn).floor() as u64;
            let note = format!("{basis} × {spc} socket(s) per connection");
            let fix = format!(
                "free memory or lower --target: {} connections need ~{} of kernel memory, {} available",
                thousands(t.conns),
                bytes((per_conn * t.conns as f64) as u64),
                bytes(avail)
            );
            cx.cap(
                Group::Memory,
                "MemAvailable",
                bytes(avail),
                capacity,
                note,
                fix,
            );
        }
        None => cx.unreadable(
            Group::Memory,
            "MemAvailable",
            f.mem_available.unreadable().unwrap_or(""),
            true,
        ),
    }
    match (&f.tcp_mem, f.page_size.get()) {
        (Reading::Value([low, pressure, max]), page) => {
            let page_note = if page.is_some() {
                ""
            } else {
                ", page size unreadable: 4 KiB assumed"
            };
            let page = page.unwrap_or(4096);
            let value = format!(
                "{} {} {} pages",
                thousands(*low),
                thousands(*pressure),
                thousands(*max)
            );
            let max_bytes = bytes(max.saturating_mul(page));
            let (status, note) = if *max < t.sockets() {
                (
                    Status::Warn,
                    format!(
                        "max {max_bytes}; each socket holding unread data is charged ≥ 1 page: at most {} of the {} \
                         sockets may hold unread data at once; idle connections are not charged{page_note}",
                        thousands(*max),
                        thousands(t.sockets())
                    ),
                )
            } else {
                (
                    Status::Ok,
                    format!(
                        "max {max_bytes}; each socket holding unread data is charged ≥ 1 page: room for all{page_note}"
                    ),
                )
            };
            cx.push(Group::Memory, "net.ipv4.tcp_mem", value, status, note);
        }
        (Reading::Unreadable(why), _) => {
            cx.unreadable(Group::Memory, "net.ipv4.tcp_mem", why, false)
        }
    }
    for (name, reading, what) in [
        ("net.ipv4.tcp_rmem", &f.tcp_rmem, "receive"),
        ("net.ipv4.tcp_wmem", &f.tcp_wmem, "send"),
    ] {
        match reading {
            Reading::Value([min, default, max]) => {
                let value = format!(
                    "{} {} {}",
                    thousands(*min),
                    thousands(*default),
                    thousands(*max)
                );
                let note = format!(
                    "min {}: the {what} buffer each socket keeps under memory pressure",
                    bytes(*min)
                );
                cx.push(Group::Memory, name, value, Status::Info, note);
            }
            Reading::Unreadable(why) => cx.unreadable(Group::Memory, name, why, false),
        }
    }
}

fn queues(cx: &mut Ctx) {
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

fn conntrack(cx: &mut Ctx) {
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

fn time_wait(cx: &mut Ctx) {
    let f = cx.f;
    cx.info(Group::TimeWait, "net.ipv4.tcp_max_tw_buckets", &f.tcp_max_tw_buckets, |_| {
        let note = "TIME_WAIT sockets kept after close; beyond it they are dropped at once \
                    (\"time wait bucket table overflow\"): matters when connections close, not while held";
        (Status::Info, note.into())
    });
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
