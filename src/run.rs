//! The experiments: `run` (both fleets on this machine), `serve` (servers
//! only) and `connect` (clients only). Each plans, starts its fleet, drives
//! it through ramp, hold and teardown, and reports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{
    ClientOpts, ConnectArgs, FleetOpts, LabRunArgs, RunArgs, ServeArgs, ServerOpts, Topology,
    TrafficOpts,
};
use crate::lab::plan::Layout;
use crate::plan::{self, Plan, Request, ServerShare, addr, thousands};
use crate::report::model::CommandKind;
use crate::search::Search;
use crate::traffic::{self, Mode, Traffic};
use crate::wire::Spec;
use c1m_limits::{Facts, Role as LimitRole, Roots, Target, WORKER_FD_RESERVE};
use std::time::Duration;

/// Connections per second of a capacity search unless --rate says.
pub const FIND_LIMIT_RATE: f64 = 2000.0;

/// `c1m run`'s target when none is given: the classic experiment.
pub const DEFAULT_CONNS: u64 = 1_000_000;

/// The kernel facts a plan needs.
#[derive(Debug, Clone)]
pub struct Host {
    pub port_range: (u16, u16),
    /// Ports in the range less the reserved ones.
    pub local_ports: u64,
    pub somaxconn: i32,
    /// RLIMIT_NOFILE hard of this process (what a worker may raise to).
    pub nofile_hard: u64,
}

impl Host {
    /// Derives them from the doctor's reading of the machine, so the
    /// plan and the doctor see the same facts.
    pub fn of(facts: &Facts) -> anyhow::Result<Self> {
        let (lo, hi) = match facts.port_range.get() {
            Some((lo, hi)) if lo <= hi && hi <= 65535 => (lo as u16, hi as u16),
            Some(r) => bail!("net.ipv4.ip_local_port_range is {r:?}, not two ports LOW HIGH"),
            None => bail!("net.ipv4.ip_local_port_range could not be read"),
        };
        let nr_open = facts.nr_open.get().unwrap_or(1 << 20);
        let nofile_hard = c1m_sys::limits::nofile()
            .hard
            .unwrap_or(nr_open)
            .min(nr_open);
        Ok(Self {
            port_range: (lo, hi),
            local_ports: facts.usable_ports().unwrap_or(u64::from(hi - lo) + 1),
            somaxconn: facts.somaxconn.get().unwrap_or(4096).min(i32::MAX as u64) as i32,
            nofile_hard,
        })
    }

    /// Connections one worker may hold, from `--worker-conns` or the limit.
    pub fn worker_conns(&self, asked: Option<u64>) -> anyhow::Result<u64> {
        let most = self.nofile_hard.saturating_sub(WORKER_FD_RESERVE);
        match asked {
            Some(0) => bail!("--worker-conns must be at least 1"),
            Some(n) if n > most => bail!(
                "--worker-conns {} is more than one process may hold here: RLIMIT_NOFILE hard is {} and a worker keeps {} for itself; use at most {} (c1m fans out over more workers instead)",
                thousands(n),
                thousands(self.nofile_hard),
                WORKER_FD_RESERVE,
                thousands(most)
            ),
            Some(n) => Ok(n),
            None if most == 0 => bail!(
                "RLIMIT_NOFILE hard is {}, too low for a worker; raise nofile (c1m tune)",
                self.nofile_hard
            ),
            None => Ok(most),
        }
    }
}

fn parse_ips(flag: &str, text: &Option<String>) -> anyhow::Result<Option<Vec<IpAddr>>> {
    text.as_deref()
        .map(|t| addr::parse_ips(t).with_context(|| format!("--{flag}")))
        .transpose()
}

fn endpoints(dests: &[IpAddr], ports: &[u16]) -> Vec<SocketAddr> {
    dests
        .iter()
        .flat_map(|&ip| ports.iter().map(move |&p| SocketAddr::new(ip, p)))
        .collect()
}

/// Checks the machine's limits for `conns` the way `c1m doctor` does.
/// A target given on the command line that does not fit is refused with
/// the doctor's verdict; the default target is capped to what fits.
/// (The 4-tuple space is the planner's to check: it knows the addresses.)
fn preflight(
    facts: &Facts,
    conns: Option<u64>,
    default: u64,
    role: LimitRole,
) -> anyhow::Result<u64> {
    let n = conns.unwrap_or(default);
    let target = Target::new(n, role);
    let verdict = c1m_limits::verdict::evaluate(facts, &target);
    if verdict.ok() {
        eprintln!("c1m doctor: {}", verdict.line());
        return Ok(n);
    }
    match conns {
        Some(_) => bail!("{}", verdict.line()),
        None => {
            eprintln!("c1m doctor: {}", verdict.line());
            let capped = verdict.capped();
            eprintln!(
                "c1m: running {} instead of {}",
                thousands(capped),
                thousands(n)
            );
            Ok(capped)
        }
    }
}

/// Warns when closing `conns` connections with FIN will overflow the
/// kernel's TIME_WAIT or orphan tables (the closing side keeps them).
fn warn_fin_close(facts: &Facts, close: crate::wire::CloseMode, conns: u64) {
    if close == crate::wire::CloseMode::Fin {
        for w in c1m_limits::closing::fin_close_warnings(facts, conns) {
            eprintln!("c1m: warning: {w}");
        }
    }
}

/// Plans `c1m run`: the topology's addresses, unless given.
pub fn plan_run(a: &RunArgs, conns: u64, host: &Host) -> anyhow::Result<Plan> {
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let budget = plan::default_family_budget(host.local_ports);
    let ports = match (&a.ports, a.topology) {
        (Some(p), _) => addr::parse_ports(p).context("--ports")?,
        (None, Topology::ManyPorts) => (8090..=8119).collect(),
        (None, _) => vec![8090],
    };
    let lo = Ipv4Addr::LOCALHOST;
    let given_sources = parse_ips("sources", &a.sources)?;
    let given_dests = parse_ips("dests", &a.dests)?;
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
        (None, _) => vec![IpAddr::V4(lo)],
    };
    let req = Request {
        conns,
        sources,
        bind: a.client.bind_mode,
        endpoints: endpoints(&dests, &ports),
        local_ports: host.local_ports,
        port_range: host.port_range,
        family_budget: budget,
        client_per_worker: per_worker,
        server_per_worker: Some(per_worker),
        force: false,
    };
    Ok(plan::plan(&req)?)
}

/// The traffic of `conns` connections from the flags. Any traffic flag
/// means heartbeat mode. Against c1m's own servers (`echoed`) a reply is
/// expected to repeat the message; against others, any reply counts unless
/// --expect says what it must start with.
pub fn traffic_from(t: &TrafficOpts, conns: u64, echoed: bool) -> anyhow::Result<Traffic> {
    let asked = t.interval.is_some()
        || t.message_rate.is_some()
        || t.bandwidth.is_some()
        || t.message.is_some()
        || t.message_file.is_some()
        || t.expect.is_some();
    let first = match &t.first_message {
        Some(m) => {
            let m = traffic::unescape(m)?;
            traffic::check_message(&m)?;
            Some(m)
        }
        None => None,
    };
    if t.mode == Mode::Idle && !asked {
        return Ok(Traffic {
            first,
            ..Traffic::idle()
        });
    }
    let message = match (&t.message, &t.message_file) {
        (Some(m), _) => traffic::unescape(m)?,
        (None, Some(f)) => {
            std::fs::read(f).with_context(|| format!("--message-file {}", f.display()))?
        }
        (None, None) => traffic::DEFAULT_MESSAGE.to_vec(),
    };
    traffic::check_message(&message)?;
    let expect = match &t.expect {
        Some(e) => {
            let e = traffic::unescape(e)?;
            if e.is_empty() || e.len() > u16::MAX as usize {
                bail!("--expect must be 1 to 65,535 bytes");
            }
            Some(e)
        }
        None if echoed || message == traffic::DEFAULT_MESSAGE => Some(message.clone()),
        None => None,
    };
    let interval = traffic::interval_for(
        conns,
        t.interval,
        t.message_rate,
        t.bandwidth,
        message.len(),
    )?;
    Ok(Traffic {
        mode: Mode::Heartbeat,
        interval,
        message,
        expect,
        first,
    })
}

fn server_spec(
    listeners: Vec<SocketAddr>,
    reuse_port: bool,
    backlog: i32,
    cap: u64,
    s: &ServerOpts,
    fleet: &FleetOpts,
) -> Spec {
    Spec::Server {
        listeners,
        reuse_port,
        backlog,
        cap,
        fd_limit: cap + WORKER_FD_RESERVE,
        close: fleet.close,
        echo: !s.no_echo,
        accept: true,
        max_message: s.max_message.max(1),
        idle_timeout_ms: s.idle_timeout.map(|d| d.as_millis() as u64),
        netns: None,
    }
}

/// One server worker's spec per planned share, listening on its endpoints,
/// in network namespace `netns` if given.
fn server_specs(
    shares: &[ServerShare],
    endpoints: &[SocketAddr],
    host: &Host,
    per_worker: u64,
    (server, fleet): (&ServerOpts, &FleetOpts),
    netns: Option<&str>,
) -> Vec<Spec> {
    shares
        .iter()
        .map(|s| {
            let listeners = s.endpoints.iter().map(|&e| endpoints[e]).collect();
            let mut spec = server_spec(
                listeners,
                s.reuse_port,
                host.somaxconn,
                per_worker,
                server,
                fleet,
            );
            if let Spec::Server { netns: ns, .. } = &mut spec {
                *ns = netns.map(str::to_string);
            }
            spec
        })
        .collect()
}

fn client_specs(plan: &Plan, c: &ClientOpts, fleet: &FleetOpts, traffic: &Traffic) -> Vec<Spec> {
    let n = plan.clients.len().max(1) as f64;
    plan.clients
        .iter()
        .map(|share| Spec::Client {
            first: share.first,
            count: share.count,
            sources: plan.sources.clone(),
            bind: plan.bind,
            endpoints: plan.endpoints.clone(),
            rate: c.rate.map(|r| r / n),
            window: (c.window as f64 / n).ceil().max(1.0) as u64,
            connect_timeout_ms: c.connect_timeout.as_millis() as u64,
            fd_limit: share.count + WORKER_FD_RESERVE,
            close: fleet.close,
            traffic: traffic.clone(),
            ports: share.ports,
            netns: None,
        })
        .collect()
}

/// `c1m run`.
pub fn run(a: &RunArgs) -> anyhow::Result<ExitCode> {
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    if a.conns == Some(0) {
        bail!("-n must be at least 1");
    }
    let conns = preflight(&facts, a.conns, DEFAULT_CONNS, LimitRole::Both)?;
    let plan = plan_run(a, conns, &host)?;
    let ports: Vec<u16> = plan.endpoints.iter().map(|e| e.port()).collect();
    if let Some(w) = c1m_limits::ports::listen_ports_warning_for(&facts, &ports) {
        eprintln!("c1m: warning: {w}");
    }
    warn_fin_close(&facts, a.fleet.close, conns);
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let traffic = traffic_from(&a.traffic, conns, !a.server.no_echo)?;
    let servers = server_specs(
        &plan.servers,
        &plan.endpoints,
        &host,
        per_worker,
        (&a.server, &a.fleet),
        None,
    );
    let clients = client_specs(&plan, &a.client, &a.fleet, &traffic);
    let out = crate::session::Session::new(plan, CommandKind::Run, a.topology_name(), &a.fleet)?
        .drive(servers, clients, Some(a.hold))?;
    Ok(out)
}

/// `c1m serve`.
pub fn serve(a: &ServeArgs) -> anyhow::Result<ExitCode> {
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let mut eps = Vec::new();
    for l in &a.listen {
        eps.extend(
            addr::parse_endpoints(l, IpAddr::V4(Ipv4Addr::UNSPECIFIED)).context("--listen")?,
        );
    }
    if a.max_conns == 0 {
        bail!("--max-conns must be at least 1");
    }
    preflight(&facts, Some(a.max_conns), a.max_conns, LimitRole::Server)?;
    let ports: Vec<u16> = eps.iter().map(|e| e.port()).collect();
    if let Some(w) = c1m_limits::ports::listen_ports_warning_for(&facts, &ports) {
        eprintln!("c1m: warning: {w}");
    }
    let workers = a.max_conns.div_ceil(per_worker);
    let per = a.max_conns.div_ceil(workers);
    let backlog = a.backlog.unwrap_or(host.somaxconn);
    let specs: Vec<Spec> = (0..workers)
        .map(|_| {
            let mut spec = server_spec(eps.clone(), workers > 1, backlog, per, &a.server, &a.fleet);
            if let Spec::Server { accept, .. } = &mut spec {
                *accept = !a.no_accept;
            }
            spec
        })
        .collect();
    let plan = Plan {
        conns: a.max_conns,
        sources: vec![],
        bind: plan::BindMode::None,
        endpoints: eps,
        families: 0,
        per_family_max: 0,
        capacity: a.max_conns,
        capacity_why: String::new(),
        clients: vec![],
        servers: vec![],
        warnings: vec![],
    };
    crate::session::Session::new(plan, CommandKind::Serve, "serve", &a.fleet)?.drive(
        specs,
        vec![],
        a.hold,
    )
}

/// `c1m connect`.
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
        None => parse_ips("sources", &a.sources)?.unwrap_or_default(),
    };
    if a.conns == 0 {
        bail!("-n must be at least 1");
    }
    let conns = preflight(&facts, Some(a.conns), a.conns, LimitRole::Client)?;
    warn_fin_close(&facts, a.fleet.close, conns);
    let req = Request {
        conns,
        sources,
        bind: a.client.bind_mode,
        endpoints: eps,
        local_ports: host.local_ports,
        port_range: host.port_range,
        family_budget: plan::default_family_budget(host.local_ports),
        client_per_worker: per_worker,
        server_per_worker: None,
        force: a.force,
    };
    let plan = plan::plan(&req)?;
    let mut traffic = traffic_from(&a.traffic, conns, false)?;
    if a.slo.is_some() && traffic.mode == Mode::Idle {
        // An objective needs something to time: heartbeats at the default.
        let opts = TrafficOpts {
            mode: Mode::Heartbeat,
            ..a.traffic.clone()
        };
        traffic = traffic_from(&opts, conns, false)?;
    }
    let mut client = a.client.clone();
    if a.find_limit && client.rate.is_none() {
        // Slow enough that the break is seen near where it happens.
        client.rate = Some(FIND_LIMIT_RATE);
    }
    let clients = client_specs(&plan, &client, &a.fleet, &traffic);
    let (command, label) = if a.find_limit {
        (CommandKind::FindLimit, "find-limit")
    } else {
        (CommandKind::Connect, "connect")
    };
    let mut session = crate::session::Session::new(plan, command, label, &a.fleet)?;
    if a.find_limit {
        session = session.search(Search::new(a.slo), client.connect_timeout);
    }
    let hold = match (a.find_limit, a.hold) {
        (true, None) => Some(Duration::ZERO),
        (_, h) => h,
    };
    session.drive(vec![], clients, hold)
}

impl RunArgs {
    fn topology_name(&self) -> &'static str {
        match self.topology {
            Topology::Spread => "spread",
            Topology::ManyIps => "many-ips",
            Topology::ManyPorts => "many-ports",
        }
    }
}

/// `c1m lab run`: one plan per client host (each has its own port space,
/// as separate machines do), one server fleet in the server's namespace.
pub fn lab_run(a: &LabRunArgs, layout: &Layout) -> anyhow::Result<ExitCode> {
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    if a.conns == 0 {
        bail!("-n must be at least 1");
    }
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let server_ip = *layout
        .server
        .addrs
        .first()
        .context("the lab's server host has no address")?;
    let ports: Vec<u16> = match a.topology {
        Topology::ManyPorts => (8090..=8119).collect(),
        _ => vec![8090],
    };
    let eps = endpoints(&[server_ip], &ports);
    let hosts = layout.clients.len().max(1) as u64;
    let traffic = traffic_from(&a.traffic, a.conns, !a.server.no_echo)?;
    let mut clients = Vec::new();
    let mut shares = Vec::new();
    let mut all_sources = Vec::new();
    let mut families = 0;
    let mut per_family_max = 0;
    let mut capacity = 0;
    let mut why = Vec::new();
    let mut warnings = Vec::new();
    let mut loads = vec![0u64; eps.len()];
    for (h, client) in layout.clients.iter().enumerate() {
        let conns = a.conns / hosts + u64::from((h as u64) < a.conns % hosts);
        if conns == 0 {
            continue;
        }
        let sources = match a.topology {
            Topology::ManyPorts => client.addrs.iter().take(1).copied().collect(),
            _ => client.addrs.clone(),
        };
        let (lo, hi) = client.local_port_range.unwrap_or(host.port_range);
        let local_ports = u64::from(hi - lo) + 1;
        let req = Request {
            conns,
            sources,
            bind: a.client.bind_mode,
            endpoints: eps.clone(),
            local_ports,
            port_range: (lo, hi),
            family_budget: plan::default_family_budget(local_ports),
            client_per_worker: per_worker,
            server_per_worker: None,
            force: false,
        };
        let p = plan::plan(&req).with_context(|| format!("client host {}", client.netns))?;
        let host_loads = plan::endpoint_loads(conns, p.sources.len() as u64, eps.len() as u64);
        for (l, h) in loads.iter_mut().zip(host_loads) {
            *l += h;
        }
        families += p.families;
        per_family_max = per_family_max.max(p.per_family_max);
        capacity += p.capacity;
        why.push(format!("{}: {}", client.netns, p.capacity_why));
        warnings.extend(p.warnings.iter().map(|w| format!("{}: {w}", client.netns)));
        all_sources.extend(p.sources.iter().copied());
        for mut spec in client_specs(&p, &a.client, &a.fleet, &traffic) {
            if let Spec::Client { netns, .. } = &mut spec {
                *netns = Some(client.netns.clone());
            }
            clients.push(spec);
        }
        shares.extend(p.clients);
    }
    // Every endpoint gets its share of every host's connections.
    let server_shares = plan::assign_servers(&loads, per_worker);
    let servers = server_specs(
        &server_shares,
        &eps,
        &host,
        per_worker,
        (&a.server, &a.fleet),
        Some(&layout.server.netns),
    );
    let plan = Plan {
        conns: a.conns,
        sources: all_sources,
        bind: a.client.bind_mode,
        endpoints: eps,
        families,
        per_family_max,
        capacity,
        capacity_why: why.join("; "),
        clients: shares,
        servers: server_shares,
        warnings,
    };
    let namespaces = layout.hosts().map(|h| h.netns.clone()).collect();
    let label = match a.topology {
        Topology::ManyPorts => "lab many-ports",
        _ => "lab many-ips",
    };
    crate::session::Session::new(plan, CommandKind::LabRun, label, &a.fleet)?
        .in_namespaces(namespaces)
        .drive(servers, clients, Some(a.hold))
}
