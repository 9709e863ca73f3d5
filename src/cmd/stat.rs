//! `c1m stat` (alias `watch`): the command line of [`crate::stat`].

use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::time::Duration;

use c1m_probe::diag::Families;
use clap::Args;

use super::args::{netns, positive_duration, whole};
use crate::stat::{self, Settings, port_range};

/// Watch TCP sockets, slab caches and memory live.
#[derive(Debug, Clone, Args)]
pub struct StatArgs {
    /// Time between refreshes (at least 100ms).
    #[arg(long, default_value = "1s", value_parser = positive_duration)]
    pub interval: Duration,
    /// Only sockets whose local or remote port is in PORTS: one port or
    /// one range LO-HI (e.g. 8090-8119). Filtered in the kernel.
    #[arg(long, value_name = "PORTS", value_parser = port_range)]
    pub ports: Option<RangeInclusive<u16>>,
    /// Only IPv4 sockets (the netlink count walks the table once, not twice).
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6 sockets (IPv4-mapped ones included).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Stop after N refreshes.
    #[arg(long, value_name = "N", value_parser = whole(1u64, None))]
    pub count: Option<u64>,
    /// Print one JSON object per refresh (schema "c1m.stat/1").
    #[arg(long)]
    pub json: bool,
    /// Rows of the port and slab-cache tables.
    #[arg(long, default_value_t = 10, value_parser = whole(1u64, Some(999)))]
    pub top: u64,
    /// Watch the sockets of this network namespace (`ip netns list`)
    /// [default: the running `c1m run`'s own namespace, c1m-run-PID, if
    /// exactly one exists; else c1m's own].
    #[arg(long, value_name = "NAME", conflicts_with = "host_netns", value_parser = netns)]
    pub netns: Option<String>,
    /// Watch the network namespace `c1m stat` was started in (usually the
    /// host's), even while a `c1m run` holds its connections in a
    /// namespace made for it.
    #[arg(long)]
    pub host_netns: bool,
}

impl StatArgs {
    /// The settings `c1m stat` runs on.
    pub fn settings(&self) -> Settings {
        Settings {
            interval: self.interval,
            ports: self.ports.clone(),
            families: match (self.ipv4, self.ipv6) {
                (true, _) => Families::V4,
                (_, true) => Families::V6,
                _ => Families::Both,
            },
            count: self.count,
            json: self.json,
            top: self.top as usize,
            netns: self.netns.clone(),
        }
    }
}

/// Runs `c1m stat`.
pub fn run(a: &StatArgs) -> anyhow::Result<ExitCode> {
    let mut s = a.settings();
    if s.netns.is_none()
        && !a.host_netns
        && let Some(ns) = stat::running_run_netns()
    {
        crate::say!(
            "c1m stat: watching network namespace {ns}, where the running `c1m run` holds its connections (--host-netns: watch the namespace stat was started in)"
        );
        s.netns = Some(ns);
    }
    stat::run(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        stat: StatArgs,
    }

    #[test]
    fn flags_become_settings() {
        let s = Cli::parse_from(["c1m", "-4", "--ports", "8970"])
            .stat
            .settings();
        assert_eq!((s.families, s.ports), (Families::V4, Some(8970..=8970)));
        assert!(Cli::try_parse_from(["c1m", "-4", "-6"]).is_err());
        assert!(Cli::try_parse_from(["c1m", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["c1m", "--interval", "0"]).is_err());
        assert!(Cli::try_parse_from(["c1m", "--interval", "18446744073709551616"]).is_err());
    }
}
