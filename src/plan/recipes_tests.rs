//! The README's recipes keep to the per-pair budget they teach: every
//! `c1m connect`, `c1m slurm job` and `c1m k8s job` in its code blocks
//! with a count and a target carries at most
//! [`default_pair_budget`] of the default local port range (14,116)
//! on each (source, destination) pair of one client (trial 5: the CI
//! gate's 50k over 2 ports failed its own `connect_rate` gate).

use super::addr;
use super::default_pair_budget;
use c1m_limits::num::parse_count;

/// The default `ip_local_port_range` (32768-60999)'s ports.
const DEFAULT_LOCAL_PORTS: u64 = 28_232;

/// The README's shell commands, continuation lines joined, prompts
/// (`client1$ `) and comments taken off.
fn commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut line = String::new();
    for l in readme.lines() {
        if l.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let l = l.split(" #").next().unwrap_or("").trim_end();
        let l = l.trim_start();
        let l = match l.split_once("$ ") {
            Some((prompt, rest)) if !prompt.contains(' ') => rest,
            _ => l,
        };
        match l.strip_suffix('\\') {
            Some(part) => {
                line.push_str(part);
                line.push(' ');
            }
            None => {
                line.push_str(l);
                out.push(std::mem::take(&mut line));
            }
        }
    }
    out
}

/// A flag's value in a command's words.
fn value<'a>(words: &[&'a str], flag: &str) -> Option<&'a str> {
    let at = words.iter().position(|w| *w == flag)?;
    words.get(at + 1).copied()
}

/// Connections on each (source, destination) pair of one client of
/// `cmd`, when it names a count and a target.
fn per_pair(cmd: &str) -> Option<(u64, String)> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let target = match words.as_slice() {
        ["c1m", "connect", rest @ ..] => rest.iter().find(|w| !w.starts_with('-')).copied(),
        ["c1m", "slurm" | "k8s", "job", ..] => value(&words, "--target"),
        _ => None,
    }?;
    let stages_top = value(&words, "--stages").map(|st| {
        st.split(',')
            .filter_map(|s| s.split_once(':'))
            .map(|(_, n)| {
                if n == "0" {
                    0
                } else {
                    parse_count(n).expect(n)
                }
            })
            .max()
            .unwrap_or(0)
    });
    let conns = match value(&words, "-n") {
        Some(n) => parse_count(n).expect(n),
        None => stages_top?,
    };
    let shards = value(&words, "--shards")
        .or_else(|| value(&words, "--shard").and_then(|s| s.split('/').nth(1)))
        .map_or(1, |n| n.parse::<u64>().expect(n));
    let ports = target.rsplit_once(':').expect(target).1;
    let ports = addr::parse_ports(ports).expect(ports).len() as u64;
    let sources =
        value(&words, "--sources").map_or(1, |s| addr::parse_ips(s).expect(s).len() as u64);
    let each = conns.div_ceil(shards).div_ceil(ports * sources);
    Some((each, cmd.to_string()))
}

#[test]
fn every_readme_recipe_stays_within_the_per_pair_budget() {
    let readme = include_str!("../../README.md");
    let budget = default_pair_budget(DEFAULT_LOCAL_PORTS);
    assert_eq!(budget, 14_116);
    let recipes: Vec<(u64, String)> = commands(readme)
        .iter()
        .filter_map(|c| per_pair(c))
        .collect();
    assert!(recipes.len() >= 10, "{recipes:?}");
    for (each, cmd) in &recipes {
        assert!(
            *each <= budget,
            "{each} connections a (source, destination) pair, over the {budget} past which connect() slows: {cmd}"
        );
    }
}

#[test]
fn the_recipe_reader_sees_what_a_shell_would() {
    let md = "```sh\nclient1$ c1m connect app:8090-8093 -n 50k \\\n  --hold 2m  # a comment\nc1m connect a:1 --stages 10s:1k,5s:20k --sources 10.0.0.1-10.0.0.2\n```\n";
    let cmds = commands(md);
    assert_eq!(
        cmds[0].split_whitespace().collect::<Vec<_>>(),
        [
            "c1m",
            "connect",
            "app:8090-8093",
            "-n",
            "50k",
            "--hold",
            "2m"
        ]
    );
    assert_eq!(per_pair(&cmds[0]).map(|p| p.0), Some(12_500));
    assert_eq!(per_pair(&cmds[1]).map(|p| p.0), Some(10_000));
}
