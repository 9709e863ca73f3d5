//! TCP sockets: nonblocking, close-on-exec, IPv4 and IPv6.
//! See socket(7), tcp(7), ip(7), ipv6(7).
//!
//! Every call returns [`Errno`], a `Copy` integer, never an allocated
//! error: they run once or more per connection.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType, sockopt};

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::INET,
        IpAddr::V6(_) => AddressFamily::INET6,
    }
}

/// A new nonblocking, close-on-exec TCP socket (`SOCK_STREAM`) of the
/// family of `ip` (`AF_INET` or `AF_INET6`).
///
/// Errors: `EMFILE` (this process's `RLIMIT_NOFILE`), `ENFILE`
/// (`fs.file-max`), `ENOBUFS`/`ENOMEM` (kernel memory).
pub fn tcp(ip: IpAddr) -> Result<OwnedFd, Errno> {
    net::socket_with(
        family(ip),
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
}

/// Sets an integer socket option that rustix has no wrapper for.
#[allow(unsafe_code)]
fn setsockopt_int(fd: impl AsFd, level: i32, name: i32, value: i32) -> Result<(), Errno> {
    let fd = fd.as_fd();
    // SAFETY: setsockopt(2) reads `optlen` bytes from `optval` and keeps
    // no pointer after it returns. `optval` points at `value`, an `i32`
    // that lives on this frame for the whole call, and `optlen` is exactly
    // its size, so the kernel reads only initialised memory we own. The
    // descriptor is borrowed (`BorrowedFd`) for the call, so it is open
    // and cannot be closed and reused for another file meanwhile.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    }
}

/// `IP_LOCAL_PORT_RANGE` from `include/uapi/linux/in.h` (Linux 6.3+);
/// libc does not export it yet, nor rustix wrap it.
const IP_LOCAL_PORT_RANGE: i32 = 51;

/// Narrows the ephemeral ports this socket may get to `lo..=hi`, both
/// inclusive, within `net.ipv4.ip_local_port_range` (Linux 6.3+,
/// `IP_LOCAL_PORT_RANGE`, ip(7); an IP-level option IPv6 sockets take
/// too). Call before `bind` or `connect`. A range that does not overlap
/// the system's is ignored by the kernel, which then uses the system's.
///
/// Errors: `ENOPROTOOPT` on kernels before 6.3.
pub fn set_local_port_range(fd: impl AsFd, lo: u16, hi: u16) -> Result<(), Errno> {
    let value = (u32::from(hi) << 16) | u32::from(lo);
    setsockopt_int(fd, libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, value as i32)
}

/// How a client socket gets its local address (and, with it, how the
/// 4-tuple's source port is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// `IP_BIND_ADDRESS_NO_PORT` then `bind(ip, 0)`: the port is chosen at
    /// `connect()` time per (source, destination), so every destination gets
    /// the whole local port range.
    NoPort,
    /// Plain `bind(ip, 0)`: the port is chosen at bind time, unique for the
    /// source address whatever the destination.
    Plain,
}

/// Binds a client socket to the source address `ip`, port chosen by the
/// kernel as `mode` says.
///
/// Errors: `EADDRNOTAVAIL` if `ip` is not an address of this network
/// namespace; with [`BindMode::Plain`], `EADDRINUSE` once every ephemeral
/// port of `ip` is taken.
pub fn bind_source(fd: impl AsFd, ip: IpAddr, mode: BindMode) -> Result<(), Errno> {
    let fd = fd.as_fd();
    if mode == BindMode::NoPort {
        // An IP-level option, accepted by IPv6 sockets too (ip(7)).
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
    }
    net::bind(fd, &SocketAddr::new(ip, 0))
}

/// How a nonblocking `connect()` began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    /// The handshake is under way; writability will tell how it ended.
    InProgress,
    /// Connected at once.
    Done,
}

/// Starts a nonblocking connect to `addr` (connect(2)): the SYN is sent,
/// and the handshake ends later, reported as writability (and, if it
/// failed, by [`take_error`]). `EINPROGRESS` is not an error here.
///
/// Errors, at once: `EADDRNOTAVAIL` (no ephemeral port left for this
/// (source, destination) pair, or for an unbound socket), `ECONNREFUSED`
/// (on loopback the refusal can come before the call returns),
/// `ENETUNREACH`, `EISCONN`/`EALREADY` on a socket already connecting.
pub fn connect(fd: impl AsFd, addr: SocketAddr) -> Result<Connect, Errno> {
    match net::connect(fd, &addr) {
        Ok(()) => Ok(Connect::Done),
        Err(Errno::INPROGRESS) => Ok(Connect::InProgress),
        Err(e) => Err(e),
    }
}

/// The pending error of a socket (`SO_ERROR`, read and cleared): how a
/// nonblocking connect ended once it is writable. `Ok(())` means
/// connected; `Err` carries the connect's failure (`ECONNREFUSED`,
/// `ETIMEDOUT` after the SYN retries, `EHOSTUNREACH`, …), or the
/// getsockopt(2) call's own error.
pub fn take_error(fd: impl AsFd) -> Result<(), Errno> {
    match sockopt::socket_error(fd) {
        Ok(r) => r,
        Err(e) => Err(e),
    }
}

/// Sets `SO_LINGER` on with a zero timeout: closing the socket then
/// sends an RST instead of a FIN and leaves no TIME_WAIT socket behind
/// (socket(7)). Errors: none for a TCP socket.
pub fn set_linger_zero(fd: impl AsFd) -> Result<(), Errno> {
    sockopt::set_socket_linger(fd, Some(Duration::ZERO))
}

/// A listening socket (nonblocking, close-on-exec) on `addr` with
/// `SO_REUSEADDR`, and `SO_REUSEPORT` when several processes share the
/// address (the kernel then spreads incoming connections over them). The
/// accept queue holds `backlog` completed connections, capped by
/// `net.core.somaxconn` (listen(2)). Port 0 picks an ephemeral port: see
/// [`local_addr`].
///
/// Errors: `EADDRINUSE` (another socket holds `addr` without
/// `SO_REUSEPORT` on both), `EADDRNOTAVAIL` (`addr` is not local), `EACCES`
/// (a port below `net.ipv4.ip_unprivileged_port_start` without
/// `CAP_NET_BIND_SERVICE`), and those of [`tcp`].
pub fn listen(addr: SocketAddr, backlog: i32, reuse_port: bool) -> Result<OwnedFd, Errno> {
    let fd = tcp(addr.ip())?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if reuse_port {
        sockopt::set_socket_reuseport(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, backlog)?;
    Ok(fd)
}

/// Accepts one connection from the listener's accept queue, as a
/// nonblocking, close-on-exec socket (accept4(2)); `Ok(None)` when the
/// queue is empty.
///
/// Errors: `EMFILE`/`ENFILE` (the connection stays queued),
/// `ECONNABORTED` (it was reset while queued), `ENOBUFS`/`ENOMEM`.
pub fn accept(listener: impl AsFd) -> Result<Option<OwnedFd>, Errno> {
    match net::accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The local address and port of a socket (getsockname(2)): the
/// ephemeral port a bound or connected socket got. IPv4-mapped IPv6
/// addresses stay IPv6. Errors: `EAFNOSUPPORT` for a non-IP socket.
pub fn local_addr(fd: impl AsFd) -> Result<SocketAddr, Errno> {
    let addr = net::getsockname(fd)?;
    SocketAddr::try_from(addr).map_err(|_| Errno::AFNOSUPPORT)
}

/// Writes `buf` without raising `SIGPIPE` (`MSG_NOSIGNAL`), returning how
/// many bytes the kernel took into the send buffer (possibly fewer than
/// `buf.len()`).
///
/// Errors: `EAGAIN` (send buffer full), `EPIPE` (this side shut down or
/// the peer closed), `ECONNRESET`.
pub fn send(fd: impl AsFd, buf: &[u8]) -> Result<usize, Errno> {
    net::send(fd, buf, net::SendFlags::NOSIGNAL)
}

/// Caps the bytes a socket may hold queued and not yet sent
/// (`TCP_NOTSENT_LOWAT`, tcp(7)): once that many wait, send(2) takes no
/// more (`EAGAIN`) and the socket is not writable, however large its send
/// buffer has grown (on loopback the kernel starts it near
/// `net.ipv4.tcp_wmem`'s maximum, 4 MiB). Bytes sent and not yet
/// acknowledged are not counted: the peer's receive window bounds those.
/// Set on a listener, every connection it accepts inherits it (the kernel
/// makes each accepted socket as a copy of the listener's).
///
/// Errors: none for a TCP socket.
pub fn set_notsent_lowat(fd: impl AsFd, bytes: u32) -> Result<(), Errno> {
    let bytes = bytes.min(i32::MAX as u32) as i32;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, bytes)
}

/// Copies what the peer sent into `buf` and leaves it queued
/// (`MSG_PEEK`, recv(2)): the next read sees the same bytes. With
/// [`discard`], a server takes off the queue only what it could echo, and
/// the rest stays in the kernel's receive buffer, where TCP's flow control
/// makes the peer wait. `Ok(0)` is end of stream.
///
/// Errors: as [`crate::poll::read`]: `EAGAIN` (nothing queued on a
/// nonblocking socket), `ECONNRESET`, `ETIMEDOUT`.
pub fn peek(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    net::recv(fd, buf, net::RecvFlags::PEEK).map(|(n, _)| n)
}

/// Takes the first `buf.len()` bytes off a TCP socket's receive queue
/// without copying them (`MSG_TRUNC`: "the received bytes of data are
/// discarded", tcp(7), Linux 2.4+; `buf` is not written), returning how
/// many were dropped: those a [`peek`] saw and the caller has dealt with.
///
/// Errors: as [`peek`].
pub fn discard(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    net::recv(fd, buf, net::RecvFlags::TRUNC).map(|(_, n)| n)
}

/// The bytes waiting in a TCP socket's two queues, in bytes (tcp(7)
/// ioctls).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    /// Queued to send and not yet acknowledged by the peer (`SIOCOUTQ`):
    /// what it has not taken into its receive window.
    pub unacked: u64,
    /// Received and not yet read by this process (`SIOCINQ`, as
    /// `FIONREAD`).
    pub unread: u64,
}

/// Reads both of a connected TCP socket's queues ([`Queues`]): two
/// ioctl(2) calls, nothing kept.
///
/// Errors: `EINVAL` for a listening socket; `ENOTTY` for a descriptor
/// that is not a socket.
#[allow(unsafe_code)]
pub fn queues(fd: impl AsFd) -> Result<Queues, Errno> {
    let fd = fd.as_fd();
    let unread = rustix::io::ioctl_fionread(fd)?;
    let mut unacked: libc::c_int = 0;
    // SAFETY: ioctl(2) `SIOCOUTQ` (= `TIOCOUTQ`, tcp(7)) writes one `int`
    // through its third argument and keeps no pointer after it returns.
    // It points at `unacked`, a `c_int` on this frame alive for the whole
    // call. The descriptor is borrowed (`BorrowedFd`), so it is open and
    // cannot be closed and reused for another file meanwhile.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut unacked) };
    if rc != 0 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    Ok(Queues {
        unacked: unacked.max(0) as u64,
        unread,
    })
}

/// The kernel's state of a TCP socket now: `tcpi_state` of
/// getsockopt(2) `TCP_INFO` (tcp(7); `struct tcp_info` in
/// `include/uapi/linux/tcp.h`), numbered as `include/net/tcp_states.h`
/// does (1 `TCP_ESTABLISHED`, 2 `TCP_SYN_SENT`, 8 `TCP_CLOSE_WAIT`, …).
/// rustix and socket2 have no wrapper for `TCP_INFO`.
///
/// One call locks the socket briefly and fills the whole `tcp_info`
/// (~230 bytes, copied to a buffer on this frame); nothing is kept.
///
/// Errors: `EBADF`/`ENOTSOCK` for a descriptor that is not a socket,
/// `EOPNOTSUPP` for a socket that is not TCP.
#[allow(unsafe_code)]
pub fn tcp_state(fd: impl AsFd) -> Result<u8, Errno> {
    let fd = fd.as_fd();
    let mut info = [0u8; std::mem::size_of::<libc::tcp_info>()];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes to `optval` and
    // the length it wrote to `optlen`, and keeps neither pointer after it
    // returns. `optval` points at `info`, a byte array of exactly `len`
    // bytes on this frame (any bytes are valid `u8`s), and `optlen` at
    // `len`, both alive for the whole call. The descriptor is borrowed
    // (`BorrowedFd`), so it stays open and cannot be reused meanwhile.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    // `tcpi_state` is the struct's first byte; a kernel that wrote
    // nothing would be broken, not merely old.
    if len == 0 {
        return Err(Errno::IO);
    }
    Ok(info[0])
}

/// A connected socket as a byte stream, for code that reads and writes
/// through [`std::io::Read`] and [`std::io::Write`]: a TLS library's
/// record layer (rustls' `read_tls`, `write_tls`) driven on a nonblocking
/// socket. Reads are read(2), writes send(2) with `MSG_NOSIGNAL`; nothing
/// is buffered, nothing allocated. An `EAGAIN` comes back as
/// [`std::io::ErrorKind::WouldBlock`], and every error keeps its errno
/// ([`std::io::Error::raw_os_error`]), so a reset still reads as
/// `ECONNRESET`.
#[derive(Debug, Clone, Copy)]
pub struct Stream<'a>(BorrowedFd<'a>);

/// `fd` as a [`Stream`], for as long as it is borrowed.
pub fn stream(fd: &impl AsFd) -> Stream<'_> {
    Stream(fd.as_fd())
}

impl std::io::Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        rustix::io::read(self.0, buf).map_err(std::io::Error::from)
    }
}

impl std::io::Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        send(self.0, buf).map_err(std::io::Error::from)
    }
    /// One sendmsg(2) for every slice (a TLS flight's records), with
    /// `MSG_NOSIGNAL`.
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        net::sendmsg(
            self.0,
            bufs,
            &mut net::SendAncillaryBuffer::default(),
            net::SendFlags::NOSIGNAL,
        )
        .map_err(std::io::Error::from)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The number of a descriptor, as data: a slot index in a worker's
/// per-connection table (the kernel hands out the lowest free number, so
/// numbers stay below `RLIMIT_NOFILE` and a table of that size never
/// collides).
///
/// This is the one way a descriptor's number leaves this crate, and it
/// must stay data: code outside `crates/sys` never passes it to anything
/// that takes a descriptor, and cannot turn it back into one
/// (`BorrowedFd::borrow_raw` and `FromRawFd` need `unsafe`, forbidden
/// there; `crates/sys/tests/tidy.rs` flags them and `RawFd` by name). The
/// number is reused once the descriptor is closed.
pub fn number(fd: &impl AsFd) -> u32 {
    fd.as_fd().as_raw_fd() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// The first connection in `l`'s accept queue, waiting up to 1 s
    /// for it.
    fn accept_one(l: &OwnedFd) -> OwnedFd {
        for _ in 0..1000 {
            if let Some(s) = accept(l).unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("nothing accepted within 1 s")
    }

    #[test]
    fn connect_accept_and_reset() {
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let addr = local_addr(&l).unwrap();
        let c = tcp(LO).unwrap();
        bind_source(&c, LO, BindMode::NoPort).unwrap();
        connect(&c, addr).unwrap();
        let s = accept_one(&l);
        assert_eq!(take_error(&c), Ok(()));
        assert_eq!(send(&c, b"hi"), Ok(2));
        let mut buf = [0u8; 8];
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(crate::poll::read(&s, &mut buf), Ok(2));
        set_linger_zero(&c).unwrap();
        drop(c);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(crate::poll::read(&s, &mut buf), Err(Errno::CONNRESET));
    }

    /// The state `/proc/net/tcp` shows for the socket of the 4-tuple
    /// (`local`, `remote`), both IPv4: the kernel's table, read apart from
    /// `TCP_INFO`. (The local address alone is not enough: sockets to
    /// other destinations may share an ephemeral port.)
    fn proc_state(local: SocketAddr, remote: SocketAddr) -> Option<u8> {
        let hex = |a: SocketAddr| match a {
            SocketAddr::V4(v4) => Some(format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(v4.ip().octets()),
                v4.port()
            )),
            SocketAddr::V6(_) => None,
        };
        let (local, remote) = (hex(local)?, hex(remote)?);
        let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
        table.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
                .then(|| u8::from_str_radix(f.get(3)?, 16).ok())
                .flatten()
        })
    }

    #[test]
    fn tcp_state_is_the_kernels_state_of_the_socket() {
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let addr = local_addr(&l).unwrap();
        assert_eq!(tcp_state(&l), Ok(10), "TCP_LISTEN");
        let c = tcp(LO).unwrap();
        connect(&c, addr).unwrap();
        let s = accept_one(&l);
        let mine = local_addr(&c).unwrap();
        assert_eq!(tcp_state(&c), Ok(1), "TCP_ESTABLISHED");
        assert_eq!(proc_state(mine, addr), Some(1));
        assert_eq!(tcp_state(&s), Ok(1));
        // The server closes: our end waits in CLOSE_WAIT until we close.
        drop(s);
        let mut state = tcp_state(&c);
        for _ in 0..1000 {
            if state == Ok(8) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            state = tcp_state(&c);
        }
        assert_eq!(state, Ok(8), "TCP_CLOSE_WAIT");
        assert_eq!(proc_state(mine, addr), Some(8));
        // Not a TCP socket: a pipe.
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert_eq!(tcp_state(&r), Err(Errno::NOTSOCK));
    }

    #[test]
    fn refused_shows_in_so_error() {
        // Bind a port, then close it: nothing listens there.
        let port = local_addr(listen(SocketAddr::new(LO, 0), 1, false).unwrap())
            .unwrap()
            .port();
        let c = tcp(LO).unwrap();
        match connect(&c, SocketAddr::new(LO, port)) {
            Err(e) => assert_eq!(e, Errno::CONNREFUSED),
            Ok(_) => {
                std::thread::sleep(Duration::from_millis(10));
                assert_eq!(take_error(&c), Err(Errno::CONNREFUSED));
            }
        }
    }

    #[test]
    fn a_narrowed_port_range_is_kept() {
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let addr = local_addr(&l).unwrap();
        let c = tcp(LO).unwrap();
        set_local_port_range(&c, 40_000, 40_009).unwrap();
        connect(&c, addr).unwrap();
        let port = local_addr(&c).unwrap().port();
        assert!((40_000..=40_009).contains(&port), "{port}");
    }

    #[test]
    fn peek_leaves_bytes_queued_and_discard_takes_them_off() {
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let c = tcp(LO).unwrap();
        connect(&c, local_addr(&l).unwrap()).unwrap();
        let s = accept_one(&l);
        assert_eq!(send(&c, b"hello\n"), Ok(6));
        let mut buf = [0u8; 16];
        let mut n = peek(&s, &mut buf);
        for _ in 0..1000 {
            if n != Err(Errno::AGAIN) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            n = peek(&s, &mut buf);
        }
        assert_eq!(n, Ok(6));
        assert_eq!(&buf[..6], b"hello\n");
        assert_eq!(
            queues(&s).map(|q| q.unread),
            Ok(6),
            "peeked bytes stay queued"
        );
        assert_eq!(discard(&s, &mut buf[..2]), Ok(2));
        assert_eq!(queues(&s).map(|q| q.unread), Ok(4));
        let mut rest = [0u8; 16];
        assert_eq!(crate::poll::read(&s, &mut rest), Ok(4));
        assert_eq!(&rest[..4], b"llo\n");
        assert_eq!(queues(&l).map(|_| ()), Err(Errno::INVAL), "a listener");
    }

    #[test]
    fn a_stream_writes_slices_in_one_send_and_keeps_errnos() {
        use std::io::{IoSlice, Read, Write};
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let c = tcp(LO).unwrap();
        connect(&c, local_addr(&l).unwrap()).unwrap();
        let s = accept_one(&l);
        let mut empty = [0u8; 8];
        let would_block = stream(&s).read(&mut empty).unwrap_err();
        assert_eq!(would_block.kind(), std::io::ErrorKind::WouldBlock);
        let parts = [
            IoSlice::new(b"he"),
            IoSlice::new(b"llo"),
            IoSlice::new(b"\n"),
        ];
        assert_eq!(stream(&c).write_vectored(&parts).unwrap(), 6);
        let mut buf = [0u8; 16];
        let mut n = stream(&s).read(&mut buf);
        for _ in 0..1000 {
            if n.as_ref().is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            n = stream(&s).read(&mut buf);
        }
        assert_eq!(n.unwrap(), 6);
        assert_eq!(&buf[..6], b"hello\n");
        set_linger_zero(&s).unwrap();
        drop(s);
        std::thread::sleep(Duration::from_millis(10));
        let reset = stream(&c).read(&mut buf).unwrap_err();
        assert_eq!(reset.raw_os_error(), Some(Errno::CONNRESET.raw_os_error()));
    }

    /// Sends to a peer that never reads until the kernel takes no more;
    /// returns the bytes taken and the sender's queues then.
    fn fill(listener: &OwnedFd) -> (u64, Queues) {
        let c = tcp(LO).unwrap();
        connect(&c, local_addr(listener).unwrap()).unwrap();
        let s = accept_one(listener);
        let chunk = [b'x'; 16 * 1024];
        let mut taken = 0u64;
        loop {
            match send(&s, &chunk) {
                Ok(n) => taken += n as u64,
                Err(Errno::AGAIN) => break,
                Err(e) => panic!("{e}"),
            }
        }
        (taken, queues(&s).unwrap())
    }

    #[test]
    fn notsent_lowat_set_on_a_listener_caps_what_its_connections_queue() {
        const LOWAT: u32 = 64 * 1024;
        let capped = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        set_notsent_lowat(&capped, LOWAT).unwrap();
        let plain = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let (taken, q) = fill(&capped);
        let (taken_plain, _) = fill(&plain);
        // The kernel stops at the cap: what waits unsent reached it (and
        // is among the unacknowledged), and less was taken than the send
        // buffer alone allows.
        assert!(q.unacked >= u64::from(LOWAT), "{q:?}");
        assert!(taken < taken_plain, "{taken} capped, {taken_plain} not");
    }

    #[test]
    fn accept_without_pending_is_none() {
        let l = listen(SocketAddr::new(LO, 0), 1, false).unwrap();
        assert_eq!(accept(&l).map(|o| o.is_some()), Ok(false));
    }
}
