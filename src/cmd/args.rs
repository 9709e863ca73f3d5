//! The flags shared by the commands that start workers, as clap parses
//! them (the first stage), with the value parsers that refuse what can
//! never be right (zero, negative, out of range) before anything starts.
//! [`super::settings`] turns them into the settings the layers below run
//! on (the second stage).

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::plan::{BindMode, addr};
use crate::proxy;
use crate::traffic::{self, Mode};
use crate::wire::CloseMode;

/// The longest duration any flag takes: a year. Anything longer is a typo
/// (and would overflow the clock arithmetic of a deadline).
pub const MAX_DURATION: Duration = c1m_limits::num::MAX_DURATION;

/// The classic set-ups of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Topology {
    /// One client address, many server addresses (127.0.1.x) on one port:
    /// loopback's natural fit, no sysctl needed.
    Spread,
    /// Many client source addresses (127.0.2.x) to one server address and
    /// port: the classic "many client IPs" set-up.
    ManyIps,
    /// One client address to server ports 8090-8119: the classic "many
    /// server ports" set-up (needs a wide ip_local_port_range for 1M).
    ManyPorts,
}

impl Topology {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Spread => "spread",
            Topology::ManyIps => "many-ips",
            Topology::ManyPorts => "many-ports",
        }
    }
}

/// Settings shared by everything that opens connections.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Connections per second, all workers together [default: as fast as
    /// the window allows].
    #[arg(long, value_parser = positive)]
    pub rate: Option<f64>,
    /// Handshakes in flight at once, all workers together.
    #[arg(long, default_value_t = 20_000, value_parser = whole(1u64, None))]
    pub window: u64,
    /// Give up on a handshake after this long (SYNs dropped).
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    pub connect_timeout: Duration,
    /// How client sockets are bound to --sources addresses.
    #[arg(long, value_enum, default_value_t = BindMode::NoPort)]
    pub bind_mode: BindMode,
    /// Send a PROXY protocol header (HAProxy's; v1 text, v2 binary) as
    /// the first bytes of each connection, with its real 4-tuple, as a
    /// load balancer does to the servers behind it (HAProxy's
    /// accept-proxy, nginx's `listen … proxy_protocol`); run and lab run
    /// have c1m's servers take it off.
    #[arg(long, value_enum, value_name = "VERSION")]
    pub proxy_protocol: Option<proxy::Version>,
    /// The source addresses the PROXY headers carry instead of each
    /// connection's own, one per connection in turn (list, range or
    /// CIDR: 10.0.0.0/12 makes the server see a million clients); the
    /// port stays the connection's own.
    #[arg(long, requires = "proxy_protocol", value_parser = ip_list)]
    pub proxy_sources: Option<String>,
}

/// What held connections do.
#[derive(Debug, Clone, Args)]
pub struct TrafficOpts {
    /// idle: hold only. heartbeat: each connection sends --message every
    /// --interval (spread evenly) and times the reply.
    #[arg(long, value_enum, default_value_t = Mode::Idle)]
    pub mode: Mode,
    /// Between two messages on one connection [default: 1s].
    #[arg(long, value_parser = positive_duration)]
    pub interval: Option<Duration>,
    /// Messages per second over all connections (sets the interval); with
    /// --shard, over every shard's.
    #[arg(long, conflicts_with_all = ["interval", "bandwidth"], value_parser = positive)]
    pub message_rate: Option<f64>,
    /// Bytes per second over all connections (sets the interval; 10M is
    /// 10,000,000 bytes a second); with --shard, over every shard's.
    #[arg(long, conflicts_with = "interval", value_parser = positive)]
    pub bandwidth: Option<f64>,
    /// The message, with \r \n \t \xHH escapes (e.g. "PING\r\n" for
    /// Redis) [default: a 16-byte line that c1m serve echoes].
    #[arg(long, conflicts_with = "message_file", value_parser = message)]
    pub message: Option<String>,
    /// Read the message from a file (an HTTP request, say).
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<std::path::PathBuf>,
    /// Send this once as soon as each connection is established, in any
    /// mode (escapes as for --message): a greeting, or a request that
    /// keeps the server busy with the connection.
    #[arg(long, value_parser = message)]
    pub first_message: Option<String>,
    /// What every reply must start with (escapes as for --message)
    /// [default: the message itself against c1m's own servers; any reply
    /// otherwise].
    #[arg(long, value_parser = expect)]
    pub expect: Option<String>,
}

/// How c1m's servers treat what peers send.
#[derive(Debug, Clone, Args)]
pub struct ServerOpts {
    /// Do not echo what peers send (it is read and dropped).
    #[arg(long)]
    pub no_echo: bool,
    /// Close a peer that sends a line (bytes up to a newline, the newline
    /// counted) longer than this; bytes without a newline count as one
    /// line.
    #[arg(long, default_value_t = 65_536, value_parser = whole(1u64, None))]
    pub max_message: u64,
    /// Close a peer that does not read its echoes once this many bytes of
    /// them wait for it (until then, a peer the server cannot echo to is
    /// not read: its sends wait).
    #[arg(long, default_value_t = 262_144, value_parser = whole(1u64, None))]
    pub max_unsent: u64,
    /// Close connections that complete no line for this long: silent,
    /// trickling a byte at a time, or gone [default: never].
    #[arg(long, value_parser = positive_duration)]
    pub idle_timeout: Option<Duration>,
    /// At TIME after the ramp began (serve: after its workers listen),
    /// close FRACTION of the connections each server worker holds, spread
    /// over them, as --close says: a deploy or a crash, to see clients
    /// reconnect (--reconnect). E.g. 30%@10s; repeatable.
    #[arg(long, value_name = "FRACTION@TIME", value_parser = super::shape::close_fraction)]
    pub close_fraction: Vec<crate::stages::close::CloseFraction>,
}

/// TLS on a client's connections (`connect`).
#[derive(Debug, Clone, Args)]
pub struct ClientTlsOpts {
    /// Speak TLS on every connection (rustls, TLS 1.3 and 1.2): the
    /// handshake follows TCP's, heartbeats go encrypted.
    #[arg(long)]
    pub tls: bool,
    /// Trust the CA certificates of this PEM file instead of the system's
    /// roots.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls",
        conflicts_with = "insecure"
    )]
    pub ca: Option<std::path::PathBuf>,
    /// Accept any certificate (a test server's self-signed one): who the
    /// server is goes unchecked; it must still hold the certificate's key.
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// The server name to send (SNI) and to check the certificate against
    /// [default: the target's name; for an address, the address].
    #[arg(long, value_name = "NAME", requires = "tls", value_parser = crate::tls::parse_sni)]
    pub sni: Option<String>,
    /// ALPN protocols to offer, comma-separated (e.g. h2,http/1.1).
    #[arg(long, value_name = "LIST", requires = "tls", value_parser = alpn)]
    pub alpn: Option<String>,
    /// Never resume a session: every handshake is a full one.
    #[arg(long, requires = "tls")]
    pub no_resume: bool,
}

/// TLS on a server's connections (`serve`).
#[derive(Debug, Clone, Args)]
pub struct ServerTlsOpts {
    /// Speak TLS on every connection accepted, with a self-signed
    /// certificate made at start for localhost and the listen addresses
    /// (or --cert and --key).
    #[arg(long)]
    pub tls: bool,
    /// The certificate chain to present (PEM, the server's own first).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<std::path::PathBuf>,
}

/// TLS on both fleets' connections (`run`, `lab run`).
#[derive(Debug, Clone, Args)]
pub struct ExperimentTlsOpts {
    /// Speak TLS on every connection: the servers present a self-signed
    /// certificate made at start, which the clients trust and check.
    #[arg(long)]
    pub tls: bool,
    /// Never resume a session: every handshake is a full one.
    #[arg(long, requires = "tls")]
    pub no_resume: bool,
}

/// WebSocket on a client's connections (`connect`).
#[derive(Debug, Clone, Args)]
pub struct ClientWsOpts {
    /// Speak WebSocket on every connection: an HTTP/1.1 upgrade of PATH
    /// (after TLS's handshake with --tls), then heartbeats as WebSocket
    /// frames, and a close frame (1000) at the end.
    #[arg(long, value_name = "PATH", value_parser = crate::ws::parse_path)]
    pub websocket: Option<String>,
    /// A header for the upgrade request, NAME:VALUE (repeat it for more);
    /// Host: replaces the target's.
    #[arg(long, value_name = "NAME:VALUE", requires = "websocket", value_parser = header)]
    pub header: Vec<String>,
    /// How heartbeats travel over WebSocket (--mode heartbeat).
    #[arg(long, value_enum, default_value_t = crate::ws::Heartbeat::Ping, requires = "websocket")]
    pub ws_heartbeat: crate::ws::Heartbeat,
}

/// WebSocket on a server's connections (`serve`).
#[derive(Debug, Clone, Args)]
pub struct ServerWsOpts {
    /// Answer WebSocket upgrades on every connection (any path; over TLS
    /// with --tls), echo text and binary messages, answer pings and
    /// close frames.
    #[arg(long)]
    pub websocket: bool,
}

/// WebSocket on both fleets' connections (`run`, `lab run`).
#[derive(Debug, Clone, Args)]
pub struct ExperimentWsOpts {
    /// Speak WebSocket on every connection: the clients upgrade /, the
    /// servers answer and echo.
    #[arg(long)]
    pub websocket: bool,
    /// How heartbeats travel over WebSocket (--mode heartbeat).
    #[arg(long, value_enum, default_value_t = crate::ws::Heartbeat::Ping, requires = "websocket")]
    pub ws_heartbeat: crate::ws::Heartbeat,
}

/// Settings shared by every command that starts workers.
#[derive(Debug, Clone, Args)]
pub struct FleetOpts {
    /// Connections one worker process may hold; lower it to force fan-out
    /// [default: its RLIMIT_NOFILE hard limit less 64 for its own use].
    #[arg(long, value_parser = whole(1u64, None))]
    pub worker_conns: Option<u64>,
    /// How connections are closed at the end: rst (SO_LINGER 0, no
    /// TIME_WAIT) or fin (orderly, leaves TIME_WAIT).
    #[arg(long, value_enum, default_value_t = CloseMode::Rst)]
    pub close: CloseMode,
    /// Also write the report as JSON to this file; `-`: to stdout at the
    /// end, on one line, the summary then going to stderr (so stdout is
    /// exactly one JSON document).
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Also write the report as one self-contained HTML file with charts.
    #[arg(long, value_name = "FILE", value_parser = html_file())]
    pub html: Option<std::path::PathBuf>,
    /// Also write the timeline as CSV to this file: one row per sample,
    /// the JSON timeline's columns, a header row.
    #[arg(long, value_name = "FILE", value_parser = csv_file())]
    pub csv: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics on ADDR:PORT (GET /metrics); loopback only
    /// unless --metrics-public.
    #[arg(long, value_name = "ADDR:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:9464", value_parser = socket_addr)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Allow --metrics on a non-loopback address.
    #[arg(long, requires = "metrics")]
    pub metrics_public: bool,
}

/// The flags of an experiment with both fleets (`run`, `lab run`),
/// defined once.
#[derive(Debug, Clone, Args)]
pub struct ExperimentOpts {
    /// How long to hold the connections once all are open.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub hold: Duration,
    /// Start the ramp at this wall-clock instant, the workers started and
    /// ready before: RFC 3339 with an offset (2026-12-01T10:00:00Z) or
    /// Unix seconds (1764583200, @1764583200).
    #[arg(long, value_name = "TIME", value_parser = super::start_at::parse)]
    pub start_at: Option<std::time::SystemTime>,
    /// How the clients connect: rate, window, timeout, bind mode.
    #[command(flatten)]
    pub client: ClientOpts,
    /// What held connections do: idle or heartbeats.
    #[command(flatten)]
    pub traffic: TrafficOpts,
    /// How c1m's servers treat what peers send.
    #[command(flatten)]
    pub server: ServerOpts,
    /// TLS on the connections.
    #[command(flatten)]
    pub tls: ExperimentTlsOpts,
    /// WebSocket on the connections.
    #[command(flatten)]
    pub ws: ExperimentWsOpts,
    /// Worker size, close mode, report files, metrics.
    #[command(flatten)]
    pub fleet: FleetOpts,
    /// Thresholds that fail the run (--fail-if).
    #[command(flatten)]
    pub gate: super::gate::GateOpts,
    /// Stages, ramp-up and ramp-down, reconnects.
    #[command(flatten)]
    pub shape: super::shape::ShapeOpts,
}

/// The most any rate flag takes, per second: 10^12 (1000G). Connections,
/// messages or bytes, more is a typo, and arithmetic on it would lose
/// its meaning.
pub const MAX_RATE: f64 = 1e12;

/// Parses a number that must be more than zero and at most [`MAX_RATE`],
/// with an optional decimal multiplier: `100k` (×1,000), `10M`
/// (×1,000,000), `1G` (×10^9), and an optional `/s` (every such flag is
/// a rate per second, as `--fail-if 'connect_rate<20k/s'` writes one).
pub fn positive(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    // Decimal (SI) multipliers as rates are written: 100k, 10M, 1G.
    let (number, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match number.parse::<f64>().map(|v| v * scale) {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_RATE => Ok(v),
        Ok(v) if v > MAX_RATE => Err(format!(
            "{text:?} is more than 10^12 a second; write at most 1000G"
        )),
        _ => Err(format!(
            "{text:?} must be a positive number (e.g. 2.5, 100k, 10M)"
        )),
    }
}

/// Parses `5s`, `250ms`, `2m`, `1.5h`, `1h30m`, or a plain number of
/// seconds, at most 365 days: c1m's one grammar of durations
/// ([`c1m_limits::num::parse_duration`]), as `--stages`,
/// `--close-fraction`, `--slo` and `--fail-if` read theirs.
pub fn duration(text: &str) -> Result<Duration, String> {
    c1m_limits::num::parse_duration(text)
}

/// A [`duration`] that must be more than zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!(
            "{:?} must be more than zero (write e.g. 5s, 250ms)",
            text.trim()
        )),
        d => Ok(d),
    }
}

/// An HTML report's file: any path but `-` (stdout is for `--json -`).
/// A file name may be any bytes, so this takes the argument as it came.
pub fn html_file() -> impl clap::builder::TypedValueParser<Value = std::path::PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().try_map(|text| {
        if text.is_empty() {
            Err("empty; name a file (e.g. report.html)")
        } else if text == "-" {
            Err("the HTML report goes to a file: name one (the report goes to stdout with --json -)")
        } else {
            Ok(std::path::PathBuf::from(text))
        }
    })
}

/// clap's value parser for a whole number from `lo` to `hi` (no upper
/// bound: `None`), with a message that says which.
pub fn whole<T>(
    lo: T,
    hi: Option<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: Copy + Into<i128> + TryFrom<i128> + std::fmt::Display + Send + Sync + 'static,
{
    move |text: &str| {
        let range = match hi {
            Some(hi) => format!("from {lo} to {hi}"),
            None => format!("of at least {lo}"),
        };
        text.trim()
            .parse::<i128>()
            .ok()
            .filter(|v| *v >= lo.into() && hi.is_none_or(|hi| *v <= hi.into()))
            .and_then(|v| T::try_from(v).ok())
            .ok_or_else(|| format!("{text:?} is not a whole number {range}; write one (e.g. {lo})"))
    }
}

/// The timeline CSV's file: any path but `-` (stdout is for `--json -`;
/// `c1m report REPORT --csv -` prints a saved report's).
pub fn csv_file() -> impl clap::builder::TypedValueParser<Value = std::path::PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().try_map(|text| {
        if text.is_empty() {
            Err("empty; name a file (e.g. timeline.csv)")
        } else if text == "-" {
            Err("the timeline CSV goes to a file: name one (c1m report REPORT --csv - prints a saved report's to stdout)")
        } else {
            Ok(std::path::PathBuf::from(text))
        }
    })
}

/// `ADDR:PORT` (`[v6]:PORT` for IPv6).
pub fn socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not ADDR:PORT; write e.g. 127.0.0.1:9464 or [::1]:9464 (ports 0-65535)"
        )
    })
}

/// A message with `\r \n \t \0 \\ \xHH` escapes (`--message`,
/// `--first-message`), 1 to 65,536 bytes once unescaped; kept as written.
pub fn message(text: &str) -> Result<String, String> {
    let m = traffic::unescape(text).map_err(|e| e.to_string())?;
    traffic::check_message(&m).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

/// What every reply must start with (`--expect`): escapes as for
/// [`message`], 1 to 65,535 bytes once unescaped; kept as written.
pub fn expect(text: &str) -> Result<String, String> {
    let e = traffic::unescape(text).map_err(|e| e.to_string())?;
    if e.is_empty() || e.len() > usize::from(u16::MAX) {
        return Err(format!(
            "{} bytes; give 1 to 65,535 (e.g. +PONG\\r\\n)",
            e.len()
        ));
    }
    Ok(text.to_string())
}

/// ALPN protocols (`--alpn`), checked by [`crate::tls::parse_alpn`];
/// kept as written.
pub fn alpn(text: &str) -> Result<String, String> {
    crate::tls::parse_alpn(text).map(|_| text.to_string())
}

/// An upgrade request's header (`--header`), checked by
/// [`crate::ws::parse_header`]; kept as written.
pub fn header(text: &str) -> Result<String, String> {
    crate::ws::parse_header(text).map(|_| text.to_string())
}

/// Addresses (`--sources`, `--dests`): a list, range or CIDR block, as
/// [`addr::parse_ips`] reads them; kept as written, checked here.
pub fn ip_list(text: &str) -> Result<String, String> {
    addr::parse_ips(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// Ports (`run --ports`): `8090`, `8090-8119`, or a list of them; kept as
/// written, checked here.
pub fn port_list(text: &str) -> Result<String, String> {
    addr::parse_ports(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// Where `serve` listens: `ADDR:PORTS` or bare ports; kept as written,
/// checked here.
pub fn listen(text: &str) -> Result<String, String> {
    addr::parse_endpoints(text, std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// A target `HOST:PORTS` (`connect`): its syntax checked here, a name
/// resolved later; kept as written.
pub fn target(text: &str) -> Result<String, String> {
    addr::parse_target(text, std::net::IpAddr::from([127, 0, 0, 1]))
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// A named network namespace (`--netns`): a name `ip netns` could have
/// made, and one that exists.
pub fn netns(text: &str) -> Result<String, String> {
    if !c1m_sys::netns::exists(text) {
        return Err(format!(
            "no network namespace {text:?}; name one `ip netns list` shows"
        ));
    }
    Ok(text.to_string())
}

/// A count of connections: `1000000`, `1M`, `100k`, `1,000,000`, at
/// least 1.
pub fn count(text: &str) -> Result<u64, String> {
    match c1m_limits::num::parse_count(text)? {
        0 => Err(format!("{text:?} must be at least 1")),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in [
            "-1",
            "soon",
            "NaN",
            "inf",
            "1e30",
            "18446744073709551616",
            "",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(
            duration("400days")
                .unwrap_err()
                .contains("longer than 365 days")
        );
        assert!(
            positive_duration("0")
                .unwrap_err()
                .contains("more than zero")
        );
        assert_eq!(positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn wholes_rates_and_messages() {
        assert_eq!(whole(1u64, None)("20000"), Ok(20_000));
        assert!(
            whole(1u64, None)("0")
                .unwrap_err()
                .contains("of at least 1")
        );
        assert!(whole(1u64, None)("18446744073709551616").is_err());
        assert!(whole(1u64, None)("1.5").is_err());
        assert!(
            whole(1u16, Some(999))("1000")
                .unwrap_err()
                .contains("from 1 to 999")
        );
        assert_eq!(whole(0i32, None)("0"), Ok(0));
        assert!(whole(0i32, None)("2147483648").is_err());
        assert!(whole(0i32, None)("-1").is_err());
        assert_eq!(positive("1000G"), Ok(MAX_RATE));
        assert_eq!(positive("20k/s"), Ok(20_000.0));
        assert_eq!(positive("2.5/s"), Ok(2.5));
        assert!(positive("/s").is_err());
        assert!(positive("1e30").unwrap_err().contains("at most 1000G"));
        assert!(positive("18446744073709551616").is_err());
        assert_eq!(message("PING\\r\\n"), Ok("PING\\r\\n".to_string()));
        assert!(message("").is_err());
        assert!(message("\\xZZ").is_err());
        assert!(expect("").is_err());
        assert!(socket_addr("127.0.0.1").unwrap_err().contains("e.g."));
        use clap::builder::TypedValueParser as _;
        let c = clap::Command::new("c1m");
        assert!(html_file().parse_ref(&c, None, "-".as_ref()).is_err());
        assert!(html_file().parse_ref(&c, None, "".as_ref()).is_err());
    }

    #[test]
    fn counts_and_positives() {
        assert_eq!(count("100k"), Ok(100_000));
        assert!(count("0").unwrap_err().contains("at least 1"));
        assert!(positive("0").is_err());
        assert!(positive("-3").is_err());
        assert!(positive("NaN").is_err());
        assert_eq!(positive("2.5"), Ok(2.5));
        assert_eq!(positive("100k"), Ok(100_000.0));
        assert_eq!(positive("10M"), Ok(10_000_000.0));
        assert_eq!(positive("1.5G"), Ok(1_500_000_000.0));
        assert!(positive("M").is_err());
        assert!(positive("-1k").is_err());
    }
}
