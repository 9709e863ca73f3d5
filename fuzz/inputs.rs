//! Every parser of what people type into c1m — addresses, port ranges,
//! CIDR blocks, targets, durations, counts, rates with k/M/G, escapes,
//! `--slo`, `--shard`, `--start-at`, interface and manifest words, and the
//! reports `c1m merge` reads — and the properties each keeps:
//!
//! - none panics, whatever the text;
//! - a refusal is one line (a value with a newline in it is shown
//!   escaped), so the command's error stays one line;
//! - what is accepted is in range (a duration at most a year, a rate in
//!   (0, 10^12], a count at least 1, ports 1-65535, LO ≤ HI, a shard index
//!   below its count, no list over `MAX_EXPANSION`);
//! - what c1m writes reads back as itself (counts with separators,
//!   durations as humantime prints them, addresses, endpoints, ranges,
//!   shards, instants, rates, escaped bytes).
//!
//! Shared, by `#[path]`, by the cargo-fuzz targets in `fuzz_targets/` and
//! by the bounded run on stable, `tests/it/fuzz_inputs.rs`.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::{Result, Unstructured};
use c1m::cmd::args;
use c1m::plan::addr::{self, MAX_EXPANSION, TargetHost};

/// Pieces the texts are made of: the numbers at the edges of each type,
/// the separators, units and multipliers the parsers look for.
const PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "255",
    "256",
    "1023",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e30",
    "1e-9",
    "1.5",
    ".5",
    "5.",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-",
    "+",
    ".",
    ",",
    ":",
    "::",
    "/",
    "[",
    "]",
    "@",
    "<",
    "<=",
    "=",
    "p",
    "p99",
    "p99(rtt)",
    "held",
    "/s",
    "p99.9",
    "max",
    "k",
    "K",
    "M",
    "m",
    "G",
    "g",
    "T",
    "s",
    "ms",
    "us",
    "µs",
    "ns",
    "min",
    "h",
    "d",
    "days",
    "years",
    "x",
    "\\",
    "\\x",
    "\\xff",
    "\\r",
    "\\n",
    "\\t",
    "\\0",
    "\\\\",
    "ff",
    "127.0.0.1",
    "127.0.2.1",
    "::1",
    "::ffff:127.0.0.1",
    "0.0.0.0",
    "10.0.0.0",
    "198.18.0.0",
    "fe80::1%eth0",
    "/8",
    "/16",
    "/24",
    "/30",
    "/32",
    "/33",
    "/0",
    "/64",
    "/128",
    "_",
    " ",
    "\t",
    "\n",
    "localhost",
    "db-1",
    "a",
    "Z",
    "2026-12-01",
    "T10:00:00",
    "+01:00",
    "2026-12-01T10:00:00Z",
    "é",
    "\u{fffd}",
    "\0",
    "\"",
    "'",
    "$",
    "%",
    "#",
    "1-65535",
    "8119-8090",
    "0/4",
    "3/2",
    "{",
    "}",
    "\"schema\"",
    "c1m.report/3",
    "null",
    "true",
    "[]",
];

/// A text made of a few pieces, numbers and characters.
pub fn text(u: &mut Unstructured) -> Result<String> {
    let n = u.int_in_range(0..=8)?;
    let mut s = String::new();
    for _ in 0..n {
        match u.int_in_range(0..=9)? {
            0 => s.push(u.arbitrary::<char>()?),
            1 | 2 => s.push_str(&u.int_in_range(0u64..=70_000)?.to_string()),
            _ => s.push_str(u.choose(PIECES)?),
        }
    }
    Ok(s)
}

/// A refusal's message: one line.
fn one_line(what: &str, text: &str, msg: &str) {
    assert!(
        !msg.contains('\n'),
        "{what}({text:?}) refused in more than one line: {msg:?}"
    );
}

/// `r`'s error, checked to be one line.
fn refused<T, E: std::fmt::Display>(what: &str, text: &str, r: &std::result::Result<T, E>) {
    if let Err(e) = r {
        one_line(what, text, &format!("{e:#}"));
    }
}

/// Addresses, ranges, CIDR blocks, endpoints and targets.
pub fn addresses(t: &str) {
    let lo = IpAddr::from([127, 0, 0, 1]);
    let r = addr::parse_ports(t);
    refused("parse_ports", t, &r);
    if let Ok(p) = r {
        assert!(!p.is_empty() && p.iter().all(|&p| p > 0), "{t:?}: {p:?}");
        assert!(p.len() as u64 <= MAX_EXPANSION, "{t:?}");
    }
    let r = addr::parse_ips(t);
    refused("parse_ips", t, &r);
    if let Ok(ips) = r {
        assert!(
            !ips.is_empty() && ips.len() as u64 <= MAX_EXPANSION,
            "{t:?}"
        );
    }
    let r = addr::parse_endpoints(t, lo);
    refused("parse_endpoints", t, &r);
    if let Ok(eps) = r {
        assert!(eps.iter().all(|e| e.port() > 0), "{t:?}");
    }
    let r = addr::parse_target(t, lo);
    refused("parse_target", t, &r);
    if let Ok(target) = r {
        assert!(target.ports.iter().all(|&p| p > 0), "{t:?}");
        if let TargetHost::Name(n) = &target.host {
            assert!(addr::is_host_name(n), "{t:?}: {n:?}");
        }
    }
    refused("ip::parse_distinct", t, &c1m::ip::parse_distinct(t));
    refused("ip::parse_target", t, &c1m::ip::parse_target(t));
    refused("deploy::Target::parse", t, &c1m::deploy::Target::parse(t));
    for (what, r) in [
        ("args::ip_list", args::ip_list(t)),
        ("args::port_list", args::port_list(t)),
        ("args::listen", args::listen(t)),
        ("args::target", args::target(t)),
        ("cmd::ip::iface", c1m::cmd::ip::iface(t)),
    ] {
        refused(what, t, &r);
    }
    refused("args::socket_addr", t, &args::socket_addr(t));
}

/// Counts, whole numbers, rates, durations and port ranges.
pub fn numbers(t: &str) {
    let r = c1m_limits::num::parse_count(t);
    refused("parse_count", t, &r);
    if let Ok(n) = r {
        assert!(n >= 1, "{t:?}");
        assert_eq!(args::count(t), Ok(n), "{t:?}");
    }
    refused("args::count", t, &args::count(t));
    let r = args::duration(t);
    refused("args::duration", t, &r);
    if let Ok(d) = r {
        assert!(d <= args::MAX_DURATION, "{t:?}: {d:?}");
    }
    let r = args::positive_duration(t);
    refused("args::positive_duration", t, &r);
    if let Ok(d) = r {
        assert!(!d.is_zero() && d <= args::MAX_DURATION, "{t:?}");
    }
    one_grammar_of_durations(t);
    let r = args::positive(t);
    refused("args::positive", t, &r);
    if let Ok(v) = r {
        assert!(v > 0.0 && v <= args::MAX_RATE, "{t:?}: {v}");
    }
    let r = args::whole(1u64, None)(t);
    refused("args::whole", t, &r);
    if let Ok(n) = r {
        assert!(n >= 1);
    }
    if let Ok(n) = args::whole(1u16, Some(999))(t) {
        assert!((1..=999).contains(&n), "{t:?}");
    }
    if let Ok(n) = args::whole(0i32, None)(t) {
        assert!(n >= 0, "{t:?}");
    }
    let r = c1m::stat::port_range(t);
    refused("stat::port_range", t, &r);
    if let Ok(p) = r {
        assert!(*p.start() >= 1 && p.start() <= p.end(), "{t:?}");
    }
    let r = c1m::cmd::deploy::port_range(t);
    refused("deploy::port_range", t, &r);
    if let Ok((lo, hi)) = r {
        assert!(lo >= 1 && lo <= hi, "{t:?}");
    }
    let r = c1m_limits::cli::parse_port_range(t);
    refused("limits::parse_port_range", t, &r);
    if let Ok((lo, hi)) = r {
        assert!(lo >= 1 && lo <= hi && hi <= 65_535, "{t:?}");
    }
}

/// Every flag that takes a duration reads `t` as `--hold` does (one
/// grammar, one parser: `c1m_limits::num::parse_duration`): `--stages`'
/// durations, `--close-fraction`'s time, `--slo`'s bound and a `--fail-if`
/// latency or ramp time accept exactly what `--hold` accepts, with the
/// same value. (Texts with the separators of those flags are left out.)
fn one_grammar_of_durations(t: &str) {
    if t.contains(['<', '>', '=', '!', ',', ':', '@', '%']) || t.chars().any(char::is_whitespace) {
        return;
    }
    let hold = args::duration(t);
    let stage = c1m::stages::Stages::parse(&format!("{t}:1"));
    assert_eq!(
        stage.as_ref().ok().map(|s| s.steps()[0].duration),
        hold.as_ref().ok().copied(),
        "--stages {t}:1 against --hold {t}: {stage:?} {hold:?}"
    );
    let close = c1m::stages::close::CloseFraction::parse(&format!("50%@{t}"));
    assert_eq!(
        close.is_ok(),
        hold.is_ok(),
        "--close-fraction 50%@{t}: {close:?} {hold:?}"
    );
    let slo = c1m::supervisor::search::parse_slo(&format!("p99<{t}"));
    assert_eq!(
        slo.as_ref().ok().map(|s| s.max),
        hold.as_ref().ok().copied().filter(|d| !d.is_zero()),
        "--slo p99<{t}: {slo:?} {hold:?}"
    );
    for metric in ["ramp_time", "p99(rtt)"] {
        let th = c1m::threshold::parse(&format!("{metric}>{t}"));
        assert_eq!(
            th.as_ref().ok().map(|th| th.limit),
            hold.as_ref().ok().map(|d| d.as_nanos() as f64 / 1e3),
            "--fail-if {metric}>{t}: {th:?} {hold:?}"
        );
    }
}

/// Escapes, `--slo`, `--fail-if`, `--shard`, `--start-at`, and the words manifests
/// carry.
pub fn words(t: &str) {
    let r = c1m::traffic::unescape(t);
    refused("unescape", t, &r);
    match &r {
        Ok(b) => assert_eq!(
            args::message(t).is_ok(),
            (1..=65_536).contains(&b.len()),
            "{t:?}"
        ),
        Err(_) => assert!(args::message(t).is_err() && args::expect(t).is_err()),
    }
    refused("args::message", t, &args::message(t));
    refused("args::expect", t, &args::expect(t));
    let r = c1m::tls::parse_sni(t);
    refused("tls::parse_sni", t, &r);
    if let Ok(n) = &r {
        assert!(!n.is_empty() && !n.contains(char::is_whitespace), "{t:?}");
    }
    let r = c1m::tls::parse_alpn(t);
    refused("tls::parse_alpn", t, &r);
    if let Ok(v) = &r {
        assert!(
            v.iter().all(|p| (1..=255).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b',')),
            "{t:?}"
        );
    }
    let r = c1m::ws::parse_path(t);
    refused("ws::parse_path", t, &r);
    if let Ok(p) = &r {
        assert!(
            p.starts_with('/') && !p.contains(char::is_whitespace),
            "{t:?}"
        );
    }
    let r = c1m::ws::parse_header(t);
    refused("ws::parse_header", t, &r);
    if let Ok((n, v)) = &r {
        assert!(!n.is_empty() && !v.contains(['\r', '\n']), "{t:?}");
    }
    let r = c1m::supervisor::search::parse_slo(t);
    refused("parse_slo", t, &r);
    if let Ok(s) = r {
        assert!(s.quantile > 0.0 && s.quantile <= 1.0, "{t:?}");
        assert!(!s.max.is_zero(), "{t:?}");
    }
    let r = c1m::stages::Stages::parse(t);
    refused("Stages::parse", t, &r);
    if let Ok(st) = r {
        assert!(!st.is_empty() && st.max() > 0, "{t:?}");
        // What c1m writes (the report's `stages.spec`) reads back as itself.
        let shown = st.to_string();
        assert_eq!(c1m::stages::Stages::parse(&shown), Ok(st), "{t:?}: {shown}");
    }
    let r = c1m::stages::close::CloseFraction::parse(t);
    refused("CloseFraction::parse", t, &r);
    if let Ok(c) = r {
        assert!(c.fraction > 0.0 && c.fraction <= 1.0, "{t:?}");
        assert!(c.at >= 0.0 && c.at() <= c1m::stages::close::MAX_AT, "{t:?}");
    }
    // `--fail-if`: a finite limit from zero, and what it prints reads
    // back as the same threshold.
    let r = c1m::threshold::parse(t);
    refused("threshold::parse", t, &r);
    if let Ok(th) = &r {
        assert!(th.limit.is_finite() && th.limit >= 0.0, "{t:?}");
        let back = c1m::threshold::parse(&th.to_string());
        assert!(
            back.as_ref()
                .is_ok_and(|b| b.metric == th.metric && b.unit == th.unit),
            "{t:?} printed as {:?}: {back:?}",
            th.to_string()
        );
    }
    let r = c1m::cmd::shard::parse_flag(t);
    refused("shard::parse_flag", t, &r);
    if let Ok(s) = r {
        assert!(s.index < s.count, "{t:?}");
        assert_eq!(c1m::cmd::shard::parse_flag(&s.to_string()), Ok(s));
    }
    let r = c1m::cmd::start_at::parse(t);
    refused("start_at::parse", t, &r);
    if let Ok(at) = r {
        // Within what is written to the millisecond (years 0-9999).
        let secs = at
            .duration_since(UNIX_EPOCH)
            .map_or(-1.0, |d| d.as_secs_f64());
        if (0.0..253_402_300_799.0).contains(&secs) {
            let back = c1m::cmd::start_at::parse(&c1m::cmd::start_at::utc(at)).unwrap();
            let gap = back
                .duration_since(at)
                .or_else(|_| at.duration_since(back))
                .unwrap();
            assert!(gap <= Duration::from_millis(1), "{t:?}: {gap:?}");
        }
    }
    use c1m::deploy::k8s::{Kube, check_kube};
    use c1m::deploy::slurm::{Slurm, check_slurm};
    for kube in [
        Kube {
            name: t.into(),
            ..Kube::default()
        },
        Kube {
            namespace: Some(t.into()),
            ..Kube::default()
        },
        Kube {
            image: t.into(),
            ..Kube::default()
        },
        Kube {
            cpu: t.into(),
            ..Kube::default()
        },
        Kube {
            memory: Some(t.into()),
            ..Kube::default()
        },
    ] {
        refused("check_kube", t, &check_kube(&kube));
    }
    for slurm in [
        Slurm {
            job_name: t.into(),
            ..Slurm::default()
        },
        Slurm {
            time: Some(t.into()),
            ..Slurm::default()
        },
        Slurm {
            output_dir: t.into(),
            ..Slurm::default()
        },
        Slurm {
            program: t.into(),
            ..Slurm::default()
        },
    ] {
        refused("check_slurm", t, &check_slurm(&slurm));
    }
}

/// A report, or a log holding one, as `c1m merge` reads it.
pub fn reports(t: &str) {
    refused("read_json_in", t, &c1m::report::read_json_in(t));
}

/// Every parser on one text.
pub fn all(t: &str) {
    addresses(t);
    numbers(t);
    words(t);
    reports(t);
}

/// `bytes` written with the escapes `--message` takes.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// What c1m writes, or what people write for a value, reads back as it.
pub fn round_trips(u: &mut Unstructured) -> Result<()> {
    let n = u.int_in_range(1..=u64::MAX)?;
    let shown = c1m_limits::num::thousands(n);
    assert_eq!(c1m_limits::num::parse_count(&shown), Ok(n), "{shown}");
    assert_eq!(args::count(&n.to_string()), Ok(n));
    assert_eq!(args::whole(1u64, None)(&n.to_string()), Ok(n));

    let ms = u.int_in_range(0..=args::MAX_DURATION.as_millis() as u64)?;
    let d = Duration::from_millis(ms);
    let shown = humantime::format_duration(d).to_string();
    assert_eq!(args::duration(&shown), Ok(d), "{shown}");
    assert_eq!(args::duration(&format!("{ms}ms")), Ok(d));
    // To the nanosecond, as humantime prints it, and as decimal seconds.
    let ns = u.int_in_range(0..=args::MAX_DURATION.as_nanos() as u64)?;
    let d = Duration::from_nanos(ns);
    let shown = humantime::format_duration(d).to_string();
    assert_eq!(args::duration(&shown), Ok(d), "{shown}");
    let secs = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
    assert_eq!(args::duration(&secs), Ok(d), "{secs}");
    assert_eq!(
        c1m::threshold::parse(&format!("ramp_time>{secs}")).map(|t| t.limit),
        Ok(ns as f64 / 1e3),
        "{secs}"
    );

    let rate = u.int_in_range(1..=1_000_000_000_000u64)? as f64 / 1000.0;
    let rate = rate.max(f64::MIN_POSITIVE);
    assert_eq!(args::positive(&rate.to_string()), Ok(rate), "{rate}");

    let ports: Vec<u16> = (0..u.int_in_range(1..=5)?)
        .map(|_| u.int_in_range(1..=65_535))
        .collect::<Result<_>>()?;
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(addr::parse_ports(&list), Ok(ports.clone()), "{list}");
    let (a, b) = (ports[0], u.int_in_range(1..=65_535)?);
    let (lo, hi) = (a.min(b), a.max(b));
    let range = format!("{lo}-{hi}");
    assert_eq!(c1m::stat::port_range(&range), Ok(lo..=hi));
    assert_eq!(c1m::cmd::deploy::port_range(&range), Ok((lo, hi)));
    assert_eq!(
        c1m_limits::cli::parse_port_range(&range),
        Ok((u64::from(lo), u64::from(hi)))
    );
    assert_eq!(
        addr::parse_ports(&range).map(|p| p.len()),
        Ok(usize::from(hi - lo) + 1)
    );

    let ip = if u.arbitrary()? {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?))
    } else {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?))
    };
    assert_eq!(addr::parse_ips(&ip.to_string()), Ok(vec![ip]), "{ip}");
    let sa = SocketAddr::new(ip, ports[0]);
    assert_eq!(
        addr::parse_endpoints(&sa.to_string(), IpAddr::from([0, 0, 0, 0])),
        Ok(vec![sa])
    );
    let target = addr::parse_target(&sa.to_string(), IpAddr::from([0, 0, 0, 0])).unwrap();
    assert_eq!(
        (target.host, target.ports),
        (TargetHost::Ip(ip), vec![ports[0]])
    );
    assert_eq!(c1m::ip::parse_target(&sa.to_string()).unwrap(), sa);
    assert_eq!(args::socket_addr(&sa.to_string()), Ok(sa));

    // An IPv4 block: all its addresses less network and broadcast (from /30).
    let len = u.int_in_range(20..=32u32)?;
    let block = format!("{}/{len}", Ipv4Addr::from(u.arbitrary::<u32>()?));
    let size = 1u64 << (32 - len);
    let hosts = if size >= 4 { size - 2 } else { size };
    assert_eq!(
        addr::parse_ips(&block).map(|v| v.len() as u64),
        Ok(hosts),
        "{block}"
    );

    let count = u.int_in_range(1..=u32::MAX)?;
    let index = u.int_in_range(0..=count - 1)?;
    let shard = c1m::plan::shard::Shard::new(index, count).unwrap();
    assert_eq!(c1m::cmd::shard::parse_flag(&shard.to_string()), Ok(shard));

    let secs = u.int_in_range(0..=253_402_300_799u64)?;
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    assert_eq!(c1m::cmd::start_at::parse(&format!("@{secs}")), Ok(at));
    assert_eq!(c1m::cmd::start_at::parse(&secs.to_string()), Ok(at));
    assert_eq!(
        c1m::cmd::start_at::parse(&c1m::cmd::start_at::utc(at)),
        Ok(at)
    );

    let len = u.int_in_range(1..=64)?;
    let bytes: Vec<u8> = (0..len).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    let escaped = escape(&bytes);
    assert_eq!(c1m::traffic::unescape(&escaped), Ok(bytes), "{escaped}");
    assert_eq!(args::message(&escaped), Ok(escaped.clone()));
    Ok(())
}

/// One fuzzer input: its bytes as text through every parser, then as the
/// source of generated texts and round trips.
pub fn check(data: &[u8]) {
    all(&String::from_utf8_lossy(data));
    let mut u = Unstructured::new(data);
    while let Ok(t) = text(&mut u) {
        all(&t);
        if u.is_empty() {
            break;
        }
    }
    let _ = round_trips(&mut Unstructured::new(data));
}
