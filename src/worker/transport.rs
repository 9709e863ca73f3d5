//! A client connection's byte stream: plain TCP, or TLS over it. The
//! client glue (`client.rs`) opens, reads and sends through
//! [`Transport`] and never asks which it is; what a layer above sees is
//! plaintext either way. A framing layer (WebSocket's) sits on top the
//! same way: its handshake after [`Transport::start`]'s, its frames
//! through [`Transport::send`] and out of [`Transport::recv`]'s sink,
//! whether TLS is under it or not.
//!
//! Plain TCP keeps nothing here: a read or a send is the one system call
//! it was before. TLS keeps its table ([`super::tls::ClientSessions`]).

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use c1m_sys::Errno;
use c1m_sys::poll;
use c1m_sys::socket;

use super::tls::{ClientSessions, Handshake, Recv, Sent};
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

    /// Forgets connection `i` (its socket is being closed).
    pub fn forget(&mut self, i: usize) {
        if let Transport::Tls(t) = self {
            t.forget(i);
        }
    }
}
