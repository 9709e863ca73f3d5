//! The summary's memory rows: the kernel's cost per socket (slab), the
//! MemAvailable drop and the workers' memory per connection, each only
//! as far as its reading supports.

use super::*;
use crate::report::model::ProcScan;

pub(super) fn memory_rows(o: &mut Rows, m: &Memory) {
    let slab = m.slab_caches_total.or(m.meminfo_slab);
    match (kernel_per_socket(m), slab) {
        // Machine-wide slab that something else moved as much as the
        // sockets did: a figure, but not this run's cost.
        (Some(per), _) if per <= 0.0 || slab_caution(m).is_some() => o.tone(
            "kernel memory / socket",
            format!(
                "not measurable in this run ({} over {} sockets: the machine's slab changed for other reasons too)",
                bytes(per),
                thousands(m.sockets)
            ),
            Tone::Warn,
        ),
        (Some(per), _) => o.row(
            "kernel memory / socket",
            format!(
                "{} (slab, over {} sockets)",
                bytes(per),
                thousands(m.sockets)
            ),
        ),
        (None, Some(total)) => o.row(
            "kernel memory / socket",
            per_conn(total, m.sockets, "sockets", SLAB_NOISE),
        ),
        (None, None) => o.row("kernel memory / socket", "n/a"),
    }
    if let Some(d) = m.mem_available_drop {
        // Holding connections takes memory, never gives it: a rise past
        // the noise is other processes' frees (or page cache dropped)
        // outweighing the connections' cost, and says nothing of it.
        if d < -MEM_AVAILABLE_NOISE {
            o.tone(
                "MemAvailable drop / conn",
                format!(
                    "not measurable in this run (MemAvailable rose by {} while {} connections were opened: memory freed by other processes meanwhile)",
                    bytes(-d as f64),
                    thousands(m.conns)
                ),
                Tone::Warn,
            );
        } else {
            o.row(
                "MemAvailable drop / conn",
                per_conn(d, m.conns, "connections", MEM_AVAILABLE_NOISE),
            );
        }
    }
    for (side, u) in [("servers", &m.servers), ("clients", &m.clients)] {
        if u.rss == 0 && u.pss.is_none_or(|p| p == 0) {
            // No such workers (connect has no servers, serve no clients).
            continue;
        }
        let pss = match u.pss {
            // PSS splits shared pages (the binary, libc) among every
            // process mapping them: it falls when other processes start
            // on the machine, which is no cost of holding. Only a rise
            // past the noise is a figure.
            Some(pss) if pss > RSS_NOISE_PER_WORKER => {
                format!(", PSS {}", bytes(pss as f64 / m.conns as f64))
            }
            _ => String::new(),
        };
        let value = if u.rss.abs() <= RSS_NOISE_PER_WORKER {
            per_conn(u.rss, m.conns, "connections", RSS_NOISE_PER_WORKER)
        } else if u.rss < 0 {
            // Holding connections never shrinks a worker: pages were
            // reclaimed or swapped out meanwhile.
            format!(
                "not measurable in this run (the workers' RSS fell by {}: pages reclaimed or swapped out meanwhile)",
                bytes(-u.rss as f64)
            )
        } else {
            format!(
                "{} RSS{pss} (total change {})",
                bytes(u.rss as f64 / m.conns.max(1) as f64),
                bytes(u.rss as f64)
            )
        };
        o.row(&format!("user memory / conn, {side}"), value);
        if let (Some(per), Some(n)) = (u.tls_per_conn(), u.tls_conns) {
            o.detail(
                "of which TLS state",
                format!(
                    "{} per TLS connection (the heap's growth, {} for {} connections: rustls' keys and buffers)",
                    bytes(per),
                    bytes(u.tls_heap.unwrap_or(0) as f64),
                    thousands(n)
                ),
            );
        }
        if let (Some(per), Some(n)) = (u.ws_per_conn(), u.ws_conns) {
            o.detail(
                "of which WebSocket state",
                format!(
                    "{} per WebSocket connection ({} for {} connections, as its code allocated it: tungstenite's context and buffers)",
                    bytes(per),
                    bytes(u.ws_heap.unwrap_or(0) as f64),
                    thousands(n)
                ),
            );
        }
    }
    let measurable = slab.is_some_and(|t| t.abs() > SLAB_NOISE);
    if let Some(caution) = slab_caution(m) {
        o.tone("caution", caution, Tone::Warn);
    }
    if let Some(e) = &m.slab_unreadable {
        o.row("slab caches", format!("unreadable: {e}"));
    } else if !m.slab_caches.is_empty() && measurable {
        o.row("slab caches", "change, and per socket:");
        let scan = m.proc_scan();
        for c in &m.slab_caches {
            let (scan_objects, scan_bytes) = scan.share(&c.name, c.objects, c.bytes);
            let (per, note) = if ProcScan::whole(&c.name) {
                (
                    c.bytes,
                    "  (a /proc/*/fd scanner's, not the sockets')".into(),
                )
            } else if scan_objects > 0 {
                let n = thousands_signed(scan_objects);
                (
                    c.bytes - scan_bytes,
                    format!("  (less {n} objs, the /proc scanner's)"),
                )
            } else {
                (c.bytes, String::new())
            };
            o.detail(
                &c.name,
                format!(
                    "{:>12} objs {:>10} {:>9}/socket{note}",
                    c.objects,
                    bytes(c.bytes as f64),
                    bytes(per as f64 / m.sockets as f64)
                ),
            );
        }
    }
}
