//! Pure parsers for every file `doctor` reads. Each takes text and returns a
//! value or a one-line reason; none panics, whatever the input (a test feeds
//! them garbage). Reading the files is `facts.rs`'s job.

use serde::Serialize;

/// A file-descriptor limit as the kernel or a config file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Nofile {
    /// A number of descriptors.
    Count(u64),
    /// `unlimited`, `infinity`, `-1` or `-`: pam_limits and systemd both turn
    /// this into the value of `fs.nr_open` for `nofile`.
    Unlimited,
}

impl Nofile {
    /// The number of descriptors this grants when `fs.nr_open` is `nr_open`.
    pub fn resolve(self, nr_open: u64) -> u64 {
        match self {
            Nofile::Count(n) => n,
            Nofile::Unlimited => nr_open,
        }
    }

    /// As written in a report: `1,048,576` or `unlimited`.
    pub fn display(self) -> String {
        match self {
            Nofile::Count(n) => crate::num::thousands(n),
            Nofile::Unlimited => "unlimited".into(),
        }
    }
}

/// `RLIMIT_NOFILE` as `/proc/<pid>/limits` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rlimit {
    /// The soft limit: what `open`/`socket`/`accept` are checked against.
    pub soft: u64,
    /// The hard limit: how far the soft limit may be raised without privilege.
    pub hard: u64,
}

/// `/proc/sys/fs/file-nr`: allocated, allocated-but-free, maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileNr {
    /// File handles allocated system-wide.
    pub allocated: u64,
    /// Allocated but unused (always 0 since Linux 2.6).
    pub free: u64,
    /// `fs.file-max` as this file reports it.
    pub max: u64,
}

impl FileNr {
    /// Handles in use: allocated less free.
    pub fn in_use(&self) -> u64 {
        self.allocated.saturating_sub(self.free)
    }
}

/// Which limit a limits.conf line sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// `soft`.
    Soft,
    /// `hard`.
    Hard,
    /// `-`: both.
    Both,
}

impl LimitKind {
    /// As written in limits.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Soft => "soft",
            LimitKind::Hard => "hard",
            LimitKind::Both => "-",
        }
    }

    /// Whether the line sets the hard limit.
    pub fn sets_hard(self) -> bool {
        matches!(self, LimitKind::Hard | LimitKind::Both)
    }
}

/// A `(soft, hard)` pair of `nofile` limits.
pub type SoftHard = (Nofile, Nofile);

/// One `nofile` line of limits.conf or a limits.d file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NofileLine {
    /// `path:line`, for the report.
    pub source: String,
    /// `*`, a user name, `@group`, or a uid/gid range, as written.
    pub domain: String,
    /// Soft, hard or both.
    pub kind: LimitKind,
    /// The value.
    pub value: Nofile,
}

/// The `nofile` content of one limits file: its lines, and the lines that
/// could not be read (each a one-line reason naming `path:line`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LimitsFile {
    /// Readable `nofile` lines.
    pub lines: Vec<NofileLine>,
    /// Unreadable `nofile` lines.
    pub problems: Vec<String>,
}

/// Parses a single unsigned number, trimmed. `unlimited`, `infinity`,
/// negative numbers and empty text are errors naming the text.
pub fn number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    t.parse()
        .map_err(|_| format!("{:?} is not a number", shorten(t)))
}

/// A network namespace's established hash table, as
/// `net.ipv4.tcp_ehash_entries` reads in it (ip-sysctl.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EhashTable {
    /// Buckets of the table this namespace uses.
    pub buckets: u64,
    /// Whether the table is this namespace's own: the sysctl reads
    /// negative in a namespace that shares the first namespace's table.
    pub own: bool,
}

/// Parses `net.ipv4.tcp_ehash_entries`: a non-zero integer, negative
/// when the namespace shares the first namespace's table.
pub fn ehash_entries(text: &str) -> Result<EhashTable, String> {
    let t = text.trim();
    let (own, digits) = match t.strip_prefix('-') {
        Some(rest) => (false, rest),
        None => (true, t),
    };
    match number(digits)? {
        0 => Err("0 is not a table size".into()),
        buckets => Ok(EhashTable { buckets, own }),
    }
}

/// Parses exactly `N` whitespace-separated unsigned numbers.
pub fn numbers<const N: usize>(text: &str) -> Result<[u64; N], String> {
    let mut out = [0u64; N];
    let mut parts = text.split_whitespace();
    for slot in &mut out {
        *slot = number(
            parts
                .next()
                .ok_or_else(|| format!("{:?} does not hold {N} numbers", shorten(text.trim())))?,
        )?;
    }
    match parts.next() {
        None => Ok(out),
        Some(_) => Err(format!(
            "{:?} holds more than {N} numbers",
            shorten(text.trim())
        )),
    }
}

/// `/proc/sys/fs/file-nr`.
pub fn file_nr(text: &str) -> Result<FileNr, String> {
    let [allocated, free, max] = numbers::<3>(text)?;
    Ok(FileNr {
        allocated,
        free,
        max,
    })
}

/// `net.ipv4.ip_local_port_range` (`/proc/sys/net/ipv4/ip_local_port_range`,
/// ip-sysctl.rst): two numbers, `lo hi`, the inclusive range of ephemeral
/// ports `connect()` and `bind(…, 0)` choose from. Errors unless
/// 1 ≤ lo ≤ hi ≤ 65535, so both fit a `u16`. The one parser of this sysctl
/// in c1m; [`crate::facts::read_port_range`] reads it.
pub fn port_range(text: &str) -> Result<(u64, u64), String> {
    let [lo, hi] = numbers::<2>(text)?;
    if lo == 0 || lo > hi || hi > 65_535 {
        return Err(format!("{lo}–{hi} is not a port range"));
    }
    Ok((lo, hi))
}

/// `net.ipv4.ip_local_reserved_ports` (ip-sysctl.rst): empty, or
/// comma-separated ports and inclusive ranges `a,b-c,…`, the ports
/// automatic port choice skips. As written (unsorted, possibly
/// overlapping); errors name the first part that is not a port (0–65535)
/// or an ascending range of them.
pub fn reserved_ports(text: &str) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if lo > hi || hi > 65_535 {
            return Err(format!("{:?} is not a port or port range", shorten(part)));
        }
        out.push((lo, hi));
    }
    Ok(out)
}

/// Ports of `range` (inclusive) not covered by `reserved` (inclusive
/// ranges, may overlap): what one (source, destination) pair can use.
pub fn usable_ports(range: (u64, u64), reserved: &[(u64, u64)]) -> u64 {
    let mut clipped: Vec<(u64, u64)> = reserved
        .iter()
        .map(|&(a, b)| (a.max(range.0), b.min(range.1)))
        .filter(|(a, b)| a <= b)
        .collect();
    clipped.sort_unstable();
    let mut taken = 0;
    let mut covered_to = 0; // highest port already counted, exclusive of none
    for (a, b) in clipped {
        let start = a.max(covered_to + 1);
        if start <= b {
            taken += b - start + 1;
            covered_to = b;
        }
    }
    (range.1 - range.0 + 1) - taken
}

/// The local ports of the LISTEN sockets (state `0A`, `TCP_LISTEN` in
/// `include/net/tcp_states.h`) in a `/proc/net/tcp` or `/proc/net/tcp6`
/// table, sorted, each once. The header line is skipped; a row whose
/// `local_address` is not `HEXADDR:HEXPORT` or whose state is not hex is an
/// error naming the row.
pub fn listen_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (i == 0 && fields[0] == "sl") {
            continue;
        }
        let bad = || {
            format!(
                "row {}: {:?} is not a socket row",
                i + 1,
                shorten(line.trim())
            )
        };
        let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
            return Err(bad());
        };
        let (addr, port) = local.split_once(':').ok_or_else(bad)?;
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !(addr.len() == 8 || addr.len() == 32) || !hex(addr) || !hex(state) || port.len() != 4 {
            return Err(bad());
        }
        let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
        if state.eq_ignore_ascii_case("0A") {
            out.push(port);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The `Max open files` line of `/proc/<pid>/limits`. `unlimited` is an
/// error: Linux caps RLIMIT_NOFILE at `fs.nr_open`, so it cannot be.
pub fn proc_limits_nofile(text: &str) -> Result<Rlimit, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no \"Max open files\" line")?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut next = |what: &str| -> Result<u64, String> {
        match fields.next() {
            Some("unlimited") => Err(format!(
                "{what} limit \"unlimited\": RLIMIT_NOFILE cannot be (fs.nr_open caps it)"
            )),
            Some(v) => number(v),
            None => Err(format!("\"Max open files\" has no {what} limit")),
        }
    };
    Ok(Rlimit {
        soft: next("soft")?,
        hard: next("hard")?,
    })
}

/// A field of `/proc/<pid>/status`, e.g. `"CapEff"`, its value trimmed.
fn status_field<'a>(text: &'a str, key: &str) -> Result<&'a str, String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
        .ok_or_else(|| format!("no {key} line"))
}

/// The effective uid from `/proc/<pid>/status` (`Uid: real effective …`).
pub fn status_euid(text: &str) -> Result<u32, String> {
    let uids = status_field(text, "Uid")?;
    let euid = uids
        .split_whitespace()
        .nth(1)
        .ok_or("Uid line has no effective uid")?;
    euid.parse()
        .map_err(|_| format!("effective uid {:?} is not a number", shorten(euid)))
}

/// The effective capability mask (`CapEff`) from `/proc/<pid>/status`.
pub fn status_cap_eff(text: &str) -> Result<u64, String> {
    let hex = status_field(text, "CapEff")?;
    u64::from_str_radix(hex, 16).map_err(|_| format!("CapEff {:?} is not a hex mask", shorten(hex)))
}

/// The page size from `/proc/<pid>/smaps` (its first `KernelPageSize` line).
pub fn smaps_page_size(text: &str) -> Result<u64, String> {
    let value = status_field(text, "KernelPageSize")?;
    let kb = value
        .strip_suffix("kB")
        .ok_or("KernelPageSize is not in kB")?;
    number(kb)?
        .checked_mul(1024)
        .filter(|p| *p > 0)
        .ok_or_else(|| "KernelPageSize out of range".into())
}

/// A limits.conf value for `nofile`.
fn nofile_value(value: &str) -> Result<Nofile, String> {
    match value.to_ascii_lowercase().as_str() {
        "-1" | "-" | "unlimited" | "infinity" => Ok(Nofile::Unlimited),
        v => number(v).map(Nofile::Count),
    }
}

/// The `nofile` lines of a limits.conf-format file (`<domain> <type> <item>
/// <value>`, `#` comments), as pam_limits reads them. `label` names the file
/// in sources and problems.
pub fn limits_conf(text: &str, label: &str) -> LimitsFile {
    let mut out = LimitsFile::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(item) = fields.get(2) else {
            if line.to_ascii_lowercase().contains("nofile") {
                out.problems.push(format!(
                    "{label}:{}: {:?} has fewer than 4 fields",
                    i + 1,
                    shorten(line.trim())
                ));
            }
            continue;
        };
        if !item.eq_ignore_ascii_case("nofile") {
            continue;
        }
        let source = format!("{label}:{}", i + 1);
        let kind = match fields[1].to_ascii_lowercase().as_str() {
            "soft" => LimitKind::Soft,
            "hard" => LimitKind::Hard,
            "-" => LimitKind::Both,
            other => {
                out.problems.push(format!(
                    "{source}: type {:?} is not soft, hard or -",
                    shorten(other)
                ));
                continue;
            }
        };
        let Some(value) = fields.get(3) else {
            out.problems.push(format!("{source}: no value"));
            continue;
        };
        match nofile_value(value) {
            Ok(value) => out.lines.push(NofileLine {
                source,
                domain: fields[0].to_string(),
                kind,
                value,
            }),
            Err(why) => out
                .problems
                .push(format!("{source}: {why} (pam_limits skips this line)")),
        }
    }
    out
}

/// The last `DefaultLimitNOFILE=` of the `[Manager]` section of a systemd
/// `system.conf`-format file, with its line number: `(soft, hard)`, or why
/// it is unreadable. `None` when the file does not set it (or resets it with
/// an empty value).
pub fn systemd_default_nofile(text: &str) -> Option<(usize, Result<SoftHard, String>)> {
    let mut section = String::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].trim().to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if section != "Manager" || key.trim() != "DefaultLimitNOFILE" {
            continue;
        }
        let value = value.trim();
        if value.is_empty() {
            found = None;
            continue;
        }
        let one = |v: &str| match v.trim() {
            "infinity" => Ok(Nofile::Unlimited),
            v => number(v).map(Nofile::Count),
        };
        let parsed = match value.split_once(':') {
            Some((soft, hard)) => one(soft).and_then(|s| Ok((s, one(hard)?))),
            None => one(value).map(|v| (v, v)),
        };
        found = Some((i + 1, parsed));
    }
    found
}

/// One `key = value` assignment of a sysctl.conf-format file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysctlLine {
    /// The key with dots (`fs.nr_open`), a leading `-` dropped.
    pub key: String,
    /// The value as written, trimmed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// The assignments of a sysctl.conf-format file (`#`/`;` comments, `/` or
/// `.` separators). Lines without `=` are skipped, as sysctl does.
pub fn sysctl_conf(text: &str) -> Vec<SysctlLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_start_matches('-').replace('/', ".");
        if key.is_empty() {
            continue;
        }
        out.push(SysctlLine {
            key,
            value: value.trim().to_string(),
            line: i + 1,
        });
    }
    out
}

/// Whether an `ip_tables_names`-style file lists the `nat` table (NAT needs
/// connection tracking, so its presence means every flow is tracked).
pub fn lists_nat_table(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "nat")
}

/// At most 40 characters of `s`, for error messages about garbage.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_garbage() {
        assert_eq!(number(" 1048576\n"), Ok(1_048_576));
        assert_eq!(
            number("unlimited"),
            Err("\"unlimited\" is not a number".into())
        );
        assert_eq!(
            number("infinity"),
            Err("\"infinity\" is not a number".into())
        );
        assert_eq!(number(""), Err("empty".into()));
        assert!(number("-1").is_err());
        assert_eq!(numbers::<3>("1\t2\t3\n"), Ok([1, 2, 3]));
        assert!(numbers::<3>("1 2").is_err());
        assert!(numbers::<2>("1 2 3").is_err());
        assert_eq!(file_nr("467\t0\t2466170\n").unwrap().in_use(), 467);
    }

    #[test]
    fn ports() {
        assert_eq!(port_range("32768\t60999\n"), Ok((32768, 60999)));
        assert!(port_range("60999 32768").is_err());
        assert!(port_range("0 10").is_err());
        assert!(port_range("1 70000").is_err());
        assert_eq!(reserved_ports("\n"), Ok(vec![]));
        assert_eq!(
            reserved_ports("8080,9000-9009\n"),
            Ok(vec![(8080, 8080), (9000, 9009)])
        );
        assert!(reserved_ports("9009-9000").is_err());
        assert!(reserved_ports("x").is_err());
        assert_eq!(usable_ports((32768, 60999), &[]), 28_232);
        assert_eq!(
            usable_ports((100, 199), &[(150, 159), (155, 164), (0, 100), (500, 600)]),
            84
        );
    }

    #[test]
    fn listen_rows_of_proc_net_tcp() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   \x20  0: 00000000:1F9A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 650 1 0000000069762d44 100 0 0 10 0\n\
                   \x20  1: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 651 1 0000000069762d45 100 0 0 10 0\n\
                   \x20  2: 0100007F:AFC8 0100007F:1F9A 01 00000000:00000000 00:00000000 00000000     0        0 652 1 0000000069762d46 20 4 30 10 -1\n\
                   \x20  3: 0100007F:1F9A 0100007F:AFC8 01 00000000:00000000 00:00000000 00000000     0        0 653 1 0000000069762d47 20 4 30 10 -1\n";
        // 8090 and 40000 listen; 45000 is only a connected client's port.
        assert_eq!(listen_ports(tcp), Ok(vec![8090, 40000]));
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                    \x20  0: 00000000000000000000000000000000:1F9A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0\n";
        assert_eq!(listen_ports(tcp6), Ok(vec![8090]));
        assert_eq!(
            listen_ports("  sl  local_address rem_address st\n"),
            Ok(vec![])
        );
        assert!(listen_ports("   0: 00000000:XYZW 00000000:0000 0A\n").is_err());
        assert!(listen_ports("   0: 1F9A 00000000:0000 0A\n").is_err());
        assert!(listen_ports("garbage\n").is_err());
    }

    #[test]
    fn proc_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(
            proc_limits_nofile(limits),
            Ok(Rlimit {
                soft: 1024,
                hard: 524_288
            })
        );
        assert!(proc_limits_nofile("Max open files  unlimited unlimited files\n").is_err());
        assert!(proc_limits_nofile("Max open files  x 1 files").is_err());
        assert!(proc_limits_nofile("Max open files").is_err());
        let status = "Name:\tc1m\nUid:\t1000\t0\t0\t0\nCapEff:\t000001fffeffffff\n";
        assert_eq!(status_euid(status), Ok(0));
        assert_eq!(status_cap_eff(status), Ok(0x1fffeffffff));
        assert!(status_cap_eff("CapEff:\tzz\n").is_err());
        assert!(status_euid("Uid:\t1000\n").is_err());
        assert_eq!(
            smaps_page_size("x\nKernelPageSize:        4 kB\n"),
            Ok(4096)
        );
        assert!(smaps_page_size("KernelPageSize: 0 kB").is_err());
    }

    #[test]
    fn limits_conf_lines() {
        let text = "# <domain> <type> <item> <value>\n\
                    *        soft  nofile  1024   # comment\n\
                    root     HARD  NOFILE  unlimited\n\
                    @c1m     -     nofile  infinity\n\
                    1000:    hard  nofile  -1\n\
                    *        hard  nproc   100\n\
                    #*       hard  nofile  99\n\
                    bob      hard  nofile  lots\n\
                    bob      firm  nofile  1\n\
                    bob      hard  nofile\n";
        let f = limits_conf(text, "limits.conf");
        let got: Vec<_> = f
            .lines
            .iter()
            .map(|l| (l.source.as_str(), l.domain.as_str(), l.kind, l.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("limits.conf:2", "*", LimitKind::Soft, Nofile::Count(1024)),
                ("limits.conf:3", "root", LimitKind::Hard, Nofile::Unlimited),
                ("limits.conf:4", "@c1m", LimitKind::Both, Nofile::Unlimited),
                ("limits.conf:5", "1000:", LimitKind::Hard, Nofile::Unlimited),
            ]
        );
        assert_eq!(f.problems.len(), 3, "{:?}", f.problems);
        assert!(f.problems[0].starts_with("limits.conf:8: \"lots\" is not a number"));
    }

    #[test]
    fn systemd_conf() {
        let text = "[Manager]\n#DefaultLimitNOFILE=1024:524288\nDefaultLimitNOFILE=1024:2200000\n";
        assert_eq!(
            systemd_default_nofile(text),
            Some((3, Ok((Nofile::Count(1024), Nofile::Count(2_200_000)))))
        );
        assert_eq!(
            systemd_default_nofile("[Manager]\nDefaultLimitNOFILE=infinity\n"),
            Some((2, Ok((Nofile::Unlimited, Nofile::Unlimited))))
        );
        assert_eq!(
            systemd_default_nofile("[Journal]\nDefaultLimitNOFILE=5\n"),
            None
        );
        assert_eq!(
            systemd_default_nofile("[Manager]\nDefaultLimitNOFILE=5\nDefaultLimitNOFILE=\n"),
            None
        );
        assert!(matches!(
            systemd_default_nofile("[Manager]\nDefaultLimitNOFILE=a:b\n"),
            Some((2, Err(_)))
        ));
    }

    #[test]
    fn sysctl_conf_lines() {
        let got = sysctl_conf("# c\n; c\nfs.nr_open = 2000000\n-fs/file-max=9\nnonsense\n =3\n");
        assert_eq!(
            got,
            vec![
                SysctlLine {
                    key: "fs.nr_open".into(),
                    value: "2000000".into(),
                    line: 3
                },
                SysctlLine {
                    key: "fs.file-max".into(),
                    value: "9".into(),
                    line: 4
                },
            ]
        );
        assert!(lists_nat_table("filter\nnat\n"));
        assert!(!lists_nat_table("filter\n"));
    }

    /// Garbage of every shape goes through every parser without a panic.
    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet =
            b"0123456789 \t\n:-,#;=[]abcdefkKMunlimitedinfinityMax open filesUidCapEff\xc3\xa9";
        for _ in 0..2000 {
            let len = (seed % 80) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = number(&text);
            let _ = numbers::<3>(&text);
            let _ = file_nr(&text);
            let _ = port_range(&text);
            if let Ok(r) = reserved_ports(&text) {
                let _ = usable_ports((1, 65535), &r);
            }
            let _ = proc_limits_nofile(&text);
            let _ = listen_ports(&text);
            let _ = status_euid(&text);
            let _ = status_cap_eff(&text);
            let _ = smaps_page_size(&text);
            let _ = limits_conf(&text, "x");
            let _ = systemd_default_nofile(&text);
            let _ = sysctl_conf(&text);
            let _ = shorten(&text);
        }
    }
}
