//! WebSocket in a worker's own event loop: tungstenite's protocol
//! (`WebSocketContext`: frames, masking, ping and pong, close) driven on
//! the worker's nonblocking sockets, plain or under TLS, through
//! [`super::transport::Io`], as epoll says they are ready; no thread or
//! task per connection.
//!
//! Each connection's WebSocket state is boxed in a table of its own, by
//! the worker's slot (a client's connection number, a server's
//! descriptor number): 8 bytes a slot, made only under `--websocket`.
//! During the upgrade it is the bytes of the request or answer read so
//! far (and, for a client, the `Sec-WebSocket-Accept` it awaits); once
//! upgraded, tungstenite's context with a read buffer of
//! [`crate::ws::READ_BUFFER`] bytes (about 1 KiB a connection in all:
//! `crate::ws`'s figures). It is freed at the connection's close. Every
//! allocation this layer makes is counted as the WebSocket layer's
//! (`c1m_sys::alloc`; the layers below are not), so the report can split
//! a connection's user memory by layer.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use c1m_sys::alloc;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Bytes, Message, Utf8Bytes};

use super::Told;
use super::tls::{Recv, Sent};
use crate::cause::Cause;
use crate::ws::{self, ClientWs, Heartbeat, Refused};

/// A connection's WebSocket state. Boxed whole in the table (one
/// allocation a connection), so the upgrade's smaller variant costs only
/// while the upgrade lasts.
#[allow(clippy::large_enum_variant)]
enum State {
    /// The upgrade under way: the bytes read so far, and (client) the
    /// `Sec-WebSocket-Accept` the answer must carry.
    Upgrading { got: Vec<u8>, accept: String },
    /// Upgraded.
    Open(WebSocketContext),
}

fn is_blocked(e: &WsError) -> bool {
    matches!(e, WsError::Io(io) if io.kind() == ErrorKind::WouldBlock)
}

/// How a connection's upgrade stands.
#[derive(Debug)]
pub enum Upgrade {
    /// Waiting for the peer.
    Pending,
    /// Done: the connection speaks WebSocket.
    Done,
    /// Refused: by `cause` (with the HTTP status, for `WsStatus`), in
    /// words.
    Refused {
        /// The cause it counts under.
        cause: Cause,
        /// What went wrong.
        detail: String,
    },
    /// The peer closed (`fin`) or reset the connection meanwhile.
    Closed {
        /// A FIN, not a reset.
        fin: bool,
    },
}

/// The message bytes of a client's heartbeats, made once per worker and
/// shared by every send (a `Bytes` clone is a count, not a copy).
fn shared(message: &[u8]) -> Bytes {
    Bytes::from_static(Box::leak(message.to_vec().into_boxed_slice()))
}

/// A client worker's WebSocket connections, by connection number.
pub struct ClientLayer {
    spec: ClientWs,
    config: WebSocketConfig,
    conns: Vec<Option<Box<State>>>,
    held: u64,
    message: Bytes,
    text: Option<Utf8Bytes>,
    statuses: Vec<(u16, u64)>,
    statuses_changed: bool,
    told: Told,
}

impl ClientLayer {
    /// A table for `count` connections whose heartbeats carry `message`.
    pub fn new(spec: &ClientWs, count: usize, message: &[u8]) -> Self {
        let mut conns = Vec::new();
        conns.resize_with(count, || None);
        let message = shared(message);
        let text = Utf8Bytes::try_from(message.clone()).ok();
        // One heartbeat waiting for room, and a pong or close beside it;
        // a second is refused (lost) rather than queued.
        let frame = message.len() + 14;
        Self {
            spec: spec.clone(),
            // A server's message may be up to 64 KiB (what `c1m serve`
            // takes by default), or the heartbeat's size; a longer one
            // ends the connection (tungstenite's capacity error).
            config: ws::config((64 * 1024).max(message.len()), 2 * frame + 256),
            conns,
            held: 0,
            message,
            text,
            statuses: Vec::new(),
            statuses_changed: false,
            told: Told::default(),
        }
    }

    /// Connections upgraded and held.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Whether the first failure of `cause` is still to be told; true
    /// once per cause.
    pub fn first_of(&mut self, cause: Cause) -> bool {
        self.told.first_of(cause)
    }

    /// The statuses upgrades were refused with, when they changed since
    /// the last call (the whole tally).
    pub fn take_statuses(&mut self) -> Option<Vec<(u16, u64)>> {
        std::mem::take(&mut self.statuses_changed).then(|| self.statuses.clone())
    }

    /// Connection `i` to `endpoint` is up (TCP, and TLS under it): its
    /// upgrade request goes out.
    pub fn start(&mut self, i: usize, endpoint: SocketAddr, io: &mut impl Write) -> Upgrade {
        let _ws = alloc::enter(true);
        let (request, accept) = match self.spec.request(endpoint) {
            Ok(r) => r,
            Err(e) => {
                return Upgrade::Refused {
                    cause: Cause::WsHandshake,
                    detail: format!("the upgrade request could not be made: {e}"),
                };
            }
        };
        // A new connection's socket (or TLS's buffer) takes a request of
        // a few hundred bytes whole.
        let sent = io.write_all(&request).and_then(|()| io.flush());
        self.conns[i] = Some(Box::new(State::Upgrading {
            got: Vec::new(),
            accept,
        }));
        match sent {
            Ok(()) => Upgrade::Pending,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Upgrade::Pending,
            Err(e) => Upgrade::Closed {
                fin: e.kind() != ErrorKind::ConnectionReset,
            },
        }
    }

    /// Reads connection `i`'s answer to its upgrade, as far as it came.
    pub fn upgrade(&mut self, i: usize, io: &mut impl Read, buf: &mut [u8]) -> Upgrade {
        let _ws = alloc::enter(true);
        let Some(state) = self.conns[i].as_deref_mut() else {
            return Upgrade::Closed { fin: false };
        };
        let State::Upgrading { got, accept } = state else {
            return Upgrade::Done;
        };
        loop {
            let n = match io.read(buf) {
                Ok(0) => return Upgrade::Closed { fin: true },
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Upgrade::Pending,
                Err(e) if e.kind() == ErrorKind::Other => {
                    return Upgrade::Refused {
                        cause: Cause::WsHandshake,
                        detail: format!("TLS failed during the upgrade: {e}"),
                    };
                }
                Err(_) => return Upgrade::Closed { fin: false },
            };
            got.extend_from_slice(&buf[..n]);
            match ws::check_response(got, accept) {
                Ok(None) => continue,
                Ok(Some(head)) => {
                    let tail = got[head..].to_vec();
                    let ctx = WebSocketContext::from_partially_read(
                        tail,
                        Role::Client,
                        Some(self.config),
                    );
                    *state = State::Open(ctx);
                    self.held += 1;
                    return Upgrade::Done;
                }
                Err(Refused::Status(status)) => {
                    match self.statuses.iter_mut().find(|(s, _)| *s == status) {
                        Some((_, n)) => *n += 1,
                        None => self.statuses.push((status, 1)),
                    }
                    self.statuses_changed = true;
                    return Upgrade::Refused {
                        cause: Cause::WsStatus,
                        detail: format!("HTTP {status} {}", ws::reason(status)),
                    };
                }
                Err(Refused::Handshake(detail)) => {
                    return Upgrade::Refused {
                        cause: Cause::WsHandshake,
                        detail,
                    };
                }
            }
        }
    }

    fn open(&mut self, i: usize) -> Option<&mut WebSocketContext> {
        match self.conns.get_mut(i)?.as_deref_mut()? {
            State::Open(ctx) => Some(ctx),
            State::Upgrading { .. } => None,
        }
    }

    /// Reads what held connection `i` has: each reply's payload (a pong's
    /// in ping mode, a text or binary message's in text mode) goes to
    /// `sink`; a ping from the server is answered (tungstenite queues the
    /// pong), a close frame is answered and ends the connection.
    pub fn recv(
        &mut self,
        i: usize,
        io: &mut (impl Read + Write),
        mut sink: impl FnMut(&[u8]),
    ) -> Recv {
        let heartbeat = self.spec.heartbeat;
        let _ws = alloc::enter(true);
        let Some(ctx) = self.open(i) else {
            return Recv::Closed { fin: false };
        };
        loop {
            match ctx.read(io) {
                Ok(Message::Pong(p)) if heartbeat == Heartbeat::Ping => sink(&p),
                Ok(Message::Text(t)) if heartbeat == Heartbeat::Text => sink(t.as_bytes()),
                Ok(Message::Binary(b)) if heartbeat == Heartbeat::Text => sink(&b),
                Ok(Message::Close(_)) => {
                    // The server ends it: its close frame is answered (as
                    // far as the socket takes it) and the socket closed.
                    let _ = ctx.flush(io);
                    return Recv::Closed { fin: true };
                }
                Ok(_) => {}
                Err(e) if is_blocked(&e) => {
                    // A pong owed to the server's ping goes out now.
                    return match ctx.flush(io) {
                        Ok(()) => Recv::Drained,
                        Err(e) if is_blocked(&e) => Recv::Drained,
                        Err(_) => Recv::Closed { fin: false },
                    };
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    return Recv::Closed { fin: true };
                }
                // A FIN with no close frame before it.
                Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    return Recv::Closed { fin: true };
                }
                Err(_) => return Recv::Closed { fin: false },
            }
        }
    }

    /// Sends a heartbeat on held connection `i`: the message in a ping or
    /// a text frame, masked (RFC 6455 §5.3: tungstenite masks every
    /// client frame). A frame the socket cannot take yet waits in the
    /// context and goes with the next writable event; one more than that
    /// is refused (`Stalled`: lost).
    pub fn send(&mut self, i: usize, io: &mut (impl Read + Write)) -> Sent {
        let msg = match (self.spec.heartbeat, &self.text) {
            (Heartbeat::Ping, _) => Message::Ping(self.message.clone()),
            (Heartbeat::Text, Some(t)) => Message::Text(t.clone()),
            (Heartbeat::Text, None) => Message::Binary(self.message.clone()),
        };
        self.send_message(i, io, msg)
    }

    /// Sends `bytes` once on held connection `i` (`--first-message`), in
    /// a text frame (binary when not UTF-8).
    pub fn send_once(&mut self, i: usize, io: &mut (impl Read + Write), bytes: &[u8]) -> Sent {
        let _ws = alloc::enter(true);
        let msg = match std::str::from_utf8(bytes) {
            Ok(t) => Message::text(t),
            Err(_) => Message::binary(bytes.to_vec()),
        };
        self.send_message(i, io, msg)
    }

    fn send_message(&mut self, i: usize, io: &mut (impl Read + Write), msg: Message) -> Sent {
        let _ws = alloc::enter(true);
        let Some(ctx) = self.open(i) else {
            return Sent::Broken;
        };
        match ctx.write(io, msg).and_then(|()| ctx.flush(io)) {
            Ok(()) => Sent::Whole,
            Err(e) if is_blocked(&e) => Sent::Whole,
            Err(WsError::WriteBufferFull(_)) => Sent::Stalled,
            Err(_) => Sent::Broken,
        }
    }

    /// Connection `i`'s socket has room: the frames that waited go. False
    /// when the connection is broken.
    pub fn writable(&mut self, i: usize, io: &mut (impl Read + Write)) -> bool {
        let _ws = alloc::enter(true);
        match self.open(i) {
            Some(ctx) => match ctx.flush(io) {
                Ok(()) => true,
                Err(e) => is_blocked(&e),
            },
            None => true,
        }
    }

    /// Sends held connection `i` a close frame, 1000 (normal closure), as
    /// far as the socket takes it now: the teardown's last word.
    pub fn close(&mut self, i: usize, io: &mut (impl Read + Write)) {
        let _ws = alloc::enter(true);
        if let Some(ctx) = self.open(i) {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: Utf8Bytes::from_static(""),
            };
            let _ = ctx.close(io, Some(frame));
        }
    }

    /// Forgets connection `i`'s WebSocket state (its socket is being
    /// closed).
    pub fn forget(&mut self, i: usize) {
        let _ws = alloc::enter(true);
        if let Some(state) = self.conns.get_mut(i).and_then(Option::take)
            && matches!(*state, State::Open(_))
        {
            self.held -= 1;
        }
    }
}

/// What serving a WebSocket connection's readiness did.
#[derive(Debug)]
pub enum Served {
    /// Open. `upgraded`: its upgrade ended in this turn; `blocked`: its
    /// echoes wait for room (read no more until then); `active`: a
    /// message or a ping came whole; `echoed`: payload bytes echoed.
    Open {
        /// The upgrade ended now.
        upgraded: bool,
        /// Frames wait for room in the socket.
        blocked: bool,
        /// A message or ping came whole.
        active: bool,
        /// Payload bytes echoed.
        echoed: u64,
    },
    /// The peer closed: with a close frame or a FIN (`fin`), or reset.
    Closed {
        /// An orderly close.
        fin: bool,
    },
    /// The peer's request was not a WebSocket upgrade: answered 400 (or
    /// 431), to be closed.
    Refused(String),
    /// A message longer than `--max-message`.
    Oversized,
    /// The peer broke the protocol once upgraded (tungstenite's words).
    Broke(String),
}

/// A server worker's WebSocket connections, by descriptor number.
pub struct ServerLayer {
    config: WebSocketConfig,
    conns: Vec<Option<Box<State>>>,
    held: u64,
    told: Told,
}

impl ServerLayer {
    /// A table for descriptors below `slots`; messages up to
    /// `max_message` bytes, echoes waiting up to `max_unsent`.
    pub fn new(slots: usize, max_message: u64, max_unsent: u64) -> Self {
        let mut conns = Vec::new();
        conns.resize_with(slots, || None);
        let max_message = max_message.min(usize::MAX as u64 / 4) as usize;
        // One echo waiting for room, and the control frames beside it.
        let unsent = (max_unsent.min(usize::MAX as u64 / 4) as usize).max(max_message + 1024);
        Self {
            config: ws::config(max_message, unsent),
            conns,
            held: 0,
            told: Told::default(),
        }
    }

    /// Connections upgraded and held.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// As [`ClientLayer::first_of`].
    pub fn first_of(&mut self, cause: Cause) -> bool {
        self.told.first_of(cause)
    }

    /// A connection accepted on descriptor `slot`: its upgrade request is
    /// awaited.
    pub fn accepted(&mut self, slot: usize) {
        let _ws = alloc::enter(true);
        self.conns[slot] = Some(Box::new(State::Upgrading {
            got: Vec::new(),
            accept: String::new(),
        }));
    }

    /// Serves descriptor `slot`'s readiness through `io`: the upgrade
    /// (its request read into `buf`, then answered), then each message
    /// echoed as it came (text as text, binary as binary; `echo` false:
    /// read and dropped), pings answered, a close answered. While echoes
    /// wait for room nothing more is read, so a peer's sends wait in the
    /// kernel as for plain TCP.
    pub fn serve(
        &mut self,
        slot: usize,
        io: &mut (impl Read + Write),
        echo: bool,
        buf: &mut [u8],
    ) -> Served {
        let _ws = alloc::enter(true);
        let config = self.config;
        let Some(state) = self.conns.get_mut(slot).and_then(|c| c.as_deref_mut()) else {
            return Served::Closed { fin: false };
        };
        let mut upgraded = false;
        if let State::Upgrading { got, .. } = state {
            loop {
                let n = match io.read(buf) {
                    Ok(0) => return Served::Closed { fin: true },
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return Served::Open {
                            upgraded: false,
                            blocked: false,
                            active: false,
                            echoed: 0,
                        };
                    }
                    Err(_) => return Served::Closed { fin: false },
                };
                got.extend_from_slice(&buf[..n]);
                match ws::answer(got) {
                    Ok(None) => continue,
                    Ok(Some((head, answer))) => {
                        // An empty socket (or TLS buffer) takes a 101 of a
                        // few hundred bytes whole.
                        if io.write_all(&answer).and_then(|()| io.flush()).is_err() {
                            return Served::Closed { fin: false };
                        }
                        let tail = got[head..].to_vec();
                        *state = State::Open(WebSocketContext::from_partially_read(
                            tail,
                            Role::Server,
                            Some(config),
                        ));
                        self.held += 1;
                        upgraded = true;
                        break;
                    }
                    Err((why, answer)) => {
                        let _ = io.write_all(&answer).and_then(|()| io.flush());
                        return Served::Refused(why);
                    }
                }
            }
        }
        let State::Open(ctx) = state else {
            return Served::Closed { fin: false };
        };
        let (mut active, mut echoed) = (false, 0u64);
        let open = |blocked, active, echoed| Served::Open {
            upgraded,
            blocked,
            active,
            echoed,
        };
        // Echoes that waited go first; none waiting, read.
        match ctx.flush(io) {
            Ok(()) => {}
            Err(e) if is_blocked(&e) => return open(true, false, 0),
            Err(_) => return Served::Closed { fin: false },
        }
        loop {
            let echo_of = match ctx.read(io) {
                Ok(Message::Text(t)) => {
                    active = true;
                    (t.len() as u64, Message::Text(t))
                }
                Ok(Message::Binary(b)) => {
                    active = true;
                    (b.len() as u64, Message::Binary(b))
                }
                Ok(Message::Ping(_)) => {
                    // Its pong is queued; it goes with the next flush.
                    active = true;
                    continue;
                }
                Ok(Message::Close(_)) => {
                    // Answered; the server closes the TCP connection
                    // first (RFC 6455 §7.1.1).
                    let _ = ctx.flush(io);
                    return Served::Closed { fin: true };
                }
                Ok(_) => continue,
                Err(e) if is_blocked(&e) => {
                    return match ctx.flush(io) {
                        Ok(()) => open(false, active, echoed),
                        Err(e) if is_blocked(&e) => open(true, active, echoed),
                        Err(_) => Served::Closed { fin: false },
                    };
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    return Served::Closed { fin: true };
                }
                Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    return Served::Closed { fin: true };
                }
                Err(WsError::Io(e)) => {
                    return Served::Closed {
                        fin: e.kind() != ErrorKind::ConnectionReset,
                    };
                }
                Err(WsError::Capacity(_)) => return Served::Oversized,
                Err(e) => return Served::Broke(e.to_string()),
            };
            if !echo {
                continue;
            }
            let (len, msg) = echo_of;
            match ctx.write(io, msg) {
                Ok(()) => echoed += len,
                // Queued in the context: it goes when there is room, and
                // nothing more is read until then.
                Err(e) if is_blocked(&e) => return open(true, active, echoed + len),
                Err(WsError::WriteBufferFull(_)) => return open(true, active, echoed),
                Err(_) => return Served::Closed { fin: false },
            }
        }
    }

    /// Forgets descriptor `slot`'s WebSocket state (its socket is being
    /// closed).
    pub fn forget(&mut self, slot: usize) {
        let _ws = alloc::enter(true);
        if let Some(state) = self.conns.get_mut(slot).and_then(Option::take)
            && matches!(*state, State::Open(_))
        {
            self.held -= 1;
        }
    }
}
