#!/usr/bin/env bash
# bench/compare.sh — c1m against the fastest minimal C reference found, on
# this machine, in one run:
#   1. a short layout search for the C reference (bench/ref/: epoll servers,
#      nonblocking clients, no library) at 200k: six layouts, two ramps each,
#      the fastest mean kept;
#   2. C (that layout) and `c1m run` on its defaults, alternated, --rounds
#      rounds (3): an idle run each (ramp, 10 s of idle hold, teardown) and a
#      heartbeat run each (offered 100k msg/s of 16 bytes, 30 s);
#   3. one Markdown table of medians and c1m / C ratios on stdout.
# Ramp and teardown are timed by this script from the kernel's counts
# (/proc/net/snmp CurrEstab, /proc/net/sockstat), CPU and memory from
# /proc/PID of every process of each side; see bench/compare.py.
#
#   flock /tmp/c1m-e2e.lock bench/compare.sh [N] [--rounds R] [--layout A..F]
#
# N defaults to 200000; 1000000 for the full table (about 10 GiB of slab per
# run; each run starts when the last one's sockets are gone).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
out=$(mktemp -d)
gcc -O2 -Wall -o "$out/ref" bench/ref/main.c bench/ref/server.c bench/ref/client.c -lm
# C1M_BENCH_QUIET=1: every compiler on the machine is stopped while the
# runs go on (bench/quiet.sh), and resumed at the end.
quiet=()
[ "${C1M_BENCH_QUIET:-}" = 1 ] && quiet=(bench/quiet.sh)
exec "${quiet[@]}" python3 bench/compare.py --ref "$out/ref" --c1m target/release/c1m "$@"
