//! Peers for the hostile-peer tests (`hostile.rs`, `half_open.rs`): a
//! connection's helpers, well-behaved peers that check every echo, a
//! watch on processes' RSS, and plain HTTP for the metrics endpoint.
//! Standard library only, blocking sockets: what a test peer needs.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A generous limit for any one blocking step: a failure, not a timing.
pub const LONG: Duration = Duration::from_secs(60);

/// A blocking connection to `to`, each read and write given [`LONG`].
pub fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&to, LONG).unwrap_or_else(|e| panic!("{to}: {e}"));
    s.set_read_timeout(Some(LONG)).unwrap();
    s.set_write_timeout(Some(LONG)).unwrap();
    s
}

/// The peer saw the server close: an end of stream, or a reset.
pub fn is_close(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// Reads until the server closes: true when it did (EOF or a reset).
pub fn read_until_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return is_close(&e),
        }
    }
}

/// Sends `line` and reads back exactly its echo.
pub fn exchange(s: &mut TcpStream, line: &[u8]) -> std::io::Result<bool> {
    s.write_all(line)?;
    let mut back = vec![0u8; line.len()];
    s.read_exact(&mut back)?;
    Ok(back == line)
}

/// `VmRSS` of a process, bytes (proc(5)).
pub fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A process's soft `Max open files` (proc(5) `limits`).
pub fn nofile_soft(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap()
}

/// Whether a process is stopped (state `T`).
pub fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('T')))
}

/// Well-behaved peers: each sends a line every 100 ms and checks its echo,
/// until told to stop; then closes with a FIN and reads to the end.
pub struct Good {
    stop: Arc<AtomicBool>,
    exchanges: Arc<AtomicU64>,
    thread: JoinHandle<(u64, Vec<String>)>,
}

impl Good {
    pub fn start(to: SocketAddr, n: usize) -> Good {
        let stop = Arc::new(AtomicBool::new(false));
        let exchanges = Arc::new(AtomicU64::new(0));
        // One at a time, each proven held before the next: a burst of
        // connects would overflow the tiny backlog and wait for a SYN
        // retry while the first ones sat idle.
        let mut conns: Vec<TcpStream> = (0..n)
            .map(|i| {
                let mut s = connect(to);
                assert!(exchange(&mut s, format!("hello {i}\n").as_bytes()).unwrap());
                s
            })
            .collect();
        let thread = {
            let (stop, exchanges) = (Arc::clone(&stop), Arc::clone(&exchanges));
            std::thread::spawn(move || {
                let mut bytes = 0u64;
                let mut wrong = Vec::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for (i, c) in conns.iter_mut().enumerate() {
                        let line = format!("good {i} {seq}\n");
                        match exchange(c, line.as_bytes()) {
                            Ok(true) => bytes += line.len() as u64,
                            Ok(false) => wrong.push(format!("peer {i}: echo differs at {seq}")),
                            Err(e) => wrong.push(format!("peer {i}: {e} at {seq}")),
                        }
                        exchanges.fetch_add(1, Ordering::SeqCst);
                    }
                    seq += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                for (i, c) in conns.iter_mut().enumerate() {
                    c.shutdown(Shutdown::Write).unwrap();
                    let mut rest = Vec::new();
                    match c.read_to_end(&mut rest) {
                        Ok(_) if rest.is_empty() => {}
                        other => wrong.push(format!("peer {i} at the end: {other:?}")),
                    }
                }
                (bytes, wrong)
            })
        };
        Good {
            stop,
            exchanges,
            thread,
        }
    }

    pub fn count(&self) -> u64 {
        self.exchanges.load(Ordering::SeqCst)
    }

    /// Waits for `more` exchanges beyond `from`: the server is still
    /// serving the well-behaved.
    pub fn wait_past(&self, from: u64, more: u64, what: &str) {
        let deadline = Instant::now() + LONG;
        while self.count() < from + more {
            assert!(
                Instant::now() < deadline,
                "well-behaved peers stalled {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Samples the server workers' RSS every 20 ms; the most of each.
pub struct RssWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<u64>>,
}

impl RssWatch {
    pub fn start(pids: Vec<u32>) -> RssWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut most = vec![0u64; pids.len()];
                while !stop.load(Ordering::SeqCst) {
                    for (m, &p) in most.iter_mut().zip(&pids) {
                        *m = (*m).max(vm_rss(p));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                most
            })
        };
        RssWatch { stop, thread }
    }

    pub fn most(self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// An HTTP exchange with the metrics endpoint: `request` written in
/// pieces of `step` bytes, `pause` apart; the whole answer read.
pub fn http_slowly(to: SocketAddr, request: &[u8], step: usize, pause: Duration) -> String {
    let mut s = connect(to);
    for piece in request.chunks(step) {
        if s.write_all(piece).is_err() {
            break;
        }
        std::thread::sleep(pause);
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

pub fn scrape(to: SocketAddr) -> String {
    http_slowly(
        to,
        b"GET /metrics HTTP/1.1\r\nHost: c1m\r\n\r\n",
        usize::MAX,
        Duration::ZERO,
    )
}

/// One sample of the exposition text: `NAME{LABELS} VALUE`.
pub fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
