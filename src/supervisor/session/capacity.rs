//! The capacity search's part of a session (`--find-limit`): when the
//! ramp must stop, what the server side shows meanwhile, and the
//! diagnosis once the ramp has settled.

use std::time::{Duration, Instant};

use crate::latency::Latency;
use crate::plan::thousands;
use crate::report::judge;
use crate::report::model::{Diagnosis, Evidence, FindLimit, Limit, Phase, SloMiss};
use crate::supervisor::fleet::Role;
use crate::supervisor::measure::Reading;
use crate::supervisor::search::{self, Break, Observation, ServerView};
use crate::wire::ToWorker;

use super::{SAMPLE_EVERY, Session};

impl Session {
    /// Whether the capacity search should stop: a failure, a close by the
    /// server, the latency objective missed since the last sample, or a
    /// server-side sign (a queue that does not drain, connections only the
    /// client has).
    pub(super) fn search_broke(&mut self, recent: &Latency) -> bool {
        let c = self.client_side();
        let at = self.start.elapsed();
        let server = self.server_view_now();
        let Some(s) = self.search.as_mut() else {
            return false;
        };
        let rtt = s.search.slo.map(|slo| {
            let v = if slo.quantile >= 1.0 {
                recent.rtt.max()
            } else {
                recent.rtt.value_at_quantile(slo.quantile)
            };
            (v, recent.rtt.len())
        });
        let o = Observation {
            at,
            failures: c.failed.total(),
            closes: c.peer_closed(),
            server,
            rtt,
        };
        s.search.observe(&o).is_some()
    }

    /// The server side now, if its listeners are visible and a reading is
    /// due (a reading costs ~1 µs per socket: at most a tenth of the time).
    pub(super) fn server_view_now(&mut self) -> Option<ServerView> {
        let due = self
            .search
            .as_ref()
            .is_some_and(|s| Instant::now() >= s.next_read);
        if !due {
            return None;
        }
        let r = self.read().ok()?;
        if let Some(s) = self.search.as_mut() {
            s.next_read = Instant::now() + (r.took * 10).max(SAMPLE_EVERY);
        }
        r.counts.is_local().then(|| view(&r))
    }

    /// Stops opening connections and waits for the handshakes under way
    /// to end and the server's closes to land.
    pub(super) fn stop_ramp(&mut self) -> anyhow::Result<()> {
        self.fleet.tell(Role::Client, &ToWorker::Pause);
        let patience = self
            .search
            .as_ref()
            .map_or(Duration::ZERO, |s| s.connect_timeout);
        let deadline = Instant::now() + patience + Duration::from_secs(2);
        while Instant::now() < deadline {
            let ev = self.fleet.poll(Duration::from_millis(100))?;
            if self.handle(ev) {
                return Ok(());
            }
            if self.fleet.of(Role::Client).all(|w| w.stats.ramp_done()) {
                break;
            }
        }
        // Closes by the server come just after its accepts.
        self.quiet(Duration::from_secs(1))?;
        self.sample(Phase::Ramp);
        Ok(())
    }

    /// Reads what the server really holds once the ramp settled, and
    /// diagnoses the search.
    pub(super) fn conclude_search(&mut self) -> anyhow::Result<()> {
        let first = self.read().ok();
        let mut last = first.clone();
        // A queue still full a moment later, with nothing more accepted,
        // is an accept loop that stopped (even if every handshake fit).
        if let Some(f) = first.as_ref().filter(|f| f.counts.is_local()) {
            if view(f).waiting > 0 || view(f).phantoms > 0 {
                self.quiet(search::SERVER_SIGN)?;
                last = self.read().ok();
            }
            if let (Some(s), Some(l)) = (self.search.as_mut(), last.as_ref()) {
                s.search.settled(view(f), view(l));
            }
        }
        // c1m's own, by the kernel's state of each: the others' connections
        // to the same server are in the reading, not in what c1m held.
        let own = self.own_count().ok().map(|o| o.client.established);
        let c = self.client_side();
        let counters = self.counters_since_base();
        let peak = self
            .timeline
            .iter()
            .map(|s| s.established)
            .max()
            .unwrap_or(0);
        let closes = self.closes(&c);
        let Some(s) = self.search.as_mut() else {
            return Ok(());
        };
        let own = own.unwrap_or(c.established);
        let (held, waiting, phantoms) = match last.as_ref() {
            Some(r) if r.counts.is_local() => {
                let v = view(r);
                let held = judge::own_held(own, Some(v.accepted), v.waiting);
                (held, v.waiting, v.phantoms)
            }
            _ => (own, 0, 0),
        };
        let broke = s.search.broke();
        let slo_missed = match (broke, s.search.slo) {
            (Some(Break::Slo(v)), Some(slo)) => Some(SloMiss {
                objective: slo.to_string(),
                value_us: v,
            }),
            _ => None,
        };
        let evidence = Evidence {
            held,
            failed: c.failed,
            closes,
            waiting,
            phantoms,
            counters: counters.unwrap_or_default(),
            slo_missed,
        };
        let diagnosis = match broke {
            Some(b) => search::diagnose(&evidence, b == Break::NotAccepting),
            None => Diagnosis {
                limit: Limit::NotReached,
                explanation: format!("no limit reached: {} connections held", thousands(held)),
            },
        };
        s.found = Some(FindLimit {
            break_point: held,
            peak,
            slo: s.search.slo.map(|s| s.to_string()),
            diagnosis,
            evidence,
        });
        Ok(())
    }
}

/// The server side of a reading, for the search.
pub(super) fn view(r: &Reading) -> ServerView {
    ServerView {
        accepted: r.counts.accepted(),
        waiting: r.counts.waiting(),
        phantoms: r.counts.phantoms(),
    }
}
