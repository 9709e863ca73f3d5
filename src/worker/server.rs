//! The server worker: listen, accept, hold, notice peers leaving, and
//! (echo) send back what peers send.
//!
//! Per connection it keeps one slot of a flat table indexed by descriptor
//! number (the `OwnedFd` itself, 4 bytes), plus 4 bytes of last activity
//! when an idle timeout is set; the kernel keeps the rest. What a peer
//! sends is read into one fixed buffer per worker: no peer can grow our
//! memory, and one that sends too much at once, or stops reading its
//! echoes, is closed.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use c1m_sys::Errno;
use c1m_sys::poll::{self, Poller};
use c1m_sys::socket;

use super::{Command, Link, TOKEN_CMD, TOKEN_LISTENER, TOKEN_SIGNAL, set_fd_limit};
use crate::cause::Cause;
use crate::wire::{CloseMode, FromWorker, ServerSpec, Stats};

/// Accepts taken from one listener before looking at other events.
const ACCEPT_BATCH: usize = 256;
/// How long to stop accepting after EMFILE/ENFILE/ENOMEM.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);
/// How often idle connections are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(1);

struct Server {
    poller: Poller,
    listeners: Vec<OwnedFd>,
    /// Indexed by descriptor number.
    conns: Vec<Option<OwnedFd>>,
    /// Seconds since start of each connection's last activity; empty
    /// without an idle timeout.
    active_s: Vec<u32>,
    cap: u64,
    close: CloseMode,
    echo: bool,
    max_message: u64,
    idle_timeout: Option<Duration>,
    stats: Stats,
    paused_until: Option<Duration>,
    buf: Box<[u8; 16 * 1024]>,
}

/// Runs a server worker until told to close.
pub fn run(spec: &ServerSpec) -> anyhow::Result<()> {
    let ServerSpec {
        listeners,
        reuse_port,
        backlog,
        cap,
        fd_limit,
        close,
        echo,
        accept,
        max_message,
        idle_timeout_ms,
        netns: _,
    } = spec;
    let fd_limit = set_fd_limit(*fd_limit)?;
    let poller = Poller::new(1024)?;
    let mut link = Link::new(&poller)?;
    let mut fds = Vec::with_capacity(listeners.len());
    for (i, addr) in listeners.iter().enumerate() {
        let fd =
            socket::listen(*addr, *backlog, *reuse_port).map_err(|e| listen_error(*addr, e))?;
        if *accept {
            poller.add(&fd, TOKEN_LISTENER + i as u64, poll::READ)?;
        }
        fds.push(fd);
    }
    let mut conns = Vec::new();
    conns.resize_with(fd_limit as usize, || None);
    let idle_timeout = idle_timeout_ms.map(Duration::from_millis);
    let mut s = Server {
        poller,
        listeners: fds,
        conns,
        active_s: if idle_timeout.is_some() {
            vec![0; fd_limit as usize]
        } else {
            Vec::new()
        },
        cap: *cap,
        close: *close,
        echo: *echo,
        max_message: *max_message,
        idle_timeout,
        stats: Stats {
            planned: *cap,
            ..Stats::default()
        },
        paused_until: None,
        buf: Box::new([0; 16 * 1024]),
    };
    link.send(&FromWorker::Ready { fd_limit });
    let mut events = Vec::with_capacity(1024);
    let mut last_sweep = Duration::ZERO;
    let mut report_due = None;
    loop {
        let now = link.now();
        if s.paused_until.is_some_and(|t| now >= t) {
            s.resume()?;
        }
        if let Some(limit) = s.idle_timeout
            && now.saturating_sub(last_sweep) >= IDLE_SWEEP
        {
            last_sweep = now;
            s.close_idle(now, limit);
        }
        let mut wake_cmd = false;
        events.clear();
        let mut wait = report_due.unwrap_or(super::IDLE_WAIT);
        if let Some(t) = s.paused_until {
            wait = wait.min(t.saturating_sub(now));
        }
        if s.idle_timeout.is_some() {
            wait = wait.min(IDLE_SWEEP);
        }
        for ev in s.poller.wait(wait)? {
            match ev.token {
                TOKEN_CMD | TOKEN_SIGNAL => wake_cmd = true,
                t => events.push((t, ev.is_hangup())),
            }
        }
        let now = link.now();
        for &(token, hangup) in &events {
            if token >= TOKEN_LISTENER {
                s.accept_from((token - TOKEN_LISTENER) as usize, now);
            } else {
                s.on_conn(token as usize, hangup, now);
            }
        }
        if wake_cmd {
            let cmds = link.take_commands();
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Count) {
                let own = super::count_own(s.conns.iter().flatten());
                link.send(&FromWorker::Count(own));
            }
            if cmds.contains(&Command::Close) {
                s.close_all();
                link.send(&FromWorker::Closed(s.stats));
                super::exit_closing_all();
            }
        }
        report_due = link.report(&s.stats);
    }
}

fn listen_error(addr: SocketAddr, e: Errno) -> anyhow::Error {
    let why = match e {
        Errno::ADDRINUSE => {
            "the address is in use (another server, or an outgoing connection's ephemeral port: reserve it with net.ipv4.ip_local_reserved_ports)"
        }
        Errno::ADDRNOTAVAIL => "no local interface has that address",
        Errno::ACCESS => "ports below 1024 need CAP_NET_BIND_SERVICE",
        _ => "",
    };
    anyhow::anyhow!("cannot listen on {addr}: {e} {why}")
}

/// What became of a connection after reading from it.
enum After {
    Open,
    /// The peer closed (true: with a FIN; false: reset or failed).
    PeerGone {
        fin: bool,
    },
    /// We close it: it misbehaved.
    Drop,
}

impl Server {
    fn on_conn(&mut self, fd: usize, hangup: bool, now: Duration) {
        let after = self.serve(fd, hangup);
        match after {
            After::Open => {
                if let Some(t) = self.active_s.get_mut(fd) {
                    *t = now.as_secs() as u32;
                }
            }
            After::PeerGone { fin } => {
                if self.forget(fd) {
                    if fin {
                        self.stats.closed_fin += 1;
                    } else {
                        self.stats.closed_rst += 1;
                    }
                }
            }
            After::Drop => self.drop_conn(fd),
        }
    }

    /// Reads what a peer sent (and echoes it); the fixed buffer bounds
    /// every read whatever the peer does. After a hang-up it reads on to
    /// the end, to tell a FIN from a reset.
    fn serve(&mut self, fd: usize, hangup: bool) -> After {
        let Some(conn) = self.conns.get(fd).and_then(Option::as_ref) else {
            return After::Open;
        };
        let mut burst = 0u64;
        loop {
            match poll::read(conn, &mut self.buf[..]) {
                Ok(0) => return After::PeerGone { fin: true },
                Ok(n) => {
                    burst += n as u64;
                    if burst > self.max_message {
                        return After::Drop;
                    }
                    if self.echo {
                        match socket::send(conn, &self.buf[..n]) {
                            Ok(m) if m == n => self.stats.sent += n as u64,
                            // Its echoes pile up unread: a peer that does
                            // not read would make us buffer for it.
                            Ok(_) | Err(Errno::AGAIN) => return After::Drop,
                            Err(_) => return After::PeerGone { fin: false },
                        }
                    }
                    if n < self.buf.len() && !hangup {
                        return After::Open;
                    }
                }
                Err(Errno::AGAIN) if !hangup => return After::Open,
                Err(Errno::INTR) => continue,
                Err(_) => return After::PeerGone { fin: false },
            }
        }
    }

    /// Closes a held connection; false if there was none.
    fn forget(&mut self, fd: usize) -> bool {
        match self.conns.get_mut(fd).and_then(Option::take) {
            Some(_) => {
                self.stats.established -= 1;
                true
            }
            None => false,
        }
    }

    fn close_idle(&mut self, now: Duration, limit: Duration) {
        let cutoff = now.saturating_sub(limit).as_secs() as u32;
        for fd in 0..self.active_s.len() {
            if self.conns[fd].is_some() && self.active_s[fd] < cutoff {
                self.drop_conn(fd);
            }
        }
    }

    /// Closes a misbehaving connection with a reset.
    fn drop_conn(&mut self, fd: usize) {
        if let Some(conn) = self.conns.get(fd).and_then(Option::as_ref) {
            let _ = socket::set_linger_zero(conn);
        }
        if self.forget(fd) {
            self.stats.dropped += 1;
        }
    }

    fn accept_from(&mut self, i: usize, now: Duration) {
        if self.paused_until.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            match socket::accept(&self.listeners[i]) {
                Ok(Some(fd)) => self.hold(fd, now),
                Ok(None) => return,
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(e) => {
                    self.stats.failed.add(Cause::of(e));
                    if matches!(
                        e,
                        Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM
                    ) {
                        self.pause(now);
                    }
                    return;
                }
            }
        }
    }

    fn hold(&mut self, fd: OwnedFd, now: Duration) {
        self.stats.attempted += 1;
        let n = socket::number(&fd) as usize;
        if self.stats.established >= self.cap || n >= self.conns.len() {
            let _ = socket::set_linger_zero(&fd);
            self.stats.rejected += 1;
            return;
        }
        if let Err(e) = self.poller.add(&fd, n as u64, poll::HELD) {
            self.stats.failed.add(Cause::of(e));
            return;
        }
        if let Some(t) = self.active_s.get_mut(n) {
            *t = now.as_secs() as u32;
        }
        self.conns[n] = Some(fd);
        self.stats.established += 1;
        self.stats.opened += 1;
    }

    /// Stops accepting for a moment: a listener stays readable while a
    /// connection waits, so accepting on EMFILE would spin.
    fn pause(&mut self, now: Duration) {
        for l in &self.listeners {
            let _ = self.poller.delete(l);
        }
        self.paused_until = Some(now + ACCEPT_PAUSE);
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.paused_until = None;
        for (i, l) in self.listeners.iter().enumerate() {
            self.poller.add(l, TOKEN_LISTENER + i as u64, poll::READ)?;
        }
        Ok(())
    }

    /// Closes the listeners (new connections are refused from here on)
    /// and arms every connection's close as `--close` asks; they close
    /// when the worker exits ([`super::exit_closing_all`]).
    fn close_all(&mut self) {
        self.listeners.clear();
        for fd in self.conns.iter().flatten() {
            if self.close == CloseMode::Rst {
                let _ = socket::set_linger_zero(fd);
            }
            self.stats.established -= 1;
        }
    }
}
