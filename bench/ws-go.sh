#!/usr/bin/env bash
# bench/ws-go.sh [N] — c1m's TLS WebSocket client next to a minimal Go
# one (bench/ref/ws_client.go: crypto/tls, a goroutine and a
# bufio.Reader per connection, the upgrade and frames by hand), against
# the same `c1m serve --websocket --tls` on 8 ports of 127.0.0.1, one
# after the other: N connections (at most 2,000 handshakes at once), idle
# memory read at rest, then RATE text heartbeats a second (default
# 10,000) for 20 s, each echoed and checked, timed from its scheduled
# send.
#
# N defaults to 15,000: one Go process holds what its descriptors allow
# (RLIMIT_NOFILE, 20,000 here), and the Go client has no fan-out over
# processes as c1m has. Needs Debian's golang-go. Run it under flock
# /tmp/c1m-e2e.lock with no compiler running. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-15000}
rate=${RATE:-10000}
command -v go >/dev/null || { echo "bench/ws-go.sh needs Go: apt-get install golang-go" >&2; exit 2; }
[ -x target/release/c1m ] || cargo build --release -q
bin=target/release/c1m
out=$(mktemp -d)
GOCACHE=$out/gocache go build -o "$out/ws_client" bench/ref/ws_client.go
"$bin" serve --listen 127.0.0.1:18443-18450 --websocket --tls --max-conns $((n + 1000)) \
    --hold 30m >"$out/serve.txt" 2>&1 &
serve=$!
trap 'kill -INT $serve 2>/dev/null || true; wait $serve 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    [ "$(ss -Hltn '( sport = :18450 )' | wc -l)" -gt 0 ] && break
    sleep 0.2
done
addrs=$(for p in $(seq 18443 18450); do printf '127.0.0.1:%s,' "$p"; done)
"$out/ws_client" -addrs "${addrs%,}" -n "$n" -window 2000 -rate "$rate" -hold 20s >"$out/go.json"
sleep 5
"$bin" connect 127.0.0.1:18443-18450 -n "$n" --window 2000 --tls --insecure --websocket / \
    --ws-heartbeat text --mode heartbeat --message-rate "$rate" --hold 20s \
    --json "$out/c1m.json" >"$out/c1m.txt" 2>&1 || true

python3 - "$out" "$n" "$rate" <<'PY'
import json, sys
out, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def size(b):
    return f"{b / 1024:.1f} KiB" if b >= 1024 else f"{b:.0f} B"
g = json.load(open(f"{out}/go.json"))
r = json.load(open(f"{out}/c1m.json"))
print(f"| {n:,} TLS WebSocket connections | held | handshakes/s | user memory / idle conn (RSS) | heartbeats replied/s (offered {rate:,}) | RTT p99 | lost or wrong |")
print("|---|---|---|---|---|---|---|")
print(f"| Go {g['go']} (crypto/tls, goroutine + bufio each; heap {size(g['heap_inuse_per_conn'])}, stacks {size(g['stack_inuse_per_conn'])}) "
      f"| {g['held']:,} | {g['handshakes_per_s']:,.0f} | {size(g['idle_rss_per_conn'])} | {g['replies_per_s']:,.0f} "
      f"| {g['rtt_p99_us'] / 1000:.1f} ms | {g['sent'] - g['replies']:,} |")
m = r["memory"]["clients"]
hold = [s for s in r["timeline"] if s["phase"] == "hold"]
rps = (hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"]) if len(hold) > 1 else 0
c = r["clients"]
print(f"| c1m (rustls + tungstenite in epoll; TLS {size(m['tls_heap'] / m['tls_conns'])}, WS {size(m['ws_heap'] / m['ws_conns'])}) "
      f"| {r['held']['at_end']:,} | {r['held']['reached'] / r['time_to_reach']:,.0f} | {size(m['rss_per_conn'])} | {rps:,.0f} "
      f"| {r['latency']['rtt']['p99'] / 1000:.1f} ms | {c['lost'] + c['mismatched']:,} |")
PY
echo
echo "machine: $(nproc) cores, Linux $(uname -r); $(go version | awk '{print $3}'); raw: $out"
