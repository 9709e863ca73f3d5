//! Helpers for the end-to-end tests: start c1m, read its report, find its
//! processes, count sockets with `ss`; the kernel's own count (`truth`),
//! misbehaving servers (`testserver`), real ones from Debian's packages
//! (`daemon`: nginx, HAProxy, Redis), report v2 read with context
//! (`outcome`), a layer over TCP run on both sides (`layer`: `--tls`,
//! `--websocket`), manifests read back as YAML (`yaml`), and the one rule
//! for tests that need root (`root`).

#![allow(dead_code)]

pub mod daemon;
pub mod lab;
pub mod layer;
pub mod outcome;
pub mod peers;
pub mod root;
pub mod slurm;
pub mod testserver;
pub mod truth;
pub mod watch;
pub mod yaml;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The heavy tests take the machine's ports and cores: one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The state directory the tests give c1m (`C1M_STATE_DIR`): the
/// calibration a run records, kept out of the machine's.
pub fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("c1m-tests-{}-state", std::process::id()))
}

/// The c1m binary, with its state directory kept out of the machine's.
pub fn c1m() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_c1m"));
    cmd.env("C1M_STATE_DIR", state_dir());
    cmd
}

/// Runs c1m to completion.
pub fn run(args: &[&str]) -> Output {
    c1m().args(args).output().expect("running c1m")
}

/// A fresh path for a JSON report.
pub fn report_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("c1m-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.json"))
}

pub fn read_json(path: &PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `c1m serve ARGS` in the background, once it holds its listeners (its
/// first ` hold ` progress line).
pub fn start_serve(args: &[&str]) -> Running {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut serve = spawn(&all);
    serve.wait_line(" hold ", Duration::from_secs(30));
    serve
}

/// c1m running in the background, its stderr read line by line.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

/// Starts `c1m ARGS --json REPORT` in the background; returns it with the
/// report's path (`report_path(name)`).
pub fn spawn_with_report(name: &str, args: &[&str]) -> (Running, PathBuf) {
    let json = report_path(name);
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    (spawn(&all), json)
}

pub fn spawn(args: &[&str]) -> Running {
    let mut cmd = c1m();
    cmd.args(args);
    spawn_cmd(cmd)
}

/// Starts `cmd` (c1m, or a command that execs it) in the background, its
/// stderr read line by line.
pub fn spawn_cmd(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting c1m");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl Running {
    /// Waits for a stderr line containing `needle`.
    pub fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
        }
        panic!(
            "no line with {needle:?} within {limit:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for a stderr line starting with `prefix`; None when c1m
    /// closed its stderr (exited) first.
    pub fn wait_line_or_exit(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        panic!(
            "no line starting {prefix:?} within {limit:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops c1m as a user does, with SIGINT, and waits for it to exit
    /// (as [`Running::finish`]).
    pub fn interrupt(self, limit: Duration) -> (Option<i32>, String, Vec<String>) {
        c1m_kill(self.pid(), "INT");
        self.finish(limit)
    }

    /// Waits for exit and returns the code and stdout.
    pub fn finish(mut self, limit: Duration) -> (Option<i32>, String, Vec<String>) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                use std::io::Read;
                self.child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(l);
                }
                return (status.code(), out, std::mem::take(&mut self.seen));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("c1m did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A c1m left running by a failed assertion is killed (its workers follow
/// it: PR_SET_PDEATHSIG) and reaped.
impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A failing test shows what c1m said.
        if std::thread::panicking() {
            while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(l);
            }
            eprintln!("c1m's stderr:\n{}", self.seen.join("\n"));
        }
    }
}

/// Waits until something listens on `addr` (a LISTEN row in the kernel's
/// table).
pub fn wait_listening_on(addr: std::net::SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while truth::listen_queue(addr).is_none() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces).
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until none of `pids` is alive.
pub fn all_gone(pids: &[u32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Asserts that none of `pids` (c1m's workers) is alive within `limit`,
/// naming those left behind.
#[track_caller]
pub fn assert_all_gone(pids: &[u32], limit: Duration) {
    if !all_gone(pids, limit) {
        let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        panic!("processes left behind after {limit:?}: {left:?} of {pids:?}");
    }
}

/// A process stopped with SIGSTOP, continued when dropped (also when an
/// assertion fails).
pub struct Stopped(u32);

impl Stopped {
    /// Stops `pid` and waits (up to 10 s) until /proc says it is stopped.
    pub fn stop(pid: u32) -> Stopped {
        c1m_kill(pid, "STOP");
        let state = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.chars().next()))
                .flatten()
        };
        let stopped = truth::poll_until(1, Duration::from_secs(10), || {
            u64::from(state() == Some('T'))
        });
        assert_eq!(stopped, 1, "pid {pid} did not stop: {:?}", state());
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// Asserts report v2 `r` held `n` at the end, as the kernel's count had
/// it on both sides, at the top and at the end of the hold (sock_diag,
/// not c1m's workers' counters).
#[track_caller]
pub fn assert_kernel_counted(r: &serde_json::Value, n: u64) {
    assert_eq!(
        r["held"]["at_end"], n,
        "held.at_end; kernel: {}",
        r["kernel"]
    );
    for point in ["at_top", "at_end"] {
        for side in ["server_side", "client_side"] {
            assert_eq!(
                r["kernel"][point][side], n,
                "kernel.{point}.{side}: {}",
                r["kernel"]
            );
        }
    }
}

/// The number of ports in `net.ipv4.ip_local_port_range` (both ends
/// included).
pub fn local_port_count() -> u64 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let v: Vec<u64> = range
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    v[1] - v[0] + 1
}

/// `ss -Htn state established` lines matching a filter, counted.
pub fn ss_established(filter: &str) -> u64 {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", filter])
        .output()
        .expect("running ss (iproute2)");
    assert!(out.status.success(), "ss failed: {}", text(&out.stderr));
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// `ss -Htn state established FILTER` inside the network namespace
/// `netns` (`ip netns exec`), lines counted.
pub fn ss_established_in(netns: &str, filter: &str) -> u64 {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "ss", "-Htn", "state", "established"])
        .args((!filter.is_empty()).then_some(filter))
        .output()
        .expect("running ip netns exec … ss (iproute2)");
    assert!(
        out.status.success(),
        "ss in {netns} failed: {}",
        text(&out.stderr)
    );
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// The run namespaces `ip netns list` shows (`c1m-run-*`).
pub fn run_namespaces() -> Vec<String> {
    ip_cmd(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("c1m-run-"))
        .map(str::to_string)
        .collect()
}

/// The namespace `c1m run` with supervisor `pid` holds its connections in.
pub fn run_netns(pid: u32) -> String {
    format!("c1m-run-{pid}")
}

/// `ip ARGS` (iproute2), its stdout; a missing `ip` fails the test.
pub fn ip_cmd(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (iproute2)");
    text(&out.stdout)
}

/// Sends a signal (`INT`, `KILL`, …) with kill(1).
pub fn c1m_kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// A finished command's exit code, stdout and stderr, for a failing
/// assertion's message.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// `secs` seconds from now, in Unix seconds: a `--start-at @T` that
/// leaves the shards time to start their workers.
pub fn unix_in(secs: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs
}

/// `--start-at`'s value for `secs` seconds from now, to the millisecond
/// (`@1764583200.250`): a whole second of [`unix_in`] may be up to a
/// second less.
pub fn start_in(secs: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!("@{:.3}", now + secs)
}
