//! Flags that contradict each other, and why: every pair clap refuses
//! together (`conflicts_with`) has its reason here, said with clap's
//! refusal in one line ([`why`], read by [`super::clap_error`]); and the
//! pairs that contradict only for one value of a flag (`--mode idle` with
//! `--interval`), which clap cannot declare, are checked on the parsed
//! command line ([`check_values`]) and refused the same way, before
//! anything starts (and by `--print-scenario`).
//!
//! Flags are named by their long names, without `--`. A unit test walks
//! clap's definition: every conflict it declares has a reason here, and
//! every reason here is a conflict it declares.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// Pairs of flags that cannot be given together, and why (said after
/// clap's `the argument '--a' cannot be used with '--b'`).
pub const REASONS: &[(&str, &str, &str)] = &[
    (
        "ipv4",
        "ipv6",
        "-4 takes only the IPv4 addresses and -6 only the IPv6 ones, so together they take none",
    ),
    (
        "sources",
        "source-from",
        "both name the source addresses: a list, or the addresses `c1m ip add` put on an interface",
    ),
    (
        "message-rate",
        "interval",
        "each sets the heartbeats' pace (--message-rate over all connections, --interval per connection)",
    ),
    (
        "message-rate",
        "bandwidth",
        "each sets the heartbeats' pace (in messages, or in bytes, per second)",
    ),
    (
        "bandwidth",
        "interval",
        "each sets the heartbeats' pace (--bandwidth over all connections, --interval per connection)",
    ),
    (
        "message",
        "message-file",
        "each gives the heartbeat's message (as text, or from a file)",
    ),
    (
        "ca",
        "insecure",
        "--ca checks the certificate against those CAs, and --insecure checks none",
    ),
    (
        "stages",
        "conns",
        "the stages' largest count is the target (-n gives it without stages)",
    ),
    (
        "stages",
        "hold",
        "the stages are the whole run (a stage of constant count is a hold)",
    ),
    (
        "stages",
        "ramp-up",
        "--ramp-up writes the stages itself (--stages D:N,HOLD:N); put the ramp in --stages",
    ),
    (
        "stages",
        "ramp-down",
        "--ramp-down writes the stages itself (--stages …,D:0); put the ramp-down in --stages",
    ),
    (
        "find-limit",
        "reconnect",
        "the search stops at the first connection the server closes or refuses, which --reconnect would reopen and hide",
    ),
    (
        "find-limit",
        "stages",
        "the search ramps until the server breaks, at its own pace (give --rate to pace it)",
    ),
    (
        "find-limit",
        "ramp-up",
        "the search ramps until the server breaks, at its own pace (give --rate to pace it)",
    ),
    (
        "find-limit",
        "ramp-down",
        "the search ends at the server's break, with no hold to ramp down from",
    ),
    (
        "no-accept",
        "close-fraction",
        "a server that never accepts holds no connection to close",
    ),
    (
        "no-accept",
        "idle-timeout",
        "a server that never accepts reads from no peer, so no peer is ever idle to it",
    ),
    (
        "no-accept",
        "max-message",
        "a server that never accepts reads no message",
    ),
    (
        "no-accept",
        "max-unsent",
        "a server that never accepts echoes nothing",
    ),
    (
        "no-accept",
        "no-echo",
        "a server that never accepts echoes nothing anyway",
    ),
    (
        "no-accept",
        "proxy-protocol",
        "a server that never accepts reads no PROXY header",
    ),
    (
        "no-accept",
        "tls",
        "TLS begins once a connection is accepted, and a server that never accepts accepts none",
    ),
    (
        "no-accept",
        "websocket",
        "the upgrade begins once a connection is accepted, and a server that never accepts accepts none",
    ),
    (
        "with-server",
        "target",
        "--with-server aims the shards at the c1m serve it prints",
    ),
    (
        "netns",
        "host-netns",
        "each names the network namespace to watch",
    ),
    (
        "apply",
        "revert",
        "--apply writes the settings and --revert puts back what the last --apply changed",
    ),
    (
        "revert",
        "target",
        "--revert puts back what the last --apply changed, whatever its target",
    ),
    (
        "revert",
        "port-range",
        "--revert puts back what the last --apply changed, its port range too",
    ),
];

/// A flag given with a value that contradicts another flag given:
/// (flag, value, other flag, why).
pub const VALUE_CONFLICTS: &[(&str, &str, &str, &str)] = &[
    (
        "mode",
        "idle",
        "interval",
        "idle connections send nothing, and --interval is the heartbeats' pace (give --mode heartbeat)",
    ),
    (
        "mode",
        "idle",
        "message-rate",
        "idle connections send nothing, and --message-rate is the heartbeats' pace (give --mode heartbeat)",
    ),
    (
        "mode",
        "idle",
        "bandwidth",
        "idle connections send nothing, and --bandwidth is the heartbeats' pace (give --mode heartbeat)",
    ),
    (
        "mode",
        "idle",
        "message",
        "idle connections send no heartbeat message (give --mode heartbeat; --first-message is sent in any mode)",
    ),
    (
        "mode",
        "idle",
        "message-file",
        "idle connections send no heartbeat message (give --mode heartbeat; --first-message is sent in any mode)",
    ),
    (
        "mode",
        "idle",
        "expect",
        "idle connections send no heartbeat, so no reply is checked (give --mode heartbeat)",
    ),
    (
        "mode",
        "idle",
        "slo",
        "the latency objective is timed on heartbeats, which idle connections do not send (leave out --mode: --slo sends heartbeats)",
    ),
    (
        "mode",
        "idle",
        "ws-heartbeat",
        "idle connections send no heartbeat over WebSocket (give --mode heartbeat)",
    ),
    (
        "bind-mode",
        "none",
        "sources",
        "with no bind the kernel picks each connection's source address, so the --sources addresses would never be used",
    ),
    (
        "bind-mode",
        "none",
        "source-from",
        "with no bind the kernel picks each connection's source address, so the --source-from addresses would never be used",
    ),
];

/// Why flags `a` and `b` (long names, either order, with or without
/// `--`) cannot be given together, when this module says.
pub fn why(a: &str, b: &str) -> Option<&'static str> {
    let (a, b) = (bare(a), bare(b));
    REASONS
        .iter()
        .find(|(x, y, _)| (*x == a && *y == b) || (*x == b && *y == a))
        .map(|(_, _, w)| *w)
}

/// `--find-limit <X>` → `find-limit`; `--mode idle` → `mode`.
fn bare(name: &str) -> &str {
    name.trim_start_matches('-')
        .split([' ', '=', '<'])
        .next()
        .unwrap_or_default()
}

/// The command line `m` (parsed by `whole`, c1m's definition) against
/// [`VALUE_CONFLICTS`]: clap's conflict error, with the flags as clap
/// names them (`--mode idle`, `--interval`), for the first pair given
/// together (each given by the command line or its scenario file, not by
/// default).
///
/// # Errors
/// An [`ErrorKind::ArgumentConflict`] for [`super::clap_error::one_line`],
/// which adds the reason.
pub fn check_values(whole: &Command, m: &ArgMatches) -> Result<(), clap::Error> {
    let (mut leaf, mut m) = (whole, m);
    while let Some((name, sub)) = m.subcommand() {
        let Some(c) = leaf.find_subcommand(name) else {
            return Ok(());
        };
        leaf = c;
        m = sub;
    }
    let id_of = |long: &str| {
        leaf.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .map(|a| a.get_id().as_str().to_string())
    };
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    for (flag, value, other, _) in VALUE_CONFLICTS {
        let (Some(f), Some(o)) = (id_of(flag), id_of(other)) else {
            continue;
        };
        if !(given(&f) && given(&o)) {
            continue;
        }
        let is = m
            .get_raw(&f)
            .and_then(|mut v| v.next())
            .and_then(|v| v.to_str())
            .is_some_and(|v| v.eq_ignore_ascii_case(value));
        if is {
            let mut e = clap::Error::new(ErrorKind::ArgumentConflict).with_cmd(leaf);
            e.insert(
                ContextKind::InvalidArg,
                ContextValue::String(format!("--{other}")),
            );
            e.insert(
                ContextKind::PriorArg,
                ContextValue::String(format!("--{flag} {value}")),
            );
            let mut usage = leaf.clone();
            e.insert(
                ContextKind::Usage,
                ContextValue::StyledStr(usage.render_usage()),
            );
            return Err(e);
        }
    }
    Ok(())
}

/// Why `--flag value` cannot be given with `--other`.
pub fn value_why(flag_value: &str, other: &str) -> Option<&'static str> {
    let mut words = flag_value.trim_start_matches('-').split(' ');
    let (flag, value) = (words.next()?, words.next()?);
    let other = bare(other);
    VALUE_CONFLICTS
        .iter()
        .find(|(f, v, o, _)| *f == flag && v.eq_ignore_ascii_case(value) && *o == other)
        .map(|(_, _, _, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair clap declares, by long names (or ids), each once.
    fn declared(cmd: &Command, out: &mut Vec<(String, String, String)>, path: &str) {
        let name = |a: &clap::Arg| {
            a.get_long()
                .map_or_else(|| a.get_id().to_string(), str::to_string)
        };
        for a in cmd.get_arguments() {
            for c in cmd.get_arg_conflicts_with(a) {
                let (x, y) = (name(a), name(c));
                let pair = if x < y { (x, y) } else { (y, x) };
                if !out.iter().any(|(_, p, q)| (p, q) == (&pair.0, &pair.1)) {
                    out.push((path.to_string(), pair.0, pair.1));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            declared(sub, out, &format!("{path} {}", sub.get_name()));
        }
    }

    #[test]
    fn every_conflict_clap_declares_has_a_reason_and_no_other() {
        let mut cmd = crate::cmd::command();
        cmd.build();
        let mut pairs = Vec::new();
        declared(&cmd, &mut pairs, "c1m");
        let missing: Vec<String> = pairs
            .iter()
            .filter(|(_, a, b)| why(a, b).is_none())
            .map(|(c, a, b)| format!("{c}: --{a} and --{b}"))
            .collect();
        assert!(
            missing.is_empty(),
            "conflicts without a reason in cmd/conflicts.rs REASONS: {missing:?}"
        );
        for (a, b, _) in REASONS {
            assert!(
                pairs
                    .iter()
                    .any(|(_, x, y)| (x == a && y == b) || (x == b && y == a)),
                "REASONS has --{a} and --{b}, which clap does not declare in conflict"
            );
        }
    }

    #[test]
    fn every_value_conflict_names_real_flags_and_values() {
        let mut cmd = crate::cmd::command();
        cmd.build();
        for (flag, value, other, _) in VALUE_CONFLICTS {
            let mut found = false;
            for sub in cmd.get_subcommands() {
                let f = sub.get_arguments().find(|a| a.get_long() == Some(flag));
                let o = sub.get_arguments().find(|a| a.get_long() == Some(other));
                if let (Some(f), Some(_)) = (f, o) {
                    found = true;
                    let values: Vec<String> = f
                        .get_possible_values()
                        .iter()
                        .map(|p| p.get_name().to_string())
                        .collect();
                    assert!(
                        values.iter().any(|v| v == value),
                        "--{flag} {value}: {values:?}"
                    );
                }
            }
            assert!(found, "no command has both --{flag} and --{other}");
        }
    }
}
