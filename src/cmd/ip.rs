//! `c1m ip add|del|check`: the command line of [`crate::ip`].

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use c1m_sys::netns;

use super::args::{positive_duration, whole};
use crate::ip;
use c1m_limits::num::plural;

/// An interface name as the kernel takes one: 1 to 15 bytes, no `/`, no
/// space (`IFNAMSIZ`, dev_valid_name()).
pub fn iface(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 15
        && text != "."
        && text != ".."
        && !text.contains(|c: char| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an interface name: write 1 to 15 characters without '/', ':' or spaces (e.g. eth0; `ip link` lists them)"
        ))
    }
}

/// Addresses as `ip add` and `ip del` take them, each once; kept as
/// written.
fn addresses(text: &str) -> Result<String, String> {
    ip::parse_distinct(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("{e:#}"))
}

/// `ip check --target`: one `ADDRESS:PORT`.
fn target(text: &str) -> Result<SocketAddr, String> {
    ip::parse_target(text).map_err(|e| format!("{e:#}"))
}

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
        #[arg(value_parser = iface)]
        iface: String,
        /// Addresses: 198.18.1.1, 198.18.1.1-198.18.1.40, 198.18.1.0/26, or a
        /// comma-separated list of those.
        #[arg(value_parser = addresses)]
        addrs: String,
        /// Prefix length of each address [default: 32 for IPv4, 128 for
        /// IPv6: no new route].
        #[arg(long, value_parser = whole(1u8, Some(128)))]
        prefix_len: Option<u8>,
        /// Work in this named network namespace instead of the current one.
        #[arg(long, value_parser = super::args::netns)]
        netns: Option<String>,
    },
    /// Remove the addresses c1m added to an interface (all, or those listed).
    Del {
        /// The interface.
        #[arg(value_parser = iface)]
        iface: String,
        /// Only these (each must be c1m's).
        #[arg(value_parser = addresses)]
        addrs: Option<String>,
        /// Work in this named network namespace instead of the current one.
        #[arg(long, value_parser = super::args::netns)]
        netns: Option<String>,
    },
    /// Check that each of c1m's addresses on an interface can connect to a
    /// target (bind to it, connect, close).
    Check {
        /// The interface.
        #[arg(value_parser = iface)]
        iface: String,
        /// A listening address to connect to, e.g. 198.18.0.1:8090.
        #[arg(long, value_parser = target)]
        target: SocketAddr,
        /// How long one connect may take.
        #[arg(long, default_value = "2s", value_parser = positive_duration)]
        timeout: Duration,
        /// Work in this named network namespace instead of the current one.
        #[arg(long, value_parser = super::args::netns)]
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
            .with_context(|| format!("--netns {ns}"))?,
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
            let target = *target;
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
