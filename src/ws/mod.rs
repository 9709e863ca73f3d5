//! WebSocket on c1m's connections, sans I/O: what a worker's WebSocket
//! layer is made of (the specs the supervisor sends: the path, the
//! headers, how heartbeats travel), the HTTP/1.1 upgrade both ways (the
//! request a client sends and the checks of the answer; a server's
//! answer to a request), the protocol's settings, and why an upgrade
//! failed, in words.
//!
//! The protocol itself is tungstenite's: its `WebSocketContext` (frames,
//! masking, ping and pong, close) is driven on the worker's own sockets
//! (`worker/ws.rs`), plain or under c1m's TLS, and the upgrade uses its
//! handshake pieces (the request's bytes, the response and request
//! parsers, `Sec-WebSocket-Accept`). Its whole client handshake machine
//! is not used: it owns its stream and reads through 4 KiB chunks, where
//! c1m's workers keep every socket in one table and read into one
//! buffer.
//!
//! **Memory.** A context is allocated per connection once its upgrade is
//! done and freed at its close. Measured here (glibc's count of bytes in
//! use, mallinfo2(3), over 2,000 contexts, one 16-byte heartbeat each
//! way through each): `size_of` 256 B; with a read buffer of 128 B, 423 B
//! made and 1,027 B after a heartbeat (the frame's write buffer and the
//! read buffer's reshaping are kept); with tungstenite's default 128 KiB
//! read buffer, 131,971 B — 123 GiB at 1M connections, which c1m cannot
//! afford, hence [`READ_BUFFER`]. At 1 KiB a connection, 1M cost 1 GiB a
//! side, a quarter of the kernel's own 4 KiB a socket.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use tungstenite::handshake::machine::TryParse;
use tungstenite::http;
use tungstenite::protocol::WebSocketConfig;

/// The read buffer of each connection's context, bytes: tungstenite reads
/// at most this much at a time, and grows it only for a frame longer than
/// this (back to its size once the frame is read). A heartbeat's frame
/// (16 bytes and a 2-byte header from a server, 6 more from a client)
/// fits many times.
pub const READ_BUFFER: usize = 128;

/// The most an upgrade's request or response headers may take, bytes;
/// longer is refused (a server answers 431).
pub const MAX_HEAD: usize = 8 * 1024;

/// How a client's heartbeats travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heartbeat {
    /// A ping frame carrying the message; the reply is the pong, whose
    /// payload must be the ping's (RFC 6455 §5.5.3). At most 125 bytes.
    Ping,
    /// A text frame carrying the message (UTF-8), echoed back by the
    /// server in a text frame.
    Text,
}

impl Heartbeat {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Heartbeat::Ping => "ping",
            Heartbeat::Text => "text",
        }
    }
}

/// A client worker's WebSocket layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientWs {
    /// The request's path (and query): `/echo`.
    pub path: String,
    /// Extra request headers, in order (`--header`); a `Host` among them
    /// replaces the target's.
    pub headers: Vec<(String, String)>,
    /// How heartbeats travel.
    pub heartbeat: Heartbeat,
    /// The target names, by the address each resolved to: the `Host` of a
    /// connection to that address (its address otherwise).
    pub names: Vec<(IpAddr, String)>,
}

impl ClientWs {
    /// The `Host` header of a connection to `endpoint`: the target's name
    /// (or address) and port, as RFC 7230 §5.4 writes it.
    pub fn host(&self, endpoint: SocketAddr) -> String {
        let name = self
            .names
            .iter()
            .find(|(ip, _)| *ip == endpoint.ip())
            .map(|(_, n)| n.clone());
        match (name, endpoint.ip()) {
            (Some(n), _) => format!("{n}:{}", endpoint.port()),
            (None, IpAddr::V6(ip)) => format!("[{ip}]:{}", endpoint.port()),
            (None, ip) => format!("{ip}:{}", endpoint.port()),
        }
    }

    /// The upgrade request of a connection to `endpoint`, and the
    /// `Sec-WebSocket-Accept` its answer must carry. The key is random
    /// for each request (tungstenite's `generate_key`).
    pub fn request(&self, endpoint: SocketAddr) -> Result<(Vec<u8>, String), String> {
        let key = tungstenite::handshake::client::generate_key();
        let own_host = !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        let mut b = http::Request::builder()
            .method("GET")
            .uri(self.path.as_str());
        if own_host {
            b = b.header("Host", self.host(endpoint));
        }
        for (n, v) in &self.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        let req = b
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", key.as_str())
            .body(())
            .map_err(|e| e.to_string())?;
        let (bytes, key) =
            tungstenite::handshake::client::generate_request(req).map_err(|e| e.to_string())?;
        Ok((
            bytes,
            tungstenite::handshake::derive_accept_key(key.as_bytes()),
        ))
    }

    /// How the client speaks WebSocket, in words for the report.
    pub fn words(&self) -> String {
        let headers = match self.headers.len() {
            0 => String::new(),
            1 => ", 1 header".to_string(),
            n => format!(", {n} headers"),
        };
        let beats = match self.heartbeat {
            Heartbeat::Ping => "heartbeats as ping frames (the pong checked)",
            Heartbeat::Text => "heartbeats as text frames (the echo checked)",
        };
        format!("GET {}{headers}; {beats}", self.path)
    }
}

/// The protocol's settings for one connection: [`READ_BUFFER`], every
/// frame written at once, at most `max_message` bytes a message and a
/// frame (a longer one is refused: tungstenite's capacity error), and at
/// most `max_unsent` bytes of frames waiting for the socket.
pub fn config(max_message: usize, max_unsent: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(max_unsent.max(1))
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// Why an upgrade failed, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The server answered with this HTTP status instead of 101.
    Status(u16),
    /// The answer was 101 but not a WebSocket one (no `Upgrade:
    /// websocket`, a wrong `Sec-WebSocket-Accept`), or not HTTP: in words.
    Handshake(String),
}

/// Checks a server's answer to an upgrade whose key gave `accept`, from
/// the bytes so far: `Ok(None)` while its headers are not whole,
/// `Ok(Some(n))` when they are, in `n` bytes (what follows is the
/// server's first frames), `Err` when refused. Never panics.
pub fn check_response(buf: &[u8], accept: &str) -> Result<Option<usize>, Refused> {
    let parsed = tungstenite::handshake::client::Response::try_parse(buf)
        .map_err(|e| Refused::Handshake(format!("the answer is not HTTP/1.1: {e}")))?;
    let Some((n, resp)) = parsed else {
        if buf.len() > MAX_HEAD {
            return Err(Refused::Handshake(format!(
                "the answer's headers are over {MAX_HEAD} bytes"
            )));
        }
        return Ok(None);
    };
    if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(Refused::Status(resp.status().as_u16()));
    }
    let h = resp.headers();
    let has = |name: &str, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has("Upgrade", "websocket") {
        return Err(Refused::Handshake(
            "101 without `Upgrade: websocket`".to_string(),
        ));
    }
    if !has("Connection", "upgrade") {
        return Err(Refused::Handshake(
            "101 without `Connection: Upgrade`".to_string(),
        ));
    }
    match h.get("Sec-WebSocket-Accept") {
        Some(v) if v.as_bytes() == accept.as_bytes() => Ok(Some(n)),
        Some(v) => Err(Refused::Handshake(format!(
            "Sec-WebSocket-Accept {:?} does not answer the key sent (expected {accept})",
            String::from_utf8_lossy(v.as_bytes())
        ))),
        None => Err(Refused::Handshake(
            "101 without Sec-WebSocket-Accept".to_string(),
        )),
    }
}

/// What [`answer`] makes of a request so far: `Ok(None)` (not whole
/// yet), `Ok(Some((bytes of the request, the 101)))`, or `Err((why, the
/// refusal to send))`.
pub type Answered = Result<Option<(usize, Vec<u8>)>, (String, Vec<u8>)>;

/// A server's answer to an upgrade request, from the bytes so far:
/// `Ok(None)` while the request's headers are not whole; `Ok(Some((n,
/// answer)))` when they are, in `n` bytes, and are a WebSocket upgrade
/// (the answer is the 101 to send); `Err((why, answer))` when not (the
/// answer is a 400, or a 431 for headers over [`MAX_HEAD`], to send
/// before closing). Never panics.
pub fn answer(buf: &[u8]) -> Answered {
    let refuse = |status: &str, why: String| {
        let text = format!(
            "HTTP/1.1 {status}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        Err((why, text.into_bytes()))
    };
    let parsed = match tungstenite::handshake::server::Request::try_parse(buf) {
        Ok(p) => p,
        Err(e) => return refuse("400 Bad Request", format!("not an HTTP/1.1 GET: {e}")),
    };
    let Some((n, req)) = parsed else {
        if buf.len() > MAX_HEAD {
            return refuse(
                "431 Request Header Fields Too Large",
                format!("request headers over {MAX_HEAD} bytes"),
            );
        }
        return Ok(None);
    };
    let resp = match tungstenite::handshake::server::create_response(&req) {
        Ok(r) => r,
        Err(e) => return refuse("400 Bad Request", format!("not a WebSocket upgrade: {e}")),
    };
    let mut out = Vec::with_capacity(160);
    match tungstenite::handshake::server::write_response(&mut out, &resp) {
        Ok(()) => Ok(Some((n, out))),
        Err(e) => refuse("400 Bad Request", e.to_string()),
    }
}

/// What an HTTP status answering an upgrade means, and what to do about
/// it: one line.
pub fn status_words(status: u16) -> &'static str {
    match status {
        200 => "the server answered as to a plain HTTP request: no WebSocket endpoint at this path",
        300..=399 => {
            "the server redirects the path elsewhere (see its Location): give that path with --websocket"
        }
        400 => "the server found the upgrade request malformed, or its headers not acceptable",
        401 | 407 => {
            "the server wants credentials: give them with --header (e.g. Authorization:...)"
        }
        403 => {
            "the server forbids the upgrade: a missing or wrong credential, Origin or header (--header)"
        }
        404 => "no WebSocket endpoint at this path: give the right one with --websocket PATH",
        405 => "the server does not take GET at this path",
        426 => "the server wants another protocol version or TLS (--tls)",
        429 => "the server limits the rate of upgrades: lower --rate",
        500..=501 => "the server failed on the upgrade (an internal error)",
        502 | 504 => {
            "a proxy in front could not reach its upstream WebSocket server (down, or full)"
        }
        503 => "the server is overloaded or at its cap: it refused the upgrade",
        _ => "the server refused the upgrade with this status",
    }
}

/// The reason phrase of a status (`Forbidden`), or empty.
pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Parses `--websocket PATH`: a path that starts with `/`, with any query.
pub fn parse_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err(format!(
            "{text:?} is not a path: it must start with / (e.g. /ws or /echo?room=1)"
        ));
    }
    match text.parse::<http::uri::PathAndQuery>() {
        Ok(p) if p.as_str() == text => Ok(text.to_string()),
        _ => Err(format!(
            "{text:?} is not a valid request path (spaces and control characters must be %-encoded)"
        )),
    }
}

/// Headers c1m writes itself in every upgrade request: `--header` may not
/// set them.
const OWN_HEADERS: [&str; 4] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
];

/// Parses `--header NAME:VALUE` into a valid HTTP header name and value.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!(
            "{text:?} is not NAME:VALUE (e.g. Authorization:Bearer abc, Origin:https://example.com)"
        ));
    };
    let (name, value) = (name.trim(), value.trim());
    http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!("{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    })?;
    http::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of {name} has a control character or a line break"))?;
    if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{name} is written by c1m itself in every upgrade request; leave it out"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests;
