//! `c1m connect`: open and hold connections to c1m or any server, or
//! search for the most it holds (`--find-limit`).

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use c1m_limits::{Facts, Role as LimitRole, Roots};
use clap::Args;

use super::args::{
    ClientOpts, ClientTlsOpts, ClientWsOpts, FleetOpts, TrafficOpts, count, duration, ip_list,
    target,
};
use super::settings::{self, Clients, Host};
use super::shard::{self, Detected};
use super::targets::{self, Targets};
use crate::plan::addr::Family;
use crate::plan::shard::Shard;
use crate::plan::{self, Request, thousands};
use crate::report::model::CommandKind;
use crate::supervisor::search::{Search, Slo, parse_slo};
use crate::supervisor::session::Session;
use crate::traffic::Mode;

/// Connections per second of a capacity search unless --rate says.
pub const FIND_LIMIT_RATE: f64 = 2000.0;

/// `c1m connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Where to connect: HOST:PORT or HOST:LO-HI, one or more; HOST an
    /// address ([::1] for IPv6) or a name, resolved once at start, every
    /// address it has a destination.
    #[arg(required = true, num_args = 1.., value_parser = target)]
    pub targets: Vec<String>,
    /// Connections to open and hold (with --find-limit: the most to try);
    /// with --shard, over all shards.
    #[arg(short = 'n', long = "conns", default_value = "10000", value_parser = count)]
    pub conns: u64,
    /// Be shard I of N (0 ≤ I < N): take this shard's part of -n, --rate
    /// and --window, the remainders one each to the lowest indexes.
    /// Without it, Slurm's SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or
    /// SLURM_PROCID/SLURM_NTASKS say, when set.
    #[arg(long, value_name = "I/N", value_parser = shard::parse_flag)]
    pub shard: Option<Shard>,
    /// Start the ramp at this wall-clock instant, the workers started and
    /// ready before (shards start together): RFC 3339 with an offset
    /// (2026-12-01T10:00:00Z) or Unix seconds (1764583200, @1764583200).
    #[arg(long, value_name = "TIME", value_parser = super::start_at::parse)]
    pub start_at: Option<SystemTime>,
    /// Connect only to the IPv4 addresses of target names.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Connect only to the IPv6 addresses of target names.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Start even when the 4-tuple arithmetic says the target cannot fit,
    /// to watch the kernel refuse (EADDRNOTAVAIL).
    #[arg(long)]
    pub force: bool,
    /// Ramp until connections fail, the server closes or stops accepting
    /// them, or the latency objective is missed; then report what the
    /// server really held and why it stopped there.
    #[arg(long, conflicts_with_all = ["reconnect", "stages", "ramp_up", "ramp_down"])]
    pub find_limit: bool,
    /// The latency objective for --find-limit, e.g. p99<50ms (needs
    /// heartbeat traffic to measure).
    #[arg(long, value_parser = parse_slo, requires = "find_limit")]
    pub slo: Option<Slo>,
    /// Client source addresses: list, range or CIDR [default: the kernel
    /// picks].
    #[arg(long, alias = "source", conflicts_with = "source_from", value_parser = ip_list)]
    pub sources: Option<String>,
    /// Use every address `c1m ip add` put on this interface as a source.
    #[arg(long, value_name = "IFACE")]
    pub source_from: Option<String>,
    /// How long to hold once all are open [default: until Ctrl-C].
    #[arg(long, value_parser = duration)]
    pub hold: Option<Duration>,
    /// How the clients connect: rate, window, timeout, bind mode.
    #[command(flatten)]
    pub client: ClientOpts,
    /// What held connections do: idle or heartbeats.
    #[command(flatten)]
    pub traffic: TrafficOpts,
    /// TLS on the connections.
    #[command(flatten)]
    pub tls: ClientTlsOpts,
    /// WebSocket on the connections.
    #[command(flatten)]
    pub ws: ClientWsOpts,
    /// Worker size, close mode, report files, metrics.
    #[command(flatten)]
    pub fleet: FleetOpts,
    /// Thresholds that fail the run (--fail-if).
    #[command(flatten)]
    pub gate: super::gate::GateOpts,
    /// Stages, ramp-up and ramp-down, reconnects.
    #[command(flatten)]
    pub shape: super::shape::ShapeOpts,
    /// A scenario file read in (--scenario), or printed (--print-scenario).
    #[command(flatten)]
    pub scenario: super::scenario::ScenarioOpts,
}

/// The checks of `connect`'s flags together that read nothing of the
/// machine: what `--print-scenario` refuses too, with the same line.
///
/// Returns what the run goes on with.
///
/// # Errors
/// One line naming the flags and the fix.
pub fn check(a: &ConnectArgs) -> anyhow::Result<Checked> {
    let reconnect = a.shape.reconnect()?;
    if a.shape.ramp_down.is_some() && a.hold.is_none() {
        bail!(
            "--ramp-down needs --hold: without it, connect holds until Ctrl-C and the ramp-down would never come; give e.g. --hold 1m"
        );
    }
    // An objective needs something to time: heartbeats at the default.
    let traffic_opts = match (a.slo, a.traffic.mode) {
        (Some(_), Mode::Idle) => TrafficOpts {
            mode: Mode::Heartbeat,
            ..a.traffic.clone()
        },
        _ => a.traffic.clone(),
    };
    // With --stages the largest stage is the count planned for.
    let whole = a.shape.stages.as_ref().map_or(a.conns, |st| st.max());
    // The whole's interval: --message-rate and --bandwidth are every
    // shard's together, as -n is.
    // Over WebSocket a reply is the message again: the pong's payload,
    // or the echo.
    let traffic = settings::traffic(&traffic_opts, whole, a.ws.websocket.is_some())?;
    settings::client_ws(&a.ws, &traffic, Vec::new())?;
    let gate = super::gate::gate(&a.gate, &traffic)?;
    Ok(Checked {
        reconnect,
        whole,
        traffic,
        gate,
    })
}

/// What [`check`] found that [`connect`] goes on with.
pub struct Checked {
    /// `--reconnect`'s settings, if given.
    pub reconnect: Option<crate::stages::backoff::Reconnect>,
    /// The whole count (the largest stage's with `--stages`), every
    /// shard's together.
    pub whole: u64,
    /// The whole's traffic.
    pub traffic: crate::traffic::Traffic,
    /// The `--fail-if` thresholds.
    pub gate: crate::threshold::Gate,
}

/// Runs `c1m connect`.
pub fn connect(a: &ConnectArgs) -> anyhow::Result<ExitCode> {
    // Every flag is checked before the machine is read and anything
    // starts: alone (clap's value parsers), then together.
    let start_at = settings::start_at(a.start_at)?;
    settings::check_outputs(&a.fleet)?;
    let trust = settings::client_trust(&a.tls)?;
    let Checked {
        reconnect,
        whole,
        traffic,
        gate,
    } = check(a)?;
    let detected = shard::detect(a.shard, |v| std::env::var(v).ok())?;
    if let Some(d) = &detected {
        if let Some(n) = &d.note {
            crate::say!("c1m: note: {n}");
        }
        if a.find_limit && d.shard.count > 1 {
            bail!(
                "--find-limit searches from one client and cannot run as shard {} (from {}): a shard would stop at the first sign of a limit its peers may have caused, and none sees the server's total; search without --shard, or hold a fixed -n with --shard",
                d.shard,
                d.source
            );
        }
    }
    let shard = detected.as_ref().map(|d| d.shard);
    let sources = match &a.source_from {
        Some(iface) => {
            let s = crate::ip::c1m_addresses(iface)
                .with_context(|| format!("--source-from {iface:?}"))?;
            if s.is_empty() {
                bail!(
                    "--source-from {iface}: c1m has put no address there; add some with c1m ip add {iface} CIDR"
                );
            }
            s
        }
        None => settings::parse_ips("sources", &a.sources)?.unwrap_or_default(),
    };
    let targets = resolve(a, &sources)?;
    let dests: Vec<_> = targets.endpoints.iter().map(|e| e.ip()).collect();
    settings::check_proxy(&a.client, &dests)?;
    let names: Vec<(std::net::IpAddr, String)> = targets
        .names
        .iter()
        .flat_map(|r| r.addrs.iter().map(|&ip| (ip, r.name.clone())))
        .collect();
    let websocket = settings::client_ws(&a.ws, &traffic, names.clone())?;
    let tls = settings::client_tls(&a.tls, trust, names)?;
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let per_worker = host.worker_conns(a.fleet.worker_conns)?;
    let conns = shard_part(detected.as_ref(), whole)?;
    let pre = settings::preflight(&facts, Some(conns), conns, LimitRole::Client)?;
    let conns = pre.conns;
    // Without --hold, connect holds until Ctrl-C: after --ramp-up too.
    let hold = a.hold.unwrap_or(crate::stages::MAX_STAGE);
    let stages = match (a.shape.stages(conns, hold), &detected) {
        (Some(st), Some(d)) if a.shape.stages.is_some() => {
            Some(super::shape::shard_stages(&st, d.shard)?)
        }
        (st, _) => st,
    };
    settings::warn_fin_close(&facts, a.fleet.close, conns);
    let req = Request {
        conns,
        sources,
        bind: a.client.bind_mode,
        endpoints: targets.endpoints,
        local_ports: host.local_ports,
        port_range: host.port_range,
        pair_budget: plan::default_pair_budget(host.local_ports),
        client_per_worker: per_worker,
        server_per_worker: None,
        force: a.force,
    };
    let plan = plan::plan(&req)?.starting_at(shard.map_or(0, |s| s.offset(whole)));
    let mut clients = Clients {
        tls,
        websocket,
        reconnect: reconnect.map(|r| match &detected {
            Some(d) => crate::stages::backoff::Reconnect {
                rate: r.rate.map(|v| d.shard.part_of_rate(v)),
                ..r
            },
            None => r,
        }),
        ..Clients::of(&a.client, &a.fleet, traffic)
    };
    if a.find_limit && clients.rate.is_none() {
        // Slow enough that the break is seen near where it happens.
        clients.rate = Some(FIND_LIMIT_RATE);
    }
    if let Some(d) = &detected {
        clients.rate = clients.rate.map(|r| d.shard.part_of_rate(r));
        clients.window = d.shard.part(a.client.window).max(1);
        crate::say!("{}", shard_line(d, a, conns, &clients));
    }
    let (command, label) = if a.find_limit {
        (CommandKind::FindLimit, "find-limit")
    } else {
        (CommandKind::Connect, "connect")
    };
    let specs = clients.specs(&plan);
    pre.say(0, specs.len());
    for w in stages
        .iter()
        .flat_map(|st| super::shape::rate_warnings(st, clients.rate))
    {
        crate::say!("c1m: warning: {w}");
    }
    let mut session = Session::new(plan, command, label, &settings::outputs(&a.fleet))?
        .start_at(start_at)
        .gate(gate)
        .shaped(stages, reconnect, Vec::new());
    session.set_shard(shard);
    if a.find_limit {
        session = session.search(Search::new(a.slo), clients.connect_timeout);
    }
    let hold = match (a.find_limit, a.hold) {
        (true, None) => Some(Duration::ZERO),
        (_, h) => h,
    };
    session.drive(vec![], specs, hold)
}

/// The targets' endpoints, names resolved once and shown (`name → addresses`).
/// The family: `-4` or `-6`, else that of the source addresses when they
/// are all of one (an IPv4 source cannot reach an IPv6 address), else both.
fn resolve(a: &ConnectArgs, sources: &[std::net::IpAddr]) -> anyhow::Result<Targets> {
    let from = match (&a.source_from, &a.sources) {
        (Some(iface), _) => format!("--source-from {iface}"),
        (None, Some(s)) => format!("--sources {s}"),
        (None, None) => "--sources".to_string(),
    };
    let (family, flag) = match (a.ipv4, a.ipv6) {
        (true, _) => (Family::V4, "-4"),
        (_, true) => (Family::V6, "-6"),
        _ => (targets::family_of_sources(sources), from.as_str()),
    };
    let t = targets::resolve(&a.targets, family, flag, targets::system_resolver)?;
    for r in &t.names {
        let only = match (family, flag) {
            (Family::Any, _) => String::new(),
            (f, flag) if flag.starts_with("--") => {
                format!(" ({} only: the sources are {})", f.name(), f.name())
            }
            (f, flag) => format!(" ({} only: {flag})", f.name()),
        };
        crate::say!("c1m: {} → {}{only}", r.name, targets::list(&r.addrs));
    }
    Ok(t)
}

/// This shard's part of `-n`; an error when that is none.
fn shard_part(d: Option<&Detected>, total: u64) -> anyhow::Result<u64> {
    let Some(d) = d else { return Ok(total) };
    let part = d.shard.part(total);
    if part == 0 {
        let empty = match (total, d.shard.count - 1) {
            (first, last) if first == u64::from(last) => format!("shard {last}"),
            (first, last) => format!("shards {first}-{last}"),
        };
        bail!(
            "shard {} (from {}) gets no connection: -n {} split {} ways leaves {empty} empty; use at most {} shards, or -n {} or more",
            d.shard,
            d.source,
            thousands(total),
            d.shard.count,
            thousands(total),
            d.shard.count
        );
    }
    Ok(part)
}

/// The line that says which part of the whole this shard runs.
fn shard_line(d: &Detected, a: &ConnectArgs, conns: u64, c: &Clients) -> String {
    let whole = a.shape.stages.as_ref().map_or(a.conns, |st| st.max());
    let first = d.shard.offset(whole);
    let mut line = format!(
        "c1m connect: shard {} (from {}): {} of {} connections (indices {}-{})",
        d.shard,
        d.source,
        thousands(conns),
        thousands(whole),
        thousands(first),
        thousands(first + conns - 1)
    );
    if let (Some(r), Some(whole)) = (c.rate, a.client.rate) {
        line += &format!(", --rate {r:.1}/s of {whole}/s");
    }
    line += &format!(
        ", --window {} of {}",
        thousands(c.window),
        thousands(a.client.window)
    );
    if d.shard.part(a.client.window) == 0 {
        line += &format!(
            " (at least 1 per shard: {} in flight over all {})",
            d.shard.count, d.shard.count
        );
    }
    line
}
