//! Issue 14, point 5: scenario files. `--scenario FILE` gives a command
//! every flag's equivalent as a TOML key (read from clap's definition),
//! the command line overriding the file; `--print-scenario` prints the
//! effective flags as such a file, and that file read back gives the same
//! settings: the parsed command (c1m's own `Cli`, compared whole) and the
//! same printed text. Every example in `examples/` is valid and prints
//! back. A bad file is refused in one line that names the file, the line
//! and the key, exit 2, before anything starts.
//!
//! Nothing here opens a socket: the command lines are parsed in-process
//! (`c1m::cmd::read_line`, what the binary runs first) and a few through
//! the binary, which prints or refuses within milliseconds.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use c1m::cmd::lab::LabCommand;
use c1m::cmd::{Cmd, Line, Refused, read_line};

use crate::util::{c1m, text};

fn os(args: &[&str]) -> Vec<OsString> {
    std::iter::once("c1m")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

/// What `args` parse into, the scenario flags cleared (they name the
/// file, which differs between a command line and its printed scenario).
fn effective(args: &[OsString]) -> String {
    let cli = match read_line(args) {
        Ok(Line::Run(cli)) => cli,
        other => panic!("{args:?}: {other:?}"),
    };
    let mut cmd = cli.command.expect("a subcommand");
    let blank = Default::default();
    match &mut cmd {
        Cmd::Run(a) => a.scenario = blank,
        Cmd::Serve(a) => a.scenario = blank,
        Cmd::Connect(a) => a.scenario = blank,
        Cmd::Lab(l) => {
            if let LabCommand::Run(a) = &mut l.command {
                a.scenario = blank;
            }
        }
        _ => {}
    }
    format!("{cmd:#?}")
}

/// `--print-scenario` of `args`.
fn printed(args: &[OsString]) -> String {
    let mut with = args.to_vec();
    with.push("--print-scenario".into());
    match read_line(&with) {
        Ok(Line::Print(text)) => text,
        other => panic!("{with:?}: {other:?}"),
    }
}

/// The command words of `args` (`run`, `lab run`).
fn words(args: &[&str]) -> Vec<String> {
    let n = if args[0] == "lab" { 2 } else { 1 };
    args[..n].iter().map(|s| s.to_string()).collect()
}

/// `c1m WORDS --scenario FILE EXTRA`.
fn with_file(words: &[String], file: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = std::iter::once("c1m".to_string())
        .chain(words.iter().cloned())
        .map(OsString::from)
        .collect();
    v.push("--scenario".into());
    v.push(file.into());
    v.extend(extra.iter().map(OsString::from));
    v
}

/// The keys and values of a printed scenario (its comments left out).
fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn command_lines_round_trip_through_print_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "run",
                "-n",
                "10k",
                "--hold",
                "90s",
                "--host-netns",
                "--rate",
                "2.5k",
            ],
            &[
                "conns = \"10k\"",
                "hold = \"90s\"",
                "host-netns = true",
                "rate = \"2.5k\"",
            ],
        ),
        // Repeatable flags, switches, escapes kept for c1m to read.
        (
            &[
                "run",
                "--mode",
                "heartbeat",
                "--message",
                r"PING\r\n",
                "--expect",
                r"+PONG\r\n",
                "--fail-if",
                "held<99%",
                "--fail-if",
                "p99(rtt)>50ms",
                "--abort-on-fail",
                "--window",
                "500",
            ],
            &["fail-if = [", "abort-on-fail = true", "window = 500"],
        ),
        // Quotes, a backslash, a tab and a newline, non-ASCII text: TOML's
        // own escapes carry them.
        (
            &[
                "connect",
                "127.0.0.1:8090",
                "[::1]:8091-8093",
                "-n",
                "5",
                "--first-message",
                "GET / HTTP/1.1\nHost: \"a\\\\b\"\tü\n",
                "--shard",
                "1/3",
            ],
            &[
                "targets = [\"127.0.0.1:8090\", \"[::1]:8091-8093\"]",
                "shard = \"1/3\"",
            ],
        ),
        // A flag given twice on the command line, one whose value is
        // optional (given bare), and a switch.
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:8090",
                "--listen",
                "127.0.0.1:9000-9010",
                "--metrics",
                "--no-echo",
                "--json",
                "-",
            ],
            &[
                "listen = [",
                "metrics = \"127.0.0.1:9464\"",
                "no-echo = true",
            ],
        ),
        (
            &[
                "lab",
                "run",
                "-n",
                "1000",
                "--topology",
                "many-ports",
                "--close",
                "fin",
            ],
            &["topology = \"many-ports\"", "close = \"fin\""],
        ),
    ];
    for (i, (args, shows)) in cases.iter().enumerate() {
        let line = os(args);
        let first = printed(&line);
        for s in *shows {
            assert!(first.contains(s), "{args:?}: no `{s}` in:\n{first}");
        }
        let file = write(dir.path(), &format!("{i}.toml"), &first);
        let back = with_file(&words(args), &file, &[]);
        assert_eq!(
            printed(&back),
            first,
            "{args:?}: the printed scenario read back prints differently"
        );
        assert_eq!(
            effective(&back),
            effective(&line),
            "{args:?}: the printed scenario read back is another command line:\n{first}"
        );
    }
    // What the binary prints is what the library gives.
    let out = c1m()
        .args([
            "run",
            "-n",
            "10k",
            "--hold",
            "90s",
            "--host-netns",
            "--rate",
            "2.5k",
        ])
        .arg("--print-scenario")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), printed(&os(cases[0].0)));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn the_command_line_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "base.toml",
        "conns = 500\nhold = \"1m\"\nfail-if = [\"held<99%\", \"lost>0\"]\n\
         interval = \"2s\"\nmode = \"heartbeat\"\nhost-netns = true\n",
    );
    let words = vec!["run".to_string()];
    let t = table(&printed(&with_file(
        &words,
        &file,
        &[
            "--hold",
            "5s",
            "--fail-if",
            "errors>1%",
            "--message-rate",
            "100",
        ],
    )));
    let want = table(
        "conns = 500\nhold = \"5s\"\nfail-if = [\"errors>1%\"]\nmode = \"heartbeat\"\n\
         host-netns = true\nmessage-rate = 100\n",
    );
    // --hold replaced, --fail-if's list replaced whole, --interval dropped
    // for the --message-rate it conflicts with; the rest from the file.
    assert_eq!(t, want);
    // The same as the command line alone.
    assert_eq!(
        effective(&with_file(
            &words,
            &file,
            &[
                "--hold",
                "5s",
                "--fail-if",
                "errors>1%",
                "--message-rate",
                "100"
            ]
        )),
        effective(&os(&[
            "run",
            "--conns",
            "500",
            "--hold",
            "5s",
            "--fail-if",
            "errors>1%",
            "--mode",
            "heartbeat",
            "--host-netns",
            "--message-rate",
            "100"
        ]))
    );
    // A positional: the command line's targets replace the file's.
    let file = write(
        dir.path(),
        "targets.toml",
        "targets = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nipv4 = true\n",
    );
    let words = vec!["connect".to_string()];
    let t = table(&printed(&with_file(&words, &file, &["127.0.0.1:3", "-6"])));
    assert_eq!(
        t,
        table("targets = [\"127.0.0.1:3\"]\nipv6 = true\n"),
        "the file's -4 conflicts with the command line's -6 and is dropped"
    );
    let t = table(&printed(&with_file(&words, &file, &["-n", "7"])));
    assert_eq!(
        t,
        table("targets = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\nconns = 7\nipv4 = true\n")
    );
}

/// The command an example is for, from its first line:
/// `# c1m connect --scenario examples/NAME.toml`.
fn example_command(path: &Path, text: &str) -> Vec<String> {
    let first = text.lines().next().unwrap_or_default();
    let words: Vec<&str> = first.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "--scenario");
    match (words.first(), words.get(1), at) {
        (Some(&"#"), Some(&"c1m"), Some(at)) => {
            words[2..at].iter().map(|s| s.to_string()).collect()
        }
        _ => panic!(
            "{}: the first line must be `# c1m COMMAND --scenario {}`",
            path.display(),
            path.display()
        ),
    }
}

#[test]
fn every_example_is_valid_and_prints_back() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let words = example_command(&path, &text);
        let line = with_file(&words, &path, &[]);
        let first = printed(&line);
        // Every key of the example is in what is printed, with its value.
        let given = table(&text);
        let shown = table(&first);
        for (k, v) in &given {
            let key = k.replace('_', "-");
            let got = shown
                .get(&key)
                .unwrap_or_else(|| panic!("{}: {k} not printed:\n{first}", path.display()));
            let same = match (v, got) {
                (toml::Value::Integer(a), toml::Value::Integer(b)) => a == b,
                (toml::Value::Integer(a), toml::Value::String(b)) => a.to_string() == *b,
                _ => v == got,
            };
            assert!(same, "{}: {k} = {v} printed as {got}", path.display());
        }
        assert_eq!(given.len(), shown.len(), "{}:\n{first}", path.display());
        let copy = write(dir.path(), "copy.toml", &first);
        let back = with_file(&words, &copy, &[]);
        assert_eq!(printed(&back), first, "{}", path.display());
        assert_eq!(effective(&back), effective(&line), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 3, "examples/ has {seen} scenario files");
}

/// Runs `c1m ARGS` (expected to refuse) and returns its one line.
fn refused(args: &[OsString]) -> String {
    let out = c1m().args(&args[1..]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    assert!(lines[0].starts_with("c1m: "), "{stderr}");
    // The library says the same.
    match read_line(args) {
        Err(Refused::Bad(l)) => assert_eq!(format!("c1m: {l}"), lines[0]),
        other => panic!("{args:?}: {other:?}"),
    }
    lines[0].to_string()
}

#[test]
fn bad_files_are_refused_naming_the_key_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    // Should a refusal regress into a run, it is a tiny one.
    let safe = ["-n", "10", "--hold", "0s", "--host-netns"];
    let cases: &[(&str, &str, &[&str])] = &[
        // Unknown key: named, with the closest.
        (
            "run",
            "hold = \"1s\"\nwindw = 5\n",
            &[
                "line 2",
                "unknown key 'windw'",
                "the closest is 'window'",
                "c1m run --help",
            ],
        ),
        // A flag of another command.
        (
            "run",
            "# comment\nfind-limit = true\n",
            &[
                "line 2",
                "'find-limit'",
                "not a flag of c1m run",
                "one of c1m connect",
            ],
        ),
        (
            "serve",
            "listen = [\"127.0.0.1:8090\"]\ntargets = [\"127.0.0.1:1\"]\n",
            &["line 2", "'targets'", "not a flag of c1m serve"],
        ),
        // Wrong types.
        (
            "run",
            "conns = 10\n\nhost-netns = \"yes\"\n",
            &["line 3", "'host-netns' is a switch", "true or false"],
        ),
        (
            "run",
            "hold = true\n",
            &["line 1", "'hold' takes a value", "not true/false"],
        ),
        (
            "run",
            "\nhold = [\"1s\", \"2s\"]\n",
            &["line 2", "'hold' takes one value", "not a list"],
        ),
        (
            "run",
            "fail-if = [\"held<99%\", true]\n",
            &["line 1", "'fail-if': item 2 is true/false"],
        ),
        ("run", "[run]\nconns = 5\n", &["line 1", "'run' is a table"]),
        // Values clap's parsers refuse, named by the file's key and line.
        (
            "run",
            "hold = \"1s\"\n\nwindow = 0\n",
            &["line 3", "key 'window'", "invalid value '0' for '--window"],
        ),
        (
            "run",
            "mode = \"loud\"\n",
            &[
                "line 1",
                "key 'mode'",
                "'loud'",
                "possible values: idle, heartbeat",
            ],
        ),
        (
            "connect",
            "targets = [\"127.0.0.1\"]\n",
            &["line 1", "key 'targets'", "'127.0.0.1'"],
        ),
        // Two keys clap says conflict.
        (
            "run",
            "interval = \"1s\"\nmessage-rate = 100\n",
            &[
                "lines 1 and 2",
                "keys 'interval' and 'message-rate'",
                "cannot be used with",
            ],
        ),
        // A key given twice: the same spelling (TOML refuses it), or both
        // spellings of one flag.
        (
            "run",
            "hold = \"1s\"\nhold = \"2s\"\n",
            &["line 2", "not TOML", "duplicate"],
        ),
        (
            "run",
            "fail-if = [\"held<99%\"]\nwindow = 5\nfail_if = [\"lost>0\"]\n",
            &[
                "line 3",
                "'fail_if' gives --fail-if again (line 1: 'fail-if')",
            ],
        ),
        // Offered only when close: `targets` is c1m connect's, and no key
        // of c1m run is like it (not 'stages').
        (
            "run",
            "targets = [\"127.0.0.1:1\"]\n",
            &[
                "line 1",
                "'targets': not a flag of c1m run (it is one of c1m connect)",
            ],
        ),
        (
            "run",
            "timeout = \"1s\"\n",
            &["the closest are 'connect-timeout', 'idle-timeout'"],
        ),
        (
            "run",
            "ramp = \"1s\"\n",
            &["the closest are 'ramp-down', 'ramp-up'"],
        ),
        ("run", "intreval = \"1s\"\n", &["the closest is 'interval'"]),
        // Flags that contradict, in the file: both keys, and why.
        (
            "connect",
            "targets = [\"127.0.0.1:1\"]\nfind-limit = true\nreconnect = true\n",
            &[
                "lines 2 and 3",
                "keys 'find-limit' and 'reconnect'",
                "which --reconnect would reopen and hide",
            ],
        ),
        (
            "run",
            "mode = \"idle\"\ninterval = \"1s\"\n",
            &[
                "lines 1 and 2: keys 'mode' and 'interval'",
                "cannot be used with '--mode idle': idle connections send nothing",
            ],
        ),
        // A list with an empty item, as on the command line.
        (
            "connect",
            "targets = [\"127.0.0.1:1\"]\nstages = \"10s:1k,\"\n",
            &[
                "line 2",
                "key 'stages'",
                "an empty stage (a comma at its end)",
            ],
        ),
        // Not TOML at all; a key that would read another file.
        ("run", "conns = = 5\n", &["line 1", "not TOML"]),
        (
            "run",
            "scenario = \"other.toml\"\n",
            &["line 1", "cannot be in a scenario file"],
        ),
    ];
    for (i, (cmd, body, wants)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("bad{i}.toml"), body);
        let mut extra: Vec<&str> = Vec::new();
        if *cmd == "run" {
            extra.extend(safe);
        }
        if body.starts_with("targets") || body.starts_with("timeout") || body.starts_with("ramp") {
            let line = refused(&with_file(&[cmd.to_string()], &file, &extra));
            assert!(!line.contains("closest is 'stages'"), "{line}");
        }
        let args = with_file(&[cmd.to_string()], &file, &extra);
        let line = refused(&args);
        let named = format!("--scenario {}", file.display());
        assert!(line.contains(&named), "{body:?}: no `{named}` in: {line}");
        for w in *wants {
            assert!(line.contains(w), "{body:?}: no `{w}` in: {line}");
        }
    }
    // The file itself.
    let missing = dir.path().join("missing.toml");
    let line = refused(&with_file(&["run".to_string()], &missing, &safe));
    assert!(line.contains("cannot read it"), "{line}");
    let line = refused(&with_file(&["run".to_string()], dir.path(), &safe));
    assert!(line.contains("a directory"), "{line}");
    let big = write(dir.path(), "big.toml", &"# padding\n".repeat(120_000));
    let line = refused(&with_file(&["run".to_string()], &big, &safe));
    assert!(line.contains("larger than"), "{line}");
    // A value a scenario file cannot hold.
    let mut args = os(&["run", "--print-scenario", "--json"]);
    args.push(OsString::from_vec(b"r\xff.json".to_vec()));
    let line = refused(&args);
    assert!(
        line.contains("--json") && line.contains("not UTF-8"),
        "{line}"
    );
}

/// Pieces of generated scenario files: keys of `c1m run` (both
/// spellings), keys of other commands, unknown and special ones, values
/// of every TOML type (and values the flags refuse), TOML's syntax.
const KEYS: &[&str] = &[
    "hold",
    "conns",
    "fail-if",
    "fail_if",
    "host-netns",
    "metrics",
    "window",
    "mode",
    "message",
    "start-at",
    "targets",
    "find-limit",
    "windw",
    "scenario",
    "a.b",
    "\"quoted key\"",
    "interval",
    "message-rate",
];
const VALUES: &[&str] = &[
    "\"1s\"",
    "\"90s\"",
    "0",
    "-1",
    "10",
    "true",
    "false",
    "[\"held<99%\", \"lost>0\"]",
    "[\"a\", 1]",
    "[]",
    "[[1]]",
    "{ a = 1 }",
    "1.5",
    "nan",
    "-inf",
    "1979-05-27T07:32:00Z",
    "'PING\\r\\n'",
    "\"\\u0000\"",
    "\"\"",
    "\"\"\"two\nlines\"\"\"",
    "9223372036854775807",
    "99999999999999999999",
    "\"heartbeat\"",
    "\"127.0.0.1:9464\"",
];

/// One generated file: a few lines of `KEY = VALUE`, sometimes a section,
/// a comment, or a cut.
fn generated(rng: &mut fastrand::Rng) -> String {
    let mut t = String::new();
    for _ in 0..rng.usize(0..5) {
        match rng.u8(0..10) {
            0 => t += "[run]\n",
            1 => t += "# a comment = 1\n",
            2 => t += VALUES[rng.usize(..VALUES.len())],
            _ => {
                t += KEYS[rng.usize(..KEYS.len())];
                t += if rng.bool() { " = " } else { "=" };
                t += VALUES[rng.usize(..VALUES.len())];
                t += "\n";
            }
        }
    }
    if rng.u8(0..8) == 0 && !t.is_empty() {
        let mut cut = rng.usize(..t.len());
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
    }
    t
}

/// Seeded, bounded by a count (not a clock): generated files never make
/// c1m panic, every refusal is one line, and every file c1m accepts
/// prints a scenario that reads back as the same command line.
#[test]
fn generated_files_are_refused_in_one_line_or_round_trip() {
    let mut rng = fastrand::Rng::with_seed(0x5ce7_a410);
    let args = os(&["run", "--scenario", "gen.toml", "--print-scenario"]);
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..1500 {
        let text = generated(&mut rng);
        let first = match c1m::cmd::read_line_with(&args, &text) {
            Ok(Line::Print(p)) => p,
            Ok(Line::Run(_)) => panic!("{text:?}: --print-scenario ran"),
            Err(Refused::Bad(line)) => {
                assert!(!line.contains('\n'), "{text:?}: {line}");
                assert!(line.contains("gen.toml"), "{text:?}: {line}");
                refused += 1;
                continue;
            }
            Err(Refused::Shown(e)) => panic!("{text:?}: {e}"),
        };
        taken += 1;
        match c1m::cmd::read_line_with(&args, &first) {
            Ok(Line::Print(again)) => assert_eq!(again, first, "{text:?}"),
            other => panic!("{text:?} printed\n{first}\nwhich reads back as {other:?}"),
        }
    }
    eprintln!("scenario: 1500 generated files, {taken} taken, {refused} refused");
    assert!(
        taken > 100 && refused > 100,
        "{taken} taken, {refused} refused"
    );
}

/// What a file may say as on the command line: a choice in any case, a
/// duration in --hold's grammar wherever one goes (`--fail-if`, `--stages`).
#[test]
fn files_take_what_the_command_line_takes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "loose.toml",
        "targets = [\"127.0.0.1:1\"]\nproxy-protocol = \"V2\"\nmode = \"Heartbeat\"\n\
         fail-if = [\"p99(rtt)>2h\", \"ramp_time>90\", \"max(connect)>1h30m\"]\n\
         stages = \"1h30m:10,1.5h:0\"\n",
    );
    let words = vec!["connect".to_string()];
    let printed = printed(&with_file(&words, &file, &[]));
    assert!(printed.contains("proxy-protocol = \"V2\""), "{printed}");
    assert!(printed.contains("\"p99(rtt)>2h\""), "{printed}");
    let same = |proxy: &str, mode: &str| {
        effective(&os(&[
            "connect",
            "127.0.0.1:1",
            "--proxy-protocol",
            proxy,
            "--mode",
            mode,
            "--fail-if",
            "p99(rtt)>2h",
            "--fail-if",
            "ramp_time>90",
            "--fail-if",
            "max(connect)>1h30m",
            "--stages",
            "1h30m:10,1.5h:0",
        ]))
    };
    let from_file = effective(&with_file(&words, &file, &[]));
    assert_eq!(from_file, same("V2", "Heartbeat"));
    // A choice in any case is the same choice.
    assert_eq!(from_file, same("v2", "heartbeat"));
}

/// The long flags (or positional ids) of `c1m WORDS`, as keys.
fn keys_of(words: &[&str]) -> Vec<(String, clap::Arg)> {
    let mut cmd = c1m::cmd::command();
    cmd.build();
    let leaf = words
        .iter()
        .fold(&cmd, |c, w| c.find_subcommand(w).unwrap())
        .clone();
    leaf.get_arguments()
        .filter(|a| {
            !matches!(
                a.get_id().as_str(),
                "help" | "version" | "scenario" | "print_scenario"
            ) && !a.is_hide_set()
        })
        .map(|a| {
            let key = a
                .get_long()
                .map_or_else(|| a.get_id().as_str().replace('_', "-"), str::to_string);
            (key, a.clone())
        })
        .collect()
}

/// `--print-scenario` prints the whole effective scenario: every flag of
/// the command once, given (`key = value`) or not (`# key = default`, a
/// default its help states, `# key = []` for a repeatable flag, `# key:
/// not given (what that means)`); uncommenting every default clap gives
/// reads back as the same command line.
#[test]
fn the_printed_scenario_has_every_flag_and_its_default() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["run"][..],
        &["serve", "--listen", "127.0.0.1:1"],
        &["connect", "127.0.0.1:1"],
        &["lab", "run"],
    ] {
        let words: Vec<&str> = args
            .iter()
            .copied()
            .take_while(|a| !a.contains(['-', '.']))
            .collect();
        let line = os(args);
        let text = printed(&line);
        for (key, _) in keys_of(&words) {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    let l = l.trim_start_matches("# ");
                    l.starts_with(&format!("{key} = "))
                        || l.starts_with(&format!("{key}: not given"))
                })
                .collect();
            assert_eq!(
                lines.len(),
                1,
                "{args:?}: `{key}` printed {} times:\n{text}",
                lines.len()
            );
        }
        // Every default clap gives, uncommented, is the same command line.
        let with_defaults: String = text
            .lines()
            .map(|l| {
                let bare = l.trim_start_matches("# ");
                let key = bare.split(" = ").next().unwrap_or_default();
                // (--ws-heartbeat's default stands only with --websocket.)
                let clap_default = key != "ws-heartbeat"
                    && keys_of(&words).iter().any(|(k, a)| {
                        k == key && (!a.get_default_values().is_empty() || bare.ends_with(" = []"))
                    });
                if l.starts_with("# ") && bare.contains(" = ") && clap_default {
                    bare.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file = write(dir.path(), "defaults.toml", &with_defaults);
        let back = with_file(
            &words.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            &file,
            &[],
        );
        assert_eq!(
            effective(&back),
            effective(&line),
            "{args:?}:\n{with_defaults}"
        );
    }
    // Defaults that only the help states are printed too.
    let connect = printed(&os(&["connect", "127.0.0.1:1"]));
    for want in [
        "# interval = \"1s\"",
        "# reconnect-delay = \"100ms\"",
        "# reconnect-max = \"30s\"",
        "# hold: not given (until Ctrl-C)",
        "# rate: not given (as fast as the window allows)",
        "# fail-if = []",
        "# json: not given",
        // Words about a default are no value (--message would send them).
        "# message: not given (a 16-byte line that c1m serve echoes)",
        "# expect: not given (the message itself against c1m's own servers",
    ] {
        assert!(connect.contains(want), "no `{want}` in:\n{connect}");
    }
    let run = printed(&os(&["run"]));
    assert!(
        run.contains("# conns: not given (1,000,000, or the most this machine can hold"),
        "{run}"
    );
}
