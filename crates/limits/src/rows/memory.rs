//! Memory rows: `MemAvailable` against the kernel's cost per socket
//! (measured by c1m or estimated), and the TCP memory sysctls.

use super::{Ctx, Group, Status};
use crate::calibration::ESTIMATED_BYTES_PER_SOCKET;
use crate::facts::Reading;
use crate::num::{bytes, plural, thousands};

pub(super) fn memory(cx: &mut Ctx) {
    let (f, t) = (cx.f, cx.t);
    let spc = t.role.sockets_per_connection();
    let (per_socket, basis) = match &f.calibration {
        Reading::Value(Some(c)) => {
            let mut basis = format!(
                "{} per socket measured by c1m over {} on kernel {}",
                bytes(c.kernel_bytes_per_socket.round() as u64),
                plural(c.sockets, "socket", "sockets"),
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
            let note = format!(
                "{basis} × {} per connection",
                plural(spc, "socket", "sockets")
            );
            let fix = format!(
                "free memory or lower --target: {} need ~{} of kernel memory, {} available",
                plural(t.conns, "connection", "connections"),
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
                         may hold unread data at once; idle connections are not charged{page_note}",
                        thousands(*max),
                        plural(t.sockets(), "socket", "sockets")
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
