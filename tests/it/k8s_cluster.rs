//! `c1m k8s job --with-server` on a real Kubernetes cluster, when one is
//! given: no cluster can run on the machines c1m is built on (cgroup v1,
//! no kubelet), so this test runs only with `C1M_TEST_KUBECONFIG` set
//! (never a kubeconfig found by chance: it creates objects) and prints
//! why it is skipped otherwise. The pods of the lab test
//! (`sharded::k8s_pod_commands_merge_into_what_the_server_holds`) run
//! the same commands everywhere else.
//!
//! What it does: a fresh namespace; the manifest applied as printed; the
//! server pod's own kernel table (`/proc/net/tcp*` read through
//! `kubectl exec`, any image has `cat`) polled while the shards hold; the
//! Job waited for; each pod's log merged with `c1m merge`; the merged
//! held count equal to the most the server's kernel held at once; the
//! namespace deleted whatever happens.
//!
//! Settings: `C1M_TEST_KUBECONFIG` (path), `C1M_TEST_IMAGE` (an image with
//! this c1m on `PATH`: `docker build -t IMAGE .`, pushed where the
//! cluster pulls from), optional `C1M_TEST_CONNS` (default 20,000).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::util::truth::{TcpState, parse_table};
use crate::util::{self, text};

/// Objects' names: the Job, the server's Deployment is `NAME-server`.
const NAME: &str = "c1m-it";
const SHARDS: u32 = 2;

/// The cluster this test may use, or why it is skipped.
struct Cluster {
    kubeconfig: PathBuf,
    image: String,
    namespace: String,
}

impl Cluster {
    /// `kubectl` on this cluster, in the test's namespace.
    fn kubectl(&self) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--namespace", &self.namespace]);
        c
    }

    /// Runs `kubectl ARGS`, failing the test with its stderr.
    fn run(&self, args: &[&str]) -> Output {
        let o = self.kubectl().args(args).output().unwrap_or_else(|e| {
            panic!("cannot run kubectl: {e}; fix: install kubectl (https://kubernetes.io/docs/tasks/tools/)")
        });
        assert!(
            o.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            text(&o.stderr)
        );
        o
    }

    /// ESTABLISHED sockets in the server pod whose local port is one of
    /// `ports`, from its kernel's own tables; `None` while the pod is
    /// not there yet.
    fn server_established(&self, ports: &[u16]) -> Option<u64> {
        let deploy = format!("deploy/{NAME}-server");
        let mut n = 0;
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let o = self
                .kubectl()
                .args(["exec", &deploy, "--", "cat", file])
                .stderr(Stdio::null())
                .output()
                .ok()?;
            if !o.status.success() {
                return None;
            }
            let rows = parse_table(&text(&o.stdout)).ok()?;
            n += rows
                .iter()
                .filter(|r| r.state == TcpState::Established && ports.contains(&r.local.port()))
                .count() as u64;
        }
        Some(n)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .status();
    }
}

/// The cluster from the environment; `None` (said on stderr) without
/// `C1M_TEST_KUBECONFIG`. Given one without an image is a failure with
/// the fix.
fn cluster() -> Option<Cluster> {
    let Some(kubeconfig) = std::env::var_os("C1M_TEST_KUBECONFIG") else {
        eprintln!(
            "k8s_cluster: skipped: no Kubernetes cluster given (set C1M_TEST_KUBECONFIG=PATH and C1M_TEST_IMAGE=IMAGE to run c1m's Job on one)"
        );
        return None;
    };
    let image = std::env::var("C1M_TEST_IMAGE").unwrap_or_else(|_| {
        panic!(
            "k8s_cluster: C1M_TEST_KUBECONFIG is set but C1M_TEST_IMAGE is not; fix: `docker build -t IMAGE .`, push it where the cluster pulls from, and set C1M_TEST_IMAGE=IMAGE"
        )
    });
    let cluster = Cluster {
        kubeconfig: kubeconfig.into(),
        image,
        namespace: format!("c1m-it-{}", std::process::id()),
    };
    let o = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["create", "namespace", &cluster.namespace])
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}; fix: install kubectl"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    Some(cluster)
}

#[test]
fn the_job_on_a_real_cluster_merges_into_what_the_server_holds() {
    let Some(cluster) = cluster() else {
        return;
    };
    let conns: u64 = std::env::var("C1M_TEST_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let manifest = util::c1m()
        .args(["k8s", "job", "--with-server", "--name", NAME])
        .args(["--namespace", &cluster.namespace, "--image", &cluster.image])
        .args(["-n", &conns.to_string(), "--shards", &SHARDS.to_string()])
        .args(["--hold", "30s"])
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{}", text(&manifest.stderr));
    let yaml = text(&manifest.stdout);
    // The server's ports: its Service's.
    let docs: Vec<serde_json::Value> = {
        use serde::Deserialize;
        yaml_serde::Deserializer::from_str(&yaml)
            .map(|d| serde_json::Value::deserialize(d).unwrap())
            .collect()
    };
    let ports: Vec<u16> = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == format!("{NAME}-server"))
        .expect("the server's Service")["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap() as u16)
        .collect();

    let mut apply = cluster
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        apply
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
    }
    assert!(apply.wait().unwrap().success(), "kubectl apply failed");

    // The server's kernel, read while the Job runs.
    let done = AtomicBool::new(false);
    let most = Mutex::new(0u64);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Some(n) = cluster.server_established(&ports) {
                    let mut m = most.lock().unwrap();
                    *m = (*m).max(n);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        let job = format!("job/{NAME}");
        let waited = cluster
            .kubectl()
            .args(["wait", "--for=condition=complete", &job, "--timeout=900s"])
            .output();
        done.store(true, Ordering::Relaxed);
        let waited = waited.unwrap();
        assert!(
            waited.status.success(),
            "the Job did not complete: {}",
            text(&waited.stderr)
        );
    });
    let server_most = most.into_inner().unwrap();

    // Each pod's log, as the Job's comments say to collect them.
    let dir = std::env::temp_dir().join(format!("c1m-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut logs = Vec::new();
    for i in 0..SHARDS {
        let selector = format!(
            "batch.kubernetes.io/job-name={NAME},batch.kubernetes.io/job-completion-index={i}"
        );
        let o = cluster.run(&["logs", "--tail=-1", "-l", &selector]);
        let f = dir.join(format!("shard-{i}.log"));
        std::fs::write(&f, &o.stdout).unwrap();
        logs.push(f);
    }
    let merged = dir.join("merged.json");
    let out = util::c1m()
        .arg("merge")
        .args(&logs)
        .arg("--json")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(out.status.success(), "c1m merge: {}", text(&out.stderr));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(
        m["held"]["at_end"].as_u64(),
        Some(conns),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        server_most, conns,
        "the server pod's kernel held {server_most} at most"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
