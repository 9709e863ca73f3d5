//! TCP sockets: nonblocking, close-on-exec, IPv4 and IPv6.
//! See socket(7), tcp(7), ip(7).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType, sockopt};

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::INET,
        IpAddr::V6(_) => AddressFamily::INET6,
    }
}

/// A new nonblocking, close-on-exec TCP socket for addresses like `ip`.
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
    // SAFETY: `fd` is a live descriptor borrowed for the call; the option
    // value points at an `i32` on this stack frame, and its exact size is
    // passed, as setsockopt(2) requires for integer options.
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

/// `IP_LOCAL_PORT_RANGE` from linux/in.h (Linux 6.3+); libc does not
/// export it yet.
const IP_LOCAL_PORT_RANGE: i32 = 51;

/// Narrows the ephemeral ports this socket may get to `lo..=hi` (Linux
/// 6.3+, `IP_LOCAL_PORT_RANGE`); older kernels answer `ENOPROTOOPT`.
pub fn set_local_port_range(fd: impl AsFd, lo: u16, hi: u16) -> Result<(), Errno> {
    let value = (u32::from(hi) << 16) | u32::from(lo);
    setsockopt_int(fd, libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, value as i32)
}

/// How a client socket gets its local address.
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

/// Binds a client socket to the source address `ip`.
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

/// Starts a nonblocking connect to `addr`.
pub fn connect(fd: impl AsFd, addr: SocketAddr) -> Result<Connect, Errno> {
    match net::connect(fd, &addr) {
        Ok(()) => Ok(Connect::Done),
        Err(Errno::INPROGRESS) => Ok(Connect::InProgress),
        Err(e) => Err(e),
    }
}

/// The pending error of a socket (`SO_ERROR`): how a nonblocking connect
/// ended. `Ok(())` means connected.
pub fn take_error(fd: impl AsFd) -> Result<(), Errno> {
    match sockopt::socket_error(fd) {
        Ok(r) => r,
        Err(e) => Err(e),
    }
}

/// Sets `SO_LINGER` to zero: closing then sends RST and leaves no
/// TIME_WAIT behind.
pub fn set_linger_zero(fd: impl AsFd) -> Result<(), Errno> {
    sockopt::set_socket_linger(fd, Some(Duration::ZERO))
}

/// A listening socket on `addr` with `SO_REUSEADDR`, and `SO_REUSEPORT`
/// when several processes share the address.
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

/// Accepts one pending connection, nonblocking and close-on-exec;
/// `Ok(None)` when none is pending.
pub fn accept(listener: impl AsFd) -> Result<Option<OwnedFd>, Errno> {
    match net::accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The local address of a socket.
pub fn local_addr(fd: impl AsFd) -> Result<SocketAddr, Errno> {
    let addr = net::getsockname(fd)?;
    SocketAddr::try_from(addr).map_err(|_| Errno::AFNOSUPPORT)
}

/// Writes `buf`, returning how much the kernel took.
pub fn send(fd: impl AsFd, buf: &[u8]) -> Result<usize, Errno> {
    net::send(fd, buf, net::SendFlags::NOSIGNAL)
}

/// The raw number of a descriptor: a slot index, never used to act on it.
pub fn number(fd: &impl AsFd) -> u32 {
    fd.as_fd().as_raw_fd() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn connect_accept_and_reset() {
        let l = listen(SocketAddr::new(LO, 0), 16, false).unwrap();
        let addr = local_addr(&l).unwrap();
        let c = tcp(LO).unwrap();
        bind_source(&c, LO, BindMode::NoPort).unwrap();
        connect(&c, addr).unwrap();
        let mut s = None;
        for _ in 0..1000 {
            s = accept(&l).unwrap();
            if s.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let s = s.expect("accepted");
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
    fn accept_without_pending_is_none() {
        let l = listen(SocketAddr::new(LO, 0), 1, false).unwrap();
        assert_eq!(accept(&l).map(|o| o.is_some()), Ok(false));
    }
}
