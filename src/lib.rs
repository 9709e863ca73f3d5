//! c1m: how many TCP connections can one Linux server really hold?
//!
//! See ARCHITECTURE.md for the map.

pub mod cause;
pub mod cli;
pub mod fleet;
pub mod hold;

pub mod ip;
pub mod lab;
pub mod latency;
pub mod measure;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod run;
pub mod search;
pub mod session;
pub mod stat;
pub mod traffic;
pub mod wire;
