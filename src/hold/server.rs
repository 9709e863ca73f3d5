//! The server worker: listen, accept, hold, notice peers leaving.
//!
//! Per connection it keeps one slot of a flat table indexed by descriptor
//! number (the `OwnedFd` itself, 4 bytes); the kernel keeps the rest.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::bail;
use c1m_sys::Errno;
use c1m_sys::poll::{self, Poller};
use c1m_sys::socket;

use super::{Command, Link, TOKEN_CMD, TOKEN_LISTENER, TOKEN_SIGNAL, set_fd_limit};
use crate::cause::Cause;
use crate::wire::{CloseMode, FromWorker, Spec, Stats};

/// Accepts taken from one listener before looking at other events.
const ACCEPT_BATCH: usize = 256;
/// How long to stop accepting after EMFILE/ENFILE/ENOMEM.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

struct Server {
    poller: Poller,
    listeners: Vec<OwnedFd>,
    /// Indexed by descriptor number.
    conns: Vec<Option<OwnedFd>>,
    cap: u64,
    close: CloseMode,
    stats: Stats,
    paused_until: Option<Duration>,
}

/// Runs a server worker until told to close.
pub fn run(spec: &Spec) -> anyhow::Result<()> {
    let Spec::Server {
        listeners,
        reuse_port,
        backlog,
        cap,
        fd_limit,
        close,
    } = spec
    else {
        bail!("not a server spec");
    };
    let fd_limit = set_fd_limit(*fd_limit)?;
    let poller = Poller::new(1024)?;
    let mut link = Link::new(&poller)?;
    let mut fds = Vec::with_capacity(listeners.len());
    for (i, addr) in listeners.iter().enumerate() {
        let fd =
            socket::listen(*addr, *backlog, *reuse_port).map_err(|e| listen_error(*addr, e))?;
        poller.add(&fd, TOKEN_LISTENER + i as u64, poll::READ)?;
        fds.push(fd);
    }
    let mut conns = Vec::new();
    conns.resize_with(fd_limit as usize, || None);
    let mut s = Server {
        poller,
        listeners: fds,
        conns,
        cap: *cap,
        close: *close,
        stats: Stats {
            planned: *cap,
            ..Stats::default()
        },
        paused_until: None,
    };
    link.send(&FromWorker::Ready { fd_limit });
    let mut events = Vec::with_capacity(1024);
    loop {
        let now = link.now();
        if s.paused_until.is_some_and(|t| now >= t) {
            s.resume()?;
        }
        let mut wake_cmd = false;
        events.clear();
        for ev in s.poller.wait(super::REPORT_EVERY)? {
            match ev.token {
                TOKEN_CMD | TOKEN_SIGNAL => wake_cmd = true,
                t => events.push((t, ev.is_hangup())),
            }
        }
        for &(token, hangup) in &events {
            if token >= TOKEN_LISTENER {
                s.accept_from((token - TOKEN_LISTENER) as usize, link.now());
            } else {
                s.on_conn(token as usize, hangup);
            }
        }
        if wake_cmd {
            let mut cmds = link.commands();
            if link.terminated() {
                cmds.push(Command::Close);
            }
            if cmds.contains(&Command::Gone) {
                return Ok(());
            }
            if cmds.contains(&Command::Close) {
                s.close_all();
                link.send(&FromWorker::Closed(s.stats));
                return Ok(());
            }
        }
        link.report(&s.stats);
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

impl Server {
    fn on_conn(&mut self, fd: usize, hangup: bool) {
        let Some(slot) = self.conns.get_mut(fd) else {
            return;
        };
        let Some(conn) = slot.as_ref() else {
            return;
        };
        if hangup || super::drain_is_closed(conn) {
            *slot = None;
            self.stats.established -= 1;
            self.stats.peer_closed += 1;
        }
    }

    fn accept_from(&mut self, i: usize, now: Duration) {
        if self.paused_until.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            match socket::accept(&self.listeners[i]) {
                Ok(Some(fd)) => self.hold(fd),
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

    fn hold(&mut self, fd: OwnedFd) {
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

    fn close_all(&mut self) {
        self.listeners.clear();
        for slot in &mut self.conns {
            if let Some(fd) = slot.take() {
                if self.close == CloseMode::Rst {
                    let _ = socket::set_linger_zero(&fd);
                }
                self.stats.established -= 1;
            }
        }
    }
}
