//! Reading every limit `doctor` and `tune` look at into a plain [`Facts`].
//!
//! All paths come from [`Roots`], so a whole machine can be replayed from a
//! fixture tree. Nothing here fails: a file that is missing or holds garbage
//! becomes [`Reading::Unreadable`] with the reason, and the report says so.
//! RLIMIT_NOFILE, CAP_SYS_RESOURCE and the euid are read from
//! `<proc>/self/limits` and `<proc>/self/status` (not syscalls) for the same
//! reason.

use std::io;
use std::path::{Path, PathBuf};

use c1m_probe::{meminfo::Meminfo, sysctl};
use serde::Serialize;

use crate::calibration::{self, Calibration};
use crate::parse::{self, FileNr, LimitsFile, Nofile, Rlimit, SysctlLine};

/// Bit of `CAP_SYS_RESOURCE` in a capability mask: raise hard rlimits up to
/// `fs.nr_open`.
pub const CAP_SYS_RESOURCE: u32 = 24;
/// `fs.nr_open` when nothing sets it: the kernel's built-in 1024 × 1024
/// (`sysctl_nr_open` in `fs/file.c`).
pub const KERNEL_DEFAULT_NR_OPEN: u64 = 1_048_576;

/// Bit of `CAP_SYS_ADMIN`: among much else, allocate files past `fs.file-max`.
pub const CAP_SYS_ADMIN: u32 = 21;

/// The lock of `tune --apply` and `--revert` on this machine.
pub const TUNE_LOCK: &str = "/run/c1m-tune.lock";

/// Where to read the machine from: `/proc`, `/etc` and c1m's state
/// directory, or a fixture tree standing in for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// Stands for `/proc`.
    pub proc_root: PathBuf,
    /// Stands for `/etc`.
    pub etc_root: PathBuf,
    /// c1m's state directory (calibration, tune backup).
    pub state_dir: PathBuf,
}

impl Roots {
    /// This machine: `/proc`, `/etc`, and [`calibration::state_dir`].
    pub fn system() -> Self {
        Roots {
            proc_root: "/proc".into(),
            etc_root: "/etc".into(),
            state_dir: calibration::state_dir(),
        }
    }

    /// The calibration file in the state directory.
    pub fn calibration_path(&self) -> PathBuf {
        self.state_dir.join(calibration::FILE_NAME)
    }

    /// The record `tune --apply` leaves for `tune --revert`.
    pub fn backup_path(&self) -> PathBuf {
        self.state_dir.join("tune-backup.json")
    }

    /// The lock `tune --apply` and `--revert` hold while they change the
    /// machine: [`TUNE_LOCK`] when the proc root is this kernel's `/proc`
    /// (so that two tunes with different `--etc-root` or `--state-dir`
    /// still take turns over the one set of live sysctls); a replayed
    /// machine's (`--proc-root` elsewhere), `tune.lock` in its state
    /// directory.
    pub fn lock_path(&self) -> PathBuf {
        if self.proc_root == Path::new("/proc") {
            PathBuf::from(TUNE_LOCK)
        } else {
            self.state_dir.join("tune.lock")
        }
    }
}

impl Default for Roots {
    fn default() -> Self {
        Self::system()
    }
}

/// A value read from the machine, or why it could not be.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading<T> {
    /// The value.
    Value(T),
    /// Why there is none: `"<path>: <reason>"`.
    Unreadable(String),
}

impl<T> Reading<T> {
    /// The value, if it was read.
    pub fn value(&self) -> Option<&T> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Unreadable(_) => None,
        }
    }

    /// The reason, if it was not.
    pub fn unreadable(&self) -> Option<&str> {
        match self {
            Reading::Value(_) => None,
            Reading::Unreadable(why) => Some(why),
        }
    }

    fn at(path: &Path, result: Result<T, String>) -> Self {
        match result {
            Ok(v) => Reading::Value(v),
            Err(why) => Reading::Unreadable(format!("{}: {why}", path.display())),
        }
    }
}

impl<T: Copy> Reading<T> {
    /// The value, copied.
    pub fn get(&self) -> Option<T> {
        self.value().copied()
    }
}

/// One sysctl.conf-format file, in the order the boot applies them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SysctlFile {
    /// Its path.
    pub path: PathBuf,
    /// The name that orders it (`90-c1m.conf`); sysctl.conf sorts last.
    pub order: String,
    /// Its assignments.
    pub lines: Reading<Vec<SysctlLine>>,
}

/// systemd's manager configuration, where it exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Systemd {
    /// Whether `<etc>/systemd/system.conf` or `system.conf.d` exists.
    pub present: bool,
    /// The `DefaultLimitNOFILE=` in force and the `path:line` it comes from;
    /// `None` when nothing sets it (systemd's default, 1024:524288, applies).
    pub default_limit_nofile: Option<(String, Reading<(Nofile, Nofile)>)>,
}

/// Connection tracking, when nf_conntrack is loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conntrack {
    /// `net.netfilter.nf_conntrack_count`: entries now.
    pub count: Reading<u64>,
    /// `net.netfilter.nf_conntrack_max`: entries the table holds
    /// (nf_conntrack-sysctl.rst).
    pub max: Reading<u64>,
    /// Whether an iptables `nat` table is registered (NAT tracks every flow).
    pub nat_table: bool,
}

impl Conntrack {
    /// Whether connections are being tracked: entries exist or a NAT table
    /// forces tracking. `None` when the count is unreadable and no NAT table
    /// settles it.
    pub fn tracking(&self) -> Option<bool> {
        if self.nat_table {
            return Some(true);
        }
        self.count.get().map(|c| c > 0)
    }
}

/// Everything the verdict and the tuning plan are computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facts {
    /// `fs.file-max` (`/proc/sys/fs/file-max`, proc(5)): open files
    /// system-wide, a count.
    pub file_max: Reading<u64>,
    /// `fs.file-nr` (proc(5)): files allocated, free, and the maximum.
    pub file_nr: Reading<FileNr>,
    /// `fs.nr_open` (proc(5)): the ceiling of any process's
    /// RLIMIT_NOFILE, in descriptors.
    pub nr_open: Reading<u64>,
    /// This process's RLIMIT_NOFILE, soft and hard, in descriptors
    /// (`<proc>/self/limits`, getrlimit(2)).
    pub rlimit_nofile: Reading<Rlimit>,
    /// This process's effective capabilities, a bit mask by capability
    /// number (`CapEff` of `<proc>/self/status`, capabilities(7)).
    pub cap_eff: Reading<u64>,
    /// This process's effective uid (`Uid` of `<proc>/self/status`).
    pub euid: Reading<u32>,
    /// `nofile` lines of `<etc>/security/limits.conf` and
    /// `limits.d/*.conf`, in pam_limits order (limits.conf(5)).
    pub nofile_limits: LimitsFile,
    /// sysctl.d/*.conf then sysctl.conf, in the order the boot applies them.
    pub sysctl_files: Vec<SysctlFile>,
    /// systemd's `DefaultLimitNOFILE` (systemd-system.conf(5)).
    pub systemd: Systemd,
    /// The name of PID 1 (`<proc>/1/comm`): `systemd` when systemd boots the box.
    pub init: Reading<String>,
    /// `net.ipv4.ip_local_port_range`: the inclusive range of ephemeral
    /// ports, `(lo, hi)`.
    pub port_range: Reading<(u64, u64)>,
    /// `net.ipv4.ip_local_reserved_ports`: inclusive ranges `(lo, hi)` that
    /// automatic port choice skips, as written.
    pub reserved_ports: Reading<Vec<(u64, u64)>>,
    /// Local ports of the LISTEN sockets in `<proc>/net/tcp` and
    /// `<proc>/net/tcp6` (this network namespace), sorted, each once. A
    /// missing `tcp6` (IPv6 off) counts as no listener.
    pub listening: Reading<Vec<u16>>,
    /// `MemAvailable` from meminfo, in bytes.
    pub mem_available: Reading<u64>,
    /// The kernel page size, in bytes.
    pub page_size: Reading<u64>,
    /// `net.ipv4.tcp_mem` (tcp(7)): low, pressure, high, in pages for all
    /// TCP sockets together.
    pub tcp_mem: Reading<[u64; 3]>,
    /// `net.ipv4.tcp_rmem` (tcp(7)): min, default, max receive buffer per
    /// socket, in bytes.
    pub tcp_rmem: Reading<[u64; 3]>,
    /// `net.ipv4.tcp_wmem` (tcp(7)): min, default, max send buffer per
    /// socket, in bytes.
    pub tcp_wmem: Reading<[u64; 3]>,
    /// c1m's measured kernel cost per socket, if a run recorded one.
    pub calibration: Reading<Option<Calibration>>,
    /// `kernel.osrelease`: the running kernel's release, as `uname -r`.
    pub kernel_release: Reading<String>,
    /// `net.core.somaxconn` (listen(2)): the largest accept-queue backlog
    /// `listen()` gets, in connections.
    pub somaxconn: Reading<u64>,
    /// `net.ipv4.tcp_max_syn_backlog` (tcp(7)): half-open connections per
    /// listener before SYN cookies or drops.
    pub tcp_max_syn_backlog: Reading<u64>,
    /// `net.ipv4.tcp_syncookies` (tcp(7)): 0 off, 1 when the SYN queue
    /// overflows, 2 always.
    pub tcp_syncookies: Reading<u64>,
    /// Connection tracking; `None` when nf_conntrack is not loaded.
    pub conntrack: Option<Conntrack>,
    /// `net.ipv4.tcp_max_tw_buckets`: TIME_WAIT sockets the kernel keeps
    /// (per network namespace).
    pub tcp_max_tw_buckets: Reading<u64>,
    /// `net.ipv4.tcp_max_orphans`: sockets closed by their process whose
    /// FIN exchange is not over, before the kernel resets new ones.
    pub tcp_max_orphans: Reading<u64>,
    /// `net.ipv4.tcp_tw_reuse` (ip-sysctl.rst): 0 off, 1 on, 2 loopback
    /// only.
    pub tcp_tw_reuse: Reading<u64>,
    /// `net.ipv4.tcp_ehash_entries` (Linux 6.1+): this namespace's
    /// established hash table, and whether it is its own.
    pub tcp_ehash_entries: Reading<parse::EhashTable>,
    /// `net.ipv4.tcp_child_ehash_entries` (Linux 6.1+): buckets of the
    /// table a network namespace created from this one gets; 0 shares
    /// the host's.
    pub tcp_child_ehash_entries: Reading<u64>,
}

/// The text of a file, or why not.
fn text(path: &Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err("missing".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn read_with<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, String>) -> Reading<T> {
    Reading::at(path, text(path).and_then(|t| parse(&t)))
}

fn sysctl_with<T>(
    proc_root: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Reading<T> {
    read_with(&sysctl::path(proc_root, name), parse)
}

/// The `*.conf` files of a directory, sorted by name; an absent directory
/// has none.
fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The page size from the first `KernelPageSize` line of smaps, reading no
/// further than needed (smaps of a large process runs to megabytes).
fn page_size(path: &Path) -> Result<u64, String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "missing".to_string(),
        _ => e.to_string(),
    })?;
    for line in io::BufReader::new(file).lines().take(64) {
        let line = line.map_err(|e| e.to_string())?;
        if line.starts_with("KernelPageSize") {
            return parse::smaps_page_size(&line);
        }
    }
    Err("no KernelPageSize line".into())
}

fn nofile_limits(etc_root: &Path) -> LimitsFile {
    let security = etc_root.join("security");
    let mut out = LimitsFile::default();
    let mut files = vec![security.join("limits.conf")];
    match conf_files(&security.join("limits.d")) {
        Ok(more) => files.extend(more),
        Err(why) => out.problems.push(why),
    }
    for path in files {
        match text(&path) {
            Ok(t) => {
                let f = parse::limits_conf(&t, &path.display().to_string());
                out.lines.extend(f.lines);
                out.problems.extend(f.problems);
            }
            Err(why) if why == "missing" => {}
            Err(why) => out.problems.push(format!("{}: {why}", path.display())),
        }
    }
    out
}

fn sysctl_files(etc_root: &Path) -> Vec<SysctlFile> {
    let dir = etc_root.join("sysctl.d");
    let mut paths = match conf_files(&dir) {
        Ok(p) => p,
        Err(why) => {
            return vec![SysctlFile {
                path: dir,
                order: String::new(),
                lines: Reading::Unreadable(why),
            }];
        }
    };
    // `sysctl --system` reads /etc/sysctl.conf after every directory.
    paths.push(etc_root.join("sysctl.conf"));
    paths
        .into_iter()
        .filter_map(|path| {
            let lines = match text(&path) {
                Ok(t) => Reading::Value(parse::sysctl_conf(&t)),
                Err(why) if why == "missing" => return None,
                Err(why) => Reading::Unreadable(format!("{}: {why}", path.display())),
            };
            let order = if path.parent() == Some(etc_root) {
                "\u{10FFFF}".to_string() // after every sysctl.d name
            } else {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            Some(SysctlFile { path, order, lines })
        })
        .collect()
}

fn systemd(etc_root: &Path) -> Systemd {
    let dir = etc_root.join("systemd");
    let main = dir.join("system.conf");
    let drop_ins = dir.join("system.conf.d");
    let present = main.exists() || drop_ins.is_dir();
    let mut found = None;
    let mut files = vec![main];
    match conf_files(&drop_ins) {
        Ok(more) => files.extend(more),
        Err(why) => found = Some((drop_ins.display().to_string(), Reading::Unreadable(why))),
    }
    for path in files {
        match text(&path) {
            Ok(t) => {
                if let Some((line, value)) = parse::systemd_default_nofile(&t) {
                    let source = format!("{}:{line}", path.display());
                    found = Some((source.clone(), Reading::at(&path, value)));
                }
            }
            Err(why) if why == "missing" => {}
            Err(why) => found = Some((path.display().to_string(), Reading::at(&path, Err(why)))),
        }
    }
    Systemd {
        present,
        default_limit_nofile: found,
    }
}

fn conntrack(proc_root: &Path) -> Option<Conntrack> {
    let max_path = sysctl::path(proc_root, "net.netfilter.nf_conntrack_max");
    if !max_path.exists() {
        return None;
    }
    let nat = |file: &str| {
        text(&proc_root.join("net").join(file)).is_ok_and(|t| parse::lists_nat_table(&t))
    };
    Some(Conntrack {
        count: sysctl_with(proc_root, "net.netfilter.nf_conntrack_count", parse::number),
        max: read_with(&max_path, parse::number),
        nat_table: nat("ip_tables_names") || nat("ip6_tables_names"),
    })
}

/// `net.ipv4.ip_local_port_range` under `proc_root` (`/proc` for this
/// machine), parsed by [`parse::port_range`]: `(lo, hi)`, both ≤ 65535.
pub fn read_port_range(proc_root: &Path) -> Reading<(u64, u64)> {
    sysctl_with(proc_root, "net.ipv4.ip_local_port_range", parse::port_range)
}

/// `net.ipv4.tcp_ehash_entries` under `proc_root` (Linux 6.1+): the
/// established hash table of the namespace the reading thread is in
/// (`/proc/sys/net` follows the calling thread's network namespace).
pub fn read_ehash(proc_root: &Path) -> Reading<parse::EhashTable> {
    sysctl_with(
        proc_root,
        "net.ipv4.tcp_ehash_entries",
        parse::ehash_entries,
    )
}

/// `net.ipv4.ip_local_reserved_ports` under `proc_root`, parsed by
/// [`parse::reserved_ports`]: inclusive ranges, empty when none.
pub fn read_reserved_ports(proc_root: &Path) -> Reading<Vec<(u64, u64)>> {
    sysctl_with(
        proc_root,
        "net.ipv4.ip_local_reserved_ports",
        parse::reserved_ports,
    )
}

/// The ports LISTEN sockets hold in `<proc_root>/net/tcp` and `tcp6`
/// ([`parse::listen_ports`]), sorted, each once; `tcp6` may be missing.
pub fn read_listening(proc_root: &Path) -> Reading<Vec<u16>> {
    let net = proc_root.join("net");
    let v4 = net.join("tcp");
    let v6 = net.join("tcp6");
    let mut ports = match text(&v4).and_then(|t| parse::listen_ports(&t)) {
        Ok(p) => p,
        Err(why) => return Reading::Unreadable(format!("{}: {why}", v4.display())),
    };
    match text(&v6).and_then(|t| parse::listen_ports(&t)) {
        Ok(p) => ports.extend(p),
        Err(why) if why == "missing" => {}
        Err(why) => return Reading::Unreadable(format!("{}: {why}", v6.display())),
    }
    ports.sort_unstable();
    ports.dedup();
    Reading::Value(ports)
}

impl Facts {
    /// Reads the machine under `roots`. Never fails: what cannot be read is
    /// recorded as unreadable.
    pub fn read(roots: &Roots) -> Facts {
        let p = roots.proc_root.as_path();
        let self_dir = p.join("self");
        let meminfo = p.join("meminfo");
        let calibration_path = roots.calibration_path();
        Facts {
            file_max: sysctl_with(p, "fs.file-max", parse::number),
            file_nr: sysctl_with(p, "fs.file-nr", parse::file_nr),
            nr_open: sysctl_with(p, "fs.nr_open", parse::number),
            rlimit_nofile: read_with(&self_dir.join("limits"), parse::proc_limits_nofile),
            cap_eff: read_with(&self_dir.join("status"), parse::status_cap_eff),
            euid: read_with(&self_dir.join("status"), parse::status_euid),
            nofile_limits: nofile_limits(&roots.etc_root),
            sysctl_files: sysctl_files(&roots.etc_root),
            systemd: systemd(&roots.etc_root),
            init: read_with(&p.join("1/comm"), |t| Ok(t.trim().to_string())),
            port_range: read_port_range(p),
            reserved_ports: read_reserved_ports(p),
            listening: read_listening(p),
            mem_available: Reading::at(
                &meminfo,
                std::fs::read(&meminfo)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => "missing".to_string(),
                        _ => e.to_string(),
                    })
                    .and_then(|b| Meminfo::parse(&b).map_err(|e| e.to_string()))
                    .and_then(|m| {
                        m.mem_available()
                            .ok_or_else(|| "no MemAvailable line".into())
                    }),
            ),
            page_size: Reading::at(&self_dir.join("smaps"), page_size(&self_dir.join("smaps"))),
            tcp_mem: sysctl_with(p, "net.ipv4.tcp_mem", parse::numbers::<3>),
            tcp_rmem: sysctl_with(p, "net.ipv4.tcp_rmem", parse::numbers::<3>),
            tcp_wmem: sysctl_with(p, "net.ipv4.tcp_wmem", parse::numbers::<3>),
            calibration: match Calibration::load(&calibration_path) {
                Ok(c) => Reading::Value(c),
                Err(e) => Reading::Unreadable(e.to_string()),
            },
            kernel_release: sysctl_with(p, "kernel.osrelease", |t| Ok(t.trim().to_string())),
            somaxconn: sysctl_with(p, "net.core.somaxconn", parse::number),
            tcp_max_syn_backlog: sysctl_with(p, "net.ipv4.tcp_max_syn_backlog", parse::number),
            tcp_syncookies: sysctl_with(p, "net.ipv4.tcp_syncookies", parse::number),
            conntrack: conntrack(p),
            tcp_max_tw_buckets: sysctl_with(p, "net.ipv4.tcp_max_tw_buckets", parse::number),
            tcp_max_orphans: sysctl_with(p, "net.ipv4.tcp_max_orphans", parse::number),
            tcp_tw_reuse: sysctl_with(p, "net.ipv4.tcp_tw_reuse", parse::number),
            tcp_ehash_entries: read_ehash(p),
            tcp_child_ehash_entries: sysctl_with(
                p,
                "net.ipv4.tcp_child_ehash_entries",
                parse::number,
            ),
        }
    }

    /// Ports of `net.ipv4.ip_local_port_range` not in
    /// `ip_local_reserved_ports` ([`parse::usable_ports`]): what one
    /// (source, destination) pair can use. `None` when the range is
    /// unreadable; an unreadable reserved list counts as empty.
    pub fn usable_ports(&self) -> Option<u64> {
        let range = self.port_range.get()?;
        let reserved = self
            .reserved_ports
            .value()
            .map_or(&[][..], |r| r.as_slice());
        Some(parse::usable_ports(range, reserved))
    }

    /// Whether systemd's configuration matters here: it exists, and PID 1 is
    /// systemd (or PID 1 could not be read).
    pub fn systemd_relevant(&self) -> bool {
        self.systemd.present && self.init.value().is_none_or(|i| i == "systemd")
    }

    /// Whether capability `bit` is effective; unreadable with the mask.
    pub fn has_cap(&self, bit: u32) -> Reading<bool> {
        match &self.cap_eff {
            Reading::Value(mask) => Reading::Value(mask >> bit & 1 == 1),
            Reading::Unreadable(why) => Reading::Unreadable(why.clone()),
        }
    }

    /// The value `key` gets at boot from the sysctl files, and the
    /// `path:line` it comes from; `extra` (an ordering name such as
    /// `90-c1m.conf`, its path, its assignments) is placed among them as if
    /// it existed, replacing a file of that name. `None` when no file sets
    /// `key` (the kernel default applies).
    pub fn boot_sysctl(
        &self,
        key: &str,
        extra: Option<(&str, &Path, &[SysctlLine])>,
    ) -> Option<(String, String)> {
        let mut files: Vec<(&str, String, &[SysctlLine])> = self
            .sysctl_files
            .iter()
            .filter(|f| extra.is_none_or(|(name, _, _)| f.order != name))
            .filter_map(|f| {
                Some((
                    f.order.as_str(),
                    f.path.display().to_string(),
                    f.lines.value()?.as_slice(),
                ))
            })
            .collect();
        if let Some((name, path, lines)) = extra {
            files.push((name, path.display().to_string(), lines));
        }
        files.sort_by(|a, b| a.0.cmp(b.0));
        let mut found = None;
        for (_, path, lines) in files {
            for l in lines.iter().filter(|l| l.key == key) {
                found = Some((l.value.clone(), format!("{path}:{}", l.line)));
            }
        }
        found
    }
}

#[cfg(test)]
impl Facts {
    /// This development box, by hand: 20,000 RLIMIT_NOFILE, no
    /// CAP_SYS_RESOURCE, 22 GiB available, conntrack loaded and idle.
    pub(crate) fn sample() -> Facts {
        use Reading::Value;
        Facts {
            file_max: Value(2_466_170),
            file_nr: Value(FileNr {
                allocated: 378,
                free: 0,
                max: 2_466_170,
            }),
            nr_open: Value(1_048_576),
            rlimit_nofile: Value(Rlimit {
                soft: 20_000,
                hard: 20_000,
            }),
            cap_eff: Value(0x1ff_feff_ffff),
            euid: Value(0),
            nofile_limits: LimitsFile::default(),
            sysctl_files: Vec::new(),
            systemd: Systemd {
                present: false,
                default_limit_nofile: None,
            },
            init: Value("init".into()),
            port_range: Value((32_768, 60_999)),
            reserved_ports: Value(Vec::new()),
            listening: Value(vec![22]),
            mem_available: Value(24_000_000_000),
            page_size: Value(4096),
            tcp_mem: Value([287_898, 383_867, 575_796]),
            tcp_rmem: Value([4096, 131_072, 33_554_432]),
            tcp_wmem: Value([4096, 16_384, 4_194_304]),
            calibration: Value(None),
            kernel_release: Value("6.18.44".into()),
            somaxconn: Value(4096),
            tcp_max_syn_backlog: Value(2048),
            tcp_syncookies: Value(1),
            conntrack: Some(Conntrack {
                count: Value(0),
                max: Value(262_144),
                nat_table: false,
            }),
            tcp_max_tw_buckets: Value(131_072),
            tcp_max_orphans: Value(131_072),
            tcp_tw_reuse: Value(2),
            tcp_ehash_entries: Value(parse::EhashTable {
                buckets: 262_144,
                own: true,
            }),
            tcp_child_ehash_entries: Value(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sysctl_takes_the_last_file_in_name_order() {
        let line = |key: &str, value: &str, line| SysctlLine {
            key: key.into(),
            value: value.into(),
            line,
        };
        let file = |order: &str, lines| SysctlFile {
            path: PathBuf::from(format!("/etc/sysctl.d/{order}")),
            order: order.into(),
            lines: Reading::Value(lines),
        };
        let mut f = Facts::sample();
        f.sysctl_files = vec![
            file("10-a.conf", vec![line("fs.nr_open", "2000000", 1)]),
            file("95-z.conf", vec![line("fs.nr_open", "1048576", 3)]),
        ];
        assert_eq!(
            f.boot_sysctl("fs.nr_open", None),
            Some(("1048576".into(), "/etc/sysctl.d/95-z.conf:3".into()))
        );
        assert_eq!(f.boot_sysctl("fs.file-max", None), None);
        let ours = [line("fs.nr_open", "3000000", 4)];
        let path = Path::new("/etc/sysctl.d/90-c1m.conf");
        // 95-z.conf still comes after ours.
        assert_eq!(
            f.boot_sysctl("fs.nr_open", Some(("90-c1m.conf", path, &ours))),
            Some(("1048576".into(), "/etc/sysctl.d/95-z.conf:3".into()))
        );
        // A file of our name is replaced, not read twice.
        f.sysctl_files.remove(1);
        f.sysctl_files
            .push(file("90-c1m.conf", vec![line("fs.nr_open", "5", 1)]));
        assert_eq!(
            f.boot_sysctl("fs.nr_open", Some(("90-c1m.conf", path, &ours))),
            Some(("3000000".into(), "/etc/sysctl.d/90-c1m.conf:4".into()))
        );
    }

    #[test]
    fn capabilities_and_tracking() {
        let mut f = Facts::sample();
        assert_eq!(f.has_cap(CAP_SYS_RESOURCE).get(), Some(false));
        assert_eq!(f.has_cap(CAP_SYS_ADMIN).get(), Some(true));
        f.cap_eff = Reading::Unreadable("x".into());
        assert_eq!(f.has_cap(CAP_SYS_RESOURCE).get(), None);
        let mut ct = f.conntrack.clone().unwrap();
        assert_eq!(ct.tracking(), Some(false));
        ct.count = Reading::Unreadable("x".into());
        assert_eq!(ct.tracking(), None);
        ct.nat_table = true;
        assert_eq!(ct.tracking(), Some(true));
    }
}
