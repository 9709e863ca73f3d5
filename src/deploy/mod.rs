//! Ready-made manifests for running c1m's shards on a scheduler people
//! already have: a Kubernetes Indexed Job ([`k8s`]) and a Slurm array job
//! ([`slurm`]). c1m builds no coordinator: each shard is one
//! `c1m connect --shard I/K …` that takes its part of the whole (see
//! [`crate::plan::shard`]), and `c1m merge` adds up the shards' reports.
//!
//! Pure: a spec in, text out, and the warnings a person should read; the
//! command layer prints them. Every figure the generators put in a
//! manifest (memory per pod, ports per pair) comes from c1m's own
//! measurements or planner, and the manifest says which.

pub mod k8s;
pub mod kube;
pub mod slurm;
pub mod yaml;

use std::time::Duration;

use c1m_limits::calibration::ESTIMATED_BYTES_PER_SOCKET;

use crate::plan::addr::parse_ports;
use crate::plan::shard::Shard;
use c1m_limits::num::thousands;

/// Why a manifest could not be made. Each message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// A target that is not `HOST:PORT` or `HOST:LO-HI`.
    #[error("--target {0:?}: write HOST:PORT or HOST:LO-HI (HOST a name or an address; [v6]:PORT)")]
    BadTarget(String),
    /// No target, and no server to aim at.
    #[error(
        "give --target HOST:PORT, the server under test (c1m k8s job can also run one: --with-server)"
    )]
    NoTarget,
    /// `-n 0` or `--shards 0`, or more shards than connections.
    #[error("{0}")]
    BadCount(String),
    /// A shard would hold more than its ports allow.
    #[error(
        "shard 0 of {shards} holds {per_shard} connections from one source address, but {endpoints} \
         × {ports} local ports allow {capacity}: {fix}"
    )]
    TooMany {
        /// Shards.
        shards: u32,
        /// The largest shard's connections, formatted.
        per_shard: String,
        /// Destination endpoints, formatted (`1 destination`).
        endpoints: String,
        /// Usable local ports, formatted.
        ports: String,
        /// endpoints × ports, formatted.
        capacity: String,
        /// How to make it fit.
        fix: String,
    },
    /// A value the manifest format cannot carry as given.
    #[error("{0}")]
    BadValue(String),
    /// A shard index not below the shard count.
    #[error("shard index {index} is not below --shards {shards} (indexes start at 0)")]
    NoSuchShard {
        /// The index asked for.
        index: u32,
        /// The shard count.
        shards: u32,
    },
}

/// Generated text and what the person running it should read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The YAML documents (or the batch script).
    pub text: String,
    /// Warnings and next steps, one line each, for stderr.
    pub notes: Vec<String>,
}

/// One target as `c1m connect` takes it: `HOST:PORT`, `HOST:LO-HI` or
/// `HOST:P1,P2`, where HOST is a name (resolved by each shard at its
/// start) or an address (`[v6]` in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    text: String,
    host: String,
    endpoints: u64,
}

impl Target {
    /// Parses and checks one target.
    ///
    /// # Errors
    /// [`DeployError::BadTarget`] when the host is empty or has characters
    /// no name or address has, or the ports are not `PORT`, `LO-HI` or a
    /// comma list of them (1–65535, low ≤ high).
    pub fn parse(text: &str) -> Result<Self, DeployError> {
        let t = text.trim();
        let bad = || DeployError::BadTarget(t.to_string());
        let (host, ports) = if let Some(rest) = t.strip_prefix('[') {
            rest.split_once("]:").ok_or_else(bad)?
        } else {
            t.rsplit_once(':').ok_or_else(bad)?
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !host_ok || (host.contains(':') && !t.starts_with('[')) {
            return Err(bad());
        }
        let endpoints = parse_ports(ports).map_err(|_| bad())?.len() as u64;
        Ok(Self {
            text: t.to_string(),
            host: host.to_string(),
            endpoints,
        })
    }

    /// As given (trimmed): what `c1m connect` gets.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host part: a name or an address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Destination ports it names: each is one (source, destination)
    /// pair per source address.
    pub fn endpoints(&self) -> u64 {
        self.endpoints
    }
}

/// What every shard of a sharded client run does, in whole-run figures:
/// each shard's `c1m connect --shard I/K` takes its own part of `-n`,
/// `--rate` and `--window` (the whole divided by K, the remainder one each
/// to the lowest indexes: [`Shard::part`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Where to connect; at least one.
    pub targets: Vec<Target>,
    /// Connections over all shards.
    pub conns: u64,
    /// Shards (pods, array tasks): K ≥ 1.
    pub shards: u32,
    /// How long each shard holds once all its connections are open.
    pub hold: Duration,
    /// Connections per second over all shards.
    pub rate: Option<f64>,
    /// Handshakes in flight over all shards.
    pub window: Option<u64>,
    /// When every shard starts its ramp (RFC 3339 or Unix seconds), as
    /// given: shards start together without a coordinator. Checked by the
    /// command layer, with `c1m connect`'s own parser.
    pub start_at: Option<String>,
    /// More `c1m connect` arguments, passed as they are (`--mode
    /// heartbeat --interval 10s`).
    pub extra: Vec<String>,
    /// Skip the ports arithmetic ([`Load::check`]) — for a name that
    /// resolves to several addresses, which multiply the pairs.
    pub force: bool,
}

impl Load {
    /// The largest shard's connections: shard 0's part.
    pub fn largest_shard(&self) -> u64 {
        Shard {
            index: 0,
            count: self.shards.max(1),
        }
        .part(self.conns)
    }

    /// Destination endpoints over all targets.
    pub fn endpoints(&self) -> u64 {
        self.targets.iter().map(Target::endpoints).sum()
    }

    /// Checks the run can be made, with each shard on one source address
    /// (a pod's, a node's) and `local_ports` usable local ports: at most
    /// endpoints × `local_ports` connections per shard (one port per
    /// connection per (source, destination) pair, the 4-tuple). Returns
    /// warnings: past half the ports per pair, `connect()` slows down
    /// sharply (c1m's per-pair budget, [`crate::plan::default_pair_budget`]).
    ///
    /// # Errors
    /// [`DeployError::NoTarget`], [`DeployError::BadCount`] (`-n 0`,
    /// `--shards 0`, more shards than connections), [`DeployError::TooMany`]
    /// (unless `force`), [`DeployError::BadValue`] for an argument with a control character
    /// (one line each, in a manifest and a script).
    pub fn check(&self, local_ports: u64) -> Result<Vec<String>, DeployError> {
        if self.targets.is_empty() {
            return Err(DeployError::NoTarget);
        }
        if self.conns == 0 {
            return Err(DeployError::BadCount("-n must be at least 1".into()));
        }
        if self.shards == 0 {
            return Err(DeployError::BadCount("--shards must be at least 1".into()));
        }
        if u64::from(self.shards) > self.conns {
            return Err(DeployError::BadCount(format!(
                "--shards {} is more than the {} connections: every shard needs at least one",
                self.shards,
                thousands(self.conns)
            )));
        }
        for a in self.connect_args("0/1", "-") {
            if a.chars().any(char::is_control) {
                return Err(DeployError::BadValue(format!(
                    "argument {a:?} has a control character (a newline, a tab): write it with \
                     c1m's escapes instead (\\n, \\t, \\xHH)"
                )));
            }
        }
        let per_shard = self.largest_shard();
        let endpoints = self.endpoints();
        let capacity = endpoints.saturating_mul(local_ports);
        let mut warnings = Vec::new();
        if per_shard > capacity && !self.force {
            let need = per_shard.div_ceil(local_ports.max(1));
            return Err(DeployError::TooMany {
                shards: self.shards,
                per_shard: thousands(per_shard),
                endpoints: c1m_limits::num::plural(endpoints, "destination", "destinations"),
                ports: thousands(local_ports),
                capacity: thousands(capacity),
                fix: format!(
                    "give the target ≥ {} ports (e.g. HOST:8090-{}), more --shards (≥ {}), or --force when HOST resolves to several addresses",
                    thousands(need),
                    8090 + need - 1,
                    thousands(self.conns.div_ceil(capacity.max(1)))
                ),
            });
        }
        let budget = crate::plan::default_pair_budget(local_ports);
        let per_pair = per_shard.div_ceil(endpoints.max(1));
        if per_pair > budget {
            warnings.push(format!(
                "each shard carries up to {} connections per (source, destination) pair, over the {} \
                 (half of {} local ports) past which connect() slows down sharply; more target ports \
                 or shards keep each pair within it",
                thousands(per_pair),
                thousands(budget),
                thousands(local_ports)
            ));
        }
        Ok(warnings)
    }

    /// The arguments after the program name for shard `shard` (`I/K`, or
    /// a placeholder a scheduler expands), writing the report to `json`
    /// (`-`: stdout): `connect TARGET… -n N --shard SHARD --json JSON
    /// --hold H [--rate R] [--window W] [--start-at T] EXTRA…`. Figures are
    /// the whole run's: `--shard` splits them.
    pub fn connect_args(&self, shard: &str, json: &str) -> Vec<String> {
        let mut a = vec!["connect".to_string()];
        a.extend(self.targets.iter().map(|t| t.as_str().to_string()));
        a.extend(["-n".into(), self.conns.to_string()]);
        a.extend(["--shard".into(), shard.to_string()]);
        a.extend(["--json".into(), json.to_string()]);
        a.extend(["--hold".into(), duration_arg(self.hold)]);
        if let Some(r) = self.rate {
            a.extend(["--rate".into(), r.to_string()]);
        }
        if let Some(w) = self.window {
            a.extend(["--window".into(), w.to_string()]);
        }
        if let Some(t) = &self.start_at {
            a.extend(["--start-at".into(), t.clone()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// A duration as one word `c1m connect` takes: whole seconds as `90s`,
/// anything finer in milliseconds (`1500ms`).
pub fn duration_arg(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Extra memory a pod or node needs beside its sockets: the c1m
/// processes themselves and the page cache they touch, in bytes.
pub const BASE_MEMORY: u64 = 256 << 20;

/// Memory for `sockets` held sockets, in MiB: c1m's measured kernel
/// memory per socket ([`ESTIMATED_BYTES_PER_SOCKET`], slab: TCP,
/// sock_inode_cache, filp, eventpoll …), + 25 %, + [`BASE_MEMORY`]. In a
/// container this is the limit that matters: a socket's kernel memory is
/// charged to its memory cgroup (measured here: 2,567 B/socket of
/// `memory.kmem.usage_in_bytes` for 8,000 loopback sockets, kernel 6.18).
pub fn memory_mib(sockets: u64) -> u64 {
    let kernel = sockets as f64 * ESTIMATED_BYTES_PER_SOCKET * 1.25;
    (kernel as u64 + BASE_MEMORY).div_ceil(1 << 20)
}

/// One word as POSIX sh reads it: unchanged when it has only characters
/// no shell treats specially, else in single quotes (a `'` inside as
/// `'\''`).
pub fn sh_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '@' | '=' | '+')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load of `conns` over `shards` to `target`, held 60 s, the rest
    /// unset (the generators' tests start from it too).
    pub(super) fn load(target: &str, conns: u64, shards: u32) -> Load {
        Load {
            targets: vec![Target::parse(target).unwrap()],
            conns,
            shards,
            hold: Duration::from_secs(60),
            rate: None,
            window: None,
            start_at: None,
            extra: vec![],
            force: false,
        }
    }

    #[test]
    fn targets() {
        let t = Target::parse("server.ns.svc:8090-8119").unwrap();
        assert_eq!((t.host(), t.endpoints()), ("server.ns.svc", 30));
        assert_eq!(Target::parse(" db-1:6379 ").unwrap().as_str(), "db-1:6379");
        assert_eq!(Target::parse("[fd00::1]:80,81").unwrap().endpoints(), 2);
        assert_eq!(Target::parse("10.0.0.1:1").unwrap().host(), "10.0.0.1");
        for bad in [
            "server",
            ":80",
            "server:",
            "server:0",
            "server:90-80",
            "fd00::1:80",
            "a b:80",
            "x;rm:80",
            "$(X):80",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connect_args_carry_whole_figures_and_the_shard() {
        let mut l = load("s:8090-8091", 1_000_000, 10);
        l.rate = Some(5000.0);
        l.window = Some(1000);
        l.start_at = Some("2026-12-01T10:00:00Z".into());
        l.extra = vec!["--mode".into(), "heartbeat".into()];
        assert_eq!(
            l.connect_args("3/10", "-").join(" "),
            "connect s:8090-8091 -n 1000000 --shard 3/10 --json - --hold 60s --rate 5000 \
             --window 1000 --start-at 2026-12-01T10:00:00Z --mode heartbeat"
        );
    }

    #[test]
    fn the_ports_arithmetic_refuses_what_cannot_fit() {
        // 1M over 10 shards: 100,000 per pod; one port allows 64,512.
        let e = load("s:8090", 1_000_000, 10).check(64_512).unwrap_err();
        assert_eq!(
            e.to_string(),
            "shard 0 of 10 holds 100,000 connections from one source address, but 1 destination × \
             64,512 local ports allow 64,512: give the target ≥ 2 ports (e.g. HOST:8090-8091), more \
             --shards (≥ 16), or --force when HOST resolves to several addresses"
        );
        let mut forced = load("s:8090", 1_000_000, 10);
        forced.force = true;
        assert_eq!(forced.check(64_512).unwrap().len(), 1);
        // Two ports fit, past the per-pair budget (32,256): a warning.
        let w = load("s:8090-8091", 1_000_000, 10).check(64_512).unwrap();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("each shard carries up to 50,000"),
            "{}",
            w[0]
        );
        // Four ports stay within it.
        assert!(
            load("s:8090-8093", 1_000_000, 10)
                .check(64_512)
                .unwrap()
                .is_empty()
        );
        // The largest shard decides: 100,001 over 10 gives shard 0 10,001.
        assert_eq!(load("s:1", 100_001, 10).largest_shard(), 10_001);
    }

    #[test]
    fn counts_and_control_characters_are_checked() {
        assert!(load("s:1", 0, 1).check(100).is_err());
        assert!(load("s:1", 10, 0).check(100).is_err());
        let e = load("s:1", 3, 4).check(100).unwrap_err().to_string();
        assert!(e.contains("every shard needs at least one"), "{e}");
        let mut l = load("s:1", 10, 1);
        l.extra = vec!["--message".into(), "PING\r\n".into()];
        let e = l.check(100).unwrap_err().to_string();
        assert!(e.contains("control character"), "{e}");
        l.extra = vec!["--message".into(), "PING\\r\\n".into()];
        assert_eq!(l.check(100), Ok(vec![]));
    }

    #[test]
    fn memory_and_quoting() {
        // 100,000 sockets × 3.9 KiB × 1.25 = 476 MiB, + 256 MiB.
        assert_eq!(memory_mib(100_000), 733);
        assert_eq!(memory_mib(0), 256);
        assert_eq!(sh_quote("c1m"), "c1m");
        assert_eq!(sh_quote("s:8090-8119"), "s:8090-8119");
        assert_eq!(sh_quote("PING\\r\\n"), "'PING\\r\\n'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(duration_arg(Duration::from_secs(90)), "90s");
        assert_eq!(duration_arg(Duration::from_millis(1500)), "1500ms");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
    }
}
