//! `c1m stat` end to end: real loopback connections counted against `ss`,
//! JSON and plain output, the slabinfo refusal without root, and the
//! redrawn screen in tmux, restored on Ctrl-C.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::util::root::is_root;
use crate::util::{heavy, ss_established, text};

/// The port the tests listen on (8970-8989 are stat's).
const PORT: u16 = 8970;

/// The program under test: the c1m binary, whose `stat` subcommand is
/// the code under test.
fn stat_program() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_c1m"))
}

fn stat() -> Command {
    let mut c = crate::util::c1m();
    c.arg("stat");
    c
}

/// Runs `cmd` to completion within `limit`: status, stdout, stderr.
fn run_bounded(mut cmd: Command, limit: Duration) -> (ExitStatus, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stat");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            text(&s)
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stat did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

/// `n` loopback connections to a listener on `port`, both ends held.
struct Conns {
    _listener: TcpListener,
    _ends: Vec<TcpStream>,
}

fn connect(port: u16, n: usize) -> Conns {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .unwrap_or_else(|e| panic!("listening on 127.0.0.1:{port}: {e}"));
    let mut ends = Vec::with_capacity(2 * n);
    // One at a time, accepting each: std's backlog is 128.
    for _ in 0..n {
        ends.push(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap());
        ends.push(listener.accept().unwrap().0);
    }
    Conns {
        _listener: listener,
        _ends: ends,
    }
}

#[test]
fn counts_both_ends_of_loopback_connections() {
    let _g = heavy();
    let _conns = connect(PORT, 2_000);
    let filter = format!("( sport = :{PORT} or dport = :{PORT} )");
    assert_eq!(ss_established(&filter), 4_000);

    let mut cmd = stat();
    cmd.args(["--ports", "8970", "--count", "2", "--interval", "1s"])
        .arg("--json");
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(30));
    assert!(status.success(), "{status}: {err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), 2, "{out}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["schema"], "c1m.stat/1");
        assert_eq!(r["seq"], i as u64 + 1);
        assert_eq!(r["filter"]["ports"], serde_json::json!([PORT, PORT]));
        let states = &r["states"];
        assert!(states["error"].is_null(), "{states}");
        assert_eq!(states["by_state"]["ESTABLISHED"], 4_000, "{states}");
        assert_eq!(states["by_state"]["LISTEN"], 1, "{states}");
        assert_eq!(states["by_state"]["SYN_SENT"], 0, "{states}");
        // The server ends and the listener have the port as their local
        // port (and TIME_WAIT left by an earlier run may too).
        let top = &states["top_local_ports"][0];
        assert_eq!(top["port"], PORT, "{top}");
        assert!(top["sockets"].as_u64().unwrap() >= 2_001, "{top}");
        assert!(r["tcp"]["curr_estab"].as_u64().unwrap() >= 4_000, "{r}");
        assert!(r["memory"]["mem_available"]["bytes"].as_u64().unwrap() > 0);
        if is_root() {
            assert!(r["slab"]["error"].is_null(), "{}", r["slab"]);
        }
    }
    // The second record has a rate over the two counts: nothing moved.
    // (On a machine so loaded that a count of 4,000 sockets took over
    // 0.1 s, or did not come back within half a refresh, the second
    // record still shows the first count, and no rate.)
    let second = &records[1]["states"];
    let span = records[1]["t_s"].as_f64().unwrap() - records[0]["t_s"].as_f64().unwrap();
    if second["age_s"].as_f64().unwrap() < span {
        assert_eq!(second["established_per_s"], 0.0, "{second}");
    } else {
        assert!(second["established_per_s"].is_null(), "{second}");
    }
    assert_eq!(ss_established(&filter), 4_000);

    // Not a terminal: plain lines, no escape sequences, the same count.
    let mut cmd = stat();
    cmd.args(["--ports", "8970", "--count", "1"]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(30));
    assert!(status.success(), "{status}: {err}");
    assert!(!out.contains('\x1b'), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("ESTABLISHED"))
        .unwrap_or_else(|| panic!("no ESTABLISHED line:\n{out}"));
    let n = line.split_whitespace().nth(1).unwrap();
    assert_eq!(n, "4,000", "{line}");
    assert!(out.contains("port 8970 (local or remote)"), "{out}");
    assert!(out.contains("top local ports: 8970 "), "{out}");
}

#[test]
fn without_root_slabinfo_is_named_not_zero() {
    let mut cmd = if is_root() {
        // Run as nobody, from a copy nobody can reach.
        let dir = std::env::temp_dir().join(format!("c1m-stat-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("stat");
        std::fs::copy(stat_program(), &copy).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for (p, mode) in [(&dir, 0o755), (&copy, 0o755)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .arg("stat");
        c
    } else {
        stat()
    };
    cmd.args(["--count", "1", "--json"]);
    let (status, out, err) = run_bounded(cmd, Duration::from_secs(30));
    assert!(status.success(), "{status}: {err}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let slab = &r["slab"];
    assert_eq!(
        slab["error"],
        "reading /proc/slabinfo needs root (permission denied)"
    );
    assert_eq!(slab["caches"], serde_json::json!([]));
    assert!(slab["total_bytes"].is_null() && slab["per_socket_bytes"].is_null());
    // The rest needs no privilege.
    assert!(r["states"]["error"].is_null(), "{}", r["states"]);
    assert!(r["tcp"]["inuse"].is_u64());
}

/// A tmux server of its own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        Self {
            socket: format!("c1m-stat-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("running tmux (apt-get install tmux; test.sh does)");
        assert!(out.status.success(), "tmux {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "stat"])
    }

    fn flag(&self, name: &str) -> String {
        self.run(&["display", "-p", "-t", "stat", &format!("#{{{name}}}")])
            .trim()
            .to_string()
    }

    /// Waits until the screen satisfies `ok`.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {what} within 15 s:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn the_screen_redraws_in_place_and_ctrl_c_restores_the_terminal() {
    let tmux = Tmux::new();
    let program = stat_program();
    let shell = format!(
        "'{}' watch --interval 200ms; echo \"stat exited $?\"; stty -a; echo stty-end; sleep 60",
        program.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "stat",
        "-x",
        "120",
        "-y",
        "50",
        &shell,
    ]);
    let screen = tmux.wait_for("third refresh", |s| s.contains("refresh 3 every 200ms"));
    for heading in [
        "SOCKETS BY STATE",
        "ESTABLISHED",
        "TCP TOTALS",
        "MEMORY",
        "SLAB CACHES",
        "q or Ctrl-C quits",
    ] {
        assert!(screen.contains(heading), "no {heading}:\n{screen}");
    }
    // Redrawn in place: one screen, not a scroll of them.
    assert_eq!(screen.matches("SOCKETS BY STATE").count(), 1, "{screen}");
    assert_eq!(tmux.flag("alternate_on"), "1");
    assert_eq!(tmux.flag("cursor_flag"), "0");

    tmux.run(&["send-keys", "-t", "stat", "C-c"]);
    let screen = tmux.wait_for("exit", |s| s.contains("stty-end"));
    assert!(screen.contains("stat exited 0"), "{screen}");
    assert!(!screen.contains("SOCKETS BY STATE"), "{screen}");
    assert_eq!(tmux.flag("alternate_on"), "0");
    assert_eq!(tmux.flag("cursor_flag"), "1");
    // Raw mode is off again: canonical input and echo are back.
    let words: Vec<&str> = screen.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig"] {
        assert!(words.contains(&mode), "stty shows no {mode}:\n{screen}");
    }
}
