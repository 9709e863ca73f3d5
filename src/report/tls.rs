//! The report's TLS part (`--tls`): how the clients checked certificates,
//! what c1m's servers presented, what the handshakes agreed on, and the
//! first failure of each cause in rustls' words. The counts are
//! elsewhere, in their usual places: handshakes and resumptions in the
//! workers' counters (`clients.tls_handshakes`, `clients.tls_resumed`),
//! failures by cause in `clients.failed` (`tls_certificate`, …), the
//! handshake's time in `latency.tls_handshake`, and the user memory of
//! TLS state in `memory.clients.tls_heap` (and `servers`).
//!
//! The WebSocket part (`--websocket`, [`WsReport`]) is here too: how
//! each side spoke it, the HTTP statuses upgrades were refused with, and
//! the first failure of each cause in words; its counts are in the same
//! places (`clients.ws_upgrades`, `clients.failed.ws_status`, …,
//! `latency.ws_upgrade`, `memory.clients.ws_heap`).
//!
//! Data only, as the rest of the model.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cause::Cause;

/// TLS on the connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsReport {
    /// How c1m's clients checked the servers' certificates, in words
    /// (whom they trusted, the name checked, resumption, ALPN); null
    /// without c1m's clients (`serve`).
    pub clients: Option<String>,
    /// What c1m's servers presented, in words; null without c1m's
    /// servers (`connect`).
    pub servers: Option<String>,
    /// What the handshakes agreed on, as the first to complete told it:
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384` (and the ALPN protocol, when
    /// one was); null when none completed.
    pub agreed: Option<String>,
    /// The first failure of each cause on each side, in rustls' words.
    pub examples: Vec<TlsExample>,
}

/// One TLS failure, as rustls put it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsExample {
    /// Which side saw it: `client` or `server`.
    pub side: String,
    /// The cause it was counted under.
    pub cause: Cause,
    /// rustls' words (`invalid peer certificate: UnknownIssuer`).
    pub detail: String,
}

/// The example of `cause` on `side` among `examples`, if one was told.
fn example_in<'a>(examples: &'a [TlsExample], side: &str, cause: Cause) -> Option<&'a str> {
    examples
        .iter()
        .find(|e| e.side == side && e.cause == cause)
        .map(|e| e.detail.as_str())
}

/// Adds to `into` each example of `from` whose side and cause it has
/// none of yet (the first of each is kept).
fn add_examples(into: &mut Vec<TlsExample>, from: &[TlsExample]) {
    for e in from {
        if example_in(into, &e.side, e.cause).is_none() {
            into.push(e.clone());
        }
    }
}

impl TlsReport {
    /// The example of `cause` on `side`, if one was told.
    pub fn example(&self, side: &str, cause: Cause) -> Option<&str> {
        example_in(&self.examples, side, cause)
    }
}

/// WebSocket on the connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsReport {
    /// How c1m's clients spoke WebSocket, in words (the path, headers,
    /// how heartbeats travel); null without c1m's clients.
    pub clients: Option<String>,
    /// What c1m's servers did, in words; null without c1m's servers.
    pub servers: Option<String>,
    /// The HTTP statuses upgrades were refused with (their sum is
    /// `clients.failed.ws_status`), by status.
    pub statuses: Vec<WsStatus>,
    /// The first failure of each cause on each side, in words.
    pub examples: Vec<TlsExample>,
}

/// Upgrades refused with one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsStatus {
    /// The status (`403`).
    pub status: u16,
    /// Its reason phrase (`Forbidden`).
    pub reason: String,
    /// How many upgrades got it.
    pub count: u64,
    /// What it means and what to do, one line.
    pub meaning: String,
}

impl WsReport {
    /// The example of `cause` on `side`, if one was told.
    pub fn example(&self, side: &str, cause: Cause) -> Option<&str> {
        example_in(&self.examples, side, cause)
    }
}

/// Several shards' WebSocket parts as one: the first's words, statuses
/// summed, every side's first example of each cause; `None` when no
/// shard had WebSocket.
pub fn merged_ws<'a>(parts: impl Iterator<Item = Option<&'a WsReport>>) -> Option<WsReport> {
    let mut out: Option<WsReport> = None;
    for p in parts.flatten() {
        match &mut out {
            None => out = Some(p.clone()),
            Some(o) => {
                o.clients = o.clients.take().or_else(|| p.clients.clone());
                o.servers = o.servers.take().or_else(|| p.servers.clone());
                for s in &p.statuses {
                    match o.statuses.iter_mut().find(|x| x.status == s.status) {
                        Some(x) => x.count += s.count,
                        None => o.statuses.push(s.clone()),
                    }
                }
                o.statuses.sort_by_key(|s| s.status);
                add_examples(&mut o.examples, &p.examples);
            }
        }
    }
    out
}

/// Several shards' TLS parts as one: the first's words, every side's
/// first example of each cause; `None` when no shard had TLS.
pub fn merged<'a>(parts: impl Iterator<Item = Option<&'a TlsReport>>) -> Option<TlsReport> {
    let mut out: Option<TlsReport> = None;
    for p in parts.flatten() {
        match &mut out {
            None => out = Some(p.clone()),
            Some(o) => {
                o.clients = o.clients.take().or_else(|| p.clients.clone());
                o.servers = o.servers.take().or_else(|| p.servers.clone());
                o.agreed = o.agreed.take().or_else(|| p.agreed.clone());
                add_examples(&mut o.examples, &p.examples);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_keeps_the_first_words_and_every_cause_once() {
        let a = TlsReport {
            clients: Some("trusting any certificate".into()),
            servers: None,
            agreed: None,
            examples: vec![TlsExample {
                side: "client".into(),
                cause: Cause::TlsCertificate,
                detail: "one".into(),
            }],
        };
        let mut b = a.clone();
        b.agreed = Some("TLSv1_3".into());
        b.examples[0].detail = "two".into();
        b.examples.push(TlsExample {
            side: "server".into(),
            cause: Cause::TlsAlert,
            detail: "three".into(),
        });
        let m = merged([Some(&a), None, Some(&b)].into_iter()).unwrap();
        assert_eq!(m.agreed.as_deref(), Some("TLSv1_3"));
        assert_eq!(m.example("client", Cause::TlsCertificate), Some("one"));
        assert_eq!(m.example("server", Cause::TlsAlert), Some("three"));
        assert!(merged([None, None].into_iter()).is_none());
    }

    #[test]
    fn merged_ws_sums_the_statuses() {
        let status = |status, count| WsStatus {
            status,
            reason: String::new(),
            count,
            meaning: String::new(),
        };
        let a = WsReport {
            clients: Some("GET /".into()),
            servers: None,
            statuses: vec![status(403, 2)],
            examples: vec![],
        };
        let b = WsReport {
            statuses: vec![status(403, 3), status(101, 1)],
            ..a.clone()
        };
        let m = merged_ws([Some(&a), None, Some(&b)].into_iter()).unwrap();
        assert_eq!(m.statuses, vec![status(101, 1), status(403, 5)]);
    }
}
