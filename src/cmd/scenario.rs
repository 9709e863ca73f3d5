//! Scenario files: `--scenario FILE` (a TOML table whose keys are the
//! command's own long flags) and `--print-scenario` (the effective flags
//! of a command line, printed as such a file), on every command that takes
//! experiment flags (`run`, `serve`, `connect`, `lab run`).
//!
//! No key is written here: the keys are read from clap's definition of
//! the command ([`super::command`]), so every flag, present or added
//! later, has its key. A file becomes command-line arguments, placed
//! before the real command line's, and clap parses the whole: each value
//! goes through the flag's own parser, and a key the command line also
//! gives (or a flag it gives that conflicts with the key) is dropped, so
//! the command line wins. Errors name the file, the line and the key, on
//! one line.
//!
//! Values: a string, an integer, a float or a TOML date-time is the
//! flag's value as typed on a command line (`hold = "10m"`, `conns =
//! 100000`, `rate = "5k"`); `true`/`false` sets a switch or not (and a
//! flag whose value is optional, `metrics = true`); an array gives a
//! repeatable flag each of its values (`fail-if = ["held<99%",
//! "p99(rtt)>50ms"]`). A positional argument's key is its name
//! (`targets = ["127.0.0.1:6379"]`). `-` and `_` are the same in a key.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command};
use toml::Spanned;

use super::clap_error;

/// The largest scenario file read: a scenario is a few lines.
pub const MAX_BYTES: u64 = 1 << 20;

/// `--scenario` and `--print-scenario`.
#[derive(Debug, Clone, Default, Args)]
pub struct ScenarioOpts {
    /// Read flags from this TOML file: each key a long flag of this
    /// command (`hold = "10m"`, `host-netns = true`, `fail-if =
    /// ["held<99.9%", "p99(rtt)>50ms"]`); flags on the command line
    /// override the file's.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Print the effective flags of this command line (with its
    /// --scenario) as a scenario file, and exit; the defaults of the
    /// others follow as comments.
    #[arg(long)]
    pub print_scenario: bool,
}

/// The ids of the two flags, which are no keys of a file.
const OWN: [&str; 2] = ["scenario", "print_scenario"];

/// One key of a scenario file, as arguments.
#[derive(Debug, Clone)]
struct Entry {
    /// As written in the file.
    key: String,
    line: usize,
    /// clap's id of the flag.
    id: String,
    /// How clap names it in errors: `--window`, `<TARGETS>`.
    named: String,
    /// `--long=VALUE`, `--long` (switches), or a positional's values.
    argv: Vec<OsString>,
    positional: bool,
}

/// A command line with its scenario file read in.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What clap parses: the program and subcommand, the file's flags,
    /// the command line's own, then (after `--`) the file's positionals.
    pub argv: Vec<OsString>,
    /// Whether `--print-scenario` was given.
    pub print: bool,
    /// `c1m run`, `c1m lab run`: the command, for the printed scenario.
    pub command: Vec<String>,
    file: Option<PathBuf>,
    entries: Vec<Entry>,
}

/// `args` (the program's name first) with its `--scenario` file read in;
/// a command line without `--scenario` or `--print-scenario`, or one
/// clap cannot even split into flags, is returned as it is (clap's own
/// parse then says what is wrong).
///
/// # Errors
/// One line (without `c1m: `) naming the file, the line and the key: the
/// file cannot be read, is not TOML, has a key that is no flag of the
/// command, a value of the wrong type, or one flag twice.
pub fn resolve(args: &[OsString]) -> Result<Resolved, String> {
    resolve_with(args, read)
}

/// [`resolve`], the scenario file's text given by `read` (from its path):
/// what tests and fuzzing use to give a text without a file.
///
/// # Errors
/// As [`resolve`]; `read`'s error as it is.
pub fn resolve_with(
    args: &[OsString],
    read: impl FnOnce(&Path) -> Result<String, String>,
) -> Result<Resolved, String> {
    let as_is = Resolved {
        argv: args.to_vec(),
        print: false,
        command: Vec::new(),
        file: None,
        entries: Vec::new(),
    };
    // Most command lines (and every worker's) name neither flag.
    let named = args.iter().skip(1).any(|a| {
        let a = a.as_encoded_bytes();
        a.starts_with(b"--scenario") || a.starts_with(b"--print-scenario")
    });
    if !named {
        return Ok(as_is);
    }
    let mut cmd = super::command();
    cmd.build();
    let loose = relaxed(cmd.clone());
    let Ok(matches) = loose.clone().try_get_matches_from(args) else {
        return Ok(as_is);
    };
    // The subcommand path and its matches: `run`, `lab run`.
    let mut path = Vec::new();
    let mut m = &matches;
    let mut leaf = &cmd;
    let mut loose_leaf = &loose;
    while let Some((name, sub)) = m.subcommand() {
        let (Some(c), Some(l)) = (leaf.find_subcommand(name), loose_leaf.find_subcommand(name))
        else {
            return Ok(as_is);
        };
        path.push(name.to_string());
        leaf = c;
        loose_leaf = l;
        m = sub;
    }
    if !leaf.get_arguments().any(|a| a.get_id() == "scenario") {
        return Ok(as_is);
    }
    let print = m.get_flag("print_scenario");
    let file = m
        .get_one::<OsString>("scenario")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    // The subcommand's words must be the arguments that follow the
    // program's name (c1m has no flags before a subcommand).
    let words = args.get(1..=path.len());
    if words.is_none_or(|w| w.iter().zip(&path).any(|(a, p)| a != p.as_str())) {
        return Ok(as_is);
    }
    let command: Vec<String> = std::iter::once("c1m".to_string())
        .chain(path.iter().cloned())
        .collect();
    let Some(file) = file else {
        return Ok(Resolved {
            print,
            command,
            ..as_is
        });
    };
    let text = read(&file)?;
    let here = Place {
        file: &file,
        text: &text,
    };
    let mut entries = entries(&here, &cmd, leaf, loose_leaf, &command.join(" "))?;
    // The command line wins: a key it also gives, or one that conflicts
    // with a flag it gives, is dropped.
    let given: Vec<&Arg> = leaf
        .get_arguments()
        .filter(|a| m.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .collect();
    entries.retain(|e| {
        let arg = leaf.get_arguments().find(|a| a.get_id() == e.id.as_str());
        !given.iter().any(|g| {
            g.get_id() == e.id.as_str()
                || arg.is_some_and(|a| {
                    leaf.get_arg_conflicts_with(a)
                        .iter()
                        .any(|c| c.get_id() == g.get_id())
                        || leaf
                            .get_arg_conflicts_with(g)
                            .iter()
                            .any(|c| c.get_id() == a.get_id())
                })
        })
    });
    let head = 1 + path.len();
    let mut argv: Vec<OsString> = args[..head].to_vec();
    argv.extend(
        entries
            .iter()
            .filter(|e| !e.positional)
            .flat_map(|e| e.argv.iter().cloned()),
    );
    argv.extend(args[head..].iter().cloned());
    let positionals: Vec<OsString> = entries
        .iter()
        .filter(|e| e.positional)
        .flat_map(|e| e.argv.iter().cloned())
        .collect();
    if !positionals.is_empty() {
        if !args[head..].iter().any(|a| a == "--") {
            argv.push("--".into());
        }
        argv.extend(positionals);
    }
    Ok(Resolved {
        argv,
        print,
        command,
        file: Some(file),
        entries,
    })
}

impl Resolved {
    /// clap's error for [`Resolved::argv`] as one line; when the flag it
    /// names came from the scenario file, led by the file, the line and
    /// the key.
    pub fn explain(&self, e: &clap::Error, cmd: &Command) -> String {
        let line = clap_error::one_line(e, cmd, &self.argv);
        let Some(file) = &self.file else {
            return line;
        };
        let mut named: Vec<String> = Vec::new();
        for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
            match e.get(kind) {
                Some(ContextValue::String(s)) => named.push(s.clone()),
                Some(ContextValue::Strings(v)) => named.extend(v.iter().cloned()),
                _ => {}
            }
        }
        let from: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|en| named.iter().any(|n| names(n, &en.named)))
            .collect();
        match from.as_slice() {
            [] if e.kind() == clap::error::ErrorKind::MissingRequiredArgument => {
                let keys: Vec<String> = named
                    .iter()
                    .map(|n| {
                        let word = n.split([' ', '.']).next().unwrap_or_default();
                        let word = word.trim_start_matches("--");
                        format!("'{}'", word.trim_matches(['<', '>']).to_lowercase())
                    })
                    .collect();
                format!(
                    "{}; give it on the command line or as key {} in --scenario {}",
                    line.trim_end_matches("; give it"),
                    keys.join(", "),
                    shown(file)
                )
            }
            [] => line,
            [one] => format!(
                "--scenario {}, line {}: key '{}': {line}",
                shown(file),
                one.line,
                one.key
            ),
            many => format!(
                "--scenario {}, lines {}: keys {}: {line}",
                shown(file),
                many.iter()
                    .map(|e| e.line.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                many.iter()
                    .map(|e| format!("'{}'", e.key))
                    .collect::<Vec<_>>()
                    .join(" and "),
            ),
        }
    }
}

/// Whether clap's name of an argument in an error (`--window <WINDOW>`,
/// `--metrics [<ADDR:PORT>]`, `<TARGETS>...`) is `flag` (`--window`,
/// `<TARGETS>`).
fn names(clap_name: &str, flag: &str) -> bool {
    clap_name == flag
        || clap_name
            .strip_prefix(flag)
            .is_some_and(|rest| rest.starts_with([' ', '=', '.']))
}

/// The file and its text, for errors.
struct Place<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    /// `--scenario FILE, line N: WHAT`.
    fn at(&self, offset: usize, what: impl std::fmt::Display) -> String {
        format!(
            "--scenario {}, line {}: {what}",
            shown(self.file),
            line_of(self.text, offset)
        )
    }
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A path as it can be shown on one line.
fn shown(file: &Path) -> String {
    clap_error::printable(&file.to_string_lossy())
}

/// The file's text: a regular file of UTF-8 text, at most [`MAX_BYTES`].
fn read(file: &Path) -> Result<String, String> {
    let refuse = |why: String| {
        format!(
            "--scenario {}: {why}; give the path of a TOML scenario file",
            shown(file)
        )
    };
    let f = std::fs::File::open(file).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| refuse(format!("cannot read it: {e}")))?;
    if meta.is_dir() {
        return Err(refuse("a directory, not a file".to_string()));
    }
    if !meta.is_file() {
        return Err(refuse("not a regular file".to_string()));
    }
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(refuse(format!(
            "larger than {MAX_BYTES} bytes, not a scenario"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes());
        format!(
            "--scenario {}, line {}: not UTF-8 text; write the file in UTF-8 (TOML is)",
            shown(file),
            line_of(&text, at)
        )
    })
}

/// `cmd` with every flag optional, free of the others and taking any
/// value: enough to see which flags a command line gives, whatever the
/// file adds to it.
fn relaxed(cmd: Command) -> Command {
    cmd.mut_args(|a| {
        let a = a
            .required(false)
            .requires(clap::builder::Resettable::Reset)
            .conflicts_with(clap::builder::Resettable::Reset);
        if a.get_action().takes_values() {
            a.value_parser(ValueParser::os_string())
        } else {
            a
        }
    })
    .mut_subcommands(relaxed)
}

/// The keys of `leaf` (normalized: `-` for `_`) and their arguments:
/// long names and aliases, positionals by their id.
fn keys(leaf: &Command) -> BTreeMap<String, &Arg> {
    let mut out = BTreeMap::new();
    for a in leaf.get_arguments() {
        let id = a.get_id().as_str();
        if matches!(id, "help" | "version") || OWN.contains(&id) {
            continue;
        }
        if a.is_positional() {
            out.insert(normal(id), a);
            continue;
        }
        if let Some(l) = a.get_long() {
            out.insert(normal(l), a);
        }
        for alias in a.get_all_aliases().unwrap_or_default() {
            out.insert(normal(alias), a);
        }
    }
    out
}

/// A key with `-` for `_`.
fn normal(key: &str) -> String {
    key.replace('_', "-")
}

/// The key a flag is printed as: its long name, or a positional's id.
fn key_of(a: &Arg) -> String {
    match a.get_long() {
        Some(l) => l.to_string(),
        None => normal(a.get_id().as_str()),
    }
}

/// How clap names `a` in errors: `--window` or `<TARGETS>`.
fn named(a: &Arg) -> String {
    match a.get_long() {
        Some(l) => format!("--{l}"),
        None => format!(
            "<{}>",
            a.get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string())
        ),
    }
}

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A switch: `true` or `false`.
    Switch,
    /// A counted switch (`-vv`): a number of times.
    Count,
    /// One value (`optional`: or none, `true`).
    One { optional: bool },
    /// One value or more.
    Many,
}

fn takes(a: &Arg) -> Takes {
    let action = a.get_action();
    if !action.takes_values() {
        return if matches!(action, ArgAction::Count) {
            Takes::Count
        } else {
            Takes::Switch
        };
    }
    let n = a.get_num_args().unwrap_or_default();
    if matches!(action, ArgAction::Append) || n.max_values() > 1 {
        Takes::Many
    } else {
        Takes::One {
            optional: n.min_values() == 0,
        }
    }
}

/// Every key of the file, checked and turned into arguments of `leaf`
/// (`whole` is c1m's whole definition, to say which command has a flag
/// `leaf` has not; `loose` is `leaf` [`relaxed`]; `command` is `c1m run`).
fn entries(
    here: &Place<'_>,
    whole: &Command,
    leaf: &Command,
    loose: &Command,
    command: &str,
) -> Result<Vec<Entry>, String> {
    type Table = BTreeMap<Spanned<String>, Spanned<toml::Value>>;
    let table: Table = toml::from_str(here.text).map_err(|e| {
        let span = e.span().unwrap_or_default();
        // What the error points at (a duplicate key, say), when short.
        let what = here
            .text
            .get(span.clone())
            .filter(|t| !t.is_empty() && t.len() <= 40 && !t.contains('\n'))
            .map_or(String::new(), |t| {
                format!(" (at `{}`)", clap_error::printable(t))
            });
        here.at(
            span.start,
            format!(
                "not TOML: {}{what}; write one `key = value` a line (text in quotes)",
                clap_error::printable(e.message().trim())
            ),
        )
    })?;
    let mut items: Vec<(Spanned<String>, Spanned<toml::Value>)> = table.into_iter().collect();
    items.sort_by_key(|(k, _)| k.span().start);
    let keys = keys(leaf);
    let mut out: Vec<Entry> = Vec::new();
    for (k, v) in items {
        let at = k.span().start;
        let key = k.get_ref().as_str();
        if let toml::Value::Table(_) = v.get_ref() {
            return Err(here.at(
                at,
                format!(
                    "key '{key}' is a table; a scenario's keys are the flags of {command}, \
                     each at the top level (no [sections], no dotted keys)"
                ),
            ));
        }
        let Some(arg) = keys.get(&normal(key)).copied() else {
            return Err(here.at(at, unknown(key, &keys, whole, command)));
        };
        if let Some(first) = out.iter().find(|e| e.id == arg.get_id().as_str()) {
            return Err(here.at(
                at,
                format!(
                    "key '{key}' gives --{} again (line {}: '{}'); give it once",
                    key_of(arg),
                    first.line,
                    first.key
                ),
            ));
        }
        let argv = values(arg, key, v.get_ref(), loose).map_err(|why| here.at(at, why))?;
        out.push(Entry {
            key: key.to_string(),
            line: line_of(here.text, at),
            id: arg.get_id().to_string(),
            named: named(arg),
            argv,
            positional: arg.is_positional(),
        });
    }
    Ok(out)
}

/// Why `key` is no key of `command`, and the closest one that is.
fn unknown(key: &str, keys: &BTreeMap<String, &Arg>, whole: &Command, command: &str) -> String {
    if OWN.iter().any(|o| normal(o) == normal(key)) {
        return format!(
            "key '{key}' cannot be in a scenario file; give --{} on the command line",
            normal(key)
        );
    }
    // A flag's short name (`n` for -n): its key is the long one.
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && let Some((long, _)) = keys
            .iter()
            .find(|(_, a)| a.get_short() == Some(c) && !a.is_positional())
    {
        return format!(
            "unknown key '{key}': keys are flags' long names, and -{c} is --{long}: write {long} = … (`{command} --help` lists them)"
        );
    }
    let mut elsewhere = Vec::new();
    commands_with(whole, "c1m", &normal(key), &mut elsewhere);
    // Offered only when close (`targets` on `c1m run` is not `stages`).
    let closest = super::similar::suggestion(&super::similar::closest(
        key,
        keys.keys().map(String::as_str),
    ));
    let whose = if elsewhere.is_empty() {
        String::new()
    } else {
        format!(" (it is one of {})", elsewhere.join(", "))
    };
    format!(
        "unknown key '{key}': not a flag of {command}{whose}{closest} (`{command} --help` lists them)"
    )
}

/// The commands under `cmd` (named `path`) that have a flag `key`.
fn commands_with(cmd: &Command, path: &str, key: &str, out: &mut Vec<String>) {
    let has = |a: &Arg| match a.get_long() {
        Some(l) => normal(l) == key,
        None => a.is_positional() && normal(a.get_id().as_str()) == key,
    };
    if cmd.get_arguments().any(has) {
        out.push(path.to_string());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands_with(sub, &format!("{path} {}", sub.get_name()), key, out);
    }
}

/// A scalar as the text of a command-line value.
fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    }
}

/// The TOML name of `v`'s type.
fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "text",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "true/false",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// The value clap gives a flag whose value is optional when it is given
/// bare (`--metrics`: its default address), read by parsing it with
/// `loose` (the command, [`relaxed`]).
fn bare_value(loose: &Command, arg: &Arg) -> Option<String> {
    let m = loose
        .clone()
        .no_binary_name(true)
        .try_get_matches_from([format!("--{}", arg.get_long()?)])
        .ok()?;
    let v = m.get_raw(arg.get_id().as_str())?.next()?;
    v.to_str().map(str::to_string)
}

/// The arguments `key = v` stands for (`loose`: the command,
/// [`relaxed`]).
fn values(arg: &Arg, key: &str, v: &toml::Value, loose: &Command) -> Result<Vec<OsString>, String> {
    let flag = key_of(arg);
    let token = |value: Option<&str>| -> OsString {
        match (arg.is_positional(), value) {
            (true, Some(v)) => v.into(),
            (_, Some(v)) => format!("--{flag}={v}").into(),
            (_, None) => format!("--{flag}").into(),
        }
    };
    match (takes(arg), v) {
        (Takes::Switch, toml::Value::Boolean(b)) => Ok(if *b { vec![token(None)] } else { vec![] }),
        (Takes::Switch, other) => Err(format!(
            "key '{key}' is a switch (--{flag}), not {}; write {key} = true or false",
            type_name(other)
        )),
        (Takes::Count, toml::Value::Integer(n)) if (0..=255).contains(n) => {
            Ok(vec![token(None); *n as usize])
        }
        (Takes::Count, toml::Value::Boolean(b)) => Ok(if *b { vec![token(None)] } else { vec![] }),
        (Takes::Count, other) => Err(format!(
            "key '{key}' counts --{flag}, not {}; write a number of times from 0 to 255",
            type_name(other)
        )),
        // The value written out: the flag bare would take the next
        // argument (a positional of the command line) as its value.
        (Takes::One { optional: true }, toml::Value::Boolean(b)) => Ok(if *b {
            vec![token(bare_value(loose, arg).as_deref())]
        } else {
            vec![]
        }),
        (_, toml::Value::Boolean(_)) => Err(format!(
            "key '{key}' takes a value ({}), not true/false; write it as text or a number",
            named(arg)
        )),
        (Takes::One { .. }, toml::Value::Array(_)) => Err(format!(
            "key '{key}' takes one value ({}), not a list; give one",
            named(arg)
        )),
        (Takes::Many, toml::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar(item).map(|s| token(Some(&s))).ok_or_else(|| {
                    format!(
                        "key '{key}': item {} is {}; give text or numbers",
                        i + 1,
                        type_name(item)
                    )
                })
            })
            .collect(),
        (_, scalar_value) => scalar(scalar_value)
            .map(|s| vec![token(Some(&s))])
            .ok_or_else(|| format!("key '{key}' cannot take {}", type_name(scalar_value))),
    }
}

/// The scenario file of the command line clap parsed into `matches`
/// (the whole command's), for `--print-scenario`: `command` (`c1m run`)
/// in a comment, every flag given (by the command line or its file), in
/// the order of `--help`, then the defaults of the others as comments.
///
/// # Errors
/// A value that is not UTF-8 (a path): a TOML file holds only text.
pub fn render(whole: &Command, matches: &ArgMatches, command: &[String]) -> Result<String, String> {
    let mut leaf = whole;
    let mut m = matches;
    for word in command.iter().skip(1) {
        leaf = leaf
            .find_subcommand(word)
            .ok_or_else(|| format!("no command {word}"))?;
        m = m
            .subcommand_matches(word)
            .ok_or_else(|| format!("no command {word}"))?;
    }
    let shown = command.join(" ");
    let mut set = String::new();
    let mut defaults = String::new();
    for a in leaf.get_arguments() {
        let id = a.get_id().as_str();
        if matches!(id, "help" | "version") || OWN.contains(&id) || a.is_hide_set() {
            continue;
        }
        let key = key_of(a);
        if m.value_source(id) != Some(ValueSource::CommandLine) {
            defaults += &format!("# {}\n", not_given(a, &key));
            continue;
        }
        let v = match takes(a) {
            Takes::Switch => "true".to_string(),
            Takes::Count => m.get_count(id).to_string(),
            _ => {
                let raw: Vec<&OsStr> = m.get_raw(id).map(|r| r.collect()).unwrap_or_default();
                value_text(&raw, a).ok_or_else(|| {
                    format!(
                        "{} has a value that is not UTF-8 ({}); a scenario file holds \
                         only UTF-8 text, so --print-scenario cannot write it",
                        named(a),
                        raw.iter()
                            .map(|r| clap_error::printable(&r.to_string_lossy()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })?
            }
        };
        set += &format!("{key} = {v}\n");
    }
    let mut out =
        format!("# {shown} --scenario FILE: the flags of `{shown}`, as a scenario file\n{set}");
    if !defaults.is_empty() {
        out += &format!("\n# Not given; their defaults:\n{defaults}");
    }
    Ok(out)
}

/// What flag `a` (key `key`) is when not given, as a scenario's line
/// (without its `# `): `key = VALUE` for clap's default (`false` for a
/// switch, `[]` for a repeatable flag), or for the default its help
/// states (`[default: 1s]`) when that is one word the flag takes; else
/// `key: not given (what its help says that means)`, or `key: not
/// given` when its help says nothing.
fn not_given(a: &Arg, key: &str) -> String {
    let d = a.get_default_values();
    if !d.is_empty() {
        let v = match takes(a) {
            Takes::Switch | Takes::Count => d
                .first()
                .and_then(|v| v.to_str())
                .unwrap_or_default()
                .to_string(),
            _ => {
                value_text(&d.iter().map(|v| v.as_ref()).collect::<Vec<_>>(), a).unwrap_or_default()
            }
        };
        return format!("{key} = {v}");
    }
    match takes(a) {
        Takes::Switch => return format!("{key} = false"),
        Takes::Count => return format!("{key} = 0"),
        Takes::Many if !a.is_positional() => return format!("{key} = []"),
        _ => {}
    }
    let Some(stated) = stated_default(a) else {
        return format!("{key}: not given");
    };
    // A stated default that is a value of the flag (one word its parser
    // takes: `1s`, `100ms`) is written as one; words about the default
    // (`a 16-byte line that c1m serve echoes`, which --message would
    // take as a message) are not.
    let one_word = !stated.contains(char::is_whitespace);
    let probe = Command::new("c1m").no_binary_name(true).arg(
        a.clone()
            .required(false)
            .requires(clap::builder::Resettable::Reset)
            .conflicts_with(clap::builder::Resettable::Reset),
    );
    let flag = a.get_long().map(|l| format!("--{l}"));
    let parses = one_word
        && flag.is_some_and(|f| {
            probe
                .try_get_matches_from([OsString::from(format!("{f}={stated}"))])
                .is_ok()
        });
    if parses {
        let raw = OsString::from(&stated);
        format!(
            "{key} = {}",
            value_text(&[raw.as_os_str()], a).unwrap_or_default()
        )
    } else {
        format!("{key}: not given ({stated})")
    }
}

/// The default a flag's help states, `[default: …]` (what leaving it out
/// means, for a flag clap has no default value for), on one line.
fn stated_default(a: &Arg) -> Option<String> {
    let help = a.get_long_help().or(a.get_help())?.to_string();
    let start = help.find("[default: ")? + "[default: ".len();
    let mut depth = 0usize;
    let end = help[start..].char_indices().find_map(|(i, c)| match c {
        '[' => {
            depth += 1;
            None
        }
        ']' if depth == 0 => Some(start + i),
        ']' => {
            depth -= 1;
            None
        }
        _ => None,
    })?;
    Some(
        help[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Values as TOML: an integer when the text is one as TOML writes it,
/// else a string; a list for a flag that takes several. `None` for a
/// value that is not UTF-8.
fn value_text(raw: &[&OsStr], a: &Arg) -> Option<String> {
    let one = |r: &OsStr| -> Option<String> {
        let s = r.to_str()?;
        Some(match s.parse::<i64>() {
            Ok(n) if n.to_string() == s => s.to_string(),
            _ => toml::Value::String(s.to_string()).to_string(),
        })
    };
    let items: Option<Vec<String>> = raw.iter().map(|r| one(r)).collect();
    let items = items?;
    Some(match takes(a) {
        Takes::Many => format!("[{}]", items.join(", ")),
        _ => items.into_iter().next().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn lines_and_names() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        assert!(names("--window <WINDOW>", "--window"));
        assert!(names("--metrics [<ADDR:PORT>]", "--metrics"));
        assert!(names("<TARGETS>...", "<TARGETS>"));
        assert!(!names("--window-size <N>", "--window"));
    }

    #[test]
    fn a_command_line_without_a_scenario_is_left_alone() {
        let args = os(&["c1m", "run", "-n", "10", "--hold", "1s"]);
        let r = resolve(&args).unwrap();
        assert_eq!(r.argv, args);
        assert!(!r.print);
        // One clap cannot split: clap's own parse says why.
        let bad = os(&["c1m", "run", "--no-such-flag"]);
        assert_eq!(resolve(&bad).unwrap().argv, bad);
    }

    /// The commands under `cmd` that take `--scenario`.
    fn scenario_commands<'a>(cmd: &'a Command, path: &str, out: &mut Vec<(String, &'a Command)>) {
        if cmd.get_arguments().any(|a| a.get_id() == "scenario") {
            out.push((path.to_string(), cmd));
        }
        for sub in cmd.get_subcommands() {
            scenario_commands(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_of_the_scenario_commands_has_a_key() {
        let mut cmd = crate::cmd::command();
        cmd.build();
        let loose = relaxed(cmd.clone());
        let mut found = Vec::new();
        scenario_commands(&cmd, "c1m", &mut found);
        let names: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            ["c1m run", "c1m serve", "c1m connect", "c1m lab run"]
        );
        for (path, leaf) in found {
            let mut loose_leaf = &loose;
            for w in path.split(' ').skip(1) {
                loose_leaf = loose_leaf.find_subcommand(w).unwrap();
            }
            for a in leaf.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") || OWN.contains(&id) {
                    continue;
                }
                let value = match takes(a) {
                    Takes::Switch => "true",
                    Takes::Count => "1",
                    Takes::One { .. } => "\"x\"",
                    Takes::Many => "[\"x\"]",
                };
                // Both spellings of the key.
                for key in [key_of(a), key_of(a).replace('-', "_")] {
                    let text = format!("# {path}\n{key} = {value}\n");
                    let here = Place {
                        file: Path::new("t.toml"),
                        text: &text,
                    };
                    let got = entries(&here, &cmd, leaf, loose_leaf, &path)
                        .unwrap_or_else(|e| panic!("{path}: {id}: {e}"));
                    assert_eq!(got.len(), 1, "{path}: {text}");
                    assert_eq!(got[0].id, id, "{path}: {text}");
                    assert_eq!(got[0].line, 2, "{path}: {text}");
                    let want: OsString = match a.get_long() {
                        Some(l) if matches!(takes(a), Takes::Switch | Takes::Count) => {
                            format!("--{l}").into()
                        }
                        Some(l) => format!("--{l}=x").into(),
                        None => "x".into(),
                    };
                    assert_eq!(got[0].argv, [want], "{path}: {text}");
                }
            }
        }
    }
}
