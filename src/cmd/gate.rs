//! `--fail-if` and `--abort-on-fail` (`run`, `connect`, `lab run`): the
//! thresholds that fail a run for CI, parsed by [`crate::threshold`], and
//! refused before anything starts when the run cannot measure them.

use anyhow::bail;
use clap::Args;

use crate::threshold::{self, Gate, Metric, Series, Threshold};
use crate::traffic::{Mode, Traffic};

/// The thresholds of a run.
#[derive(Debug, Clone, Default, Args)]
pub struct GateOpts {
    /// Fail the run when this is true, for CI (repeatable): METRIC OP
    /// VALUE, e.g. 'held<99.9%', 'p99(rtt)>50ms', 'errors>0.1%',
    /// 'connect_rate<20k/s', 'ramp_time>30s'. Metrics: held, reached,
    /// min_held, errors, closes, lost, phantoms (a count, or a percent of
    /// -n; lost: of the heartbeats sent); p50|p90|p99|p99.9|max|mean of
    /// rtt, connect or first_byte (a duration, as --hold takes one: 250us,
    /// 50ms, 1.5s, 2h, or bare seconds); connect_rate
    /// (N/s); ramp_time (a duration). OP: < <= > >=. A held threshold
    /// replaces the rule that every connection must be held. Exit codes:
    /// 3 held, 4 latency, 5 failures, 6 the ramp's pace (the lowest when
    /// several fail).
    #[arg(long = "fail-if", value_name = "THRESHOLD", value_parser = threshold::parse)]
    pub fail_if: Vec<Threshold>,
    /// End the run as soon as a --fail-if threshold fails during it
    /// (held falling in the hold, errors or closes past their limit, a
    /// ramp slower than its limit), not only at the end; latency, lost,
    /// reached and phantoms are judged at the end.
    #[arg(long, requires = "fail_if")]
    pub abort_on_fail: bool,
}

/// The run's [`Gate`]; an error, before anything starts, for a threshold
/// the run cannot measure: round trips (and their first bytes, and lost
/// heartbeats) without heartbeat traffic.
pub fn gate(o: &GateOpts, traffic: &Traffic) -> anyhow::Result<Gate> {
    for t in &o.fail_if {
        let beats = matches!(
            t.metric,
            Metric::Lost | Metric::Latency(_, Series::Rtt | Series::FirstByte)
        );
        if beats && traffic.mode == Mode::Idle {
            bail!(
                "--fail-if {t}: idle connections send no heartbeats, so {} cannot be measured; add --mode heartbeat (or --interval 1s, --message-rate N)",
                t.metric
            );
        }
    }
    Ok(Gate::new(o.fail_if.clone(), o.abort_on_fail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(texts: &[&str]) -> GateOpts {
        GateOpts {
            fail_if: texts.iter().map(|t| threshold::parse(t).unwrap()).collect(),
            abort_on_fail: true,
        }
    }

    #[test]
    fn heartbeat_figures_need_heartbeats() {
        let idle = Traffic::idle();
        let beating = Traffic {
            mode: Mode::Heartbeat,
            ..Traffic::idle()
        };
        for text in ["p99(rtt)>50ms", "max(first_byte)>1s", "lost>0"] {
            let e = gate(&opts(&[text]), &idle).unwrap_err().to_string();
            assert!(e.contains("add --mode heartbeat"), "{e}");
            assert!(gate(&opts(&[text]), &beating).is_ok());
        }
        let g = gate(&opts(&["held<99%", "p99(connect)>1s"]), &idle).unwrap();
        assert_eq!(g.thresholds.len(), 2);
        assert!(g.abort_on_fail);
        assert_eq!(g.trips, vec![None, None]);
    }
}
