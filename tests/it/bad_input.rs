//! The bad-input table (issue 12, point 1): every flag of every
//! subcommand, walked from clap's own definition of c1m
//! (`c1m::cmd::command()`), given each bad value its kind admits — empty,
//! zero, negative, huge (2^64, 1e30), NaN and infinities, not UTF-8,
//! garbage, ranges upside down, the other address family, a missing file,
//! a directory for a file, a path that cannot be written, a comma list
//! with an empty item, a duration with a unit no flag takes — and each
//! switch given a value. Beside the values (issue 14's rough edges):
//! every flag that needs a value given none (`c1m report R --csv`); each
//! flag of `run`, `serve`, `connect` and `lab run` given to the others
//! that lack it (the line must name a command that takes it); and every
//! pair of flags that contradict (`c1m::cmd::conflicts`: clap's conflicts
//! and a flag's value against another), in each command that has both
//! (the line must name both and say why). Every one must:
//!
//! - end within [`HANG`] (a hang detector, not a timing assertion: a
//!   refusal takes milliseconds), by exit code 2, not a signal;
//! - print nothing on stdout and exactly one line on stderr, `c1m: …`,
//!   naming the flag, the value and the fix, with no panic or backtrace;
//! - start nothing: under strace (when installed) the kernel saw no
//!   process made, no TCP socket, no `listen`, no namespace entered or
//!   made; afterwards no process carrying this test's mark in its
//!   environment is left, and the machine's TCP listeners are those there
//!   were before.
//!
//! Each flag is classified once in [`specs`] (its kind, and the bad values
//! that are valid for it, with the reason); a flag missing there, or an
//! entry for a flag that no longer exists, fails the test, so a new flag
//! is tried as soon as it exists. The binary runs in parallel threads.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Arg;

mod table;

use table::{Kind, Scratch, bad_values, bases, specs};

/// A refusal takes milliseconds; this only tells a hang from a refusal.
const HANG: Duration = Duration::from_secs(60);

/// The environment variable every c1m started here carries, so one left
/// running is found by its environment.
const MARK: &str = "C1M_BAD_INPUT_TEST";

/// One invocation of the table.
struct Case {
    cmd: String,
    /// `--window` or `<TARGETS>`.
    flag: String,
    /// Other words that name a positional in messages.
    called: &'static [&'static str],
    label: &'static str,
    value: OsString,
    argv: Vec<OsString>,
    /// More the line must say (the command that takes a misplaced flag,
    /// the reason two flags contradict).
    expect: Vec<String>,
}

/// Flags of other commands whose job `lab run` does its own way: its
/// refusal says that way (`c1m lab up --client-addrs N` for `--sources`),
/// not another command.
const LAB_OWN_WAY: &[&str] = &[
    "sources",
    "source-from",
    "dests",
    "ports",
    "host-netns",
    "shard",
];
/// Labels of the cases whose line names flags, not a value.
const NO_VALUE: &[&str] = &["no value", "flag of another command", "contradictory flags"];

/// What the kernel and the process said.
struct Ran {
    out: Option<Output>,
    trace: Option<String>,
    took: Duration,
}

/// Every subcommand path with its arguments (help, version and hidden
/// subcommands aside).
fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, Vec<Arg>)>) {
    let args: Vec<Arg> = cmd
        .get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .cloned()
        .collect();
    if !path.is_empty() && !args.is_empty() {
        out.push((path.to_string(), args));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let p = if path.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{path} {}", sub.get_name())
        };
        walk(sub, &p, out);
    }
}

fn takes_value(a: &Arg) -> bool {
    a.get_action().takes_values()
}

/// `argv` for `cmd` with `pairs` (id, value; `""` for a switch): flags as
/// `--long=VALUE`, then `--` and the positionals in their order.
fn argv(cmd: &str, args: &[Arg], pairs: &[(String, OsString)]) -> Vec<OsString> {
    let mut v: Vec<OsString> = cmd.split(' ').map(OsString::from).collect();
    let mut positionals: Vec<(usize, OsString)> = Vec::new();
    for (id, value) in pairs {
        let a = args
            .iter()
            .find(|a| a.get_id().as_str() == id)
            .unwrap_or_else(|| panic!("{cmd}: no argument {id}"));
        match (a.get_long(), a.get_index()) {
            (Some(long), _) if takes_value(a) => {
                let mut f = OsString::from(format!("--{long}="));
                f.push(value);
                v.push(f);
            }
            (Some(long), _) if value.is_empty() => v.push(format!("--{long}").into()),
            (Some(long), _) => {
                let mut f = OsString::from(format!("--{long}="));
                f.push(value);
                v.push(f);
            }
            (None, Some(i)) => positionals.push((i, value.clone())),
            (None, None) => panic!("{cmd}: {id} is neither a flag nor a positional"),
        }
    }
    positionals.sort_by_key(|(i, _)| *i);
    if !positionals.is_empty() {
        v.push("--".into());
        v.extend(positionals.into_iter().map(|(_, p)| p));
    }
    v
}

/// Every case of the table; panics naming a flag that is not classified,
/// a classification or exception that matches nothing, or a command
/// without a base.
fn cases(scratch: &Scratch, fixture: &str) -> Vec<Case> {
    let mut commands = Vec::new();
    let mut c1m = c1m::cmd::command();
    // Gives positionals their indexes.
    c1m.build();
    walk(&c1m, "", &mut commands);
    let specs = specs();
    let bases = bases(fixture);
    let mut used = vec![false; specs.len()];
    let mut out = Vec::new();
    let mut unclassified = Vec::new();
    for (cmd, args) in &commands {
        let base = &bases
            .iter()
            .find(|(c, _)| c == cmd)
            .unwrap_or_else(|| panic!("`c1m {cmd}` has no base arguments in bases()"))
            .1;
        for a in args {
            let id = a.get_id().as_str();
            let (kind, spec) = if takes_value(a) {
                let found = specs
                    .iter()
                    .position(|s| s.id == id && s.cmd == cmd)
                    .or_else(|| specs.iter().position(|s| s.id == id && s.cmd == "*"));
                match found {
                    Some(i) => {
                        used[i] = true;
                        (specs[i].kind, Some(&specs[i]))
                    }
                    None => {
                        unclassified.push(format!("c1m {cmd} {id}"));
                        continue;
                    }
                }
            } else {
                (Kind::Switch, None)
            };
            let flag = match (a.get_long(), a.get_value_names()) {
                (Some(l), _) => format!("--{l}"),
                (None, Some(n)) => format!("<{}>", n[0]),
                (None, None) => format!("<{}>", id.to_uppercase()),
            };
            let values = bad_values(kind, cmd, id, scratch);
            if let Some(s) = spec {
                for (label, _) in s.valid {
                    assert!(
                        values.iter().any(|b| b.label == *label),
                        "c1m {cmd} {flag}: the exception {label:?} matches no bad value of {:?}",
                        s.kind
                    );
                }
            }
            for b in values {
                if spec.is_some_and(|s| s.valid.iter().any(|(l, _)| *l == b.label)) {
                    continue;
                }
                let with = spec.map_or(&[][..], |s| s.with);
                let mut pairs: Vec<(String, OsString)> = base
                    .iter()
                    .filter(|(k, _)| *k != id)
                    .filter(|(k, _)| !(b.with.iter().chain(with).any(|(w, _)| w == k)))
                    // --with-server aims the shards itself.
                    .filter(|(k, _)| {
                        !(*k == "targets" && with.iter().any(|(w, _)| *w == "with_server"))
                    })
                    .map(|(k, v)| (k.to_string(), OsString::from(v)))
                    .collect();
                pairs.extend(
                    with.iter()
                        .chain(&b.with)
                        .map(|(k, v)| (k.to_string(), OsString::from(v))),
                );
                pairs.push((id.to_string(), b.value.clone()));
                let joined = argv(cmd, args, &pairs);
                // A value that starts with `-` is also given as the next
                // argument (`--hold -1s`), as people type it.
                if let (Some(long), true) = (a.get_long(), b.value.as_bytes().starts_with(b"-")) {
                    let mut eq = OsString::from(format!("--{long}="));
                    eq.push(&b.value);
                    let mut apart = Vec::new();
                    for x in &joined {
                        if *x == eq {
                            apart.push(OsString::from(format!("--{long}")));
                            apart.push(b.value.clone());
                        } else {
                            apart.push(x.clone());
                        }
                    }
                    out.push(Case {
                        cmd: cmd.clone(),
                        flag: flag.clone(),
                        called: spec.map_or(&[][..], |s| s.called),
                        label: b.label,
                        value: b.value.clone(),
                        argv: apart,
                        expect: Vec::new(),
                    });
                }
                out.push(Case {
                    cmd: cmd.clone(),
                    flag: flag.clone(),
                    called: spec.map_or(&[][..], |s| s.called),
                    label: b.label,
                    value: b.value,
                    argv: joined,
                    expect: Vec::new(),
                });
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "flags with no classification in tests/it/bad_input.rs specs(): {}",
        unclassified.join(", ")
    );
    missing_values(&commands, &bases, &mut out);
    misplaced(&commands, &bases, &mut out);
    contradictions(&c1m, &commands, &bases, &mut out);
    let stale: Vec<String> = specs
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(s, _)| format!("{} {}", s.cmd, s.id))
        .collect();
    assert!(
        stale.is_empty(),
        "specs() classifies flags c1m does not have: {}",
        stale.join(", ")
    );
    out
}

/// The base arguments of `cmd` without those in `drop` (ids), and
/// `more` after them.
fn with_base(
    bases: &[(&'static str, Vec<(&'static str, String)>)],
    cmd: &str,
    drop: &[&str],
    more: &[(&str, &str)],
) -> Vec<(String, OsString)> {
    let base = &bases.iter().find(|(c, _)| *c == cmd).unwrap().1;
    base.iter()
        .filter(|(k, _)| !drop.contains(k) && !more.iter().any(|(m, _)| m == k))
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .chain(
            more.iter()
                .map(|(k, v)| (k.to_string(), OsString::from(*v))),
        )
        .collect()
}

/// Every flag that must have a value, given as the last argument with
/// none (`c1m report R --csv`): refused in one line naming it.
fn missing_values(
    commands: &[(String, Vec<Arg>)],
    bases: &[(&'static str, Vec<(&'static str, String)>)],
    out: &mut Vec<Case>,
) {
    let specs = specs();
    for (cmd, args) in commands {
        for a in args {
            let (Some(long), true) = (a.get_long(), takes_value(a)) else {
                continue;
            };
            if a.get_num_args().is_some_and(|n| n.min_values() == 0) {
                continue;
            }
            let id = a.get_id().as_str();
            let with = specs
                .iter()
                .find(|s| s.id == id && (s.cmd == cmd || s.cmd == "*"))
                .map_or(&[][..], |s| s.with);
            let pairs = with_base(bases, cmd, &[id], with);
            // Positionals first (no `--`), so that the flag is last.
            let mut v: Vec<OsString> = cmd.split(' ').map(OsString::from).collect();
            let full = argv(cmd, args, &pairs);
            let split = full.iter().position(|x| x == "--").unwrap_or(full.len());
            v.extend(full[split..].iter().skip(1).cloned());
            v.extend(full[cmd.split(' ').count()..split].iter().cloned());
            v.push(format!("--{long}").into());
            out.push(Case {
                cmd: cmd.clone(),
                flag: format!("--{long}"),
                called: &[],
                label: "no value",
                value: OsString::new(),
                argv: v,
                expect: vec!["needs a value".into()],
            });
        }
    }
}

/// The experiment's commands each given a flag only the others take
/// (`c1m connect --max-unsent`, `c1m serve --reconnect`): refused in one
/// line naming the flag and a command that takes it.
fn misplaced(
    commands: &[(String, Vec<Arg>)],
    bases: &[(&'static str, Vec<(&'static str, String)>)],
    out: &mut Vec<Case>,
) {
    let experiment = ["run", "serve", "connect", "lab run"];
    let longs = |cmd: &str| -> Vec<String> {
        commands
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, args)| {
                args.iter()
                    .filter_map(|a| a.get_long().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for cmd in experiment {
        let mine = longs(cmd);
        let mut others: Vec<String> = experiment
            .iter()
            .filter(|c| **c != cmd)
            .flat_map(|c| longs(c))
            .filter(|l| !mine.contains(l))
            .collect();
        others.sort();
        others.dedup();
        let args = &commands.iter().find(|(c, _)| c == cmd).unwrap().1;
        for long in others {
            let mut v = argv(cmd, args, &with_base(bases, cmd, &[], &[]));
            let at = v.iter().position(|x| x == "--").unwrap_or(v.len());
            v.insert(at, format!("--{long}").into());
            out.push(Case {
                cmd: cmd.to_string(),
                flag: format!("--{long}"),
                called: &[],
                label: "flag of another command",
                value: OsString::new(),
                argv: v,
                expect: if cmd == "lab run" && LAB_OWN_WAY.contains(&long.as_str()) {
                    // What the lab does its own way: the lab's way.
                    vec!["is not a flag of c1m lab run: the lab's".into()]
                } else {
                    vec![
                        format!("is not a flag of c1m {cmd}: it is c1m "),
                        "give it to c1m ".into(),
                    ]
                },
            });
        }
    }
}

/// Every pair of flags that contradict (clap's conflicts, and a flag's
/// value against another: `--mode idle --interval 1s`), in every command
/// that has both: refused in one line naming both and why.
fn contradictions(
    c1m: &clap::Command,
    commands: &[(String, Vec<Arg>)],
    bases: &[(&'static str, Vec<(&'static str, String)>)],
    out: &mut Vec<Case>,
) {
    use c1m::cmd::conflicts::{REASONS, VALUE_CONFLICTS};
    let pairs = REASONS
        .iter()
        .map(|(a, b, why)| (*a, None, *b, *why))
        .chain(
            VALUE_CONFLICTS
                .iter()
                .map(|(a, v, b, why)| (*a, Some(*v), *b, *why)),
        );
    let mut tried = 0;
    // A network namespace that exists cannot be named here.
    let untried = ["netns"];
    for (a, value, b, why) in pairs {
        let mut found = false;
        for (cmd, args) in commands {
            let arg = |long: &str| args.iter().find(|x| x.get_long() == Some(long));
            let (Some(x), Some(y)) = (arg(a), arg(b)) else {
                continue;
            };
            let (Some(sx), Some(sy)) = (table::sample(cmd, a), table::sample(cmd, b)) else {
                continue;
            };
            found = true;
            let leaf = cmd
                .split(' ')
                .fold(c1m, |c, w| c.find_subcommand(w).unwrap());
            // The base's flags that would conflict with either are left out.
            let mut drop: Vec<&str> = leaf
                .get_arg_conflicts_with(x)
                .into_iter()
                .chain(leaf.get_arg_conflicts_with(y))
                .map(|c| c.get_id().as_str())
                .filter(|c| *c != x.get_id().as_str() && *c != y.get_id().as_str())
                .collect();
            drop.push(x.get_id().as_str());
            drop.push(y.get_id().as_str());
            let xv = value.unwrap_or(sx.0);
            let mut more: Vec<(&str, &str)> = Vec::new();
            for (k, v) in sx.1.iter().chain(sy.1) {
                if !more.iter().any(|(m, _)| m == k) {
                    more.push((k, v));
                }
            }
            more.push((x.get_id().as_str(), xv));
            more.push((y.get_id().as_str(), sy.0));
            let v = argv(cmd, args, &with_base(bases, cmd, &drop, &more));
            let named = match value {
                Some(v) => format!("--{a} {v}"),
                None => format!("--{a}"),
            };
            out.push(Case {
                cmd: cmd.clone(),
                flag: format!("--{b}"),
                called: &[],
                label: "contradictory flags",
                value: OsString::new(),
                argv: v,
                expect: vec![named, why.to_string()],
            });
            tried += 1;
        }
        assert!(
            found || untried.contains(&a) || untried.contains(&b),
            "no command tried --{a} with --{b}: give each a value in table::sample()"
        );
    }
    assert!(tried >= 30, "{tried} contradictory pairs tried");
}

/// strace, when it is installed and may trace here (a container's
/// seccomp profile may forbid ptrace); else why not.
fn strace() -> Result<PathBuf, String> {
    let s = ["/usr/bin/strace", "/bin/strace"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("strace is not installed (apt-get install strace)")?;
    let traced = Command::new(&s)
        .args(["-f", "-qq", "-o", "/dev/null", "--", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if traced {
        Ok(s)
    } else {
        Err(format!(
            "{} cannot trace here (ptrace refused)",
            s.display()
        ))
    }
}

/// Runs one case (under strace when there is one), killing its process
/// group if it has not ended within [`HANG`].
fn run(case: &Case, n: usize, strace: Option<&Path>, traces: &Path) -> Ran {
    let bin = env!("CARGO_BIN_EXE_c1m");
    let trace = traces.join(format!("{n}.trace"));
    let mut cmd = match strace {
        Some(s) => {
            let mut c = Command::new(s);
            c.args(["-f", "-qq", "-e", "signal=none", "-e"])
                .arg("trace=execve,clone,clone3,fork,vfork,socket,listen,unshare,setns,mount")
                .arg("-o")
                .arg(&trace)
                .arg("--")
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(&case.argv)
        .env("C1M_STATE_DIR", traces.join("state"))
        .env(MARK, std::process::id().to_string())
        .env("RUST_BACKTRACE", "1")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_PROCID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let child = cmd.spawn().expect("starting c1m");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(HANG) {
        Ok(out) => Some(out.expect("waiting for c1m")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            let _ = rx.recv();
            None
        }
    };
    Ran {
        out,
        trace: strace.and_then(|_| std::fs::read_to_string(&trace).ok()),
        took: start.elapsed(),
    }
}

/// What the trace shows was started: processes, TCP sockets, listeners,
/// namespaces.
fn started(trace: &str) -> Vec<String> {
    let mut execs = 0;
    let mut seen = Vec::new();
    for line in trace.lines() {
        // "PID call(args) = result"
        let call = line.split_once(' ').map_or(line, |(_, c)| c).trim_start();
        let name = call.split('(').next().unwrap_or_default();
        let bad = match name {
            "execve" => {
                execs += 1;
                execs > 1
            }
            "clone" | "clone3" => !call.contains("CLONE_THREAD"),
            "fork" | "vfork" | "listen" | "unshare" | "setns" | "mount" => true,
            "socket" => {
                (call.starts_with("socket(AF_INET,") || call.starts_with("socket(AF_INET6,"))
                    && call.contains("SOCK_STREAM")
            }
            _ => false,
        };
        if bad {
            seen.push(call.chars().take(120).collect());
        }
    }
    seen
}

/// Words that say what to do instead.
const FIXES: &[&str] = &[
    "e.g.",
    "write",
    "use ",
    "give",
    "possible values",
    "must",
    "at least",
    "at most",
    "name ",
    "point it",
    "add ",
    "try",
    "tip:",
    "only",
    "lists them",
    "says what",
    "expected",
    "from 1",
    "1-65535",
    "should",
    "remove",
    "without",
    "the low end",
    "check ",
];

/// Why the outcome of `case` is wrong, if it is.
fn judge(case: &Case, ran: &Ran) -> Option<String> {
    let Some(out) = &ran.out else {
        return Some(format!("no end within {HANG:?} (killed)"));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    if out.status.code() != Some(2) {
        return Some(format!("ended by {:?}, not exit 2: {stderr}", out.status));
    }
    if stderr.contains("panicked") || stderr.contains("backtrace") {
        return Some(format!("a panic: {stderr}"));
    }
    if !out.stdout.is_empty() {
        return Some(format!(
            "wrote on stdout: {}",
            String::from_utf8_lossy(&out.stdout)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    if lines.len() != 1 {
        return Some(format!(
            "{} lines on stderr, not one: {stderr}",
            lines.len()
        ));
    }
    let line = lines[0];
    if !line.starts_with("c1m: ") {
        return Some(format!("the line does not start with `c1m: `: {line}"));
    }
    let lower = line.to_lowercase();
    let names_flag = line.contains(&case.flag)
        || case.called.iter().any(|c| lower.contains(c))
        || (case.flag.starts_with('<')
            && lower.contains(&case.flag[1..case.flag.len() - 1].to_lowercase()));
    if !names_flag {
        return Some(format!("does not name {}: {line}", case.flag));
    }
    for e in &case.expect {
        if !line.contains(e.as_str()) {
            return Some(format!("does not say {e:?}: {line}"));
        }
    }
    let value = c1m::cmd::clap_error::printable(&case.value.to_string_lossy());
    let debug = format!("{:?}", case.value.to_string_lossy());
    let names_value = if NO_VALUE.contains(&case.label) {
        true
    } else if value.is_empty() {
        line.contains("''") || line.contains("\"\"")
    } else {
        line.contains(&value) || line.contains(&debug[1..debug.len() - 1])
    };
    if !names_value {
        return Some(format!("does not name the value {value:?}: {line}"));
    }
    if !FIXES.iter().any(|f| lower.contains(f)) {
        return Some(format!("names no fix: {line}"));
    }
    if let Some(t) = &ran.trace {
        let s = started(t);
        if !s.is_empty() {
            return Some(format!("started something: {}", s.join("; ")));
        }
    }
    None
}

/// `local address:port` of every TCP listener of this network namespace.
fn listeners() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3) == Some(&"0A") {
                out.insert(cols[1].to_string());
            }
        }
    }
    out
}

/// PIDs of processes carrying this test's mark.
fn marked() -> Vec<String> {
    let mark = format!("{MARK}={}", std::process::id());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && env.split(|&b| b == 0).any(|v| v == mark.as_bytes())
        {
            out.push(pid.to_string());
        }
    }
    out
}

#[test]
fn every_flag_refuses_every_bad_value_in_one_line() {
    let scratch = Scratch::new();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reports/run-fanout.json"
    );
    let cases = cases(&scratch, fixture);
    let strace = match strace() {
        Ok(s) => {
            eprintln!(
                "bad_input: each case under {} (no process, TCP socket, listen or namespace may be made)",
                s.display()
            );
            Some(s)
        }
        Err(why) => {
            eprintln!(
                "bad_input: what each case starts is not traced, only what is left afterwards: {why}"
            );
            None
        }
    };
    let traces = tempfile::tempdir().unwrap();
    let before = listeners();
    let started_at = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let slowest = Mutex::new(Duration::ZERO);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(n) else { break };
                    let ran = run(case, n, strace.as_deref(), traces.path());
                    {
                        let mut m = slowest.lock().unwrap();
                        *m = (*m).max(ran.took);
                    }
                    if let Some(why) = judge(case, &ran) {
                        let shown: Vec<String> = case
                            .argv
                            .iter()
                            .map(|a| c1m::cmd::clap_error::printable(&a.to_string_lossy()))
                            .collect();
                        failures.lock().unwrap().push(format!(
                            "c1m {} ({} {}): {}",
                            shown.join(" "),
                            case.flag,
                            case.label,
                            why.trim_end()
                        ));
                    }
                }
            });
        }
    });
    let took = started_at.elapsed();
    let left = marked();
    let after = listeners();
    let new: Vec<&String> = after.difference(&before).collect();
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let count = |label: &str| cases.iter().filter(|c| c.label == label).count();
    let switches = count("value to a switch");
    let (none, misplaced, contradictory) = (
        count("no value"),
        count("flag of another command"),
        count("contradictory flags"),
    );
    let values: Vec<&Case> = cases
        .iter()
        .filter(|c| c.label != "value to a switch" && !NO_VALUE.contains(&c.label))
        .collect();
    let flags: BTreeSet<(&str, &str)> = values
        .iter()
        .map(|c| (c.cmd.as_str(), c.flag.as_str()))
        .collect();
    eprintln!(
        "bad_input: {} inputs ({} bad values to {} flags that take a value, {switches} values to switches, {none} flags without their value, {misplaced} flags of another command, {contradictory} contradictory pairs) over {} subcommands in {:.2} s ({threads} threads; slowest case {:.0} ms); {} failed",
        cases.len(),
        values.len(),
        flags.len(),
        cases.iter().map(|c| &c.cmd).collect::<BTreeSet<_>>().len(),
        took.as_secs_f64(),
        slowest.into_inner().unwrap().as_secs_f64() * 1000.0,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs were not refused in one line:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(left.is_empty(), "processes of c1m left running: {left:?}");
    assert!(
        new.is_empty(),
        "TCP listeners appeared during the table: {new:?}"
    );
}

/// The rules that read a trace tell a refusal from a start (a trace of
/// `c1m run` that started its fleet, trimmed).
#[test]
fn the_trace_shows_a_start() {
    let refused = "6635  execve(\"/c1m\", [\"c1m\", \"run\"], 0x7ff /* 35 vars */) = 0
6635  clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, ...}, 88) = 6636
6635  socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG) = 3
";
    assert_eq!(started(refused), Vec::<String>::new());
    let started_fleet = format!(
        "{refused}6635  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fe4) = 6643
6643  execve(\"/c1m\", [\"c1m\", \"worker\"], 0x7fff /* 35 vars */) = 0
6643  socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 6
6643  listen(6, 4096)                   = 0
6635  unshare(CLONE_NEWNET)             = 0
"
    );
    let seen = started(&started_fleet);
    assert_eq!(seen.len(), 5, "{seen:?}");
}
