#!/bin/sh
# bench/ehash.sh [N] [ROUNDS] — heartbeats with the connections in the
# run's own network namespace (its established hash table sized for the
# sockets, c1m run's default) against --host-netns (the host's table,
# sized at boot), alternated, ROUNDS of each; one table row per run.
#
#   c1m run -n N --mode heartbeat --interval 10s --hold 30s [--host-netns]
#
# N / 10 s messages a second are offered (100k/s at 1M). Each run is
# taken under /tmp/c1m-e2e.lock, one at a time. Results: bench/results/ehash.md.
set -eu
n=${1:-1000000}
rounds=${2:-1}
c1m=${C1M:-target/release/c1m}
out=${OUT:-/tmp/c1m-ehash}
mkdir -p "$out"
echo "| run | N | established buckets | time to reach | replies/s in the hold | p50 | p99 | p99.9 | lost | load avg (1 min) before |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for i in $(seq "$rounds"); do
    for mode in netns host; do
        extra=""
        [ "$mode" = host ] && extra=--host-netns
        f="$out/$mode-$n-$i"
        flock /tmp/c1m-e2e.lock sh -c "cut -d' ' -f1 /proc/loadavg > $f.load; \
            $c1m run -n $n --mode heartbeat --interval 10s --hold 30s $extra --json $f.json > $f.out 2> $f.err" || true
        python3 - "$f" "$mode" "$n" <<'PY'
import json, sys
f, mode, n = sys.argv[1:]
r = json.load(open(f + ".json"))
hold = [s for s in r["timeline"] if s["phase"] == "hold"]
rate = (hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"]) if len(hold) > 1 else float("nan")
ns = r["origin"].get("run_netns")
buckets = f"{ns['buckets']:,} (own {ns['name']})" if ns else "262,144 (host)"
rtt = r["latency"]["rtt"]
s = lambda us: f"{us / 1e6:.2f} s" if us >= 1e6 else f"{us / 1e3:.1f} ms"
load = open(f + ".load").read().strip()
print(f"| {mode} | {int(n):,} | {buckets} | {r['time_to_reach']:.1f} s | {rate:,.0f} | {s(rtt['p50'])} | {s(rtt['p99'])} | {s(rtt['p999'])} | {r['latency']['lost']:,} | {load} |")
PY
    done
done
