#!/usr/bin/env bash
# bench/run.sh — the benchmark of issue 10: c1m on its defaults against the
# fastest minimal C reference found (bench/ref/), at 200k and 1M, each side
# run several times, alternated (bench/compare.sh, bench/compare.py). Every
# row of each table is measured in that run: ramp, teardown, idle-hold CPU,
# memory, an `ss` count, heartbeats (replies/s, p50/p99/p99.9).
#
#   flock /tmp/c1m-e2e.lock bench/run.sh [N ...]    (default: 200000 1000000)
#
# Each table goes to stdout and to bench/results/compare-N.md. A 1M run takes
# ~10 GiB of slab and the whole table about 25 minutes: run it alone, on a
# machine doing nothing else (never with the tests); C1M_BENCH_QUIET=1
# stops every compiler on the machine while the runs go on.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
((${#sizes[@]})) || sizes=(200000 1000000)
for n in "${sizes[@]}"; do
    case $n in
    *000000) name=$((n / 1000000))M ;;
    *000) name=$((n / 1000))k ;;
    *) name=$n ;;
    esac
    bench/compare.sh "$n" | tee "bench/results/compare-$name.md"
done
