//! `c1m run`: the whole experiment on this machine, a server fleet and a
//! client fleet on loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use anyhow::Context;
use c1m_limits::{Facts, Role as LimitRole, Roots, ehash};
use clap::Args;

use super::args::{ExperimentOpts, Topology, count, ip_list, port_list};
use super::settings::{self, Clients, Host, Servers};
use crate::lab::runns::{self, RunNetns};
use crate::plan::{self, Plan, Request, addr, thousands};
use crate::report::model::CommandKind;
use crate::supervisor::session::Session;

/// `c1m run`'s target when none is given: the classic experiment.
pub const DEFAULT_CONNS: u64 = 1_000_000;

/// `c1m run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Connections to open and hold [default: 1,000,000, or the most this
    /// machine can hold if less, with the limit that binds named].
    #[arg(short = 'n', long = "conns", value_parser = count)]
    pub conns: Option<u64>,
    /// Which set-up of the classic experiment to reproduce.
    #[arg(long, value_enum, default_value_t = Topology::Spread)]
    pub topology: Topology,
    /// Server ports [default: 8090, or 8090-8119 for many-ports].
    #[arg(long, value_parser = port_list)]
    pub ports: Option<String>,
    /// Client source addresses: list, range or CIDR [default: as the
    /// topology needs].
    #[arg(long, value_parser = ip_list)]
    pub sources: Option<String>,
    /// Server addresses: list, range or CIDR [default: as the topology
    /// needs].
    #[arg(long, value_parser = ip_list)]
    pub dests: Option<String>,
    /// Hold the connections in the network namespace c1m was started in
    /// (usually the host's, with the established hash table sized at
    /// boot) instead of a namespace made for the run, whose table is
    /// sized for its sockets.
    #[arg(long)]
    pub host_netns: bool,
    /// The flags every experiment with both fleets takes.
    #[command(flatten)]
    pub exp: ExperimentOpts,
    /// A scenario file read in (--scenario), or printed (--print-scenario).
    #[command(flatten)]
    pub scenario: super::scenario::ScenarioOpts,
}

impl RunArgs {
    /// `c1m run` with every default.
    pub fn parse_default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            run: RunArgs,
        }
        Only::parse_from(["c1m"]).run
    }
}

/// The checks of `run`'s flags together that read nothing of the
/// machine: what `--print-scenario` refuses too, with the same line.
///
/// Returns what the run goes on with: `--reconnect`'s settings and the
/// count asked for (the largest stage's with `--stages`, else `-n`).
///
/// # Errors
/// One line naming the flags and the fix.
pub fn check(a: &RunArgs) -> anyhow::Result<Checked> {
    let dests = settings::parse_ips("dests", &a.dests)?;
    check_families(
        &settings::parse_ips("sources", &a.sources)?.unwrap_or_default(),
        dests.as_deref(),
    )?;
    settings::check_proxy(
        &a.exp.client,
        dests
            .as_deref()
            .unwrap_or(&[IpAddr::V4(Ipv4Addr::LOCALHOST)]),
    )?;
    let reconnect = a.exp.shape.reconnect()?;
    // With --stages the largest stage is the target planned for, as
    // if given with -n.
    let asked = a.exp.shape.stages.as_ref().map(|st| st.max()).or(a.conns);
    let traffic = settings::traffic(
        &a.exp.traffic,
        asked.unwrap_or(DEFAULT_CONNS),
        !a.exp.server.no_echo || a.exp.ws.websocket,
    )?;
    settings::experiment_ws(a.exp.ws.websocket, a.exp.ws.ws_heartbeat, &traffic)?;
    super::gate::gate(&a.exp.gate, &traffic)?;
    Ok(Checked { reconnect, asked })
}

/// What [`check`] found that [`run`] goes on with.
pub struct Checked {
    /// `--reconnect`'s settings, if given.
    pub reconnect: Option<crate::stages::backoff::Reconnect>,
    /// The count asked for, if any (the default is then planned).
    pub asked: Option<u64>,
}

/// Runs `c1m run`.
pub fn run(a: &RunArgs) -> anyhow::Result<ExitCode> {
    // Every flag is checked before the machine is read and anything
    // starts: alone (clap's value parsers), then together.
    let start_at = settings::start_at(a.exp.start_at)?;
    settings::check_outputs(&a.exp.fleet)?;
    let Checked { reconnect, asked } = check(a)?;
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let e = &a.exp;
    let per_worker = host.worker_conns(e.fleet.worker_conns)?;
    let pre = settings::preflight(&facts, asked, DEFAULT_CONNS, LimitRole::Both)?;
    let conns = pre.conns;
    let stages = e.shape.stages(conns, e.hold);
    let plan = plan_run(a, conns, &host, per_worker)?;
    pre.say(plan.servers.len(), plan.clients.len());
    for w in stages
        .iter()
        .flat_map(|st| super::shape::rate_warnings(st, e.client.rate))
    {
        crate::say!("c1m: warning: {w}");
    }
    settings::warn_listen_ports(&facts, &plan.endpoints);
    settings::warn_fin_close(&facts, e.fleet.close, conns);
    let traffic = settings::traffic(&e.traffic, conns, !e.server.no_echo || e.ws.websocket)?;
    let client_ws = settings::experiment_ws(e.ws.websocket, e.ws.ws_heartbeat, &traffic)?;
    let (server_tls, client_tls) =
        match settings::experiment_tls(e.tls.tls, e.tls.no_resume, &plan.endpoints)? {
            Some((s, c)) => (Some(s), Some(c)),
            None => (None, None),
        };
    let gate = super::gate::gate(&e.gate, &traffic)?;
    let sockets = plan.conns.saturating_mul(2);
    // The specs are made once the namespace is known; the session owns
    // the plan from here.
    let planned = plan.clone();
    // Ctrl-C is caught from here on (the session's fleet), so the
    // namespace made next is removed however the run ends.
    let session = Session::new(
        plan,
        CommandKind::Run,
        a.topology.name(),
        &settings::outputs(&e.fleet),
    )?;
    let netns = if a.host_netns {
        None
    } else {
        own_netns(&facts, sockets)
    };
    let name = netns.as_ref().map(|n| n.name().to_string());
    let servers = Servers {
        netns: name.clone(),
        // c1m's own servers take the headers its clients send.
        proxy: e.client.proxy_protocol,
        tls: server_tls,
        websocket: e.ws.websocket,
        ..Servers::of(&e.server, &e.fleet, host.somaxconn)
    }
    .specs(&planned.servers, &planned.endpoints, per_worker);
    let clients = Clients {
        netns: name,
        reconnect,
        tls: client_tls,
        websocket: client_ws,
        ..Clients::of(&e.client, &e.fleet, traffic)
    }
    .specs(&planned);
    let session = match &netns {
        Some(ns) => session.in_run_netns(ns.report()),
        None => session,
    };
    let code = session
        .start_at(start_at)
        .gate(gate)
        .shaped(stages, reconnect, e.server.close_fraction.clone())
        .drive(servers, clients, Some(e.hold));
    // Removes the namespace (also on an error above, and when unwinding).
    drop(netns);
    code
}

/// The run's own network namespace, with an established hash table sized
/// for `sockets` ([`ehash::child_buckets`]); `None`, with one line saying
/// why, when it cannot be made (the run then stays in the host's).
fn own_netns(facts: &Facts, sockets: u64) -> Option<RunNetns> {
    if let Some(why) = runns::unavailable(facts) {
        crate::say!("c1m: running in the host's network namespace: {why}");
        return None;
    }
    match runns::remove_stale() {
        Ok(gone) if !gone.is_empty() => crate::say!(
            "c1m: removed network namespaces left by killed runs: {}",
            gone.join(", ")
        ),
        Ok(_) => {}
        Err(e) => crate::say!("c1m: warning: {e:#}"),
    }
    let buckets = ehash::child_buckets(sockets);
    let ns = match RunNetns::create(buckets) {
        Ok(ns) => ns,
        Err(e) => {
            crate::say!("c1m: running in the host's network namespace: {e:#}");
            return None;
        }
    };
    for w in &ns.warnings {
        crate::say!("c1m: warning: in {}: {w}", ns.name());
    }
    let host = facts
        .tcp_ehash_entries
        .get()
        .map_or("?".to_string(), |t| thousands(t.buckets));
    let r = ns.report();
    let got = match (r.buckets, r.own_table) {
        (Some(b), Some(true)) => format!(
            "{} established buckets for {} sockets; the host's table has {host}",
            thousands(b),
            thousands(sockets)
        ),
        (Some(b), _) => format!(
            "the host's table of {} buckets: the kernel could not allocate {} (see dmesg)",
            thousands(b),
            thousands(buckets)
        ),
        (None, _) => format!("{} buckets asked for; size unread", thousands(buckets)),
    };
    crate::say!(
        "c1m: connections held in network namespace {} ({got}); look inside: ip netns exec {} ss -s",
        ns.name(),
        ns.name()
    );
    Some(ns)
}

/// One family on both ends: an IPv6 source cannot reach an IPv4 server
/// (every connect would fail with EAFNOSUPPORT or EADDRNOTAVAIL), so it is
/// refused before anything starts. `dests` `None`: run's default, IPv4
/// loopback.
pub fn check_families(sources: &[IpAddr], dests: Option<&[IpAddr]>) -> anyhow::Result<()> {
    let default = [IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1))];
    let servers = dests.unwrap_or(&default);
    if let (Some(s), Some(d)) = (
        sources
            .iter()
            .find(|s| !servers.iter().any(|d| d.is_ipv4() == s.is_ipv4())),
        servers.first(),
    ) {
        let family = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        anyhow::bail!(
            "--sources {s} is {} but the servers' addresses are {} ({}{d}{}): give --sources and --dests of one family (IPv6 loopback: --sources ::1 --dests ::1)",
            family(s),
            family(d),
            if dests.is_some() { "--dests " } else { "" },
            if dests.is_none() {
                ", run's default"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Plans `c1m run`: the topology's addresses, unless given.
pub fn plan_run(a: &RunArgs, conns: u64, host: &Host, per_worker: u64) -> anyhow::Result<Plan> {
    let budget = plan::default_pair_budget(host.local_ports);
    let ports = match (&a.ports, a.topology) {
        (Some(p), _) => addr::parse_ports(p).context("--ports")?,
        (None, Topology::ManyPorts) => (8090..=8119).collect(),
        (None, _) => vec![8090],
    };
    let given_sources = settings::parse_ips("sources", &a.sources)?;
    let given_dests = settings::parse_ips("dests", &a.dests)?;
    let sources = match (given_sources, a.topology) {
        (Some(s), _) => s,
        (None, Topology::ManyIps) => {
            let per_source =
                budget * (given_dests.as_ref().map_or(1, Vec::len) * ports.len()) as u64;
            addr::consecutive(
                Ipv4Addr::new(127, 0, 2, 1),
                conns.div_ceil(per_source).max(1) as usize,
            )
        }
        (None, _) => vec![],
    };
    let dests = match (given_dests, a.topology) {
        (Some(d), _) => d,
        (None, Topology::Spread) => {
            let eps = plan::loopback_endpoints(conns, sources.len() as u64, per_worker, budget);
            addr::consecutive(
                Ipv4Addr::new(127, 0, 1, 1),
                eps.div_ceil(ports.len() as u64) as usize,
            )
        }
        (None, _) => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    };
    check_families(&sources, a.dests.as_ref().map(|_| dests.as_slice()))?;
    let req = Request {
        conns,
        sources,
        bind: a.exp.client.bind_mode,
        endpoints: settings::endpoints(&dests, &ports),
        local_ports: host.local_ports,
        port_range: host.port_range,
        pair_budget: budget,
        client_per_worker: per_worker,
        server_per_worker: Some(per_worker),
        force: false,
    };
    Ok(plan::plan(&req)?)
}
