//! Issue 11's end-to-end test: one run split over a real Slurm cluster.
//! An array job of 3 tasks, one on each lab client host (its own network
//! and UTS namespace), runs `c1m connect` with the shard taken from
//! Slurm's variables and `--start-at` one instant for all; `c1m serve`
//! holds them on the lab's server host. Each task prints its report on
//! stdout (`--json -`) into its Slurm log, as `kubectl logs` would show
//! it; `c1m merge` of the three logs must equal the server host's own
//! count, read by `ss` in its namespace while the shards hold, and the
//! merged percentiles must equal those of one histogram of every shard's
//! samples, decoded here with hdrhistogram. Needs root; skipped otherwise.

use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde::Deserialize as _;

use c1m::lab::plan::SERVER_NETNS;

use crate::util::slurm::SlurmLab;
use crate::util::{self, text};

/// The server's ports: 4, so that a shard's 33,334 connections from one
/// source address stay well inside the port range per (source,
/// destination) pair.
const PORTS: (u16, u16) = (8290, 8293);
const TOTAL: u64 = 100_002;
const SHARDS: usize = 3;
/// Each shard's hold: the shards start their ramps at one instant, so
/// they all hold for most of it, and the server side is read every
/// 250 ms meanwhile; two heartbeats each.
const HOLD: &str = "6s";
/// `--start-at` this many seconds from now: time for the shards to
/// start their workers (a Slurm task starts within a second of sbatch).
const START_IN: f64 = 3.0;

/// ESTABLISHED sockets whose local port is one of [`PORTS`] on the server host:
/// the server side as its kernel counts it.
fn server_side(lab: &SlurmLab) -> u64 {
    let out = lab
        .on_host(SERVER_NETNS, "ss")
        .args(["-Htn", "state", "established"])
        .arg(format!(
            "( sport >= :{} and sport <= :{} )",
            PORTS.0, PORTS.1
        ))
        .output()
        .expect("ss in the server host");
    assert!(out.status.success(), "ss: {}", text(&out.stderr));
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64
}

fn decode(b64: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("an HdrHistogram V2 blob")
}

/// `c1m serve` on the lab's server host, ready.
fn serve(lab: &SlurmLab) -> util::Running {
    let mut serve = lab.on_host(SERVER_NETNS, env!("CARGO_BIN_EXE_c1m"));
    serve
        .args(["serve", "--listen", &endpoints(lab)])
        .args(["--max-conns", "200000", "--hold", "10m"])
        .stdout(Stdio::null());
    let mut serve = util::spawn_cmd(serve);
    serve.wait_line("hold", Duration::from_secs(30));
    serve
}

/// The server's endpoints, `198.18.0.1:8290-8293`.
fn endpoints(lab: &SlurmLab) -> String {
    format!("{}:{}-{}", lab.server_addr(), PORTS.0, PORTS.1)
}

/// Runs `shards` (which returns each shard's log) while reading the
/// server side with ss every 250 ms; returns the logs and the most the
/// server held at once.
fn while_watching(lab: &SlurmLab, shards: impl FnOnce() -> Vec<String>) -> (Vec<String>, u64) {
    let stop = AtomicBool::new(false);
    // (ms since the watch began, established on the server host)
    let seen = Mutex::new(Vec::<(u128, u64)>::new());
    let t0 = std::time::Instant::now();
    let logs = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let n = server_side(lab);
                seen.lock().unwrap().push((t0.elapsed().as_millis(), n));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let logs = shards();
        stop.store(true, Ordering::Relaxed);
        logs
    });
    let seen = seen.into_inner().unwrap();
    let most = seen.iter().map(|&(_, n)| n).max().unwrap_or(0);
    assert_eq!(
        most, TOTAL,
        "ss on the server host while the shards held, (ms, ESTABLISHED): {seen:?}"
    );
    (logs, most)
}

/// Merges the shards' logs with `c1m merge` and checks the merged report
/// against the server's count and against one histogram of every
/// shard's samples.
fn check_merge(lab: &SlurmLab, logs: &[String], server_held: u64) {
    // Each log as a scheduler keeps it: stdout and stderr mixed.
    let dir = lab.dir().join(format!("logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let f = dir.join(format!("shard-{i}.log"));
        std::fs::write(&f, log).unwrap();
        files.push(f);
    }
    let merged_path = dir.join("merged.json");
    let out = util::c1m()
        .arg("merge")
        .args(&files)
        .arg("--json")
        .arg(&merged_path)
        .output()
        .unwrap();
    let summary = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{summary}\n{}",
        text(&out.stderr)
    );
    let m = util::read_json(&merged_path);
    eprintln!("{summary}");

    // The server's own kernel held every shard's connections at once, and
    // the merged report says exactly that many.
    assert_eq!(m["target"], TOTAL);
    assert_eq!(m["held"]["at_end"], server_held, "{summary}");
    assert_eq!(m["kernel"]["at_end"]["client_side"], server_held);
    assert_eq!(m["verdict"]["ok"], true);

    // Three shards, one per host, their parts the split of -n.
    let shards = m["merged"].as_array().unwrap();
    let parts: Vec<u64> = shards
        .iter()
        .map(|s| s["target"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, [33_334, 33_334, 33_334]);
    let hosts: std::collections::BTreeSet<&str> =
        shards.iter().map(|s| s["host"].as_str().unwrap()).collect();
    assert_eq!(hosts.len(), SHARDS, "{shards:?}");
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["index"], i as u64);
        assert_eq!(s["shard"]["count"], SHARDS as u64);
    }
    // One kernel under every lab host: its memory counted once.
    assert_eq!(m["memory"]["nodes"].as_array().unwrap().len(), SHARDS);
    assert!(!m["origin"]["kernel"].as_str().unwrap().contains(','));

    // The merged percentiles are one histogram's of every shard's samples.
    let mut all_rtt: Option<Histogram<u64>> = None;
    let mut all_connect: Option<Histogram<u64>> = None;
    for log in logs {
        let line = log
            .lines()
            .find(|l| l.starts_with('{'))
            .expect("the shard's report line");
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let h = &r["latency"]["histograms"];
        for (all, key) in [(&mut all_rtt, "rtt"), (&mut all_connect, "connect")] {
            let one = decode(h[key].as_str().unwrap());
            match all {
                Some(a) => a.add(&one).unwrap(),
                None => *all = Some(one),
            }
        }
    }
    for (all, key) in [(all_rtt.unwrap(), "rtt"), (all_connect.unwrap(), "connect")] {
        let p = &m["latency"][key];
        assert_eq!(p["count"], all.len(), "{key}");
        for (q, field) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")] {
            assert_eq!(p[field], all.value_at_quantile(q), "{key} {field}");
        }
        assert_eq!(p["max"], all.max(), "{key}");
    }
    assert!(
        m["latency"]["rtt"]["count"].as_u64().unwrap() > 0,
        "{summary}"
    );
}

#[test]
fn shards_on_slurm_merge_into_what_the_server_holds() {
    let Some(lab) = SlurmLab::start(SHARDS, 2) else {
        return;
    };
    let c1m = env!("CARGO_BIN_EXE_c1m");
    let serve = serve(&lab);
    // The shard comes from Slurm's variables: no --shard.
    let script = format!(
        "exec {c1m} connect {} -n {TOTAL} --hold {HOLD} \
         --mode heartbeat --interval 2s --start-at {} --json -\n",
        endpoints(&lab),
        util::start_in(START_IN)
    );
    let (logs, held) = while_watching(&lab, || {
        lab.run_array(SHARDS, &script)
            .into_iter()
            .map(|t| {
                assert!(t.ok(), "task {}: {}\n{}", t.task, t.state, t.output);
                t.output
            })
            .collect()
    });
    let _ = serve.interrupt(Duration::from_secs(60));
    check_merge(&lab, &logs, held);
}

/// The Kubernetes Job `c1m k8s job` prints, its pods' exact commands run
/// as Kubernetes would run them: each in its own host (a lab client
/// namespace standing for a node), `$(JOB_COMPLETION_INDEX)` expanded,
/// `NODE_NAME` from the downward API; their logs merged.
#[test]
fn k8s_pod_commands_merge_into_what_the_server_holds() {
    // The lab's hosts stand for nodes; no Slurm (the pods are run here).
    let Some(lab) = SlurmLab::hosts(SHARDS, 2) else {
        return;
    };
    let manifest = util::c1m()
        .args(["k8s", "job", "--target", &endpoints(&lab)])
        .args(["-n", &TOTAL.to_string(), "--shards", &SHARDS.to_string()])
        .args(["--hold", HOLD, "--start-at", &util::start_in(START_IN)])
        .args(["--", "--mode", "heartbeat", "--interval", "2s"])
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{}", text(&manifest.stderr));
    let job = yaml_serde::Deserializer::from_str(&text(&manifest.stdout))
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "Job")
        .expect("a Job in the manifest");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<String> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(container["args"].as_array().unwrap())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command[0], "c1m");
    let serve = serve(&lab);
    let hosts: Vec<String> = lab
        .layout()
        .clients
        .iter()
        .map(|c| c.netns.clone())
        .collect();
    let (logs, held) = while_watching(&lab, || {
        std::thread::scope(|s| {
            let pods: Vec<_> = hosts
                .iter()
                .take(SHARDS)
                .enumerate()
                .map(|(index, host)| {
                    // Kubernetes' expansion: $(VAR) from the env, $$ is $.
                    let args: Vec<String> = command[1..]
                        .iter()
                        .map(|a| {
                            a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
                                .replace("$$", "$")
                        })
                        .collect();
                    // A pod's own UTS namespace, its host name the pod's.
                    let mut pod = lab.on_host(host, "unshare");
                    pod.args(["--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\""])
                        .arg(format!("c1m-{index}"))
                        .arg(env!("CARGO_BIN_EXE_c1m"))
                        .args(&args)
                        .env("JOB_COMPLETION_INDEX", index.to_string())
                        .env("NODE_NAME", host);
                    s.spawn(move || {
                        let out = pod.output().unwrap();
                        assert_eq!(
                            out.status.code(),
                            Some(0),
                            "pod {index}: {}",
                            text(&out.stderr)
                        );
                        format!("{}{}", text(&out.stderr), text(&out.stdout))
                    })
                })
                .collect();
            pods.into_iter().map(|p| p.join().unwrap()).collect()
        })
    });
    let _ = serve.interrupt(Duration::from_secs(60));
    check_merge(&lab, &logs, held);
}
