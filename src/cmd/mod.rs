//! The command line, the only layer that knows clap: flags parsed in two
//! stages (clap's structs in [`args`] and each command's file, then
//! validated settings in [`settings`]), one file per subcommand, and the
//! dispatch. `c1m` alone means `c1m run`.

pub mod args;
pub mod clap_error;
pub mod conflicts;
pub mod connect;
pub mod deploy;
pub mod gate;
pub mod ip;
pub mod k8s;
pub mod lab;
pub mod merge;
pub mod report;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod settings;
pub mod shape;
pub mod shard;
pub mod similar;
pub mod slurm;
pub mod start_at;
pub mod stat;
pub mod targets;
mod values;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// How many TCP connections can one Linux server really hold? c1m answers
/// by experiment.
#[derive(Debug, Parser)]
#[command(name = "c1m", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand; none means `run`.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The whole experiment on this machine: a server fleet and a client
    /// fleet on loopback, driven to -n connections, verified, held, torn
    /// down, and reported. The default command.
    Run(run::RunArgs),
    /// Listen and hold every connection that comes, with near-zero user
    /// memory, fanning out over worker processes.
    Serve(serve::ServeArgs),
    /// Open and hold connections to c1m or any server.
    Connect(connect::ConnectArgs),
    /// Read every limit on connections, name the one that binds first for
    /// a target, and the exact fix.
    Doctor(c1m_limits::cli::DoctorArgs),
    /// Compute the settings for a target, show them, apply them safely
    /// (--apply), and put everything back (--revert).
    Tune(c1m_limits::cli::TuneArgs),
    /// Watch TCP sockets by state and port, the slab caches they grow,
    /// memory and listen-queue drops, live: any server's, not only c1m's.
    #[command(visible_alias = "watch")]
    Stat(stat::StatArgs),
    /// Add, remove or check c1m's source addresses on an interface.
    Ip(ip::IpArgs),
    /// Build, show or remove a lab of network namespaces (one server host,
    /// K client hosts, 198.18.0.0/15 addresses that never leave it), and
    /// run the experiment across it.
    Lab(lab::LabArgs),
    /// Merge the reports of a sharded run (`--shard I/N` on several
    /// machines, pods or Slurm tasks) into one: counts summed, latency
    /// histograms added, kernel memory once per machine.
    Merge(merge::MergeArgs),
    /// Show a saved report again, convert it (--csv for its timeline,
    /// --html, --json), or judge it against thresholds (--fail-if) and
    /// exit with the verdict's code.
    Report(report::ReportArgs),
    /// Print Kubernetes manifests for a sharded run: an Indexed Job of
    /// client shards, and c1m serve as a Deployment.
    K8s(k8s::K8sArgs),
    /// Print a Slurm batch script for a sharded run: one array task per
    /// shard.
    Slurm(slurm::SlurmArgs),
    /// Internal: one worker process, started by c1m itself.
    #[command(hide = true)]
    Worker,
}

/// c1m's whole command line as clap defines it: every subcommand, flag
/// and value parser (the bad-input table of `tests/it/bad_input.rs` walks
/// it, so a new flag is tried as soon as it exists).
pub fn command() -> clap::Command {
    choices_ignore_case(hyphen_values(<Cli as clap::CommandFactory>::command()))
}

/// One rule for every flag that takes a name from a fixed list (`--mode`,
/// `--close`, `--proxy-protocol`, `--topology`, `--role` …): the name in
/// any case (`--proxy-protocol V2`, `--mode Heartbeat`), as `--fail-if`
/// takes its metrics; it is written back, in reports and by
/// `--print-scenario`'s defaults, as `--help` lists it.
fn choices_ignore_case(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() && !a.get_possible_values().is_empty() {
            a.ignore_case(true)
        } else {
            a
        }
    })
    .mut_subcommands(choices_ignore_case)
}

/// Lets every flag that takes exactly one value take one that starts with
/// `-` (`--hold -1s`, `--window -1`), so that a negative value is refused
/// by the flag's own parser, naming the flag, rather than read as an
/// unknown flag. (A flag whose value is optional or repeated would then
/// swallow the next flag: those are left as they are.)
fn hyphen_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        let one = a
            .get_num_args()
            .is_none_or(|n| n.min_values() == 1 && n.max_values() == 1);
        if a.get_long().is_some() && a.get_action().takes_values() && one {
            a.allow_hyphen_values(true)
        } else {
            a
        }
    })
    .mut_subcommands(hyphen_values)
}

/// Parses `args` (the program's name first) as c1m does: [`command`]'s
/// definition into [`Cli`].
///
/// # Errors
/// clap's error, for [`clap_error::one_line`].
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.with_cmd(&cmd))
}

/// What a command line asks for, its scenario file read in.
#[derive(Debug)]
pub enum Line {
    /// Run this.
    Run(Box<Cli>),
    /// `--print-scenario`: print this scenario file and exit 0.
    Print(String),
}

/// Why a command line is not run.
#[derive(Debug)]
pub enum Refused {
    /// `--help`, `--version`, a bare `c1m ip`: shown as clap shows them.
    Shown(clap::Error),
    /// Bad input: one line (without `c1m: `), exit 2.
    Bad(String),
}

/// Reads `args` (the program's name first) as c1m does: its
/// `--scenario` file read in ([`scenario::resolve`]), then [`command`]'s
/// definition parses the whole into [`Cli`], or into the scenario to
/// print for `--print-scenario`.
///
/// # Errors
/// [`Refused`]: clap's help and version, or one line naming the flag (and
/// the scenario file's line and key when the flag came from it).
pub fn read_line(args: &[std::ffi::OsString]) -> Result<Line, Refused> {
    parse_resolved(scenario::resolve(args))
}

/// [`read_line`] with the text of the `--scenario` file given (whatever
/// its name), for tests and fuzzing.
///
/// # Errors
/// As [`read_line`].
pub fn read_line_with(args: &[std::ffi::OsString], scenario: &str) -> Result<Line, Refused> {
    parse_resolved(scenario::resolve_with(args, |_| Ok(scenario.to_string())))
}

/// A command line with its scenario read in, parsed.
fn parse_resolved(resolved: Result<scenario::Resolved, String>) -> Result<Line, Refused> {
    use clap::FromArgMatches;
    let resolved = resolved.map_err(Refused::Bad)?;
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(&resolved.argv).and_then(|m| {
        match Cli::from_arg_matches(&m) {
            Ok(cli) => Ok((m, cli)),
            Err(e) => Err(e.with_cmd(&cmd)),
        }
    });
    // The flags that contradict each other for one value (`--mode idle
    // --interval 1s`), which clap cannot declare.
    let matches = matches.and_then(|(m, cli)| {
        conflicts::check_values(&cmd, &m)?;
        Ok((m, cli))
    });
    let (matches, cli) = match matches {
        Ok(x) => x,
        // --help and --version, and a bare `c1m ip` (its help): as clap prints them.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            return Err(Refused::Shown(e));
        }
        Err(e) => return Err(Refused::Bad(resolved.explain(&e, &command()))),
    };
    if resolved.print {
        // The run's own checks of flags together, so a scenario printed
        // is one the command runs (those that read nothing of the
        // machine; `serve` has none beyond clap's).
        let checked = match &cli.command {
            None => Ok(()),
            Some(Cmd::Run(a)) => run::check(a).map(drop),
            Some(Cmd::Connect(a)) => connect::check(a).map(drop),
            Some(Cmd::Lab(l)) => match &l.command {
                lab::LabCommand::Run(a) => lab::check_run(a),
                _ => Ok(()),
            },
            Some(_) => Ok(()),
        };
        checked.map_err(|e| Refused::Bad(format!("{e:#}")))?;
        return scenario::render(&cmd, &matches, &resolved.command)
            .map(Line::Print)
            .map_err(Refused::Bad);
    }
    Ok(Line::Run(Box::new(cli)))
}

/// Parses the command line and runs it; errors print once, as one line,
/// and exit 2.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match read_line(&args) {
        Ok(Line::Run(cli)) => cli,
        Ok(Line::Print(text)) => {
            use std::io::Write;
            // A closed pipe (`| head`) is not an error.
            let _ = std::io::stdout().write_all(text.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(Refused::Shown(e)) => e.exit(),
        Err(Refused::Bad(line)) => {
            crate::say!("c1m: {line}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        None => run::run(&run::RunArgs::parse_default()),
        Some(Cmd::Run(a)) => run::run(&a),
        Some(Cmd::Serve(a)) => serve::serve(&a),
        Some(Cmd::Connect(a)) => connect::connect(&a),
        Some(Cmd::Doctor(a)) => c1m_limits::cli::doctor(&a),
        Some(Cmd::Tune(a)) => c1m_limits::cli::tune(&a),
        Some(Cmd::Stat(a)) => stat::run(&a),
        Some(Cmd::Ip(a)) => ip::run(&a),
        Some(Cmd::Lab(a)) => lab::run(&a),
        Some(Cmd::Merge(a)) => merge::run(&a),
        Some(Cmd::Report(a)) => report::run(&a),
        Some(Cmd::K8s(a)) => k8s::run(&a),
        Some(Cmd::Slurm(a)) => slurm::run(&a),
        Some(Cmd::Worker) => crate::worker::main().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::say!("c1m: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults() {
        let a = run::RunArgs::parse_default();
        assert_eq!(a.conns, None);
        assert_eq!(a.topology, args::Topology::Spread);
        assert_eq!(a.exp.hold, Duration::from_secs(5));
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// `--print-scenario` refuses what the command refuses, with the
    /// command's own line (trial 4, E): a scenario printed is one that
    /// runs.
    #[test]
    fn print_scenario_refuses_what_the_command_refuses() {
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let rtt = "p99(rtt)>50ms";
        let cases: [(&[&str], &str); 4] = [
            (
                &["c1m", "connect", "127.0.0.1:9", "--ramp-down", "2s"],
                "--ramp-down needs --hold",
            ),
            (
                &["c1m", "connect", "127.0.0.1:9", "--fail-if", rtt],
                "idle connections send no heartbeats",
            ),
            (&["c1m", "run", "--fail-if", rtt], "idle connections"),
            (&["c1m", "lab", "run", "--fail-if", rtt], "idle connections"),
        ];
        for (line, why) in cases {
            let Ok(Line::Run(cli)) = read_line(&os(line)) else {
                panic!("{line:?} parses");
            };
            let own = match &cli.command {
                Some(Cmd::Run(a)) => run::check(a).map(drop),
                Some(Cmd::Connect(a)) => connect::check(a).map(drop),
                Some(Cmd::Lab(l)) => match &l.command {
                    lab::LabCommand::Run(a) => lab::check_run(a),
                    _ => unreachable!(),
                },
                _ => unreachable!(),
            };
            let own = format!("{:#}", own.unwrap_err());
            assert!(own.contains(why), "{own}");
            let printed = read_line(&os(&[line, &["--print-scenario"]].concat()));
            match printed {
                Err(Refused::Bad(l)) => assert_eq!(l, own),
                other => panic!("{line:?} --print-scenario: {other:?}"),
            }
        }
        // With --hold it is a scenario.
        let ok = read_line(&os(&[
            "c1m",
            "connect",
            "127.0.0.1:9",
            "--ramp-down",
            "2s",
            "--hold",
            "1m",
            "--print-scenario",
        ]));
        assert!(matches!(ok, Ok(Line::Print(_))), "{ok:?}");
    }

    /// A scenario key that is a flag's short name (`n`) is pointed to
    /// its long one (trial 4's nit: `n = 5` got no hint of `conns`).
    #[test]
    fn a_short_name_as_a_key_names_the_long_one() {
        let args: Vec<std::ffi::OsString> = ["c1m", "connect", "--scenario", "s.toml"]
            .into_iter()
            .map(Into::into)
            .collect();
        match read_line_with(&args, "targets = [\"127.0.0.1:9\"]\nn = 5\n") {
            Err(Refused::Bad(l)) => assert!(
                l.contains("unknown key 'n': keys are flags' long names, and -n is --conns: write conns = …"),
                "{l}"
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Every flag that takes a name from a fixed list takes it in any
    /// case, and means the same.
    #[test]
    fn every_choice_is_read_in_any_case() {
        let mut cmd = command();
        cmd.build();
        let mut seen = 0;
        fn walk(c: &clap::Command, seen: &mut usize) {
            for a in c.get_arguments() {
                if a.get_action().takes_values() && !a.get_possible_values().is_empty() {
                    assert!(
                        a.is_ignore_case_set(),
                        "{}: --{:?}",
                        c.get_name(),
                        a.get_long()
                    );
                    *seen += 1;
                }
            }
            for s in c.get_subcommands() {
                walk(s, seen);
            }
        }
        walk(&cmd, &mut seen);
        assert!(seen >= 10, "{seen} flags with a list of names");
        let line = |args: &[&str]| -> String {
            let mut v = vec!["c1m"];
            v.extend_from_slice(args);
            let os: Vec<std::ffi::OsString> = v.iter().map(Into::into).collect();
            match read_line(&os) {
                Ok(Line::Run(cli)) => format!("{:?}", cli.command),
                other => panic!("{args:?}: {other:?}"),
            }
        };
        for (upper, lower) in [
            (
                &["connect", "127.0.0.1:1", "--proxy-protocol", "V2"][..],
                &["connect", "127.0.0.1:1", "--proxy-protocol", "v2"][..],
            ),
            (
                &[
                    "run",
                    "--mode",
                    "HEARTBEAT",
                    "--close",
                    "Fin",
                    "--topology",
                    "Many-IPs",
                ],
                &[
                    "run",
                    "--mode",
                    "heartbeat",
                    "--close",
                    "fin",
                    "--topology",
                    "many-ips",
                ],
            ),
            (
                &[
                    "run",
                    "--bind-mode",
                    "No-Port",
                    "--ws-heartbeat=TEXT",
                    "--websocket",
                ],
                &[
                    "run",
                    "--bind-mode",
                    "no-port",
                    "--ws-heartbeat=text",
                    "--websocket",
                ],
            ),
            (
                &["doctor", "--role", "CLIENT"],
                &["doctor", "--role", "client"],
            ),
        ] {
            assert_eq!(line(upper), line(lower), "{upper:?}");
        }
    }
}
