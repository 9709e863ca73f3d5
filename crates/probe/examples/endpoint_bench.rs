//! What classifying by endpoint costs next to a plain count, on whatever
//! sockets exist: run it while something holds connections to ENDPOINTS,
//! e.g. `c1m run -n 100000 --hold 120s` (200,000 sockets):
//!
//! ```sh
//! cargo run --release -p c1m-probe --example endpoint_bench -- [--v4] ADDR:PORT...
//! ```
//!
//! Prints, best of 7 rounds each: the live `TcpDiag::count` the supervisor
//! makes today (ESTABLISHED, the ports' span at either end, per local
//! port), `TcpDiag::endpoints` with ESTABLISHED only and with the default
//! states; then the parse alone of one captured reply: `parse_reply`
//! against `parse_endpoint_reply`. Figures in the module docs of
//! `src/diag/endpoints.rs` and on `TcpDiag::endpoints` come from it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use c1m_probe::diag::{
    DiagQuery, EndpointCounts, EndpointQuery, Families, PortMatch, StateSet, TcpCounts, TcpDiag,
    TcpState, parse_endpoint_reply, parse_reply,
};

const ROUNDS: usize = 7;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("ROUNDS > 0"))
}

fn per(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn main() {
    let mut families = Families::Both;
    let mut endpoints: Vec<SocketAddr> = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--v4" => families = Families::V4,
            a => endpoints.push(a.parse().expect("ADDR:PORT")),
        }
    }
    assert!(
        !endpoints.is_empty(),
        "usage: endpoint_bench [--v4] ADDR:PORT..."
    );
    let (lo, hi) = endpoints.iter().fold((u16::MAX, 0), |(lo, hi), e| {
        (lo.min(e.port()), hi.max(e.port()))
    });
    let mut diag = TcpDiag::new().expect("sock_diag");

    let count_q = DiagQuery {
        families,
        local_ports: Some(lo..=hi),
        remote_ports: Some(lo..=hi),
        port_match: PortMatch::Any,
        per_local_port: true,
        ..DiagQuery::new(StateSet::only(TcpState::Established))
    };
    let (t_count, counts) = best(|| diag.count(&count_q).expect("count"));
    let sockets = counts.total();
    println!(
        "count      ESTABLISHED       {sockets:>9} sockets  {:>8.1} ms  {:>6.0} ns/socket",
        t_count.as_secs_f64() * 1e3,
        per(t_count, sockets)
    );

    let mut est_q = EndpointQuery::new(endpoints.clone());
    est_q.families = families;
    est_q.states = StateSet::only(TcpState::Established);
    let mut all_q = est_q.clone();
    all_q.states = EndpointQuery::DEFAULT_STATES;
    for (name, q) in [("ESTABLISHED", &est_q), ("default states", &all_q)] {
        let (t, c) = best(|| diag.endpoints(q).expect("endpoints"));
        let n = c.server().total() + c.client().total() + c.listeners().len() as u64;
        println!(
            "endpoints  {name:<16}  {n:>9} sockets  {:>8.1} ms  {:>6.0} ns/socket  ({:+.1}% of count; server {} client {})",
            t.as_secs_f64() * 1e3,
            per(t, n),
            (t.as_secs_f64() / t_count.as_secs_f64() - 1.0) * 100.0,
            c.server().established(),
            c.client().established(),
        );
    }

    // The parse alone, on one captured reply per family (each ends in its
    // own NLMSG_DONE, so each family's bytes are parsed apart).
    let fams: &[Families] = match families {
        Families::Both => &[Families::V4, Families::V6],
        Families::V4 => &[Families::V4],
        Families::V6 => &[Families::V6],
    };
    let (mut t_plain, mut t_ep, mut n) = (Duration::ZERO, Duration::ZERO, 0u64);
    for &f in fams {
        let mut q = est_q.clone();
        q.families = f;
        let raw = diag.capture_endpoints(&q).expect("capture");
        let (t, c) = best(|| {
            let mut c = TcpCounts::new(false);
            parse_reply(&raw, &mut c).expect("parse");
            c
        });
        t_plain += t;
        n += c.total();
        let (t, _) = best(|| {
            let mut c = EndpointCounts::new(&endpoints);
            parse_endpoint_reply(&raw, &mut c).expect("parse");
            c
        });
        t_ep += t;
    }
    println!(
        "parse only {n:>9} sockets: parse_reply {:.1} ns/socket, parse_endpoint_reply {:.1} ns/socket",
        per(t_plain, n),
        per(t_ep, n)
    );
}
