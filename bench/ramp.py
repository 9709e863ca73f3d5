#!/usr/bin/env python3
"""bench/ramp.py — the ramp of `c1m run` under several sets of flags,
alternated: from just before c1m starts to the first reading of its own
network namespace's /proc/net/snmp Tcp CurrEstab >= 2N (both ends of
every connection ESTABLISHED, counted by the kernel), read through one of
its workers' /proc/PID/net every 20 ms.

    flock /tmp/c1m-e2e.lock bench/ramp.py N ROUNDS FLAGS... [--c1m PATH]

Each FLAGS is one quoted set, `default` for none:
    bench/ramp.py 1000000 2 default "--window 100000"
Prints one line a run and the median of each set. The run holds 2 s.
"""
import argparse
import os
import statistics
import subprocess
import time


def children(pid):
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def curr_estab(pid):
    lines = open(f"/proc/{pid}/net/snmp").read().splitlines()
    for head, values in zip(lines, lines[1:]):
        if head.startswith("Tcp:") and "CurrEstab" in head:
            return int(values.split()[head.split().index("CurrEstab")])
    raise ValueError("no CurrEstab")


def worker_in(pid, ns):
    """A worker of c1m `pid` inside its namespace `ns`, or None yet."""
    try:
        ino = os.stat(ns).st_ino
    except OSError:
        return None
    for k in children(pid):
        try:
            if os.stat(f"/proc/{k}/ns/net").st_ino == ino and b"worker" in open(f"/proc/{k}/cmdline", "rb").read():
                return k
        except OSError:
            pass
    return None


def one(c1m, n, flags):
    """Seconds to 2N ESTABLISHED in the run's namespace, or None."""
    while any(x.startswith("c1m-run-") for x in os.listdir("/run/netns")):
        time.sleep(0.5)  # the last run's namespace: its sockets still going
    time.sleep(3)
    t0 = time.monotonic()
    p = subprocess.Popen([c1m, "run", "-n", str(n), "--hold", "2s"] + flags,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ns, w, took = f"/run/netns/c1m-run-{p.pid}", None, None
    while p.poll() is None:
        try:
            w = w or worker_in(p.pid, ns)
            if w and curr_estab(w) >= 2 * n:
                took = time.monotonic() - t0
                break
        except (OSError, ValueError):
            w = None  # that worker is gone: find another
        time.sleep(0.02)
    p.wait()
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("rounds", type=int)
    ap.add_argument("flags", nargs="+")
    ap.add_argument("--c1m", default="target/release/c1m")
    a = ap.parse_args()
    seen = {f: [] for f in a.flags}
    for r in range(a.rounds):
        for f in a.flags:
            t = one(a.c1m, a.n, [] if f == "default" else f.split())
            seen[f].append(t)
            print(f"round {r} {f}: " + (f"{t:.2f} s" if t else "never reached"), flush=True)
    for f, v in seen.items():
        ok = [x for x in v if x]
        print(f"{f}: median {statistics.median(ok):.2f} s of {len(ok)}" if ok else f"{f}: none reached")


if __name__ == "__main__":
    main()
