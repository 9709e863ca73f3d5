//! epoll: one readiness queue per worker. See epoll(7).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustix::io::Errno;

pub use rustix::event::epoll::EventFlags as Interest;

/// What a held connection waits for, edge-triggered: readable or peer
/// hung up.
pub const HELD: Interest = Interest::IN.union(Interest::RDHUP).union(Interest::ET);

/// What a connecting socket waits for: [`HELD`] plus writable, which fires
/// once when the handshake ends. One registration serves the whole life of
/// a client connection, so no `epoll_ctl(MOD)` is ever needed.
pub const CONNECTING: Interest = HELD.union(Interest::OUT);

/// Readable, level-triggered: listeners, pipes.
pub const READ: Interest = Interest::IN;

/// One readiness event: the token given at registration and what happened.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub token: u64,
    pub flags: Interest,
}

impl Event {
    /// The peer closed, reset, or the socket failed.
    pub fn is_hangup(&self) -> bool {
        self.flags
            .intersects(Interest::HUP | Interest::RDHUP | Interest::ERR)
    }
    /// The socket has a pending error (a failed connect, a reset).
    pub fn is_error(&self) -> bool {
        self.flags.intersects(Interest::ERR | Interest::HUP)
    }
    /// Writable (a nonblocking connect has finished, one way or another).
    pub fn is_writable(&self) -> bool {
        self.flags.contains(Interest::OUT)
    }
    /// Readable.
    pub fn is_readable(&self) -> bool {
        self.flags.contains(Interest::IN)
    }
}

/// An epoll instance and its event buffer.
pub struct Poller {
    epoll: OwnedFd,
    buf: Vec<epoll::Event>,
}

impl Poller {
    /// Creates an epoll instance (close-on-exec) that returns at most
    /// `capacity` events per wait.
    pub fn new(capacity: usize) -> Result<Self, Errno> {
        Ok(Self {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            buf: Vec::with_capacity(capacity.max(1)),
        })
    }

    /// Registers `fd` under `token`.
    pub fn add(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<(), Errno> {
        epoll::add(&self.epoll, fd, epoll::EventData::new_u64(token), interest)
    }

    /// Removes `fd` (closing it removes it too).
    pub fn delete(&self, fd: impl AsFd) -> Result<(), Errno> {
        epoll::delete(&self.epoll, fd)
    }

    /// Waits up to `timeout` and returns the events that came; an
    /// interrupted wait (a signal) returns none.
    pub fn wait(&mut self, timeout: Duration) -> Result<impl Iterator<Item = Event> + '_, Errno> {
        self.buf.clear();
        let ts = Timespec {
            tv_sec: timeout.as_secs() as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        match epoll::wait(&self.epoll, spare_capacity(&mut self.buf), Some(&ts)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
        Ok(self.buf.iter().map(|e| Event {
            token: e.data.u64(),
            flags: e.flags,
        }))
    }
}

/// Makes `fd` nonblocking, for reading a child's pipe through epoll.
pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd();
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Reads what is there on any descriptor (socket or pipe) into `buf`;
/// `Ok(0)` is end of stream, `Err(AGAIN)` means nothing more for now.
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    rustix::io::read(fd, buf)
}
