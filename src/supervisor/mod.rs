//! The supervisor: one experiment from start to report. It starts the
//! worker processes ([`fleet`]), drives them through ramp, hold and
//! teardown ([`session`]), reads the kernel's accounting around them
//! ([`measure`]), decides when a capacity search has found its limit
//! ([`search`], pure), and serves Prometheus metrics while it runs
//! ([`metrics`]). Ctrl-C and SIGTERM are counted as the presses that
//! sent them ([`presses`]).

pub mod fleet;
pub mod measure;
pub mod metrics;
pub mod presses;
pub mod search;
pub mod session;
