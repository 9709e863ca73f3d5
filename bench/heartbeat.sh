#!/usr/bin/env bash
# bench/heartbeat.sh — live connections: heartbeats echoed by c1m's servers,
# latency from each send's scheduled time (no coordinated omission).
#
#   1. 1,000,000 connections, one 16-byte message per 10 s each (100k msg/s
#      offered), the issue's target load;
#   2. 200,000 connections at the same 100k msg/s offered;
#   3. 19,000 connections in ONE client process (what tcpkali can do in
#      one process under a 20k fd limit) at one message per second each.
#
# Prints a Markdown table; the hold is 40 s so each connection sends
# several times.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/c1m
out=$(mktemp -d)

one() {
    local name=$1
    shift
    "$bin" run --mode heartbeat --hold 40s --json "$out/$name.json" "$@" >"$out/$name.txt" 2>"$out/$name.err"
    sleep 5
}
one 1m -n 1000000 --interval 10s
one 200k -n 200000 --interval 2s
one 19k -n 19000 --interval 1s

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [("1m", "1,000,000 conns, 1 msg / 10 s each"), ("200k", "200,000 conns, 1 msg / 2 s each"),
        ("19k", "19,000 conns in one client process, 1 msg / s each")]
print("| run | client processes | offered msg/s | achieved replies/s (hold) | replies / sent | late | RTT p50 | p99 | p99.9 | max |")
print("|---|---|---|---|---|---|---|---|---|---|")
def ms(us): return f"{us/1000:.1f} ms" if us < 1e6 else f"{us/1e6:.2f} s"
for key, label in rows:
    r = json.load(open(f"{out}/{key}.json"))
    hold = [s for s in r["timeline"] if s["phase"] == "hold"]
    rate = (hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"])
    offered = r["reached"] / r["traffic"]["interval"]
    c = r["clients"]; l = r["latency"]["rtt"]
    print(f"| {label} | {len(r['plan']['clients'])} | {offered:,.0f} | {rate:,.0f} | {c['replies']/max(c['sent'],1):.1%} | {c['late']:,} "
          f"| {ms(l['p50'])} | {ms(l['p99'])} | {ms(l['p999'])} | {ms(l['max'])} |")
PY
echo
echo "machine: $(nproc) cores, Linux $(uname -r); net.ipv4.tcp_congestion_control $(cat /proc/sys/net/ipv4/tcp_congestion_control)"
echo "raw reports: $out"
