//! clap's errors printed as c1m prints every error: one line on stderr,
//! `c1m: ` first, naming the flag, the value and the fix, and exit code 2.
//!
//! clap's own rendering spreads an error over several lines (the error,
//! `[possible values: …]`, a `tip:`, the usage, `For more information…`);
//! [`one_line`] keeps what names the cause and the fix on one line, and
//! says which argument was not UTF-8 (clap's message does not).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// `e` as one line (without the `c1m: ` prefix). `cmd` is the command
/// that parsed `args` (the whole command line, program name first); both
/// are used only to name an argument that is not UTF-8.
pub fn one_line(e: &clap::Error, cmd: &Command, args: &[OsString]) -> String {
    let help = usage_command(e).map(|c| format!("`{c} --help`"));
    let misplaced = match e.kind() {
        ErrorKind::UnknownArgument => elsewhere(e, cmd),
        _ => None,
    };
    let line = match e.kind() {
        ErrorKind::InvalidUtf8 => match not_utf8(cmd, args) {
            Some((flag, value)) => format!(
                "invalid value '{}' for '{flag}': not UTF-8 text; write it in UTF-8",
                printable(&value)
            ),
            None => "an argument is not UTF-8 text; write every argument in UTF-8".to_string(),
        },
        // `--json=` or `--json` last: clap says a value is required; say
        // whether it was empty or not there at all.
        ErrorKind::InvalidValue if string(e, ContextKind::InvalidValue).as_deref() == Some("") => {
            let arg = string(e, ContextKind::InvalidArg).unwrap_or_default();
            let give = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) if !v.is_empty() => {
                    format!("one of: {}", v.join(", "))
                }
                _ => match (arg.find('<'), arg.rfind('>')) {
                    // clap's own name for a value (`--hold <HOLD>`) says
                    // nothing more than the flag.
                    (Some(a), Some(b))
                        if a < b
                            && arg[a + 1..b].to_lowercase().replace('_', "-")
                                != arg[..a].trim().trim_start_matches('-') =>
                    {
                        format!("a {}", &arg[a + 1..b])
                    }
                    _ => "a value".to_string(),
                },
            };
            let flag = arg.split([' ', '=']).next().unwrap_or_default();
            if given_empty(flag, args) {
                format!("invalid value '' for '{arg}': empty; give {give}")
            } else {
                let how = help
                    .as_ref()
                    .map_or(String::new(), |h| format!(" ({h} says what it takes)"));
                format!("'{flag}' needs a value and none was given: give {give} after it{how}")
            }
        }
        // A flag of another command: say which takes it.
        ErrorKind::UnknownArgument if misplaced.is_some() => misplaced.unwrap_or_default(),
        // `--reconnect-delay 1s` alone: name the flag that needs the
        // missing one (clap names only the missing one).
        ErrorKind::MissingRequiredArgument if !needing(cmd, args).is_empty() => {
            let missing = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v
                    .iter()
                    .map(|m| m.split(' ').next().unwrap_or(m))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => "another flag".to_string(),
            };
            let given = needing(cmd, args).join(", ");
            format!("{given} needs {missing}: give {missing} too, or leave {given} out")
        }
        ErrorKind::ValueValidation => {
            let arg = string(e, ContextKind::InvalidArg).unwrap_or_default();
            let value = string(e, ContextKind::InvalidValue).unwrap_or_default();
            let why = std::error::Error::source(e).map_or(String::new(), |s| format!(": {s}"));
            format!(
                "invalid value '{}' for '{arg}'{}",
                printable(&value),
                one(&why)
            )
        }
        _ => rendered(e),
    };
    let fix = match e.kind() {
        ErrorKind::ArgumentConflict => Some(match conflict_why(e) {
            Some(why) => format!("{why}; give only one of them"),
            None => "give only one of them".to_string(),
        }),
        ErrorKind::MissingRequiredArgument if !line.contains(" needs ") => {
            Some("give it".to_string())
        }
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand
            if !line.contains("tip:")
                && !line.contains("possible values")
                && !line.contains(" is not a flag of ") =>
        {
            help.as_ref().map(|h| format!("{h} lists them"))
        }
        ErrorKind::NoEquals => Some("write --flag=VALUE".to_string()),
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            help.as_ref().map(|h| format!("{h} says what it takes"))
        }
        _ => None,
    };
    match (e.kind(), fix) {
        // The reason first, then what to do.
        (ErrorKind::ArgumentConflict, Some(f)) if f != "give only one of them" => {
            format!("{line}: {f}")
        }
        (_, Some(f)) => format!("{line}; {f}"),
        (_, None) => line,
    }
}

/// The long flags given in `args` that need an argument clap found
/// missing: each one whose removal (with its value) lets the command
/// line parse.
fn needing(cmd: &Command, args: &[OsString]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate().skip(1) {
        let Some(long) = a.to_str().and_then(|s| s.strip_prefix("--")) else {
            continue;
        };
        let (name, inline) = match long.split_once('=') {
            Some((n, _)) => (n, true),
            None => (long, false),
        };
        if name.is_empty() || out.iter().any(|o: &String| o[2..] == *name) {
            continue;
        }
        let takes = arg_named(cmd, name).is_some_and(|a| a.get_action().takes_values());
        let end = if takes && !inline { i + 2 } else { i + 1 };
        let mut rest = args.to_vec();
        rest.drain(i..end.min(args.len()));
        if cmd.clone().try_get_matches_from(&rest).is_ok() {
            out.push(format!("--{name}"));
        }
    }
    out
}

/// The argument of `cmd` or any of its subcommands whose long name is `name`.
fn arg_named<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(name))
        .or_else(|| cmd.get_subcommands().find_map(|s| arg_named(s, name)))
}

/// Why the two flags of a conflict `e` cannot be given together
/// ([`super::conflicts`]).
fn conflict_why(e: &clap::Error) -> Option<&'static str> {
    let a = string(e, ContextKind::InvalidArg)?;
    let prior = match e.get(ContextKind::PriorArg)? {
        ContextValue::String(s) => vec![s.clone()],
        ContextValue::Strings(v) => v.clone(),
        _ => return None,
    };
    prior.iter().find_map(|b| {
        super::conflicts::why(&a, b)
            .or_else(|| super::conflicts::value_why(b, &a))
            .or_else(|| super::conflicts::value_why(&a, b))
    })
}

/// Whether flag `flag` (`--json`) was given an empty value in `args`
/// (`--json=` or `--json ''`), rather than none at all.
fn given_empty(flag: &str, args: &[OsString]) -> bool {
    // A positional (`<REPORT>`): an empty argument.
    if flag.starts_with('<') {
        return args.iter().any(|a| a.is_empty());
    }
    let eq = format!("{flag}=");
    args.iter().enumerate().any(|(i, a)| {
        a.as_bytes() == eq.as_bytes()
            || (a.as_bytes() == flag.as_bytes()
                && args.get(i + 1).is_some_and(|next| next.is_empty()))
    })
}

/// For an unknown flag that another command takes (`c1m connect
/// --max-unsent`, `c1m serve --reconnect`): one line saying which
/// commands take it, and to give it to the likeliest: `run`, `serve`
/// and `connect` first, then `lab run`, then the tools; among equals
/// the one sharing the fewest flags with the command typed (its other
/// half: `serve` for a `connect`, `connect` for a `serve`), then `c1m
/// --help`'s order. `None` when no command takes it.
fn elsewhere(e: &clap::Error, cmd: &Command) -> Option<String> {
    let typed = string(e, ContextKind::InvalidArg)?;
    let flag = typed.split('=').next().unwrap_or_default();
    let here = usage_command(e).unwrap_or_else(|| "c1m".to_string());
    let mut commands: Vec<(String, &Command)> = Vec::new();
    every_command(cmd, "c1m", &mut commands);
    let longs = |c: &Command| -> Vec<String> {
        c.get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect()
    };
    let mine = commands
        .iter()
        .find(|(p, _)| *p == here)
        .map(|(_, c)| longs(c))
        .unwrap_or_default();
    let mut takers: Vec<(u8, usize, usize, &str)> = commands
        .iter()
        .enumerate()
        .filter(|(_, (p, c))| *p != here && c.get_arguments().any(|a| takes(a, flag)))
        .map(|(i, (p, c))| {
            let shared = longs(c).iter().filter(|l| mine.contains(l)).count();
            let tier = match p.as_str() {
                "c1m run" | "c1m serve" | "c1m connect" => 0,
                "c1m lab run" => 1,
                _ => 2,
            };
            (tier, shared, i, p.as_str())
        })
        .collect();
    if takers.is_empty() {
        return None;
    }
    // The lab does some jobs its own way: say that way, a flag of the lab.
    if here == "c1m lab run"
        && let Some((_, instead)) = LAB_RUN_INSTEAD.iter().find(|(f, _)| f.contains(&flag))
    {
        return Some(format!("'{flag}' is not a flag of c1m lab run: {instead}"));
    }
    takers.sort();
    let names: Vec<&str> = takers.iter().map(|t| t.3).collect();
    let first = names[0];
    let also = match &names[1..] {
        [] => String::new(),
        [one] => format!(" (and {one}'s)"),
        [rest @ .., last] => format!(" (and {}'s and {last}'s)", rest.join("'s, ")),
    };
    // `c1m --hold 5s`: c1m alone is c1m run, whose flags follow its name.
    if here == "c1m" && names.contains(&"c1m run") {
        return Some(format!(
            "'{flag}' is not a flag of c1m itself: it is c1m run's{}; write it after the command: c1m run {flag} …",
            if names.len() > 1 {
                " (and others')"
            } else {
                ""
            }
        ));
    }
    Some(format!(
        "'{flag}' is not a flag of {here}: it is {first}'s{also}; give it to {first} (`{first} --help` lists its flags), or leave it out"
    ))
}

/// Flags of other commands whose job `c1m lab run` does its own way, and
/// that way: a flag of the lab (issue 14: a refusal suggests a flag of
/// the command run, not another command's), or why the lab has none.
const LAB_RUN_INSTEAD: &[(&[&str], &str)] = &[
    (
        &["--sources", "--source-from"],
        "the lab's client addresses are those c1m lab up made on its client hosts (198.18.K.1 and on); for more, use c1m lab down, then c1m lab up --clients K --client-addrs N",
    ),
    (
        &["--dests"],
        "the lab's server host has one address, 198.18.0.1; for more 4-tuples, use --topology many-ports (its ports) or c1m lab up --client-addrs N (more client addresses)",
    ),
    (
        &["--ports"],
        "the lab's server ports are lab run's own choice, 8090 and on, as many as -n needs: leave it out, or use --topology many-ports for one client address to many ports",
    ),
    (
        &["--host-netns"],
        "the lab's connections are in its hosts' own network namespaces, which is what the lab is: leave it out, or use c1m run --host-netns for this host's namespace",
    ),
    (
        &["--shard"],
        "the lab's clients are its client hosts, each taking its part of -n: for more, use c1m lab down, then c1m lab up --clients K",
    ),
];

/// Whether `a` is flag `flag` (`--long`, an alias, or `-s`).
fn takes(a: &Arg, flag: &str) -> bool {
    match flag.strip_prefix("--") {
        Some(long) => {
            a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|al| al.contains(&long))
        }
        None => {
            let mut chars = flag.chars().skip(1);
            matches!((chars.next(), chars.next()), (Some(c), None) if a.get_short() == Some(c))
        }
    }
}

/// Every visible command under `cmd` (named `path`), in `--help`'s order.
fn every_command<'a>(cmd: &'a Command, path: &str, out: &mut Vec<(String, &'a Command)>) {
    out.push((path.to_string(), cmd));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        every_command(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// clap's rendering of `e`, one line: the first line less `error: `, then
/// the possible values and tips, the usage and the pointer to `--help`
/// left out.
fn rendered(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let mut listing = false;
    for l in lines {
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            listing = false;
            continue;
        }
        if l.starts_with('[') {
            out += &format!(" {l}");
        } else if l.starts_with("tip:") {
            out += &format!("; {l}");
        } else if out.ends_with(':') || listing {
            // "the following required arguments were not provided:" and
            // its list, one per line.
            out += &format!(" {l}");
            listing = true;
        }
    }
    out
}

/// A context string of `e`.
fn string(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        _ => None,
    }
}

/// `c1m connect` from the usage clap puts in an error
/// (`Usage: c1m connect [OPTIONS] <TARGETS>...`).
fn usage_command(e: &clap::Error) -> Option<String> {
    let usage = string(e, ContextKind::Usage)?;
    let words: Vec<&str> = usage
        .trim()
        .trim_start_matches("Usage:")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// A message's lines as one.
fn one(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as it can be shown on one line: control characters (a newline,
/// a tab, an escape) written as escapes.
pub fn printable(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The first argument that is not UTF-8 and whose flag wants text (a
/// path may be any bytes): its flag (`--message`, or `<TARGETS>` for a
/// positional) and the value, lossily decoded.
fn not_utf8(cmd: &Command, args: &[OsString]) -> Option<(String, String)> {
    let mut built = cmd.clone();
    // Gives positionals their indexes.
    built.build();
    let mut cmd = &built;
    let mut pending: Option<&Arg> = None;
    let mut positional = 0usize;
    let mut only_values = false;
    for a in args.iter().skip(1) {
        if let Some(arg) = pending.take() {
            if a.to_str().is_none() && !takes_bytes(arg) {
                return Some((name(arg), a.to_string_lossy().into_owned()));
            }
            continue;
        }
        let bytes = a.as_bytes();
        if !only_values && bytes == b"--" {
            only_values = true;
            continue;
        }
        if !only_values && bytes.starts_with(b"-") && bytes.len() > 1 {
            let (flag, value) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
                None => (bytes, None),
            };
            let flag = String::from_utf8_lossy(flag);
            let found = match flag.strip_prefix("--") {
                Some(long) => cmd.get_arguments().find(|x| x.get_long() == Some(long)),
                None => {
                    let short = flag.chars().nth(1);
                    cmd.get_arguments().find(|x| x.get_short() == short)
                }
            };
            let Some(arg) = found else { continue };
            match value {
                Some(v) if std::str::from_utf8(v).is_err() && !takes_bytes(arg) => {
                    return Some((name(arg), String::from_utf8_lossy(v).into_owned()));
                }
                None if arg.get_action().takes_values()
                    && (flag.starts_with("--") || flag.len() == 2) =>
                {
                    pending = Some(arg);
                }
                _ => {}
            }
            continue;
        }
        if !only_values
            && positional == 0
            && let Some(sub) = a.to_str().and_then(|s| cmd.find_subcommand(s))
        {
            cmd = sub;
            continue;
        }
        let mut positionals: Vec<&Arg> = cmd.get_positionals().collect();
        positionals.sort_by_key(|p| p.get_index());
        let arg = positionals.get(positional).or(positionals.last()).copied();
        positional += 1;
        if a.to_str().is_none()
            && let Some(arg) = arg
            && !takes_bytes(arg)
        {
            return Some((name(arg), a.to_string_lossy().into_owned()));
        }
    }
    None
}

/// Whether `arg` takes any bytes (a path), not only UTF-8 text.
fn takes_bytes(arg: &Arg) -> bool {
    let t = arg.get_value_parser().type_id();
    t == std::any::TypeId::of::<PathBuf>() || t == std::any::TypeId::of::<OsString>()
}

/// `--long` or `<VALUE>`, as clap names an argument in its errors.
fn name(arg: &Arg) -> String {
    match arg.get_long() {
        Some(l) => format!("--{l}"),
        None => format!(
            "<{}>",
            arg.get_value_names().and_then(|v| v.first()).map_or_else(
                || arg.get_id().to_string().to_uppercase(),
                |v| v.to_string()
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn parse(args: &[&[u8]]) -> String {
        let cmd = crate::cmd::command();
        let args: Vec<OsString> = std::iter::once(b"c1m".as_slice())
            .chain(args.iter().copied())
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect();
        let e = cmd.clone().try_get_matches_from(&args).unwrap_err();
        one_line(&e, &cmd, &args)
    }

    #[test]
    fn a_missing_flag_names_the_flag_that_needs_it() {
        // Trial 5: "the following required arguments were not provided:
        // --reconnect; give it", not saying which flag needs it.
        let line = parse(&[b"connect", b"127.0.0.1:80", b"--reconnect-delay", b"1s"]);
        assert_eq!(
            line,
            "--reconnect-delay needs --reconnect: give --reconnect too, or leave --reconnect-delay out"
        );
        let line = parse(&[b"connect", b"127.0.0.1:80", b"--abort-on-fail"]);
        assert!(
            line.starts_with("--abort-on-fail needs --fail-if"),
            "{line}"
        );
    }

    #[test]
    fn one_line_each() {
        assert_eq!(
            parse(&[b"run", b"--mode=x"]),
            "invalid value 'x' for '--mode <MODE>' [possible values: idle, heartbeat]"
        );
        assert_eq!(
            parse(&[b"run", b"--message=a\xffb"]),
            "invalid value 'a\u{fffd}b' for '--message': not UTF-8 text; write it in UTF-8"
        );
        // A path may be any bytes: the text flag is the one named.
        assert_eq!(
            parse(&[b"run", b"--json", b"\xff", b"--expect", b"\xfe"]),
            "invalid value '\u{fffd}' for '--expect': not UTF-8 text; write it in UTF-8"
        );
        assert_eq!(
            parse(&[b"connect", b"--", b"x\xff"]),
            "invalid value 'x\u{fffd}' for '<TARGETS>': not UTF-8 text; write it in UTF-8"
        );
        let conflict = parse(&[b"connect", b"-4", b"-6", b"127.0.0.1:1"]);
        assert!(
            conflict.ends_with("give only one of them") && !conflict.contains('\n'),
            "{conflict}"
        );
        assert_eq!(
            parse(&[b"run", b"--json="]),
            "invalid value '' for '--json <FILE>': empty; give a FILE"
        );
        assert_eq!(
            parse(&[b"run", b"--close="]),
            "invalid value '' for '--close <CLOSE>': empty; give one of: rst, fin"
        );
        // Given with no value at all (last), or an empty one.
        assert_eq!(
            parse(&[b"report", b"r.json", b"--csv"]),
            "'--csv' needs a value and none was given: give a FILE after it"
        );
        assert_eq!(
            parse(&[b"run", b"--hold"]),
            "'--hold' needs a value and none was given: give a value after it"
        );
        assert_eq!(
            parse(&[b"report", b"r.json", b"--csv", b""]),
            "invalid value '' for '--csv <FILE>': empty; give a FILE"
        );
        // A flag of another command: the likeliest command that takes it.
        let line = parse(&[b"connect", b"127.0.0.1:1", b"--max-unsent", b"1k"]);
        assert!(
            line.starts_with(
                "'--max-unsent' is not a flag of c1m connect: it is c1m serve's (and "
            ),
            "{line}"
        );
        assert!(
            line.ends_with(
                "give it to c1m serve (`c1m serve --help` lists its flags), or leave it out"
            ),
            "{line}"
        );
        let line = parse(&[b"serve", b"--listen", b"127.0.0.1:1", b"--reconnect"]);
        assert!(
            line.starts_with("'--reconnect' is not a flag of c1m serve: it is c1m connect's"),
            "{line}"
        );
        let line = parse(&[b"connect", b"127.0.0.1:1", b"--topology=many-ips"]);
        assert!(
            line.starts_with("'--topology' is not a flag of c1m connect: it is c1m run's"),
            "{line}"
        );
        // A job the lab does its own way: the lab's flag (trial 4, G).
        let line = parse(&[b"lab", b"run", b"--sources", b"198.18.1.1"]);
        assert!(
            line.starts_with("'--sources' is not a flag of c1m lab run: ")
                && line.ends_with("c1m lab up --clients K --client-addrs N"),
            "{line}"
        );
        for flag in [
            b"--source-from=x".as_slice(),
            b"--dests=198.18.0.1",
            b"--ports=8090",
            b"--host-netns",
            b"--shard=0/2",
        ] {
            let line = parse(&[b"lab", b"run", flag]);
            assert!(
                line.contains("is not a flag of c1m lab run: ") && !line.contains("give it to"),
                "{line}"
            );
        }
        let line = parse(&[b"doctor", b"--hold", b"5s"]);
        assert!(
            line.starts_with("'--hold' is not a flag of c1m doctor: it is ")
                && line.contains("c1m run's"),
            "{line}"
        );
        assert_eq!(
            parse(&[b"--hold", b"5s"]),
            "'--hold' is not a flag of c1m itself: it is c1m run's (and others'); write it after the command: c1m run --hold …"
        );
        // A flag no command takes: clap's words, and where to look.
        let line = parse(&[b"run", b"--no-such-flag"]);
        assert!(
            line.contains("unexpected argument '--no-such-flag'"),
            "{line}"
        );
        // Contradictions say why.
        assert_eq!(
            parse(&[b"connect", b"127.0.0.1:1", b"--find-limit", b"--reconnect"]),
            "the argument '--find-limit' cannot be used with '--reconnect': the search stops at the first connection the server closes or refuses, which --reconnect would reopen and hide; give only one of them"
        );
        let missing = parse(&[b"serve"]);
        assert!(missing.contains("--listen"), "{missing}");
        assert!(!missing.contains('\n'), "{missing}");
        assert_eq!(printable("a\nb\u{1b}"), "a\\nb\\u{1b}");
    }
}
