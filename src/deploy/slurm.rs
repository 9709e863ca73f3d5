//! `c1m slurm job`: a Slurm batch script for K client shards as one array
//! job (`sbatch --array=0-(K-1)`), each task on a node of its own, each
//! writing its report to `DIR/NAME-JOBID_TASK.json` for `c1m merge`.
//!
//! Each task runs `c1m connect … --shard ${SLURM_ARRAY_TASK_ID}/K`: the
//! count is written out rather than read from `SLURM_ARRAY_TASK_COUNT`
//! so that a shard re-submitted alone (`sbatch --array=3 FILE`) is still
//! shard 3 of K. [`task_command`] gives the command a task runs, with
//! the job id and index filled in.
//!
//! Sysctls are node-level for a batch job (it runs as its user in the
//! node's namespaces): the script says what the nodes need, and uses
//! `--port-range` only to check the arithmetic.

use c1m_limits::num::thousands;

use super::k8s::KERNEL_PORT_RANGE;
use super::{DeployError, Load, Manifest, sh_quote};

/// The `#SBATCH` options the script may write, as `sbatch --help` of
/// Slurm 22.05–24.11 lists them (tests check them against the installed
/// `sbatch` when there is one).
pub const SBATCH_OPTIONS: &[&str] = &[
    "job-name",
    "array",
    "nodes",
    "ntasks",
    "exclusive",
    "mem",
    "output",
    "partition",
    "account",
    "time",
];

/// Where and how the array job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slurm {
    /// `--job-name`, and the prefix of the report and log files.
    pub job_name: String,
    /// `--partition`, when not the cluster's default.
    pub partition: Option<String>,
    /// `--account`, when one must be charged.
    pub account: Option<String>,
    /// `--time` (`30`, `1:00:00`, `1-0`), when not the partition's default.
    pub time: Option<String>,
    /// Where reports and logs go: a directory every node sees (shared
    /// file system); relative to the submit directory.
    pub output_dir: String,
    /// The c1m program on the nodes (`c1m`: on `PATH`).
    pub program: String,
    /// The nodes' `net.ipv4.ip_local_port_range`, for the ports
    /// arithmetic; `None`: the kernel's default, 32768–60999.
    pub port_range: Option<(u16, u16)>,
}

impl Default for Slurm {
    fn default() -> Self {
        Self {
            job_name: "c1m".into(),
            partition: None,
            account: None,
            time: None,
            output_dir: ".".into(),
            program: "c1m".into(),
            port_range: None,
        }
    }
}

/// A client run on Slurm.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSpec {
    /// What the shards do, in whole-run figures.
    pub load: Load,
    /// Where and how.
    pub slurm: Slurm,
}

impl Slurm {
    /// Local ports each task has: the nodes' range as given, else the
    /// kernel's default.
    pub fn local_ports(&self) -> u64 {
        let (lo, hi) = self.port_range.unwrap_or(KERNEL_PORT_RANGE);
        u64::from(hi.saturating_sub(lo)) + 1
    }

    /// The report of task `task` of array job `job_id`:
    /// `DIR/NAME-JOBID_TASK.json`.
    pub fn report_path(&self, job_id: &str, task: &str) -> String {
        format!("{}/{}-{job_id}_{task}.json", self.output_dir, self.job_name)
    }
}

/// Checks the Slurm options.
///
/// # Errors
/// [`DeployError::BadValue`] for a job name, partition, account or
/// output directory with characters an `#SBATCH` line or a file name
/// pattern would misread (whitespace, `#`, `%`, quotes, `$`), or a
/// `--time` sbatch would refuse.
pub fn check_slurm(s: &Slurm) -> Result<(), DeployError> {
    let word = |what: &str, v: &str, extra: &[char]| {
        let ok = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(&c));
        if ok {
            Ok(())
        } else {
            Err(DeployError::BadValue(format!(
                "{what} {v:?}: use only letters, digits, '-', '_', '.'{}",
                if extra.is_empty() { "" } else { " and '/'" }
            )))
        }
    };
    word("--job-name", &s.job_name, &[])?;
    if let Some(p) = &s.partition {
        word("--partition", p, &[])?;
    }
    if let Some(a) = &s.account {
        word("--account", a, &[])?;
    }
    word("--output-dir", &s.output_dir, &['/'])?;
    if s.program.is_empty() || s.program.contains(char::is_whitespace) {
        return Err(DeployError::BadValue(format!(
            "--c1m {:?}: give a program name or path without spaces (e.g. /usr/local/bin/c1m)",
            s.program
        )));
    }
    if let Some(t) = &s.time
        && !is_slurm_time(t)
    {
        return Err(DeployError::BadValue(format!(
            "--time {t:?}: write minutes (30), MM:SS, HH:MM:SS, or days-HH[:MM[:SS]] (1-12)"
        )));
    }
    Ok(())
}

/// sbatch's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn is_slurm_time(t: &str) -> bool {
    let nums = |s: &str, max_parts: usize| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= max_parts
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match t.split_once('-') {
        Some((days, rest)) => nums(days, 1) && nums(rest, 3),
        None => nums(t, 3),
    }
}

/// The batch script: `#SBATCH` lines, what the nodes need, and the task.
///
/// # Errors
/// Whatever [`check_slurm`] and [`Load::check`] refuse.
pub fn batch_script(spec: &SlurmSpec) -> Result<Manifest, DeployError> {
    let s = &spec.slurm;
    let load = &spec.load;
    check_slurm(s)?;
    let mut notes = load.check(s.local_ports())?;
    let k = load.shards;
    let per_task = load.largest_shard();
    let per_pair = per_task.div_ceil(load.endpoints().max(1));
    let mut out = String::from("#!/bin/bash\n");
    let mut sbatch = vec![
        format!("--job-name={}", s.job_name),
        format!("--array=0-{}", k - 1),
        "--nodes=1".into(),
        "--ntasks=1".into(),
        "--exclusive".into(),
        "--mem=0".into(),
        format!("--output={}/{}-%A_%a.log", s.output_dir, s.job_name),
    ];
    if let Some(p) = &s.partition {
        sbatch.push(format!("--partition={p}"));
    }
    if let Some(a) = &s.account {
        sbatch.push(format!("--account={a}"));
    }
    if let Some(t) = &s.time {
        sbatch.push(format!("--time={t}"));
    }
    for o in &sbatch {
        out += &format!("#SBATCH {o}\n");
    }
    let targets: Vec<&str> = load.targets.iter().map(|t| t.as_str()).collect();
    let merge = format!("{} merge {}", s.program, s.report_path("JOBID", "*"));
    let range = match s.port_range {
        Some((lo, hi)) => format!("{lo}-{hi}, as given"),
        None => format!(
            "the kernel's default {}-{} assumed",
            KERNEL_PORT_RANGE.0, KERNEL_PORT_RANGE.1
        ),
    };
    let comments = [
        format!(
            "c1m slurm job: {} connections to {} in {k} shards (up to {} per task), held {}.",
            thousands(load.conns),
            targets.join(" "),
            thousands(per_task),
            super::duration_arg(load.hold)
        ),
        format!(
            "Made by c1m {}. Submit: mkdir -p {} (on a filesystem every node sees: Slurm opens",
            env!("CARGO_PKG_VERSION"),
            s.output_dir
        ),
        "the --output log there before the task runs), then sbatch FILE (tasks run in the submit directory).".into(),
        match &load.start_at {
            Some(t) => format!("Every task starts its ramp at {t} (--start-at): submit before then."),
            None => "The tasks ramp as Slurm starts them: c1m merge adds up only holds that overlapped (--start-at starts them together).".into(),
        },
        "One task per node (--exclusive, all its memory): the node's ports, descriptors and".into(),
        "kernel memory are the shard's. A task re-run alone (sbatch --array=3 FILE) is still shard 3".into(),
        "(its report then carries the new job's id).".into(),
        "What the nodes need (node-level, no job can set it):".into(),
        format!(
            "  net.ipv4.ip_local_port_range with ≥ {} ports, ≥ {} to stay within c1m's per-pair budget ({range});",
            thousands(per_pair),
            thousands(per_pair * 2)
        ),
        format!(
            "  fds and memory for {} sockets: run c1m doctor --target {per_task} --role client on a node.",
            thousands(per_task)
        ),
        "After every task has ended, merge the reports (JOBID: the number sbatch printed):".into(),
        format!("  {merge}"),
    ];
    for c in &comments {
        out += &format!("# {c}\n");
    }
    let program = sh_quote(&s.program);
    // The directory and name are plain words (check_slurm), safe inside
    // double quotes.
    let report = format!(
        "{}/{}-${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.json",
        s.output_dir, s.job_name
    );
    out += "set -euo pipefail\n";
    out += &format!(
        "command -v {program} >/dev/null || {{ echo \"{}: not found on $(hostname)\" >&2; exit 2; }}\n",
        s.program
    );
    out += &format!("report=\"{report}\"\n");
    out += &format!(
        "echo \"c1m shard ${{SLURM_ARRAY_TASK_ID}}/{k} on $(hostname): report in $report\" >&2\n"
    );
    let args: Vec<String> = load
        .connect_args("SHARD", "REPORT")
        .iter()
        .map(|a| match a.as_str() {
            "SHARD" => format!("\"${{SLURM_ARRAY_TASK_ID}}/{k}\""),
            "REPORT" => "\"$report\"".into(),
            _ => sh_quote(a),
        })
        .collect();
    out += &format!("exec {program} {}\n", args.join(" "));
    notes.push(format!(
        "submit: sbatch FILE; after every task has ended: {merge} (JOBID: the number sbatch prints)"
    ));
    Ok(Manifest { text: out, notes })
}

/// The exact command array task `task` of job `job_id` runs: the program
/// and its arguments, with the shard and report path filled in.
///
/// # Errors
/// [`DeployError::NoSuchShard`] when `task ≥ spec.load.shards`.
pub fn task_command(spec: &SlurmSpec, job_id: &str, task: u32) -> Result<Vec<String>, DeployError> {
    let k = spec.load.shards;
    if task >= k {
        return Err(DeployError::NoSuchShard {
            index: task,
            shards: k,
        });
    }
    let mut cmd = vec![spec.slurm.program.clone()];
    cmd.extend(spec.load.connect_args(
        &format!("{task}/{k}"),
        &spec.slurm.report_path(job_id, &task.to_string()),
    ));
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::deploy::Target;

    fn spec(conns: u64, shards: u32) -> SlurmSpec {
        SlurmSpec {
            load: Load {
                targets: vec![Target::parse("db-1:6379").unwrap()],
                conns,
                shards,
                hold: Duration::from_secs(90),
                rate: None,
                window: Some(3000),
                start_at: None,
                extra: vec!["--message".into(), "PING\\r\\n".into()],
                force: false,
            },
            slurm: Slurm::default(),
        }
    }

    #[test]
    fn the_script_is_an_array_job_of_one_task_per_node() {
        let m = batch_script(&spec(60_000, 3)).unwrap();
        let lines: Vec<&str> = m.text.lines().collect();
        assert_eq!(lines[0], "#!/bin/bash");
        let sbatch: Vec<&str> = lines
            .iter()
            .take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("#SBATCH "))
            .collect();
        assert_eq!(
            sbatch,
            [
                "--job-name=c1m",
                "--array=0-2",
                "--nodes=1",
                "--ntasks=1",
                "--exclusive",
                "--mem=0",
                "--output=./c1m-%A_%a.log"
            ]
        );
        // sbatch reads #SBATCH lines only before the first command.
        let first_command = lines.iter().position(|l| !l.starts_with('#')).unwrap();
        assert!(
            lines[first_command..]
                .iter()
                .all(|l| !l.starts_with("#SBATCH"))
        );
        for o in &sbatch {
            let name = o.trim_start_matches("--").split('=').next().unwrap();
            assert!(SBATCH_OPTIONS.contains(&name), "{name}");
        }
        assert_eq!(
            *lines.last().unwrap(),
            "exec c1m connect db-1:6379 -n 60000 --shard \"${SLURM_ARRAY_TASK_ID}/3\" --json \"$report\" \
             --hold 90s --window 3000 --message 'PING\\r\\n'"
        );
        assert!(
            m.text
                .contains("report=\"./c1m-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.json\"")
        );
        assert!(m.text.contains("#   c1m merge ./c1m-JOBID_*.json\n"));
        // 20,000 per task to one port: the nodes need 20,000 ports.
        assert!(m.text.contains(
            "#   net.ipv4.ip_local_port_range with ≥ 20,000 ports, ≥ 40,000 to stay within c1m's \
             per-pair budget (the kernel's default 32768-60999 assumed);"
        ));
        // 20,000 per pair is past the budget of the default range (14,116).
        assert_eq!(m.notes.len(), 2);
        assert!(m.notes[0].starts_with("each shard carries up to 20,000 connections per (source, destination) pair, over the 14,116"), "{}", m.notes[0]);
        assert!(
            m.notes[1].starts_with("submit: sbatch FILE; after every task has ended: c1m merge")
        );
    }

    #[test]
    fn options_appear_when_given_and_are_checked() {
        let mut s = spec(60_000, 3);
        s.slurm = Slurm {
            job_name: "load-1".into(),
            partition: Some("compute".into()),
            account: Some("perf".into()),
            time: Some("1:00:00".into()),
            output_dir: "/shared/c1m".into(),
            program: "/opt/c1m/bin/c1m".into(),
            port_range: Some((1024, 65535)),
        };
        let text = batch_script(&s).unwrap().text;
        for line in [
            "#SBATCH --partition=compute",
            "#SBATCH --account=perf",
            "#SBATCH --time=1:00:00",
            "#SBATCH --output=/shared/c1m/load-1-%A_%a.log",
            "command -v /opt/c1m/bin/c1m >/dev/null",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert_eq!(
            task_command(&s, "77", 2).unwrap().join(" "),
            "/opt/c1m/bin/c1m connect db-1:6379 -n 60000 --shard 2/3 --json \
             /shared/c1m/load-1-77_2.json --hold 90s --window 3000 --message PING\\r\\n"
        );
        assert!(task_command(&s, "77", 3).is_err());
        for bad in [
            Slurm {
                job_name: "a b".into(),
                ..Slurm::default()
            },
            Slurm {
                output_dir: "out%j".into(),
                ..Slurm::default()
            },
            Slurm {
                partition: Some("p#1".into()),
                ..Slurm::default()
            },
            Slurm {
                time: Some("1h".into()),
                ..Slurm::default()
            },
        ] {
            let s = SlurmSpec {
                slurm: bad,
                ..spec(10, 1)
            };
            assert!(batch_script(&s).is_err(), "{:?}", s.slurm);
        }
        for ok in ["30", "30:00", "1:00:00", "2-0", "2-12:30", "1-00:00:00"] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "1-", "a"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }

    #[test]
    fn the_ports_arithmetic_uses_the_nodes_range() {
        // 100,000 per task to one port: more than the default 28,232.
        let e = batch_script(&spec(300_000, 3)).unwrap_err().to_string();
        assert!(e.contains("28,232 local ports allow 28,232"), "{e}");
        let mut s = spec(300_000, 3);
        s.load.targets = vec![Target::parse("db-1:6379-6382").unwrap()];
        assert!(batch_script(&s).is_ok());
    }
}
