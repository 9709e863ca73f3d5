//! `c1m slurm job`: print a Slurm batch script for a sharded run (see
//! [`crate::deploy::slurm`]).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::deploy::{ShardedArgs, check_command, port_range, print};
use crate::deploy::slurm::{self, Slurm, SlurmSpec};

/// `c1m slurm`.
#[derive(Debug, Clone, Args)]
pub struct SlurmArgs {
    /// What to print.
    #[command(subcommand)]
    pub command: SlurmCmd,
}

/// The scripts `c1m slurm` prints.
#[derive(Debug, Clone, Subcommand)]
pub enum SlurmCmd {
    /// An sbatch array job of --shards tasks against --target, one per
    /// node, each writing its report for c1m merge.
    Job(SlurmJobArgs),
}

/// `c1m slurm job`.
#[derive(Debug, Clone, Args)]
pub struct SlurmJobArgs {
    /// What the shards do.
    #[command(flatten)]
    pub run: ShardedArgs,
    /// Job name, and the prefix of its report and log files.
    #[arg(long, default_value = "c1m")]
    pub job_name: String,
    /// Partition [default: the cluster's].
    #[arg(long)]
    pub partition: Option<String>,
    /// Account to charge.
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit (30, 1:00:00, 1-0) [default: the partition's].
    #[arg(long)]
    pub time: Option<String>,
    /// Where reports and logs go: a directory every node sees.
    #[arg(long, default_value = ".")]
    pub output_dir: String,
    /// The c1m program on the nodes.
    #[arg(long = "c1m", value_name = "PATH", default_value = "c1m")]
    pub program: String,
    /// The nodes' net.ipv4.ip_local_port_range, for the ports arithmetic
    /// [default: the kernel's, 32768-60999].
    #[arg(long, value_name = "LO-HI", value_parser = port_range)]
    pub port_range: Option<(u16, u16)>,
}

/// Runs `c1m slurm`.
pub fn run(a: &SlurmArgs) -> anyhow::Result<ExitCode> {
    let SlurmCmd::Job(j) = &a.command;
    let spec = SlurmSpec {
        load: j.run.load(None)?,
        slurm: Slurm {
            job_name: j.job_name.clone(),
            partition: j.partition.clone(),
            account: j.account.clone(),
            time: j.time.clone(),
            output_dir: j.output_dir.clone(),
            program: j.program.clone(),
            port_range: j.port_range,
        },
    };
    let m = slurm::batch_script(&spec)?;
    check_command(&slurm::task_command(&spec, "0", 0)?)?;
    print(&m)?;
    Ok(ExitCode::SUCCESS)
}
