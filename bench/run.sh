#!/usr/bin/env bash
# bench/run.sh — c1m run at 200k and 1M: time to reach, rate, kernel and
# user memory per connection, and an independent `ss` count during the hold.
#
#   bench/run.sh [N ...]        (default: 200000 1000000)
#
# Prints a Markdown table; results of a run are kept in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/c1m
out=$(mktemp -d)
# The yardstick: a minimal C epoll holder with the same set-up.
gcc -O2 -o "$out/holder" bench/ref/holder.c
per_worker=$(($(ulimit -Hn) - 64))
sizes=("$@")
((${#sizes[@]})) || sizes=(200000 1000000)

for n in "${sizes[@]}"; do
    "$bin" run -n "$n" --hold 20s --json "$out/run-$n.json" >"$out/run-$n.txt" 2>"$out/run-$n.err" &
    pid=$!
    # Count with ss once c1m holds (its progress says "hold").
    until grep -q '^ *hold' "$out/run-$n.err" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    start=$(date +%s.%N)
    ss=$(ss -Htn state established | wc -l)
    end=$(date +%s.%N)
    echo "$ss $(echo "$end - $start" | bc)" >"$out/ss-$n.txt"
    wait "$pid"
    endpoints=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['plan']['endpoints']))" "$out/run-$n.json")
    sleep 5 # let the kernel finish freeing the last run's sockets
    "$out/holder" "$n" "$per_worker" "$endpoints" 8890 >"$out/ref-$n.txt"
    sleep 5
done

python3 - "$out" "${sizes[@]}" <<'PY'
import json, sys
out, sizes = sys.argv[1], sys.argv[2:]
print("| target | reached | time to reach | C holder, same set-up | avg rate | peak 1 s rate | c1m netlink count (ms) | ss count (s) | kernel slab / socket | user RSS / conn, servers | user RSS / conn, clients | teardown |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    r = json.load(open(f"{out}/run-{n}.json"))
    ss, ss_s = open(f"{out}/ss-{n}.txt").read().split()
    m = r["memory"]
    v = r["verified"]["Ok"]
    ramp = [s for s in r["timeline"] if s["phase"] == "ramp"]
    peak = 0
    for i, s in enumerate(ramp):
        for p in ramp[:i]:
            if s["t"] - p["t"] >= 1.0:
                peak = max(peak, (s["established"] - p["established"]) / (s["t"] - p["t"]))
    total = m["slab_caches_total"] - sum(c["bytes"] for c in m["slab_caches"] if c["name"] == "proc_inode_cache")
    t = r["time_to_reach"]
    ref = open(f"{out}/ref-{n}.txt").read().split()[3]
    print(f"| {int(n):,} | {r['reached']:,} | {t:.1f} s | {float(ref):.1f} s | {r['reached']/t:,.0f}/s | {peak:,.0f}/s "
          f"| {v['server_side'] + v['client_side']:,} ({v['took']*1000:.0f}) | {int(ss):,} ({float(ss_s):.1f}) "
          f"| {total / m['sockets']:,.0f} B | {m['servers']['rss_per_conn']:.1f} B | {m['clients']['rss_per_conn']:.1f} B "
          f"| {r['teardown']:.1f} s |")
PY
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r); ip_local_port_range $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' '-')"
echo "raw reports: $out"
