//! The fault matrix (issue 12, point 2): `c1m run` at 20,000 connections
//! over 20 worker processes (`--worker-conns 2000`), and `c1m connect`
//! against a separate `c1m serve`, each cell one fault at one stage:
//!
//! - SIGKILL of a server worker, of a client worker, of the supervisor;
//!   SIGINT; SIGTERM — at start-up, in the ramp, while verifying the
//!   count at the top, in the hold, and in teardown;
//! - a second Ctrl-C (in the ramp; in the hold by
//!   `a_signal_sent_twice_is_one_press`, beside one SIGINT sent twice as
//!   `timeout -s INT` sends it, which is one Ctrl-C);
//! - `c1m connect` against `c1m serve`: a client worker killed, SIGTERM,
//!   one server worker killed, the whole server fleet killed;
//! - `--json` on a full disk (a 64 KiB tmpfs mounted for the test).
//!
//! Stages are found from outside, never by sleeping: start-up by the
//! first worker process appearing (the first client one, for a client
//! worker's death), the others by c1m's own progress lines on stderr
//! (` ramp `, `verify `, ` hold `, `teardown `); the report then says in
//! which stage the fault landed (`end.during`), and the test checks it.
//! Verify, which lasts ~0.1 s at this size, is held open from outside: a
//! server worker stopped (SIGSTOP) in the ramp keeps it waiting for the
//! servers to catch up; the fault lands, then the worker goes on.
//!
//! After each cell: the exit code says what happened (1 a worker died,
//! 130 SIGINT, 143 SIGTERM, 2 a report that could not be written, killed
//! by SIGKILL for the supervisor); the JSON report is there, whole and
//! valid against `schema/report.schema.json`, and its figures agree with
//! the kernel (`ss` and `/proc/PID/net/tcp` read by the test, or, for an
//! early end, c1m's two independent readings at rest: each socket's state
//! and the netlink dump); no process of the cell is left (by process
//! group, and by scanning `/proc` for the c1m binary); no socket (the
//! machine-wide `TCP: alloc` of `/proc/net/sockstat` back to its
//! baseline, and no row on the cell's ports in the host's table); no
//! network namespace; no address. A supervisor killed with SIGKILL
//! leaves its namespace (nothing of it runs to remove it): the next run
//! removes it and says so, and the last one is removed by `c1m lab
//! down`.
//!
//! One test, the cells one after the other: about 35 runs of 20,000
//! connections, ~1.5 minutes on a 2-core VM.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::root::{Root, needs_root};
use crate::util::truth::{self, TcpState};
use crate::util::*;

const CONNS: u64 = 20_000;
/// `run`'s server port, in the run's own namespace.
const RUN_PORT: &str = "8880";
/// `serve`'s ports, in the host's namespace.
const SERVE_PORTS: (u16, u16) = (9300, 9309);
/// How long a cell's leftovers may take to go (processes reaped, sockets
/// freed by the kernel): a bound, not a measurement.
const CLEAN_WITHIN: Duration = Duration::from_secs(20);
/// TCP sockets other programs of the machine may open or close meanwhile
/// (`TCP: alloc` counts every namespace's): far below a leak of c1m's,
/// which is 2,000 sockets a worker.
const OTHERS: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    StartUp,
    Ramp,
    Verify,
    Hold,
    Teardown,
}

impl Stage {
    const ALL: [Stage; 5] = [
        Stage::StartUp,
        Stage::Ramp,
        Stage::Verify,
        Stage::Hold,
        Stage::Teardown,
    ];

    /// As `end.during` names it.
    fn name(self) -> &'static str {
        match self {
            Stage::StartUp => "start-up",
            Stage::Ramp => "ramp",
            Stage::Verify => "verify",
            Stage::Hold => "hold",
            Stage::Teardown => "teardown",
        }
    }

    /// The stderr line that says c1m is in this stage.
    fn line(self) -> &'static str {
        match self {
            Stage::StartUp => unreachable!("start-up is seen by its processes"),
            Stage::Ramp => " ramp ",
            Stage::Verify => "verify ",
            Stage::Hold => " hold ",
            Stage::Teardown => "teardown ",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillServer,
    KillClient,
    KillSupervisor,
    Int,
    Term,
    /// Ctrl-C twice: two presses, the second 200 ms after the first
    /// (over c1m's 100 ms `SAME_PRESS`, and within the half second an
    /// early end waits for the fleet to come to rest).
    DoubleInt,
    /// One SIGINT sent twice back to back, as GNU `timeout -s INT` does
    /// (to its child, then to its process group): one kill(1) naming the
    /// supervisor twice. One press.
    TimeoutInt,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillServer => "kill-server-worker",
            Fault::KillClient => "kill-client-worker",
            Fault::KillSupervisor => "kill-supervisor",
            Fault::Int => "sigint",
            Fault::Term => "sigterm",
            Fault::DoubleInt => "double-ctrl-c",
            Fault::TimeoutInt => "sigint-sent-twice",
        }
    }

    /// The exit code it must end with; `None`: killed by a signal.
    fn exit(self) -> Option<i32> {
        match self {
            Fault::KillServer | Fault::KillClient => Some(1),
            Fault::KillSupervisor => None,
            Fault::Int | Fault::DoubleInt | Fault::TimeoutInt => Some(130),
            Fault::Term => Some(143),
        }
    }

    /// How many signals it sends.
    fn signals(self) -> u32 {
        match self {
            Fault::DoubleInt | Fault::TimeoutInt => 2,
            _ => 1,
        }
    }
}

/// The machine before the matrix, and what the cells found.
struct Matrix {
    alloc: u64,
    inuse: u64,
    addrs: String,
    /// c1m processes that ran before the matrix (another test's).
    before: HashSet<u32>,
    validator: jsonschema::Validator,
    cells: u32,
    faults: u32,
    reports: u32,
    /// A namespace a SIGKILLed supervisor left, for the next run to
    /// remove.
    leftover: Option<String>,
}

/// `TCP: inuse` (this namespace) and `TCP: alloc` (every namespace's)
/// of `/proc/net/sockstat`.
fn sockstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    let line = text.lines().find(|l| l.starts_with("TCP:")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    let get = |k: &str| {
        let i = f.iter().position(|x| *x == k).unwrap();
        f[i + 1].parse::<u64>().unwrap()
    };
    (get("inuse"), get("alloc"))
}

/// `ip -o addr` of the host, the addresses c1m must leave as they were.
fn addresses() -> String {
    ip_cmd(&["-o", "addr"])
}

/// The process group of `pid` (the fifth field of /proc/PID/stat).
fn pgrp(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Every process (not a zombie) running the c1m binary under test.
fn c1m_processes() -> HashSet<u32> {
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_c1m")).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|x| x == exe))
        .filter(|&p| alive(p))
        .collect()
}

/// The processes of process group `group` still alive.
fn group_members(group: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| pgrp(p) == Some(group) && alive(p))
        .collect()
}

/// The processes holding a listening socket in network namespace `ns`
/// (the host's for `None`): the server workers. `ss -Hltnp`, cheap at
/// any count of connections (the kernel dumps the listeners only).
fn listener_pids(ns: Option<&str>) -> HashSet<u32> {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ss"]);
            c
        }
        None => Command::new("ss"),
    };
    let out = cmd
        .args(["-Hltnp"])
        .output()
        .expect("running ss (iproute2)");
    text(&out.stdout)
        .split("pid=")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// The `servers` server workers of the run in `ns`: the processes with
/// a listener there, once all of them have one (a server worker just
/// started may not listen yet, and would pass for a client). Waits up
/// to 30 s.
fn server_workers(ns: &str, servers: usize) -> HashSet<u32> {
    let what = format!("server workers listening in {ns}");
    at_least(&what, servers, Duration::from_secs(30), 20, || {
        listener_pids(Some(ns))
    })
}

/// Reads `read()` every `every_ms` until it has `want` processes, for
/// at most `limit`; returns them, or fails naming `what` and the last
/// reading.
fn at_least<C>(what: &str, want: usize, limit: Duration, every_ms: u64, read: impl Fn() -> C) -> C
where
    C: std::fmt::Debug,
    for<'a> &'a C: IntoIterator,
{
    let deadline = Instant::now() + limit;
    loop {
        let got = read();
        let n = (&got).into_iter().count();
        if n >= want {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {n}, not {want}, within {limit:?}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(every_ms));
    }
}

/// Rows of the host's TCP table on `ports` (any state but TIME_WAIT,
/// which belongs to no process and goes by itself).
fn host_rows_on(ports: &[u16]) -> Vec<String> {
    truth::tcp_table()
        .iter()
        .filter(|r| r.state != TcpState::TimeWait)
        .filter(|r| ports.contains(&r.local.port()) || ports.contains(&r.remote.port()))
        .map(|r| format!("{} {} {:?}", r.local, r.remote, r.state))
        .collect()
}

/// Polls `f` until it is true or [`CLEAN_WITHIN`] passes.
fn within(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + CLEAN_WITHIN;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The workers' process group: theirs, not the supervisor's (which a
/// worker still has in the instant between fork and its `setpgid`).
fn worker_group(seen: &Seen, workers: &[u32]) -> Option<u32> {
    let supervisors = pgrp(seen.supervisor);
    workers
        .iter()
        .filter_map(|&w| pgrp(w))
        .find(|&g| Some(g) != supervisors)
}

/// What the test saw of one cell while it ran.
#[derive(Debug, Default)]
struct Seen {
    supervisor: u32,
    /// The workers' process group.
    group: Option<u32>,
    victim: Option<u32>,
    /// The victim's ESTABLISHED sockets just before the kill, read by
    /// the test (`/proc/PID/net/tcp` and its descriptors).
    victim_held: Option<u64>,
    /// ESTABLISHED sockets in the run's namespace in the hold, by `ss`.
    ss_held: Option<u64>,
}

impl Matrix {
    fn new() -> Self {
        let (inuse, alloc) = sockstat();
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json"),
            )
            .unwrap(),
        )
        .unwrap();
        Matrix {
            alloc,
            inuse,
            addrs: addresses(),
            before: c1m_processes(),
            validator: jsonschema::draft202012::new(&schema).unwrap(),
            cells: 0,
            faults: 0,
            reports: 0,
            leftover: None,
        }
    }

    /// The report at `json`, whole and valid against the schema, with
    /// the exit code in its verdict.
    fn report(&mut self, cell: &str, json: &Path, code: Option<i32>, err: &str) -> Value {
        let text = std::fs::read_to_string(json)
            .unwrap_or_else(|e| panic!("{cell}: no report at {}: {e}\n{err}", json.display()));
        let r: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{cell}: the report is not whole JSON: {e}"));
        let errors: Vec<String> = self
            .validator
            .iter_errors(&r)
            .map(|e| format!("  at {}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{cell}: the report does not match schema/report.schema.json:\n{}",
            errors.join("\n")
        );
        assert_eq!(r["schema"], "c1m.report/3", "{cell}");
        if let Some(code) = code {
            assert_eq!(r["verdict"]["exit_code"], code, "{cell}: {}", r["verdict"]);
        }
        self.reports += 1;
        r
    }

    /// Nothing of the cell is left: no process of the supervisor's or its
    /// workers' (by process group, and any c1m process but `keep`), no
    /// socket (machine-wide `TCP: alloc` and this namespace's `inuse`
    /// back to their baselines, `keeping` sockets of `keep` aside; no
    /// row on `ports`), no run namespace but a killed supervisor's, no
    /// address added.
    fn assert_clean(&self, cell: &str, seen: &Seen, keep: (&[u32], u64), ports: &[u16]) {
        let (keep, keeping) = keep;
        let mine = |p: &u32| !self.before.contains(p) && !keep.contains(p);
        let gone = within(|| {
            !alive(seen.supervisor)
                && seen.group.is_none_or(|g| group_members(g).is_empty())
                && !c1m_processes().iter().any(mine)
        });
        let left: Vec<u32> = c1m_processes().into_iter().filter(mine).collect();
        assert!(
            gone,
            "{cell}: c1m processes left: {left:?} (group {:?}: {:?})",
            seen.group,
            seen.group.map(group_members)
        );
        let (mut inuse, mut alloc) = (0, 0);
        let freed = within(|| {
            (inuse, alloc) = sockstat();
            alloc <= self.alloc + keeping + OTHERS && inuse <= self.inuse + keeping + OTHERS
        });
        assert!(
            freed,
            "{cell}: TCP sockets left: alloc {alloc} (before the matrix {}, {keeping} kept), inuse {inuse} (before {})",
            self.alloc, self.inuse
        );
        let rows = host_rows_on(ports);
        assert!(
            rows.is_empty(),
            "{cell}: sockets left:\n{}",
            rows.join("\n")
        );
        let namespaces: Vec<String> = run_namespaces()
            .into_iter()
            .filter(|n| Some(n) != self.leftover.as_ref())
            .collect();
        assert!(
            namespaces.is_empty(),
            "{cell}: network namespaces left: {namespaces:?}"
        );
        assert_eq!(addresses(), self.addrs, "{cell}: addresses changed");
    }
}

/// Waits until `c` has `want` worker processes; returns them.
fn workers_at_least(c: &Running, want: usize) -> Vec<u32> {
    at_least("workers", want, Duration::from_secs(60), 1, || {
        children(c.pid())
    })
}

/// Waits until `c` reaches `stage`; returns its workers and which of them
/// are servers. Start-up is its first worker process (for a client's
/// death, the wait for `--start-at`, every worker started); a later
/// stage is its line on stderr, the roles told apart before (by their
/// listeners, once all are started), so that the fault follows the line
/// at once.
fn reach(
    c: &mut Running,
    ns: &str,
    stage: Stage,
    fault: Fault,
    fleet: (usize, usize),
) -> (Vec<u32>, HashSet<u32>) {
    let (servers, clients) = fleet;
    if stage == Stage::StartUp {
        if fault != Fault::KillClient {
            let w = workers_at_least(c, 1);
            // The first worker is the first server.
            let first = w.iter().copied().min().into_iter().collect();
            return (w, first);
        }
        // Clients start in a few milliseconds: the run waits for its
        // `--start-at`, every worker ready, and says so.
        c.wait_line("for --start-at", Duration::from_secs(60));
        let w = workers_at_least(c, servers + clients);
        return (w, server_workers(ns, servers));
    }
    let w = workers_at_least(c, servers + clients);
    let roles = server_workers(ns, servers);
    if stage == Stage::Teardown && matches!(fault, Fault::KillServer | Fault::KillClient) {
        // A worker answers Close and exits within milliseconds: stopped
        // (SIGSTOP) in the hold, the victim is still to answer when the
        // kill lands in teardown.
        c.wait_line(Stage::Hold.line(), Duration::from_secs(60));
        c1m_kill(victim_of(fault, &w, &roles).unwrap(), "STOP");
    }
    if stage != Stage::Verify {
        c.wait_line(stage.line(), Duration::from_secs(60));
    }
    (w, roles)
}

/// The worker `fault` kills: the first server, or the first client (as
/// `run_cell` picks it when no server was stopped before).
fn victim_of(fault: Fault, workers: &[u32], servers: &HashSet<u32>) -> Option<u32> {
    match fault {
        Fault::KillServer => workers.iter().copied().find(|w| servers.contains(w)),
        Fault::KillClient => workers.iter().copied().find(|w| !servers.contains(w)),
        _ => None,
    }
}

/// `N server + M client worker processes` of the plan line.
fn fleet_size(plan: &str) -> (usize, usize) {
    let words: Vec<&str> = plan.split_whitespace().collect();
    let at = |w: &str| {
        let i = words.iter().position(|x| *x == w).unwrap();
        words[i - 1].parse::<usize>().unwrap()
    };
    (at("server"), at("client"))
}

/// The `c1m run` of the cells: [`CONNS`] connections, 2,000 a client
/// worker (10 of them), to [`RUN_PORT`], held `hold`.
fn run_args(hold: &str) -> Vec<&str> {
    vec![
        "run",
        "-n",
        "20000",
        "--worker-conns",
        "2000",
        "--ports",
        RUN_PORT,
        "--hold",
        hold,
    ]
}

/// One cell of `c1m run`: `fault` at `stage`.
fn run_cell(m: &mut Matrix, stage: Stage, fault: Fault) {
    let cell = format!("{}@{}", fault.name(), stage.name());
    let started = Instant::now();
    let hold = if stage == Stage::Teardown {
        "1s"
    } else {
        "60s"
    };
    let mut args = run_args(hold);
    if matches!(stage, Stage::Ramp | Stage::Verify) {
        // A 2 s ramp: the fault (or the stopped server, below) lands in it.
        args.extend_from_slice(&["--rate", "10000"]);
    }
    let start_at = format!("@{}", unix_in(3));
    if stage == Stage::StartUp && fault == Fault::KillClient {
        args.extend_from_slice(&["--start-at", &start_at]);
    }
    let json = report_path(&format!("fault-{cell}"));
    let mut cmd = c1m();
    cmd.args(&args).arg("--json").arg(&json);
    if stage == Stage::Teardown && matches!(fault, Fault::KillServer | Fault::KillClient) {
        // The victim, stopped in the hold (`reach`), never answers the
        // end's count: not taken after 1 s instead of 10 (the other
        // workers count theirs in ~20 ms).
        cmd.env("C1M_COUNT_TIMEOUT_MS", "1000");
    }
    let mut c = spawn_cmd(cmd);
    let mut seen = Seen {
        supervisor: c.pid(),
        ..Seen::default()
    };
    let ns = run_netns(seen.supervisor);
    let plan = c.wait_line(" worker processes", Duration::from_secs(60));
    let (servers, clients) = fleet_size(&plan);
    assert_eq!((servers, clients), (10, 10), "{cell}: {plan}");
    // A namespace a killed supervisor left is removed by this run.
    if let Some(old) = m.leftover.take() {
        let line = c
            .seen
            .iter()
            .find(|l| l.contains("left by killed runs"))
            .cloned();
        assert!(
            line.as_ref().is_some_and(|l| l.contains(&old)),
            "{cell}: the namespace {old} a killed run left was not removed: {line:?}"
        );
        assert!(
            !run_namespaces().contains(&old),
            "{cell}: {old} still there"
        );
    }
    let (workers, server_pids) = reach(&mut c, &ns, stage, fault, (servers, clients));
    seen.group = worker_group(&seen, &workers);
    let mut servers_of = workers.iter().copied().filter(|w| server_pids.contains(w));
    // Verify waits for the servers to have accepted what the clients
    // hold: one server stopped (SIGSTOP) in the ramp keeps it waiting,
    // so the fault lands in it; the server goes on after the fault.
    let stopped = (stage == Stage::Verify).then(|| servers_of.next().unwrap());
    if let Some(s) = stopped {
        c1m_kill(s, "STOP");
        c.wait_line(Stage::Verify.line(), Duration::from_secs(60));
    }
    let victim = match fault {
        Fault::KillServer => servers_of.next(),
        Fault::KillClient => workers.iter().copied().find(|w| !server_pids.contains(w)),
        _ => None,
    };
    seen.victim = victim;
    if stage == Stage::Hold {
        // The kernel's count, read by the test before the fault.
        seen.ss_held = Some(ss_established_in(&ns, ""));
        if let Some(v) = victim {
            seen.victim_held = Some(truth::own_in_state(v, TcpState::Established));
        }
    }
    match fault {
        Fault::KillServer | Fault::KillClient => {
            c1m_kill(victim.expect("a victim of its role"), "KILL")
        }
        Fault::KillSupervisor => c1m_kill(seen.supervisor, "KILL"),
        Fault::Int => c1m_kill(seen.supervisor, "INT"),
        Fault::Term => c1m_kill(seen.supervisor, "TERM"),
        Fault::DoubleInt => {
            c1m_kill(seen.supervisor, "INT");
            std::thread::sleep(Duration::from_millis(200));
            c1m_kill(seen.supervisor, "INT");
        }
        Fault::TimeoutInt => {
            let pid = seen.supervisor.to_string();
            let st = Command::new("kill")
                .args(["-INT", &pid, &pid])
                .status()
                .unwrap();
            assert!(st.success());
        }
    }
    if let Some(s) = stopped {
        // Gone already if the fault took it (the supervisor's death).
        let _ = Command::new("kill")
            .args(["-CONT", &s.to_string()])
            .status();
    }
    m.faults += fault.signals();
    m.cells += 1;
    let (code, out, err) = c.finish(Duration::from_secs(120));
    let err = err.join("\n");
    let took = started.elapsed();
    let context = format!("{cell}: exit {code:?}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, fault.exit(), "{context}");
    if fault == Fault::KillSupervisor {
        // Killed: no report, not even part of one; its namespace stays
        // for the next run to remove.
        assert!(!json.exists(), "{context}");
        assert!(run_namespaces().contains(&ns), "{cell}: {ns} was not left");
        m.leftover = Some(ns);
    } else {
        let r = m.report(&cell, &json, code, &context);
        check_run_report(&cell, &r, stage, fault, &seen, &out, &err);
    }
    m.assert_clean(&cell, &seen, (&[], 0), &[]);
    eprintln!("fault matrix: {cell}: exit {code:?}, clean, {took:.1?}");
}

/// The report of a `c1m run` cell says what happened, and its figures
/// agree with the kernel's.
fn check_run_report(
    cell: &str,
    r: &Value,
    stage: Stage,
    fault: Fault,
    seen: &Seen,
    out: &str,
    err: &str,
) {
    let ctx = || {
        format!(
            "{cell}: end {}, workers {}, held {}\nkernel {}\nstdout:\n{out}\nstderr:\n{err}",
            r["end"], r["workers"], r["held"], r["kernel"]
        )
    };
    assert!(out.contains("c1m spread summary"), "{}", ctx());
    let end = &r["kernel"]["at_end"];
    let last = err.lines().last().unwrap_or("");
    let reason = r["verdict"]["reason"].as_str().unwrap_or("");
    assert_eq!(last, format!("c1m: {reason}"), "{}", ctx());
    assert_eq!(r["end"]["during"], stage.name(), "{}", ctx());
    let w = &r["workers"];
    let started = w["started"].as_u64().unwrap();
    let clean = w["closed_cleanly"].as_u64().unwrap();
    let killed = w["killed"].as_u64().unwrap_or(0);
    let lost = w["lost"].as_array().unwrap();
    assert_eq!(clean + killed + lost.len() as u64, started, "{}", ctx());
    if stage != Stage::StartUp {
        assert_eq!(started, 20, "{}", ctx());
    }
    match fault {
        Fault::KillServer | Fault::KillClient => {
            let victim = seen.victim.unwrap();
            let role = if fault == Fault::KillServer {
                "server"
            } else {
                "client"
            };
            assert_eq!(r["end"]["kind"], "worker-died", "{}", ctx());
            assert_eq!(lost.len(), 1, "{}", ctx());
            let why = lost[0].as_str().unwrap();
            assert!(
                why.starts_with(role)
                    && why.contains(&format!("(pid {victim}) was killed by SIGKILL")),
                "{}",
                ctx()
            );
            assert_eq!(killed, 0, "{}", ctx());
        }
        Fault::Int | Fault::Term | Fault::DoubleInt | Fault::TimeoutInt => {
            let sig = if fault == Fault::Term {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            assert_eq!(r["end"]["kind"], "interrupted", "{}", ctx());
            assert_eq!(r["end"]["signal"], sig, "{}", ctx());
            assert!(lost.is_empty(), "c1m's own kills are not lost: {}", ctx());
            if fault == Fault::DoubleInt {
                assert!(killed > 0, "{}", ctx());
                assert_eq!(r["kernel"]["at_end"]["status"], "not-taken", "{}", ctx());
            } else {
                assert_eq!(clean, started, "{}", ctx());
            }
            if fault == Fault::TimeoutInt {
                // The end read by the kernel, not stopped at once.
                assert_eq!(r["held"]["source"], "kernel", "{}", ctx());
                assert_eq!(end["status"], "counted", "{}", ctx());
                assert!(
                    !err.contains("interrupted again"),
                    "one press is not two: {}",
                    ctx()
                );
            }
        }
        Fault::KillSupervisor => unreachable!(),
    }
    // The figures, against the kernel.
    let held = r["held"]["at_end"].as_u64().unwrap();
    match stage {
        Stage::Hold if fault != Fault::DoubleInt => {
            assert_eq!(seen.ss_held, Some(2 * CONNS), "ss in the hold: {}", ctx());
            let want = CONNS - seen.victim_held.unwrap_or(0);
            if seen.victim.is_some() {
                assert!(seen.victim_held.unwrap() > 0, "{}", ctx());
            }
            assert_eq!(held, want, "{}", ctx());
        }
        // Read at the end of the hold, before teardown began.
        Stage::Teardown => assert_eq!(held, CONNS, "{}", ctx()),
        _ if fault == Fault::DoubleInt => {}
        Stage::StartUp => assert_eq!(held, 0, "{}", ctx()),
        // An early end is read at rest, by two independent readings:
        // each socket's state (TCP_INFO) and the netlink dump, in the
        // run's own namespace, where every socket is c1m's.
        _ => {
            assert_eq!(end["status"], "counted", "{}", ctx());
            assert_eq!(end["client_own"], end["client_side"], "{}", ctx());
            assert_eq!(end["server_own"], end["server_side"], "{}", ctx());
            assert_eq!(end["client_own"], end["server_own"], "{}", ctx());
            assert_eq!(r["server_side"]["waiting"], 0, "{}", ctx());
            assert_eq!(r["phantoms"]["count"], 0, "{}", ctx());
            assert_eq!(held, end["client_own"].as_u64().unwrap(), "{}", ctx());
        }
    }
    // No negative memory figure (a killed worker's memory leaving, or
    // more processes sharing the workers' pages, is no cost).
    assert!(
        !out.lines()
            .any(|l| l.contains("user memory") && l.contains('-')),
        "{}",
        ctx()
    );
}

/// `c1m connect` against a separate `c1m serve`: a client worker killed,
/// SIGTERM in the ramp, a server worker killed, the server fleet killed.
fn connect_cells(m: &mut Matrix) {
    let (lo, hi) = SERVE_PORTS;
    let ports: Vec<u16> = (lo..=hi).collect();
    let listen = format!("127.0.0.1:{lo}-{hi}");
    let serve_args = [
        "--listen",
        listen.as_str(),
        // Room for the kernel's uneven spread over the workers'
        // SO_REUSEPORT listeners: 12 workers of 4,000, ~1,700 each.
        "--max-conns",
        "40000",
        "--worker-conns",
        "4000",
    ];
    let mut serve = Some(start_serve_with_report("fault-serve-a", &serve_args));
    // The serve's listeners, which stay while it runs.
    let serve_listeners = sockstat().0.saturating_sub(m.inuse);
    let connect = |name: &str, hold: &str, extra: &[&str]| {
        let mut args = vec![
            "connect",
            listen.as_str(),
            "-n",
            "20000",
            "--worker-conns",
            "2000",
            "--hold",
            hold,
        ];
        args.extend_from_slice(extra);
        spawn_with_report(name, &args)
    };
    for (cell, fault, stage) in [
        (
            "connect:kill-client-worker@hold",
            Fault::KillClient,
            Stage::Hold,
        ),
        ("connect:sigterm@ramp", Fault::Term, Stage::Ramp),
    ] {
        let (s, _) = serve.as_ref().unwrap();
        let serve_tree = truth::process_tree(s.pid());
        let extra: &[&str] = if stage == Stage::Ramp {
            &["--rate", "10000"]
        } else {
            &[]
        };
        let (mut c, json) = connect(&format!("fault-{cell}"), "60s", extra);
        let mut seen = Seen {
            supervisor: c.pid(),
            ..Seen::default()
        };
        c.wait_line(stage.line(), Duration::from_secs(60));
        let workers = children(c.pid());
        seen.group = worker_group(&seen, &workers);
        if fault == Fault::KillClient {
            let v = workers[0];
            seen.victim = Some(v);
            seen.victim_held = Some(truth::own_in_state(v, TcpState::Established));
            c1m_kill(v, "KILL");
        } else {
            c1m_kill(c.pid(), "TERM");
        }
        m.faults += 1;
        m.cells += 1;
        let (code, out, err) = c.finish(Duration::from_secs(120));
        let err = err.join("\n");
        let ctx = format!("{cell}: exit {code:?}\nstdout:\n{out}\nstderr:\n{err}");
        assert_eq!(code, fault.exit(), "{ctx}");
        let r = m.report(cell, &json, code, &ctx);
        assert_eq!(r["end"]["during"], stage.name(), "{ctx}");
        let end = &r["kernel"]["at_end"];
        if fault == Fault::KillClient {
            let victim_held = seen.victim_held.unwrap();
            assert!(victim_held > 0, "{ctx}");
            assert_eq!(r["held"]["at_end"], CONNS - victim_held, "{ctx}");
            assert_eq!(r["workers"]["lost"].as_array().unwrap().len(), 1, "{ctx}");
        } else {
            assert_eq!(r["end"]["signal"], "SIGTERM", "{ctx}");
            // At rest: c1m's own (TCP_INFO) and the netlink dump agree.
            assert_eq!(end["client_own"], end["client_side"], "{ctx}");
        }
        // The server fleet is unharmed and holds nothing of this cell.
        assert!(serve_tree.iter().all(|&p| alive(p)), "{ctx}");
        m.assert_clean(cell, &seen, (&serve_tree, serve_listeners), &[]);
        eprintln!("fault matrix: {cell}: exit {code:?}, clean");
    }
    // One server worker killed under a connect: the connect counts its
    // connections closed by the server; the serve stops, naming it.
    for (cell, whole_fleet) in [
        ("connect:server-worker-dies@hold", false),
        ("connect:server-fleet-dies@hold", true),
    ] {
        let (s, serve_json) = serve
            .take()
            .unwrap_or_else(|| start_serve_with_report("fault-serve-b", &serve_args));
        let serve_pid = s.pid();
        let serve_tree = truth::process_tree(serve_pid);
        let serve_group = serve_tree.get(1).and_then(|&w| pgrp(w));
        let (mut c, json) = connect(&format!("fault-{cell}"), "2s", &[]);
        let mut seen = Seen {
            supervisor: c.pid(),
            ..Seen::default()
        };
        c.wait_line(Stage::Hold.line(), Duration::from_secs(60));
        seen.group = worker_group(&seen, &children(c.pid()));
        let closed = if whole_fleet {
            c1m_kill(serve_pid, "KILL");
            CONNS
        } else {
            let v = serve_tree[1..]
                .iter()
                .copied()
                .find(|&w| truth::own_in_state(w, TcpState::Established) > 0)
                .unwrap();
            let n = truth::own_in_state(v, TcpState::Established);
            // The serve stops when its worker dies and resets the rest of
            // its connections as it tears down, about a second later:
            // sooner than connect's end reading, at the end of its hold,
            // when the victim took long to find. Its supervisor stopped
            // (SIGSTOP) meanwhile, the serve notices the death only once
            // connect has ended; its workers hold and the dead one's
            // connections close with its FINs, as before.
            c1m_kill(serve_pid, "STOP");
            c1m_kill(v, "KILL");
            n
        };
        m.faults += 1;
        m.cells += 1;
        let done = c.finish(Duration::from_secs(120));
        if !whole_fleet {
            c1m_kill(serve_pid, "CONT");
        }
        let (code, out, err) = done;
        let err = err.join("\n");
        let ctx = format!("{cell}: exit {code:?}\nstdout:\n{out}\nstderr:\n{err}");
        assert_eq!(code, Some(1), "{ctx}");
        let r = m.report(cell, &json, code, &ctx);
        assert_eq!(r["end"]["kind"], "completed", "{ctx}");
        assert_eq!(r["held"]["at_end"], CONNS - closed, "{ctx}");
        // The kernel closes a killed process's idle sockets with a FIN:
        // one per connection the dead worker held. (The whole fleet's
        // death closes every one with a FIN; a serve that stops after one
        // worker's death resets the rest later, after connect ended.)
        let closes = &r["closes"];
        assert_eq!(closes["fin"], closed, "{ctx}");
        let by_server: u64 = ["fin", "fin_with_data", "rst"]
            .iter()
            .map(|k| closes[k].as_u64().unwrap())
            .sum();
        assert!(by_server <= CONNS, "{ctx}");
        assert!(
            r["verdict"]["reason"]
                .as_str()
                .is_some_and(|w| w.contains("closed by the server")),
            "{ctx}"
        );
        // The serve: a dead worker stops it (exit 1, its report naming
        // it); a killed supervisor takes its workers with it.
        let (scode, sout, serr) = s.finish(Duration::from_secs(60));
        let sctx = format!("serve: exit {scode:?}\n{sout}\n{}", serr.join("\n"));
        if whole_fleet {
            assert_eq!(scode, None, "{sctx}");
        } else {
            assert_eq!(scode, Some(1), "{sctx}");
            let sr = m.report(cell, &serve_json, scode, &sctx);
            assert_eq!(sr["end"]["kind"], "worker-died", "{sctx}");
        }
        let serve_seen = Seen {
            supervisor: serve_pid,
            group: serve_group,
            ..Seen::default()
        };
        m.assert_clean(cell, &serve_seen, (&[], 0), &ports);
        m.assert_clean(cell, &seen, (&[], 0), &ports);
        eprintln!("fault matrix: {cell}: exit {code:?}, clean");
    }
}

/// `c1m serve ARGS --json REPORT` in the background, holding.
fn start_serve_with_report(name: &str, args: &[&str]) -> (Running, PathBuf) {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let (mut s, json) = spawn_with_report(name, &all);
    s.wait_line(" hold ", Duration::from_secs(30));
    (s, json)
}

/// A small tmpfs, filled, unmounted when dropped.
struct FullDisk {
    dir: PathBuf,
}

impl FullDisk {
    fn mount() -> FullDisk {
        let dir = std::env::temp_dir().join(format!("c1m-tests-{}-full", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "c1m-full"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs on {}", dir.display());
        FullDisk { dir }
    }

    /// Fills what is left with one file, until the disk says no.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let e = std::fs::write(self.dir.join("probe"), [0u8; 4096]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// `--json` on a full disk: the summary still reaches the terminal, the
/// HTML still gets written, the last line names the file and the cause,
/// exit 2, and the older report there is left whole (never a truncated
/// one).
fn full_disk_cell(m: &mut Matrix) {
    let cell = "json-on-a-full-disk";
    let disk = FullDisk::mount();
    let json = disk.dir.join("report.json");
    std::fs::write(&json, "an older report\n").unwrap();
    disk.fill();
    let html = report_path("fault-full-disk").with_extension("html");
    let _ = std::fs::remove_file(&html);
    let mut c = c1m();
    c.args(run_args("0s"))
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html);
    let run = spawn_cmd(c);
    let seen = Seen {
        supervisor: run.pid(),
        ..Seen::default()
    };
    m.faults += 1;
    m.cells += 1;
    let (code, out, err) = run.finish(Duration::from_secs(120));
    let err = err.join("\n");
    let ctx = format!("{cell}: exit {code:?}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code, Some(2), "{ctx}");
    assert!(out.contains("c1m spread summary"), "{ctx}");
    assert!(
        out.lines()
            .any(|l| l.contains("verdict") && l.contains("OK")),
        "{ctx}"
    );
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!(
            "c1m: writing the JSON report to {}: ",
            json.display()
        )) && last.contains("No space left on device")
            && last.contains("the summary above has every figure"),
        "{ctx}"
    );
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "an older report\n");
    let strays: Vec<_> = std::fs::read_dir(&disk.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "{cell}: {strays:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("</html>"), "{cell}: the HTML is whole");
    drop(disk);
    m.assert_clean(cell, &seen, (&[], 0), &[]);
    eprintln!("fault matrix: {cell}: exit {code:?}, clean");
}

/// The matrix judges every `c1m-run-*` namespace left as a run's: none
/// may be there before it starts.
fn require_no_run_namespaces(root: &Root) {
    root.require(
        run_namespaces().is_empty(),
        format!("run namespaces are left: {:?}", run_namespaces()),
        "ip netns del each (or c1m lab down)",
    );
}

/// One SIGINT sent twice back to back (GNU `timeout -s INT`: to its
/// child, then to its process group) is one Ctrl-C: a whole report read
/// by the kernel, exit 130, nothing killed, nothing left; two presses
/// 200 ms apart are still two (every worker killed at once). Two runs of
/// 20,000 connections in the hold, ~8 s.
#[test]
fn a_signal_sent_twice_is_one_press() {
    let Some(root) = needs_root("network namespaces") else {
        return;
    };
    let _g = heavy();
    require_no_run_namespaces(&root);
    let mut m = Matrix::new();
    run_cell(&mut m, Stage::Hold, Fault::TimeoutInt);
    run_cell(&mut m, Stage::Hold, Fault::DoubleInt);
}

#[test]
fn fault_matrix() {
    let Some(root) = needs_root("network namespaces and a tmpfs") else {
        return;
    };
    let _g = heavy();
    require_no_run_namespaces(&root);
    let started = Instant::now();
    let mut m = Matrix::new();
    for fault in [
        Fault::KillServer,
        Fault::KillClient,
        Fault::Int,
        Fault::Term,
        Fault::KillSupervisor,
    ] {
        for stage in Stage::ALL {
            run_cell(&mut m, stage, fault);
        }
    }
    run_cell(&mut m, Stage::Ramp, Fault::DoubleInt);
    full_disk_cell(&mut m);
    // The last killed supervisor's namespace: `c1m lab down` removes it.
    if let Some(old) = m.leftover.take() {
        let out = run(&["lab", "down"]);
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            text(&out.stdout).contains(&format!("left by killed runs: {old}")),
            "{}",
            describe(&out)
        );
        assert!(!run_namespaces().contains(&old));
    }
    connect_cells(&mut m);
    eprintln!(
        "fault matrix: {} cells, {} faults injected, {} reports whole and valid, 0 lost; nothing left behind; {:.0?}",
        m.cells,
        m.faults,
        m.reports,
        started.elapsed()
    );
}
