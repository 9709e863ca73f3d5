use super::*;
use crate::report::fixtures::{counted, fixture, origin, sample};
use crate::report::model::SlabRow;

/// Shard `index` of `count` on `host` (its own network namespace) and
/// kernel `kernel`, started at `start` (Unix seconds): it held `held` of
/// `target` from 0.5 s to 2 s, counted by the kernel, with `slab` bytes of
/// slab.
fn shard(index: u32, count: u32, host: &str, kernel: &str, start: f64, held: u64) -> Report {
    let mut r = fixture("connect-mixed");
    let target = Shard::new(index, count).unwrap().part(10_001);
    r.origin = Origin {
        shard: Some(Shard::new(index, count).unwrap()),
        kernel: Some(kernel.into()),
        started_at: start,
        ramp_started_at: Some(start + 0.1),
        ..origin(host)
    };
    r.target = target;
    r.plan.conns = target;
    r.time_to_reach = Some(0.4);
    r.held = Held {
        reached: held,
        at_end: held,
        source: CountSource::Kernel,
        min_during_hold: Some(held),
    };
    let counted = counted(0, held, held, held);
    r.kernel = KernelCounts {
        at_top: counted.clone(),
        at_end: counted,
    };
    r.server_side.established = Some(held);
    r.server_side.accepted = Some(held);
    r.server_side.waiting = Some(0);
    r.timeline = [(0.25, Phase::Ramp, held / 2), (0.5, Phase::Hold, held)]
        .into_iter()
        .chain((1..=6).map(|i| (0.5 + 0.25 * i as f64, Phase::Hold, held)))
        .chain([(2.25, Phase::Teardown, 0)])
        .map(|(t, phase, n)| Sample {
            slab: Some(1_000_000 + n * 4_000),
            ..sample(t, phase, n)
        })
        .collect();
    let m = r.memory.as_mut().unwrap();
    m.conns = held;
    m.sockets = 2 * held;
    m.slab_caches = vec![SlabRow {
        name: "TCP".into(),
        objects: 2 * held as i64,
        bytes: 2 * held as i64 * 2_500,
    }];
    m.slab_caches_total = Some(2 * held as i64 * 4_000);
    r.closes = Closes::default();
    r.workers = Workers {
        started: 2,
        closed_cleanly: 2,
        killed: 0,
        lost: vec![],
    };
    r.latency = LatencyReport::of(&Latency::new());
    r.end = End::Completed;
    r.verdict = judge::verdict(&r);
    assert!(r.verdict.ok, "{:?}", r.verdict);
    r
}

fn files(rs: Vec<Report>) -> Vec<(String, Report)> {
    rs.into_iter()
        .enumerate()
        .map(|(i, r)| (format!("shard-{i}.json"), r))
        .collect()
}

fn three() -> Vec<(String, Report)> {
    files(
        (0..3)
            .map(|i| {
                let held = Shard::new(i, 3).unwrap().part(10_001);
                shard(i, 3, &format!("client-{i}"), &format!("k{i}"), 100.0, held)
            })
            .collect(),
    )
}

#[test]
fn counts_add_up_and_the_verdict_is_the_whole() {
    let m = merge(&three()).unwrap();
    assert_eq!(m.target, 10_001);
    assert_eq!(m.plan.conns, 10_001);
    assert_eq!((m.held.reached, m.held.at_end), (10_001, 10_001));
    assert_eq!(m.held.min_during_hold, Some(10_001));
    assert_eq!(m.kernel.at_end.sides(), Some((10_001, 10_001)));
    assert_eq!(m.server_side.established, Some(10_001));
    assert!(m.verdict.ok, "{:?}", m.verdict);
    let shards = m.merged.as_ref().unwrap();
    assert_eq!(shards.len(), 3);
    assert_eq!(
        shards.iter().map(|s| s.target).collect::<Vec<_>>(),
        [3_334, 3_334, 3_333]
    );
    assert_eq!(m.origin.host, "client-0,client-1,client-2");
    assert_eq!(m.origin.shard, None);
    assert_eq!(m.workers.started, 6);
    assert_eq!(m.label, "connect, 3 shards merged");
}

#[test]
fn the_order_of_the_files_does_not_matter() {
    let mut rs = three();
    let a = merge(&rs).unwrap();
    rs.reverse();
    let b = merge(&rs).unwrap();
    assert_eq!(a.target, b.target);
    assert_eq!(a.timeline, b.timeline);
    assert_eq!(
        a.merged
            .unwrap()
            .iter()
            .map(|s| s.shard)
            .collect::<Vec<_>>(),
        b.merged
            .unwrap()
            .iter()
            .map(|s| s.shard)
            .collect::<Vec<_>>()
    );
}

/// Percentiles of the merged report are those of one histogram of every
/// shard's samples, not an average of the shards' percentiles.
#[test]
fn histograms_add_exactly() {
    let mut rs = three();
    let mut all = Latency::new();
    let mut seed = 7u64;
    for (i, (_, r)) in rs.iter_mut().enumerate() {
        let mut l = Latency::new();
        for _ in 0..5_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Shard i's round trips are around 10^(i+2) µs: far apart.
            let us = 10u64.pow(i as u32 + 2) + (seed >> 40) % 1_000;
            Latency::record(&mut l.rtt, us);
            Latency::record(&mut all.rtt, us);
            Latency::record(&mut l.connect, us / 10);
            Latency::record(&mut all.connect, us / 10);
        }
        r.latency = LatencyReport {
            lost: 2,
            ..LatencyReport::of(&l)
        };
    }
    let m = merge(&rs).unwrap();
    let one = LatencyReport::of(&all);
    assert_eq!(m.latency.rtt, one.rtt);
    assert_eq!(m.latency.connect, one.connect);
    assert_eq!(m.latency.rtt.unwrap().count, 15_000);
    assert_eq!(m.latency.lost, 6);
    // Averaging the shards' p99 would say otherwise.
    let avg: u64 = rs
        .iter()
        .map(|(_, r)| r.latency.rtt.unwrap().p99)
        .sum::<u64>()
        / 3;
    assert_ne!(m.latency.rtt.unwrap().p99, avg);
}

/// Two shards on one kernel share its slab: counted once; a third kernel
/// adds its own.
#[test]
fn kernel_memory_counts_once_per_kernel() {
    let rs = files(vec![
        shard(0, 3, "pod-a", "node-1-boot", 100.0, 3_334),
        shard(1, 3, "pod-b", "node-1-boot", 100.0, 3_334),
        shard(2, 3, "pod-c", "node-2-boot", 100.0, 3_333),
    ]);
    let m = merge(&rs).unwrap().memory.unwrap();
    // One reading of node 1 (the larger, equal here) plus node 2's.
    assert_eq!(
        m.slab_caches_total,
        Some(2 * 3_334 * 4_000 + 2 * 3_333 * 4_000)
    );
    assert_eq!(m.sockets, 2 * 10_001);
    assert_eq!(m.conns, 10_001);
    // Every shard's node named once.
    assert_eq!(m.nodes, ["pod-a", "pod-b", "pod-c"]);
    let tcp = m.slab_caches.iter().find(|c| c.name == "TCP").unwrap();
    assert_eq!(tcp.objects, 2 * 3_334 + 2 * 3_333);
}

/// Two shards in one network namespace see one server: its count once.
#[test]
fn the_server_side_counts_once_per_namespace() {
    let rs = files(vec![
        shard(0, 2, "box", "k", 100.0, 5_001),
        shard(1, 2, "box", "k", 100.01, 5_000),
    ]);
    let mut rs = rs;
    // What each shard's count saw: the one server holding both shards',
    // both shards' client sockets on the endpoints, and its own.
    for (_, r) in &mut rs {
        r.server_side.established = Some(10_001);
        r.kernel.at_end = counted(0, r.held.at_end, 10_001, 10_001);
    }
    let m = merge(&rs).unwrap();
    assert_eq!(m.server_side.established, Some(10_001));
    // Everyone's on the endpoints once; each shard's own summed.
    assert_eq!(m.kernel.at_end.sides(), Some((10_001, 10_001)));
    assert_eq!(m.kernel.at_end.own(), Some((0, 10_001)));
    assert_eq!(m.kernel.at_end.others(CommandKind::Connect), Some(0));
    assert_eq!(m.held.at_end, 10_001);
}

/// Shards started at Unix times that floating point cannot subtract
/// exactly still merge into a timeline written to the microsecond, as
/// each run's own is (`8.298851`, not `8.298851623000001`).
#[test]
fn merged_times_are_written_to_the_microsecond() {
    let rs = files(vec![
        shard(0, 2, "a", "ka", 1_796_166_846.979_648, 5_001),
        shard(1, 2, "b", "kb", 1_796_166_848.277_981, 5_000),
    ]);
    let m = merge(&rs).unwrap();
    for s in &m.timeline {
        let text = serde_json::to_string(&s.t).unwrap();
        let decimals = text.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 6, "t written as {text}");
    }
    // Shard 1's ramp sample: 0.25 s after its start, 1.298333 s after
    // shard 0's.
    assert!(
        m.timeline.iter().any(|s| s.t == 1.548333),
        "{:?}",
        m.timeline.iter().map(|s| s.t).collect::<Vec<_>>()
    );
}

#[test]
fn timelines_align_on_the_wall_clock() {
    let rs = files(vec![
        shard(0, 2, "a", "ka", 100.0, 5_001),
        shard(1, 2, "b", "kb", 101.0, 5_000),
    ]);
    let m = merge(&rs).unwrap();
    let at = |t: f64| m.timeline.iter().find(|s| (s.t - t).abs() < 1e-6).unwrap();
    // Shard 0 holds from 0.5 s; shard 1 began 1 s later.
    assert_eq!(at(0.5).established, 5_001);
    // Shard 1 half way up its ramp.
    assert_eq!(at(1.25).established, 5_001 + 2_500);
    assert_eq!(at(1.5).established, 10_001);
    // Shard 0 torn down, shard 1 holding.
    assert_eq!(at(2.25).established, 5_000);
    assert_eq!(m.timeline.first().unwrap().t, 0.25);
    // Their holds overlapped from 1.5 s to 2 s.
    assert_eq!(m.held.reached, 10_001);
    assert_eq!(m.held.at_end, 10_001);
    assert_eq!(m.held.min_during_hold, Some(10_001));
    assert!(m.verdict.ok, "{:?}", m.verdict);
    // The earliest first connect to the last handshake's end.
    assert!((m.time_to_reach.unwrap() - 1.4).abs() < 1e-9);
    assert_eq!(m.origin.started_at, 100.0);
    // Slab per kernel, summed, at each instant: shard 0's torn down,
    // shard 1's holding.
    assert_eq!(at(2.5).slab, Some(1_000_000 + (1_000_000 + 5_000 * 4_000)));
}

/// Each shard's hold on the wall clock, from its origin and phases: its
/// first and last hold samples, and its teardown sample.
#[test]
fn a_hold_is_placed_on_the_wall_clock() {
    let r = shard(0, 2, "a", "ka", 100.0, 5_001);
    assert_eq!(
        hold_span(&r),
        Some(HoldSpan {
            began: 100.5,
            ended: 102.0,
            stopped: 102.25
        })
    );
    // `--hold 0s`: the end of the ramp, torn down at once.
    let mut r = shard(0, 2, "a", "ka", 100.0, 5_001);
    r.timeline.retain(|s| s.phase != Phase::Hold);
    assert_eq!(
        hold_span(&r),
        Some(HoldSpan {
            began: 100.25,
            ended: 100.25,
            stopped: 102.25
        })
    );
    r.timeline.clear();
    assert_eq!(hold_span(&r), None);
}

/// The trial's case: two shards run one after the other. Each held its
/// part, but never both at once: the merge says so and fails, and no
/// figure adds the two.
#[test]
fn shards_held_one_after_the_other_fail_the_merge() {
    let rs = files(vec![
        shard(0, 2, "a", "ka", 100.0, 5_001),
        shard(1, 2, "b", "kb", 112.05, 5_000),
    ]);
    for rs in [rs.clone(), rs.into_iter().rev().collect()] {
        let m = merge(&rs).unwrap();
        assert!(!m.verdict.ok);
        assert_eq!(m.verdict.exit_code, 1);
        // Shard 0 torn down at 102.25; shard 1 holding from 112.55.
        assert_eq!(
            m.verdict.reason.as_deref(),
            Some(
                "shard 1/2 began holding 10.3 s after shard 0/2 stopped: their connections were never held at once; start shards together with --start-at"
            )
        );
        assert_eq!(m.held.reached, 5_001);
        assert_eq!(m.held.at_end, 5_001);
        assert_eq!(m.held.source, CountSource::Kernel);
        assert_eq!(m.held.min_during_hold, None);
        // The shards' own figures stay theirs.
        let own: Vec<u64> = m.merged.unwrap().iter().map(|s| s.held_at_end).collect();
        assert_eq!(own, [5_001, 5_000]);
    }
}

/// Two shards held together, a third after them: what was held at once
/// is the two's, at the end of the first one's hold, from the timeline.
#[test]
fn of_three_shards_two_held_at_once() {
    let rs = files(vec![
        shard(0, 3, "a", "ka", 100.0, 3_334),
        shard(1, 3, "b", "kb", 101.0, 3_334),
        shard(2, 3, "c", "kc", 110.02, 3_333),
    ]);
    let m = merge(&rs).unwrap();
    assert_eq!(
        m.verdict.reason.as_deref(),
        Some(
            "shard 2/3 began holding 8.3 s after shard 0/3 stopped: their connections were never held at once; start shards together with --start-at"
        )
    );
    assert_eq!(m.held.reached, 6_668);
    // At 102 s, shard 0's end: its own 3,334 and shard 1's sample.
    assert_eq!(m.held.at_end, 6_668);
    assert_eq!(m.held.source, CountSource::Workers);
    assert_eq!(m.held.min_during_hold, None);
}

/// An interruption's verdict (exit 130) stays first.
#[test]
fn an_interrupted_shard_outranks_the_gap() {
    let mut rs = files(vec![
        shard(0, 2, "a", "ka", 100.0, 5_001),
        shard(1, 2, "b", "kb", 112.0, 5_000),
    ]);
    rs[1].1.end = End::Interrupted {
        signal: "SIGINT".into(),
        during: None,
    };
    let m = merge(&rs).unwrap();
    assert_eq!(m.verdict.exit_code, 130);
}

/// A shard that a `--fail-if` threshold failed (and `--abort-on-fail`
/// ended) fails the merge with its exit code, and the end says which.
#[test]
fn a_shards_failed_threshold_keeps_its_exit_code() {
    let mut rs = files(vec![
        shard(0, 2, "a", "ka", 100.0, 5_001),
        shard(1, 2, "b", "ka", 100.0, 5_000),
    ]);
    let why = "--fail-if errors>5 failed 1.0 s in: errors was 9";
    rs[1].1.end = End::Aborted { why: why.into() };
    rs[1].1.verdict = Verdict {
        ok: false,
        exit_code: 5,
        reason: Some(format!("--fail-if errors>5: 9 connections failed; {why}")),
    };
    let m = merge(&rs).unwrap();
    assert_eq!((m.verdict.ok, m.verdict.exit_code), (false, 5));
    assert!(
        m.verdict
            .reason
            .unwrap()
            .starts_with("shard 1/2 (shard-1.json): --fail-if errors>5")
    );
    assert_eq!(
        m.end,
        End::Aborted {
            why: format!("shard 1/2: {why}")
        }
    );
}

/// One run's report twice is refused, whatever its shard field says.
#[test]
fn one_run_twice_is_refused() {
    let mut r = fixture("connect-redis-cap");
    r.latency.histograms = Some(Latency::new().encode());
    let twice = vec![
        ("a.json".to_string(), r.clone()),
        ("b.json".into(), r.clone()),
    ];
    assert_eq!(
        merge(&twice).unwrap_err().to_string(),
        "a.json and b.json are one run's report (vm, started 2026-12-01T03:46:19.439Z): give each shard's report once"
    );
    let mut other = r.clone();
    other.origin.shard = Some(Shard::new(1, 2).unwrap());
    let mut one = r.clone();
    one.origin.shard = Some(Shard::new(0, 2).unwrap());
    let e = merge(&[("a.json".into(), one), ("b.json".into(), other)]).unwrap_err();
    assert!(matches!(e, MergeError::SameRun { .. }), "{e}");
    // Another run on the same host a moment later merges.
    let mut later = r.clone();
    later.origin.started_at += 0.001;
    assert!(merge(&[("a.json".into(), r), ("b.json".into(), later)]).is_ok());
}

/// Two shards on one kernel with one host name, each in its own network
/// namespace (`ip netns exec`, no UTS namespace): the endpoints' counts
/// of each namespace are added; in one namespace, taken once.
#[test]
fn network_namespaces_are_told_apart_by_inode() {
    let two = |ns: [Option<u64>; 2]| {
        let mut rs = files(vec![
            shard(0, 2, "vm", "k", 100.0, 5_001),
            shard(1, 2, "vm", "k", 100.01, 5_000),
        ]);
        for ((_, r), ns) in rs.iter_mut().zip(ns) {
            r.origin.netns = ns;
            // Each namespace's server side sees its own clients' only.
            r.server_side.established = Some(r.held.at_end);
            r.kernel.at_end = counted(0, r.held.at_end, r.held.at_end, r.held.at_end);
        }
        merge(&rs).unwrap()
    };
    let m = two([Some(4_026_531_840), Some(4_026_532_301)]);
    assert_eq!(m.kernel.at_end.sides(), Some((10_001, 10_001)));
    assert_eq!(m.kernel.at_end.own(), Some((0, 10_001)));
    assert_eq!(m.server_side.established, Some(10_001));
    assert_eq!(m.origin.netns, None);
    // One namespace: its reading once (the larger).
    let m = two([Some(4_026_531_840), Some(4_026_531_840)]);
    assert_eq!(m.kernel.at_end.sides(), Some((5_001, 5_001)));
    assert_eq!(m.origin.netns, Some(4_026_531_840));
    // Without the inode, one host name is one namespace, as before.
    let m = two([None, None]);
    assert_eq!(m.server_side.established, Some(5_001));
}

#[test]
fn a_short_or_missing_shard_fails_the_merge() {
    let mut rs = three();
    rs[1].1.held.at_end = 3_000;
    rs[1].1.verdict = judge::verdict(&rs[1].1);
    let m = merge(&rs).unwrap();
    assert!(!m.verdict.ok);
    assert_eq!(m.verdict.exit_code, 1);
    let why = m.verdict.reason.unwrap();
    assert!(why.starts_with("held 9,667 of 10,001"), "{why}");

    let mut rs = three();
    rs.remove(2);
    let m = merge(&rs).unwrap();
    assert_eq!(
        m.verdict.reason.as_deref(),
        Some("shard 2/3 is missing: merge every shard's report")
    );
}

#[test]
fn what_cannot_be_merged_is_named() {
    let mut rs = three();
    rs[2].1.origin.shard = Some(Shard::new(1, 3).unwrap());
    assert_eq!(
        merge(&rs).unwrap_err().to_string(),
        "shard 1/3 is in both shard-1.json and shard-2.json"
    );
    let mut rs = three();
    rs[1].1.origin.shard = Some(Shard::new(1, 4).unwrap());
    assert_eq!(
        merge(&rs).unwrap_err().to_string(),
        "shard-1.json is shard 1/4, but shard-0.json is of 3 shards: merge one split's shards"
    );
    let mut rs = three();
    rs[0].1.latency.histograms = None;
    assert!(matches!(merge(&rs), Err(MergeError::NoHistograms(f)) if f == "shard-0.json"));
    let mut rs = three();
    rs[2].1.latency.histograms.as_mut().unwrap().rtt = "?".into();
    assert!(matches!(merge(&rs), Err(MergeError::BadHistograms(f)) if f == "shard-2.json"));
    let mut rs = three();
    rs[1].1.command = CommandKind::Run;
    assert_eq!(
        merge(&rs).unwrap_err().to_string(),
        "shard-1.json is a run report, shard-0.json a connect report: merge shards of one command"
    );
    let mut rs = three();
    rs[0].1.command = CommandKind::FindLimit;
    rs[1].1.command = CommandKind::FindLimit;
    rs[2].1.command = CommandKind::FindLimit;
    assert!(matches!(merge(&rs), Err(MergeError::Search(_))));
    assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
}

/// One whole run merges into itself: the figures stay.
#[test]
fn one_report_merges_into_itself() {
    let mut r = fixture("run-fanout");
    r.latency.histograms = Some(Latency::new().encode());
    let m = merge(&[("run.json".into(), r.clone())]).unwrap();
    assert_eq!(m.target, r.target);
    assert_eq!(m.held.at_end, r.held.at_end);
    assert_eq!(m.kernel.at_end, r.kernel.at_end);
    assert_eq!(m.timeline.len(), r.timeline.len());
    assert_eq!(m.plan.endpoints, r.plan.endpoints);
    assert_eq!(m.plan.servers, r.plan.servers);
    assert_eq!(
        m.memory.as_ref().unwrap().slab_caches,
        r.memory.as_ref().unwrap().slab_caches
    );
    assert_eq!(m.verdict, r.verdict);
}

/// The summary names every shard and how it did.
#[test]
fn the_summary_lists_the_shards() {
    let mut rs = three();
    rs[1].1.held.at_end = 3_000;
    rs[1].1.verdict = judge::verdict(&rs[1].1);
    let text = crate::report::text::summary(&merge(&rs).unwrap());
    assert!(text.contains("shards merged                3 from client-0,client-1,client-2 (kernel memory once per kernel: 3 nodes on 3 kernels)"), "{text}");
    // The lab's hosts, or pods on one machine: one kernel, one slab.
    let mut shared = rs.clone();
    for (_, r) in &mut shared {
        r.origin.kernel = Some("k0".into());
    }
    let text = crate::report::text::summary(&merge(&shared).unwrap());
    assert!(
        text.contains("(kernel memory once per kernel: 3 nodes on 1 kernel)"),
        "{text}"
    );
    assert!(
        text.contains(
            "0/3                        client-0: held 3,334 of 3,334 (shard-0.json) — OK"
        ),
        "{text}"
    );
    assert!(text.contains("1/3                        client-1: held 3,000 of 3,334 (shard-1.json) — FAIL: held 3,000 of 3,334"), "{text}");
}
