//! `c1m k8s`: a Kubernetes Indexed Job of K client shards (plus the
//! headless Service that names its pods), and on request the `c1m serve`
//! side as a Deployment behind a headless Service. Multi-document YAML
//! for `kubectl apply -f -`, for Kubernetes [`MIN_KUBERNETES`] and later
//! (`backoffLimitPerIndex` is beta and on by default from 1.29; CI checks
//! every manifest with `kubernetes-validate --strict` for 1.29–1.37).
//!
//! Each pod runs `c1m connect TARGET… -n N --shard
//! $(JOB_COMPLETION_INDEX)/K --json - …` (Kubernetes expands `$(VAR)` in
//! `args` from the container's environment; the Job controller sets
//! `JOB_COMPLETION_INDEX`), with `NODE_NAME` from the downward API so the
//! report tags kernel memory with its node. [`pod_command`] gives the
//! same command with the index filled in, for running a pod's work
//! elsewhere (the lab's tests).
//!
//! Sysctls: each one a pod needs is placed by
//! [`c1m_limits::placement`] for [`MIN_KUBERNETES`]: the safe ones go in
//! `securityContext.sysctls`; namespaced unsafe ones only with
//! `unsafe_sysctls` (the kubelet must allow them); node-level ones, and
//! every `net.*` one under `hostNetwork`, become comments for the node's
//! administrator.

use std::collections::BTreeMap;

use c1m_limits::num::thousands;
use c1m_limits::placement::{self, KubeVersion, Place};
use serde::Serialize;

use super::kube::{
    Affinity, AffinityTerm, Container, ContainerPort, DeploymentSpec, EnvSource, EnvVar, FieldRef,
    JobSpec as KubeJob, LabelSelector, Labels, Meta, Object, PodAntiAffinity, PodSecurityContext,
    PodSpec, PodTemplate, Probe, Resources, ServicePort, ServiceSpec, Strategy, Sysctl, TcpSocket,
    TopologySpread, WeightedTerm,
};
use super::{DeployError, Load, Manifest, Target, memory_mib};

/// The oldest Kubernetes the manifests are made for.
pub const MIN_KUBERNETES: KubeVersion = KubeVersion(1, 29);

/// The image when `--image` is not given: `c1m:VERSION`, built from the
/// repository's Dockerfile (`docker build -t c1m:VERSION .`) and pushed
/// where the cluster pulls from. Any image with `c1m` on `PATH` works
/// (and `sh`, `timeout`, `getent` for the wait of `--with-server`).
pub const DEFAULT_IMAGE: &str = concat!("c1m:", env!("CARGO_PKG_VERSION"));

/// The metrics port a pod serves with `metrics` (c1m's `--metrics`).
pub const METRICS_PORT: u16 = 9464;

/// The local port range client pods get (a safe sysctl) unless told
/// otherwise: all unprivileged ports, 64,512 of them.
pub const DEFAULT_PORT_RANGE: (u16, u16) = (1024, 65535);

/// The kernel's default local port range, assumed for a node's own
/// namespace (`hostNetwork`), whose setting c1m cannot see from here.
pub const KERNEL_PORT_RANGE: (u16, u16) = (32768, 60999);

/// How pods are made, for the client Job and the server alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kube {
    /// The Job's name, and the prefix of every object (`NAME-server`): a
    /// DNS label of at most 40 characters.
    pub name: String,
    /// The namespace of every object; `None`: kubectl's current one.
    pub namespace: Option<String>,
    /// The container image (must have `c1m` on `PATH`).
    pub image: String,
    /// Pods in the node's network namespace: no pod sysctls then (the
    /// node's apply), and one source address per node either way.
    pub host_network: bool,
    /// Put namespaced sysctls outside the safe set in the pods too (every
    /// node's kubelet must run with `--allowed-unsafe-sysctls`).
    pub unsafe_sysctls: bool,
    /// `net.ipv4.ip_local_port_range` of client pods, low and high.
    pub port_range: (u16, u16),
    /// CPU request of each pod (`1`, `500m`); no CPU limit (throttling
    /// would skew the timings).
    pub cpu: String,
    /// Memory request and limit of each pod (`4Gi`); `None`: from the
    /// sockets it holds ([`memory_mib`]).
    pub memory: Option<String>,
    /// Serve Prometheus metrics on [`METRICS_PORT`] in every pod.
    pub metrics: bool,
}

impl Default for Kube {
    fn default() -> Self {
        Self {
            name: "c1m".into(),
            namespace: None,
            image: DEFAULT_IMAGE.into(),
            host_network: false,
            unsafe_sysctls: false,
            port_range: DEFAULT_PORT_RANGE,
            cpu: "1".into(),
            memory: None,
            metrics: false,
        }
    }
}

/// The `c1m serve` side: one pod listening on a range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// The first and last port it listens on (0.0.0.0).
    pub ports: (u16, u16),
    /// Connections it holds at most (`--max-conns`).
    pub max_conns: u64,
}

impl Server {
    /// A server for `load` listening from `first` on: enough ports that
    /// each client pod (one source address, `local_ports` ports) keeps
    /// every (source, destination) pair within c1m's per-pair budget.
    ///
    /// # Errors
    /// [`DeployError::BadValue`] when the ports would run past 65535.
    pub fn for_load(load: &Load, first: u16, local_ports: u64) -> Result<Self, DeployError> {
        let budget = crate::plan::default_pair_budget(local_ports).max(1);
        let n = load.largest_shard().div_ceil(budget).max(1);
        let last = u64::from(first) + n - 1;
        let last = u16::try_from(last).map_err(|_| {
            DeployError::BadValue(format!(
                "the server needs {n} ports from {first}, past 65535: start lower (--server-port) or use more --shards"
            ))
        })?;
        Ok(Self {
            ports: (first, last),
            max_conns: load.conns,
        })
    }

    /// The target client pods connect to: the server's headless Service
    /// by its short name (same namespace) and its ports.
    pub fn target(&self, kube: &Kube) -> Target {
        let (lo, hi) = self.ports;
        let text = if lo == hi {
            format!("{}-server:{lo}", kube.name)
        } else {
            format!("{}-server:{lo}-{hi}", kube.name)
        };
        Target::parse(&text).expect("a DNS label and a port range make a target")
    }
}

/// A client run on Kubernetes.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// What the shards do, in whole-run figures.
    pub load: Load,
    /// How pods are made.
    pub kube: Kube,
    /// Also the server, which `load` then targets.
    pub server: Option<Server>,
}

/// Checks `kube`'s names and quantities.
///
/// # Errors
/// [`DeployError::BadValue`] for a name that is not a DNS label of at
/// most 40 characters (so `NAME-server` and `NAME-INDEX` pod host names
/// fit in 63), a namespace that is not a DNS label, a CPU or memory
/// quantity Kubernetes would refuse, or an empty port range.
pub fn check_kube(kube: &Kube) -> Result<(), DeployError> {
    let label = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !label(&kube.name, 40) {
        return Err(DeployError::BadValue(format!(
            "--name {:?}: use lowercase letters, digits and '-', at most 40 characters, not starting or ending with '-'",
            kube.name
        )));
    }
    if let Some(ns) = &kube.namespace
        && !label(ns, 63)
    {
        return Err(DeployError::BadValue(format!(
            "--namespace {ns:?}: use a DNS label (lowercase letters, digits, '-', at most 63)"
        )));
    }
    if !is_quantity(&kube.cpu, &["m"]) {
        return Err(DeployError::BadValue(format!(
            "--cpu {:?}: write cores (1, 2.5) or millicores (500m)",
            kube.cpu
        )));
    }
    if let Some(m) = &kube.memory
        && !is_quantity(m, &["Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"])
    {
        return Err(DeployError::BadValue(format!(
            "--memory {m:?}: write e.g. 4Gi, 512Mi"
        )));
    }
    let (lo, hi) = kube.port_range;
    if lo == 0 || lo > hi {
        return Err(DeployError::BadValue(format!(
            "--port-range {lo}-{hi}: low must be 1 or more and not above high"
        )));
    }
    if kube.image.trim().is_empty() || kube.image.contains(char::is_whitespace) {
        return Err(DeployError::BadValue(format!(
            "--image {:?}: name an image reference, without spaces (e.g. c1m:0.1.0)",
            kube.image
        )));
    }
    Ok(())
}

/// A Kubernetes quantity: a decimal number, then nothing or one of
/// `suffixes`.
fn is_quantity(s: &str, suffixes: &[&str]) -> bool {
    let num = suffixes.iter().find_map(|x| s.strip_suffix(x)).unwrap_or(s);
    let mut parts = num.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && num.bytes().any(|b| b != b'0' && b != b'.')
}

/// Local ports one client pod has: its own range, or the kernel's default
/// under `hostNetwork`.
pub fn client_local_ports(kube: &Kube) -> u64 {
    let (lo, hi) = if kube.host_network {
        KERNEL_PORT_RANGE
    } else {
        kube.port_range
    };
    u64::from(hi - lo) + 1
}

/// The client Job (and the server before it, when asked): headless
/// Service + Indexed Job, as multi-document YAML with comments.
///
/// # Errors
/// Whatever [`check_kube`] and [`Load::check`] refuse.
pub fn job(spec: &JobSpec) -> Result<Manifest, DeployError> {
    check_kube(&spec.kube)?;
    let mut notes = spec.load.check(client_local_ports(&spec.kube))?;
    let mut docs = Vec::new();
    if let Some(server) = &spec.server {
        let m = server_manifest(&spec.kube, server)?;
        docs.push(m.text);
        notes.extend(m.notes);
    }
    let k = &spec.kube;
    let load = &spec.load;
    let labels = labels(k, "client");
    let (sysctls, mut comments) = pod_sysctls(
        k,
        &[(
            "net.ipv4.ip_local_port_range",
            format!("{} {}", k.port_range.0, k.port_range.1),
        )],
    );
    let per_pod = load.largest_shard();
    let memory = k
        .memory
        .clone()
        .unwrap_or_else(|| format!("{}Mi", memory_mib(per_pod)));
    let shards = load.shards;
    let ns = kubectl_ns(k);
    let mut head = vec![
        format!(
            "c1m k8s job: {} connections to {} in {shards} shards (up to {} per pod), held {}.",
            thousands(load.conns),
            targets_text(load),
            thousands(per_pod),
            super::duration_arg(load.hold)
        ),
        format!(
            "Made by c1m {} for Kubernetes {MIN_KUBERNETES}+. Apply: kubectl apply -f FILE",
            env!("CARGO_PKG_VERSION")
        ),
        "Each pod prints its JSON report on stdout at the end; collect them and merge:".into(),
        format!(
            "  for i in $(seq 0 {}); do kubectl logs{ns} --tail=-1 -l batch.kubernetes.io/job-name={},batch.kubernetes.io/job-completion-index=$i > {}-$i.json; done",
            shards - 1,
            k.name,
            k.name
        ),
        format!("  c1m merge {}-*.json", k.name),
    ];
    if k.memory.is_none() {
        head.push(format!(
            "memory: {} sockets × {:.1} KiB (c1m's measured kernel memory per socket, charged to the pod's memory cgroup) × 1.25 + 256 MiB",
            thousands(per_pod),
            c1m_limits::calibration::ESTIMATED_BYTES_PER_SOCKET / 1024.0
        ));
    }
    head.append(&mut comments);

    let headless = Object {
        api_version: "v1",
        kind: "Service",
        metadata: meta(k, &k.name, &labels),
        spec: ServiceSpec {
            cluster_ip: "None",
            selector: labels.clone(),
            ports: if k.metrics {
                vec![ServicePort {
                    name: "metrics".into(),
                    port: METRICS_PORT,
                    protocol: "TCP",
                }]
            } else {
                vec![]
            },
        },
    };
    docs.push(document(
        &[format!(
            "Headless Service: names each pod {}-I.{} (and its metrics, with --metrics).",
            k.name, k.name
        )],
        &headless,
    )?);

    let mut pod = PodSpec {
        restart_policy: Some("Never"),
        subdomain: Some(k.name.clone()),
        topology_spread_constraints: vec![TopologySpread {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname",
            when_unsatisfiable: "DoNotSchedule",
            label_selector: LabelSelector {
                match_labels: labels.clone(),
            },
        }],
        containers: vec![Container {
            name: "c1m",
            image: k.image.clone(),
            command: vec!["c1m".into()],
            args: manifest_args(spec),
            env: node_name_env(),
            ports: metrics_ports(k),
            resources: Some(resources(&k.cpu, &memory)),
            ..Container::default()
        }],
        ..PodSpec::default()
    };
    network(k, &mut pod, sysctls);
    if spec.server.is_some() {
        pod.affinity = Some(Affinity {
            pod_anti_affinity: PodAntiAffinity {
                preferred: vec![WeightedTerm {
                    weight: 100,
                    pod_affinity_term: AffinityTerm {
                        label_selector: LabelSelector {
                            match_labels: self::labels(k, "server"),
                        },
                        topology_key: "kubernetes.io/hostname",
                    },
                }],
            },
        });
        pod.init_containers = vec![wait_for_server(k)];
    }
    let job = Object {
        api_version: "batch/v1",
        kind: "Job",
        metadata: meta(k, &k.name, &labels),
        spec: KubeJob {
            completion_mode: "Indexed",
            completions: shards,
            parallelism: shards,
            backoff_limit_per_index: 0,
            template: PodTemplate {
                metadata: Meta {
                    labels: labels.clone(),
                    ..Meta::default()
                },
                spec: pod,
            },
        },
    };
    docs.push(document(&head, &job)?);
    Ok(Manifest {
        text: docs.concat(),
        notes,
    })
}

/// The server alone: headless Service + Deployment of one `c1m serve`.
///
/// # Errors
/// Whatever [`check_kube`] refuses; [`DeployError::BadValue`] for an
/// empty port range or `max_conns` 0.
pub fn server(kube: &Kube, server: &Server) -> Result<Manifest, DeployError> {
    check_kube(kube)?;
    server_manifest(kube, server)
}

fn server_manifest(k: &Kube, server: &Server) -> Result<Manifest, DeployError> {
    let (lo, hi) = server.ports;
    if lo == 0 || lo > hi || server.max_conns == 0 {
        return Err(DeployError::BadValue(format!(
            "server ports {lo}-{hi} and --max-conns {}: ports from 1, low ≤ high, at least one connection",
            server.max_conns
        )));
    }
    let labels = labels(k, "server");
    let name = format!("{}-server", k.name);
    let (sysctls, comments) = pod_sysctls(
        k,
        &[
            ("net.core.somaxconn", "65535".into()),
            ("net.ipv4.tcp_max_syn_backlog", "65535".into()),
        ],
    );
    let memory = k
        .memory
        .clone()
        .unwrap_or_else(|| format!("{}Mi", memory_mib(server.max_conns)));
    let listen = if lo == hi {
        format!("0.0.0.0:{lo}")
    } else {
        format!("0.0.0.0:{lo}-{hi}")
    };
    let mut args = vec![
        "serve".to_string(),
        "--listen".into(),
        listen,
        "--max-conns".into(),
        server.max_conns.to_string(),
    ];
    if k.metrics {
        args.extend(metrics_args());
    }
    let service = Object {
        api_version: "v1",
        kind: "Service",
        metadata: meta(k, &name, &labels),
        spec: ServiceSpec {
            cluster_ip: "None",
            selector: labels.clone(),
            ports: (lo..=hi)
                .map(|p| ServicePort {
                    name: format!("p{p}"),
                    port: p,
                    protocol: "TCP",
                })
                .collect(),
        },
    };
    let mut pod = PodSpec {
        containers: vec![Container {
            name: "c1m",
            image: k.image.clone(),
            command: vec!["c1m".into()],
            args,
            env: node_name_env(),
            ports: metrics_ports(k),
            readiness_probe: Some(Probe {
                tcp_socket: TcpSocket { port: lo },
                period_seconds: 2,
            }),
            resources: Some(resources(&k.cpu, &memory)),
        }],
        ..PodSpec::default()
    };
    network(k, &mut pod, sysctls);
    let deployment = Object {
        api_version: "apps/v1",
        kind: "Deployment",
        metadata: meta(k, &name, &labels),
        spec: DeploymentSpec {
            replicas: 1,
            selector: LabelSelector {
                match_labels: labels.clone(),
            },
            strategy: Strategy { kind: "Recreate" },
            template: PodTemplate {
                metadata: Meta {
                    labels: labels.clone(),
                    ..Meta::default()
                },
                spec: pod,
            },
        },
    };
    let mut head = vec![
        format!(
            "c1m serve: holds up to {} connections on ports {lo}-{hi}.",
            thousands(server.max_conns)
        ),
        "Headless: the name resolves to the pod's own address once it is ready (no virtual IP, no kube-proxy DNAT).".into(),
    ];
    let mut text = document(&head, &service)?;
    head = vec![format!(
        "The server pod. Its node's own limits (fs.file-max, fs.nr_open, nf_conntrack_max: node-level) must allow {} sockets: \
         run c1m doctor --target {} --role server on the node.",
        thousands(server.max_conns),
        server.max_conns
    )];
    if k.memory.is_none() {
        head.push(format!(
            "memory: {} sockets × {:.1} KiB (c1m's measured kernel memory per socket) × 1.25 + 256 MiB",
            thousands(server.max_conns),
            c1m_limits::calibration::ESTIMATED_BYTES_PER_SOCKET / 1024.0
        ));
    }
    head.extend(comments);
    text += &document(&head, &deployment)?;
    Ok(Manifest {
        text,
        notes: vec![],
    })
}

/// The exact command shard `index`'s pod runs: the program (`c1m`) and
/// its arguments with `$(JOB_COMPLETION_INDEX)` expanded, as Kubernetes
/// would. The same work run anywhere gives the same report.
///
/// # Errors
/// [`DeployError::NoSuchShard`] when `index ≥ spec.load.shards`.
pub fn pod_command(spec: &JobSpec, index: u32) -> Result<Vec<String>, DeployError> {
    if index >= spec.load.shards {
        return Err(DeployError::NoSuchShard {
            index,
            shards: spec.load.shards,
        });
    }
    let mut cmd = vec!["c1m".to_string()];
    cmd.extend(client_args(spec, &format!("{index}/{}", spec.load.shards)));
    Ok(cmd)
}

/// The client container's arguments for one shard, unescaped.
fn client_args(spec: &JobSpec, shard: &str) -> Vec<String> {
    let mut a = spec.load.connect_args(shard, "-");
    if spec.kube.metrics {
        a.extend(metrics_args());
    }
    a
}

/// The client container's `args`: every `$` doubled (Kubernetes reads
/// `$$` as `$`), then the shard as `$(JOB_COMPLETION_INDEX)/K`.
fn manifest_args(spec: &JobSpec) -> Vec<String> {
    let mut a: Vec<String> = client_args(spec, "0/1")
        .into_iter()
        .map(|s| s.replace('$', "$$"))
        .collect();
    if let Some(i) = a.iter().position(|s| s == "--shard") {
        a[i + 1] = format!("$(JOB_COMPLETION_INDEX)/{}", spec.load.shards);
    }
    a
}

fn metrics_args() -> [String; 3] {
    [
        "--metrics".into(),
        format!("0.0.0.0:{METRICS_PORT}"),
        "--metrics-public".into(),
    ]
}

fn metrics_ports(k: &Kube) -> Vec<ContainerPort> {
    if k.metrics {
        vec![ContainerPort {
            name: "metrics".into(),
            container_port: METRICS_PORT,
            protocol: "TCP",
        }]
    } else {
        vec![]
    }
}

/// Sysctls for a pod that wants `wanted`, and comments on those left out:
/// placed by [`placement`] for [`MIN_KUBERNETES`].
fn pod_sysctls(k: &Kube, wanted: &[(&str, String)]) -> (Vec<Sysctl>, Vec<String>) {
    let mut set = Vec::new();
    let mut comments = Vec::new();
    let mut allow = Vec::new();
    for (name, value) in wanted {
        let place =
            placement::of(name).map_or(Place::Node, |p| p.place_in(MIN_KUBERNETES, k.host_network));
        let sysctl = Sysctl {
            name: (*name).to_string(),
            value: value.clone(),
        };
        match place {
            Place::Pod => set.push(sysctl),
            Place::PodUnsafe if k.unsafe_sysctls => {
                allow.push(*name);
                set.push(sysctl);
            }
            Place::PodUnsafe => comments.push(format!(
                "Left out: {name}={value} is namespaced but not in Kubernetes' safe set; \
                 with --unsafe-sysctls it goes in the pod, once every node's kubelet allows it"
            )),
            Place::Node | Place::Runtime if k.host_network => comments.push(format!(
                "Node-level with hostNetwork: set {name}={value} on the node (sysctl.d); a pod on the node's network cannot"
            )),
            Place::Node | Place::Runtime => comments.push(format!(
                "Node-level: set {name}={value} on the node (sysctl.d); no pod can"
            )),
        }
    }
    if !allow.is_empty() {
        comments.push(format!(
            "Unsafe sysctls: this pod starts only on nodes whose kubelet runs with --allowed-unsafe-sysctls={} \
             (elsewhere it is scheduled and fails with SysctlForbidden)",
            allow.join(",")
        ));
    }
    (set, comments)
}

/// Host networking and sysctls of a pod.
fn network(k: &Kube, pod: &mut PodSpec, sysctls: Vec<Sysctl>) {
    if k.host_network {
        pod.host_network = Some(true);
        pod.dns_policy = Some("ClusterFirstWithHostNet");
    }
    if !sysctls.is_empty() {
        pod.security_context = Some(PodSecurityContext { sysctls });
    }
}

/// An init container that waits (up to 10 minutes) until the server's
/// headless Service resolves, which it does once the server is ready.
fn wait_for_server(k: &Kube) -> Container {
    let host = format!("{}-server", k.name);
    let ns = kubectl_ns(k);
    let script = format!(
        "timeout 600 sh -c 'until getent hosts {host} >/dev/null; do sleep 1; done' || \
         {{ echo \"{host} did not resolve within 600 s: is it ready? kubectl{ns} rollout status deploy/{host}\" >&2; exit 1; }}"
    );
    Container {
        name: "wait-for-server",
        image: k.image.clone(),
        command: vec!["sh".into(), "-c".into(), script],
        ..Container::default()
    }
}

/// ` -n NAMESPACE` for kubectl commands in comments, when one is set.
fn kubectl_ns(k: &Kube) -> String {
    k.namespace
        .as_deref()
        .map_or(String::new(), |n| format!(" -n {n}"))
}

fn labels(k: &Kube, component: &str) -> Labels {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "c1m".to_string()),
        ("app.kubernetes.io/instance".to_string(), k.name.clone()),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
    ])
}

fn meta(k: &Kube, name: &str, labels: &Labels) -> Meta {
    Meta {
        name: Some(name.to_string()),
        namespace: k.namespace.clone(),
        labels: labels.clone(),
    }
}

fn resources(cpu: &str, memory: &str) -> Resources {
    Resources {
        requests: BTreeMap::from([("cpu", cpu.to_string()), ("memory", memory.to_string())]),
        limits: BTreeMap::from([("memory", memory.to_string())]),
    }
}

fn targets_text(load: &Load) -> String {
    load.targets
        .iter()
        .map(Target::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One YAML document: `---`, the comment lines, the object.
fn document<T: Serialize>(comments: &[String], object: &T) -> Result<String, DeployError> {
    let mut out = String::from("---\n");
    for c in comments {
        out += "# ";
        out += c;
        out.push('\n');
    }
    out += &super::yaml::to_string(object)?;
    Ok(out)
}

/// `NODE_NAME` from the downward API (`spec.nodeName`): the node a
/// report's kernel memory was measured on (`origin.node`).
fn node_name_env() -> Vec<EnvVar> {
    vec![EnvVar {
        name: "NODE_NAME",
        value_from: EnvSource {
            field_ref: FieldRef {
                field_path: "spec.nodeName",
            },
        },
    }]
}

#[cfg(test)]
#[path = "k8s_tests.rs"]
mod tests;
