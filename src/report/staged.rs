//! The report's part for load shapes: the stages (`--stages`,
//! `--ramp-up`, `--ramp-down`) and whether each was met, the reconnects
//! (`--reconnect`), and the servers' `--close-fraction` closes; their
//! summary rows and their part of the verdict. Pure: data in, rows and
//! judgements out.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::thousands;
use crate::stages::close::CloseFraction;

use super::model::{CountSource, Report};
use super::rows::{Row, Tone};

/// The stages of a run and how each went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StagesReport {
    /// The stages as `--stages` takes them (`30s:500000,10m:500000,1m:0`),
    /// the shorthands written out.
    pub spec: String,
    /// How far off its target a stage's count may end and still be met,
    /// as a fraction of the larger of its start and its target (0.01: 1%).
    pub tolerance: f64,
    /// Each stage, in order.
    pub stages: Vec<StageResult>,
}

/// One stage, and the kernel's count at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageResult {
    /// Its planned length, seconds; 0: as fast as `--window` and `--rate`
    /// allow, ending once its connections are open.
    pub duration: f64,
    /// Connections at its start (the previous stage's target; 0 first).
    pub from: u64,
    /// Connections at its end.
    pub target: u64,
    /// When it began, seconds on the timeline (`t`); null when the run
    /// ended before.
    pub started: Option<f64>,
    /// When it ended, seconds on the timeline; null when the run ended
    /// before (interrupted, a worker died, `--abort-on-fail`).
    pub ended: Option<f64>,
    /// Held at its end: c1m's own client sockets in ESTABLISHED by the
    /// kernel's state of each (for the last stage, what the verdict
    /// judges: `held.at_end`); null when it did not end.
    pub held: Option<u64>,
    /// Where `held` came from; null when it did not end.
    pub source: Option<CountSource>,
    /// Connections `held` may be off `target` and the stage still met.
    pub tolerance: u64,
    /// Whether `held` was within `tolerance` of `target`; null when it
    /// did not end.
    pub met: Option<bool>,
}

/// One `--close-fraction` of c1m's servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerClose {
    /// What was asked: the fraction, and when (seconds after the ramp
    /// began).
    pub close: CloseFraction,
    /// When the servers were told, seconds on the timeline; null when
    /// the run ended first.
    pub done_at: Option<f64>,
}

/// The first stage not met, in one line, for the verdict; `None` when
/// every stage that ended was met (or there are no stages).
pub fn missed(r: &Report) -> Option<String> {
    let st = r.stages.as_ref()?;
    let n = st.stages.len();
    st.stages.iter().enumerate().find_map(|(k, s)| {
        let held = s.held?;
        (s.met == Some(false)).then(|| {
            format!(
                "stage {} of {n} ({}) ended with {} held ({}), not within ±{} of {}",
                k + 1,
                words(s),
                thousands(held),
                source(s.source),
                thousands(s.tolerance),
                thousands(s.target)
            )
        })
    })
}

/// A stage in words: `30 s to 500,000`, `at once to 1,000`.
pub fn words(s: &StageResult) -> String {
    if s.duration == 0.0 {
        return format!("at once to {}", thousands(s.target));
    }
    format!("{} to {}", seconds(s.duration), thousands(s.target))
}

/// `30 s`, `1.5 s`, `10 min`, `2 h`, `365 d`.
fn seconds(s: f64) -> String {
    match s {
        s if s >= 2.0 * 86_400.0 && s % 86_400.0 == 0.0 => format!("{} d", s / 86_400.0),
        s if s >= 7200.0 && s % 3600.0 == 0.0 => format!("{} h", s / 3600.0),
        s if s >= 120.0 && s % 60.0 == 0.0 => format!("{} min", s / 60.0),
        s => format!("{s} s"),
    }
}

fn source(s: Option<CountSource>) -> &'static str {
    match s {
        Some(CountSource::Kernel) => "the kernel's count",
        Some(CountSource::Workers) => "the workers' count",
        None => "not read",
    }
}

/// The summary's rows for the stages, the reconnects and the servers'
/// closes; none when the run had none of them.
pub fn rows(r: &Report) -> Vec<Row> {
    let mut out = Vec::new();
    let row = |key: &str, value: String, tone: Tone, detail: bool| Row {
        key: key.to_string(),
        value,
        tone,
        detail,
    };
    if let Some(st) = &r.stages {
        let ended: Vec<&StageResult> = st.stages.iter().filter(|s| s.met.is_some()).collect();
        let met = ended.iter().filter(|s| s.met == Some(true)).count();
        let n = st.stages.len();
        let (value, tone) = match (ended.len(), met) {
            (e, m) if e == m && e == n => (format!("{n} of {n} met"), Tone::Good),
            (e, m) if e == m => (format!("{m} of {n} met, {} not reached", n - e), Tone::Warn),
            (_, m) => (format!("{} of {n} not met", ended.len() - m), Tone::Bad),
        };
        out.push(row(
            "stages",
            format!(
                "{value} (each within {}% of its larger end, the kernel's count at its end)",
                st.tolerance * 100.0
            ),
            tone,
            false,
        ));
        for (k, s) in st.stages.iter().enumerate() {
            let (value, tone) = match (s.held, s.met) {
                (Some(h), Some(ok)) => (
                    format!(
                        "{} at {:.1} s: held {} ({}){}",
                        words(s),
                        s.ended.unwrap_or(0.0),
                        thousands(h),
                        if ok { "met" } else { "NOT met" },
                        if ok {
                            String::new()
                        } else {
                            format!(", ±{} allowed", thousands(s.tolerance))
                        }
                    ),
                    if ok { Tone::Good } else { Tone::Bad },
                ),
                // Begun, never ended: the run ended in it.
                _ if s.started.is_some() => (
                    format!("{}: cut short, the run ended during it", words(s)),
                    Tone::Plain,
                ),
                _ => (format!("{}: not reached", words(s)), Tone::Plain),
            };
            out.push(row(&format!("stage {}", k + 1), value, tone, true));
        }
    }
    if let Some(rc) = &r.reconnect {
        let c = &r.clients.reconnects;
        let rate = match rc.rate {
            Some(v) => format!(", at most {}/s", thousands(v.round() as u64)),
            None => String::new(),
        };
        out.push(row(
            "reconnects",
            format!(
                "{} (after a FIN {}, a reset {}, a failed attempt {}); back-off {} doubling to {}{rate}",
                thousands(c.total()),
                thousands(c.fin),
                thousands(c.rst),
                thousands(c.failed),
                seconds(rc.delay_ms as f64 / 1000.0),
                seconds(rc.max_delay_ms as f64 / 1000.0)
            ),
            Tone::Plain,
            false,
        ));
        if r.clients_at_top.retrying > 0 || r.clients.retrying > 0 {
            out.push(row(
                "",
                format!(
                    "{} were waiting to reconnect at the end",
                    thousands(r.clients.retrying.max(r.clients_at_top.retrying))
                ),
                Tone::Plain,
                true,
            ));
        }
    }
    if r.clients.shed > 0 {
        out.push(row(
            "closed by the stages",
            format!(
                "{} (c1m's own closes at the stages' pace, as --close says)",
                thousands(r.clients.shed)
            ),
            Tone::Plain,
            false,
        ));
    }
    for c in &r.server_closes {
        let when = match c.done_at {
            Some(t) => format!("at {t:.1} s"),
            None => "not reached: the run ended first".to_string(),
        };
        out.push(row(
            "server closes",
            format!(
                "--close-fraction {}: {when}; {} closed by c1m's servers in all",
                c.close,
                thousands(r.servers.shed)
            ),
            Tone::Plain,
            false,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;

    fn stage(target: u64, held: Option<u64>, met: Option<bool>) -> StageResult {
        StageResult {
            duration: 30.0,
            from: 0,
            target,
            started: Some(0.0),
            ended: held.map(|_| 30.0),
            held,
            source: held.map(|_| CountSource::Kernel),
            tolerance: 10,
            met,
        }
    }

    #[test]
    fn a_stage_missed_fails_the_verdict_unless_a_held_threshold_judges() {
        use crate::report::judge::{EXIT_SHORT, own_verdict};
        let mut r = fixture("connect-others");
        assert!(own_verdict(&r).ok);
        r.stages = Some(StagesReport {
            spec: "30s:1000,30s:1000".into(),
            tolerance: 0.01,
            stages: vec![
                stage(1000, Some(900), Some(false)),
                stage(1000, Some(1000), Some(true)),
            ],
        });
        let v = own_verdict(&r);
        assert_eq!((v.ok, v.exit_code), (false, EXIT_SHORT));
        assert!(v.reason.unwrap().starts_with("stage 1 of 2"));
        r.thresholds = vec![crate::report::model::ThresholdResult {
            threshold: crate::threshold::parse("held<90%").unwrap(),
            status: crate::report::model::ThresholdStatus::Pass,
            value: Some(100.0),
            limit: 90.0,
            unit: crate::threshold::Unit::Percent,
            figure: String::new(),
            exit_code: 3,
            tripped: None,
        }];
        assert!(
            own_verdict(&r).ok,
            "a held threshold replaces the stages' rule"
        );
        // The last stage met within its tolerance, a little short of the
        // target: held.
        r.thresholds.clear();
        let st = r.stages.as_mut().unwrap();
        st.stages[0].met = Some(true);
        r.target = r.held.at_end + 5;
        assert!(own_verdict(&r).ok);
    }

    #[test]
    fn the_fewest_held_in_the_hold_is_of_the_largest_flat_stage() {
        use crate::report::fixtures::sample;
        use crate::report::model::{Phase, Sample};
        let at = |t: f64, phase: Phase, n: u64, target: u64| Sample {
            target: Some(target),
            ..sample(t, phase, n)
        };
        let tl = vec![
            at(0.5, Phase::Ramp, 500, 500),
            at(1.0, Phase::Hold, 480, 500),
            at(1.5, Phase::Ramp, 900, 1000),
            at(2.0, Phase::Hold, 990, 1000),
            at(2.5, Phase::Hold, 1000, 1000),
            at(3.0, Phase::RampDown, 300, 200),
            at(3.5, Phase::Hold, 200, 200),
        ];
        let k = crate::report::model::KernelCount::NotTaken;
        let h = crate::report::judge::held(
            crate::report::model::CommandKind::Connect,
            &tl,
            &k,
            &k,
            200,
        );
        // Not the 480 of a lower stage, nor the 200 held at the end.
        assert_eq!(h.min_during_hold, Some(990));
        assert_eq!((h.reached, h.at_end), (1000, 200));
    }

    #[test]
    fn the_first_stage_missed_is_the_reason() {
        let mut r = fixture("run-fanout");
        assert_eq!(missed(&r), None);
        assert!(rows(&r).is_empty());
        r.stages = Some(StagesReport {
            spec: "30s:1000,30s:1000,30s:0".into(),
            tolerance: 0.01,
            stages: vec![
                stage(1000, Some(995), Some(true)),
                stage(1000, Some(900), Some(false)),
                stage(0, None, None),
            ],
        });
        assert_eq!(
            missed(&r).unwrap(),
            "stage 2 of 3 (30 s to 1,000) ended with 900 held (the kernel's count), not within ±10 of 1,000"
        );
        let rows = rows(&r);
        assert_eq!(rows[0].value.split(" (").next(), Some("1 of 3 not met"));
        assert_eq!(rows[0].tone, Tone::Bad);
        assert!(rows[2].value.contains("NOT met"), "{:?}", rows[2]);
        assert_eq!(
            rows[3].value,
            "30 s to 0: cut short, the run ended during it"
        );
        // A stage the run never began.
        if let Some(st) = r.stages.as_mut() {
            st.stages[2].started = None;
        }
        assert_eq!(super::rows(&r)[3].value, "30 s to 0: not reached");
    }
}
