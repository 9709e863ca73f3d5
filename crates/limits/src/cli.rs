//! `c1m doctor` and `c1m tune`: their arguments (clap `Args`, to flatten
//! into the `c1m` binary's subcommands) and their entry points.
//!
//! Exit codes: `doctor` 0 when the target fits, 1 when a limit caps it;
//! `tune` 0 when it showed or did what was asked, 1 when it refused.
//! Errors come back as `anyhow::Error` with one line naming cause and fix.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::apply::{self, ApplyError};
use crate::facts::{Facts, Roots};
use crate::num::parse_count;
use crate::render;
use crate::target::{Role, Target, Tuples};
use crate::tune::{self, DropIn, Request};
use crate::verdict;

/// Where to read the machine from; defaults to this one.
#[derive(Debug, Clone, clap::Args)]
pub struct RootArgs {
    /// Read /proc from here instead (replays a captured machine).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/proc",
        help_heading = "Replay a captured machine"
    )]
    pub proc_root: PathBuf,
    /// Read /etc from here instead (replays a captured machine); `tune --apply` writes its drop-ins here too, and `--revert` restores them here.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc",
        help_heading = "Replay a captured machine"
    )]
    pub etc_root: PathBuf,
    /// c1m's state directory (calibration, tune record) [default: $C1M_STATE_DIR or /var/lib/c1m].
    #[arg(long, value_name = "DIR", help_heading = "Replay a captured machine")]
    pub state_dir: Option<PathBuf>,
}

impl RootArgs {
    /// The roots these arguments name; an error when `--proc-root` or
    /// `--etc-root` is not a directory (a typo would otherwise read as a
    /// machine where nothing is readable).
    pub fn roots(&self) -> anyhow::Result<Roots> {
        for (flag, dir) in [
            ("--proc-root", &self.proc_root),
            ("--etc-root", &self.etc_root),
        ] {
            if !dir.is_dir() {
                anyhow::bail!(
                    "{flag} {}: not a directory; point it at a /proc or /etc tree",
                    dir.display()
                );
            }
        }
        // A state directory not made yet is made when first written.
        if let Some(dir) = &self.state_dir
            && dir.exists()
            && !dir.is_dir()
        {
            anyhow::bail!(
                "--state-dir {}: not a directory; point it at one (or at a path to make one)",
                dir.display()
            );
        }
        Ok(Roots {
            proc_root: self.proc_root.clone(),
            etc_root: self.etc_root.clone(),
            state_dir: self
                .state_dir
                .clone()
                .unwrap_or_else(crate::calibration::state_dir),
        })
    }
}

/// The 4-tuple space of the client side, when fixed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TupleArgs {
    /// Source addresses the client binds to (fixes the 4-tuple space; default: c1m run plans it).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub sources: Option<u64>,
    /// Destination addresses [default with --sources: 1].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub dest_addrs: Option<u64>,
    /// Destination ports per address [default with --sources: 1].
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub dest_ports: Option<u64>,
}

impl TupleArgs {
    /// The tuple space, if any of the three was given (the others default to 1).
    pub fn tuples(&self) -> Option<Tuples> {
        if self.sources.is_none() && self.dest_addrs.is_none() && self.dest_ports.is_none() {
            return None;
        }
        Some(Tuples {
            sources: self.sources.unwrap_or(1),
            dest_addrs: self.dest_addrs.unwrap_or(1),
            dest_ports: self.dest_ports.unwrap_or(1),
        })
    }
}

/// `c1m doctor`: every limit on the way to the target, what it allows, and
/// which binds first.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Connections to check for (1000000, 1_000_000, 1M, 1.5M, 500k).
    #[arg(long, value_name = "N", default_value = "1000000", value_parser = parse_count)]
    pub target: u64,
    /// Which ends run on this box; both = two sockets per connection.
    #[arg(long, value_enum, default_value_t = Role::Both)]
    pub role: Role,
    /// Print the report as a versioned JSON document (schema c1m.doctor/1).
    #[arg(long)]
    pub json: bool,
    /// The client side's 4-tuple space, when fixed.
    #[command(flatten)]
    pub tuples: TupleArgs,
    /// Where to read the machine from.
    #[command(flatten)]
    pub roots: RootArgs,
}

/// `c1m tune`: the settings for a target with 10 % headroom, as a diff;
/// `--apply` writes them, `--revert` restores what was there.
#[derive(Debug, Clone, clap::Args)]
pub struct TuneArgs {
    /// Connections to tune for (1000000, 1M, 1.5M, 500k).
    #[arg(long, value_name = "N", value_parser = parse_count, required_unless_present = "revert")]
    pub target: Option<u64>,
    /// Which ends run on this box; both = two sockets per connection.
    #[arg(long, value_enum, default_value_t = Role::Both)]
    pub role: Role,
    /// Also set net.ipv4.ip_local_port_range, e.g. 1024-65535 (reserving the ports listening inside it first).
    #[arg(long, value_name = "LO-HI", value_parser = parse_port_range)]
    pub port_range: Option<(u64, u64)>,
    /// The client side's 4-tuple space the port range is checked against.
    #[command(flatten)]
    pub tuples: TupleArgs,
    /// Write the drop-ins and live values (root), recording what was there first; one tune at a time (lock /run/c1m-tune.lock).
    #[arg(long, conflicts_with = "revert")]
    pub apply: bool,
    /// Restore exactly what the last --apply changed.
    #[arg(long, conflicts_with_all = ["target", "port_range"])]
    pub revert: bool,
    /// Where to read the machine from.
    #[command(flatten)]
    pub roots: RootArgs,
}

/// Parses `LO-HI` (`tune --port-range`): two ports, 1-65535, low ≤ high.
pub fn parse_port_range(text: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not LO-HI: write e.g. 1024-65535"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=65_535).contains(p))
            .ok_or_else(|| format!("{p:?} is not a port: write a number from 1 to 65535"))
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo > hi {
        return Err(format!(
            "{text:?}: the low end is above the high end; write LO-HI, e.g. 1024-65535"
        ));
    }
    Ok((lo, hi))
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs `c1m doctor`, printing to stdout. `Ok(0)` when the target fits,
/// `Ok(1)` when a limit caps it.
pub fn doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let ok = doctor_to(args, &mut io::stdout().lock())?;
    Ok(exit(ok))
}

/// `c1m doctor` writing to `out`; returns whether the target fits.
pub fn doctor_to(args: &DoctorArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let roots = args.roots.roots()?;
    let facts = Facts::read(&roots);
    let target = Target {
        conns: args.target,
        role: args.role,
        tuples: args.tuples.tuples(),
    };
    let v = verdict::evaluate(&facts, &target);
    let text = if args.json {
        render::doctor_json(&v, &facts)
    } else {
        render::doctor_text(&v)
    };
    write_out(out, &text)?;
    Ok(v.ok())
}

/// The crash tests' pause point (never set in normal use):
/// `C1M_TUNE_PAUSE_AFTER=K` stops `tune --apply` or `--revert` with
/// SIGSTOP right after its K-th write (the record, each sysctl, each
/// directory, each file's temporary copy and its rename), after one line
/// on stderr naming the write. The test then kills it there (SIGKILL) or
/// lets it go on (SIGCONT); a pause alone changes nothing.
pub const PAUSE_ENV: &str = "C1M_TUNE_PAUSE_AFTER";

/// The hook `apply` and `revert` call after each write: pauses as
/// [`PAUSE_ENV`] asks, else does nothing.
fn pause_hook() -> anyhow::Result<impl FnMut(usize, &str)> {
    let at = match std::env::var(PAUSE_ENV) {
        Ok(v) => Some(
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|k| *k > 0)
                .with_context(|| {
                    format!(
                        "{PAUSE_ENV}={v:?}: not a write number (1, 2, …); unset it for a normal run"
                    )
                })?,
        ),
        Err(_) => None,
    };
    Ok(move |n: usize, what: &str| {
        if Some(n) == at {
            let pid = std::process::id();
            eprintln!(
                "c1m tune: paused after write {n} ({what}) as {PAUSE_ENV} asks; `kill -CONT {pid}` resumes"
            );
            let _ = c1m_sys::process::stop_self();
        }
    })
}

/// Runs `c1m tune`, printing to stdout. `Ok(0)` when it showed or did what
/// was asked, `Ok(1)` when it refused.
pub fn tune(args: &TuneArgs) -> anyhow::Result<ExitCode> {
    let ok = tune_to(args, &mut io::stdout().lock())?;
    Ok(exit(ok))
}

/// `c1m tune` writing to `out`; returns `false` when it refused.
pub fn tune_to(args: &TuneArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let roots = args.roots.roots()?;
    let mut hook = pause_hook()?;
    if args.revert {
        let Some(held) = take_lock(&roots, out)? else {
            return Ok(false);
        };
        return match apply::revert_locked(&held, &roots, &mut hook) {
            Ok(log) => {
                write_out(
                    out,
                    &(log.join("\n") + "\nreverted: every value and file is as before --apply\n"),
                )?;
                Ok(true)
            }
            Err(e @ ApplyError::NoBackup(_)) => {
                write_out(out, &format!("{e}\n"))?;
                Ok(false)
            }
            Err(e) => Err(anyhow::Error::new(e).context("c1m tune --revert")),
        };
    }
    let conns = args
        .target
        .context("--target is required unless --revert")?;
    let request = Request {
        conns,
        role: args.role,
        port_range: args.port_range,
        tuples: args.tuples.tuples(),
    };
    let (mut plan, mut text) = plan_and_diff(&roots, &request);
    if !args.apply {
        text += if plan.is_blocked() {
            "\ndry run: nothing changed; --apply would refuse (see above)\n"
        } else {
            "\ndry run: nothing changed; run again with --apply (as root) to write it\n"
        };
        write_out(out, &text)?;
        return Ok(true);
    }
    // A plan --apply refuses (not root, …) changes nothing and takes no
    // lock. Otherwise the lock is taken and the machine read again under
    // it: what is applied is what no other tune is changing.
    let held = if plan.is_blocked() {
        None
    } else {
        let Some(held) = take_lock(&roots, out)? else {
            return Ok(false);
        };
        (plan, text) = plan_and_diff(&roots, &request);
        Some(held)
    };
    let result = match &held {
        Some(held) => apply::apply_locked(held, &plan, &roots, &mut hook),
        None => apply::apply(&plan, &roots),
    };
    match result {
        Ok(log) => {
            text += &format!("\napplied:\n  {}\n", log.join("\n  "));
            write_out(out, &text)?;
            Ok(true)
        }
        Err(e @ (ApplyError::Refused(_) | ApplyError::BackupExists(_))) => {
            text += &format!("\n{e}\n");
            write_out(out, &text)?;
            Ok(false)
        }
        Err(e) => {
            write_out(out, &text)?;
            Err(anyhow::Error::new(e).context("c1m tune --apply"))
        }
    }
}

/// The lock of `--apply` and `--revert`, held to the end; `None` after
/// writing the one-line refusal when another tune holds it.
fn take_lock(roots: &Roots, out: &mut dyn Write) -> anyhow::Result<Option<crate::lock::TuneLock>> {
    match apply::lock(roots) {
        Ok(held) => Ok(Some(held)),
        Err(e @ ApplyError::Busy { .. }) => {
            write_out(out, &format!("{e}\n"))?;
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context("c1m tune")),
    }
}

/// Reads the machine, plans `request`, and renders the diff.
fn plan_and_diff(roots: &Roots, request: &Request) -> (tune::Plan, String) {
    let facts = Facts::read(roots);
    let plan = tune::plan(&facts, &roots.etc_root, request);
    let current: Vec<render::CurrentFile> = DropIn::ALL
        .iter()
        .map(|d| {
            let path = d.path(&roots.etc_root);
            let old = std::fs::read_to_string(&path).ok();
            (*d, path, old)
        })
        .collect();
    let text = render::tune_text(&plan, &current);
    (plan, text)
}

/// Writes `text`; a closed pipe (`c1m doctor | head`) is not an error.
fn write_out(out: &mut dyn Write, text: &str) -> anyhow::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("1024-65535"), Ok((1024, 65535)));
        assert!(parse_port_range("1024").is_err());
        assert!(parse_port_range("2000-1000").is_err());
        assert!(parse_port_range("0-10").is_err());
        assert!(parse_port_range("1-70000").is_err());
    }

    #[test]
    fn tuples_default_to_one() {
        let t = TupleArgs {
            sources: Some(4),
            ..TupleArgs::default()
        };
        assert_eq!(
            t.tuples(),
            Some(Tuples {
                sources: 4,
                dest_addrs: 1,
                dest_ports: 1
            })
        );
        assert_eq!(TupleArgs::default().tuples(), None);
    }
}
