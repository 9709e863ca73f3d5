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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use c1m::lab::plan::SERVER_NETNS;

use crate::util::slurm::SlurmLab;
use crate::util::{self, text};

/// The server's ports: 4, so that a shard's 33,334 connections from one
/// source address stay well inside the port range per (source,
/// destination) pair.
const PORTS: (u16, u16) = (8290, 8293);
const TOTAL: u64 = 100_002;
const SHARDS: usize = 3;

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

#[test]
fn shards_on_slurm_merge_into_what_the_server_holds() {
    let Some(lab) = SlurmLab::start(SHARDS, 2) else {
        return;
    };
    let c1m = env!("CARGO_BIN_EXE_c1m");
    let server = lab.server_addr();
    let mut serve = lab.on_host(SERVER_NETNS, c1m);
    serve
        .args([
            "serve",
            "--listen",
            &format!("{server}:{}-{}", PORTS.0, PORTS.1),
        ])
        .args(["--max-conns", "200000", "--hold", "10m"])
        .stdout(Stdio::null());
    let mut serve = util::spawn_cmd(serve);
    serve.wait_line("hold", Duration::from_secs(30));

    // The server side, read by ss every 250 ms while the shards run.
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::<u64>::new());
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 4;
    let script = format!(
        "exec {c1m} connect {server}:{}-{} -n {TOTAL} --hold 6s \
         --mode heartbeat --interval 2s --start-at @{start} --json -\n",
        PORTS.0, PORTS.1
    );
    let tasks = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let n = server_side(&lab);
                seen.lock().unwrap().push(n);
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let tasks = lab.run_array(SHARDS, &script);
        stop.store(true, Ordering::Relaxed);
        tasks
    });
    let _ = serve.interrupt(Duration::from_secs(60));

    // Each task's log, as a scheduler keeps it: stdout and stderr mixed.
    let dir = lab.dir().join("logs-as-collected");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for t in &tasks {
        assert!(t.ok(), "task {}: {}\n{}", t.task, t.state, t.output);
        let f = dir.join(format!("shard-{}.log", t.task));
        std::fs::write(&f, &t.output).unwrap();
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
    let most = seen.lock().unwrap().iter().copied().max().unwrap_or(0);
    assert_eq!(
        most,
        TOTAL,
        "ss on the server host: {:?}",
        seen.lock().unwrap()
    );
    assert_eq!(m["target"], TOTAL);
    assert_eq!(m["held"]["at_end"], TOTAL, "{summary}");
    assert_eq!(m["kernel"]["at_end"]["client_side"], TOTAL);
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
    for t in &tasks {
        let line = t
            .output
            .lines()
            .find(|l| l.starts_with('{'))
            .expect("the task's report line");
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
