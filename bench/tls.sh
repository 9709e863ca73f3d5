#!/usr/bin/env bash
# bench/tls.sh [N] — what TLS costs a connection, next to plain TCP
# (issue 15): `c1m run -n N` three ways, one after the other, each on its
# defaults (its own network namespace, c1m's servers echoing):
#
#   plain      plain TCP;
#   tls        --tls: TLS 1.3, the servers' self-signed certificate made at
#              start and checked by the clients, resumption on (a ramp
#              whose handshakes all start at once resumes few: the tickets
#              come after each handshake);
#   tls-full   --tls --no-resume: every handshake a full one.
#
# Each run holds N idle connections at the top, where memory is read
# (user memory per connection per side: RSS, and of it the TLS state, the
# workers' heap growth over their TLS connections; kernel slab per
# socket), then sends heartbeats during a 20 s hold at an offered
# min(N, 20,000) messages/s over all connections. Columns: handshakes/s
# (N over the time to reach, TCP and TLS handshakes together), TLS
# handshake time, memory, heartbeat replies/s during the hold and the
# round trip's p99 (from each send's scheduled time), replies lost.
#
# N defaults to 100,000 (a benchmark the lead runs); `bench/tls.sh 5000`
# checks the script. Run it under flock /tmp/c1m-e2e.lock. Prints a
# Markdown table; the raw reports stay in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
rate=$((n < 20000 ? n : 20000))
cargo build --release -q
bin=target/release/c1m
out=$(mktemp -d)

one() {
    local name=$1
    shift
    "$bin" run -n "$n" --mode heartbeat --message-rate "$rate" --hold 20s \
        --json "$out/$name.json" "$@" >"$out/$name.txt" 2>"$out/$name.err"
    sleep 5
}
one plain
one tls --tls
one tls-full --tls --no-resume

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
    tls = u["tls_heap"] / u["tls_conns"] if u.get("tls_conns") else None
    return size(rss) + (f" ({size(tls)} TLS)" if tls is not None else "")

print(f"| {n:,} connections | handshakes/s | TLS handshake p50 / p99 | user memory / idle conn, clients (of it TLS state) | servers (of it TLS state) | kernel slab / socket | replies/s in the hold (offered {rate:,}) | RTT p99 | lost |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ("plain", "tls", "tls-full"):
    r = json.load(open(f"{out}/{name}.json"))
    reach = r["time_to_reach"]
    hs = f"{r['held']['reached'] / reach:,.0f}" if reach else "n/a"
    t = r["latency"].get("tls_handshake")
    tls = f"{ms(t['p50'])} / {ms(t['p99'])}" if t else "—"
    m = r["memory"] or {}
    conns = m.get("conns", 0)
    slab = m.get("slab_caches_total") or m.get("meminfo_slab")
    slab = size(slab / m["sockets"]) if slab and m.get("sockets") else "n/a"
    hold = [s for s in r["timeline"] if s["phase"] == "hold"]
    rps = (hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"]) if len(hold) > 1 else 0
    rtt = r["latency"].get("rtt") or {}
    resumed = r["clients"].get("tls_resumed", 0)
    label = name + (f" ({resumed:,} resumed)" if name != "plain" else "")
    print(f"| {label} | {hs} | {tls} | {per_conn(m['clients'], conns) if m else 'n/a'} "
          f"| {per_conn(m['servers'], conns) if m else 'n/a'} | {slab} | {rps:,.0f} | {ms(rtt.get('p99'))} "
          f"| {r['clients']['lost']:,} |")
PY
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); c1m $($bin --version | awk '{print $2}'), rustls with the ring provider"
echo "raw reports: $out"
