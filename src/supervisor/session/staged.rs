//! A session's load shape: the stages (`--stages`, `--ramp-up`,
//! `--ramp-down`) driven stage by stage, each client worker told its
//! part of the target over the wire (`ToWorker::Target`) and the
//! kernel's count read at each stage's end; the servers' closes on
//! `--close-fraction`; and what the report says of them.
//!
//! At a stage's end each worker is told the stage's own target at once
//! (one whose line began a few milliseconds late closes, or opens, what
//! it lags by), then asked to count its sockets, then told the next
//! stage's target: it handles them in that order, so the count is of the
//! stage just ended while the next one already moves.

use std::process::ExitCode;
use std::time::Instant;

use super::look::Look;
use super::{SAMPLE_EVERY, Session};
use crate::report::judge::held_by_server;
use crate::report::model::{
    CountSource, Held, KernelCount, Phase, ServerClose, ServerSide, Stage, StageResult,
    StagesReport,
};
use crate::stages::backoff::Reconnect;
use crate::stages::close::CloseFraction;
use crate::stages::{self, Stages};
use crate::supervisor::fleet::Role;
use crate::supervisor::measure::Snapshot;
use crate::wire::ToWorker;

/// What shapes the load over time, and how it went.
#[derive(Debug, Default)]
pub(super) struct Shape {
    /// The stages; `None`: ramp, hold, teardown as usual.
    pub stages: Option<Stages>,
    /// `--reconnect`, for the report (the workers have it in their specs).
    pub reconnect: Option<Reconnect>,
    /// `--close-fraction`s, and when each was done.
    pub closes: Vec<ServerClose>,
    /// Each stage's result, filled as it begins and ends.
    pub results: Vec<StageResult>,
    /// The stages' target now, for the timeline.
    pub target: Option<u64>,
    /// Each client worker's slots, in spawn order: how a target splits.
    pub slots: Vec<u64>,
}

impl Session {
    /// Shapes the load: `stages` (none: as usual), `reconnect` (recorded
    /// in the report) and the servers' `closes`.
    pub fn shaped(
        mut self,
        stages: Option<Stages>,
        reconnect: Option<Reconnect>,
        closes: Vec<CloseFraction>,
    ) -> Self {
        self.shape.stages = stages;
        self.shape.reconnect = reconnect;
        self.shape.closes = closes
            .into_iter()
            .map(|close| ServerClose {
                close,
                done_at: None,
            })
            .collect();
        self
    }

    /// Tells each live client worker its part of stage `k`'s target:
    /// over the stage's duration, or at once (`now`: at the stage's end,
    /// so that a worker whose line started late is where the stage ends
    /// when it counts).
    fn tell_targets(&mut self, st: &Stages, k: usize, now: bool) {
        let step = st.steps()[k];
        let parts = stages::split(step.target, &self.shape.slots);
        let over_ms = match now {
            true => 0,
            false => step.duration.as_millis() as u64,
        };
        self.fleet.tell_each(Role::Client, |i| ToWorker::Target {
            conns: parts.get(i).copied().unwrap_or(0),
            over_ms,
        });
    }

    /// Tells the servers to close their share for every
    /// `--close-fraction` whose time (after `ramp_start`) has come.
    pub(super) fn close_fractions_due(&mut self, ramp_start: Instant) {
        let elapsed = ramp_start.elapsed();
        let t = self.start.elapsed().as_secs_f64();
        let due: Vec<f64> = self
            .shape
            .closes
            .iter_mut()
            .filter(|c| c.done_at.is_none() && c.close.at() <= elapsed)
            .map(|c| {
                c.done_at = Some(t);
                c.close.fraction
            })
            .collect();
        for fraction in due {
            self.fleet
                .tell(Role::Server, &ToWorker::CloseSome { fraction });
        }
    }

    /// Runs the stages from `ramp_start` (the workers ready, the baseline
    /// taken), then reads the end and reports, as `drive` does for a
    /// plain ramp and hold.
    pub(super) fn drive_stages(
        mut self,
        st: Stages,
        baseline: Snapshot,
        ramp_start: Instant,
    ) -> anyhow::Result<ExitCode> {
        self.shape.slots = self
            .fleet
            .of(Role::Client)
            .map(|w| w.stats.planned)
            .collect();
        self.shape.results = st
            .steps()
            .iter()
            .enumerate()
            .map(|(k, s)| StageResult {
                duration: s.duration.as_secs_f64(),
                from: st.from(k),
                target: s.target,
                started: None,
                ended: None,
                held: None,
                source: None,
                tolerance: st.tolerance(k),
                met: None,
            })
            .collect();
        let top_k = st.top();
        let mut top: Option<(Look, Snapshot)> = None;
        let mut reached_at = None;
        self.tell_targets(&st, 0, false);
        self.fleet.tell(Role::Client, &ToWorker::Go);
        // Heartbeats all along (workers without them ignore it).
        self.fleet.tell(
            Role::Client,
            &ToWorker::Beat {
                for_ms: None,
                grace_ms: None,
            },
        );
        let mut k = 0;
        let mut began = Instant::now();
        self.shape.results[0].started = Some(self.start.elapsed().as_secs_f64());
        loop {
            let step = st.steps()[k];
            let phase = match () {
                _ if st.is_falling(k) => Phase::RampDown,
                _ if st.is_flat(k) => Phase::Hold,
                _ => Phase::Ramp,
            };
            let in_hold = phase == Phase::Hold;
            // What an interruption or a death now came in.
            self.stage = match phase {
                Phase::RampDown => Stage::RampDown,
                Phase::Hold => Stage::Hold,
                _ => Stage::Ramp,
            };
            let deadline = began + step.duration;
            // The first sample of a stage waits a report's interval: the
            // workers' counters then are of this stage, not the last.
            let mut next_sample = match k {
                0 => Instant::now(),
                _ => Instant::now() + SAMPLE_EVERY,
            };
            while self.end.is_none() {
                // A stage of no duration ends once every worker says it
                // opened its part: after two of its reports, so that none
                // is the one from before the new target.
                let done = match step.duration.is_zero() {
                    true => {
                        began.elapsed() >= 2 * crate::worker::REPORT_EVERY
                            && self
                                .fleet
                                .of(Role::Client)
                                .filter(|w| w.alive())
                                .all(|w| w.stats.target_reached())
                    }
                    false => Instant::now() >= deadline,
                };
                if done {
                    break;
                }
                if Instant::now() >= next_sample {
                    next_sample = Instant::now() + SAMPLE_EVERY;
                    self.shape.target = Some(st.target_in(k, began.elapsed()));
                    self.sample(phase);
                    self.progress(phase, ramp_start);
                    self.close_fractions_due(ramp_start);
                    if self.tripped(ramp_start, reached_at, in_hold) {
                        break;
                    }
                    // The last stage, flat, its opens all tried: nothing
                    // comes after it.
                    let opened_all = self.fleet.live_totals(Role::Client).target_reached();
                    let last_flat = k + 1 == st.len() && st.is_flat(k) && step.target > 0;
                    if last_flat && self.nothing_left(opened_all) {
                        break;
                    }
                }
                let until = match step.duration.is_zero() {
                    true => next_sample,
                    false => deadline.min(next_sample),
                };
                let ev = self
                    .fleet
                    .poll(until.saturating_duration_since(Instant::now()))?;
                if self.handle(ev) {
                    break;
                }
            }
            if self.end.is_some() {
                break;
            }
            self.shape.target = Some(step.target);
            self.shape.results[k].ended = Some(self.start.elapsed().as_secs_f64());
            // Each worker where the stage ends before it counts.
            self.tell_targets(&st, k, true);
            if k == top_k {
                reached_at = Some(ramp_start.elapsed());
            }
            if k + 1 == st.len() {
                // The last stage's count is the end's reading.
                break;
            }
            // The stage's end, counted while the next one begins; the
            // top's is read whole (c1m's own, then everyone's) before the
            // next begins, so that its two counts are of one fleet.
            let look = if k == top_k {
                // Clients still opening (the stage not met) wait for the
                // next stage's target: the top's counts are of a fleet
                // at rest.
                self.rest_before_reading(&ToWorker::Freeze)?;
                let look = self.look();
                self.tell_targets(&st, k + 1, false);
                began = Instant::now();
                look
            } else {
                let mut told = None;
                let look = self.look_then(|s| {
                    s.tell_targets(&st, k + 1, false);
                    told = Some(Instant::now());
                });
                began = told.unwrap_or_else(Instant::now);
                look
            };
            self.record(&st, k, &look.count);
            if k == top_k && self.presses.count() < 2 {
                top = Some((look, self.snapshot()));
            }
            k += 1;
            self.shape.results[k].started = Some(self.start.elapsed().as_secs_f64());
        }
        let at_end = self.settle_end()?;
        let top = match top {
            Some(t) => Some(t),
            None => at_end.clone().map(|l| (l, self.snapshot())),
        };
        self.finish(Some(baseline), top, at_end, reached_at)
    }

    /// True, having said why in one line, when nothing is held, nothing
    /// is opening (`opened_all`: every connection the clients were to
    /// open tried, none still in its handshake) and nothing will be
    /// reopened (no `--reconnect`): the hold could only show 0 until its
    /// end (trial 5: a mistyped port showed `0/5 established` for the
    /// whole hold, forever without `--hold`). The caller ends the hold,
    /// and the end is read and reported as at any end.
    pub(super) fn nothing_left(&self, opened_all: bool) -> bool {
        let c = self.client_side();
        if self.shape.reconnect.is_some() || c.established > 0 || !opened_all {
            return false;
        }
        let failed = self.failures();
        if failed.total() + c.peer_closed() == 0 {
            return false;
        }
        let line =
            crate::report::text::nothing_left_line(&failed, c.peer_closed(), &self.plan.endpoints);
        let nl = if self.tty { "\n" } else { "" };
        crate::say!("{nl}{line}");
        true
    }

    /// Stage `k`'s count at its end: c1m's own ESTABLISHED client sockets
    /// by the kernel, or the workers' count when the kernel's could not be
    /// read.
    fn record(&mut self, st: &Stages, k: usize, count: &KernelCount) {
        let (held, source) = match count.own() {
            Some((_, client)) => (client, CountSource::Kernel),
            None => (
                self.fleet.live_totals(Role::Client).established,
                CountSource::Workers,
            ),
        };
        let r = &mut self.shape.results[k];
        r.held = Some(held);
        r.source = Some(source);
        r.met = Some(st.met(k, held));
    }

    /// The stages for the report, the last one judged on what is held at
    /// the end as the verdict counts it (no more than the server
    /// application accepted), when it ended; `None` without stages.
    pub(super) fn stages_report(
        &mut self,
        held: &Held,
        server: &ServerSide,
    ) -> Option<StagesReport> {
        let st = self.shape.stages.as_ref()?;
        let last = st.len() - 1;
        if self
            .shape
            .results
            .get(last)
            .is_some_and(|r| r.ended.is_some())
        {
            let n = held_by_server(held.at_end, server);
            let r = &mut self.shape.results[last];
            r.held = Some(n);
            r.source = Some(held.source);
            r.met = Some(st.met(last, n));
        }
        Some(StagesReport {
            spec: st.to_string(),
            tolerance: stages::TOLERANCE,
            stages: std::mem::take(&mut self.shape.results),
        })
    }
}
