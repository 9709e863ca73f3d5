//! Drives `doctor` and `tune` the way the `c1m` binary will, until it is
//! wired in: `cargo run -p c1m-limits --example limits -- doctor --target 1M`.

use std::process::ExitCode;

use c1m_limits::cli::{self, DoctorArgs, TuneArgs};
use clap::Parser;

#[derive(Parser)]
#[command(name = "c1m", about = "c1m's limit checks")]
enum Command {
    /// Every limit on the way to the target, and which binds first.
    Doctor(DoctorArgs),
    /// The settings for a target, as a diff; --apply writes them, --revert undoes.
    Tune(TuneArgs),
}

fn main() -> ExitCode {
    let result = match Command::parse() {
        Command::Doctor(args) => cli::doctor(&args),
        Command::Tune(args) => cli::tune(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("c1m: {e:#}");
        ExitCode::from(2)
    })
}
