//! Port rows: the local port range (a cap on the client side when the
//! 4-tuple space is fixed), the per-pair budget past which `connect()`
//! slows, the reserved ports, listeners an ephemeral port can take, and the
//! 4-tuple itself.

use super::{Ctx, Group, Status};
use crate::facts::Reading;
use crate::num::{plural, thousands};
use crate::ports::{
    exposed_listen_ports, format_ranges, listen_ports_warning, pair_budget, pair_budget_note,
    pairs, pairs_needed, tuple_arithmetic,
};

const RANGE: &str = "net.ipv4.ip_local_port_range";
const RESERVED: &str = "net.ipv4.ip_local_reserved_ports";

pub(super) fn ports(cx: &mut Ctx) {
    range(cx);
    budget(cx);
    reserved(cx);
    listening(cx);
    let note = "per server ip:port, clients differ by source ip (2^32) × source port (2^16) = 2^48 ≈ 2.8 × 10^14: \
                fds and memory bind long before"
        .to_string();
    cx.push(Group::Ports, "4-tuple", "2^48".into(), Status::Info, note);
}

fn range(cx: &mut Ctx) {
    let (f, t) = (cx.f, cx.t);
    let (Some((lo, hi)), Some(usable)) = (f.port_range.get(), f.usable_ports()) else {
        let is_cap = t.role.has_client() && t.tuples.is_some();
        let why = f.port_range.unreadable().unwrap_or("");
        return cx.unreadable(Group::Ports, RANGE, why, is_cap);
    };
    let value = format!("{lo}–{hi} ({})", plural(usable, "port", "ports"));
    match (t.role.has_client(), t.tuples) {
        (false, _) => {
            let note =
                "server side is not port bound: accepted sockets share the listening port".into();
            cx.push(Group::Ports, RANGE, value, Status::Info, note);
        }
        (true, Some(tu)) => {
            let dests = tu.dest_addrs.saturating_mul(tu.dest_ports);
            let capacity = usable.saturating_mul(tu.sources).saturating_mul(dests);
            let note = format!(
                "client side: {}",
                tuple_arithmetic(usable, tu.sources, dests)
            );
            let per_source = usable.saturating_mul(dests).max(1);
            let fix = format!(
                "use ≥ {} (--sources), more destination ports, or a wider range: \
                 c1m tune --target {} --port-range 1024-65535 --apply",
                plural(
                    t.conns.div_ceil(per_source),
                    "source address",
                    "source addresses"
                ),
                t.conns
            );
            cx.cap(Group::Ports, RANGE, value, capacity, note, fix);
        }
        (true, None) => {
            let (least, fast) = pairs_needed(t.conns, usable);
            let note = format!(
                "client side: {} need ≥ {} at {} each, ≥ {} to stay within the per-pair budget; \
                 c1m run plans them over 127.0.0.0/8 (not binding)",
                plural(t.conns, "connection", "connections"),
                pairs(least),
                plural(usable, "port", "ports"),
                thousands(fast)
            );
            cx.push(Group::Ports, RANGE, value, Status::Info, note);
        }
    }
}

/// The per-pair budget, as the planner keeps it; a warning when a fixed
/// tuple space puts more than it on one pair.
fn budget(cx: &mut Ctx) {
    const NAME: &str = "per-pair budget";
    let (f, t) = (cx.f, cx.t);
    let Some(usable) = f.usable_ports() else {
        return;
    };
    if !t.role.has_client() {
        return;
    }
    let budget = pair_budget(usable);
    let note = pair_budget_note(usable);
    let Some(tu) = t.tuples else {
        let note = format!("{note}; c1m run keeps every pair within it");
        cx.push(Group::Ports, NAME, thousands(budget), Status::Info, note);
        return;
    };
    let n_pairs = tu
        .sources
        .saturating_mul(tu.dest_addrs)
        .saturating_mul(tu.dest_ports)
        .max(1);
    let per_pair = t.conns.div_ceil(n_pairs);
    if per_pair > budget {
        let note = format!(
            "{} over {} put up to {} on one pair: {note}; use ≥ {} (more --sources or destinations)",
            plural(t.conns, "connection", "connections"),
            pairs(n_pairs),
            thousands(per_pair),
            pairs(pairs_needed(t.conns, usable).1)
        );
        cx.warn(Group::Ports, NAME, thousands(budget), NAME, note);
    } else {
        let note = format!("{note}; up to {} per pair here", thousands(per_pair));
        cx.push(Group::Ports, NAME, thousands(budget), Status::Ok, note);
    }
}

fn reserved(cx: &mut Ctx) {
    match &cx.f.reserved_ports {
        Reading::Value(r) if r.is_empty() => {
            let note = "no ports withheld from the range".to_string();
            cx.push(Group::Ports, RESERVED, "none".into(), Status::Info, note);
        }
        Reading::Value(r) => {
            let note = "withheld from automatic port choice (already subtracted above)".to_string();
            cx.push(Group::Ports, RESERVED, format_ranges(r), Status::Info, note);
        }
        Reading::Unreadable(why) => cx.unreadable(Group::Ports, RESERVED, why, false),
    }
}

/// Ports listening now that an outgoing connection could take while their
/// server restarts.
fn listening(cx: &mut Ctx) {
    const NAME: &str = "LISTEN ports";
    let (f, t) = (cx.f, cx.t);
    let listen = match &f.listening {
        Reading::Value(l) => l,
        Reading::Unreadable(why) => return cx.unreadable(Group::Ports, NAME, why, false),
    };
    let Some(range) = f.port_range.get() else {
        return;
    };
    let reserved = f.reserved_ports.value().cloned().unwrap_or_default();
    let exposed: u64 = exposed_listen_ports(range, &reserved, listen)
        .iter()
        .map(|(a, b)| b - a + 1)
        .sum();
    let value = format!(
        "{} listening, {} in the range",
        plural(listen.len() as u64, "port", "ports"),
        thousands(exposed)
    );
    match listen_ports_warning(range, &reserved, listen) {
        Some(w) if t.role.has_client() => cx.warn(Group::Ports, NAME, value, NAME, w),
        Some(w) => {
            cx.push(Group::Ports, NAME, value, Status::Info, w);
        }
        None => {
            let note =
                "none unreserved inside the local port range: no outgoing connection can take them"
                    .to_string();
            cx.push(Group::Ports, NAME, value, Status::Info, note);
        }
    }
}
