//! A real Slurm cluster in the lab (issue 11's "how it is tested here"):
//! `util::slurm` brings up slurmctld on the lab's server host and one
//! slurmd per client host; an array job of 3 tasks lands one task on each
//! of 3 lab client hosts, each task in its own host's network namespace
//! and under its own host name. Checked against what the task itself sees
//! (`hostname`, `ip -br addr`, Slurm's environment), not against Slurm's
//! word alone. Needs root; skipped otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::util::slurm::{SlurmLab, ended_tasks, processes_mentioning};

/// A batch step that writes what its host looks like from inside, to a
/// file per task (and to its output).
const STEP: &str = r#"
f="$C1M_SLURM_OUT/step-$SLURM_ARRAY_TASK_ID.txt"
{
  echo "hostname $(hostname)"
  echo "task $SLURM_ARRAY_TASK_ID"
  echo "count $SLURM_ARRAY_TASK_COUNT"
  ip -br addr
} > "$f.part"
mv "$f.part" "$f"
cat "$f"
"#;

/// What one step wrote.
#[derive(Debug)]
struct Step {
    host: String,
    task: u32,
    count: u32,
    /// The IPv4 addresses of its namespace but loopback's.
    addrs: BTreeSet<IpAddr>,
}

fn parse_step(text: &str) -> Step {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
            .trim()
            .to_string()
    };
    // `ip -br addr`: NAME STATE ADDR/LEN ADDR/LEN …
    let addrs = text
        .lines()
        .flat_map(|l| l.split_whitespace().skip(2))
        .filter_map(|a| a.split_once('/')?.0.parse::<IpAddr>().ok())
        .filter(|a| a.is_ipv4() && !a.is_loopback())
        .collect();
    Step {
        host: value("hostname"),
        task: value("task").parse().unwrap(),
        count: value("count").parse().unwrap(),
        addrs,
    }
}

/// One task per client host, each with its host's name and addresses,
/// indexes 0..k and count k.
fn check_steps(lab: &SlurmLab, steps: &[Step]) {
    let hosts: BTreeMap<&str, BTreeSet<IpAddr>> = lab
        .layout()
        .clients
        .iter()
        .map(|c| (c.netns.as_str(), c.addrs.iter().copied().collect()))
        .collect();
    let k = steps.len() as u32;
    let tasks: BTreeSet<u32> = steps.iter().map(|s| s.task).collect();
    assert_eq!(tasks, (0..k).collect(), "{steps:#?}");
    let seen: BTreeSet<&str> = steps.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(seen.len(), steps.len(), "two tasks on one host: {steps:#?}");
    for s in steps {
        assert_eq!(s.count, k, "{s:?}");
        let want = hosts
            .get(s.host.as_str())
            .unwrap_or_else(|| panic!("{} is no lab client host: {s:?}", s.host));
        assert_eq!(&s.addrs, want, "task {} on {}", s.task, s.host);
    }
}

#[test]
fn array_job_runs_one_task_in_each_lab_client_host() {
    let t0 = Instant::now();
    let Some(lab) = SlurmLab::start(3, 2) else {
        return;
    };
    let up = lab.up_took;
    let dir = lab.dir().to_path_buf();

    // sbatch --array --wait, as a user would: one task per node.
    let t1 = Instant::now();
    let (jobdir, script) = lab.job_files(STEP);
    let out = lab
        .slurm("sbatch")
        .args([
            "--array=0-2",
            "--nodes=1",
            "--ntasks=1",
            "--exclusive",
            "--wait",
        ])
        .arg(format!("--output={}/task-%a.out", jobdir.display()))
        .arg(format!("--chdir={}", dir.display()))
        .arg(&script)
        .env("C1M_SLURM_OUT", &jobdir)
        .output()
        .unwrap();
    let waited = t1.elapsed();
    assert!(
        out.status.success(),
        "sbatch --wait: {}{}\n{}",
        crate::util::text(&out.stdout),
        crate::util::text(&out.stderr),
        lab.logs()
    );
    let steps: Vec<Step> = (0..3)
        .map(|i| {
            let f = jobdir.join(format!("step-{i}.txt"));
            parse_step(
                &std::fs::read_to_string(&f)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.display(), lab.logs())),
            )
        })
        .collect();
    check_steps(&lab, &steps);

    // The helper the sharded test uses: the same, with Slurm's own record
    // of where each task ran.
    let t2 = Instant::now();
    let tasks = lab.run_array(3, STEP);
    let ran = t2.elapsed();
    assert_eq!(tasks.len(), 3);
    let steps: Vec<Step> = tasks
        .iter()
        .map(|t| {
            assert!(t.ok(), "{t:?}\n{}", lab.logs());
            let s = parse_step(&t.output);
            assert_eq!(s.task, t.task, "{t:?}");
            assert_eq!(s.host, t.node, "Slurm's BatchHost is the task's host name");
            s
        })
        .collect();
    check_steps(&lab, &steps);

    // A task that fails is reported as failed, with its exit status.
    let failed = lab.run_array(2, "echo on $(hostname); exit 3");
    assert_eq!(failed.len(), 2);
    for t in &failed {
        assert!(!t.ok(), "{t:?}");
        assert_eq!((t.state.as_str(), t.exit_code), ("FAILED", 3), "{t:?}");
        assert_eq!(t.output.trim(), format!("on {}", t.node), "{t:?}");
    }

    // A test that fails with the cluster up: the panic's unwinding takes
    // it down. No daemon, no process of a lab host, no namespace is left.
    let daemons = lab.daemon_pids();
    let hosts: Vec<String> = lab
        .layout()
        .namespaces()
        .into_iter()
        .map(String::from)
        .collect();
    let t3 = Instant::now();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _lab = lab;
        panic!("slurm lab: a test failing on purpose, the cluster up (expected)");
    }));
    let down = t3.elapsed();
    assert!(failed.is_err());
    assert!(
        crate::util::all_gone(&daemons, Duration::from_secs(1)),
        "daemons left: {daemons:?}"
    );
    let names = c1m_sys::netns::list().unwrap();
    assert!(
        !names.iter().any(|n| c1m::lab::plan::is_lab_netns(n)),
        "lab namespaces left: {names:?} (the lab had {hosts:?})"
    );
    let left = processes_mentioning(&dir.to_string_lossy());
    assert!(left.is_empty(), "processes of the cluster left: {left:?}");
    // Kept for the failure's inspection; not needed here.
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "slurm lab: up {up:.1?} (lab, munged, slurmctld, 3 slurmd idle, first scheduler pass); \
         sbatch --array=0-2 --wait {waited:.1?}; run_array(3) {ran:.1?}; down {down:.1?}; \
         test {:.1?}",
        t0.elapsed()
    );
}

/// `scontrol -o show job` of an array job whose task 0 ended, task 1 failed
/// and tasks 2-3 wait (Slurm 22.05's lines, most fields left out).
#[test]
fn ended_tasks_reads_scontrol_lines() {
    let text = "\
JobId=7 ArrayJobId=5 ArrayTaskId=0 JobName=job.sh JobState=COMPLETED Reason=None ExitCode=0:0 BatchHost=c1m-cli2 NumNodes=1
JobId=6 ArrayJobId=5 ArrayTaskId=1 JobName=job.sh JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 BatchHost=c1m-cli1 NumNodes=1
JobId=5 ArrayJobId=5 ArrayTaskId=2-3 JobName=job.sh JobState=PENDING Reason=Resources ExitCode=0:0 NumNodes=1
";
    let t = ended_tasks(text);
    assert_eq!(t.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert!(t[&0].ok());
    assert_eq!((t[&0].job_id, t[&0].node.as_str()), (7, "c1m-cli2"));
    assert!(!t[&1].ok());
    assert_eq!((t[&1].state.as_str(), t[&1].exit_code), ("FAILED", 3));
}
