//! Every integration test of this crate, in one binary (one link), a
//! module per topic.

mod util;

mod doctor_fixtures;
mod layers;
mod live;
mod live_apply;
mod placement;
mod tune_crash;
mod tune_fixtures;
