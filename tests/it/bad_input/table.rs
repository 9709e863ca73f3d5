//! The table of `bad_input`: how each flag is classified, each
//! subcommand's harmless base arguments, and the bad values of each kind.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// What a flag's value is, which decides the bad values it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Connections: `1000`, `100k`, `1M`, at least 1.
    Count,
    /// A whole number from 1.
    Whole,
    /// A whole number from 1 with a maximum, and the first value above it.
    WholeUpTo(&'static str),
    /// One TCP port, 1-65535.
    Port,
    /// A prefix length, 1-32 for IPv4 addresses, 1-128 for IPv6.
    PrefixLen,
    /// A positive rate with an optional k/M/G multiplier.
    Rate,
    /// A duration from zero, at most a year.
    Duration,
    /// A duration above zero.
    Interval,
    /// Ports: `8090`, `8090-8119`, or a list of them.
    Ports,
    /// One range `LO-HI`.
    PortRange,
    /// Addresses: a list, range or CIDR block.
    Ips,
    /// `ADDR:PORTS` to listen on.
    Listen,
    /// `HOST:PORTS` to connect to.
    Target,
    /// `I/N`.
    Shard,
    /// An RFC 3339 instant or Unix seconds, soon.
    StartAt,
    /// `p99<50ms`.
    Slo,
    /// `--stages`: `30s:500k,10m:500k,1m:0`.
    Stages,
    /// `--close-fraction`: `30%@10s`.
    CloseFraction,
    /// A `--fail-if` threshold: `held<99.9%`, `p99(rtt)>50ms`.
    Threshold,
    /// `ADDR:PORT` of the metrics endpoint.
    Metrics,
    /// Text with `\r \n \t \xHH` escapes.
    Escaped,
    /// A file written at the end (`-`: stdout).
    OutFile,
    /// A file written at the end, never stdout (HTML; the timeline CSV of
    /// a run).
    HtmlFile,
    /// A file read at the start.
    InFile,
    /// A report (or a log holding one) read by `merge`.
    Report,
    /// A scenario file (TOML) read before the flags are parsed.
    Scenario,
    /// A directory read (or written) at the start.
    Dir,
    /// A named network namespace (`ip netns list`).
    Netns,
    /// A network interface.
    Iface,
    /// A name from a fixed list (clap's `ValueEnum`).
    Choice,
    /// Text for a manifest, checked by its generator (a DNS label, an
    /// image, a Slurm word).
    Word,
    /// More `c1m connect` arguments, after `--`.
    ConnectArgs,
    /// A switch: takes no value.
    Switch,
}

/// One flag's classification.
pub struct Spec {
    /// The subcommand path (`run`, `k8s job`) or `*` for any.
    pub cmd: &'static str,
    /// clap's id of the argument.
    pub id: &'static str,
    pub kind: Kind,
    /// Bad values (by label) that are valid for this flag, and why.
    pub valid: &'static [(&'static str, &'static str)],
    /// Other flags this one needs (`--slo` needs `--find-limit`).
    pub with: &'static [(&'static str, &'static str)],
    /// The words a positional argument is named by in messages.
    pub called: &'static [&'static str],
}

pub const fn spec(cmd: &'static str, id: &'static str, kind: Kind) -> Spec {
    Spec {
        cmd,
        id,
        kind,
        valid: &[],
        with: &[],
        called: &[],
    }
}

impl Spec {
    pub const fn valid(mut self, v: &'static [(&'static str, &'static str)]) -> Self {
        self.valid = v;
        self
    }
    pub const fn with(mut self, w: &'static [(&'static str, &'static str)]) -> Self {
        self.with = w;
        self
    }
    pub const fn called(mut self, c: &'static [&'static str]) -> Self {
        self.called = c;
        self
    }
}

/// Every flag that takes a value, classified. Switches need no entry.
pub fn specs() -> Vec<Spec> {
    use Kind::*;
    vec![
        spec("*", "conns", Count),
        spec("*", "max_conns", Count),
        spec("*", "window", Whole),
        spec("*", "max_message", Whole),
        spec("*", "worker_conns", Whole),
        spec("stat", "count", Whole),
        spec("stat", "top", WholeUpTo("1000")),
        spec("*", "shards", WholeUpTo("100001")),
        spec("lab up", "clients", WholeUpTo("1000")),
        spec("lab up", "client_addrs", WholeUpTo("1000000")),
        spec("serve", "backlog", Whole).valid(&[(
            "zero",
            "listen(2) takes a backlog of 0 (one connection waits): --no-accept studies it",
        )]),
        spec("k8s job", "server_port", Port).with(&[("with_server", "")]),
        spec("ip add", "prefix_len", PrefixLen),
        spec("*", "rate", Rate),
        spec("*", "message_rate", Rate),
        spec("*", "bandwidth", Rate),
        spec("*", "hold", Duration).valid(&[(
            "zero",
            "--hold 0s: tear down as soon as every connection is open (documented)",
        )]),
        spec("*", "interval", Interval),
        spec("*", "stages", Stages),
        spec("*", "ramp_up", Interval),
        spec("*", "ramp_down", Interval),
        spec("*", "reconnect_delay", Interval).with(&[("reconnect", "")]),
        spec("*", "reconnect_max", Interval).with(&[("reconnect", "")]),
        spec("*", "reconnect_rate", Rate).with(&[("reconnect", "")]),
        spec("*", "close_fraction", CloseFraction),
        spec("*", "connect_timeout", Interval),
        spec("*", "idle_timeout", Interval),
        spec("ip check", "timeout", Interval),
        spec("run", "ports", Ports),
        spec("stat", "ports", PortRange).valid(&[("one port", "stat --ports takes one port")]),
        spec("*", "port_range", PortRange),
        spec("k8s server", "ports", PortRange),
        spec("run", "sources", Ips),
        spec("run", "dests", Ips),
        spec("connect", "sources", Ips),
        spec("ip add", "addrs", Ips).called(&["address"]),
        spec("ip del", "addrs", Ips).called(&["address"]),
        spec("serve", "listen", Listen),
        spec("connect", "targets", Target).called(&["target"]),
        spec("k8s job", "targets", Target),
        spec("slurm job", "targets", Target),
        spec("ip check", "target", Target),
        spec("connect", "shard", Shard),
        spec("*", "start_at", StartAt),
        spec("connect", "slo", Slo).with(&[("find_limit", "")]),
        spec("*", "metrics", Metrics),
        spec("*", "message", Escaped),
        spec("*", "first_message", Escaped),
        spec("*", "expect", Escaped),
        // A path may be any bytes: its not-UTF-8 value is refused for
        // the directory it names, which does not exist.
        spec("*", "json", OutFile),
        spec("*", "html", HtmlFile),
        spec("report", "csv", OutFile),
        spec("*", "csv", HtmlFile),
        spec("*", "max_unsent", Whole),
        spec("*", "fail_if", Threshold),
        spec("report", "report", Report).called(&["REPORT"]),
        spec("*", "message_file", InFile),
        spec("connect", "ca", InFile).with(&[("tls", "")]),
        spec("serve", "cert", InFile).with(&[("tls", ""), ("key", "tests/fixtures/tls/key.pem")]),
        spec("serve", "key", InFile).with(&[("tls", ""), ("cert", "tests/fixtures/tls/cert.pem")]),
        spec("connect", "sni", Word).with(&[("tls", "")]),
        spec("connect", "alpn", Word).with(&[("tls", "")]),
        spec("connect", "websocket", Word),
        spec("connect", "header", Word).with(&[("websocket", "/")]),
        spec("connect", "ws_heartbeat", Choice).with(&[("websocket", "/")]),
        spec("*", "ws_heartbeat", Choice).with(&[("websocket", "")]),
        spec("*", "scenario", Scenario),
        spec("merge", "reports", Report).called(&["report"]),
        spec("*", "proc_root", Dir),
        spec("*", "etc_root", Dir),
        spec("*", "state_dir", Dir).valid(&[
            ("not UTF-8", "a missing state directory is made when first written"),
            (
                "missing",
                "a state directory is made when first written (c1m run's calibration, tune --apply)",
            ),
        ]),
        spec("*", "netns", Netns),
        spec("ip add", "iface", Iface).called(&["interface"]),
        spec("ip del", "iface", Iface).called(&["interface"]),
        spec("ip check", "iface", Iface).called(&["interface"]),
        spec("connect", "source_from", Iface),
        spec("*", "topology", Choice),
        spec("*", "bind_mode", Choice),
        spec("*", "proxy_protocol", Choice),
        spec("*", "proxy_sources", Ips).with(&[("proxy_protocol", "v2")]),
        spec("*", "mode", Choice),
        spec("*", "close", Choice),
        spec("*", "role", Choice),
        spec("*", "name", Word),
        spec("*", "namespace", Word),
        spec("*", "image", Word),
        spec("*", "cpu", Word),
        spec("*", "memory", Word),
        spec("*", "job_name", Word),
        spec("*", "partition", Word),
        spec("*", "account", Word),
        spec("*", "time", Word),
        spec("*", "output_dir", Word),
        spec("*", "program", Word),
        spec("*", "extra", ConnectArgs).called(&["c1m connect"]),
        spec("doctor", "target", Count),
        spec("tune", "target", Count),
        spec("*", "dest_addrs", Count),
        spec("*", "dest_ports", Count),
        spec("doctor", "sources", Count),
        spec("tune", "sources", Count),
    ]
}

/// Each subcommand's harmless, valid arguments, to which the flag under
/// test is added (it replaces its own entry). Small: should a bad value
/// be accepted, what starts is tiny, and the test fails.
pub fn bases(fixture: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let b = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    vec![
        (
            "run",
            b(&[("conns", "10"), ("hold", "0s"), ("host_netns", "")]),
        ),
        (
            "serve",
            b(&[
                ("listen", "127.0.0.1:18979"),
                ("max_conns", "10"),
                ("hold", "0s"),
            ]),
        ),
        (
            "connect",
            b(&[
                ("targets", "127.0.0.1:18979"),
                ("conns", "10"),
                ("hold", "0s"),
            ]),
        ),
        ("doctor", vec![]),
        ("tune", b(&[("target", "1000")])),
        ("stat", b(&[("count", "1"), ("json", "")])),
        (
            "ip add",
            b(&[("iface", "c1m-no-such0"), ("addrs", "198.18.99.1")]),
        ),
        ("ip del", b(&[("iface", "c1m-no-such0")])),
        (
            "ip check",
            b(&[("iface", "c1m-no-such0"), ("target", "127.0.0.1:18979")]),
        ),
        ("lab up", vec![]),
        ("lab run", b(&[("conns", "10"), ("hold", "0s")])),
        ("lab status", vec![]),
        ("merge", b(&[("reports", fixture)])),
        ("report", b(&[("report", fixture)])),
        (
            "k8s job",
            b(&[
                ("targets", "server:8090"),
                ("conns", "1000"),
                ("shards", "2"),
            ]),
        ),
        ("k8s server", b(&[("max_conns", "1000")])),
        (
            "slurm job",
            b(&[
                ("targets", "server:8090"),
                ("conns", "1000"),
                ("shards", "2"),
            ]),
        ),
    ]
}

/// Paths the file kinds are given.
pub struct Scratch {
    _dir: tempfile::TempDir,
    /// An empty directory.
    pub dir: String,
    /// A file that is not a report.
    pub file: String,
    /// An empty file.
    pub empty: String,
}

impl Scratch {
    pub fn new() -> Self {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        let file = d.path().join("file");
        std::fs::write(&file, "not a report\n").unwrap();
        let empty = d.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        let s = |p: PathBuf| p.to_str().unwrap().to_string();
        Scratch {
            dir: s(dir),
            file: s(file),
            empty: s(empty),
            _dir: d,
        }
    }
}

/// One bad value: its label, the value, and other flags it needs to be
/// bad (the other end of a cross-flag combination).
pub struct Bad {
    pub label: &'static str,
    pub value: OsString,
    pub with: Vec<(&'static str, &'static str)>,
}

fn bad(label: &'static str, value: &str) -> Bad {
    Bad {
        label,
        value: value.into(),
        with: vec![],
    }
}

fn bytes(label: &'static str, value: &[u8]) -> Bad {
    Bad {
        label,
        value: OsString::from_vec(value.to_vec()),
        with: vec![],
    }
}

fn along(mut b: Bad, with: &[(&'static str, &'static str)]) -> Bad {
    b.with = with.to_vec();
    b
}

/// The bad values of a kind, for flag `id` of command `cmd`.
pub fn bad_values(kind: Kind, cmd: &str, id: &str, s: &Scratch) -> Vec<Bad> {
    use Kind::*;
    let numbers = || {
        vec![
            bad("empty", ""),
            bad("negative", "-1"),
            bad("huge", "18446744073709551616"),
            bad("1e30", "1e30"),
            bad("NaN", "NaN"),
            bad("inf", "inf"),
            bad("fraction", "1.5"),
            bad("garbage", "lots"),
            bytes("not UTF-8", b"1\xff"),
        ]
    };
    let durations = || {
        vec![
            bad("empty", ""),
            bad("zero", "0"),
            bad("zero", "0s"),
            bad("negative", "-1"),
            bad("negative", "-1s"),
            bad("huge", "18446744073709551616"),
            bad("huge", "18446744073709551616s"),
            bad("1e30", "1e30"),
            bad("NaN", "NaN"),
            bad("inf", "inf"),
            bad("over a year", "400days"),
            bad("garbage", "soon"),
            bad("bad unit", "5x"),
            bad("a month as M", "1M"),
            bad("no unit after a term", "1h30"),
            bytes("not UTF-8", b"5s\xff"),
        ]
    };
    let files_out = || {
        vec![
            bad("empty", ""),
            bad("directory", &s.dir),
            bad("unwritable", "/sys/c1m-report.out"),
            bad("unwritable", "/proc/version"),
            bad("no parent", "/nonexistent-c1m/report.out"),
            bad("parent a file", &format!("{}/report.out", s.file)),
            bytes("not UTF-8", b"/nonexistent-c1m/\xff.out"),
        ]
    };
    let files_in = || {
        vec![
            bad("empty", ""),
            bad("missing", "/nonexistent-c1m/in.txt"),
            bad("directory", &s.dir),
            bytes("not UTF-8", b"/nonexistent-c1m/\xff.txt"),
        ]
    };
    match kind {
        Count => {
            let mut v = numbers();
            v.retain(|b| b.label != "fraction");
            v.extend([
                bad("zero", "0"),
                bad("garbage", "1M5"),
                bad("huge", "1e30M"),
            ]);
            v
        }
        Whole | WholeUpTo(_) | Port | PrefixLen => {
            let mut v = numbers();
            v.push(bad("zero", "0"));
            match kind {
                WholeUpTo(max) => v.push(bad("over the maximum", max)),
                Port => v.push(bad("over the maximum", "65536")),
                PrefixLen => {
                    v.push(bad("over the maximum", "129"));
                    // An IPv6 prefix for the IPv4 address of the base.
                    v.push(bad("IPv6 for IPv4", "64"));
                }
                _ => {}
            }
            v
        }
        Rate => {
            let mut v = numbers();
            v.retain(|b| b.label != "fraction");
            v.extend([
                bad("zero", "0"),
                bad("-inf", "-inf"),
                bad("garbage", "k"),
                bad("huge", "1e30k"),
            ]);
            v
        }
        Duration => {
            let mut v = durations();
            v.retain(|b| b.label != "zero");
            v.push(bad("zero", "0"));
            v
        }
        Interval => durations(),
        Ports => vec![
            bad("empty", ""),
            bad("empty list", ","),
            bad("trailing comma", "8090,"),
            bad("empty item", "8090,,8091"),
            bad("zero", "0"),
            bad("negative", "-1"),
            bad("over the maximum", "65536"),
            bad("huge", "18446744073709551616"),
            bad("upside down", "8119-8090"),
            bad("garbage", "http"),
            bytes("not UTF-8", b"8090\xff"),
        ],
        PortRange => vec![
            bad("empty", ""),
            bad("one port", "8090"),
            bad("zero", "0-10"),
            bad("negative", "-1"),
            bad("over the maximum", "1-65536"),
            bad("huge", "1-18446744073709551616"),
            bad("upside down", "8119-8090"),
            bad("garbage", "low-high"),
            bytes("not UTF-8", b"1-\xff"),
        ],
        Ips => {
            let mut v = vec![
                bad("empty", ""),
                bad("empty list", ","),
                bad("trailing comma", "127.0.0.2,"),
                bad("leading comma", ",127.0.0.2"),
                bad("garbage", "not-an-address"),
                bad("out of range", "127.0.0.300"),
                bad("upside down", "127.0.2.40-127.0.2.1"),
                bad("mixed families", "127.0.0.1-::1"),
                bad("bad prefix", "127.0.2.0/33"),
                bad("too many", "10.0.0.0/8"),
                bytes("not UTF-8", b"127.0.0.1\xff"),
            ];
            match (cmd, id) {
                // The servers' addresses (run's default, the target) are IPv4.
                ("run" | "connect", "sources") => v.push(bad("IPv6 for IPv4", "::1")),
                // A PROXY header carries one family: the destinations'.
                ("run" | "connect", "proxy_sources") => v.push(bad("IPv6 for IPv4", "::1")),
                ("run", "dests") => {
                    v.push(along(
                        bad("IPv6 for IPv4", "::1"),
                        &[("sources", "127.0.0.1")],
                    ));
                    v.push(along(
                        bad("IPv4 for IPv6", "127.0.0.1"),
                        &[("sources", "::1")],
                    ));
                }
                _ => {}
            }
            v
        }
        Listen => vec![
            bad("empty", ""),
            bad("trailing comma", "127.0.0.1:18979,"),
            bad("garbage", "anywhere"),
            bad("port 0", "127.0.0.1:0"),
            bad("over the maximum", "127.0.0.1:65536"),
            bad("upside down", "127.0.0.1:8119-8090"),
            bad("IPv6 without brackets", "::1:80"),
            bad("out of range", "127.0.0.300:80"),
            bytes("not UTF-8", b"127.0.0.1:80\xff"),
        ],
        Target => {
            let mut v = vec![
                bad("empty", ""),
                bad("trailing comma", "127.0.0.1:18979,"),
                bad("garbage", "bad host!:80"),
                bad("no port", "127.0.0.1"),
                bad("port 0", "127.0.0.1:0"),
                bad("over the maximum", "127.0.0.1:65536"),
                bad("upside down", "127.0.0.1:8119-8090"),
                bad("IPv6 without brackets", "::1:80"),
                bytes("not UTF-8", b"127.0.0.1:80\xff"),
                // `--stages 10s:1k 5s:0`: a space cut the list.
                bad("a stage cut off --stages", "5s:0"),
            ];
            if cmd == "connect" {
                v.push(along(
                    bad("IPv6 for IPv4", "[::1]:18979"),
                    &[("sources", "127.0.0.1")],
                ));
                v.push(along(
                    bad("IPv4 for IPv6", "127.0.0.1:18979"),
                    &[("ipv6", "")],
                ));
            }
            v
        }
        Shard => vec![
            bad("empty", ""),
            bad("zero", "0/0"),
            bad("negative", "-1/2"),
            bad("index not below count", "2/2"),
            bad("huge", "1/18446744073709551616"),
            bad("no count", "1"),
            bad("garbage", "first"),
            bytes("not UTF-8", b"0/2\xff"),
        ],
        StartAt => vec![
            bad("empty", ""),
            bad("past", "@1"),
            bad("negative", "@-1"),
            bad("too far ahead", "2999-01-01T00:00:00Z"),
            bad("huge", "@18446744073709551616"),
            bad("1e30", "1e30"),
            bad("NaN", "NaN"),
            bad("out of range", "2026-13-45T00:00:00Z"),
            bad("no offset", "2026-12-01T10:00:00"),
            bad("garbage", "tomorrow"),
            bytes("not UTF-8", b"@1\xff"),
        ],
        Stages => vec![
            bad("empty", ""),
            bad("empty list", ","),
            bad("trailing comma", "10s:1k,"),
            bad("leading comma", ",10s:1k"),
            bad("empty item", "10s:1k,,5s:0"),
            bad("bad unit", "10x:1k"),
            bad("no unit after a term", "1h30:1k"),
            bad("garbage", "lots"),
            bad("no count", "30s"),
            bad("zero", "1s:0"),
            bad("negative", "-1s:10"),
            bad("negative", "1s:-10"),
            bad("huge", "1s:18446744073709551616"),
            bad("1e30", "1e30:10"),
            bad("NaN", "NaN:10"),
            bad("over a year", "400days:10"),
            bytes("not UTF-8", b"1s:10\xff"),
        ],
        CloseFraction => vec![
            bad("empty", ""),
            bad("garbage", "half"),
            bad("no time", "30%"),
            bad("zero", "0%@1s"),
            bad("over the maximum", "101%@1s"),
            bad("negative", "-5%@1s"),
            bad("NaN", "NaN@1s"),
            bad("huge", "30%@18446744073709551616"),
            bad("over a year", "30%@400days"),
            bad("bad unit", "30%@5x"),
            bytes("not UTF-8", b"30%@1s\xff"),
        ],
        Slo => vec![
            bad("empty", ""),
            bad("no bound", "p99"),
            bad("no bound", "p99<"),
            bad("over the maximum", "p101<50ms"),
            bad("zero", "p99<0ms"),
            bad("negative", "p99<-5ms"),
            bad("huge", "p99<18446744073709551616s"),
            bad("NaN", "pNaN<5ms"),
            bad("bad unit", "p99<50x"),
            bad("no unit after a term", "p99<1s500"),
            bad("garbage", "fast"),
            bytes("not UTF-8", b"p99<5ms\xff"),
        ],
        Threshold => vec![
            bad("empty", ""),
            bad("no operator", "held"),
            bad("no bound", "held<"),
            bad("unknown metric", "speed>5"),
            // A bare number is seconds, as for --hold: p99(rtt)>50 is valid.
            bad("bad unit", "p99(rtt)>50x"),
            bad("a month as M", "ramp_time>1M"),
            bad("no unit after a term", "ramp_time>1h30"),
            bad("a duration for a count", "held<5s"),
            bad("over the maximum", "held<101%"),
            bad("negative", "errors>-1"),
            bad("huge", "p99(rtt)>18446744073709551616s"),
            bad("NaN", "held<NaN%"),
            bad("garbage", "fast"),
            bytes("not UTF-8", b"held<99%\xff"),
        ],
        Metrics => vec![
            bad("empty", ""),
            bad("garbage", "prometheus"),
            bad("no port", "127.0.0.1"),
            bad("over the maximum", "127.0.0.1:65536"),
            bad("not loopback", "0.0.0.0:19464"),
            bad("not loopback", "[::]:19464"),
            bytes("not UTF-8", b"127.0.0.1:9464\xff"),
        ],
        Escaped => vec![
            bad("empty", ""),
            bad("bad escape", "\\xZZ"),
            bad("bad escape", "\\x4"),
            bad("bad escape", "PING\\"),
            bytes("not UTF-8", b"PING\xff"),
        ],
        OutFile => files_out(),
        HtmlFile => {
            let mut v = files_out();
            v.push(bad("stdout", "-"));
            v
        }
        InFile => {
            let mut v = files_in();
            v.push(bad("empty file", &s.empty));
            v
        }
        Report => {
            let mut v = files_in();
            v.push(bad("garbage", &s.file));
            v.push(bad("empty file", &s.empty));
            v
        }
        // An empty file is an empty scenario: valid, so not among these.
        Scenario => {
            let mut v = files_in();
            v.push(bad("garbage", &s.file));
            v
        }
        Dir => vec![
            bad("empty", ""),
            bad("missing", "/nonexistent-c1m"),
            bad("a file", &s.file),
            bytes("not UTF-8", b"/nonexistent-c1m/\xff"),
        ],
        Netns => vec![
            bad("empty", ""),
            bad("missing", "c1m-no-such-netns"),
            bad("garbage", "../../etc"),
            bytes("not UTF-8", b"c1m\xff"),
        ],
        Iface => vec![
            bad("empty", ""),
            bad("missing", "c1m-no-such1"),
            bad("garbage", "bad iface!"),
            bad("too long", "c1m-interface-name-too-long"),
            bytes("not UTF-8", b"eth\xff"),
        ],
        Choice => vec![
            bad("empty", ""),
            bad("garbage", "sideways"),
            bytes("not UTF-8", b"idle\xff"),
        ],
        Word => vec![
            bad("empty", ""),
            bad("garbage", "has space\nand a newline"),
            bytes("not UTF-8", b"c1m\xff"),
        ],
        ConnectArgs => vec![
            bad("zero", "--window=0"),
            bad("huge", "--interval=18446744073709551616"),
            bad("garbage", "--no-such-flag"),
            bytes("not UTF-8", b"--message=\xff"),
        ],
        Switch => vec![bad("value to a switch", "yes")],
    }
}

/// A valid value of flag `long` of command `cmd`, for the contradictory
/// pairs (`""` for a switch), and the flags it needs (by id); `None` for
/// one that has no value valid everywhere (a network namespace that
/// exists).
pub fn sample(
    cmd: &str,
    long: &str,
) -> Option<(&'static str, &'static [(&'static str, &'static str)])> {
    Some(match (cmd, long) {
        ("connect", "websocket") => ("/", &[]),
        ("connect", "ws-heartbeat") => ("text", &[("websocket", "/")]),
        (_, "ws-heartbeat") => ("text", &[("websocket", "")]),
        (_, "ca") => ("tests/fixtures/tls/cert.pem", &[("tls", "")]),
        (_, "insecure") => ("", &[("tls", "")]),
        (_, "slo") => ("p99<50ms", &[("find_limit", "")]),
        (_, "sources") => ("127.0.0.2", &[]),
        (_, "source-from") => ("lo", &[]),
        (_, "message-rate") => ("10", &[]),
        (_, "bandwidth") => ("100", &[]),
        (_, "interval" | "ramp-up" | "ramp-down" | "idle-timeout") => ("1s", &[]),
        (_, "message" | "expect") => ("x", &[]),
        (_, "message-file") => ("tests/fixtures/tls/cert.pem", &[]),
        (_, "stages") => ("1s:10", &[]),
        (_, "conns") => ("10", &[]),
        (_, "hold") => ("0s", &[]),
        (_, "close-fraction") => ("30%@1s", &[]),
        (_, "max-message" | "max-unsent") => ("100", &[]),
        (_, "proxy-protocol") => ("v1", &[]),
        (_, "target") if cmd == "tune" => ("1000", &[]),
        (_, "target") => ("server:8090", &[]),
        (_, "port-range") => ("1024-65535", &[]),
        (_, "mode") => ("idle", &[]),
        (_, "bind-mode") => ("none", &[]),
        (
            _,
            "ipv4" | "ipv6" | "find-limit" | "reconnect" | "no-echo" | "tls" | "websocket"
            | "with-server" | "host-netns" | "apply" | "revert" | "no-accept",
        ) => ("", &[]),
        _ => return None,
    })
}
