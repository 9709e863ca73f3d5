//! Misbehaving servers, each a separate process so that its descriptors
//! are an independent truth: the test binary re-executes itself
//! (`current_exe()`) with [`ENV`] set, running only the test named
//! [`ENTRY`], which every test binary that starts these servers defines as
//!
//! ```ignore
//! #[test]
//! fn test_server_process() {
//!     util::testserver::entry();
//! }
//! ```
//!
//! Unset, the entry returns at once. Set, it listens, prints that it is ready, and
//! serves until its stdin closes (the test dropped it, or died). Blocking
//! std::net threads: a test server needs no more.
//!
//! Modes, as real servers misbehave:
//! - `accept-close`: accept() then close() at once (nginx past
//!   `worker_connections`, Redis past `maxclients`, a server out of memory);
//! - `cap N LINE`: hold the first N, then write LINE to each further
//!   connection and close it (Redis's `-ERR max number of clients
//!   reached\r\n`; an empty LINE closes with a bare FIN);
//! - `stop-after K`: accept K, hold them, and never call accept() again (a
//!   server stuck at EMFILE or in its accept loop); later connections wait
//!   in the accept queue (backlog B holds B + 1), then SYNs are dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The variable that turns a test binary into a test server.
pub const ENV: &str = "C1M_TEST_SERVER";
/// The test every binary using these servers defines (see the module docs).
pub const ENTRY: &str = "test_server_process";
/// What a test server prints once it listens.
const READY: &str = "c1m test server ready";

/// What the server does with connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    AcceptClose,
    Cap { n: usize, line: Vec<u8> },
    StopAfter { k: usize },
}

impl Mode {
    fn encode(&self) -> String {
        match self {
            Mode::AcceptClose => "accept-close".into(),
            Mode::Cap { n, line } => format!("cap {n} {}", line.escape_ascii()),
            Mode::StopAfter { k } => format!("stop-after {k}"),
        }
    }

    fn decode(s: &str) -> Option<Mode> {
        let mut w = s.splitn(3, ' ');
        match (w.next()?, w.next(), w.next()) {
            ("accept-close", None, None) => Some(Mode::AcceptClose),
            ("cap", Some(n), line) => Some(Mode::Cap {
                n: n.parse().ok()?,
                line: unescape(line.unwrap_or("")),
            }),
            ("stop-after", Some(k), None) => Some(Mode::StopAfter { k: k.parse().ok()? }),
            _ => None,
        }
    }
}

/// Undoes `escape_ascii` for what it produces (`\r`, `\n`, `\t`, `\\`,
/// `\'`, `\"`, `\xHH`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let (byte, len) = match b[i + 1] {
                b'r' => (b'\r', 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                b'x' => (u8::from_str_radix(&s[i + 2..i + 4], 16).expect("\\xHH"), 4),
                c => (c, 2),
            };
            out.push(byte);
            i += len;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A test server process; killed and reaped when dropped.
pub struct TestServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
}

impl TestServer {
    /// Starts one listening on `addr` with listen(2) backlog `backlog`,
    /// and returns once it says `ready`.
    pub fn start(mode: Mode, addr: &str, backlog: i32) -> TestServer {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", ENTRY, "--nocapture", "--test-threads", "1"])
            .env(ENV, mode.encode())
            .env("C1M_TEST_LISTEN", addr.to_string())
            .env("C1M_TEST_BACKLOG", backlog.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("re-executing the test binary as a test server");
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = TestServer { child, stdin, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.contains(READY) => return server,
                Ok(l) => seen.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "test server {mode:?} on {addr} exited before it was ready \
                     (does this test binary define `{ENTRY}`?); it said:\n{}",
                    seen.join("\n")
                ),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            assert!(
                Instant::now() < deadline,
                "test server {mode:?} on {addr} not ready in 20 s; it said:\n{}",
                seen.join("\n")
            );
        }
    }

    /// The server's pid: whose descriptors are the truth.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Closing its stdin ends it; the kill makes sure.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The entry point: serves when [`ENV`] is set, returns at once otherwise.
pub fn entry() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let mode = Mode::decode(&spec).unwrap_or_else(|| panic!("{ENV}={spec:?}: no such mode"));
    let addr: SocketAddr = std::env::var("C1M_TEST_LISTEN").unwrap().parse().unwrap();
    let backlog: i32 = std::env::var("C1M_TEST_BACKLOG").unwrap().parse().unwrap();
    // listen(2) with a chosen backlog: std's bind() picks its own.
    let fd = c1m_sys::socket::listen(addr, backlog, false)
        .unwrap_or_else(|e| panic!("listening on {addr}: {e}"));
    let listener = TcpListener::from(fd);
    listener.set_nonblocking(false).unwrap();
    // Ends the process when the test closes our stdin or dies.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let mut stdout = std::io::stdout();
    // Its own line: libtest has written "test NAME ... " without one.
    writeln!(stdout, "\n{READY}").unwrap();
    stdout.flush().unwrap();
    serve(&listener, &mode);
}

fn serve(listener: &TcpListener, mode: &Mode) -> ! {
    let mut held: Vec<TcpStream> = Vec::new();
    let accept = || loop {
        match listener.accept() {
            Ok((s, _)) => return s,
            // ECONNABORTED and the like: the next one.
            Err(_) => continue,
        }
    };
    match mode {
        Mode::AcceptClose => loop {
            drop(accept());
        },
        Mode::Cap { n, line } => loop {
            let mut s = accept();
            if held.len() < *n {
                held.push(s);
            } else {
                let _ = s.write_all(line);
                drop(s);
            }
        },
        Mode::StopAfter { k } => {
            while held.len() < *k {
                held.push(accept());
            }
            loop {
                std::thread::park();
            }
        }
    }
}
