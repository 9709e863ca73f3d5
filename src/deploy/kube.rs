//! The few fields of the Kubernetes API that `c1m k8s` writes, typed so
//! that a misspelt field is a compile error and the YAML's shape is the
//! API's (names in camelCase, absent rather than null when unset). Field
//! meanings are the API reference's (Kubernetes v1.29+: `batch/v1` Job,
//! `apps/v1` Deployment, `v1` Service); only what c1m sets is here.
//!
//! Why not k8s-openapi: it compiles in ~40 s more here and its oldest API
//! is 1.33, above the 1.29 c1m supports (see the workspace Cargo.toml).

use std::collections::BTreeMap;

use serde::Serialize;

/// Labels or a selector's `matchLabels`: sorted, so output is stable.
pub type Labels = BTreeMap<String, String>;

/// Any top-level object: `apiVersion`, `kind`, `metadata`, `spec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// `v1`, `batch/v1`, `apps/v1`.
    pub api_version: &'static str,
    /// `Service`, `Job`, `Deployment`.
    pub kind: &'static str,
    /// Name, namespace, labels.
    pub metadata: Meta,
    /// The kind's spec.
    pub spec: S,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The object's name (absent in a pod template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its namespace; absent means the one kubectl applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
}

/// `ServiceSpec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `None` makes the Service headless: DNS answers with the pods'
    /// own addresses (no virtual IP, no kube-proxy DNAT).
    #[serde(rename = "clusterIP")]
    pub cluster_ip: &'static str,
    /// The pods it names.
    pub selector: Labels,
    /// Its ports (a headless Service may have none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
}

/// `ServicePort`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Required when a Service has more than one port.
    pub name: String,
    /// The port number.
    pub port: u16,
    /// Always `TCP`.
    pub protocol: &'static str,
}

/// `JobSpec` of an Indexed Job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// `Indexed`: every pod gets `JOB_COMPLETION_INDEX` (GA in 1.24).
    pub completion_mode: &'static str,
    /// Pods that must succeed: one per index.
    pub completions: u32,
    /// Pods run at once.
    pub parallelism: u32,
    /// Retries per index (beta and on by default in 1.29, GA in 1.33);
    /// 0: a failed shard stays failed, its report tells why.
    pub backoff_limit_per_index: u32,
    /// The pods.
    pub template: PodTemplate,
}

/// `DeploymentSpec`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Pods.
    pub replicas: u32,
    /// Which pods are its own.
    pub selector: LabelSelector,
    /// `Recreate`: never two servers splitting the connections mid-rollout.
    pub strategy: Strategy,
    /// The pods.
    pub template: PodTemplate,
}

/// `DeploymentStrategy`.
#[derive(Debug, Clone, Serialize)]
pub struct Strategy {
    /// `Recreate` or `RollingUpdate`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `LabelSelector` with `matchLabels` only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels a pod must carry.
    pub match_labels: Labels,
}

/// `PodTemplateSpec`.
#[derive(Debug, Clone, Serialize)]
pub struct PodTemplate {
    /// The pods' labels.
    pub metadata: Meta,
    /// The pods.
    pub spec: PodSpec,
}

/// `PodSpec`: the fields c1m sets.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `Never` for the Job (a shard is not restarted; the Job's backoff
    /// decides), absent (`Always`) for the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<&'static str>,
    /// The headless Service giving each pod the name `JOB-I.SUBDOMAIN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The node's network namespace instead of the pod's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// `ClusterFirstWithHostNet` with host networking, so Service names
    /// still resolve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<&'static str>,
    /// Pod-level sysctls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// How pods spread over nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpread>,
    /// Soft anti-affinity to other pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Run before the containers (waiting for the server).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// The containers.
    pub containers: Vec<Container>,
}

/// `PodSecurityContext`, sysctls only.
#[derive(Debug, Clone, Serialize)]
pub struct PodSecurityContext {
    /// Namespaced sysctls set for the pod.
    pub sysctls: Vec<Sysctl>,
}

/// `Sysctl`: a name and its value as the sysctl file takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sysctl {
    /// Dotted name: `net.ipv4.ip_local_port_range`.
    pub name: String,
    /// Value: `1024 65535`.
    pub value: String,
}

/// `TopologySpreadConstraint`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpread {
    /// Most pods one domain may have beyond the least loaded one.
    pub max_skew: u32,
    /// The domain: `kubernetes.io/hostname`, one per node.
    pub topology_key: &'static str,
    /// `DoNotSchedule`: wait rather than crowd a node.
    pub when_unsatisfiable: &'static str,
    /// Which pods count.
    pub label_selector: LabelSelector,
}

/// `Affinity`, pod anti-affinity only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    /// Keep away from some pods.
    pub pod_anti_affinity: PodAntiAffinity,
}

/// `PodAntiAffinity`, preferred terms only.
#[derive(Debug, Clone, Serialize)]
pub struct PodAntiAffinity {
    /// Scheduler preferences, not requirements.
    #[serde(rename = "preferredDuringSchedulingIgnoredDuringExecution")]
    pub preferred: Vec<WeightedTerm>,
}

/// `WeightedPodAffinityTerm`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedTerm {
    /// 1–100.
    pub weight: u32,
    /// The pods to avoid, per domain.
    pub pod_affinity_term: AffinityTerm,
}

/// `PodAffinityTerm`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AffinityTerm {
    /// Which pods.
    pub label_selector: LabelSelector,
    /// Per node.
    pub topology_key: &'static str,
}

/// `Container`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Its name in the pod.
    pub name: &'static str,
    /// The image.
    pub image: String,
    /// The program and its first arguments (replaces the entrypoint).
    pub command: Vec<String>,
    /// Further arguments; `$(VAR)` expands from the container's env,
    /// `$$` is a literal `$`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Ports it listens on (informational, and for probes by name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// Ready when this succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Requests and limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// `EnvVar` from the downward API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: &'static str,
    /// Where its value comes from.
    pub value_from: EnvSource,
}

/// `EnvVarSource`, `fieldRef` only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvSource {
    /// A field of the pod.
    pub field_ref: FieldRef,
}

/// `ObjectFieldSelector`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    /// `spec.nodeName`.
    pub field_path: &'static str,
}

/// `ContainerPort`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// At most 15 characters.
    pub name: String,
    /// The port.
    pub container_port: u16,
    /// Always `TCP`.
    pub protocol: &'static str,
}

/// `Probe`, `tcpSocket` only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Ready once this port accepts a connection.
    pub tcp_socket: TcpSocket,
    /// Seconds between probes.
    pub period_seconds: u32,
}

/// `TCPSocketAction`.
#[derive(Debug, Clone, Serialize)]
pub struct TcpSocket {
    /// The port to connect to.
    pub port: u16,
}

/// `ResourceRequirements`: quantities as Kubernetes writes them (`1`,
/// `500m`, `4096Mi`).
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// What the scheduler reserves.
    pub requests: BTreeMap<&'static str, String>,
    /// What the kernel enforces (memory: the cgroup limit).
    pub limits: BTreeMap<&'static str, String>,
}
