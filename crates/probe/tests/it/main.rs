//! Every integration test of this crate, in one binary (one link), a
//! module per topic.

mod util;

mod diag;
mod endpoints;
mod layers;
mod meminfo;
mod netstat;
mod process;
mod slabinfo;
mod sockstat;
