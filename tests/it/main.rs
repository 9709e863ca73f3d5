//! Every end-to-end test of c1m, in one binary (one link), a module per
//! topic. They drive the real binary against real sockets, real `/proc`
//! and real servers, and check its figures against an independent
//! reading (the kernel's tables read by the test itself, `ss`, the server
//! process's own descriptors).

mod util;

mod bad_input;
mod csv_timeline;
mod deploy;
mod deploy_slurm;
mod faults;
mod fuzz_inputs;
mod gate;
mod half_open;
mod held;
mod hostile;
mod html_report;
mod ip;
mod k8s_cluster;
mod lab;
mod lab_faults;
mod lab_run;
mod measure;
mod merge;
mod metrics;
mod others;
mod pipelined;
mod proxy;
mod report_schema;
mod run;
mod run_netns;
mod scenario;
mod serve_connect;
mod servers;
mod shard;
mod sharded;
mod slurm;
mod stages;
mod stat;
mod tidy;
mod tls;
mod trial;
mod truth15;
mod truths;
mod tune_crash;
mod unprivileged;
mod websocket;

/// The misbehaving test servers run as this binary, re-executed with
/// `util::testserver::ENV` set (see `util::testserver`); this is their
/// entry point, and a no-op otherwise.
#[test]
fn test_server_process() {
    util::testserver::entry();
}
