#!/usr/bin/env bash
# bench/quiet.sh CMD... — runs CMD with every compiler on the machine
# stopped (SIGSTOP, again every 5 s for ones started meanwhile) and
# resumes them (SIGCONT) when CMD ends, however it ends. For benchmarks
# on a machine shared with builds: a build beside a 1M run moves its
# figures by tens of percent. CMD must not build anything itself (build
# first), or it stops its own compiler and waits forever.
#
#   cargo build --release && flock /tmp/c1m-e2e.lock bench/quiet.sh bench/compare.py ...
names='^(rustc|cargo|clippy-driver|cc|ld|ld.lld|collect2|cc1|rust-lld)$'
stop() { pkill -STOP "$names" >/dev/null 2>&1 || true; }
resume() { pkill -CONT "$names" >/dev/null 2>&1 || true; }
(while sleep 5; do stop; done) &
watcher=$!
trap 'kill $watcher 2>/dev/null; resume' EXIT
stop
"$@"
