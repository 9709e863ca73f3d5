//! The flags `c1m k8s job` and `c1m slurm job` share: what the shards do,
//! in whole-run figures, turned into a [`Load`]. A shard's whole command
//! (the extra `c1m connect` arguments after `--` included) is checked by
//! c1m's own parser before any manifest is printed.

use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::Args;

use super::args::{count, duration, positive, whole};
use crate::deploy::{Load, Manifest, Target};

/// The shards' work, for every scheduler.
#[derive(Debug, Clone, Args)]
pub struct ShardedArgs {
    /// Where each shard connects: HOST:PORT or HOST:LO-HI (a name each
    /// shard resolves at its start, or an address); repeatable.
    #[arg(long = "target", value_name = "HOST:PORT")]
    pub targets: Vec<String>,
    /// Connections over all shards (1000000, 1M, 500k).
    #[arg(short = 'n', long = "conns", value_parser = count)]
    pub conns: u64,
    /// Shards (pods, array tasks); each takes its part of -n, --rate and
    /// --window.
    #[arg(long, value_parser = whole(1u32, Some(100_000)))]
    pub shards: u32,
    /// How long each shard holds once all its connections are open.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub hold: Duration,
    /// Connections per second over all shards.
    #[arg(long, value_parser = positive)]
    pub rate: Option<f64>,
    /// Handshakes in flight over all shards.
    #[arg(long, value_parser = whole(1u64, None))]
    pub window: Option<u64>,
    /// Start every shard's ramp at this time (RFC 3339 or Unix seconds),
    /// so they start together.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Print the manifest even when the ports arithmetic says a shard
    /// cannot fit (a target name that resolves to several addresses).
    #[arg(long)]
    pub force: bool,
    /// More `c1m connect` arguments for every shard, after `--` (e.g.
    /// -- --mode heartbeat --interval 10s).
    #[arg(last = true, value_name = "CONNECT_ARGS")]
    pub extra: Vec<String>,
}

impl ShardedArgs {
    /// The load these flags describe, aimed at `targets` (the flags' own
    /// when `None`).
    ///
    /// # Errors
    /// A target that does not parse, or a `--start-at` that `c1m connect`
    /// refuses or that is already past.
    pub fn load(&self, targets: Option<Vec<Target>>) -> anyhow::Result<Load> {
        let targets = match targets {
            Some(t) => t,
            None => self
                .targets
                .iter()
                .map(|t| Target::parse(t))
                .collect::<Result<_, _>>()?,
        };
        if let Some(t) = &self.start_at {
            let at = super::start_at::parse(t).map_err(|e| anyhow::anyhow!("--start-at: {e}"))?;
            super::start_at::wait(at, SystemTime::now()).map_err(anyhow::Error::msg)?;
        }
        Ok(Load {
            targets,
            conns: self.conns,
            shards: self.shards,
            hold: self.hold,
            rate: self.rate,
            window: self.window,
            start_at: self.start_at.clone(),
            extra: self.extra.clone(),
            force: self.force,
        })
    }
}

/// Checks a shard's whole command (`c1m connect …`) parses as c1m itself
/// parses it, so a manifest never carries a command its pods would refuse.
///
/// # Errors
/// clap's error on one line, naming the argument (usually one after `--`).
pub fn check_command(argv: &[String]) -> anyhow::Result<()> {
    if let Err(e) = super::parse(argv) {
        let args: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
        bail!(
            "c1m connect would refuse the shards' command ({}): {}",
            argv.join(" "),
            super::clap_error::one_line(&e, &super::command(), &args)
        );
    }
    Ok(())
}

/// Parses `LO-HI` into two ports, low ≤ high.
pub fn port_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{text:?}: write LO-HI, e.g. 1024-65535");
    let (lo, hi) = text.trim().split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Prints the manifest on stdout and its notes on stderr.
pub fn print(m: &Manifest) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(m.text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the manifest to stdout")?;
    for n in &m.notes {
        crate::say!("c1m: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("1024-65535"), Ok((1024, 65535)));
        assert_eq!(port_range("8090-8090"), Ok((8090, 8090)));
        for bad in ["1024", "0-10", "10-9", "1-65536", "a-b"] {
            assert!(port_range(bad).is_err(), "{bad}");
        }
    }
}
