//! `c1m lab up|down|status|run`: the command line of [`crate::lab`], and
//! `lab run`, the experiment across the lab's network namespaces.

use std::process::ExitCode;

use anyhow::{Context, Result};
use c1m_limits::{Facts, Roots};
use c1m_sys::netns;
use clap::Args;

use clap::ValueEnum;

use super::args::{ExperimentOpts, count, whole};
use super::settings::{self, Clients, Host, Servers};
use crate::lab::{self, Layout};
use crate::plan::{self, Plan, Request};
use crate::report::model::CommandKind;
use crate::supervisor::session::Session;

/// `c1m lab run`: the experiment across the lab's hosts.
#[derive(Debug, Clone, Args)]
pub struct LabRunArgs {
    /// Connections to open and hold, over all client hosts.
    #[arg(short = 'n', long = "conns", default_value = "100000", value_parser = count)]
    pub conns: u64,
    /// How the client hosts reach the server host.
    #[arg(long, value_enum, default_value_t = LabTopology::ManyIps)]
    pub topology: LabTopology,
    /// The flags every experiment with both fleets takes.
    #[command(flatten)]
    pub exp: ExperimentOpts,
    /// A scenario file read in (--scenario), or printed (--print-scenario).
    #[command(flatten)]
    pub scenario: super::scenario::ScenarioOpts,
}

/// How `lab run` connects the lab's client hosts to its server host
/// (addresses as `c1m lab up` builds them: server 198.18.0.1, client host
/// K's 198.18.K.1, 198.18.K.2, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabTopology {
    /// Every address of every client host to the server's 198.18.0.1
    /// port 8090, and 8091, 8092… as the count needs (each (client
    /// address, server port) pair holds half the client host's local
    /// port range before connect() slows down: 14,116 on Linux's default
    /// range). More addresses: `lab up --client-addrs N`.
    ManyIps,
    /// One address per client host to the server's ports 8090-8119: the
    /// classic "one client IP to many server ports". More client hosts:
    /// `lab up --clients N`.
    ManyPorts,
}

/// The server ports of a many-ips lab run: 8090 and as many more as the
/// busiest client host needs for `conns_per_host[h]` connections from
/// `addrs_per_host[h]` addresses, each (address, port) pair holding at
/// most `pair_budget[h]` (see `c1m_limits::ports::pair_budget`).
/// Pure: `(conns, addrs, pair budget)` per host in, ports out.
pub fn many_ips_ports(hosts: &[(u64, u64, u64)]) -> Vec<u16> {
    let needed = hosts
        .iter()
        .map(|&(conns, addrs, budget)| conns.div_ceil(addrs.max(1) * budget.max(1)))
        .max()
        .unwrap_or(1)
        .clamp(1, u64::from(u16::MAX - 8090) + 1);
    (8090..).take(needed as usize).collect()
}

/// `c1m lab`: build or remove the namespace lab.
#[derive(clap::Args, Debug, Clone)]
pub struct LabArgs {
    /// `up`, `run`, `down` or `status`.
    #[command(subcommand)]
    pub command: LabCommand,
}

/// The `c1m lab` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum LabCommand {
    /// Build the lab: a server host and client hosts joined by a bridge.
    Up {
        /// Client hosts (network namespaces c1m-cli1…).
        #[arg(long, default_value_t = 1, value_parser = whole(1u32, None))]
        clients: u32,
        /// Addresses per client host.
        #[arg(long, default_value_t = 1, value_parser = whole(1u32, None))]
        client_addrs: u32,
    },
    /// Remove everything `lab up` built (also after a crash or a failed
    /// `up`); namespaces it did not build are left alone.
    Down,
    /// Run the experiment across the lab: the server fleet in c1m-srv,
    /// each client host's fleet in its own namespace (its own port space).
    Run(Box<LabRunArgs>),
    /// Print the lab's layout.
    Status {
        /// As JSON (the state file).
        #[arg(long)]
        json: bool,
    },
}

/// The checks of `lab run`'s flags together that read nothing of the
/// machine: what `--print-scenario` refuses too, with the same line.
///
/// # Errors
/// One line naming the flags and the fix.
pub fn check_run(a: &LabRunArgs) -> Result<()> {
    a.exp.shape.reconnect()?;
    let conns = a.exp.shape.stages.as_ref().map_or(a.conns, |st| st.max());
    let traffic = settings::traffic(
        &a.exp.traffic,
        conns,
        !a.exp.server.no_echo || a.exp.ws.websocket,
    )?;
    settings::experiment_ws(a.exp.ws.websocket, a.exp.ws.ws_heartbeat, &traffic)?;
    super::gate::gate(&a.exp.gate, &traffic)?;
    Ok(())
}

/// Runs `c1m lab`.
pub fn run(args: &LabArgs) -> Result<ExitCode> {
    match &args.command {
        LabCommand::Run(a) => {
            // Every flag is checked before the lab is read.
            settings::start_at(a.exp.start_at)?;
            settings::check_outputs(&a.exp.fleet)?;
            check_run(a)?;
            let Some(layout) = lab::layout()? else {
                anyhow::bail!(
                    "no lab is up; build one first: c1m lab up --clients K --client-addrs N"
                );
            };
            lab::check(&layout)?;
            lab_run(a, &layout)
        }
        LabCommand::Up {
            clients,
            client_addrs,
        } => {
            let layout = lab::up(*clients as usize, *client_addrs as usize)?;
            println!("c1m lab: up");
            print!("{}", lab::describe(&layout));
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down => {
            // A SIGKILLed `c1m run`'s namespace is c1m's leftover too.
            let runs = crate::lab::runns::remove_stale()?;
            if !runs.is_empty() {
                println!(
                    "c1m lab: removed network namespaces left by killed runs: {}",
                    runs.join(", ")
                );
            }
            let d = lab::down()?;
            let mut line = if !d.was_up {
                format!(
                    "c1m lab: down; nothing is up (no {}): nothing to remove",
                    lab::STATE_FILE
                )
            } else if d.removed.is_empty() {
                "c1m lab: down; no network namespace of the lab was left to remove".to_string()
            } else {
                format!(
                    "c1m lab: down; removed network namespaces {}",
                    d.removed.join(", ")
                )
            };
            if !d.gone.is_empty() {
                line += &format!(" (not there: {})", d.gone.join(", "));
            }
            println!("{line}");
            if !d.left_alone.is_empty() {
                println!(
                    "c1m lab: left alone: {} (lab names, but no c1m lab recorded them: not c1m's; `ip netns del NAME` deletes one that is yours)",
                    d.left_alone.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { json } => match lab::layout()? {
            None => {
                println!("c1m lab: not up (`c1m lab up` builds it)");
                Ok(ExitCode::FAILURE)
            }
            Some(l) if *json => {
                println!("{}", serde_json::to_string_pretty(&l)?);
                Ok(ExitCode::SUCCESS)
            }
            Some(l) => {
                print!("{}", lab::describe(&l));
                let missing: Vec<&str> = l
                    .namespaces()
                    .into_iter()
                    .filter(|n| !netns::exists(n))
                    .collect();
                if missing.is_empty() {
                    Ok(ExitCode::SUCCESS)
                } else {
                    println!(
                        "c1m lab: missing namespaces {}; `c1m lab down` cleans up",
                        missing.join(", ")
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        },
    }
}

/// `c1m lab run`: one plan per client host (each has its own port space,
/// as separate machines do), one server fleet in the server's namespace.
pub fn lab_run(a: &LabRunArgs, layout: &Layout) -> Result<ExitCode> {
    let start_at = settings::start_at(a.exp.start_at)?;
    settings::check_proxy(&a.exp.client, &layout.server.addrs)?;
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let e = &a.exp;
    let per_worker = host.worker_conns(e.fleet.worker_conns)?;
    let server_ip = *layout
        .server
        .addrs
        .first()
        .context("the lab's server host has no address")?;
    let reconnect = e.shape.reconnect()?;
    // With --stages the largest stage is the count planned for.
    let total = e.shape.stages.as_ref().map_or(a.conns, |st| st.max());
    let stages = e.shape.stages(total, e.hold);
    let hosts = layout.clients.len().max(1) as u64;
    let share = |h: usize| total / hosts + u64::from((h as u64) < total % hosts);
    let ports: Vec<u16> = match a.topology {
        LabTopology::ManyPorts => (8090..=8119).collect(),
        LabTopology::ManyIps => many_ips_ports(
            &layout
                .clients
                .iter()
                .enumerate()
                .map(|(h, c)| {
                    let (lo, hi) = c.local_port_range.unwrap_or(host.port_range);
                    let budget = plan::default_pair_budget(u64::from(hi - lo) + 1);
                    (share(h), c.addrs.len() as u64, budget)
                })
                .collect::<Vec<_>>(),
        ),
    };
    let eps = settings::endpoints(&[server_ip], &ports);
    let traffic = settings::traffic(&e.traffic, total, !e.server.no_echo || e.ws.websocket)?;
    let client_ws = settings::experiment_ws(e.ws.websocket, e.ws.ws_heartbeat, &traffic)?;
    let gate = super::gate::gate(&e.gate, &traffic)?;
    let (server_tls, client_tls) = match settings::experiment_tls(e.tls.tls, e.tls.no_resume, &eps)?
    {
        Some((s, c)) => (Some(s), Some(c)),
        None => (None, None),
    };
    let mut clients = Vec::new();
    let mut shares = Vec::new();
    let mut all_sources = Vec::new();
    let mut pairs = 0;
    let mut per_pair_max = 0;
    let mut capacity = 0;
    let mut why = Vec::new();
    let mut warnings = Vec::new();
    let mut loads = vec![0u64; eps.len()];
    for (h, client) in layout.clients.iter().enumerate() {
        let conns = share(h);
        if conns == 0 {
            continue;
        }
        let sources = match a.topology {
            LabTopology::ManyPorts => client.addrs.iter().take(1).copied().collect(),
            LabTopology::ManyIps => client.addrs.clone(),
        };
        let (lo, hi) = client.local_port_range.unwrap_or(host.port_range);
        let local_ports = u64::from(hi - lo) + 1;
        let req = Request {
            conns,
            sources,
            bind: e.client.bind_mode,
            endpoints: eps.clone(),
            local_ports,
            port_range: (lo, hi),
            pair_budget: plan::default_pair_budget(local_ports),
            client_per_worker: per_worker,
            server_per_worker: None,
            force: false,
        };
        let p = plan::plan(&req).map_err(|e| lab_refusal(e, &client.netns, a.topology))?;
        let host_loads = plan::endpoint_loads(conns, p.sources.len() as u64, eps.len() as u64);
        for (l, h) in loads.iter_mut().zip(host_loads) {
            *l += h;
        }
        pairs += p.pairs;
        per_pair_max = per_pair_max.max(p.per_pair_max);
        capacity += p.capacity;
        why.push(format!("{}: {}", client.netns, p.capacity_why));
        warnings.extend(p.warnings.iter().map(|w| format!("{}: {w}", client.netns)));
        all_sources.extend(p.sources.iter().copied());
        let in_host = Clients {
            netns: Some(client.netns.clone()),
            reconnect,
            tls: client_tls.clone(),
            websocket: client_ws.clone(),
            ..Clients::of(&e.client, &e.fleet, traffic.clone())
        };
        clients.extend(in_host.specs(&p));
        shares.extend(p.clients);
    }
    // Every endpoint gets its share of every host's connections.
    let server_shares = plan::assign_servers(&loads, per_worker);
    let servers = Servers {
        netns: Some(layout.server.netns.clone()),
        // c1m's own servers take the headers its clients send.
        proxy: e.client.proxy_protocol,
        tls: server_tls,
        websocket: e.ws.websocket,
        ..Servers::of(&e.server, &e.fleet, host.somaxconn)
    }
    .specs(&server_shares, &eps, per_worker);
    let plan = Plan {
        conns: total,
        sources: all_sources,
        bind: e.client.bind_mode,
        endpoints: eps,
        pairs,
        per_pair_max,
        capacity,
        capacity_why: why.join("; "),
        clients: shares,
        servers: server_shares,
        warnings,
    };
    let namespaces = layout.hosts().map(|h| h.netns.clone()).collect();
    let label = match a.topology {
        LabTopology::ManyPorts => "lab many-ports",
        LabTopology::ManyIps => "lab many-ips",
    };
    Session::new(
        plan,
        CommandKind::LabRun,
        label,
        &settings::outputs(&e.fleet),
    )?
    .in_namespaces(namespaces)
    .start_at(start_at)
    .gate(gate)
    .shaped(stages, reconnect, e.server.close_fraction.clone())
    .drive(servers, clients, Some(e.hold))
}

/// A plan the lab cannot hold, with the fix in `lab`'s own flags (the
/// planner's words name `run`'s); the message is the planner's.
fn lab_refusal(e: plan::PlanError, netns: &str, topology: LabTopology) -> anyhow::Error {
    let fix = match topology {
        LabTopology::ManyPorts => {
            "more client hosts (`c1m lab down && c1m lab up --clients N`: each has its own port space), --topology many-ips, or a smaller -n"
        }
        LabTopology::ManyIps => {
            "more client addresses or hosts (`c1m lab down && c1m lab up --client-addrs N` or `--clients N`), or a smaller -n"
        }
    };
    let e = match e {
        plan::PlanError::TooMany {
            conns,
            capacity,
            why,
            ..
        } => plan::PlanError::TooMany {
            conns,
            capacity,
            why,
            fix: fix.to_string(),
        },
        other => other,
    };
    anyhow::Error::new(e).context(format!("client host {netns}"))
}

#[cfg(test)]
mod tests {
    use super::many_ips_ports;

    #[test]
    fn many_ips_adds_server_ports_only_as_the_count_needs() {
        // lab up's defaults: one client host, one address, 32768-60999.
        let budget = 28_232 / 2;
        assert_eq!(many_ips_ports(&[(100_000, 1, budget)]).len(), 8);
        assert_eq!(many_ips_ports(&[(14_116, 1, budget)]), vec![8090]);
        assert_eq!(many_ips_ports(&[(14_117, 1, budget)]), vec![8090, 8091]);
        // The busiest host decides; more addresses need fewer ports.
        assert_eq!(
            many_ips_ports(&[(50_000, 4, budget), (100_000, 1, budget)]).len(),
            8
        );
        assert_eq!(many_ips_ports(&[(100_000, 8, budget)]), vec![8090]);
        assert_eq!(many_ips_ports(&[]), vec![8090]);
        assert_eq!(many_ips_ports(&[(0, 0, 0)]), vec![8090]);
    }
}
