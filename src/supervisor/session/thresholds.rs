//! `--fail-if` during the experiment: the thresholds a session judges,
//! and `--abort-on-fail`'s check after each sample.

use std::time::{Duration, Instant};

use super::Session;
use crate::report::{self, model::CommandKind, model::End};
use crate::supervisor::fleet::Role;
use crate::threshold::Gate;
use crate::wire::ToWorker;

impl Session {
    /// Judges the report against `gate`'s thresholds at the end, and with
    /// `--abort-on-fail` ends the experiment when one fails during it
    /// ([`crate::threshold::Threshold::trips`]): the clients stop opening,
    /// the end is read as after a Ctrl-C, and the report says so
    /// ([`End::Aborted`]).
    pub fn gate(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }

    /// With `--abort-on-fail`: whether a threshold failed on what the
    /// last sample knows; if so, the clients stop opening and the
    /// experiment ends ([`End::Aborted`]).
    pub(super) fn tripped(
        &mut self,
        ramp: Instant,
        reached_at: Option<Duration>,
        in_hold: bool,
    ) -> bool {
        if !self.gate.abort_on_fail || self.end.is_some() {
            return false;
        }
        let serve = self.command == CommandKind::Serve;
        let ramp = (ramp.elapsed(), reached_at);
        // With stages, held is judged against the target of the moment.
        let target = self.shape.target.unwrap_or(self.plan.conns);
        // The attempts as the last sample's failures were counted: no
        // worker was heard since it was taken.
        let attempts = report::gate::attempts(
            serve,
            &self.fleet.totals(Role::Client),
            &self.fleet.totals(Role::Server),
        );
        let of = (target, attempts);
        let Some(live) = report::gate::live(&self.timeline, of, serve, ramp, in_hold) else {
            return false;
        };
        let t = self.timeline.last().map_or(0.0, |s| s.t);
        let Some(i) = self.gate.check(t, &live) else {
            return false;
        };
        let why = report::gate::trip_line(&self.gate, i);
        let nl = if self.tty { "\n" } else { "" };
        crate::say!("{nl}c1m: {why}; ending the run (--abort-on-fail)");
        self.fleet.tell(Role::Client, &ToWorker::Pause);
        self.end = Some(End::Aborted { why });
        true
    }
}
