//! Where each limit the doctor reads can be set when c1m runs in a
//! container: inside a pod, inside a pod only once the node's kubelet
//! allows it, or on the node only. Pure: a table and lookups.
//!
//! Two sources decide it, and each entry names both:
//!
//! - **Kernel namespacing.** A sysctl a pod can set must be per network
//!   namespace (or IPC namespace). In the kernel, the per-namespace IPv4
//!   sysctls are `ipv4_net_table` in `net/ipv4/sysctl_net_ipv4.c` and the
//!   machine-wide ones `ipv4_table`; for `net.core`, `netns_core_table`
//!   against `net_core_table` in `net/core/sysctl_net_core.c`. A fresh
//!   network namespace shows the difference: a namespaced sysctl is there
//!   and writable, a machine-wide one is absent or read-only (mode 0444)
//!   — `crates/limits/tests/it/placement.rs` checks every entry that way on
//!   the running kernel. `fs.*` (but `fs.mqueue`) has no namespace at all.
//! - **Kubernetes' safe set** ([`SAFE_SET_SOURCE`]): the namespaced sysctls
//!   the kubelet allows in any pod. Any other namespaced sysctl is
//!   *unsafe*: a pod asking for it is scheduled and then fails to start on
//!   every node whose kubelet does not run with
//!   `--allowed-unsafe-sysctls=NAME`. `net.*` sysctls are refused
//!   altogether in a pod with `hostNetwork: true` (the pod shares the
//!   node's namespace): there they are node-level.
//!
//! Limits that are not sysctls: `RLIMIT_NOFILE` in a container is what the
//! container runtime gives its processes (containerd's or CRI-O's
//! configuration, or the `LimitNOFILE` of its systemd unit) — no pod field
//! sets it; `limits.conf` (`nofile`) applies to logins only.

use std::fmt;

use serde::Serialize;

/// Where the Kubernetes safe set comes from, and its version.
pub const SAFE_SET_SOURCE: &str = "Kubernetes documentation, \"Using sysctls in a Kubernetes Cluster\" \
     (safe set as of v1.32; kubelet: pkg/kubelet/sysctl/safe_sysctls.go)";

/// The newest Kubernetes minor version whose safe set this table knows:
/// [`Place`]s are given for it unless a caller asks for an older one.
pub const SAFE_SET_VERSION: KubeVersion = KubeVersion(1, 32);

/// A Kubernetes minor version, `KubeVersion(1, 29)` for v1.29.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion(pub u32, pub u32);

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a limit can be set when c1m runs in a Kubernetes pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A namespaced sysctl in Kubernetes' safe set: `securityContext.sysctls`
    /// of any pod (not with `hostNetwork: true`).
    Pod,
    /// A namespaced sysctl outside the safe set: `securityContext.sysctls`
    /// of a pod on a node whose kubelet runs with
    /// `--allowed-unsafe-sysctls=NAME` (elsewhere the pod fails to start).
    PodUnsafe,
    /// Machine-wide: set on the node itself (`/etc/sysctl.d`, or a
    /// privileged DaemonSet); no pod can.
    Node,
    /// A resource limit the container runtime gives the container's
    /// processes (`RLIMIT_NOFILE`): the runtime's configuration on the node;
    /// no pod field sets it.
    Runtime,
}

impl Place {
    /// How the doctor's text names it.
    pub fn label(self) -> &'static str {
        match self {
            Place::Pod => "pod (securityContext.sysctls)",
            Place::PodUnsafe => "pod, once the kubelet has --allowed-unsafe-sysctls",
            Place::Node => "node only",
            Place::Runtime => "container runtime (no pod field)",
        }
    }
}

/// How the kernel scopes a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One value per network namespace (so per pod).
    NetNamespace,
    /// One value for the whole machine.
    Machine,
    /// Not a sysctl: a per-process resource limit.
    Rlimit,
}

/// One setting: where it can be set, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The sysctl (`net.core.somaxconn`) or limit (`RLIMIT_NOFILE`) as the
    /// doctor names it.
    pub name: &'static str,
    /// How the kernel scopes it.
    pub scope: Scope,
    /// The oldest kernel where it is per namespace, when a source says
    /// (the Kubernetes documentation gives it for the safe set).
    pub namespaced_since_kernel: Option<&'static str>,
    /// The Kubernetes version that put it in the safe set; `None` when it
    /// is not in the safe set.
    pub safe_since: Option<KubeVersion>,
    /// Where this comes from: the kernel file or document that says so.
    pub source: &'static str,
}

const IPV4_NET: &str = "per netns: ipv4_net_table, net/ipv4/sysctl_net_ipv4.c";
const IPV4_GLOBAL: &str = "machine-wide: ipv4_table, net/ipv4/sysctl_net_ipv4.c";
const CORE_NET: &str = "per netns: netns_core_table, net/core/sysctl_net_core.c";
const CORE_GLOBAL: &str =
    "machine-wide: net_core_table, net/core/sysctl_net_core.c (read-only in other namespaces)";

const fn netns(
    name: &'static str,
    source: &'static str,
    safe_since: Option<KubeVersion>,
    kernel: Option<&'static str>,
) -> Placement {
    Placement {
        name,
        scope: Scope::NetNamespace,
        namespaced_since_kernel: kernel,
        safe_since,
        source,
    }
}

const fn machine(name: &'static str, source: &'static str) -> Placement {
    Placement {
        name,
        scope: Scope::Machine,
        namespaced_since_kernel: None,
        safe_since: None,
        source,
    }
}

const fn rlimit(name: &'static str, source: &'static str) -> Placement {
    Placement {
        name,
        scope: Scope::Rlimit,
        namespaced_since_kernel: None,
        safe_since: None,
        source,
    }
}

/// The safe set's first entries predate the versions c1m supports; 1.4 is
/// where `securityContext.sysctls` began (as annotations).
const FIRST: Option<KubeVersion> = Some(KubeVersion(1, 4));

/// Every setting the doctor and `c1m tune` name, and the ones `c1m k8s`
/// puts in a pod.
pub const TABLE: &[Placement] = &[
    // Ports.
    netns("net.ipv4.ip_local_port_range", IPV4_NET, FIRST, None),
    netns(
        "net.ipv4.ip_local_reserved_ports",
        IPV4_NET,
        Some(KubeVersion(1, 27)),
        Some("3.16"),
    ),
    // Queues.
    netns("net.core.somaxconn", CORE_NET, None, None),
    netns("net.ipv4.tcp_max_syn_backlog", IPV4_NET, None, None),
    netns("net.ipv4.tcp_syncookies", IPV4_NET, FIRST, Some("4.6")),
    machine(
        "net.core.netdev_max_backlog",
        "machine-wide: net_core_table, net/core/sysctl_net_core.c (absent in other namespaces)",
    ),
    // Memory.
    machine("net.ipv4.tcp_mem", IPV4_GLOBAL),
    netns(
        "net.ipv4.tcp_rmem",
        IPV4_NET,
        Some(KubeVersion(1, 32)),
        Some("4.15"),
    ),
    netns(
        "net.ipv4.tcp_wmem",
        IPV4_NET,
        Some(KubeVersion(1, 32)),
        Some("4.15"),
    ),
    machine("net.core.rmem_max", CORE_GLOBAL),
    machine("net.core.wmem_max", CORE_GLOBAL),
    machine("net.core.rmem_default", CORE_GLOBAL),
    machine("net.core.wmem_default", CORE_GLOBAL),
    // TIME_WAIT and closing.
    netns("net.ipv4.tcp_max_tw_buckets", IPV4_NET, None, None),
    machine("net.ipv4.tcp_max_orphans", IPV4_GLOBAL),
    netns("net.ipv4.tcp_tw_reuse", IPV4_NET, None, None),
    netns(
        "net.ipv4.tcp_fin_timeout",
        IPV4_NET,
        Some(KubeVersion(1, 29)),
        Some("4.6"),
    ),
    // Conntrack: writable only in the first namespace (the Kubernetes
    // documentation names it as the exception among net.*).
    machine(
        "net.netfilter.nf_conntrack_max",
        "machine-wide: nf_conntrack_max, net/netfilter/nf_conntrack_standalone.c (read-only in other namespaces)",
    ),
    // File descriptors.
    machine(
        "fs.file-max",
        "machine-wide: files_stat.max_files, fs/file_table.c",
    ),
    machine("fs.nr_open", "machine-wide: sysctl_nr_open, fs/file.c"),
    machine(
        "DefaultLimitNOFILE",
        "systemd on the node (system.conf): the default of its services, the container runtime's among them",
    ),
    rlimit(
        "RLIMIT_NOFILE",
        "setrlimit(2); in a container the runtime sets it (containerd/CRI-O config or LimitNOFILE of its unit)",
    ),
    rlimit(
        "nofile",
        "limits.conf(5): pam_limits at login; a container's processes get the runtime's RLIMIT_NOFILE instead",
    ),
];

/// The entry for `name` (a sysctl in dotted form, or `RLIMIT_NOFILE`,
/// `nofile`, `DefaultLimitNOFILE`); `None` for what is not a setting
/// (`MemAvailable`, `fs.file-nr`, the 4-tuple …).
pub fn of(name: &str) -> Option<&'static Placement> {
    TABLE.iter().find(|p| p.name == name)
}

impl Placement {
    /// Where it can be set in a pod of Kubernetes `kube`, with the pod on
    /// its own network namespace (`host_network` false) or on the node's.
    pub fn place_in(&self, kube: KubeVersion, host_network: bool) -> Place {
        match self.scope {
            Scope::Rlimit => Place::Runtime,
            Scope::Machine => Place::Node,
            Scope::NetNamespace if host_network => Place::Node,
            Scope::NetNamespace => match self.safe_since {
                Some(v) if v <= kube => Place::Pod,
                _ => Place::PodUnsafe,
            },
        }
    }

    /// [`Self::place_in`] for the newest safe set known, in a pod with its
    /// own network namespace: what the doctor shows.
    pub fn place(&self) -> Place {
        self.place_in(SAFE_SET_VERSION, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(name: &str) -> Place {
        of(name).unwrap().place()
    }

    #[test]
    fn the_settings_c1m_names_fall_where_the_kernel_and_kubernetes_put_them() {
        for name in [
            "net.ipv4.ip_local_port_range",
            "net.ipv4.ip_local_reserved_ports",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_rmem",
            "net.ipv4.tcp_wmem",
            "net.ipv4.tcp_fin_timeout",
        ] {
            assert_eq!(place(name), Place::Pod, "{name}");
        }
        for name in [
            "net.core.somaxconn",
            "net.ipv4.tcp_max_syn_backlog",
            "net.ipv4.tcp_max_tw_buckets",
            "net.ipv4.tcp_tw_reuse",
        ] {
            assert_eq!(place(name), Place::PodUnsafe, "{name}");
        }
        for name in [
            "fs.file-max",
            "fs.nr_open",
            "net.ipv4.tcp_mem",
            "net.ipv4.tcp_max_orphans",
            "net.netfilter.nf_conntrack_max",
            "net.core.rmem_max",
            "net.core.wmem_max",
            "DefaultLimitNOFILE",
        ] {
            assert_eq!(place(name), Place::Node, "{name}");
        }
        assert_eq!(place("RLIMIT_NOFILE"), Place::Runtime);
        assert_eq!(place("nofile"), Place::Runtime);
        assert_eq!(of("MemAvailable"), None);
        assert_eq!(of("fs.file-nr"), None);
    }

    #[test]
    fn the_safe_set_grew_with_kubernetes_versions() {
        let rmem = of("net.ipv4.tcp_rmem").unwrap();
        assert_eq!(rmem.place_in(KubeVersion(1, 31), false), Place::PodUnsafe);
        assert_eq!(rmem.place_in(KubeVersion(1, 32), false), Place::Pod);
        let fin = of("net.ipv4.tcp_fin_timeout").unwrap();
        assert_eq!(fin.place_in(KubeVersion(1, 28), false), Place::PodUnsafe);
        assert_eq!(fin.place_in(KubeVersion(1, 29), false), Place::Pod);
        let range = of("net.ipv4.ip_local_port_range").unwrap();
        assert_eq!(range.place_in(KubeVersion(1, 29), false), Place::Pod);
    }

    #[test]
    fn host_network_makes_every_net_sysctl_node_level() {
        for p in TABLE.iter().filter(|p| p.name.starts_with("net.")) {
            assert_eq!(
                p.place_in(SAFE_SET_VERSION, true),
                Place::Node,
                "{}",
                p.name
            );
        }
        let nofile = of("RLIMIT_NOFILE").unwrap();
        assert_eq!(nofile.place_in(SAFE_SET_VERSION, true), Place::Runtime);
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, p) in TABLE.iter().enumerate() {
            assert!(
                TABLE[..i].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
            assert!(!p.source.is_empty(), "{} names no source", p.name);
            // Only a per-namespace sysctl can be in the safe set.
            if p.safe_since.is_some() || p.namespaced_since_kernel.is_some() {
                assert_eq!(p.scope, Scope::NetNamespace, "{}", p.name);
            }
        }
        assert_eq!(KubeVersion(1, 29).to_string(), "1.29");
        assert!(KubeVersion(1, 9) < KubeVersion(1, 10));
    }
}
