//! `c1m connect`: open and hold connections to c1m or any server, or
//! search for the most it holds (`--find-limit`).

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use c1m_limits::{Facts, Role as LimitRole, Roots};
use clap::Args;

use super::args::{ClientOpts, FleetOpts, TrafficOpts, count, duration};
use super::settings::{self, Clients, Host};
use crate::plan::{self, Request, addr};
use crate::report::model::CommandKind;
use crate::supervisor::search::{Search, Slo, parse_slo};
use crate::supervisor::session::Session;
use crate::traffic::Mode;

/// Connections per second of a capacity search unless --rate says.
pub const FIND_LIMIT_RATE: f64 = 2000.0;

/// `c1m connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Where to connect: ADDR:PORT or ADDR:LO-HI, one or more.
    #[arg(required = true, num_args = 1..)]
    pub targets: Vec<String>,
    /// Connections to open and hold (with --find-limit: the most to try).
    #[arg(short = 'n', long = "conns", default_value = "10000", value_parser = count)]
    pub conns: u64,
    /// Start even when the 4-tuple arithmetic says the target cannot fit,
    /// to watch the kernel refuse (EADDRNOTAVAIL).
    #[arg(long)]
    pub force: bool,
    /// Ramp until connections fail, the server closes or stops accepting
    /// them, or the latency objective is missed; then report what the
    /// server really held and why it stopped there.
    #[arg(long)]
    pub find_limit: bool,
    /// The latency objective for --find-limit, e.g. p99<50ms (needs
    /// heartbeat traffic to measure).
    #[arg(long, value_parser = parse_slo, requires = "find_limit")]
    pub slo: Option<Slo>,
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
    /// How the clients connect: rate, window, timeout, bind mode.
    #[command(flatten)]
    pub client: ClientOpts,
    /// What held connections do: idle or heartbeats.
    #[command(flatten)]
    pub traffic: TrafficOpts,
    /// Worker size, close mode, report files, metrics.
    #[command(flatten)]
    pub fleet: FleetOpts,
}

/// Runs `c1m connect`.
pub fn connect(a: &ConnectArgs) -> anyhow::Result<ExitCode> {
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let mut eps = Vec::new();
    for t in &a.targets {
        eps.extend(addr::parse_endpoints(t, IpAddr::V4(Ipv4Addr::LOCALHOST)).context("target")?);
    }
    let sources = match &a.source_from {
        Some(iface) => {
            let s = crate::ip::c1m_addresses(iface)?;
            if s.is_empty() {
                bail!(
                    "--source-from {iface}: c1m has put no address there; add some with c1m ip add {iface} CIDR"
                );
            }
            s
        }
        None => settings::parse_ips("sources", &a.sources)?.unwrap_or_default(),
    };
    let conns = settings::preflight(&facts, Some(a.conns), a.conns, LimitRole::Client)?;
    settings::warn_fin_close(&facts, a.fleet.close, conns);
    let req = Request {
        conns,
        sources,
        bind: a.client.bind_mode,
        endpoints: eps,
        local_ports: host.local_ports,
        port_range: host.port_range,
        pair_budget: plan::default_pair_budget(host.local_ports),
        client_per_worker: per_worker,
        server_per_worker: None,
        force: a.force,
    };
    let plan = plan::plan(&req)?;
    // An objective needs something to time: heartbeats at the default.
    let traffic_opts = match (a.slo, a.traffic.mode) {
        (Some(_), Mode::Idle) => TrafficOpts {
            mode: Mode::Heartbeat,
            ..a.traffic.clone()
        },
        _ => a.traffic.clone(),
    };
    let traffic = settings::traffic(&traffic_opts, conns, false)?;
    let mut clients = Clients::of(&a.client, &a.fleet, traffic);
    if a.find_limit && clients.rate.is_none() {
        // Slow enough that the break is seen near where it happens.
        clients.rate = Some(FIND_LIMIT_RATE);
    }
    let (command, label) = if a.find_limit {
        (CommandKind::FindLimit, "find-limit")
    } else {
        (CommandKind::Connect, "connect")
    };
    let specs = clients.specs(&plan);
    let mut session = Session::new(plan, command, label, &settings::outputs(&a.fleet))?;
    if a.find_limit {
        session = session.search(Search::new(a.slo), clients.connect_timeout);
    }
    let hold = match (a.find_limit, a.hold) {
        (true, None) => Some(Duration::ZERO),
        (_, h) => h,
    };
    session.drive(vec![], specs, hold)
}
