//! What closing connections with a FIN (`--close fin`) leaves in the
//! kernel, and the two tables that cap it: TIME_WAIT sockets on the side
//! that closes first (`net.ipv4.tcp_max_tw_buckets`) and orphans, sockets
//! their process has closed while their FIN is still in flight
//! (`net.ipv4.tcp_max_orphans`).
//!
//! Pure. Sources: `tcp_time_wait()` in `net/ipv4/tcp_minisocks.c` and
//! `inet_twsk_alloc()` in `net/ipv4/inet_timewait_sock.c` (past the cap no
//! TIME_WAIT socket is made: `LINUX_MIB_TCPTIMEWAITOVERFLOW`),
//! `tcp_check_oom()` and `__tcp_close()` in `net/ipv4/tcp.c` (past the cap
//! a closing socket is reset: `LINUX_MIB_TCPABORTONMEMORY`), and
//! `Documentation/networking/ip-sysctl.rst`.

use crate::facts::Facts;
use crate::num::{plural, thousands, with_headroom};

/// What happens past `net.ipv4.tcp_max_tw_buckets`, in the words the
/// doctor and [`fin_close_warnings`] share.
pub const TIME_WAIT_OVERFLOW: &str = "the kernel destroys the excess TIME_WAIT sockets at once \
     (counted as TCPTimeWaitOverflow in /proc/net/netstat; older kernels also log \
     \"TCP: time wait bucket table overflow\")";

/// What happens past `net.ipv4.tcp_max_orphans`, in the words the doctor and
/// [`fin_close_warnings`] share.
pub const ORPHAN_OVERFLOW: &str = "orphans beyond it are reset: \"too many orphaned sockets\" in the kernel log \
     (counted as TCPAbortOnMemory in /proc/net/netstat)";

/// The warnings for closing `closing` connections with a FIN on the
/// machine `facts` describes; empty when both tables have room (or their
/// sysctls are unreadable, which the doctor reports on its own).
///
/// The side that closes first keeps each connection in TIME_WAIT for 60 s
/// (`TCP_TIMEWAIT_LEN`): up to `closing` sockets, warned about past
/// `tcp_max_tw_buckets`. Each socket is an orphan from `close()` until the
/// FIN exchange ends (FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK): up to
/// `closing` at once when they all close together, warned about past
/// `tcp_max_orphans`. Each warning is one line ending with the `sysctl -w`
/// that makes room, with 10 % headroom.
pub fn fin_close_warnings(facts: &Facts, closing: u64) -> Vec<String> {
    let mut out = Vec::new();
    let what = format!(
        "closing {} with FIN",
        plural(closing, "connection", "connections")
    );
    let raise = |name: &str| format!("raise it: sysctl -w {name}={}", with_headroom(closing));
    if let Some(max) = facts.tcp_max_tw_buckets.get()
        && closing > max
    {
        out.push(format!(
            "{what} leaves up to {} in TIME_WAIT for 60 s on the side that closes first, more than \
             net.ipv4.tcp_max_tw_buckets ({}): {TIME_WAIT_OVERFLOW}; {}",
            plural(closing, "socket", "sockets"),
            thousands(max),
            raise("net.ipv4.tcp_max_tw_buckets")
        ));
    }
    if let Some(max) = facts.tcp_max_orphans.get()
        && closing > max
    {
        out.push(format!(
            "{what} orphans up to {} while their FINs are in flight (closed by the process, the FIN exchange \
             not over), more than net.ipv4.tcp_max_orphans ({}): {ORPHAN_OVERFLOW}; {}",
            plural(closing, "socket", "sockets"),
            thousands(max),
            raise("net.ipv4.tcp_max_orphans")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Reading;

    #[test]
    fn warns_past_each_table_and_only_past_it() {
        let mut f = Facts::sample();
        f.tcp_max_tw_buckets = Reading::Value(131_072);
        f.tcp_max_orphans = Reading::Value(65_536);
        assert!(fin_close_warnings(&f, 65_536).is_empty());
        let w = fin_close_warnings(&f, 100_000);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "closing 100,000 connections with FIN orphans up to 100,000 sockets while their FINs are in flight"
            ) && w[0].contains("net.ipv4.tcp_max_orphans (65,536): orphans beyond it are reset: \"too many orphaned sockets\"")
                && w[0].ends_with("raise it: sysctl -w net.ipv4.tcp_max_orphans=110000"),
            "{}",
            w[0]
        );
        let w = fin_close_warnings(&f, 1_000_000);
        assert_eq!(w.len(), 2);
        assert!(
            w[0].starts_with(
                "closing 1,000,000 connections with FIN leaves up to 1,000,000 sockets in TIME_WAIT for 60 s"
            ) && w[0].contains("net.ipv4.tcp_max_tw_buckets (131,072): the kernel destroys the excess TIME_WAIT sockets at once")
                && w[0].ends_with("sysctl -w net.ipv4.tcp_max_tw_buckets=1100000"),
            "{}",
            w[0]
        );
        let w = fin_close_warnings(&f, 1);
        assert!(w.is_empty());
        f.tcp_max_orphans = Reading::Value(0);
        assert!(
            fin_close_warnings(&f, 1)[0]
                .starts_with("closing 1 connection with FIN orphans up to 1 socket ")
        );
        f.tcp_max_tw_buckets = Reading::Unreadable("missing".into());
        f.tcp_max_orphans = Reading::Unreadable("missing".into());
        assert!(fin_close_warnings(&f, u64::MAX).is_empty());
    }
}
