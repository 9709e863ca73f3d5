//! epoll: one readiness queue per worker, and nonblocking reads of any
//! descriptor. See epoll(7), epoll_ctl(2), epoll_wait(2), read(2).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustix::io::Errno;

/// The `EPOLL*` event bits (`EPOLLIN`, `EPOLLOUT`, `EPOLLRDHUP`, `EPOLLET`,
/// …), both what a registration waits for and what an [`Event`] reports.
pub use rustix::event::epoll::EventFlags as Interest;

/// What a held connection waits for, edge-triggered: readable or peer
/// hung up.
pub const HELD: Interest = Interest::IN.union(Interest::RDHUP).union(Interest::ET);

/// What a connecting socket waits for: [`HELD`] plus writable, which fires
/// once when the handshake ends. One registration serves the whole life of
/// a client connection, so no `epoll_ctl(MOD)` is ever needed.
pub const CONNECTING: Interest = HELD.union(Interest::OUT);

/// [`HELD`] plus writable: a held connection whose echoes wait for room
/// in its send queue.
pub const HELD_WRITING: Interest = HELD.union(Interest::OUT);

/// Readable, level-triggered: listeners, pipes.
pub const READ: Interest = Interest::IN;

/// One readiness event: the token given at registration and what happened.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// The `token` passed to [`Poller::add`] for the descriptor
    /// (`epoll_data.u64`): a connection's slot, or a fixed token for a
    /// listener, a pipe or the signal pipe.
    pub token: u64,
    /// The `EPOLL*` bits the kernel reported; the `is_*` methods read them.
    pub flags: Interest,
}

impl Event {
    /// The peer closed its side (`EPOLLRDHUP`: a FIN), both sides are
    /// closed or reset (`EPOLLHUP`), or the socket has a pending error
    /// (`EPOLLERR`). Unread data may still be queued: read to `Ok(0)`.
    pub fn is_hangup(&self) -> bool {
        self.flags
            .intersects(Interest::HUP | Interest::RDHUP | Interest::ERR)
    }
    /// The socket has a pending error (`EPOLLERR`: a failed connect, a
    /// reset) or is closed both ways (`EPOLLHUP`); `SO_ERROR` says which
    /// error ([`crate::socket::take_error`]).
    pub fn is_error(&self) -> bool {
        self.flags.intersects(Interest::ERR | Interest::HUP)
    }
    /// Writable (`EPOLLOUT`): a nonblocking connect has finished, one way
    /// or another, or send buffer space freed up.
    pub fn is_writable(&self) -> bool {
        self.flags.contains(Interest::OUT)
    }
    /// Readable (`EPOLLIN`): data, a pending connection on a listener, or
    /// end of stream.
    pub fn is_readable(&self) -> bool {
        self.flags.contains(Interest::IN)
    }
}

/// An epoll instance and its event buffer, allocated once.
pub struct Poller {
    epoll: OwnedFd,
    buf: Vec<epoll::Event>,
}

impl Poller {
    /// Creates an epoll instance (close-on-exec) that returns at most
    /// `capacity` events per wait (at least 1).
    ///
    /// Errors: `EMFILE`/`ENFILE` (descriptor limits), `ENOMEM`.
    pub fn new(capacity: usize) -> Result<Self, Errno> {
        // Every page of the buffer written now: the kernel would fault
        // them in the first time a wait returns that many events (after a
        // stall, hours into a hold), seen as RSS creeping.
        let blank = epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(u64::MAX),
        };
        let mut buf = vec![blank; capacity.max(1)];
        buf.clear();
        Ok(Self {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            buf,
        })
    }

    /// Registers `fd` under `token` for `interest` (`EPOLL_CTL_ADD`);
    /// events for it carry `token`.
    ///
    /// Errors: `EEXIST` if `fd` is registered already; `ENOSPC` past
    /// `/proc/sys/fs/epoll/max_user_watches`; `EPERM` for a regular file.
    pub fn add(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<(), Errno> {
        epoll::add(&self.epoll, fd, epoll::EventData::new_u64(token), interest)
    }

    /// Changes what `fd`, registered already, waits for and its token
    /// (`EPOLL_CTL_MOD`). With `EPOLLET`, an event comes at once if `fd` is
    /// ready for the new interest.
    ///
    /// Errors: `ENOENT` if `fd` is not registered.
    pub fn modify(&self, fd: impl AsFd, token: u64, interest: Interest) -> Result<(), Errno> {
        epoll::modify(&self.epoll, fd, epoll::EventData::new_u64(token), interest)
    }

    /// Removes `fd` (`EPOLL_CTL_DEL`). Closing the last descriptor of a
    /// file removes it too, so held connections are never removed by hand.
    ///
    /// Errors: `ENOENT` if `fd` is not registered.
    pub fn delete(&self, fd: impl AsFd) -> Result<(), Errno> {
        epoll::delete(&self.epoll, fd)
    }

    /// Waits up to `timeout` and returns the events that came, at most the
    /// capacity; an interrupted wait (a signal arrived: `EINTR`) returns
    /// none. The timeout is kept to the nanosecond on Linux 5.11+
    /// (`epoll_pwait2`), in milliseconds before.
    ///
    /// Errors: those of epoll_wait(2) other than `EINTR`; before Linux
    /// 5.11, `EINVAL` for a timeout beyond `i32::MAX` ms (~24.8 days).
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

/// Makes `fd` nonblocking (`O_NONBLOCK` through fcntl(2)), for reading a
/// child's pipe or stdin through epoll. The flag belongs to the open file,
/// so every descriptor sharing it (a duplicated stdin) turns nonblocking.
///
/// Errors: `EBADF` only, which a borrowed descriptor cannot be.
pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd();
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Reads what is there on any descriptor (socket or pipe) into `buf` and
/// returns how many bytes came; `Ok(0)` is end of stream (or an empty
/// `buf`), `Err(AGAIN)` means nothing more for now on a nonblocking one.
///
/// Errors: those of read(2), for sockets chiefly `ECONNRESET` (the peer
/// reset) and `ETIMEDOUT`.
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    rustix::io::read(fd, buf)
}
