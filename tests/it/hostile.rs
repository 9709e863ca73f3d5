//! Hostile peers against `c1m serve` and its metrics endpoint (issue 12,
//! point 4), each written here against real sockets: peers that never
//! read their echoes, that send one line without end, that trickle a byte
//! at a time (slowloris), that say nothing, a reset storm, a peer process
//! SIGKILLed with echoes unread, a million tiny messages, and a SYN flood
//! far beyond the backlog. Meanwhile well-behaved peers keep exchanging
//! lines, and the metrics endpoint is fed slow, oversized and crowded
//! requests. (Peers that vanish without a word: `half_open.rs`.)
//!
//! What is checked, against the test's own observations and the kernel:
//! every misbehaving peer is closed by its rule and sees the close (a
//! reset or an end of stream); every well-behaved peer gets every echo
//! back, byte for byte; the server workers' RSS (`/proc/PID/status`)
//! stays within a bound derived from their tables; the server side holds
//! nothing at the end (`/proc/net/tcp`); and serve's three accounts (the
//! metrics endpoint, the JSON report, the summary) say what was closed
//! and why, equal to what the test counted.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::util::peers::*;
use crate::util::truth;
use crate::util::*;

const LISTEN: &str = "127.0.0.1:8980";
const METRICS: &str = "127.0.0.1:9480";
/// Seconds without a complete line before serve closes a peer.
const IDLE_S: u64 = 3;
const MAX_MESSAGE: usize = 4096;
const MAX_UNSENT: u64 = 256 * 1024;
const BACKLOG: usize = 8;
const WORKERS: usize = 2;
const WORKER_CONNS: u64 = 2000;

/// How many peers of each kind.
const GOOD: usize = 40;
const NEVER_READS: usize = 4;
const ENDLESS_LINE: usize = 4;
const SLOWLORIS: usize = 4;
const SILENT: usize = 4;
const FLOOD: usize = 1000;
const STORM: usize = 1000;
const KILLED: usize = 100;
const TINY_CONNS: usize = 4;
const TINY_PER_CONN: usize = 250_000;
const METRICS_CROWD: usize = 200;

fn addr() -> SocketAddr {
    LISTEN.parse().unwrap()
}

fn metrics_addr() -> SocketAddr {
    METRICS.parse().unwrap()
}

/// What the test saw of one kind of peer.
#[derive(Debug, Default)]
struct Seen {
    /// Connections the server closed, as the peer saw it (a reset or an
    /// end of stream).
    closed_seen: u64,
    /// Bytes the peers sent.
    sent: u64,
    /// Bytes they got back.
    received: u64,
}

impl Seen {
    fn add(&mut self, closed: bool, sent: u64, received: u64) {
        self.closed_seen += u64::from(closed);
        self.sent += sent;
        self.received += received;
    }
}

/// Reads what comes back until the server closes, on its own thread:
/// (closed, bytes read).
fn read_back(mut s: TcpStream) -> JoinHandle<(bool, u64)> {
    std::thread::spawn(move || {
        let mut got = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (true, got),
                Ok(n) => got += n as u64,
                Err(e) => return (is_close(&e), got),
            }
        }
    })
}

/// Writes `chunk` over and over until the server closes; (bytes sent,
/// closed as the writer saw it).
fn write_until_closed(s: &mut TcpStream, chunk: &[u8]) -> (u64, bool) {
    let mut sent = 0u64;
    loop {
        match s.write(chunk) {
            Ok(n) => sent += n as u64,
            Err(e) => return (sent, is_close(&e)),
        }
    }
}

/// Peers that send 1 KiB lines as fast as they can and never read.
fn never_reads(conns: Vec<TcpStream>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let line = [b"n".repeat(1023), b"\n".to_vec()].concat();
        let peers: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                let line = line.clone();
                std::thread::spawn(move || write_until_closed(&mut s, &line))
            })
            .collect();
        let mut seen = Seen::default();
        for p in peers {
            let (sent, closed) = p.join().unwrap();
            seen.add(closed, sent, 0);
        }
        seen
    })
}

/// Peers that send one line without end (no newline, ever), reading what
/// comes back as it comes.
fn endless_lines(conns: Vec<TcpStream>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let peers: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    let reader = read_back(s.try_clone().unwrap());
                    let (sent, _) = write_until_closed(&mut s, &[b'a'; 1024]);
                    let (closed, got) = reader.join().unwrap();
                    (closed, sent, got)
                })
            })
            .collect();
        let mut seen = Seen::default();
        for p in peers {
            let (closed, sent, got) = p.join().unwrap();
            seen.add(closed, sent, got);
        }
        seen
    })
}

/// Slowloris: a byte every 200 ms, never a newline, until the server
/// closes; what comes back is read as it comes.
fn slowloris(conns: Vec<TcpStream>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut conns: Vec<Option<TcpStream>> = conns
            .into_iter()
            .map(|s| {
                s.set_nonblocking(true).unwrap();
                Some(s)
            })
            .collect();
        let mut seen = Seen::default();
        let mut buf = [0u8; 64];
        while conns.iter().any(Option::is_some) {
            for slot in conns.iter_mut() {
                let Some(s) = slot else { continue };
                let mut gone = match s.write(b"s") {
                    Ok(n) => {
                        seen.sent += n as u64;
                        None
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                    Err(e) => Some(is_close(&e)),
                };
                while gone.is_none() {
                    match s.read(&mut buf) {
                        Ok(0) => gone = Some(true),
                        Ok(n) => seen.received += n as u64,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => gone = Some(is_close(&e)),
                    }
                }
                if let Some(closed) = gone {
                    seen.closed_seen += u64::from(closed);
                    *slot = None;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        seen
    })
}

/// Peers that say nothing, waiting to be closed.
fn silent(conns: Vec<TcpStream>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Seen::default();
        for mut s in conns {
            seen.add(read_until_closed(&mut s), 0, 0);
        }
        seen
    })
}

/// A million tiny lines over the connections, in writes of 1 to 64 lines,
/// at most 64 KiB of them unread at a time (a peer that reads what it
/// asked for); every echo is checked byte for byte, then each connection
/// is closed with a FIN and read to its end.
fn tiny_messages(conns: Vec<TcpStream>) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let peers: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(c, mut w)| std::thread::spawn(move || tiny_peer(c, &mut w)))
            .collect();
        let mut seen = Seen::default();
        for p in peers {
            let (ok, sent, got) = p.join().unwrap();
            assert!(
                ok,
                "a tiny-message peer's echoes differed, or its end was not seen"
            );
            seen.add(false, sent, got);
        }
        seen
    })
}

/// One connection of [`tiny_messages`]: (all well, sent, received).
fn tiny_peer(c: usize, w: &mut TcpStream) -> (bool, u64, u64) {
    let line = move |i: usize| [b'a' + ((i + c) % 26) as u8, b'\n'];
    let mut r = w.try_clone().unwrap();
    let unread = Arc::new(AtomicU64::new(0));
    let reader = {
        let unread = Arc::clone(&unread);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let (mut got, mut same) = (0usize, true);
            while got < 2 * TINY_PER_CONN {
                let n = match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for (k, &b) in buf[..n].iter().enumerate() {
                    same &= b == line((got + k) / 2)[(got + k) % 2];
                }
                got += n;
                unread.fetch_sub(n as u64, Ordering::SeqCst);
            }
            let closed = read_until_closed(&mut r);
            (same && closed && got == 2 * TINY_PER_CONN, got as u64)
        })
    };
    let mut seed = 0x2545_f491_u32.wrapping_add(c as u32);
    let mut i = 0;
    let mut batch = Vec::with_capacity(128);
    while i < TINY_PER_CONN {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let k = (1 + (seed >> 16) as usize % 64).min(TINY_PER_CONN - i);
        batch.clear();
        (i..i + k).for_each(|j| batch.extend_from_slice(&line(j)));
        while unread.load(Ordering::SeqCst) + batch.len() as u64 > 64 * 1024 {
            std::thread::yield_now();
        }
        unread.fetch_add(batch.len() as u64, Ordering::SeqCst);
        if w.write_all(&batch).is_err() {
            break;
        }
        i += k;
    }
    let _ = w.shutdown(Shutdown::Write);
    let (ok, got) = reader.join().unwrap();
    (ok, 2 * i as u64, got)
}

/// A reset storm: `STORM` connections, each proven held (its line
/// echoed), then all closed with `SO_LINGER` 0 at once.
fn reset_storm() -> Seen {
    let mut seen = Seen::default();
    // One at a time, each echoed before the next connect: a burst would
    // overflow the tiny backlog and wait for a SYN retry.
    let conns: Vec<TcpStream> = (0..STORM)
        .map(|_| {
            let mut s = connect(addr());
            assert!(exchange(&mut s, b"r\n").unwrap());
            seen.add(false, 2, 2);
            s
        })
        .collect();
    for s in &conns {
        c1m_sys::socket::set_linger_zero(s).unwrap();
    }
    drop(conns);
    seen
}

/// The variable that makes this test binary a peer process (see
/// [`peer_process`]): `ADDR COUNT`.
const PEER_ENV: &str = "C1M_TEST_HOSTILE_PEER";

/// A peer process, SIGKILLed with its echoes unread: it connects COUNT
/// times, sends a line on each and waits until its echo is in the receive
/// queue (a peek), says so, and waits to be killed. The kernel then closes
/// sockets holding unread data with a reset.
#[test]
fn peer_process() {
    let Ok(spec) = std::env::var(PEER_ENV) else {
        return;
    };
    let (to, n) = spec.split_once(' ').unwrap();
    let to: SocketAddr = to.parse().unwrap();
    let mut one = [0u8; 1];
    let _conns: Vec<TcpStream> = (0..n.parse().unwrap())
        .map(|_| {
            let mut s = connect(to);
            s.write_all(b"k\n").unwrap();
            assert_eq!(s.peek(&mut one).unwrap(), 1);
            s
        })
        .collect();
    let mut out = std::io::stdout();
    writeln!(out, "\nready").unwrap();
    out.flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// Starts a peer process with `n` connections and SIGKILLs it once their
/// echoes wait unread.
fn killed_peers(n: usize) -> Seen {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hostile::peer_process", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(PEER_ENV, format!("{LISTEN} {n}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        let read = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(read > 0, "the peer process ended before it was ready");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    Seen {
        closed_seen: 0,
        sent: 2 * n as u64,
        received: 2 * n as u64,
    }
}

/// A SYN flood far beyond the backlog: the server workers are stopped
/// (SIGSTOP), so nothing drains their accept queues, while `FLOOD`
/// nonblocking connects go out. The kernel queues `BACKLOG + 1` per
/// listener and drops every other SYN; the clients give up on those (the
/// sockets still connecting are closed, as a flooder does); the workers
/// resume and take the queued ones, which send a line, get its echo, say
/// nothing more and must be closed as idle. Returns the flood's thread,
/// how many got in, and the listen overflows the kernel counted
/// (`/proc/net/netstat`).
fn syn_flood(workers: &[u32]) -> (JoinHandle<Seen>, usize, u64) {
    let overflows = || truth::netstat("TcpExt", "ListenOverflows");
    let before = overflows();
    for &w in workers {
        c1m_kill(w, "STOP");
    }
    let deadline = Instant::now() + LONG;
    while !workers.iter().all(|&w| stopped(w)) {
        assert!(Instant::now() < deadline, "workers not stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    let socks: Vec<TcpStream> = (0..FLOOD)
        .map(|_| {
            let fd = c1m_sys::socket::tcp(addr().ip()).unwrap();
            c1m_sys::socket::connect(&fd, addr()).unwrap();
            TcpStream::from(fd)
        })
        .collect();
    // On loopback a handshake the listener takes ends within connect():
    // connected now is queued now; the rest had their SYN dropped.
    let (queued, dropped): (Vec<TcpStream>, Vec<TcpStream>) =
        socks.into_iter().partition(|s| s.peer_addr().is_ok());
    drop(dropped);
    let overflowed = overflows() - before;
    for &w in workers {
        c1m_kill(w, "CONT");
    }
    let got_in = queued.len();
    (
        std::thread::spawn(move || flood_peers(queued)),
        got_in,
        overflowed,
    )
}

/// Where one flood connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flood {
    /// Its line sent; this many bytes of the echo back.
    Echo(usize),
    /// Echoed; waiting, silent, to be closed.
    Idle,
    /// The server closed it: seen as a reset or an end of stream (true),
    /// or as something else (false).
    Closed(bool),
}

/// Drives the flood's connections, each on its own: it sends a line,
/// reads the echo, then waits to be closed.
fn flood_peers(socks: Vec<TcpStream>) -> Seen {
    use c1m_sys::poll::{self, Poller};
    let mut poller = Poller::new(1024).unwrap();
    for (i, s) in socks.iter().enumerate() {
        s.set_nonblocking(true).unwrap();
        assert_eq!((&*s).write(b"f\n").unwrap(), 2);
        poller.add(s, i as u64, poll::HELD).unwrap();
    }
    let mut state = vec![Flood::Echo(0); socks.len()];
    let deadline = Instant::now() + LONG;
    let mut ready: Vec<u64> = (0..socks.len() as u64).collect();
    while state.iter().any(|s| !matches!(s, Flood::Closed(_))) {
        assert!(Instant::now() < deadline, "flood connections: {state:?}");
        for &t in &ready {
            let i = t as usize;
            let mut s = &socks[i];
            let mut buf = [0u8; 64];
            loop {
                state[i] = match state[i] {
                    Flood::Echo(got) => match s.read(&mut buf[..2 - got]) {
                        Ok(n) if n > 0 && got + n == 2 => Flood::Idle,
                        Ok(n) if n > 0 => Flood::Echo(got + n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        other => panic!("a flood connection's echo: {other:?}"),
                    },
                    Flood::Idle => match s.read(&mut buf) {
                        Ok(0) => Flood::Closed(true),
                        Ok(_) => Flood::Closed(false),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => Flood::Closed(is_close(&e)),
                    },
                    Flood::Closed(_) => break,
                };
            }
        }
        ready.clear();
        ready.extend(
            poller
                .wait(Duration::from_millis(100))
                .unwrap()
                .map(|e| e.token),
        );
    }
    let n = socks.len() as u64;
    Seen {
        closed_seen: state.iter().filter(|&&s| s == Flood::Closed(true)).count() as u64,
        sent: 2 * n,
        received: 2 * n,
    }
}

/// The metrics endpoint's hostile clients, each on its own thread; the
/// status lines they got.
fn metrics_abuse() -> Vec<JoinHandle<Vec<String>>> {
    let status = |a: &str| a.lines().next().unwrap_or("").to_string();
    let to = metrics_addr();
    let slowly = move |request: Vec<u8>, step: usize, pause_ms: u64| {
        std::thread::spawn(move || {
            let answer = http_slowly(to, &request, step, Duration::from_millis(pause_ms));
            vec![status(&answer)]
        })
    };
    let mut endless = b"GET /metrics HTTP/1.1\r\nX-Slow: ".to_vec();
    endless.resize(4000, b'a');
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(1 << 20, b'b');
    vec![
        // Slow but whole: a byte per 100 ms, done within the deadline.
        slowly(b"GET /metrics HTTP/1.0\r\n\r\n".to_vec(), 1, 100),
        // Slowloris: a byte per 100 ms of a header that never ends.
        slowly(endless, 1, 100),
        // A megabyte of header, at once.
        slowly(big, usize::MAX, 0),
        // A crowd: every connection opened and its request sent before
        // any answer is read.
        std::thread::spawn(move || {
            let crowd: Vec<TcpStream> = (0..METRICS_CROWD)
                .map(|_| {
                    let mut s = connect(to);
                    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
                    s
                })
                .collect();
            crowd
                .into_iter()
                .map(|mut s| {
                    let mut a = Vec::new();
                    let _ = s.read_to_end(&mut a);
                    status(&String::from_utf8_lossy(&a))
                })
                .collect()
        }),
    ]
}

/// The value of one series in a scrape; `u64::MAX` when absent.
fn series(text: &str, name: &str) -> u64 {
    sample(text, name).unwrap_or(u64::MAX)
}

fn dropped_series(rule: &str) -> String {
    format!("c1m_connections_dropped_total{{role=\"server\",rule=\"{rule}\"}}")
}

#[test]
fn hostile_peers_are_closed_by_their_rules_and_the_rest_is_served() {
    let _g = heavy();
    let started = Instant::now();
    c1m_sys::limits::set_nofile_soft(8192).unwrap();
    let (mut serve, report) = spawn_with_report(
        "hostile",
        &[
            "serve",
            "--listen",
            LISTEN,
            // serve plans each worker 85% full of its descriptors
            // (SO_REUSEPORT's slack): this many makes WORKERS.
            "--max-conns",
            &(WORKERS as u64 * WORKER_CONNS * 85 / 100).to_string(),
            "--worker-conns",
            &WORKER_CONNS.to_string(),
            "--backlog",
            &BACKLOG.to_string(),
            "--max-message",
            &MAX_MESSAGE.to_string(),
            "--max-unsent",
            &MAX_UNSENT.to_string(),
            "--idle-timeout",
            &format!("{IDLE_S}s"),
            "--metrics",
            METRICS,
        ],
    );
    serve.wait_line(" hold ", Duration::from_secs(30));
    let workers = children(serve.pid());
    assert_eq!(workers.len(), WORKERS, "{workers:?}");
    let rss_start: Vec<u64> = workers.iter().map(|&p| vm_rss(p)).collect();
    let slots: Vec<u64> = workers.iter().map(|&p| nofile_soft(p)).collect();
    let rss = RssWatch::start(workers.clone());
    let good = Good::start(addr(), GOOD);
    good.wait_past(0, 2 * GOOD as u64, "at the start");

    // Resets: a storm of SO_LINGER 0 closes, then a peer process killed
    // with its echoes unread.
    let storm = reset_storm();
    let killed = killed_peers(KILLED);

    // The misbehaving and the tiny messages, connected one at a time,
    // each but the silent proven held by a first line echoed, and all in
    // the server's table before they start.
    let kinds = [NEVER_READS, ENDLESS_LINE, SLOWLORIS, TINY_CONNS, SILENT];
    let mut hello = 0u64;
    let mut conns: Vec<Vec<TcpStream>> = kinds
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            (0..n)
                .map(|_| {
                    let mut s = connect(addr());
                    if k + 1 < kinds.len() {
                        assert!(exchange(&mut s, b"hello\n").unwrap());
                        hello += 6;
                    }
                    s
                })
                .collect()
        })
        .collect();
    let expected = (GOOD + kinds.iter().sum::<usize>()) as u64;
    let held = truth::poll_until(expected, LONG, || {
        truth::server_established(&workers, addr())
    });
    assert_eq!(held, expected, "{}", truth::describe(addr(), &workers));
    let quiet = silent(conns.pop().unwrap());
    let tiny = tiny_messages(conns.pop().unwrap());
    let slow = slowloris(conns.pop().unwrap());
    let endless = endless_lines(conns.pop().unwrap());
    let never = never_reads(conns.pop().unwrap());
    let abuse = metrics_abuse();
    let (flood, flooded_in, overflows) = syn_flood(&workers);
    let over = (FLOOD - flooded_in) as u64;
    assert!(
        flooded_in <= WORKERS * (BACKLOG + 1) && overflows >= over,
        "{flooded_in} of the flood got in; the kernel counted {overflows} overflows"
    );

    // While the endpoint is abused, it answers a plain scrape, the server
    // takes a new connection and echoes it, and the well-behaved go on.
    let before = good.count();
    let text = scrape(metrics_addr());
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let mut fresh = connect(addr());
    assert!(exchange(&mut fresh, b"fresh\n").unwrap());
    fresh.shutdown(Shutdown::Write).unwrap();
    assert!(read_until_closed(&mut fresh));
    good.wait_past(before, 2 * GOOD as u64, "while the endpoint was abused");

    let never = never.join().unwrap();
    let endless = endless.join().unwrap();
    let slow = slow.join().unwrap();
    let quiet = quiet.join().unwrap();
    let tiny = tiny.join().unwrap();
    let flood = flood.join().unwrap();
    let statuses: Vec<Vec<String>> = abuse.into_iter().map(|t| t.join().unwrap()).collect();

    // Each misbehaving peer saw its close.
    for (kind, seen, n) in [
        ("never reads", &never, NEVER_READS),
        ("endless line", &endless, ENDLESS_LINE),
        ("slowloris", &slow, SLOWLORIS),
        ("silent", &quiet, SILENT),
        ("SYN flood, then idle", &flood, flooded_in),
    ] {
        assert_eq!(seen.closed_seen, n as u64, "{kind}: {seen:?}");
    }
    // The endpoint: slow but whole is answered; a request never whole is
    // timed out; a megabyte of header refused; the crowd all answered.
    assert_eq!(statuses[0], ["HTTP/1.1 200 OK"]);
    assert_eq!(statuses[1], ["HTTP/1.1 408 Request Timeout"]);
    assert_eq!(
        statuses[2],
        ["HTTP/1.1 431 Request Header Fields Too Large"]
    );
    assert_eq!(statuses[3].len(), METRICS_CROWD);
    assert!(
        statuses[3].iter().all(|s| s == "HTTP/1.1 200 OK"),
        "{:?}",
        statuses[3]
    );

    // The well-behaved close with a FIN; the server then holds nothing.
    let (good_bytes, wrong) = good.finish();
    assert!(wrong.is_empty(), "well-behaved peers: {wrong:?}");
    let held = truth::poll_until(0, LONG, || truth::server_established(&workers, addr()));
    assert_eq!(held, 0, "{}", truth::describe(addr(), &workers));
    let rss_most = rss.most();

    // What the server closed, and why, as the test counted it.
    let idle = (SLOWLORIS + SILENT + flooded_in) as u64;
    let want = [
        ("max-message", ENDLESS_LINE as u64),
        ("idle-timeout", idle),
        ("max-unsent", NEVER_READS as u64),
    ];
    let resets = (STORM + KILLED) as u64;
    let fins = (GOOD + TINY_CONNS + 1) as u64;
    let peer_closed = "c1m_connections_closed_by_peer_total{role=\"server\"}";
    let deadline = Instant::now() + LONG;
    let scraped = loop {
        let text = scrape(metrics_addr());
        let done = want
            .iter()
            .all(|&(rule, n)| series(&text, &dropped_series(rule)) == n)
            && series(&text, peer_closed) == resets + fins;
        if done || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (rule, n) in want {
        assert_eq!(series(&scraped, &dropped_series(rule)), n, "{scraped}");
    }
    assert_eq!(series(&scraped, peer_closed), resets + fins, "{scraped}");

    let (code, stdout, err) = serve.interrupt(LONG);
    assert_eq!(code, Some(130), "{stdout}\n{}", err.join("\n"));
    let r = read_json(&report);
    let s = &r["servers"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("servers.{k}: {s}"));
    let drops = &s["drops"];
    assert_eq!(drops["oversized"], ENDLESS_LINE as u64, "{s}");
    assert_eq!(drops["idle"], idle, "{s}");
    assert_eq!(drops["unread"], NEVER_READS as u64, "{s}");
    let dropped = ENDLESS_LINE as u64 + idle + NEVER_READS as u64;
    assert_eq!(n("dropped"), dropped, "{s}");
    assert_eq!(n("closed_rst"), resets, "{s}");
    assert_eq!(n("closed_fin") + n("closed_fin_data"), fins, "{s}");
    assert_eq!(n("rejected"), 0, "{s}");
    let opened = (GOOD + kinds.iter().sum::<usize>() + flooded_in + STORM + KILLED + 1) as u64;
    assert_eq!(n("opened"), opened, "{s}");
    // Echoed: at least every byte the peers got back, at most all they
    // sent.
    let seen = [
        &never, &endless, &slow, &quiet, &tiny, &flood, &storm, &killed,
    ];
    let both = good_bytes + hello + 6;
    let got: u64 = both + seen.iter().map(|k| k.received).sum::<u64>();
    let sent: u64 = both + seen.iter().map(|k| k.sent).sum::<u64>();
    assert!(
        (got..=sent).contains(&n("sent")),
        "echoed {} not within [{got}, {sent}]",
        n("sent")
    );
    // The summary says the same.
    let row = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(key))
            .map(str::trim_start)
            .unwrap_or_else(|| panic!("no {key:?} row in\n{stdout}"))
    };
    let th = c1m::plan::thousands;
    assert!(row("closed by the server").starts_with(&format!("{} misbehaving", th(dropped))));
    for (flag, count) in [
        ("--max-message", ENDLESS_LINE as u64),
        ("--idle-timeout", idle),
        ("--max-unsent", NEVER_READS as u64),
    ] {
        assert!(
            row(flag).starts_with(&format!("{}  ", th(count))),
            "{stdout}"
        );
    }
    let closes = format!(
        "{} ({} with a FIN, {} reset)",
        th(resets + fins),
        th(fins),
        th(resets)
    );
    assert!(row("closed by peers").starts_with(&closes), "{stdout}");

    // Memory: each worker's RSS stayed within what its tables can touch.
    // At the start a worker has written its descriptor table (4 B a slot)
    // and holds its 16 KiB read buffer and its epoll buffer; what may
    // still grow is the line-state and idle-time tables (4 B a slot each,
    // touched as descriptor numbers are first used), plus 1 MiB for the
    // allocator, the stack and the report lines. No byte a peer sends is
    // kept: buffering for a peer would have taken the never-readers'
    // megabytes or the million lines'.
    for (i, &w) in workers.iter().enumerate() {
        let bound = rss_start[i] + 8 * slots[i] + (1 << 20);
        eprintln!(
            "hostile: worker {w}: RSS {} KiB at the start, {} KiB at most, bound {} KiB",
            rss_start[i] >> 10,
            rss_most[i] >> 10,
            bound >> 10
        );
        assert!(
            rss_most[i] <= bound,
            "worker {w}: RSS reached {} bytes, bound {bound}",
            rss_most[i]
        );
    }
    eprintln!(
        "hostile: {GOOD} well-behaved ({good_bytes} bytes echoed), {NEVER_READS} never reading \
         ({} bytes sent), {ENDLESS_LINE} endless lines ({} bytes sent), {SLOWLORIS} slowloris, \
         {SILENT} silent, {FLOOD} SYN flood ({flooded_in} in, {overflows} listen overflows), \
         {STORM} reset storm, {KILLED} killed, {TINY_CONNS} × {TINY_PER_CONN} tiny lines; \
         metrics: 1 slow, 1 slowloris, 1 × 1 MiB, {METRICS_CROWD} at once; closed by rule: \
         {ENDLESS_LINE} max-message, {idle} idle-timeout, {NEVER_READS} max-unsent; \
         by peers: {resets} reset, {fins} FIN; {} s",
        never.sent,
        endless.sent,
        started.elapsed().as_secs()
    );
}

/// A peer reading late loses nothing: with `--max-unsent` above what
/// the kernel's buffers hold, a peer writes 16 MiB of lines before
/// reading any echo, more than the server's send buffer and the peer's
/// receive window can take, so the server must stop reading it (its side
/// of the connection fills with unread bytes, `/proc/net/tcp`), or lose
/// or buffer bytes; once the peer reads, every byte comes back in order,
/// nothing was closed, and the worker's RSS did not grow with them.
#[test]
fn a_peer_reading_late_gets_every_byte_back() {
    const LISTEN: &str = "127.0.0.1:8982";
    const LINES: usize = 1 << 20; // 16 bytes each: 16 MiB
    let to: SocketAddr = LISTEN.parse().unwrap();
    let (mut serve, report) = spawn_with_report(
        "hostile-late-reader",
        &[
            "serve",
            "--listen",
            LISTEN,
            "--max-conns",
            "10",
            "--max-unsent",
            &(64u64 << 20).to_string(),
        ],
    );
    serve.wait_line(" hold ", Duration::from_secs(30));
    let worker = children(serve.pid())[0];
    let rss_start = vm_rss(worker);
    let rss = RssWatch::start(vec![worker]);
    let line = |i: usize| format!("{i:015}\n").into_bytes();
    let mut w = connect(to);
    let mut r = w.try_clone().unwrap();
    let me = w.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        for chunk in (0..LINES).collect::<Vec<_>>().chunks(4096) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|&i| line(i)).collect();
            w.write_all(&bytes).unwrap();
        }
        w
    });
    // The server stops reading: its side of the connection holds unread
    // bytes, and keeps them.
    let server_unread = || {
        truth::tcp_table()
            .iter()
            .find(|row| row.local == to && row.remote == me)
            .map_or(0, |row| row.rx_queue)
    };
    let deadline = Instant::now() + LONG;
    while server_unread() < 64 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the server never stopped reading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut next = Vec::new();
    let (mut i, mut wrong) = (0usize, 0usize);
    while i < LINES {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {i} lines");
        next.extend_from_slice(&buf[..n]);
        let whole = next.len() / 16 * 16;
        for l in next[..whole].chunks(16) {
            wrong += usize::from(l != line(i).as_slice());
            i += 1;
        }
        next.drain(..whole);
    }
    assert_eq!(wrong, 0, "echoed lines out of order or changed");
    let w = writer.join().unwrap();
    w.shutdown(Shutdown::Write).unwrap();
    assert!(read_until_closed(&mut r));
    let rss_most = rss.most()[0];
    let (code, out, _) = serve.interrupt(LONG);
    assert_eq!(code, Some(130), "{out}");
    let s = &read_json(&report)["servers"];
    assert_eq!(s["dropped"], 0, "{s}");
    assert_eq!(s["sent"], 16 * LINES as u64, "{s}");
    assert_eq!(s["closed_fin"], 1, "{s}");
    assert!(
        rss_most <= rss_start + (1 << 20),
        "RSS {rss_start} at the start, {rss_most} at most"
    );
}
