//! The tests' own truth, read straight from the kernel and sharing no code
//! with c1m: the TCP table (`/proc/net/tcp`, `/proc/net/tcp6`, see proc(5)
//! and `get_tcp4_sock` in net/ipv4/tcp_ipv4.c), the socket descriptors a
//! process holds (`/proc/PID/fd`, proc(5)), and the SNMP counters
//! (`/proc/net/netstat`).
//!
//! A socket a process holds is a row whose inode is one of that process's
//! `socket:[INODE]` descriptors. A connection still waiting in a listener's
//! accept queue has no file yet, so its row shows inode 0: it belongs to no
//! process, which is exactly why "held by the server application" differs
//! from "ESTABLISHED on the server's port".

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// TCP states as numbered in `include/net/tcp_states.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
}

impl TcpState {
    /// The state for the `st` column's number.
    pub fn from_number(n: u8) -> Option<Self> {
        use TcpState::*;
        Some(match n {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            _ => return None,
        })
    }
}

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    /// Bytes not yet acknowledged by the peer.
    pub tx_queue: u64,
    /// Bytes not yet read by the application; for a LISTEN socket, the
    /// connections in its accept queue (`sk_ack_backlog`).
    pub rx_queue: u64,
    /// The socket's inode; 0 when no file refers to it (accept queue,
    /// TIME_WAIT, orphans).
    pub inode: u64,
}

/// An address as the kernel prints it: the in-memory bytes of `__be32`
/// words, each printed with `%08X` as a native-endian integer, then `:` and
/// the port in hex.
fn parse_addr(field: &str) -> Result<SocketAddr, String> {
    let bad = || format!("bad address {field:?}");
    let (ip, port) = field.split_once(':').ok_or_else(bad)?;
    let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
    let word = |i: usize| -> Result<[u8; 4], String> {
        let w = ip.get(i * 8..i * 8 + 8).ok_or_else(bad)?;
        Ok(u32::from_str_radix(w, 16).map_err(|_| bad())?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(bad()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6` (header line
/// first).
pub fn parse_table(text: &str) -> Result<Vec<TcpRow>, String> {
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            if f.is_empty() {
                continue;
            }
            return Err(format!("short row {line:?}"));
        }
        let bad = || format!("bad row {line:?}");
        let st = u8::from_str_radix(f[3], 16).map_err(|_| bad())?;
        let (tx, rx) = f[4].split_once(':').ok_or_else(bad)?;
        rows.push(TcpRow {
            local: parse_addr(f[1])?,
            remote: parse_addr(f[2])?,
            state: TcpState::from_number(st).ok_or_else(bad)?,
            tx_queue: u64::from_str_radix(tx, 16).map_err(|_| bad())?,
            rx_queue: u64::from_str_radix(rx, 16).map_err(|_| bad())?,
            inode: f[9].parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

/// Every TCP socket of this network namespace, IPv4 and IPv6, each once.
///
/// The kernel prints the table a page at a time and resumes each read at
/// a (hash bucket, offset) position, so sockets opened or closed meanwhile
/// (another test's thousands) can repeat a row or skip one. Repeats are
/// dropped here (two distinct sockets never share 4-tuple, state and
/// inode); skips are why the counts below are [`settled`].
pub fn tcp_table() -> Vec<TcpRow> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // tcp6 is absent when IPv6 is disabled.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for r in parse_table(&text).unwrap_or_else(|e| panic!("{file}: {e}")) {
            if seen.insert((r.local, r.remote, r.state, r.inode)) {
                rows.push(r);
            }
        }
    }
    rows
}

/// Reads `f` until two readings in a row agree (at most 20): a count that
/// is stable for the test, taken while other sockets come and go.
pub fn settled<T: PartialEq>(f: impl Fn() -> T) -> T {
    let mut last = f();
    for _ in 0..20 {
        let next = f();
        if next == last {
            return next;
        }
        last = next;
    }
    last
}

/// The inodes of the sockets process `pid` holds open (its `socket:[N]`
/// descriptors). Empty when the process is gone.
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    let mut out = HashSet::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for e in dir.flatten() {
        // A descriptor closed between readdir and readlink is skipped.
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']'))
            && let Ok(n) = n.parse()
        {
            out.insert(n);
        }
    }
    out
}

/// `pid` and all its descendants (an nginx master and its workers, `c1m
/// serve` and its worker processes).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(super::children(all[i]));
        i += 1;
    }
    all
}

/// The TCP table of `pid`'s network namespace (`/proc/PID/net/tcp` and
/// `tcp6`: the namespace the process is in, e.g. a `c1m run` worker's
/// `c1m-run-PID`), each row once; empty when the process is gone.
pub fn tcp_table_of(pid: u32) -> Vec<TcpRow> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for file in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for r in parse_table(&text).unwrap_or_else(|e| panic!("/proc/{pid}/net/{file}: {e}")) {
            if seen.insert((r.local, r.remote, r.state, r.inode)) {
                rows.push(r);
            }
        }
    }
    rows
}

/// `pid`'s own sockets in `state`, in its own network namespace (rows
/// of [`tcp_table_of`] whose inode is one of its descriptors).
pub fn own_in_state(pid: u32, state: TcpState) -> u64 {
    settled(|| {
        let mine = socket_inodes(pid);
        tcp_table_of(pid)
            .iter()
            .filter(|r| r.state == state && r.inode != 0 && mine.contains(&r.inode))
            .count() as u64
    })
}

fn inodes_of(pids: &[u32]) -> HashSet<u64> {
    pids.iter().flat_map(|&p| socket_inodes(p)).collect()
}

/// ESTABLISHED sockets on local address `local` that processes `pids`
/// hold: what the server application has accepted and keeps.
pub fn server_established(pids: &[u32], local: SocketAddr) -> u64 {
    settled(|| {
        let mine = inodes_of(pids);
        tcp_table()
            .iter()
            .filter(|r| r.state == TcpState::Established && r.local == local)
            .filter(|r| r.inode != 0 && mine.contains(&r.inode))
            .count() as u64
    })
}

/// ESTABLISHED client sockets to `remote` that processes `pids` hold
/// open (by inode, from their /proc/PID/fd): one client's connections
/// among every process's to the same server.
pub fn client_established_of(pids: &[u32], remote: SocketAddr) -> u64 {
    settled(|| {
        let mine = inodes_of(pids);
        tcp_table()
            .iter()
            .filter(|r| r.state == TcpState::Established && r.remote == remote)
            .filter(|r| r.inode != 0 && mine.contains(&r.inode))
            .count() as u64
    })
}

/// ESTABLISHED sockets on local address `local`, whoever holds them
/// (accepted, or still waiting in the accept queue): the server side as
/// the kernel sees it.
pub fn established_on(local: SocketAddr) -> u64 {
    settled(|| {
        tcp_table()
            .iter()
            .filter(|r| r.state == TcpState::Established && r.local == local)
            .count() as u64
    })
}

/// Client-side sockets by state: rows whose remote end is `remote`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCounts(pub BTreeMap<TcpState, u64>);

impl StateCounts {
    pub fn get(&self, s: TcpState) -> u64 {
        self.0.get(&s).copied().unwrap_or(0)
    }
}

/// The sockets whose remote address is `remote` (the clients of a server
/// on this host), counted by state.
pub fn client_states(remote: SocketAddr) -> StateCounts {
    settled(|| {
        let mut c = StateCounts::default();
        for r in tcp_table().iter().filter(|r| r.remote == remote) {
            *c.0.entry(r.state).or_default() += 1;
        }
        c
    })
}

/// The accept-queue length of the listeners on `local` (the LISTEN rows'
/// rx_queue, summed over an `SO_REUSEPORT` group), or None when nothing
/// listens there.
pub fn listen_queue(local: SocketAddr) -> Option<u64> {
    settled(|| {
        let rows: Vec<u64> = tcp_table()
            .iter()
            .filter(|r| r.state == TcpState::Listen && r.local == local)
            .map(|r| r.rx_queue)
            .collect();
        (!rows.is_empty()).then(|| rows.iter().sum())
    })
}

/// The rows with `addr` at either end, one per line, the inodes that
/// `pids` hold marked `*`: for failure messages.
pub fn describe(addr: SocketAddr, pids: &[u32]) -> String {
    let mine = inodes_of(pids);
    tcp_table()
        .iter()
        .filter(|r| r.local == addr || r.remote == addr)
        .map(|r| {
            let m = if mine.contains(&r.inode) { "*" } else { " " };
            format!(
                "{m} {} -> {} {:?} rx {} inode {}\n",
                r.local, r.remote, r.state, r.rx_queue, r.inode
            )
        })
        .collect()
}

/// Client-side ESTABLISHED to `addr` minus server-side ESTABLISHED on it
/// (accepted or queued): connections that exist only on the client, as the
/// kernel's own table shows them. Negative never happens on one host, but
/// is kept signed so a broken harness shows.
pub fn phantoms(addr: SocketAddr) -> i64 {
    settled(|| {
        let rows = tcp_table();
        let est = |f: &dyn Fn(&TcpRow) -> bool| {
            rows.iter()
                .filter(|r| r.state == TcpState::Established && f(r))
                .count() as i64
        };
        est(&|r| r.remote == addr) - est(&|r| r.local == addr)
    })
}

/// One counter of `/proc/net/netstat` (e.g. `TcpExt` `SyncookiesSent`).
pub fn netstat(group: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let prefix = format!("{group}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 2, "{group} in /proc/net/netstat:\n{text}");
    let names = lines[0].split_whitespace().skip(1);
    let values = lines[1].split_whitespace().skip(1);
    names
        .zip(values)
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {group} {name} in /proc/net/netstat"))
}

/// Polls `f` until it returns `want` or `limit` passes; returns the last
/// value seen (so a failing assertion shows what it was).
pub fn poll_until(want: u64, limit: Duration, f: impl Fn() -> u64) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let v = f();
        if v == want || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
