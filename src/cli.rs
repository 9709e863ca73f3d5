//! The command line: flags, defaults, and dispatch. Flags are parsed here
//! and turned into the plain settings the commands run on.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::BindMode;
use crate::traffic::Mode;
use crate::wire::CloseMode;

/// How many TCP connections can one Linux server really hold? c1m answers
/// by experiment.
#[derive(Debug, Parser)]
#[command(name = "c1m", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The whole experiment on this machine: a server fleet and a client
    /// fleet on loopback, driven to -n connections, verified, held, torn
    /// down, and reported. The default command.
    Run(RunArgs),
    /// Listen and hold every connection that comes, with near-zero user
    /// memory, fanning out over worker processes.
    Serve(ServeArgs),
    /// Open and hold connections to c1m or any server.
    Connect(ConnectArgs),
    /// Read every limit on connections, name the one that binds first for
    /// a target, and the exact fix.
    Doctor(c1m_limits::cli::DoctorArgs),
    /// Compute the settings for a target, show them, apply them safely
    /// (--apply), and put everything back (--revert).
    Tune(c1m_limits::cli::TuneArgs),
    /// Watch TCP sockets by state and port, the slab caches they grow,
    /// memory and listen-queue drops, live: any server's, not only c1m's.
    #[command(visible_alias = "watch")]
    Stat(crate::stat::StatArgs),
    /// Add, remove or check c1m's source addresses on an interface.
    Ip(crate::ip::IpArgs),
    /// Build, show or remove a lab of network namespaces (one server host,
    /// K client hosts, 198.18.0.0/15 addresses that never leave it), and
    /// run the experiment across it.
    Lab(crate::lab::LabArgs),
    /// Internal: one worker process, started by c1m itself.
    #[command(hide = true)]
    Worker,
}

/// The classic set-ups of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// One client address, many server addresses (127.0.1.x) on one port:
    /// loopback's natural fit, no sysctl needed.
    Spread,
    /// Many client source addresses (127.0.2.x) to one server address and
    /// port, as the seed's first method.
    ManyIps,
    /// One client address to server ports 8090-8119, as the seed's second
    /// method (needs a wide ip_local_port_range for 1M).
    ManyPorts,
}

/// Settings shared by everything that opens connections.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Connections per second, all workers together (default: as fast as
    /// the window allows).
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Handshakes in flight at once, all workers together.
    #[arg(long, default_value_t = 20_000)]
    pub window: u64,
    /// Give up on a handshake after this long (SYNs dropped).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub connect_timeout: Duration,
    /// How client sockets are bound to --sources addresses.
    #[arg(long, value_enum, default_value_t = BindMode::NoPort)]
    pub bind_mode: BindMode,
}

/// What held connections do.
#[derive(Debug, Clone, Args)]
pub struct TrafficOpts {
    /// idle: hold only. heartbeat: each connection sends --message every
    /// --interval (spread evenly) and times the reply.
    #[arg(long, value_enum, default_value_t = Mode::Idle)]
    pub mode: Mode,
    /// Between two messages on one connection [default: 1s].
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    pub interval: Option<Duration>,
    /// Messages per second over all connections (sets the interval).
    #[arg(long, conflicts_with_all = ["interval", "bandwidth"], allow_negative_numbers = true)]
    pub message_rate: Option<f64>,
    /// Bytes per second over all connections (sets the interval).
    #[arg(long, conflicts_with = "interval", allow_negative_numbers = true)]
    pub bandwidth: Option<f64>,
    /// The message, with \r \n \t \xHH escapes (e.g. "PING\r\n" for
    /// Redis) [default: a 16-byte line that c1m serve echoes].
    #[arg(long, conflicts_with = "message_file")]
    pub message: Option<String>,
    /// Read the message from a file (an HTTP request, say).
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<std::path::PathBuf>,
    /// Send this once as soon as each connection is established, in any
    /// mode (escapes as for --message): a greeting, or a request that
    /// keeps the server busy with the connection.
    #[arg(long)]
    pub first_message: Option<String>,
    /// What every reply must start with (escapes as for --message)
    /// [default: the message itself against c1m's own servers; any reply
    /// otherwise].
    #[arg(long)]
    pub expect: Option<String>,
}

/// How c1m's servers treat what peers send.
#[derive(Debug, Clone, Args)]
pub struct ServerOpts {
    /// Do not echo what peers send (it is read and dropped).
    #[arg(long)]
    pub no_echo: bool,
    /// Close a peer that sends more than this many bytes in one burst.
    #[arg(long, default_value_t = 65_536)]
    pub max_message: u64,
    /// Close connections silent for this long [default: never].
    #[arg(long, value_parser = duration)]
    pub idle_timeout: Option<Duration>,
}

/// Settings shared by every command that starts workers.
#[derive(Debug, Clone, Args)]
pub struct FleetOpts {
    /// Connections one worker process may hold (default: its RLIMIT_NOFILE
    /// hard limit less 64 for its own use). Lower it to force fan-out.
    #[arg(long)]
    pub worker_conns: Option<u64>,
    /// How connections are closed at the end: rst (SO_LINGER 0, no
    /// TIME_WAIT) or fin (orderly, leaves TIME_WAIT).
    #[arg(long, value_enum, default_value_t = CloseMode::Rst)]
    pub close: CloseMode,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Also write the report as one self-contained HTML file with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics on ADDR:PORT (GET /metrics); loopback only
    /// unless --metrics-public.
    #[arg(long, value_name = "ADDR:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:9464")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Allow --metrics on a non-loopback address.
    #[arg(long, requires = "metrics")]
    pub metrics_public: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Connections to open and hold [default: 1,000,000, or the most this
    /// machine can hold if less, with the limit that binds named].
    #[arg(short = 'n', long = "conns", value_parser = c1m_limits::num::parse_count)]
    pub conns: Option<u64>,
    /// Which set-up of the classic experiment to reproduce.
    #[arg(long, value_enum, default_value_t = Topology::Spread)]
    pub topology: Topology,
    /// How long to hold the connections once all are open.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub hold: Duration,
    /// Server ports (default 8090, or 8090-8119 for many-ports).
    #[arg(long)]
    pub ports: Option<String>,
    /// Client source addresses: list, range or CIDR (default: as the
    /// topology needs).
    #[arg(long)]
    pub sources: Option<String>,
    /// Server addresses: list, range or CIDR (default: as the topology
    /// needs).
    #[arg(long)]
    pub dests: Option<String>,
    #[command(flatten)]
    pub client: ClientOpts,
    #[command(flatten)]
    pub traffic: TrafficOpts,
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// `c1m lab run`: the experiment across the lab's hosts.
#[derive(Debug, Clone, Args)]
pub struct LabRunArgs {
    /// Connections to open and hold, over all client hosts.
    #[arg(short = 'n', long = "conns", default_value = "100000", value_parser = c1m_limits::num::parse_count)]
    pub conns: u64,
    /// many-ips: every client address to one server port; many-ports: one
    /// address per client host to server ports 8090-8119.
    #[arg(long, value_enum, default_value_t = Topology::ManyIps)]
    pub topology: Topology,
    /// How long to hold the connections once all are open.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub hold: Duration,
    #[command(flatten)]
    pub client: ClientOpts,
    #[command(flatten)]
    pub traffic: TrafficOpts,
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(flatten)]
    pub fleet: FleetOpts,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen: ADDR:PORT or ADDR:LO-HI, repeatable.
    #[arg(long, required = true, num_args = 1..)]
    pub listen: Vec<String>,
    /// Connections to hold at most; more are accepted and reset at once.
    #[arg(long, default_value = "100000", value_parser = c1m_limits::num::parse_count)]
    pub max_conns: u64,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = duration)]
    pub hold: Option<Duration>,
    /// Listen backlog (default: net.core.somaxconn).
    #[arg(long)]
    pub backlog: Option<i32>,
    /// Never accept: connections wait in the accept queue until it
    /// overflows (to study SYN drops and ListenOverflows).
    #[arg(long)]
    pub no_accept: bool,
    #[command(flatten)]
    pub server: ServerOpts,
    #[command(flatten)]
    pub fleet: FleetOpts,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Where to connect: ADDR:PORT or ADDR:LO-HI, one or more.
    #[arg(required = true, num_args = 1..)]
    pub targets: Vec<String>,
    /// Connections to open and hold (with --find-limit: the most to try).
    #[arg(short = 'n', long = "conns", default_value = "10000", value_parser = c1m_limits::num::parse_count)]
    pub conns: u64,
    /// Start even when the 4-tuple arithmetic says the target cannot fit,
    /// to watch the kernel refuse (EADDRNOTAVAIL).
    #[arg(long)]
    pub force: bool,
    /// Ramp until connections fail or the latency objective is missed,
    /// then report the break point and its cause.
    #[arg(long)]
    pub find_limit: bool,
    /// The latency objective for --find-limit, e.g. p99<50ms (needs
    /// heartbeat traffic to measure).
    #[arg(long, value_parser = crate::search::parse_slo, requires = "find_limit")]
    pub slo: Option<crate::search::Slo>,
    /// Client source addresses: list, range or CIDR (default: the kernel
    /// picks).
    #[arg(long, alias = "source", conflicts_with = "source_from")]
    pub sources: Option<String>,
    /// Use every address `c1m ip add` put on this interface as a source.
    #[arg(long, value_name = "IFACE")]
    pub source_from: Option<String>,
    /// How long to hold once all are open (default: until Ctrl-C).
    #[arg(long, value_parser = duration)]
    pub hold: Option<Duration>,
    #[command(flatten)]
    pub client: ClientOpts,
    #[command(flatten)]
    pub traffic: TrafficOpts,
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// Parses a number that must be more than zero.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{text:?} must be a positive number")),
    }
}

/// Parses `5s`, `250ms`, `2m`, or a plain number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!(
            "{t:?} is not a duration (write e.g. 5s, 250ms, 2m)"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|_| format!("{t:?} is not a duration (write e.g. 5s, 250ms, 2m)"))
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => crate::run::run(&RunArgs::parse_default()),
        Some(Cmd::Run(a)) => crate::run::run(&a),
        Some(Cmd::Serve(a)) => crate::run::serve(&a),
        Some(Cmd::Connect(a)) => crate::run::connect(&a),
        Some(Cmd::Doctor(a)) => c1m_limits::cli::doctor(&a),
        Some(Cmd::Tune(a)) => c1m_limits::cli::tune(&a),
        Some(Cmd::Stat(a)) => crate::stat::run(&a),
        Some(Cmd::Ip(a)) => crate::ip::run(&a),
        Some(Cmd::Lab(a)) => crate::lab::run(&a),
        Some(Cmd::Worker) => crate::hold::main().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("c1m: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl RunArgs {
    /// `c1m run` with every default.
    fn parse_default() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            run: RunArgs,
        }
        Only::parse_from(["c1m"]).run
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
        assert!(duration("-1").is_err());
        assert!(duration("soon").is_err());
    }

    #[test]
    fn defaults() {
        let a = RunArgs::parse_default();
        assert_eq!(a.conns, None);
        assert_eq!(a.topology, Topology::Spread);
        assert_eq!(a.hold, Duration::from_secs(5));
        Cli::command_for_tests();
    }

    impl Cli {
        fn command_for_tests() {
            use clap::CommandFactory;
            Cli::command().debug_assert();
        }
    }
}
