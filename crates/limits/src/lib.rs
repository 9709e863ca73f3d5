//! Which limit binds first for N TCP connections on this box, and raising
//! it safely: `c1m doctor`, `c1m tune`, and the preflight `c1m run` and
//! `c1m connect` use.
//!
//! # Code map
//! - `facts`: reads every limit into [`Facts`] from [`Roots`] (`/proc`,
//!   `/etc`, the state directory, or a fixture tree). The only reading.
//! - `parse`: pure parsers for each file; never panic.
//! - `verdict` (+ `rows`): [`Facts`] + [`Target`] → [`Verdict`]: rows, the
//!   binding limit, the one-line verdict. Pure.
//! - `tune`: [`Facts`] + request → [`tune::Plan`] with 10 % headroom and
//!   refusals. Pure.
//! - `apply`: writes a plan, records the previous state, reverts it exactly.
//! - `render`: text table, versioned JSON, tune diff. Pure.
//! - `cli`: clap arguments and entry points for the binary.
//! - `calibration`: c1m's measured kernel bytes per socket.
//!
//! **Architecture invariant:** `verdict`, `rows`, `tune` and `render` do no
//! I/O; every path comes from [`Roots`], so every computation is tested on
//! fixture machines.

#![warn(missing_docs)]

pub mod apply;
pub mod calibration;
pub mod cli;
pub mod facts;
pub mod num;
pub mod parse;
pub mod render;
mod rows;
pub mod tune;
pub mod verdict;

pub use calibration::Calibration;
pub use facts::{Facts, Reading, Roots};
pub use verdict::{Role, Row, Status, Target, Tuples, Verdict, WORKER_FD_RESERVE};

/// The doctor's checks for `c1m run` and `c1m connect`, before they start:
/// reads the machine under `roots` and evaluates `target`. Refuse when
/// `!verdict.ok()` (print `verdict.line()`), or cap the target at
/// `verdict.max_connections()`; spawn `verdict.worker_processes(role)`
/// workers per side.
pub fn preflight(roots: &Roots, target: &Target) -> Verdict {
    verdict::evaluate(&Facts::read(roots), target)
}
