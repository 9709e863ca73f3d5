//! Several shards' reports made one (`c1m merge`): counts and causes
//! summed, latency histograms added (percentiles read off the sum, never
//! averaged), timelines aligned on wall-clock time, and every figure that
//! belongs to a machine rather than to a shard taken once:
//!
//! - kernel memory (slab, MemAvailable) once per kernel ([`Origin::kernel`],
//!   the boot ID; shards in containers or namespaces of one machine share
//!   its slab);
//! - the server side, listen counters and the kernel's server-side count
//!   once per network namespace: on one kernel, by the namespace's inode
//!   ([`Origin::netns`]; `ip netns exec` hosts share a host name but not a
//!   namespace), or by host name for reports without it (a pod, a lab
//!   host and a machine each have their own UTS and network namespace;
//!   `hostNetwork` pods share the node's name and its namespace).
//!
//! Within one such group the largest reading is kept: shards that ran at
//! the same time each saw the group's whole change.
//!
//! Nothing is claimed held at once that was not: the shards' holds are
//! placed on the wall clock ([`HoldSpan`]), `held.reached` is the most the
//! merged timeline held at one instant (never the sum of the shards'
//! peaks), and shards whose holds did not overlap fail the merge, naming
//! the gap. Two reports of one run (one origin) are refused.
//!
//! Pure: reports in, a report out.

use std::collections::{BTreeMap, BTreeSet};

use crate::latency::Latency;
use crate::plan::shard::Shard;
use crate::plan::{Plan, ServerShare};
use crate::report::judge::{self, EXIT_INTERRUPTED, EXIT_SHORT};
use crate::report::model::{
    Closes, CommandKind, CountSource, End, Held, KernelCount, KernelCounts, LatencyReport,
    Listener, Memory, Origin, Phantoms, Phase, Report, SCHEMA, Sample, Seen, ServerSide,
    ShardSummary, TrafficSummary, Verdict, Workers,
};
use crate::wire::Stats;
use c1m_probe::netstat::ListenCounters;

/// Why reports could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no report to merge")]
    Empty,
    /// Reports of different commands.
    #[error("{file} is a {found} report, {first} a {expected} report: merge shards of one command")]
    MixedCommands {
        /// The first report's file.
        first: String,
        /// Its command.
        expected: String,
        /// The report that differs.
        file: String,
        /// Its command.
        found: String,
    },
    /// A capacity search: its answer is a limit, not a count to add.
    #[error(
        "{0} is a --find-limit search: its limit is not a count that adds up across shards; merge `connect` shards"
    )]
    Search(String),
    /// Shards of different splits.
    #[error("{file} is shard {shard}, but {first} is of {count} shards: merge one split's shards")]
    MixedCounts {
        /// The first sharded report's file.
        first: String,
        /// Its shard count.
        count: u32,
        /// The report that differs.
        file: String,
        /// Its shard.
        shard: Shard,
    },
    /// One shard twice.
    #[error("shard {shard} is in both {a} and {b}")]
    Duplicate {
        /// The shard.
        shard: Shard,
        /// One file.
        a: String,
        /// The other.
        b: String,
    },
    /// One run's report twice (one origin, whatever its shard says).
    #[error(
        "{a} and {b} are one run's report ({host}, started {started}): give each shard's report once"
    )]
    SameRun {
        /// One file.
        a: String,
        /// The other.
        b: String,
        /// The run's host.
        host: String,
        /// When it started (RFC 3339, UTC).
        started: String,
    },
    /// A report without its histograms.
    #[error(
        "{0} has no latency histograms to add (percentiles cannot be merged without them): run that shard again with this c1m"
    )]
    NoHistograms(String),
    /// Histograms that do not decode.
    #[error("{0}: its latency histograms are damaged (not base64 HdrHistogram V2)")]
    BadHistograms(String),
}

/// Merges `reports` (each with the file it came from, for the messages and
/// the shard list), in any order.
///
/// # Errors
/// [`MergeError`]: nothing to merge, reports of different commands or
/// splits, a shard or a run twice, a capacity search, missing or damaged
/// histograms.
pub fn merge(reports: &[(String, Report)]) -> Result<Report, MergeError> {
    let (_, first) = reports.first().ok_or(MergeError::Empty)?;
    check(reports)?;
    let mut order: Vec<&(String, Report)> = reports.iter().collect();
    order.sort_by_key(|(file, r)| (r.origin.shard.map(|s| s.index), file.clone()));
    let rs: Vec<&Report> = order.iter().map(|(_, r)| r).collect();

    let latency = latency(&order)?;
    let timeline = timeline(&rs);
    let plan = plan(&rs);
    let target = rs.iter().map(|r| r.target).sum();
    let gap = gap(&order);
    let held = held(&rs, &timeline, gap.is_some());
    let ramp = |r: &Report| Some((r.origin.ramp_started_at?, r.time_to_reach?));
    let time_to_reach = rs
        .iter()
        .map(|r| ramp(r))
        .collect::<Option<Vec<_>>>()
        .and_then(|v| {
            let begin = v.iter().map(|(b, _)| *b).reduce(f64::min)?;
            let end = v.iter().map(|(b, t)| b + t).reduce(f64::max)?;
            Some(end - begin)
        });
    let sum_stats = |f: fn(&Report) -> &Stats| {
        rs.iter().fold(Stats::default(), |mut a, r| {
            a.merge(f(r));
            a
        })
    };
    let mut report = Report {
        schema: SCHEMA.to_string(),
        command: first.command,
        label: format!("{}, {} merged", first.label, shards_word(rs.len())),
        origin: origin(&rs),
        merged: Some(
            order
                .iter()
                .map(|(file, r)| ShardSummary {
                    file: file.clone(),
                    shard: r.origin.shard,
                    host: r.origin.host.clone(),
                    node: r.origin.node.clone(),
                    target: r.target,
                    reached: r.held.reached,
                    held_at_end: r.held.at_end,
                    verdict: r.verdict.clone(),
                })
                .collect(),
        ),
        plan,
        target,
        held,
        time_to_reach,
        kernel: KernelCounts {
            at_top: kernel_count(&rs, |r| &r.kernel.at_top),
            at_end: kernel_count(&rs, |r| &r.kernel.at_end),
        },
        server_side: server_side(&rs),
        phantoms: phantoms(&rs),
        listen_counters: per_netns(&rs, |r| r.listen_counters).map(|groups| {
            groups
                .iter()
                .fold(ListenCounters::default(), |a, c| a.plus(c))
        }),
        closes: closes(&rs),
        clients: sum_stats(|r| &r.clients),
        servers: sum_stats(|r| &r.servers),
        clients_at_top: sum_stats(|r| &r.clients_at_top),
        servers_at_top: sum_stats(|r| &r.servers_at_top),
        memory: memory(&rs),
        traffic: rs
            .iter()
            .find_map(|r| r.traffic.clone())
            .map(|t| TrafficSummary {
                // Every shard's schedule offered its part.
                offered: (rs.iter())
                    .map(|r| r.traffic.as_ref().and_then(|t| t.offered))
                    .sum::<Option<f64>>(),
                ..t
            }),
        latency,
        find_limit: None,
        tls: super::tls::merged(rs.iter().map(|r| r.tls.as_ref())),
        websocket: super::tls::merged_ws(rs.iter().map(|r| r.websocket.as_ref())),
        timeline,
        teardown: rs.iter().map(|r| r.teardown).fold(0.0, f64::max),
        workers: workers(&rs),
        end: end(&rs),
        thresholds: Vec::new(),
        // Each shard's stages were its own; the merged run is judged on
        // what was held at once.
        stages: None,
        reconnect: rs.iter().find_map(|r| r.reconnect),
        server_closes: Vec::new(),
        verdict: Verdict {
            ok: true,
            exit_code: 0,
            reason: None,
        },
    };
    report.verdict = verdict(&report, &order, gap);
    Ok(report)
}

/// A shard's hold on the wall clock, Unix seconds, from its origin and its
/// timeline's phases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldSpan {
    /// Its hold began: its first sample in the hold, or, with no hold
    /// sample (`--hold 0s`), its last one of the ramp.
    pub began: f64,
    /// Its last sample in the hold (`began` without one).
    pub ended: f64,
    /// Its connections were closed by then: its teardown sample, else its
    /// last sample.
    pub stopped: f64,
}

/// `r`'s hold on the wall clock; `None` for a run that never held (no
/// sample in the ramp or the hold).
pub fn hold_span(r: &Report) -> Option<HoldSpan> {
    let wall = |s: &Sample| r.origin.started_at + s.t;
    let tl = &r.timeline;
    let hold = || tl.iter().filter(|s| s.phase == Phase::Hold);
    let began = hold()
        .next()
        .or_else(|| tl.iter().rfind(|s| s.phase == Phase::Ramp))
        .map(wall)?;
    let ended = hold().next_back().map_or(began, wall);
    let stopped = tl
        .iter()
        .find(|s| s.phase == Phase::Teardown)
        .or(tl.last())
        .map_or(ended, wall)
        .max(ended);
    Some(HoldSpan {
        began,
        ended,
        stopped,
    })
}

/// Why the shards' connections were never held at once, when a shard's
/// hold began after another's connections were closed: the latest
/// beginning and the earliest stop, and the time between them.
fn gap(order: &[&(String, Report)]) -> Option<String> {
    let spans: Vec<(&Report, HoldSpan)> = order
        .iter()
        .filter_map(|(_, r)| Some((r, hold_span(r)?)))
        .collect();
    let (late, last_began) = spans
        .iter()
        .max_by(|a, b| a.1.began.total_cmp(&b.1.began))?;
    let (early, first_stop) = spans
        .iter()
        .min_by(|a, b| a.1.stopped.total_cmp(&b.1.stopped))?;
    let gap = last_began.began - first_stop.stopped;
    (gap > 0.0).then(|| {
        format!(
            "{} began holding {gap:.1} s after {} stopped: their connections were never held at once; start shards together with --start-at",
            shard_name(late),
            shard_name(early)
        )
    })
}

/// The held figures of shards `rs` (in shard order) on their merged
/// `timeline`; `apart`: their holds did not overlap.
///
/// - `reached`: the most held at once on the merged timeline (each
///   shard's sample in force at each instant, summed), or one shard's own
///   most, or `at_end`, whichever is highest; never the sum of the
///   shards' peaks.
/// - `at_end`: holds that overlapped, the shards' own counts summed;
///   apart, the most held at once at the end of any one shard's hold (its
///   own count then, plus the samples in force of the shards holding at
///   that instant).
/// - `min_during_hold`: the fewest held while every shard held; `None`
///   apart.
fn held(rs: &[&Report], timeline: &[Sample], apart: bool) -> Held {
    let serve = rs.first().is_some_and(|r| r.command == CommandKind::Serve);
    let count = |s: &Sample| {
        if serve { s.servers() } else { s.established }
    };
    let all_kernel = rs.iter().all(|r| r.held.source == CountSource::Kernel);
    let source = |kernel| {
        if kernel {
            CountSource::Kernel
        } else {
            CountSource::Workers
        }
    };
    let (at_end, source) = if apart {
        rs.iter()
            .enumerate()
            .map(|(i, r)| {
                let Some(end) = hold_span(r).map(|h| h.ended) else {
                    return (r.held.at_end, source(r.held.source == CountSource::Kernel));
                };
                let others: Vec<u64> = (rs.iter().enumerate())
                    .filter(|(j, _)| *j != i)
                    .filter_map(|(_, o)| at(o, end).filter(|s| s.phase == Phase::Hold))
                    .map(count)
                    .collect();
                let kernel = r.held.source == CountSource::Kernel && others.is_empty();
                (r.held.at_end + others.iter().sum::<u64>(), source(kernel))
            })
            .max_by_key(|(n, _)| *n)
            .unwrap_or((0, source(all_kernel)))
    } else {
        (rs.iter().map(|r| r.held.at_end).sum(), source(all_kernel))
    };
    let reached = timeline
        .iter()
        .map(count)
        .chain(rs.iter().map(|r| r.held.reached))
        .max()
        .unwrap_or(0)
        .max(at_end);
    Held {
        reached,
        at_end,
        source,
        min_during_hold: if apart { None } else { min_during_hold(rs) },
    }
}

fn shards_word(n: usize) -> String {
    if n == 1 {
        "1 shard".into()
    } else {
        format!("{n} shards")
    }
}

/// One command, one split, each shard once, no search.
fn check(reports: &[(String, Report)]) -> Result<(), MergeError> {
    let (first_file, first) = &reports[0];
    let name = |c: CommandKind| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    let sharded = reports.iter().find_map(|(f, r)| Some((f, r.origin.shard?)));
    for (file, r) in reports {
        if r.command != first.command {
            return Err(MergeError::MixedCommands {
                first: first_file.clone(),
                expected: name(first.command),
                file: file.clone(),
                found: name(r.command),
            });
        }
        if r.command == CommandKind::FindLimit || r.find_limit.is_some() {
            return Err(MergeError::Search(file.clone()));
        }
        if let (Some((sf, s0)), Some(s)) = (sharded, r.origin.shard) {
            if s.count != s0.count {
                return Err(MergeError::MixedCounts {
                    first: sf.clone(),
                    count: s0.count,
                    file: file.clone(),
                    shard: s,
                });
            }
            if let Some(a) = seen.insert(s.index, file) {
                return Err(MergeError::Duplicate {
                    shard: s,
                    a: a.to_string(),
                    b: file.clone(),
                });
            }
        }
    }
    // One run: its whole origin but the shard (which a copy may have lost
    // or changed) the same.
    let run = |o: &Origin| Origin {
        shard: None,
        ..o.clone()
    };
    for (i, (a, ra)) in reports.iter().enumerate() {
        let once = run(&ra.origin);
        if let Some((b, _)) = reports[i + 1..]
            .iter()
            .find(|(_, rb)| run(&rb.origin) == once)
        {
            return Err(MergeError::SameRun {
                a: a.clone(),
                b: b.clone(),
                host: ra.origin.host.clone(),
                started: crate::report::text::utc(ra.origin.started_at),
            });
        }
    }
    Ok(())
}

/// Hosts, nodes and kernels listed once each, in shard order; the
/// network namespace when every shard ran in the same one; the earliest
/// start.
fn origin(rs: &[&Report]) -> Origin {
    let join = |f: fn(&Report) -> Option<&str>| {
        let mut seen = Vec::new();
        for r in rs {
            if let Some(v) = f(r).filter(|v| !seen.contains(v)) {
                seen.push(v);
            }
        }
        seen.join(",")
    };
    let earliest = |f: fn(&Report) -> Option<f64>| rs.iter().filter_map(|r| f(r)).reduce(f64::min);
    let kernels = join(|r| r.origin.kernel.as_deref());
    Origin {
        version: join(|r| Some(&r.origin.version)),
        host: join(|r| Some(&r.origin.host)),
        node: join(|r| Some(&r.origin.node)),
        kernel: (!kernels.is_empty()).then_some(kernels),
        netns: rs
            .iter()
            .map(|r| r.origin.netns)
            .reduce(|a, b| a.filter(|_| a == b))
            .flatten(),
        shard: None,
        started_at: earliest(|r| Some(r.origin.started_at)).unwrap_or(0.0),
        start_at: earliest(|r| r.origin.start_at),
        ramp_started_at: earliest(|r| r.origin.ramp_started_at),
        // Each shard's namespace was its own machine's: none is the
        // merged run's.
        run_netns: None,
    }
}

/// Every shard's plan together: addresses listed once, counts summed,
/// server shares' endpoint indexes renumbered into the merged list.
fn plan(rs: &[&Report]) -> Plan {
    let mut p = rs[0].plan.clone();
    p.servers.clear();
    p.clients.clear();
    p.warnings.clear();
    p.endpoints.clear();
    p.sources.clear();
    let (mut conns, mut pairs, mut capacity) = (0, 0, 0u64);
    let mut whys = Vec::new();
    for r in rs {
        let q = &r.plan;
        conns += q.conns;
        pairs += q.pairs;
        capacity = capacity.saturating_add(q.capacity);
        p.per_pair_max = p.per_pair_max.max(q.per_pair_max);
        for a in &q.sources {
            if !p.sources.contains(a) {
                p.sources.push(*a);
            }
        }
        let mut index = Vec::with_capacity(q.endpoints.len());
        for e in &q.endpoints {
            index.push(p.endpoints.iter().position(|x| x == e).unwrap_or_else(|| {
                p.endpoints.push(*e);
                p.endpoints.len() - 1
            }));
        }
        p.servers.extend(q.servers.iter().map(|s| ServerShare {
            endpoints: s.endpoints.iter().map(|&i| index[i]).collect(),
            ..s.clone()
        }));
        p.clients.extend(q.clients.iter().cloned());
        for w in &q.warnings {
            if !p.warnings.contains(w) {
                p.warnings.push(w.clone());
            }
        }
        if !whys.contains(&q.capacity_why) {
            whys.push(q.capacity_why.clone());
        }
    }
    p.conns = conns;
    p.pairs = pairs;
    p.capacity = capacity;
    p.capacity_why = whys.join("; ");
    p
}

/// The histograms added; percentiles off the sum.
fn latency(order: &[&(String, Report)]) -> Result<LatencyReport, MergeError> {
    let mut sum = Latency::new();
    for (file, r) in order {
        let enc = r
            .latency
            .histograms
            .as_ref()
            .ok_or_else(|| MergeError::NoHistograms(file.clone()))?;
        let l = Latency::decode(enc).ok_or_else(|| MergeError::BadHistograms(file.clone()))?;
        sum.merge(&l);
    }
    Ok(LatencyReport {
        lost: order.iter().map(|(_, r)| r.latency.lost).sum(),
        ..LatencyReport::of(&sum)
    })
}

/// The key of a shard's kernel: its boot ID, else its node.
fn kernel_key(r: &Report) -> String {
    r.origin
        .kernel
        .clone()
        .unwrap_or_else(|| format!("node {}", r.origin.node))
}

/// The key of a shard's network namespace: its kernel and the
/// namespace's inode, or its host name in a report without it.
fn netns_key(r: &Report) -> (String, String) {
    let ns = r.origin.netns.map_or_else(
        || format!("host {}", r.origin.host),
        |ino| format!("netns {ino}"),
    );
    (kernel_key(r), ns)
}

/// `f` of every shard that has it, the largest per network namespace, one
/// value per namespace; `None` when no shard has it.
fn per_netns<T: Copy + Max>(rs: &[&Report], f: impl Fn(&Report) -> Option<T>) -> Option<Vec<T>> {
    let mut groups: BTreeMap<(String, String), T> = BTreeMap::new();
    for r in rs {
        if let Some(v) = f(r) {
            groups
                .entry(netns_key(r))
                .and_modify(|g| *g = g.larger(v))
                .or_insert(v);
        }
    }
    (!groups.is_empty()).then(|| groups.into_values().collect())
}

/// The larger of two readings of one thing.
trait Max {
    fn larger(self, other: Self) -> Self;
}

impl Max for u64 {
    fn larger(self, other: Self) -> Self {
        self.max(other)
    }
}

impl Max for ListenCounters {
    fn larger(self, other: Self) -> Self {
        self.max(&other)
    }
}

/// c1m's own sockets summed over the shards (each shard's workers hold
/// their own, so the sum is every shard's and nothing else); the
/// endpoints' counts (netlink: every process's sockets in a namespace,
/// the other shards' there included) once per network namespace, the
/// largest reading there. Any shard's count missing makes the merged
/// count missing, with its reason.
fn kernel_count(rs: &[&Report], f: impl Fn(&Report) -> &KernelCount) -> KernelCount {
    let mut own = [0u64; 4];
    let (mut own_took, mut took) = (0.0f64, 0.0f64);
    for r in rs {
        match f(r) {
            KernelCount::Counted {
                client_own,
                client_own_close_wait,
                client_own_other,
                server_own,
                own_took: ot,
                took: t,
                ..
            } => {
                let add = [
                    *client_own,
                    *client_own_close_wait,
                    *client_own_other,
                    *server_own,
                ];
                for (sum, n) in own.iter_mut().zip(add) {
                    *sum += n;
                }
                own_took += ot;
                took = took.max(*t);
            }
            KernelCount::Unavailable { reason } => {
                return KernelCount::Unavailable {
                    reason: format!("{} ({}): {reason}", shard_name(r), r.origin.host),
                };
            }
            KernelCount::NotTaken => return KernelCount::NotTaken,
        }
    }
    let once = |g: fn(&KernelCount) -> Option<u64>| {
        per_netns(rs, |r| g(f(r))).map_or(0, |v| v.iter().sum())
    };
    let [
        client_own,
        client_own_close_wait,
        client_own_other,
        server_own,
    ] = own;
    KernelCount::Counted {
        client_own,
        client_own_close_wait,
        client_own_other,
        server_own,
        own_took,
        server_side: once(|k| k.sides().map(|(s, _)| s)),
        client_side: once(|k| k.sides().map(|(_, c)| c)),
        client_close_wait: once(|k| match k {
            KernelCount::Counted {
                client_close_wait, ..
            } => Some(*client_close_wait),
            _ => None,
        }),
        took,
    }
}

fn shard_name(r: &Report) -> String {
    r.origin
        .shard
        .map_or_else(|| "a whole run".into(), |s| format!("shard {s}"))
}

fn server_side(rs: &[&Report]) -> ServerSide {
    let local: Vec<&Report> = rs
        .iter()
        .copied()
        .filter(|r| r.server_side.seen == Seen::Local)
        .collect();
    let sum = |f: fn(&ServerSide) -> Option<u64>| {
        per_netns(&local, |r| f(&r.server_side)).map(|v| v.iter().sum())
    };
    let mut listeners: Vec<Listener> = Vec::new();
    for l in local.iter().flat_map(|r| &r.server_side.listeners) {
        match listeners.iter_mut().find(|x| x.addr == l.addr) {
            Some(x) => x.accept_queue = x.accept_queue.max(l.accept_queue),
            None => listeners.push(l.clone()),
        }
    }
    ServerSide {
        seen: if local.is_empty() {
            Seen::Remote
        } else {
            Seen::Local
        },
        established: sum(|s| s.established),
        accepted: sum(|s| s.accepted),
        waiting: sum(|s| s.waiting),
        listeners,
    }
}

fn phantoms(rs: &[&Report]) -> Option<Phantoms> {
    let all: Vec<&Phantoms> = rs.iter().filter_map(|r| r.phantoms.as_ref()).collect();
    let first = all.iter().find(|p| p.count > 0).or(all.first())?;
    Some(Phantoms {
        count: all.iter().map(|p| p.count).sum(),
        ..(*first).clone()
    })
}

fn closes(rs: &[&Report]) -> Closes {
    Closes {
        fin: rs.iter().map(|r| r.closes.fin).sum(),
        fin_with_data: rs.iter().map(|r| r.closes.fin_with_data).sum(),
        rst: rs.iter().map(|r| r.closes.rst).sum(),
        first_bytes: rs.iter().find_map(|r| r.closes.first_bytes.clone()),
    }
}

/// Kernel memory once per kernel (the shard with the largest slab change
/// there: it saw the kernel's whole change), user memory summed.
fn memory(rs: &[&Report]) -> Option<Memory> {
    let mut kernels: BTreeMap<String, (&Memory, u64, u64)> = BTreeMap::new();
    for r in rs {
        let Some(m) = &r.memory else { continue };
        let size = |m: &Memory| m.slab_caches_total.or(m.meminfo_slab).unwrap_or(0);
        kernels
            .entry(kernel_key(r))
            .and_modify(|(best, conns, sockets)| {
                *conns += m.conns;
                *sockets += m.sockets;
                if size(m) > size(best) {
                    *best = m;
                }
            })
            .or_insert((m, m.conns, m.sockets));
    }
    let mut out: Option<Memory> = None;
    for (m, conns, sockets) in kernels.into_values() {
        let m = Memory {
            conns,
            sockets,
            ..m.clone()
        };
        out = Some(match out {
            None => m,
            Some(a) => add_memory(a, m),
        });
    }
    let all_nodes: BTreeSet<&str> = rs
        .iter()
        .filter(|r| r.memory.is_some())
        .map(|r| r.origin.node.as_str())
        .collect();
    out.map(|m| Memory {
        nodes: all_nodes.into_iter().map(str::to_string).collect(),
        ..m
    })
}

/// Two kernels' memory: every change summed, slab rows by cache name.
fn add_memory(a: Memory, b: Memory) -> Memory {
    let opt = |x: Option<i64>, y: Option<i64>| Some(x? + y?);
    let mut caches = a.slab_caches;
    for c in b.slab_caches {
        match caches.iter_mut().find(|x| x.name == c.name) {
            Some(x) => {
                x.objects += c.objects;
                x.bytes += c.bytes;
            }
            None => caches.push(c),
        }
    }
    caches.sort_by_key(|c| (c.name == "other", -c.bytes));
    let user = |x: &crate::report::model::UserMem, y: &crate::report::model::UserMem| {
        let rss = x.rss + y.rss;
        let conns = a.conns + b.conns;
        let some = |x: Option<i64>, y: Option<i64>| match (x, y) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        };
        crate::report::model::UserMem {
            rss,
            pss: opt(x.pss, y.pss),
            rss_per_conn: (conns > 0).then(|| rss as f64 / conns as f64),
            tls_heap: some(x.tls_heap, y.tls_heap),
            tls_conns: some(x.tls_conns.map(|n| n as i64), y.tls_conns.map(|n| n as i64))
                .map(|n| n as u64),
            ws_heap: some(x.ws_heap, y.ws_heap),
            ws_conns: some(x.ws_conns.map(|n| n as i64), y.ws_conns.map(|n| n as i64))
                .map(|n| n as u64),
        }
    };
    Memory {
        nodes: Vec::new(),
        conns: a.conns + b.conns,
        sockets: a.sockets + b.sockets,
        slab_unreadable: a.slab_unreadable.or(b.slab_unreadable),
        slab_caches: caches,
        slab_caches_total: opt(a.slab_caches_total, b.slab_caches_total),
        meminfo_slab: opt(a.meminfo_slab, b.meminfo_slab),
        meminfo_sunreclaim: opt(a.meminfo_sunreclaim, b.meminfo_sunreclaim),
        mem_available_drop: opt(a.mem_available_drop, b.mem_available_drop),
        tcp_mem_pages: a.tcp_mem_pages.zip(b.tcp_mem_pages).map(|(x, y)| x + y),
        servers: user(&a.servers, &b.servers),
        clients: user(&a.clients, &b.clients),
    }
}

/// A shard's sample at wall-clock time `at`: its last one at or before,
/// if any.
fn at(r: &Report, at: f64) -> Option<&Sample> {
    let t = at - r.origin.started_at;
    let i = r.timeline.partition_point(|s| s.t <= t + 1e-9);
    i.checked_sub(1).map(|i| &r.timeline[i])
}

/// Every shard's samples on one wall clock: at each instant any shard
/// sampled, each shard's last sample so far, added. Machine-wide readings
/// (MemAvailable, Slab) once per kernel; round-trip percentiles of an
/// interval cannot be merged without its histograms, so only the maximum
/// is kept.
fn timeline(rs: &[&Report]) -> Vec<Sample> {
    let begin = rs
        .iter()
        .map(|r| r.origin.started_at)
        .fold(f64::INFINITY, f64::min);
    let mut times: Vec<f64> = rs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|s| r.origin.started_at + s.t))
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    // A column every row has or none (the CSV's header is the first row's).
    let reconnecting = rs
        .iter()
        .any(|r| r.timeline.iter().any(|s| s.reconnects.is_some()));
    times
        .into_iter()
        .map(|when| {
            let now: Vec<(&Report, &Sample)> =
                rs.iter().filter_map(|r| Some((*r, at(r, when)?))).collect();
            let sum = |f: fn(&Sample) -> u64| now.iter().map(|(_, s)| f(s)).sum();
            let per_kernel = |f: fn(&Sample) -> Option<u64>| {
                let mut k: BTreeMap<String, u64> = BTreeMap::new();
                for (r, s) in &now {
                    if let Some(v) = f(s) {
                        k.insert(kernel_key(r), v);
                    }
                }
                (!k.is_empty()).then(|| k.values().sum())
            };
            let phase = if now.iter().any(|(_, s)| s.phase == Phase::Ramp) {
                Phase::Ramp
            } else if now.iter().any(|(_, s)| s.phase == Phase::Hold) {
                Phase::Hold
            } else if now.iter().any(|(_, s)| s.phase == Phase::RampDown) {
                Phase::RampDown
            } else {
                Phase::Teardown
            };
            Sample {
                // To the microsecond, as each run's own `t` is written.
                t: ((when - begin) * 1e6).round() / 1e6,
                phase,
                established: sum(|s| s.established),
                server_established: now
                    .iter()
                    .any(|(_, s)| s.server_established.is_some())
                    .then(|| sum(|s| s.servers())),
                connecting: sum(|s| s.connecting),
                failed: sum(|s| s.failed),
                closed: sum(|s| s.closed),
                mem_available: per_kernel(|s| s.mem_available),
                slab: per_kernel(|s| s.slab),
                rss: now.iter().filter_map(|(_, s)| s.rss).reduce(|a, b| a + b),
                sent: sum(|s| s.sent),
                replies: sum(|s| s.replies),
                rtt_p50_us: None,
                rtt_p99_us: None,
                rtt_max_us: now.iter().filter_map(|(_, s)| s.rtt_max_us).max(),
                target: None,
                reconnects: reconnecting
                    .then(|| now.iter().filter_map(|(_, s)| s.reconnects).sum()),
                retrying: reconnecting.then(|| now.iter().filter_map(|(_, s)| s.retrying).sum()),
            }
        })
        .collect()
}

/// The fewest held at once while every shard held: the sum of the shards'
/// samples at each instant all of them were in their hold.
fn min_during_hold(rs: &[&Report]) -> Option<u64> {
    if rs.iter().any(|r| r.held.min_during_hold.is_none()) {
        return None;
    }
    rs.iter()
        .flat_map(|r| {
            r.timeline
                .iter()
                .filter(|s| s.phase == Phase::Hold)
                .map(|s| r.origin.started_at + s.t)
        })
        .filter_map(|when| {
            rs.iter()
                .map(|r| at(r, when).filter(|s| s.phase == Phase::Hold))
                .map(|s| s.map(|s| s.established))
                .sum::<Option<u64>>()
        })
        .min()
}

fn workers(rs: &[&Report]) -> Workers {
    Workers {
        started: rs.iter().map(|r| r.workers.started).sum(),
        closed_cleanly: rs.iter().map(|r| r.workers.closed_cleanly).sum(),
        killed: rs.iter().map(|r| r.workers.killed).sum(),
        lost: rs
            .iter()
            .flat_map(|r| {
                r.workers
                    .lost
                    .iter()
                    .map(move |w| format!("{}: {w}", shard_name(r)))
            })
            .collect(),
    }
}

/// Interrupted if any shard was, else a worker's death if any, else a
/// `--abort-on-fail`, naming the shard; completed when all were.
fn end(rs: &[&Report]) -> End {
    let interrupted = rs.iter().find(|r| matches!(r.end, End::Interrupted { .. }));
    if let Some(r) = interrupted {
        return r.end.clone();
    }
    let died = rs.iter().find_map(|r| match &r.end {
        End::WorkerDied { why, during } => Some(End::WorkerDied {
            why: format!("{}: {why}", shard_name(r)),
            during: *during,
        }),
        _ => None,
    });
    let aborted = || {
        rs.iter().find_map(|r| match &r.end {
            End::Aborted { why } => Some(End::Aborted {
                why: format!("{}: {why}", shard_name(r)),
            }),
            _ => None,
        })
    };
    died.or_else(aborted).unwrap_or(End::Completed)
}

/// The merged report's own verdict, failed too when the shards' holds
/// did not overlap (`gap`, the reason), a shard fell short, or one is
/// missing from its split. An interruption's comes first.
fn verdict(merged: &Report, order: &[&(String, Report)], gap: Option<String>) -> Verdict {
    let own = judge::verdict(merged);
    if own.exit_code == EXIT_INTERRUPTED {
        return own;
    }
    if let Some(why) = gap {
        return Verdict {
            ok: false,
            exit_code: EXIT_SHORT,
            reason: Some(why),
        };
    }
    if !own.ok {
        return own;
    }
    let short: Vec<(u8, String)> = order
        .iter()
        .filter(|(_, r)| !r.verdict.ok)
        .map(|(file, r)| {
            let why = r.verdict.reason.as_deref().unwrap_or("not ok");
            let code = r.verdict.exit_code.max(EXIT_SHORT);
            (code, format!("{} ({file}): {why}", shard_name(r)))
        })
        .collect();
    if let Some((code, first)) = short.first() {
        let more = match short.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        // The first failed shard's code: 1 short, 3-6 a `--fail-if`
        // threshold.
        return Verdict {
            ok: false,
            exit_code: *code,
            reason: Some(format!("{first}{more}")),
        };
    }
    let count = order
        .iter()
        .find_map(|(_, r)| r.origin.shard.map(|s| s.count));
    if let Some(count) = count {
        let have: BTreeSet<u32> = order
            .iter()
            .filter_map(|(_, r)| r.origin.shard.map(|s| s.index))
            .collect();
        let missing: Vec<String> = (0..count)
            .filter(|i| !have.contains(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            return Verdict {
                ok: false,
                exit_code: EXIT_SHORT,
                reason: Some(match missing.as_slice() {
                    [one] => format!("shard {one} is missing: merge every shard's report"),
                    many => format!(
                        "shards {} are missing: merge every shard's report",
                        many.join(", ")
                    ),
                }),
            };
        }
    }
    own
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
