//! `doctor` on this machine: every figure it reads equals what the test
//! reads from /proc itself (and from getrlimit/geteuid for the process).

use std::fs;

use c1m_limits::cli::{self, DoctorArgs, RootArgs, TupleArgs};
use c1m_limits::facts::CAP_SYS_RESOURCE;
use c1m_limits::num::thousands;
use c1m_limits::{Facts, Role, Roots};

fn proc_text(rel: &str) -> String {
    fs::read_to_string(format!("/proc/{rel}")).unwrap()
}

fn proc_u64(rel: &str) -> u64 {
    proc_text(rel).trim().parse().unwrap()
}

fn proc_u64s(rel: &str) -> Vec<u64> {
    proc_text(rel)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn system_roots(state: &tempfile::TempDir) -> Roots {
    Roots {
        state_dir: state.path().to_path_buf(),
        ..Roots::system()
    }
}

#[test]
fn facts_equal_the_live_files() {
    let _live = crate::util::live_proc();
    let state = tempfile::tempdir().unwrap();
    let f = Facts::read(&system_roots(&state));
    for (read, rel) in [
        (&f.file_max, "sys/fs/file-max"),
        (&f.nr_open, "sys/fs/nr_open"),
        (&f.somaxconn, "sys/net/core/somaxconn"),
        (&f.tcp_max_syn_backlog, "sys/net/ipv4/tcp_max_syn_backlog"),
        (&f.tcp_syncookies, "sys/net/ipv4/tcp_syncookies"),
        (&f.tcp_max_tw_buckets, "sys/net/ipv4/tcp_max_tw_buckets"),
        (&f.tcp_tw_reuse, "sys/net/ipv4/tcp_tw_reuse"),
        (&f.tcp_max_orphans, "sys/net/ipv4/tcp_max_orphans"),
    ] {
        assert_eq!(read.get(), Some(proc_u64(rel)), "{rel}");
    }
    let range = proc_u64s("sys/net/ipv4/ip_local_port_range");
    assert_eq!(f.port_range.get(), Some((range[0], range[1])));
    for (read, rel) in [
        (&f.tcp_mem, "sys/net/ipv4/tcp_mem"),
        (&f.tcp_rmem, "sys/net/ipv4/tcp_rmem"),
        (&f.tcp_wmem, "sys/net/ipv4/tcp_wmem"),
    ] {
        assert_eq!(read.get().map(Vec::from), Some(proc_u64s(rel)), "{rel}");
    }
    assert_eq!(
        f.kernel_release.value().map(String::as_str),
        Some(proc_text("sys/kernel/osrelease").trim())
    );
    match fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max") {
        Ok(max) => assert_eq!(
            f.conntrack.as_ref().unwrap().max.get(),
            Some(max.trim().parse().unwrap())
        ),
        Err(_) => assert!(f.conntrack.is_none()),
    }
    // RLIMIT_NOFILE: the syscall, /proc/self/limits and Facts agree.
    let rl = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let facts_rl = f.rlimit_nofile.get().unwrap();
    assert_eq!(Some(facts_rl.soft), rl.current);
    assert_eq!(Some(facts_rl.hard), rl.maximum);
    let line = proc_text("self/limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums, [facts_rl.soft, facts_rl.hard]);
    assert_eq!(f.euid.get(), Some(rustix::process::geteuid().as_raw()));
    let cap_eff = proc_text("self/status")
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_string()));
    assert_eq!(
        f.cap_eff.get(),
        Some(u64::from_str_radix(&cap_eff.unwrap(), 16).unwrap())
    );
    assert_eq!(f.page_size.get(), Some(rustix::param::page_size() as u64));
    // file-nr moves; it is read, and in use is below the maximum.
    assert!(f.file_nr.value().unwrap().in_use() < f.file_max.get().unwrap());
}

/// The LISTEN ports read from /proc/net/tcp and tcp6 include listeners this
/// test opens (their ports from getsockname), and not a connected socket's
/// own port.
#[test]
fn listening_ports_are_read_from_the_kernel_tables() {
    let _live = crate::util::live_proc();
    let state = tempfile::tempdir().unwrap();
    let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = std::net::TcpListener::bind("[::1]:0").ok();
    let client = std::net::TcpStream::connect(v4.local_addr().unwrap()).unwrap();
    let (_accepted, _) = v4.accept().unwrap();
    let f = Facts::read(&system_roots(&state));
    let listening = f.listening.value().unwrap();
    assert!(
        listening.contains(&v4.local_addr().unwrap().port()),
        "{listening:?}"
    );
    if let Some(v6) = &v6 {
        assert!(
            listening.contains(&v6.local_addr().unwrap().port()),
            "{listening:?}"
        );
    }
    // connect() never picks a port a socket has bound, so no listener has it.
    let own = client.local_addr().unwrap().port();
    assert!(
        !listening.contains(&own),
        "the client's port {own} is not a listener: {listening:?}"
    );
    assert!(
        listening.windows(2).all(|w| w[0] < w[1]),
        "sorted, each once"
    );
}

#[test]
fn doctor_prints_the_live_figures_and_names_what_binds() {
    let _live = crate::util::live_proc();
    let state = tempfile::tempdir().unwrap();
    let args = DoctorArgs {
        target: 1_000_000,
        role: Role::Both,
        json: false,
        tuples: TupleArgs::default(),
        roots: RootArgs {
            proc_root: "/proc".into(),
            etc_root: "/etc".into(),
            state_dir: Some(state.path().to_path_buf()),
        },
    };
    let mut out = Vec::new();
    let ok = cli::doctor_to(&args, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{text}"))
            .to_string()
    };
    assert!(row("fs.file-max").contains(&thousands(proc_u64("sys/fs/file-max"))));
    assert!(row("fs.nr_open").contains(&thousands(proc_u64("sys/fs/nr_open"))));
    let range = proc_u64s("sys/net/ipv4/ip_local_port_range");
    assert!(row("net.ipv4.ip_local_port_range").contains(&format!("{}–{}", range[0], range[1])));
    assert!(row("net.core.somaxconn").contains(&thousands(proc_u64("sys/net/core/somaxconn"))));
    assert!(
        row("net.ipv4.tcp_max_syn_backlog")
            .contains(&thousands(proc_u64("sys/net/ipv4/tcp_max_syn_backlog")))
    );
    let tcp_mem: Vec<String> = proc_u64s("sys/net/ipv4/tcp_mem")
        .into_iter()
        .map(thousands)
        .collect();
    assert!(row("net.ipv4.tcp_mem").contains(&tcp_mem.join(" ")));
    let rl = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let (soft, hard) = (rl.current.unwrap(), rl.maximum.unwrap());
    assert!(row("RLIMIT_NOFILE").contains(&format!(
        "{} soft / {} hard",
        thousands(soft),
        thousands(hard)
    )));

    // What binds: per-process fds, with the number of processes, unless
    // this process may raise its hard limit or a hard cap is lower.
    let facts = Facts::read(&Roots {
        state_dir: state.path().to_path_buf(),
        ..Roots::system()
    });
    let cap = facts.has_cap(CAP_SYS_RESOURCE).get().unwrap();
    let verdict = text.lines().last().unwrap();
    if ok && !cap && hard < 1_000_064 {
        let n = 1_000_000u64.div_ceil(hard - 64);
        assert!(
            verdict.contains(&format!(
                "OK — per-process fds bind first (RLIMIT_NOFILE {} hard, no CAP_SYS_RESOURCE)",
                thousands(hard)
            )),
            "{verdict}"
        );
        assert!(
            verdict.ends_with(&format!(
                "c1m fans out to {n} server + {n} client processes"
            )),
            "{verdict}"
        );
    }
}
