//! `c1m k8s job` and `c1m k8s server`: print Kubernetes manifests for a
//! sharded run (see [`crate::deploy::k8s`]).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::args::{count, whole};
use super::deploy::{ShardedArgs, check_command, port_range, print};
use crate::deploy::Target;
use crate::deploy::k8s::{self, DEFAULT_IMAGE, JobSpec, Kube, Server};

/// `c1m k8s`.
#[derive(Debug, Clone, Args)]
pub struct K8sArgs {
    /// What to print.
    #[command(subcommand)]
    pub command: K8sCmd,
}

/// The manifests `c1m k8s` prints.
#[derive(Debug, Clone, Subcommand)]
pub enum K8sCmd {
    /// An Indexed Job of --shards client pods against --target (and a
    /// headless Service naming them): kubectl apply -f - takes it.
    Job(K8sJobArgs),
    /// c1m serve as a Deployment behind a headless Service.
    Server(K8sServerArgs),
}

/// How pods are made, for clients and server alike.
#[derive(Debug, Clone, Args)]
pub struct PodArgs {
    /// Name of the Job, prefix of every object (NAME-server).
    #[arg(long, default_value = "c1m")]
    pub name: String,
    /// Namespace of every object [default: kubectl's current one].
    #[arg(long)]
    pub namespace: Option<String>,
    /// Container image with c1m on PATH.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// Run pods in their node's network namespace (pod sysctls then do not
    /// apply: the node's do).
    #[arg(long)]
    pub host_network: bool,
    /// Also set namespaced sysctls outside Kubernetes' safe set
    /// (net.core.somaxconn …); every node's kubelet must run with
    /// --allowed-unsafe-sysctls for them.
    #[arg(long)]
    pub unsafe_sysctls: bool,
    /// Local port range of client pods (net.ipv4.ip_local_port_range, a
    /// safe sysctl).
    #[arg(long, value_name = "LO-HI", default_value = "1024-65535", value_parser = port_range)]
    pub port_range: (u16, u16),
    /// CPU request of each pod (1, 500m); no CPU limit.
    #[arg(long, default_value = "1")]
    pub cpu: String,
    /// Memory request and limit of each pod (4Gi) [default: from its
    /// sockets, at c1m's measured kernel memory per socket].
    #[arg(long)]
    pub memory: Option<String>,
    /// Serve Prometheus metrics on port 9464 of every pod.
    #[arg(long)]
    pub metrics: bool,
}

impl PodArgs {
    fn kube(&self) -> Kube {
        Kube {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            image: self.image.clone(),
            host_network: self.host_network,
            unsafe_sysctls: self.unsafe_sysctls,
            port_range: self.port_range,
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            metrics: self.metrics,
        }
    }
}

/// `c1m k8s job`.
#[derive(Debug, Clone, Args)]
pub struct K8sJobArgs {
    /// What the shards do.
    #[command(flatten)]
    pub run: ShardedArgs,
    /// How pods are made.
    #[command(flatten)]
    pub pod: PodArgs,
    /// Also print c1m serve (Deployment + headless Service) and aim the
    /// shards at it; they wait until it is ready.
    #[arg(long, conflicts_with = "targets")]
    pub with_server: bool,
    /// First port of the server with --with-server (it listens on enough
    /// ports to keep each client pod within c1m's per-pair budget).
    #[arg(long, default_value_t = 8090, requires = "with_server", value_parser = whole(1u16, Some(65_535)))]
    pub server_port: u16,
}

/// `c1m k8s server`.
#[derive(Debug, Clone, Args)]
pub struct K8sServerArgs {
    /// Connections the server holds at most.
    #[arg(short = 'n', long = "max-conns", value_parser = count)]
    pub max_conns: u64,
    /// Ports it listens on.
    #[arg(long, value_name = "LO-HI", default_value = "8090-8119", value_parser = port_range)]
    pub ports: (u16, u16),
    /// How the pod is made.
    #[command(flatten)]
    pub pod: PodArgs,
}

/// Runs `c1m k8s`.
pub fn run(a: &K8sArgs) -> anyhow::Result<ExitCode> {
    let m = match &a.command {
        K8sCmd::Job(j) => {
            let kube = j.pod.kube();
            let (load, server) = if j.with_server {
                // Aimed at the server's first port until its ports are known.
                let first = Target::parse(&format!("{}-server:{}", kube.name, j.server_port))?;
                let mut load = j.run.load(Some(vec![first]))?;
                let server =
                    Server::for_load(&load, j.server_port, k8s::client_local_ports(&kube))?;
                load.targets = vec![server.target(&kube)];
                (load, Some(server))
            } else {
                (j.run.load(None)?, None)
            };
            let spec = JobSpec { load, kube, server };
            let m = k8s::job(&spec)?;
            check_command(&k8s::pod_command(&spec, 0)?)?;
            m
        }
        K8sCmd::Server(s) => k8s::server(
            &s.pod.kube(),
            &Server {
                ports: s.ports,
                max_conns: s.max_conns,
            },
        )?,
    };
    print(&m)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cmd::Cli;
    use crate::deploy::Load;
    use crate::deploy::slurm::{self, Slurm, SlurmSpec};

    #[test]
    fn the_commands_the_manifests_run_parse_as_c1m_connect() {
        let load = Load {
            targets: vec![Target::parse("s.ns.svc:8090-8099").unwrap()],
            conns: 1_000_000,
            shards: 10,
            hold: Duration::from_millis(90_500),
            rate: Some(2500.5),
            window: Some(5000),
            start_at: Some("2026-12-01T10:00:00Z".into()),
            extra: vec!["--mode".into(), "heartbeat".into()],
            force: false,
        };
        let spec = JobSpec {
            load: load.clone(),
            kube: Kube {
                metrics: true,
                ..Kube::default()
            },
            server: None,
        };
        let pod = k8s::pod_command(&spec, 9).unwrap();
        check_command(&pod).unwrap();
        let task = slurm::task_command(
            &SlurmSpec {
                load,
                slurm: Slurm::default(),
            },
            "77",
            9,
        )
        .unwrap();
        check_command(&task).unwrap();
        let server = k8s::server(
            &Kube::default(),
            &Server {
                ports: (8090, 8093),
                max_conns: 1000,
            },
        )
        .unwrap();
        assert!(
            server
                .text
                .contains("- serve\n        - --listen\n        - '0.0.0.0:8090-8093'\n")
        );
        Cli::try_parse_from([
            "c1m",
            "serve",
            "--listen",
            "0.0.0.0:8090-8093",
            "--max-conns",
            "1000",
        ])
        .unwrap();
    }
}
