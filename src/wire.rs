//! What the supervisor and its workers say to each other: one JSON object
//! per line, over the worker's stdin and stdout pipes.

use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cause::CauseCounts;
use crate::latency;
use crate::plan::BindMode;
use crate::traffic::Traffic;

/// How held connections are closed at teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CloseMode {
    /// `SO_LINGER` 0: an RST each, no TIME_WAIT left behind.
    Rst,
    /// An orderly FIN each; the closing side keeps TIME_WAIT for 60 s.
    Fin,
}

/// A worker's job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "role")]
pub enum Spec {
    /// Listen and hold what comes.
    Server {
        listeners: Vec<SocketAddr>,
        reuse_port: bool,
        backlog: i32,
        /// Connections beyond this are accepted and reset at once.
        cap: u64,
        fd_limit: u64,
        close: CloseMode,
        /// Send back what peers send (heartbeats, echo load).
        echo: bool,
        /// Leave connections in the accept queue (to study its overflow).
        accept: bool,
        /// A peer sending more than this in one burst is closed.
        max_message: u64,
        /// A connection silent this long is closed; `None`: never.
        idle_timeout_ms: Option<u64>,
        /// The network namespace to run in (`c1m lab`); `None`: c1m's own.
        netns: Option<String>,
    },
    /// Open connections `first..first + count` of the plan and hold them.
    Client {
        first: u64,
        count: u64,
        sources: Vec<IpAddr>,
        bind: BindMode,
        endpoints: Vec<SocketAddr>,
        /// Connections per second for this worker; `None` is unlimited.
        rate: Option<f64>,
        /// Handshakes under way at once, at most.
        window: u64,
        connect_timeout_ms: u64,
        fd_limit: u64,
        close: CloseMode,
        traffic: Traffic,
        /// `IP_LOCAL_PORT_RANGE` for every socket, with `BindMode::Range`.
        ports: Option<(u16, u16)>,
        /// The network namespace to run in (`c1m lab`); `None`: c1m's own.
        netns: Option<String>,
    },
}

/// From the supervisor to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToWorker {
    /// The job; the first line a worker reads.
    Start(Box<Spec>),
    /// Clients: begin opening connections.
    Go,
    /// Clients: open no more (keep holding what is open).
    Pause,
    /// Clients: start the heartbeats (at the hold, so they do not slow the
    /// ramp; with the ramp when a capacity search times them).
    Beat,
    /// Close every connection, report, and exit.
    Close,
}

/// A worker's counters, and (summed) the report's. Gauges are "now";
/// totals only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Connections this worker is planned to make (clients) or hold.
    pub planned: u64,
    /// Client: connect() calls made. Server: connections accepted.
    pub attempted: u64,
    /// Gauge: handshakes under way.
    pub connecting: u64,
    /// Gauge: connections held now.
    pub established: u64,
    /// Total: handshakes that completed (the connection existed, however
    /// briefly).
    pub opened: u64,
    /// Total: established connections the peer closed with a FIN and no
    /// data first (for a client, the handshake's end and the FIN in one
    /// event included).
    pub closed_fin: u64,
    /// Total: established connections the peer sent data on, then closed
    /// with a FIN (Redis's error line past `maxclients`).
    pub closed_fin_data: u64,
    /// Total: established connections the peer reset (RST).
    pub closed_rst: u64,
    /// Total: connections refused at the cap (server).
    pub rejected: u64,
    /// Failures by cause.
    pub failed: CauseCounts,
    /// Client: messages sent. Server: bytes echoed.
    pub sent: u64,
    /// Client: replies received whole (and as expected).
    pub replies: u64,
    /// Client: replies that did not start with the expected bytes.
    pub mismatched: u64,
    /// Client: sends due while the previous reply had not come yet; each
    /// is timed from its own scheduled time when that reply comes.
    pub late: u64,
    /// Client: sends whose reply never came (the connection closed, the
    /// send failed, or the experiment ended first).
    pub lost: u64,
    /// Server: connections closed for misbehaving (idle, oversized
    /// messages, not reading their echoes).
    pub dropped: u64,
}

impl Stats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &Stats) {
        self.planned += o.planned;
        self.attempted += o.attempted;
        self.connecting += o.connecting;
        self.established += o.established;
        self.opened += o.opened;
        self.closed_fin += o.closed_fin;
        self.closed_fin_data += o.closed_fin_data;
        self.closed_rst += o.closed_rst;
        self.rejected += o.rejected;
        self.failed.merge(&o.failed);
        self.sent += o.sent;
        self.replies += o.replies;
        self.mismatched += o.mismatched;
        self.late += o.late;
        self.lost += o.lost;
        self.dropped += o.dropped;
    }

    /// Established connections the peer closed, however.
    pub fn peer_closed(&self) -> u64 {
        self.closed_fin + self.closed_fin_data + self.closed_rst
    }

    /// A client has tried every connection and none is still connecting.
    pub fn ramp_done(&self) -> bool {
        self.attempted >= self.planned && self.connecting == 0
    }
}

/// From a worker to the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FromWorker {
    /// Set up (listening, or ready to connect).
    Ready { fd_limit: u64 },
    /// Counters, about four times a second.
    Stats(Stats),
    /// Latency recorded since the last such line, about once a second.
    Latency(latency::Encoded),
    /// The first bytes a server sent on a connection it then closed (at
    /// most 128), once per worker.
    FirstBytes(Vec<u8>),
    /// Everything closed; the last word before exit.
    Closed(Stats),
    /// The worker cannot go on; it exits after this.
    Fatal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_single_lines() {
        let spec = ToWorker::Start(Box::new(Spec::Client {
            first: 5,
            count: 10,
            sources: vec!["127.0.2.1".parse().unwrap()],
            bind: BindMode::NoPort,
            endpoints: vec!["127.0.0.1:8090".parse().unwrap()],
            rate: None,
            window: 100,
            connect_timeout_ms: 1000,
            fd_limit: 1000,
            close: CloseMode::Rst,
            traffic: Traffic::idle(),
            ports: None,
            netns: None,
        }));
        let line = serde_json::to_string(&spec).unwrap();
        assert!(!line.contains('\n'));
        let back: ToWorker = serde_json::from_str(&line).unwrap();
        let ToWorker::Start(spec) = back else {
            panic!("not a spec");
        };
        assert!(matches!(*spec, Spec::Client { count: 10, .. }));
    }

    #[test]
    fn stats_merge_and_ramp_done() {
        let mut a = Stats {
            planned: 2,
            attempted: 2,
            established: 2,
            sent: 5,
            ..Default::default()
        };
        assert!(a.ramp_done());
        let b = Stats {
            planned: 3,
            attempted: 3,
            connecting: 1,
            sent: 9,
            ..Default::default()
        };
        a.merge(&b);
        assert_eq!(a.planned, 5);
        assert_eq!(a.sent, 14);
        assert!(!a.ramp_done());
    }
}
