//! The script `c1m slurm job` prints, submitted as it is (`sbatch FILE`,
//! its own `#SBATCH` lines) to the lab's real Slurm cluster: every array
//! task runs on its own lab client host against `c1m serve` on the
//! server host, writes its report where the script's comments say, and
//! `c1m merge` of those reports holds the whole run. Needs root (the
//! lab); skipped otherwise.

use std::process::Stdio;
use std::time::Duration;

use c1m::lab::plan::SERVER_NETNS;

use crate::util::slurm::SlurmLab;
use crate::util::{self, text};

const PORTS: (u16, u16) = (8390, 8391);
const TOTAL: u64 = 3_000;
const SHARDS: u32 = 3;

#[test]
fn the_generated_script_runs_on_a_real_slurm_cluster() {
    let Some(lab) = SlurmLab::start(SHARDS as usize, 1) else {
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
        .args(["--max-conns", "10000", "--hold", "10m"])
        .stdout(Stdio::null());
    let mut serve = util::spawn_cmd(serve);
    serve.wait_line("hold", Duration::from_secs(30));

    let reports = lab.dir().join("c1m-slurm-job");
    std::fs::create_dir_all(&reports).unwrap();
    let out = util::c1m()
        .args(["slurm", "job", "--target"])
        .arg(format!("{server}:{}-{}", PORTS.0, PORTS.1))
        .args(["-n", &TOTAL.to_string(), "--shards", &SHARDS.to_string()])
        // The tasks' holds must overlap for the merge to add them up:
        // every task starts its ramp at one instant, 3 s from now (a
        // task starts within a second of sbatch: the scheduler has made
        // its first pass).
        .args(["--hold", "2s", "--start-at"])
        .arg(util::start_in(3.0))
        .arg("--output-dir")
        .arg(&reports)
        .args(["--c1m", c1m])
        .output()
        .unwrap();
    assert!(out.status.success(), "c1m slurm job: {}", text(&out.stderr));
    let (_, script) = lab.job_files(&text(&out.stdout));

    // As a user would: sbatch FILE, nothing else on its command line
    // but the job id printed alone; then the test waits for its tasks.
    let out = lab
        .slurm("sbatch")
        .arg("--parsable")
        .arg(&script)
        .current_dir(lab.dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sbatch: {}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    let job = text(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let tasks = lab.wait_array(job.parse().unwrap(), SHARDS as usize);
    let _ = serve.interrupt(Duration::from_secs(60));
    let logs = |i: u32| {
        std::fs::read_to_string(reports.join(format!("c1m-{job}_{i}.log"))).unwrap_or_default()
    };
    assert!(
        tasks.iter().all(|t| t.ok()),
        "the tasks: {tasks:?}\n{}\n{}",
        (0..SHARDS).map(logs).collect::<Vec<_>>().join("\n"),
        lab.logs()
    );

    let mut files = Vec::new();
    let mut hosts = std::collections::BTreeSet::new();
    for i in 0..SHARDS {
        let f = reports.join(format!("c1m-{job}_{i}.json"));
        let r = util::read_json(&f);
        assert_eq!(r["origin"]["shard"]["index"], i, "{}", logs(i));
        assert_eq!(r["origin"]["shard"]["count"], SHARDS);
        assert_eq!(
            r["held"]["at_end"],
            TOTAL / u64::from(SHARDS),
            "{}",
            logs(i)
        );
        hosts.insert(r["origin"]["host"].as_str().unwrap().to_string());
        assert!(logs(i).contains(&format!("c1m shard {i}/{SHARDS} on ")));
        files.push(f);
    }
    assert_eq!(hosts.len(), SHARDS as usize, "one task per node: {hosts:?}");
    let merged = util::c1m().arg("merge").args(&files).output().unwrap();
    assert_eq!(
        merged.status.code(),
        Some(0),
        "c1m merge: {}{}",
        text(&merged.stdout),
        text(&merged.stderr)
    );
}
