//! `c1m k8s job|server` and `c1m slurm job` as a person runs them: the
//! YAML parses into the expected kinds and `kubernetes-validate --strict`
//! (the API's own OpenAPI schemas, read by a tool that is not c1m)
//! accepts it for every Kubernetes version c1m claims; the pod's args,
//! expanded as Kubernetes does, are `deploy::k8s::pod_command`; the batch
//! script passes `bash -n`, uses only options the installed `sbatch`
//! lists, and, run by bash with a stand-in `c1m`, executes exactly
//! `deploy::slurm::task_command`. No sockets, no cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use c1m::deploy::k8s::{self, JobSpec, Kube};
use c1m::deploy::slurm::{self, Slurm, SlurmSpec};
use c1m::deploy::{Load, Target};

use crate::util::yaml::{docs, kinds, strings};
use crate::util::{run, text};

/// The Kubernetes versions c1m claims (README): 1.29, the first with
/// `backoffLimitPerIndex` on by default, to the newest the pinned
/// kubernetes-validate (test.sh) ships.
const KUBERNETES: std::ops::RangeInclusive<u32> = 29..=37;

/// c1m's stdout, after checking it exited 0.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "c1m {}: {}\n{}",
        args.join(" "),
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `kubernetes-validate --strict` of `files` for every claimed version:
/// one run per version with every file (a failure names its file), the
/// versions' runs at once (each a Python start-up of ~0.4 s).
fn validate(files: &[PathBuf]) {
    let runs: Vec<(String, std::process::Child)> = KUBERNETES
        .map(|minor| {
            let version = format!("1.{minor}.0");
            let child = Command::new("kubernetes-validate")
                .args(["--strict", "--quiet", "-k", &version])
                .args(files)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "kubernetes-validate: {e}; install it: pip install kubernetes-validate==1.37.0 (test.sh does)"
                    )
                });
            (version, child)
        })
        .collect();
    for (version, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "Kubernetes {version} refuses {files:?}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// An hour from now in RFC 3339 (UTC): a `--start-at` c1m accepts, and a
/// string YAML 1.1 would read as a timestamp unless quoted.
fn in_an_hour() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    c1m::report::text::utc((now + 3600) as f64)
}

#[test]
fn kubernetes_manifests_have_the_expected_kinds_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let start = in_an_hour();
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &[
                "k8s",
                "job",
                "--target",
                "redis.db.svc:6379-6390",
                "-n",
                "100k",
                "--shards",
                "4",
            ],
            &["Service/c1m", "Job/c1m"],
        ),
        (
            &[
                "k8s",
                "job",
                "--with-server",
                "-n",
                "1M",
                "--shards",
                "10",
                "--namespace",
                "load",
                "--name",
                "big",
                "--metrics",
                "--unsafe-sysctls",
                "--cpu",
                "500m",
                "--start-at",
                &start,
                "--",
                "--mode",
                "heartbeat",
                "--interval",
                "10s",
                "--message",
                "on",
            ],
            &[
                "Service/big-server",
                "Deployment/big-server",
                "Service/big",
                "Job/big",
            ],
        ),
        (
            &[
                "k8s",
                "job",
                "--target",
                "10.0.0.1:8090-8119",
                "-n",
                "10M",
                "--shards",
                "20",
                "--host-network",
                "--memory",
                "8Gi",
            ],
            &["Service/c1m", "Job/c1m"],
        ),
        (
            &["k8s", "server", "-n", "10M", "--unsafe-sysctls"],
            &["Service/c1m-server", "Deployment/c1m-server"],
        ),
        (
            &[
                "k8s",
                "server",
                "-n",
                "1000",
                "--ports",
                "6379-6379",
                "--host-network",
            ],
            &["Service/c1m-server", "Deployment/c1m-server"],
        ),
    ];
    let mut files = Vec::new();
    for (i, (args, want)) in cases.iter().enumerate() {
        let yaml = ok(args);
        let d = docs(&yaml);
        assert_eq!(kinds(&d), *want, "c1m {}", args.join(" "));
        let file = dir.path().join(format!("case-{i}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        files.push(file);
    }
    validate(&files);
}

#[test]
fn the_pod_runs_pod_command() {
    let yaml = ok(&[
        "k8s",
        "job",
        "--target",
        "s.ns.svc:8090-8099",
        "-n",
        "1000003",
        "--shards",
        "3",
        "--hold",
        "2m",
        "--rate",
        "3000",
        "--window",
        "600",
        "--",
        "--message",
        "$(HOME) $$",
    ]);
    let d = docs(&yaml);
    let c = &d[1]["spec"]["template"]["spec"]["containers"][0];
    let spec = JobSpec {
        load: Load {
            targets: vec![Target::parse("s.ns.svc:8090-8099").unwrap()],
            conns: 1_000_003,
            shards: 3,
            hold: Duration::from_secs(120),
            rate: Some(3000.0),
            window: Some(600),
            start_at: None,
            extra: vec!["--message".into(), "$(HOME) $$".into()],
            force: false,
        },
        kube: Kube::default(),
        server: None,
    };
    for i in 0..3 {
        // Kubernetes expands $(JOB_COMPLETION_INDEX) and reads $$ as $;
        // $(HOME) was written $$(HOME), so it stays.
        let index = i.to_string();
        let expanded: Vec<String> = strings(&c["command"])
            .into_iter()
            .chain(strings(&c["args"]))
            .map(|a| {
                a.replace("$(JOB_COMPLETION_INDEX)", &index)
                    .replace("$$", "$")
            })
            .collect();
        assert_eq!(expanded, k8s::pod_command(&spec, i).unwrap());
    }
}

#[test]
fn bad_requests_exit_2_naming_the_fix() {
    for (args, needle) in [
        (
            vec!["k8s", "job", "-n", "1M", "--shards", "10"],
            "give --target HOST:PORT",
        ),
        (
            vec![
                "k8s", "job", "--target", "s:8090", "-n", "1M", "--shards", "10",
            ],
            "give the target ≥ 2 ports",
        ),
        (
            vec![
                "k8s", "job", "--target", "s:80", "-n", "10", "--shards", "2", "--", "--bogus",
            ],
            "c1m connect would refuse the shards' command",
        ),
        (
            vec!["k8s", "job", "--target", "s", "-n", "10", "--shards", "2"],
            "write HOST:PORT",
        ),
        (
            vec![
                "k8s", "job", "--target", "s:80", "-n", "10", "--shards", "2", "--name", "Big",
            ],
            "--name \"Big\"",
        ),
        (
            vec![
                "slurm", "job", "--target", "s:80", "-n", "10", "--shards", "2", "--time", "1h",
            ],
            "--time \"1h\"",
        ),
        (
            vec![
                "slurm", "job", "--target", "s:80", "-n", "100k", "--shards", "2",
            ],
            "28,232 local ports allow 28,232",
        ),
        (
            vec![
                "k8s",
                "job",
                "--target",
                "s:80",
                "-n",
                "10",
                "--shards",
                "2",
                "--start-at",
                "@1000",
            ],
            "in the past",
        ),
    ] {
        let out = run(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "c1m {}: {err}", args.join(" "));
        assert!(err.contains(needle), "c1m {}: {err}", args.join(" "));
        assert!(out.stdout.is_empty(), "nothing printed on a refusal");
    }
}

/// sbatch's long options, from its own --help (which needs a slurm.conf
/// to read, not a controller); `None` when sbatch is not installed.
fn sbatch_options(dir: &Path) -> Option<Vec<String>> {
    let conf = dir.join("slurm.conf");
    std::fs::write(
        &conf,
        "ClusterName=t\nSlurmctldHost=localhost\nNodeName=n1 CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=n1 Default=YES\n",
    )
    .unwrap();
    let out = Command::new("sbatch")
        .arg("--help")
        .env("SLURM_CONF", &conf)
        .output()
        .ok()?;
    let help = text(&out.stdout);
    let opts: Vec<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.split(['=', '[', ','])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(opts.len() > 50, "sbatch --help listed {opts:?}");
    Some(opts)
}

#[test]
fn the_slurm_script_is_valid_bash_and_runs_task_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("reports");
    std::fs::create_dir(&out_dir).unwrap();
    let out_dir_text = out_dir.to_str().unwrap().to_string();
    let script = ok(&[
        "slurm",
        "job",
        "--target",
        "db-1:6379-6380",
        "-n",
        "60000",
        "--shards",
        "3",
        "--hold",
        "90s",
        "--partition",
        "compute",
        "--time",
        "30:00",
        "--output-dir",
        &out_dir_text,
        "--",
        "--message",
        "PING\\r\\n",
        "--first-message",
        "it's $HOME",
    ]);
    let file = dir.path().join("c1m.sbatch");
    std::fs::write(&file, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", text(&syntax.stderr));

    // #SBATCH lines: before the first command, each an option sbatch has.
    let lines: Vec<&str> = script.lines().collect();
    let body = lines.iter().position(|l| !l.starts_with('#')).unwrap();
    let sbatch: Vec<&str> = lines[..body]
        .iter()
        .filter_map(|l| l.strip_prefix("#SBATCH "))
        .collect();
    assert!(sbatch.contains(&"--array=0-2"), "{sbatch:?}");
    assert!(sbatch.contains(&"--partition=compute"));
    assert!(sbatch.contains(&"--time=30:00"));
    assert!(lines[body..].iter().all(|l| !l.contains("#SBATCH")));
    match sbatch_options(dir.path()) {
        Some(known) => {
            for o in &sbatch {
                let name = o.trim_start_matches("--").split('=').next().unwrap();
                assert!(known.iter().any(|k| k == name), "sbatch has no --{name}");
            }
        }
        None => eprintln!(
            "sbatch not installed: #SBATCH options checked against slurm::SBATCH_OPTIONS only"
        ),
    }

    // Run it as an array task would, with a stand-in c1m that records
    // its arguments one per line (NUL-free, no newlines in them).
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let argv_file = dir.path().join("argv");
    let stub = bin.join("c1m");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nfor a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n",
            argv_file.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&stub).status().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let ran = Command::new("bash")
        .arg(&file)
        .env("PATH", &path)
        .env("SLURM_ARRAY_JOB_ID", "77")
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap();
    assert!(ran.status.success(), "the script: {}", text(&ran.stderr));
    let mut got: Vec<String> = std::fs::read_to_string(&argv_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    got[0] = "c1m".into(); // $0 is the stand-in's path
    let spec = SlurmSpec {
        load: Load {
            targets: vec![Target::parse("db-1:6379-6380").unwrap()],
            conns: 60_000,
            shards: 3,
            hold: Duration::from_secs(90),
            rate: None,
            window: None,
            start_at: None,
            extra: vec![
                "--message".into(),
                "PING\\r\\n".into(),
                "--first-message".into(),
                "it's $HOME".into(),
            ],
            force: false,
        },
        slurm: Slurm {
            partition: Some("compute".into()),
            time: Some("30:00".into()),
            output_dir: out_dir_text.clone(),
            ..Slurm::default()
        },
    };
    assert_eq!(got, slurm::task_command(&spec, "77", 2).unwrap());
    assert!(got.contains(&format!("{out_dir_text}/c1m-77_2.json")));
    assert!(text(&ran.stderr).contains("c1m shard 2/3 on "));
}
