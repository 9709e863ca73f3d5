#!/usr/bin/env bash
# bench/ws.sh [N] — what TLS and WebSocket cost a connection, next to
# plain TCP (issue 15): `c1m run -n N` four ways, one after the other,
# each on its defaults (its own network namespace, c1m's servers echoing):
#
#   plain     plain TCP;
#   ws        --websocket: the clients upgrade /, c1m's servers answer and
#             echo (tungstenite's protocol on both sides);
#   tls       --tls: TLS 1.3, the servers' self-signed certificate made at
#             start and checked by the clients, resumption on;
#   tls+ws    --tls --websocket: WebSocket over TLS (wss://).
#
# Each run holds N idle connections at the top, where memory is read
# (user memory per connection per side: RSS, and of it the TLS state and
# the WebSocket state, each as the report splits it), then sends
# heartbeats during a 20 s hold at an offered min(N, 20,000) messages/s
# over all connections (WebSocket: text frames, echoed). Columns:
# handshakes/s (N over the time to reach: TCP, TLS and the upgrade
# together, both ends on this machine), the upgrade's time, memory,
# heartbeat replies/s during the hold and the round trip's p99 (from each
# send's scheduled time), replies lost.
#
# N defaults to 100,000; `bench/ws.sh 5000` checks the script. Run it
# with no compiler running (`cargo build --release` first, then
# `flock /tmp/c1m-e2e.lock bench/quiet.sh bench/ws.sh`). Prints a
# Markdown table; the raw reports stay in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
rate=$((n < 20000 ? n : 20000))
[ -x target/release/c1m ] || cargo build --release -q
bin=target/release/c1m
out=$(mktemp -d)

one() {
    local name=$1
    shift
    "$bin" run -n "$n" --mode heartbeat --message-rate "$rate" --hold 20s \
        --json "$out/$name.json" "$@" >"$out/$name.txt" 2>"$out/$name.err" || true
    sleep 5
}
one plain
one ws --websocket --ws-heartbeat text
one tls --tls
one tls+ws --tls --websocket --ws-heartbeat text

python3 - "$out" "$n" "$rate" <<'PY'
import json, sys
out, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def size(b):
    if b is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB"):
        if abs(b) < 1024 or unit == "MiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024

def ms(us):
    return "n/a" if us is None else (f"{us / 1000:.1f} ms" if us < 1e6 else f"{us / 1e6:.2f} s")

def per_conn(u, conns):
    rss = u["rss"] / conns if conns else None
    parts = []
    if u.get("tls_conns"):
        parts.append(f"TLS {size(u['tls_heap'] / u['tls_conns'])}")
    if u.get("ws_conns"):
        parts.append(f"WS {size(u['ws_heap'] / u['ws_conns'])}")
    return size(rss) + (f" ({', '.join(parts)})" if parts else "")

print(f"| {n:,} connections | held | handshakes/s | TLS handshake p99 | upgrade p99 | user memory / idle conn, clients (of it: TLS, WS state) | servers (of it: TLS, WS state) | kernel slab / socket | replies/s in the hold (offered {rate:,}) | RTT p99 | lost |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name in ("plain", "ws", "tls", "tls+ws"):
    try:
        r = json.load(open(f"{out}/{name}.json"))
    except (OSError, ValueError):
        print(f"| {name} | no report: see {out}/{name}.err |")
        continue
    reach = r.get("time_to_reach")
    hs = f"{r['held']['reached'] / reach:,.0f}" if reach else "n/a"
    t = r["latency"].get("tls_handshake")
    w = r["latency"].get("ws_upgrade")
    m = r["memory"] or {}
    conns = m.get("conns", 0)
    slab = m.get("slab_caches_total") or m.get("meminfo_slab")
    slab = size(slab / m["sockets"]) if slab and m.get("sockets") else "n/a"
    hold = [s for s in r["timeline"] if s["phase"] == "hold"]
    rps = (hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"]) if len(hold) > 1 else 0
    rtt = r["latency"].get("rtt") or {}
    print(f"| {name} | {r['held']['at_end']:,} | {hs} | {ms(t['p99']) if t else '—'} | {ms(w['p99']) if w else '—'} "
          f"| {per_conn(m['clients'], conns) if m else 'n/a'} | {per_conn(m['servers'], conns) if m else 'n/a'} "
          f"| {slab} | {rps:,.0f} | {ms(rtt.get('p99'))} | {r['clients']['lost']:,} |")
PY
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); c1m $($bin --version | awk '{print $2}'), rustls (ring), tungstenite 0.30"
echo "raw reports: $out"
