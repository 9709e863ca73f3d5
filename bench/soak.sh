#!/usr/bin/env bash
# bench/soak.sh — issue 12's soak: `c1m run` holds N (1,000,000) connections
# for M (10) minutes with heartbeats; every minute the kernel's count (two
# ways), c1m's count and each side's RSS, read by bench/soak.py itself; then
# the teardown. Writes bench/results/soak.md. About 10 GiB of slab: run it
# alone (never with the tests).
#
#   flock /tmp/c1m-e2e.lock bench/soak.sh [N] [--minutes M] [--rate R]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
python3 bench/soak.py "$@" | tee bench/results/soak.md
