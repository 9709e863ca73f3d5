//! TLS in a worker's own event loop: rustls' connections driven on the
//! worker's nonblocking sockets (`read_tls`, `process_new_packets`,
//! `write_tls`) as epoll says they are ready; no thread or task per
//! connection.
//!
//! Each connection's rustls state is boxed in a table of its own, by the
//! worker's slot (a client's connection number, a server's descriptor
//! number): 8 bytes a slot, made only under `--tls`, the state itself
//! allocated at the connection's start and freed at its end. rustls keeps
//! per connection its keys, what is left of the handshake, and a 4 KiB
//! buffer for incoming records (its deframer's, kept once a connection
//! has read); the records it has to send are bounded by
//! [`crate::tls::BUFFER_LIMIT`] and freed once written.

use std::io::{ErrorKind, Read, Write};
use std::ops::DerefMut;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use c1m_sys::Errno;
use c1m_sys::socket::{self, Stream};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};

use super::Told;
use crate::cause::Cause;
use crate::tls::{self, BUFFER_LIMIT, ClientTls};

/// How a connection's TLS ended badly.
#[derive(Debug)]
pub enum Broke {
    /// The peer closed (FIN: `true`) or reset the TCP connection.
    Closed {
        /// A FIN, not a reset.
        fin: bool,
    },
    /// TLS failed: rustls' error (an alert, when one is due, has been
    /// sent).
    Failed(rustls::Error),
}

/// Where a TLS handshake stands.
#[derive(Debug)]
pub enum Handshake {
    /// Under way: waiting for the peer.
    Pending,
    /// Done; `resumed`: an earlier session's (an abbreviated handshake).
    Done {
        /// The handshake resumed a session.
        resumed: bool,
    },
    /// It ended badly.
    Broke(Broke),
}

/// A socket read that notes whether it came back short: then the socket
/// has nothing more for now, and edge-triggered epoll needs no further
/// read to see `EAGAIN` (one system call saved per message).
struct Reads<'a> {
    stream: Stream<'a>,
    short: bool,
}

impl Read for Reads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// What reading the socket did.
enum Pulled {
    /// Records came (and were handled); `more`: the socket may have more.
    Some { more: bool },
    /// Nothing more for now.
    Drained,
    /// The peer's FIN (any records before it were handled).
    Eof,
}

fn errno(e: &std::io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw_os_error)
}

/// Reads what the socket has into `conn` (one read of up to 4 KiB, or
/// until `EAGAIN`), and handles the records. `hangup`: the peer hung up
/// in this event, so reading goes on to the end whatever the sizes.
fn pull<D>(
    conn: &mut rustls::ConnectionCommon<D>,
    fd: &OwnedFd,
    hangup: bool,
) -> Result<Pulled, Broke> {
    let mut reads = Reads {
        stream: socket::stream(fd),
        short: false,
    };
    let pulled = loop {
        match conn.read_tls(&mut reads) {
            Ok(0) => break Pulled::Eof,
            Ok(_) => {
                break Pulled::Some {
                    more: !reads.short || hangup,
                };
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Pulled::Drained),
            // rustls' own back-pressure (its plaintext buffer is full):
            // the caller takes the plaintext first.
            Err(e) if e.kind() == ErrorKind::Other && errno(&e).is_none() => {
                return Ok(Pulled::Some { more: true });
            }
            // rustls refused what came (a handshake message over 64 KiB).
            Err(e) if errno(&e).is_none() => {
                return Err(Broke::Failed(rustls::Error::General(e.to_string())));
            }
            Err(e) => {
                return Err(Broke::Closed {
                    fin: !matches!(errno(&e), Some(Errno::CONNRESET | Errno::PIPE)),
                });
            }
        }
    };
    if let Err(e) = conn.process_new_packets() {
        // The alert rustls queued for it (after any record before it),
        // as far as the socket takes it now.
        let _ = push(conn, fd);
        return Err(Broke::Failed(e));
    }
    Ok(pulled)
}

/// Writes what rustls has to send; `Ok(true)` when all of it went,
/// `Ok(false)` when the socket's buffer is full (an EPOLLOUT edge comes
/// when it has room).
fn push<D>(conn: &mut rustls::ConnectionCommon<D>, fd: &OwnedFd) -> Result<bool, Broke> {
    while conn.wants_write() {
        match conn.write_tls(&mut socket::stream(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(_) => return Err(Broke::Closed { fin: false }),
        }
    }
    Ok(true)
}

/// Moves a handshake on: reads and handles what came, sends what is due.
fn drive<D>(conn: &mut rustls::ConnectionCommon<D>, fd: &OwnedFd, hangup: bool) -> Handshake {
    loop {
        match pull(conn, fd, hangup) {
            Ok(Pulled::Some { more: true }) if conn.is_handshaking() => continue,
            Ok(Pulled::Eof) => {
                return Handshake::Broke(Broke::Closed { fin: true });
            }
            Ok(_) => break,
            Err(b) => return Handshake::Broke(b),
        }
    }
    if let Err(b) = push(conn, fd) {
        return Handshake::Broke(b);
    }
    if conn.is_handshaking() {
        Handshake::Pending
    } else {
        Handshake::Done {
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }
}

/// What a TLS connection agreed on, in words: `TLSv1_3
/// TLS13_AES_256_GCM_SHA384`, and `ALPN h2` when a protocol was.
fn agreed<D>(conn: &rustls::ConnectionCommon<D>) -> String {
    let mut s = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
        (Some(v), Some(c)) => format!("{v:?} {:?}", c.suite()),
        _ => "unknown".to_string(),
    };
    if let Some(p) = conn.alpn_protocol() {
        s += &format!(", ALPN {}", String::from_utf8_lossy(p));
    }
    s
}

/// A TLS connection's plaintext as a byte stream over its nonblocking
/// socket, for a layer above (WebSocket's): a read hands out what rustls
/// has decrypted, reading the socket when it has nothing (once, or on to
/// the end after a hang-up); a write gives plaintext to rustls and sends
/// its records as far as the socket takes them (`WouldBlock` when rustls'
/// buffer, [`BUFFER_LIMIT`], is full); `flush` is `WouldBlock` while
/// records wait for room. The peer's close_notify or FIN reads as the
/// end (0). What rustls allocates here is not the layer above's
/// (`c1m_sys::alloc`).
pub struct TlsIo<'a, D> {
    conn: &'a mut rustls::ConnectionCommon<D>,
    fd: &'a OwnedFd,
    hangup: bool,
    drained: bool,
}

impl<'a, D> TlsIo<'a, D> {
    /// `conn`'s plaintext over `fd`; `hangup`: the peer hung up in this
    /// event.
    pub fn new(conn: &'a mut rustls::ConnectionCommon<D>, fd: &'a OwnedFd, hangup: bool) -> Self {
        Self {
            conn,
            fd,
            hangup,
            drained: false,
        }
    }
}

fn would_block() -> std::io::Error {
    ErrorKind::WouldBlock.into()
}

impl<D> Read for TlsIo<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _below = c1m_sys::alloc::enter(false);
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The TCP connection ended without a close_notify.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.drained {
                return Err(would_block());
            }
            match pull(self.conn, self.fd, self.hangup) {
                Ok(Pulled::Some { more }) => self.drained = !more,
                Ok(Pulled::Drained) => return Err(would_block()),
                // Whatever came before it is read first.
                Ok(Pulled::Eof) => self.drained = true,
                Err(Broke::Closed { fin: true }) => return Ok(0),
                Err(Broke::Closed { fin: false }) => {
                    return Err(ErrorKind::ConnectionReset.into());
                }
                Err(Broke::Failed(e)) => return Err(std::io::Error::other(e)),
            }
        }
    }
}

impl<D> Write for TlsIo<'_, D> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _below = c1m_sys::alloc::enter(false);
        let n = self.conn.writer().write(buf)?;
        if push(self.conn, self.fd).is_err() {
            return Err(ErrorKind::BrokenPipe.into());
        }
        if n == 0 && !buf.is_empty() {
            return Err(would_block());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _below = c1m_sys::alloc::enter(false);
        match push(self.conn, self.fd) {
            Ok(true) => Ok(()),
            Ok(false) => Err(would_block()),
            Err(_) => Err(ErrorKind::BrokenPipe.into()),
        }
    }
}

/// What reading a held connection found.
#[derive(Debug)]
pub enum Recv {
    /// Nothing more for now.
    Drained,
    /// The peer closed: `fin` with a FIN (or a TLS close_notify), else a
    /// reset or a TLS failure.
    Closed {
        /// An orderly close.
        fin: bool,
    },
}

/// Reads what came on a held connection and hands the plaintext to
/// `sink`, `buf` at a time; sends what rustls has due (a key update's
/// answer).
fn recv<D>(
    conn: &mut rustls::ConnectionCommon<D>,
    fd: &OwnedFd,
    hangup: bool,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> Recv {
    loop {
        let pulled = pull(conn, fd, hangup);
        loop {
            match conn.reader().read(buf) {
                Ok(0) => return Recv::Closed { fin: true },
                Ok(n) => sink(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The TCP connection ended without a close_notify.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Recv::Closed { fin: true };
                }
                Err(_) => return Recv::Closed { fin: false },
            }
        }
        match pulled {
            Ok(Pulled::Some { more: true }) => continue,
            Ok(Pulled::Eof) => return Recv::Closed { fin: true },
            Ok(_) => {}
            Err(Broke::Closed { fin }) => return Recv::Closed { fin },
            Err(Broke::Failed(_)) => return Recv::Closed { fin: false },
        }
        return match push(conn, fd) {
            Ok(_) => Recv::Drained,
            Err(_) => Recv::Closed { fin: false },
        };
    }
}

/// What became of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// All of it was taken (its records sent, or queued to be when the
    /// socket has room).
    Whole,
    /// Not all: rustls' buffer is full (the peer stopped reading).
    Stalled,
    /// The connection is broken.
    Broken,
}

/// A worker's TLS connections by slot, each boxed (`None`: no TLS
/// state), with the count of those held and what was told the
/// supervisor once. `C` is rustls' `ClientConnection` or
/// `ServerConnection`.
struct Table<C> {
    conns: Vec<Option<Box<C>>>,
    /// Connections whose handshake is done.
    held: u64,
    /// Causes whose first failure was told the supervisor.
    told: Told,
    told_agreed: bool,
}

impl<C, D> Table<C>
where
    C: DerefMut<Target = rustls::ConnectionCommon<D>>,
{
    /// A table for slots below `slots`, none with TLS state.
    fn new(slots: usize) -> Self {
        let mut conns = Vec::new();
        conns.resize_with(slots, || None);
        Self {
            conns,
            held: 0,
            told: Told::default(),
            told_agreed: false,
        }
    }

    /// Slot `i`'s connection, when it has TLS state.
    fn conn(&mut self, i: usize) -> Option<&mut rustls::ConnectionCommon<D>> {
        self.conns.get_mut(i)?.as_deref_mut().map(|c| &mut **c)
    }

    /// Moves slot `i`'s handshake on (its socket is ready).
    fn handshake(&mut self, i: usize, fd: &OwnedFd, hangup: bool) -> Handshake {
        let Some(conn) = self.conn(i) else {
            return Handshake::Broke(Broke::Closed { fin: false });
        };
        let h = drive(conn, fd, hangup);
        if let Handshake::Done { .. } = h {
            self.held += 1;
        }
        h
    }

    /// What the first handshake agreed on, once (slot `i`'s).
    fn take_agreed(&mut self, i: usize) -> Option<String> {
        if self.told_agreed {
            return None;
        }
        self.told_agreed = true;
        self.conns[i].as_deref().map(|c| agreed(c))
    }

    /// Whether the first failure of `cause` is still to be told; true
    /// once per cause.
    fn first_of(&mut self, cause: Cause) -> bool {
        self.told.first_of(cause)
    }

    /// Slot `i`'s plaintext as a byte stream; `None` when it has no TLS
    /// state.
    fn io<'a>(&'a mut self, i: usize, fd: &'a OwnedFd, hangup: bool) -> Option<TlsIo<'a, D>> {
        Some(TlsIo::new(self.conn(i)?, fd, hangup))
    }

    /// Forgets slot `i`'s TLS state (its socket is being closed).
    fn forget(&mut self, i: usize) {
        if let Some(conn) = self.conns.get_mut(i).and_then(Option::take)
            && !conn.is_handshaking()
        {
            self.held -= 1;
        }
    }
}

/// A client worker's TLS connections, by connection number.
pub struct ClientSessions {
    config: Arc<ClientConfig>,
    spec: ClientTls,
    table: Table<ClientConnection>,
}

impl ClientSessions {
    /// A table for `count` connections; the configuration is made here,
    /// once.
    pub fn new(spec: &ClientTls, count: usize) -> anyhow::Result<Self> {
        Ok(Self {
            config: tls::client_config(spec)?,
            spec: spec.clone(),
            table: Table::new(count),
        })
    }

    /// TLS connections held (their handshake done).
    pub fn held(&self) -> u64 {
        self.table.held
    }

    /// Begins connection `i`'s handshake with `endpoint`, its TCP
    /// connection up: the ClientHello goes out (nothing can have come
    /// yet, so nothing is read).
    pub fn start(&mut self, i: usize, endpoint: std::net::SocketAddr, fd: &OwnedFd) -> Handshake {
        let name = self.spec.server_name(endpoint);
        let mut conn = match ClientConnection::new(self.config.clone(), name) {
            Ok(c) => Box::new(c),
            Err(e) => return Handshake::Broke(Broke::Failed(e)),
        };
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        let sent = push(&mut conn, fd);
        self.table.conns[i] = Some(conn);
        match sent {
            Ok(_) => Handshake::Pending,
            Err(b) => Handshake::Broke(b),
        }
    }

    /// Moves connection `i`'s handshake on (its socket is ready).
    pub fn handshake(&mut self, i: usize, fd: &OwnedFd, hangup: bool) -> Handshake {
        self.table.handshake(i, fd, hangup)
    }

    /// What the first handshake agreed on, once.
    pub fn take_agreed(&mut self, i: usize) -> Option<String> {
        self.table.take_agreed(i)
    }

    /// Whether the first failure of `cause` is still to be told; true
    /// once per cause.
    pub fn first_of(&mut self, cause: Cause) -> bool {
        self.table.first_of(cause)
    }

    /// Reads held connection `i`: its plaintext to `sink`.
    pub fn recv(
        &mut self,
        i: usize,
        fd: &OwnedFd,
        hangup: bool,
        buf: &mut [u8],
        sink: impl FnMut(&[u8]),
    ) -> Recv {
        match self.table.conns[i].as_deref_mut() {
            Some(conn) => recv(conn, fd, hangup, buf, sink),
            None => Recv::Closed { fin: false },
        }
    }

    /// Held connection `i`'s plaintext as a byte stream (for WebSocket);
    /// `None` when it has no TLS state.
    pub fn io<'a>(
        &'a mut self,
        i: usize,
        fd: &'a OwnedFd,
        hangup: bool,
    ) -> Option<TlsIo<'a, rustls::client::ClientConnectionData>> {
        self.table.io(i, fd, hangup)
    }

    /// Sends `bytes` on held connection `i`.
    pub fn send(&mut self, i: usize, fd: &OwnedFd, bytes: &[u8]) -> Sent {
        let Some(conn) = self.table.conns[i].as_deref_mut() else {
            return Sent::Broken;
        };
        let took = match conn.writer().write(bytes) {
            Ok(n) => n,
            Err(_) => return Sent::Broken,
        };
        match push(conn, fd) {
            Err(_) => Sent::Broken,
            Ok(_) if took < bytes.len() => Sent::Stalled,
            Ok(_) => Sent::Whole,
        }
    }

    /// Connection `i`'s socket has room: sends what waits. False when
    /// the connection is broken.
    pub fn writable(&mut self, i: usize, fd: &OwnedFd) -> bool {
        match self.table.conns[i].as_deref_mut() {
            Some(conn) => push(conn, fd).is_ok(),
            None => true,
        }
    }

    /// Forgets connection `i`'s TLS state (its socket is being closed).
    pub fn forget(&mut self, i: usize) {
        self.table.forget(i);
    }
}

/// A server worker's TLS connections, by descriptor number.
pub struct ServerSessions {
    config: Arc<ServerConfig>,
    table: Table<ServerConnection>,
}

/// What serving a TLS connection's readiness did.
#[derive(Debug)]
pub enum Served {
    /// Open; `secured`: its handshake ended in this turn (and resumed or
    /// not); `blocked`: its records wait for room in the socket.
    Open {
        /// The handshake ended now: `Some(resumed)`.
        secured: Option<bool>,
        /// Echoes wait for room to be sent.
        blocked: bool,
    },
    /// The peer closed: `fin` with a FIN or close_notify.
    Closed {
        /// An orderly close.
        fin: bool,
    },
    /// The handshake failed.
    Failed(rustls::Error),
}

impl ServerSessions {
    /// A table for descriptors below `slots`; the configuration is made
    /// here, once.
    pub fn new(spec: &tls::ServerTls, slots: usize) -> anyhow::Result<Self> {
        Ok(Self {
            config: tls::server_config(spec)?,
            table: Table::new(slots),
        })
    }

    /// TLS connections held (their handshake done).
    pub fn held(&self) -> u64 {
        self.table.held
    }

    /// A connection accepted on descriptor `slot`: its TLS begins.
    pub fn accepted(&mut self, slot: usize) -> Result<(), rustls::Error> {
        let mut conn = Box::new(ServerConnection::new(self.config.clone())?);
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        self.table.conns[slot] = Some(conn);
        Ok(())
    }

    /// As [`ClientSessions::first_of`].
    pub fn first_of(&mut self, cause: Cause) -> bool {
        self.table.first_of(cause)
    }

    /// What the first handshake agreed on, once.
    pub fn take_agreed(&mut self, slot: usize) -> Option<String> {
        self.table.take_agreed(slot)
    }

    /// Serves descriptor `slot`'s readiness: the handshake, then the
    /// plaintext, each piece of at most `buf`'s length handed to `each`,
    /// which says whether to send it back (echo) or `Err` to stop (a
    /// rule broken: the caller closes). Echoes are sent as records;
    /// while the socket takes no more, nothing more is read (the peer's
    /// sends then wait in the kernel, as for plain TCP).
    pub fn serve<E>(
        &mut self,
        slot: usize,
        fd: &OwnedFd,
        hangup: bool,
        buf: &mut [u8],
        mut each: impl FnMut(&[u8]) -> Result<bool, E>,
    ) -> Result<Served, E> {
        let Some(conn) = self.table.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
            return Ok(Served::Closed { fin: false });
        };
        let conn: &mut ServerConnection = conn;
        let was_handshaking = conn.is_handshaking();
        let mut secured = None;
        // Plaintext is taken in pieces an empty record buffer always has
        // room for, so an echo is never cut.
        let piece = buf.len().min(BUFFER_LIMIT / 2);
        let mut drained = false;
        loop {
            match push(conn, fd) {
                Err(Broke::Closed { fin }) => return Ok(Served::Closed { fin }),
                Err(Broke::Failed(e)) => return Ok(Served::Failed(e)),
                Ok(false) => {
                    return Ok(Served::Open {
                        secured,
                        blocked: true,
                    });
                }
                Ok(true) => {}
            }
            match conn.reader().read(&mut buf[..piece]) {
                Ok(0) => return Ok(Served::Closed { fin: true }),
                Ok(n) => {
                    if each(&buf[..n])? {
                        let _ = conn.writer().write(&buf[..n]);
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The TCP connection ended without a close_notify.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Ok(Served::Closed { fin: true });
                }
                Err(_) => return Ok(Served::Closed { fin: false }),
            }
            if drained {
                return Ok(Served::Open {
                    secured,
                    blocked: false,
                });
            }
            match pull(conn, fd, hangup) {
                Ok(Pulled::Some { more }) => drained = !more,
                Ok(Pulled::Drained) => drained = true,
                // Whatever came before the FIN is served first; the
                // reader then says how it ended.
                Ok(Pulled::Eof) => drained = true,
                Err(Broke::Closed { fin }) => return Ok(Served::Closed { fin }),
                Err(Broke::Failed(e)) if conn.is_handshaking() => return Ok(Served::Failed(e)),
                Err(Broke::Failed(_)) => return Ok(Served::Closed { fin: false }),
            }
            if was_handshaking && secured.is_none() && !conn.is_handshaking() {
                self.table.held += 1;
                secured = Some(conn.handshake_kind() == Some(HandshakeKind::Resumed));
            }
        }
    }

    /// Whether descriptor `slot`'s TLS handshake is under way.
    pub fn is_handshaking(&self, slot: usize) -> bool {
        self.table
            .conns
            .get(slot)
            .and_then(|c| c.as_deref())
            .is_some_and(|c| c.is_handshaking())
    }

    /// Moves descriptor `slot`'s handshake on (for a layer above that
    /// reads the plaintext itself, WebSocket's: see [`Self::io`]).
    pub fn handshake(&mut self, slot: usize, fd: &OwnedFd, hangup: bool) -> Handshake {
        self.table.handshake(slot, fd, hangup)
    }

    /// Descriptor `slot`'s plaintext as a byte stream, its handshake
    /// done; `None` when it has no TLS state.
    pub fn io<'a>(
        &'a mut self,
        slot: usize,
        fd: &'a OwnedFd,
        hangup: bool,
    ) -> Option<TlsIo<'a, rustls::server::ServerConnectionData>> {
        self.table.io(slot, fd, hangup)
    }

    /// Forgets descriptor `slot`'s TLS state (its socket is being
    /// closed).
    pub fn forget(&mut self, slot: usize) {
        self.table.forget(slot);
    }
}
