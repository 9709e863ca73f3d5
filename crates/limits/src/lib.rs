//! Which limit binds first for N TCP connections on this box, and raising
//! it safely: `c1m doctor`, `c1m tune`, and the checks `c1m run` and
//! `c1m connect` make before they start.
//!
//! # Code map, lowest layer first
//! A module uses only modules of lower layers (`tests/layers.rs` enforces
//! it): the readers and parsers never depend on the verdict, the tuning
//! plan or their presentation.
//!
//! 1. [`num`]: counts, sizes and plurals as the reports write them.
//!    `files` (private): atomic writes. [`lock`]: one tune at a time.
//! 2. [`parse`]: pure parsers for each file read; never panic.
//! 3. [`calibration`]: c1m's measured kernel bytes per socket.
//!    [`placement`]: where each setting can be set from a pod (kernel
//!    namespacing, the Kubernetes safe set). Pure.
//! 4. [`facts`]: reads every limit into [`Facts`] from [`Roots`] (`/proc`,
//!    `/etc`, the state directory, or a fixture tree). The only reading.
//!    [`target`]: what is checked for ([`Target`], [`Role`], [`Tuples`]).
//! 5. [`ports`]: the local port range as `connect()` uses it (the per-pair
//!    budget, listen ports an ephemeral port can take). [`closing`]: what
//!    `--close fin` leaves (TIME_WAIT, orphans). [`ehash`]: the
//!    established hash table's size and load. Pure.
//! 6. `rows` (private): [`Facts`] + [`Target`] → the doctor's rows. Pure.
//! 7. [`verdict`]: the rows, the binding limit, the one-line verdict.
//!    [`tune`]: [`Facts`] + request → [`tune::Plan`] with 10 % headroom and
//!    refusals. Pure.
//! 8. [`apply`]: writes a plan, records the previous state, reverts it
//!    exactly. [`render`]: text table, versioned JSON, tune diff. Pure.
//! 9. [`cli`]: clap arguments and entry points for the binary.
//!
//! **Architecture invariant:** `ports`, `closing`, `rows`, `verdict`,
//! `tune` and `render` do no I/O; every path comes from [`Roots`], so every
//! computation is tested on fixture machines.

#![deny(missing_docs)]

pub mod apply;
pub mod calibration;
pub mod cli;
pub mod closing;
pub mod ehash;
pub mod facts;
mod files;
pub mod lock;
pub mod num;
pub mod parse;
pub mod placement;
pub mod ports;
pub mod render;
mod rows;
pub mod target;
pub mod tune;
pub mod verdict;

pub use calibration::Calibration;
pub use facts::{Facts, Reading, Roots};
pub use placement::{KubeVersion, Place, Placement};
pub use target::{Role, Target, Tuples, WORKER_FD_RESERVE};
pub use verdict::{Row, Status, Verdict};

/// The doctor's checks for `c1m run` and `c1m connect`, before they start:
/// reads the machine under `roots` and evaluates `target`. Refuse when
/// `!verdict.ok()` (print `verdict.line()`), or cap the target at
/// `verdict.max_connections()`; spawn `verdict.worker_processes(role)`
/// workers per side.
pub fn preflight(roots: &Roots, target: &Target) -> Verdict {
    verdict::evaluate(&Facts::read(roots), target)
}
