//! c1m: how many TCP connections can one Linux server really hold?
//!
//! The layers, lowest first (a module uses only the layers below it; the
//! tidy test `tests/it/tidy.rs` enforces it):
//! - vocabulary, pure: [`cause`], [`latency`], [`traffic`], [`plan`],
//!   [`threshold`] (the grammar of `--fail-if`), [`proxy`] (the PROXY
//!   protocol's headers);
//! - TLS's and WebSocket's settings and failure causes, sans I/O:
//!   [`tls`], [`ws`];
//! - load shapes over time, pure: [`stages`] (`--stages`, the reconnect
//!   back-off, `--close-fraction`);
//! - the protocol between the supervisor and its workers: [`wire`] (its
//!   messages) and [`cap`] (a server's cap, one count its workers share);
//! - what an experiment found: [`report`];
//! - the worker processes, which hold connections: [`worker`];
//! - the supervisor, which drives an experiment: [`supervisor`];
//! - the tools beside it: [`ip`], [`lab`], [`stat`], and [`deploy`] (the
//!   Kubernetes and Slurm manifests for sharded runs, pure);
//! - the command line, the only layer that knows clap: [`cmd`].
//!
//! See ARCHITECTURE.md for the map.

#![deny(missing_docs)]
// Every line for the user goes through `say!`: a closed stderr must not
// end a run (`eprintln!` panics on EPIPE).
#![deny(clippy::print_stderr)]

/// Writes a line to stderr, as `eprintln!` does, except that a stderr
/// nobody reads any more (a pipe whose reader is gone, as in `c1m run
/// 2>&1 | head -2`; EPIPE, write(2)) is not an error: the line is dropped
/// and the run goes on to its end, its report and its files.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// [`say!`] without the line's end (`eprint!`): a progress line redrawn
/// in place.
#[macro_export]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cause;
pub mod latency;
pub mod plan;
pub mod proxy;
pub mod threshold;
pub mod traffic;

pub mod stages;
pub mod tls;
pub mod ws;

pub mod cap;
pub mod wire;

pub mod report;

pub mod worker;

pub mod supervisor;

pub mod deploy;
pub mod ip;
pub mod lab;
pub mod stat;

pub mod cmd;
