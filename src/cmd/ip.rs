//! `c1m ip add|del|check`: the command line of [`crate::ip`].

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use c1m_sys::netns;

use crate::ip;
use c1m_limits::num::plural;

/// `c1m ip`: manage c1m's source addresses on an interface.
#[derive(clap::Args, Debug, Clone)]
pub struct IpArgs {
    /// `add`, `del` or `check`.
    #[command(subcommand)]
    pub command: IpCommand,
}

/// The `c1m ip` subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum IpCommand {
    /// Add addresses to an interface, marked as c1m's.
    Add {
        /// The interface, e.g. eth0.
        iface: String,
        /// Addresses: 198.18.1.1, 198.18.1.1-198.18.1.40, 198.18.1.0/26, or a
        /// comma-separated list of those.
        addrs: String,
        /// Prefix length of each address [default: 32 for IPv4, 128 for
        /// IPv6: no new route].
        #[arg(long)]
        prefix_len: Option<u8>,
        /// Work in this named network namespace instead of the current one.
        #[arg(long)]
        netns: Option<String>,
    },
    /// Remove the addresses c1m added to an interface (all, or those listed).
    Del {
        /// The interface.
        iface: String,
        /// Only these (each must be c1m's).
        addrs: Option<String>,
        /// Work in this named network namespace instead of the current one.
        #[arg(long)]
        netns: Option<String>,
    },
    /// Check that each of c1m's addresses on an interface can connect to a
    /// target (bind to it, connect, close).
    Check {
        /// The interface.
        iface: String,
        /// A listening address to connect to, e.g. 198.18.0.1:8090.
        #[arg(long)]
        target: String,
        /// How long one connect may take.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Work in this named network namespace instead of the current one.
        #[arg(long)]
        netns: Option<String>,
    },
}

/// Runs `c1m ip`.
pub fn run(args: &IpArgs) -> Result<ExitCode> {
    let (IpCommand::Add { netns, .. }
    | IpCommand::Del { netns, .. }
    | IpCommand::Check { netns, .. }) = &args.command;
    match netns {
        Some(ns) => netns::run_in(ns, || run_here(&args.command))
            .with_context(|| format!("network namespace {ns}"))?,
        None => run_here(&args.command),
    }
}

fn run_here(cmd: &IpCommand) -> Result<ExitCode> {
    match cmd {
        IpCommand::Add {
            iface,
            addrs,
            prefix_len,
            ..
        } => {
            let ips = ip::parse_distinct(addrs)?;
            let added = ip::add(iface, &ips, *prefix_len)?;
            println!(
                "c1m ip: added {} to {iface}: {}",
                plural(added.len() as u64, "address", "addresses"),
                summary(&added)
            );
            Ok(ExitCode::SUCCESS)
        }
        IpCommand::Del { iface, addrs, .. } => {
            let only = addrs.as_deref().map(ip::parse_distinct).transpose()?;
            let removed = ip::del(iface, only.as_deref())?;
            println!(
                "c1m ip: removed {} from {iface}{}{}",
                plural(removed.len() as u64, "c1m address", "c1m addresses"),
                if removed.is_empty() { "" } else { ": " },
                summary(&removed)
            );
            Ok(ExitCode::SUCCESS)
        }
        IpCommand::Check {
            iface,
            target,
            timeout,
            ..
        } => {
            let target = ip::parse_target(target)?;
            let results = ip::check(iface, target, *timeout)?;
            if results.is_empty() {
                bail!(
                    "{iface} has no c1m addresses to check; add some with `c1m ip add {iface} ADDRS`"
                );
            }
            let mut bad = 0;
            for (ip, r) in &results {
                match r {
                    Ok(()) => println!("c1m ip: {ip} -> {target}: ok"),
                    Err(e) => {
                        bad += 1;
                        println!("c1m ip: {ip} -> {target}: {e}");
                    }
                }
            }
            println!(
                "c1m ip: {} of {} on {iface} reached {target}",
                results.len() - bad,
                plural(results.len() as u64, "address", "addresses")
            );
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// A short list: all of a few addresses, or the first and last of many.
fn summary(ips: &[IpAddr]) -> String {
    match ips {
        [] => String::new(),
        [a, b, ..] if ips.len() > 4 => format!("{a}, {b}, … {} (in order)", ips[ips.len() - 1]),
        _ => ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let ips = crate::plan::addr::parse_ips("198.18.1.1-198.18.1.9").unwrap();
        assert_eq!(summary(&ips[..2]), "198.18.1.1, 198.18.1.2");
        assert_eq!(
            summary(&ips),
            "198.18.1.1, 198.18.1.2, … 198.18.1.9 (in order)"
        );
    }
}
