//! The report's judgements: how many were held (at the top, at the end,
//! at the lowest), connections only the client has, and whether the
//! experiment did what was asked, with its exit code. Pure: report data
//! in, figures out, so every rule is unit-tested.

use crate::plan::thousands;
use crate::threshold::Metric;

use super::model::{
    Closes, CommandKind, CountSource, End, Evidence, Held, KernelCount, ListenCounters, Memory,
    Phantoms, Phase, Report, Sample, ServerSide, ThresholdResult, ThresholdStatus, Verdict,
};

/// The exit code of an experiment that held its target.
pub const EXIT_OK: u8 = 0;
/// Fewer than the target held at the end, connections only the client
/// has, or a worker died.
pub const EXIT_SHORT: u8 = 1;
/// Interrupted by Ctrl-C: 128 + SIGINT (2), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (`kill`, systemd, Kubernetes ending a pod): 128 +
/// SIGTERM (15). The run ends as on Ctrl-C, report and all.
pub const EXIT_TERMINATED: u8 = 143;

/// The exit code of a run ended by the signal named `signal`:
/// [`EXIT_TERMINATED`] for SIGTERM, [`EXIT_INTERRUPTED`] for Ctrl-C (and
/// any other).
pub fn interrupted_code(signal: &str) -> u8 {
    match signal {
        "SIGTERM" => EXIT_TERMINATED,
        _ => EXIT_INTERRUPTED,
    }
}

/// How many were held: c1m's own sockets only, by the kernel's state of
/// each ([`KernelCount::own`]), never the endpoints' count (that one has
/// every other process's connections to the same targets too). `serve`
/// counts its own side; every other command the client side.
/// `workers_at_end`: the workers' own count at the end of the hold, used
/// when the kernel's could not be taken.
pub fn held(
    command: CommandKind,
    timeline: &[Sample],
    at_top: &KernelCount,
    at_end: &KernelCount,
    workers_at_end: u64,
) -> Held {
    let serve = command == CommandKind::Serve;
    let of = |s: &Sample| {
        if serve { s.servers() } else { s.established }
    };
    let kernel = |k: &KernelCount| {
        k.own()
            .map(|(server, client)| if serve { server } else { client })
    };
    let sampled = timeline.iter().map(of).max().unwrap_or(0);
    let reached = sampled
        .max(kernel(at_top).unwrap_or(0))
        .max(kernel(at_end).unwrap_or(0));
    let (at_end, source) = match kernel(at_end) {
        Some(n) => (n, CountSource::Kernel),
        None => (workers_at_end, CountSource::Workers),
    };
    // A server alone holds from before anyone connects: its lowest
    // sample says nothing. With stages, the hold is the stages that hold
    // the largest target flat, and the end counts only when the last
    // stage is one of them.
    let top = timeline.iter().filter_map(|s| s.target).max();
    let at_top = |s: &Sample| top.is_none_or(|t| s.target == Some(t));
    let ends_at_top = timeline
        .iter()
        .rfind(|s| s.phase != Phase::Teardown)
        .is_none_or(at_top);
    let min_during_hold = timeline
        .iter()
        .filter(|s| s.phase == Phase::Hold && !serve && at_top(s))
        .map(of)
        .min()
        .map(|m| if ends_at_top { m.min(at_end) } else { m });
    Held {
        reached,
        at_end,
        source,
        min_during_hold,
    }
}

/// Connections only the client has (`count`: client-side ESTABLISHED
/// less server-side, on endpoints with a visible listener), with the
/// cause and the fix when there are any. When the listen `counters` were
/// read and show no SYN cookie and no drop, and no accept queue was full
/// (`queue_full` false), the server's kernel lost none: they were
/// handshakes under way while the two sides were read
/// ([`Phantoms::under_way`]), not phantoms.
pub fn phantoms(count: u64, counters: Option<&ListenCounters>, queue_full: bool) -> Phantoms {
    let none = Phantoms {
        count: 0,
        cause: None,
        fix: None,
        under_way: 0,
    };
    if count == 0 {
        return none;
    }
    let lost_none = counters.is_some_and(|k| {
        k.syncookies_sent == 0
            && k.listen_overflows == 0
            && k.listen_drops == 0
            && k.reqq_full_drop == 0
            && k.reqq_full_do_cookies == 0
    });
    if lost_none && !queue_full {
        return Phantoms {
            under_way: count,
            ..none
        };
    }
    let k = counters.copied().unwrap_or_default();
    let cause = if k.syncookies_sent > 0 || k.listen_overflows > 0 {
        format!(
            "the accept queue was full: SYN cookies answered the handshakes (SyncookiesSent +{}) and the client's final ACKs were dropped (ListenOverflows +{}), so the client holds connections its server never created",
            thousands(k.syncookies_sent),
            thousands(k.listen_overflows)
        )
    } else {
        "the client holds connections the server side does not have: their final ACKs were dropped on the way, or the server is only partly visible from here".to_string()
    };
    Phantoms {
        count,
        cause: Some(cause),
        fix: Some(
            "raise the server's listen backlog and net.core.somaxconn (and net.ipv4.tcp_max_syn_backlog), or accept faster".to_string(),
        ),
        under_way: 0,
    }
}

/// Whether the experiment did what was asked, its exit code, and why not:
/// its own judgement ([`own_verdict`]), then the `--fail-if` thresholds
/// ([`with_thresholds`]).
pub fn verdict(r: &Report) -> Verdict {
    with_thresholds(own_verdict(r), &r.end, &r.thresholds)
}

/// A verdict with the thresholds judged on the report: unless the
/// experiment was interrupted or lost a worker (their exit codes stand),
/// a threshold that failed (or was not measured) fails the verdict with
/// its family's exit code, the lowest when several failed (3 held, 4
/// latency, 5 failures, 6 pace). The reason names every threshold that
/// failed, then the run's own reason when it failed too.
pub fn with_thresholds(own: Verdict, end: &End, results: &[ThresholdResult]) -> Verdict {
    if matches!(end, End::Interrupted { .. } | End::WorkerDied { .. }) {
        return own;
    }
    let failed: Vec<&ThresholdResult> = results
        .iter()
        .filter(|t| t.status != ThresholdStatus::Pass)
        .collect();
    let Some(exit_code) = failed.iter().map(|t| t.exit_code).min() else {
        return own;
    };
    let each: Vec<String> = failed
        .iter()
        .map(|t| format!("--fail-if {}: {}", t.threshold, t.figure))
        .collect();
    let mut reason = each.join("; ");
    if let Some(why) = own.reason.filter(|_| !own.ok) {
        reason += &format!("; and {why}");
    }
    Verdict {
        ok: false,
        exit_code,
        reason: Some(reason),
    }
}

/// The experiment's own judgement, without the thresholds: interrupted,
/// a worker lost, connections only the client has, fewer than the target
/// held at the end (unless a `held` threshold judges that instead), or
/// answers that did not match `--expect`.
pub fn own_verdict(r: &Report) -> Verdict {
    let fail = |exit_code, reason: String| Verdict {
        ok: false,
        exit_code,
        reason: Some(reason),
    };
    match &r.end {
        End::Interrupted { signal, .. } => {
            return fail(interrupted_code(signal), r.end.words());
        }
        End::WorkerDied { .. } => {
            return fail(EXIT_SHORT, r.end.words());
        }
        End::Completed | End::Aborted { .. } => {}
    }
    let ok = Verdict {
        ok: true,
        exit_code: EXIT_OK,
        reason: None,
    };
    match r.command {
        // A server alone holds what comes; its target is a cap.
        CommandKind::Serve => return ok,
        // A search's answer is its limit, whatever it is.
        CommandKind::FindLimit if r.find_limit.is_some() => return ok,
        _ => {}
    }
    if let Some(p) = r.phantoms.as_ref().filter(|p| p.count > 0) {
        return fail(
            EXIT_SHORT,
            format!(
                "{} of the connections exist only on the client (the server never created them): {}",
                thousands(p.count),
                p.cause
                    .as_deref()
                    .unwrap_or("SYN cookies while the accept queue was full")
            ),
        );
    }
    let held = held_by_server(r.held.at_end, &r.server_side);
    // `--fail-if held<…` says how many are enough.
    let gated = r
        .thresholds
        .iter()
        .any(|t| t.threshold.metric == Metric::Held);
    // With stages, each stage's count at its end within its tolerance
    // (the last one's is held at the end).
    if !gated && let Some(why) = super::staged::missed(r) {
        return fail(EXIT_SHORT, why);
    }
    let staged_ok = r
        .stages
        .as_ref()
        .is_some_and(|st| st.stages.last().is_some_and(|s| s.met == Some(true)));
    if held >= r.target || gated || staged_ok {
        // Held, but not answering as expected: a heartbeat run checks
        // the server's replies too.
        if let Some(expect) = r.traffic.as_ref().and_then(|t| t.expect.as_ref())
            && r.clients.mismatched > 0
        {
            return fail(
                EXIT_SHORT,
                format!(
                    "{} of {} answers did not start with --expect \"{expect}\": the server does not answer the heartbeat as expected (check --message and --expect)",
                    thousands(r.clients.mismatched),
                    thousands(r.clients.mismatched + r.clients.replies),
                ),
            );
        }
        return ok;
    }
    fail(
        EXIT_SHORT,
        format!(
            "held {} of {} at the end: {}",
            thousands(held),
            thousands(r.target),
            shortfall(r, held)
        ),
    )
}

/// What counts as held at the end: c1m's own client sockets in
/// ESTABLISHED or, when the server is visible, fewer: no more than its
/// application accepted, and none of those waiting in its accept queues
/// (a connection waiting there is not held by anyone yet). The kernel
/// does not say whose connections wait, so every one waiting is counted
/// against c1m's: with other clients of the same server waiting too, this
/// errs low, never high.
pub fn held_by_server(own_at_end: u64, s: &ServerSide) -> u64 {
    own_held(own_at_end, s.accepted, s.waiting.unwrap_or(0))
}

/// [`held_by_server`] from its figures: c1m's own ESTABLISHED client
/// sockets `own`, what the server application `accepted` (`None`: the
/// server is not visible), and how many are `waiting` in its accept
/// queues.
pub fn own_held(own: u64, accepted: Option<u64>, waiting: u64) -> u64 {
    match accepted {
        Some(a) => own.saturating_sub(waiting).min(a),
        None => own,
    }
}

/// Why fewer than the target are held, in words: closes by the server,
/// failures by cause, connections still waiting to be accepted.
fn shortfall(r: &Report, held: u64) -> String {
    let mut why = Vec::new();
    if r.closes.total() > 0 {
        why.push(format!(
            "closed by the server: {}",
            closes_line(&r.closes, 0)
        ));
    }
    let failed = r.clients.failed;
    if failed.total() > 0 {
        let causes: Vec<String> = failed
            .seen()
            .iter()
            .map(|(c, n)| format!("{} {c}", thousands(*n)))
            .collect();
        why.push(format!(
            "{} failed to connect ({})",
            thousands(failed.total()),
            causes.join(", ")
        ));
    }
    if let Some(w) = r.server_side.waiting.filter(|&w| w > 0) {
        why.push(format!(
            "{} wait unaccepted in the server's accept queue",
            thousands(w)
        ));
    }
    let lost = r.target.saturating_sub(held);
    if why.is_empty() {
        why.push(if r.held.reached > held {
            format!(
                "{} were held earlier (most at once: {}) and are gone",
                thousands(r.held.reached - held),
                thousands(r.held.reached)
            )
        } else {
            format!("{} were never established", thousands(lost))
        });
    }
    why.join("; ")
}

/// `193 closed after sending "-ERR max number of clients reached\r\n"`,
/// `40 closed at once, 2 reset`.
pub fn closes_line(c: &Closes, reset_failures: u64) -> String {
    let mut parts = Vec::new();
    if c.fin_with_data > 0 {
        match &c.first_bytes {
            Some(b) => parts.push(format!(
                "{} closed after sending \"{b}\"",
                thousands(c.fin_with_data)
            )),
            None => parts.push(format!(
                "{} closed after sending data",
                thousands(c.fin_with_data)
            )),
        }
    }
    if c.fin > 0 {
        parts.push(format!("{} closed at once (FIN)", thousands(c.fin)));
    }
    if c.rst + reset_failures > 0 {
        parts.push(format!("{} reset (RST)", thousands(c.rst + reset_failures)));
    }
    parts.join(", ")
}

/// The one line that explains connections only the client has.
pub fn phantom_line(e: &Evidence) -> String {
    let k = &e.counters;
    format!(
        "{} connections exist only on the client: the server application holds {}, and its kernel never created the rest — the accept queue was full, so SYN cookies answered (SyncookiesSent +{}) and the final ACKs were dropped (ListenOverflows +{}); raise the listen backlog and net.core.somaxconn / net.ipv4.tcp_max_syn_backlog, or accept faster",
        thousands(e.phantoms),
        thousands(e.held),
        thousands(k.syncookies_sent),
        thousands(k.listen_overflows)
    )
}

#[cfg(test)]
mod tests;

/// Sockets a run must have held for its per-socket cost to be remembered
/// ([`calibration`]).
pub const CALIBRATION_MIN_SOCKETS: u64 = 10_000;

/// The kernel cost per socket, bytes, a run may teach `c1m doctor`
/// (`c1m_limits::calibration`): only from a clean reading — per-cache
/// figures that agree with the sockets held, over at least
/// [`CALIBRATION_MIN_SOCKETS`]. A machine busy with other sockets
/// (another run, the lab's server on the same kernel) would teach it a
/// wrong cost; `None` then.
pub fn calibration(m: &Memory) -> Option<f64> {
    let per = m.kernel_per_socket()?;
    let clean = m.sockets >= CALIBRATION_MIN_SOCKETS
        && per > 0.0
        && m.slab_unreadable.is_none()
        && !m.slab_caches.is_empty()
        && super::rows::slab_caution(m).is_none();
    clean.then_some(per)
}
