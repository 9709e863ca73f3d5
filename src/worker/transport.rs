//! A client connection's byte stream: plain TCP, or TLS over it. The
//! client glue (`client.rs`) opens, reads and sends through
//! [`Transport`] and never asks which it is; what a layer above sees is
//! plaintext either way. A framing layer (WebSocket's) sits on top the
//! same way: its handshake after [`Transport::start`]'s, its frames
//! through [`Transport::send`] and out of [`Transport::recv`]'s sink,
//! whether TLS is under it or not.
//!
//! A layer above that frames the bytes itself (WebSocket's, through
//! tungstenite) reads and writes through [`Transport::io`]: the socket
//! as a nonblocking stream ([`PlainIo`]), or TLS's plaintext
//! ([`super::tls::TlsIo`]).
//!
//! Plain TCP keeps nothing here: a read or a send is the one system call
//! it was before. TLS keeps its table ([`super::tls::ClientSessions`]).

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use c1m_sys::Errno;
use c1m_sys::poll;
use c1m_sys::socket;

use super::tls::{ClientSessions, Handshake, Recv, Sent, TlsIo};
use crate::tls::ClientTls;

/// What a client's connections speak.
pub enum Transport {
    /// Plain TCP: bytes go straight to and from the socket.
    Plain,
    /// TLS on each connection (`--tls`).
    Tls(ClientSessions),
}

impl Transport {
    /// Plain without `tls`; with it, a TLS table for `count` connections
    /// (the configuration made here, once: an error names what is wrong
    /// with it).
    pub fn new(tls: Option<&ClientTls>, count: usize) -> anyhow::Result<Self> {
        Ok(match tls {
            None => Transport::Plain,
            Some(spec) => Transport::Tls(ClientSessions::new(spec, count)?),
        })
    }

    /// TLS connections held (their handshake done); 0 for plain TCP.
    pub fn tls_held(&self) -> u64 {
        match self {
            Transport::Plain => 0,
            Transport::Tls(t) => t.held(),
        }
    }

    /// Connection `i`'s TCP connection to `endpoint` is up: plain TCP is
    /// ready at once ([`Handshake::Done`]); TLS sends its ClientHello.
    pub fn start(&mut self, i: usize, endpoint: SocketAddr, fd: &OwnedFd) -> Handshake {
        match self {
            Transport::Plain => Handshake::Done { resumed: false },
            Transport::Tls(t) => t.start(i, endpoint, fd),
        }
    }

    /// Moves connection `i`'s TLS handshake on (its socket is ready).
    pub fn handshake(&mut self, i: usize, fd: &OwnedFd, hangup: bool) -> Handshake {
        match self {
            Transport::Plain => Handshake::Done { resumed: false },
            Transport::Tls(t) => t.handshake(i, fd, hangup),
        }
    }

    /// What the first TLS handshake agreed on, once (connection `i`'s).
    pub fn take_agreed(&mut self, i: usize) -> Option<String> {
        match self {
            Transport::Plain => None,
            Transport::Tls(t) => t.take_agreed(i),
        }
    }

    /// Whether the first TLS failure of `cause` is still to be told.
    pub fn first_of(&mut self, cause: crate::cause::Cause) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(t) => t.first_of(cause),
        }
    }

    /// Reads what held connection `i` has, handing each piece (at most
    /// `buf`'s length) to `sink`, until nothing more is there for now or
    /// the peer ended it. `hangup`: the peer hung up in this event, so
    /// reading goes on to the end (its FIN waits behind the data, and
    /// edge-triggered epoll gives no new edge for it).
    pub fn recv(
        &mut self,
        i: usize,
        fd: &OwnedFd,
        hangup: bool,
        buf: &mut [u8],
        mut sink: impl FnMut(&[u8]),
    ) -> Recv {
        let t = match self {
            Transport::Tls(t) => t,
            Transport::Plain => loop {
                match poll::read(fd, buf) {
                    Ok(0) => return Recv::Closed { fin: true },
                    Ok(n) => {
                        sink(&buf[..n]);
                        // A short read emptied the socket: no extra read
                        // for the EAGAIN edge-triggered epoll would
                        // otherwise need, unless the peer hung up.
                        if n < buf.len() && !hangup {
                            return Recv::Drained;
                        }
                    }
                    Err(Errno::INTR) => continue,
                    Err(Errno::AGAIN) => return Recv::Drained,
                    Err(_) => return Recv::Closed { fin: false },
                }
            },
        };
        t.recv(i, fd, hangup, buf, sink)
    }

    /// Sends `bytes` on held connection `i`.
    pub fn send(&mut self, i: usize, fd: &OwnedFd, bytes: &[u8]) -> Sent {
        match self {
            Transport::Plain => match socket::send(fd, bytes) {
                Ok(n) if n == bytes.len() => Sent::Whole,
                // The send buffer of a tiny message full: the peer
                // stopped reading.
                Ok(_) | Err(Errno::AGAIN) => Sent::Stalled,
                Err(_) => Sent::Broken,
            },
            Transport::Tls(t) => t.send(i, fd, bytes),
        }
    }

    /// Connection `i`'s socket has room again: TLS sends the records that
    /// waited. False when the connection is broken.
    pub fn writable(&mut self, i: usize, fd: &OwnedFd) -> bool {
        match self {
            Transport::Plain => true,
            Transport::Tls(t) => t.writable(i, fd),
        }
    }

    /// Held connection `i`'s bytes as a stream, for a layer above
    /// (WebSocket's): the socket itself, or TLS's plaintext.
    pub fn io<'a>(
        &'a mut self,
        i: usize,
        fd: &'a OwnedFd,
        hangup: bool,
    ) -> Io<'a, rustls::client::ClientConnectionData> {
        match self {
            Transport::Plain => Io::Plain(PlainIo::new(fd, hangup)),
            Transport::Tls(t) => t.io(i, fd, hangup).map_or(Io::Gone, Io::Tls),
        }
    }

    /// Forgets connection `i` (its socket is being closed).
    pub fn forget(&mut self, i: usize) {
        if let Transport::Tls(t) = self {
            t.forget(i);
        }
    }
}

/// A plain TCP socket as a byte stream (`Read`, `Write`) for a layer
/// above: each read or write is one system call, nonblocking
/// (`WouldBlock` when the socket has nothing or no room). A read that
/// came back short emptied the socket, so the next is `WouldBlock`
/// without a system call, unless the peer hung up (then reading goes on
/// to its FIN, as edge-triggered epoll gives no new edge for it).
pub struct PlainIo<'a> {
    fd: &'a OwnedFd,
    hangup: bool,
    short: bool,
}

impl<'a> PlainIo<'a> {
    /// `fd` as a stream; `hangup`: the peer hung up in this event.
    pub fn new(fd: &'a OwnedFd, hangup: bool) -> Self {
        Self {
            fd,
            hangup,
            short: false,
        }
    }
}

impl std::io::Read for PlainIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.short && !self.hangup {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let _below = c1m_sys::alloc::enter(false);
        loop {
            match poll::read(self.fd, buf) {
                Ok(n) => {
                    self.short = n < buf.len();
                    return Ok(n);
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl std::io::Write for PlainIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _below = c1m_sys::alloc::enter(false);
        socket::send(self.fd, buf).map_err(Into::into)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A connection's bytes as a stream, plain or TLS's plaintext (`D`:
/// rustls' client or server side); `Gone` when it has no state any more
/// (every call fails as a reset).
pub enum Io<'a, D> {
    /// Plain TCP.
    Plain(PlainIo<'a>),
    /// TLS's plaintext.
    Tls(TlsIo<'a, D>),
    /// Nothing to read or write.
    Gone,
}

impl<D> std::io::Read for Io<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(p) => p.read(buf),
            Io::Tls(t) => t.read(buf),
            Io::Gone => Err(std::io::ErrorKind::ConnectionReset.into()),
        }
    }
}

impl<D> std::io::Write for Io<'_, D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(p) => p.write(buf),
            Io::Tls(t) => t.write(buf),
            Io::Gone => Err(std::io::ErrorKind::ConnectionReset.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Io::Plain(p) => p.flush(),
            Io::Tls(t) => t.flush(),
            Io::Gone => Err(std::io::ErrorKind::ConnectionReset.into()),
        }
    }
}
