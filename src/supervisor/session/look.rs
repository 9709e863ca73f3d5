//! How a session reads the kernel: c1m's own sockets, each asked its
//! state by the worker holding it (`TCP_INFO`), and everyone's on the
//! target endpoints (netlink sock_diag), and in which order.
//!
//! The two are never read at one instant. At the top and at the end
//! ([`Session::look`]) they are read one after the other: the client
//! workers count first, each after whatever it was told before (a
//! stage's last closes or opens are done when it counts), then the
//! server workers, then netlink reads everyone's. So a connection c1m
//! opened or closed before its count is so in every reading after it,
//! and a handshake still under way when counted (`client_own_other`)
//! that is ESTABLISHED by netlink's read is not called another
//! process's. Only a peer closing c1m's connections in between can
//! leave c1m's own count above everyone's; the pair is then read again,
//! at most [`RECOUNTS`] times, and a pair that still disagrees is shown
//! with the order it was read in. A stage's end that is not the top
//! ([`Session::look_then`]) counts c1m's own while the next stage
//! begins: only that count is kept of it.

use std::time::Instant;

use super::{Session, settle};
use crate::report::model::KernelCount;
use crate::supervisor::fleet::{OwnCount, Role};
use crate::supervisor::measure::{self, Reading};

/// How many times a top or end reading whose own count exceeds
/// everyone's is taken again.
pub(super) const RECOUNTS: usize = 2;

/// The kernel's view at one moment, as the report needs it.
#[derive(Clone)]
pub(super) struct Look {
    pub count: KernelCount,
    pub reading: Option<Reading>,
    /// The workers' own answers, summed by side: their TLS connections
    /// and heap growth with the count.
    pub own: Option<OwnCount>,
}

impl Look {
    /// c1m's server sockets in ESTABLISHED, by the kernel; 0 when not
    /// counted.
    pub fn server_own(&self) -> u64 {
        self.count.own().map_or(0, |(server, _)| server)
    }

    fn of(own: Result<OwnCount, String>, reading: anyhow::Result<Reading>) -> Self {
        let count = match (&own, &reading) {
            (Ok(own), Ok(r)) => KernelCount::Counted {
                client_own: own.client.established,
                client_own_close_wait: own.client.close_wait,
                client_own_other: own.client.other,
                server_own: own.server.established,
                own_took: (own.client.took_us + own.server.took_us) as f64 / 1e6,
                server_side: r.counts.server().established(),
                client_side: r.counts.client().established(),
                client_close_wait: r.counts.client().close_wait(),
                took: r.took.as_secs_f64(),
            },
            (Err(why), _) => KernelCount::Unavailable {
                reason: format!("counting c1m's own sockets: {why}"),
            },
            (_, Err(e)) => KernelCount::Unavailable {
                reason: format!("{e:#}"),
            },
        };
        Look {
            count,
            reading: reading.ok(),
            own: own.ok(),
        }
    }
}

impl Session {
    /// The kernel's reading of the experiment's endpoints now.
    pub(super) fn read(&self) -> anyhow::Result<Reading> {
        measure::read_endpoints(&self.plan.endpoints, self.families, &self.namespaces)
    }

    /// Waits for the answers to [`crate::supervisor::fleet::Fleet::ask_count`],
    /// reacting to what else the fleet says meanwhile.
    pub(super) fn collect_count(&mut self) -> Result<OwnCount, String> {
        let timeout = settle::count_timeout()?;
        match self.fleet.collect_count(Instant::now() + timeout) {
            Ok((events, own)) => {
                self.handle(events);
                own
            }
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// c1m's own sockets now, by the kernel's state of each.
    pub(super) fn own_count(&mut self) -> Result<OwnCount, String> {
        self.fleet.ask_count();
        self.collect_count()
    }

    /// The top's or the end's reading: c1m's clients count, then its
    /// servers, then netlink reads everyone's (see the module's words);
    /// read again while c1m's own count exceeds everyone's, at most
    /// [`RECOUNTS`] times. A failure of either is kept as the report's
    /// words.
    pub(super) fn look(&mut self) -> Look {
        let mut look = self.look_in_order();
        for _ in 0..RECOUNTS {
            if !look.count.own_exceeds_all() || self.presses.count() >= 2 {
                break;
            }
            look = self.look_in_order();
        }
        look
    }

    fn look_in_order(&mut self) -> Look {
        self.fleet.ask_count_of(Role::Client);
        let clients = self.collect_count();
        self.fleet.ask_count_of(Role::Server);
        let servers = self.collect_count();
        let own = match (clients, servers) {
            (Ok(c), Ok(s)) => Ok(OwnCount {
                client: c.client,
                server: s.server,
            }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let reading = self.read();
        Look::of(own, reading)
    }

    /// A stage's end: every worker is asked to count, `meanwhile` is done
    /// once they were asked (they answer the count before anything sent
    /// after it: the next stage's targets), and netlink reads while they
    /// count. Only c1m's own count is of the stage's end.
    pub(super) fn look_then(&mut self, meanwhile: impl FnOnce(&mut Self)) -> Look {
        self.fleet.ask_count();
        meanwhile(self);
        let reading = self.read();
        let own = self.collect_count();
        Look::of(own, reading)
    }
}
