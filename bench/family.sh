#!/usr/bin/env bash
# bench/family.sh — the connect() pitfall the planner avoids.
#
# Linux picks a connect() port by scanning ports of one parity first; once a
# (source, destination address, destination port) family holds about half
# the local port range, each further connect() scans the used half first.
# This opens the same number of connections (90% of the port range) four
# ways and prints the time each took:
#   1. c1m's plan: spread over enough destinations that no family passes half;
#   2. all in one family (kernel-chosen source, no bind);
#   3. one bound source with IP_BIND_ADDRESS_NO_PORT to one destination;
#   4. one bound source with plain bind(ip, 0), spread over 4 destinations
#      (the port is taken per source address whatever the destination);
#   5. c1m's plan with IP_LOCAL_PORT_RANGE giving each client worker its own
#      slice of the range (Linux 6.3+).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/c1m
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
n=$(((hi - lo + 1) * 9 / 10))
out=$(mktemp -d)

one() {
    local name=$1
    shift
    "$bin" run -n "$n" --hold 0s --ports 8590 --json "$out/$name.json" "$@" >/dev/null 2>"$out/$name.err" || true
}
one planned
one one-family --dests 127.0.1.1
one no-port-one-dest --sources 127.0.2.1 --dests 127.0.1.1 --bind-mode no-port
one plain-bind --sources 127.0.2.1 --dests 127.0.1.1-127.0.1.4 --bind-mode plain
one range --bind-mode range --worker-conns 5000

python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = [("planned", "c1m's plan (families under half the range)"),
        ("one-family", "one family, no bind"),
        ("no-port-one-dest", "one source, IP_BIND_ADDRESS_NO_PORT, one destination"),
        ("plain-bind", "one source, plain bind(ip, 0), 4 destinations"),
        ("range", "c1m's plan, IP_LOCAL_PORT_RANGE slice per worker (6 workers)")]
base = None
print(f"{n:,} connections (90% of the local port range)\n")
print("| set-up | per family | reached | time | rate | × slower than planned |")
print("|---|---|---|---|---|---|")
for key, label in rows:
    r = json.load(open(f"{out}/{key}.json"))
    t = r["time_to_reach"] or float("nan")
    base = base or t
    errs = sum(r["clients"]["failed"])
    print(f"| {label} | {r['plan']['per_family_max']:,} | {r['reached']:,}{' (' + str(errs) + ' failed)' if errs else ''} | {t:.2f} s | {r['reached']/t:,.0f}/s | {t/base:.1f} |")
PY
echo
echo "machine: $(nproc) cores, Linux $(uname -r); ip_local_port_range $lo-$hi"
