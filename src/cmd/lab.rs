//! `c1m lab up|down|status|run`: the command line of [`crate::lab`], and
//! `lab run`, the experiment across the lab's network namespaces.

use std::process::ExitCode;

use anyhow::{Context, Result};
use c1m_limits::{Facts, Roots};
use c1m_sys::netns;
use clap::Args;

use super::args::{ExperimentOpts, Topology, count};
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
    /// many-ips: every client address to one server port; many-ports: one
    /// address per client host to server ports 8090-8119.
    #[arg(long, value_enum, default_value_t = Topology::ManyIps)]
    pub topology: Topology,
    /// The flags every experiment with both fleets takes.
    #[command(flatten)]
    pub exp: ExperimentOpts,
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
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Addresses per client host.
        #[arg(long, default_value_t = 1)]
        client_addrs: usize,
    },
    /// Remove everything `lab up` built (and what a crashed run left).
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

/// Runs `c1m lab`.
pub fn run(args: &LabArgs) -> Result<ExitCode> {
    match &args.command {
        LabCommand::Run(a) => {
            let Some(layout) = lab::layout()? else {
                anyhow::bail!(
                    "no lab is up; build one first: c1m lab up --clients K --client-addrs N"
                );
            };
            lab_run(a, &layout)
        }
        LabCommand::Up {
            clients,
            client_addrs,
        } => {
            let layout = lab::up(*clients, *client_addrs)?;
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
            let removed = match lab::down() {
                Ok(removed) => removed,
                Err(_) if !runs.is_empty() => return Ok(ExitCode::SUCCESS),
                Err(e) => return Err(e),
            };
            println!(
                "c1m lab: down; removed network namespaces {}",
                removed.join(", ")
            );
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
    let facts = Facts::read(&Roots::system());
    let host = Host::of(&facts)?;
    let e = &a.exp;
    let per_worker = host.worker_conns(e.fleet.worker_conns)?;
    let server_ip = *layout
        .server
        .addrs
        .first()
        .context("the lab's server host has no address")?;
    let ports: Vec<u16> = match a.topology {
        Topology::ManyPorts => (8090..=8119).collect(),
        _ => vec![8090],
    };
    let eps = settings::endpoints(&[server_ip], &ports);
    let hosts = layout.clients.len().max(1) as u64;
    let traffic = settings::traffic(&e.traffic, a.conns, !e.server.no_echo)?;
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
            bind: e.client.bind_mode,
            endpoints: eps.clone(),
            local_ports,
            port_range: (lo, hi),
            pair_budget: plan::default_pair_budget(local_ports),
            client_per_worker: per_worker,
            server_per_worker: None,
            force: false,
        };
        let p = plan::plan(&req).with_context(|| format!("client host {}", client.netns))?;
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
            ..Clients::of(&e.client, &e.fleet, traffic.clone())
        };
        clients.extend(in_host.specs(&p));
        shares.extend(p.clients);
    }
    // Every endpoint gets its share of every host's connections.
    let server_shares = plan::assign_servers(&loads, per_worker);
    let servers = Servers {
        netns: Some(layout.server.netns.clone()),
        ..Servers::of(&e.server, &e.fleet, host.somaxconn)
    }
    .specs(&server_shares, &eps, per_worker);
    let plan = Plan {
        conns: a.conns,
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
        Topology::ManyPorts => "lab many-ports",
        _ => "lab many-ips",
    };
    Session::new(
        plan,
        CommandKind::LabRun,
        label,
        &settings::outputs(&e.fleet),
    )?
    .in_namespaces(namespaces)
    .start_at(start_at)
    .drive(servers, clients, Some(e.hold))
}
