//! `c1m serve`: listen and hold every connection that comes.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use c1m_limits::{Facts, Role as LimitRole, Roots};
use clap::Args;

use super::args::{
    FleetOpts, ServerOpts, ServerTlsOpts, ServerWsOpts, count, duration, listen, whole,
};
use super::settings::{self, Host, Servers};
use crate::plan::{self, BindMode, Plan, addr};
use crate::report::model::CommandKind;
use crate::supervisor::session::Session;
use crate::wire::{ServerSpec, SharedCap};

/// `c1m serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen: ADDR:PORT or ADDR:LO-HI, repeatable.
    #[arg(long, required = true, num_args = 1.., value_parser = listen)]
    pub listen: Vec<String>,
    /// Connections to hold at most, all worker processes together (one
    /// count they share); more are accepted and reset at once.
    #[arg(long, default_value = "100000", value_parser = count)]
    pub max_conns: u64,
    /// Stop after this long [default: until Ctrl-C].
    #[arg(long, value_parser = duration)]
    pub hold: Option<Duration>,
    /// Listen backlog [default: net.core.somaxconn].
    #[arg(long, value_parser = whole(0i32, None))]
    pub backlog: Option<i32>,
    /// Never accept: connections wait in the accept queue until it
    /// overflows (to study SYN drops and ListenOverflows).
    #[arg(long, conflicts_with_all = [
        "close_fraction", "idle_timeout", "max_message", "max_unsent", "no_echo",
        "proxy_protocol", "tls", "websocket",
    ])]
    pub no_accept: bool,
    /// Take a PROXY protocol header of this version (HAProxy's; as its
    /// send-proxy or send-proxy-v2 write) off the front of every
    /// connection; a peer whose first bytes are not one is closed with a
    /// reset, counted.
    #[arg(long, value_enum, value_name = "VERSION")]
    pub proxy_protocol: Option<crate::proxy::Version>,
    /// Echo, message size and idle limits.
    #[command(flatten)]
    pub server: ServerOpts,
    /// TLS on the connections.
    #[command(flatten)]
    pub tls: ServerTlsOpts,
    /// WebSocket on the connections.
    #[command(flatten)]
    pub ws: ServerWsOpts,
    /// Worker size, close mode, report files, metrics.
    #[command(flatten)]
    pub fleet: FleetOpts,
    /// A scenario file read in (--scenario), or printed (--print-scenario).
    #[command(flatten)]
    pub scenario: super::scenario::ScenarioOpts,
}

/// Runs `c1m serve`.
pub fn serve(a: &ServeArgs) -> anyhow::Result<ExitCode> {
    settings::check_outputs(&a.fleet)?;
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let mut eps = Vec::new();
    for l in &a.listen {
        eps.extend(
            addr::parse_endpoints(l, IpAddr::V4(Ipv4Addr::UNSPECIFIED)).context("--listen")?,
        );
    }
    let ips: Vec<IpAddr> = eps.iter().map(|e| e.ip()).collect();
    let tls = settings::server_tls(&a.tls, &ips)?;
    let pre = settings::preflight(&facts, Some(a.max_conns), a.max_conns, LimitRole::Server)?;
    settings::warn_listen_ports(&facts, &eps);
    // Never accepting, a worker holds no connection: one listener per
    // address, so --backlog is the whole accept queue, not one of many
    // SO_REUSEPORT queues. Otherwise as many workers as hold
    // --max-conns with SO_REUSEPORT's slack: the kernel hashes
    // connections over them unevenly, and each may hold up to its
    // descriptors while the cap is one count they share.
    let workers = if a.no_accept {
        1
    } else {
        plan::reuseport_group(a.max_conns, per_worker)
    };
    pre.say(workers as usize, 0);
    let own_cap = per_worker.min(a.max_conns);
    let servers = Servers {
        accept: !a.no_accept,
        proxy: a.proxy_protocol,
        tls,
        websocket: a.ws.websocket,
        ..Servers::of(&a.server, &a.fleet, a.backlog.unwrap_or(host.somaxconn))
    };
    let specs = (0..workers)
        .map(|i| ServerSpec {
            shared_cap: (workers > 1).then_some(SharedCap {
                max: a.max_conns,
                slot: i as u32,
                members: workers as u32,
            }),
            ..servers.spec(eps.clone(), workers > 1, own_cap)
        })
        .collect();
    let plan = Plan {
        conns: a.max_conns,
        sources: vec![],
        bind: BindMode::None,
        endpoints: eps,
        pairs: 0,
        per_pair_max: 0,
        capacity: a.max_conns,
        capacity_why: String::new(),
        clients: vec![],
        servers: vec![],
        warnings: vec![],
    };
    Session::new(
        plan,
        CommandKind::Serve,
        "serve",
        &settings::outputs(&a.fleet),
    )?
    .shaped(None, None, a.server.close_fraction.clone())
    .drive(specs, vec![], a.hold)
}
