#!/usr/bin/env python3
"""bench/soak.py — the soak of issue 12: `c1m run` holds N connections
(default 1,000,000) for a long hold (default 10 minutes) with heartbeats,
and this script, independently of c1m, reads every minute:

  kernel   ESTABLISHED in the run's network namespace, two ways: CurrEstab of
           /proc/PID/net/snmp (PID: a worker inside it) and `ss -Htn state
           established` counted line by line (both ends: 2N);
  c1m      c1m's own count of held connections, from its Prometheus endpoint
           (`c1m_connections{state="established"}`, each side);
  memory   RssAnon of the server workers and of the client workers
           (/proc/PID/status; a server worker is one with a listening socket,
           from `ss -Hltnp` in the namespace), and of the supervisor.

At the end: c1m's report (held, heartbeats sent, replies, lost), the drift of
each side's RSS from the first minute to the last, and the teardown: every
worker gone, the namespace gone, /proc/net/sockstat back to its baseline.
One Markdown report on stdout; progress on stderr. Exit 0 when the soak
shows no connection lost, counts equal throughout, RSS drift under 1%, a
clean teardown; 1 otherwise.

  flock /tmp/c1m-e2e.lock bench/soak.sh [N] [--minutes M] [--rate R]
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from compare import tree  # the same process-tree walk as the comparison's

METRICS = "127.0.0.1:9469"


def sockstat():
    with open("/proc/net/sockstat") as f:
        return int(re.search(r"TCP: inuse (\d+)", f.read()).group(1))




def rss_anon(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"RssAnon:\s+(\d+) kB", f.read()).group(1)) * 1024
    except (OSError, AttributeError):
        return 0


def curr_estab(pid):
    with open(f"/proc/{pid}/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("CurrEstab")])


def ss_established(pid):
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-Htn", "state", "established"],
                         capture_output=True, text=True).stdout
    return out.count("\n")


def listeners(pid):
    """PIDs with a listening TCP socket in pid's namespace."""
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-Hltnp"],
                         capture_output=True, text=True).stdout
    return {int(x) for x in re.findall(r"pid=(\d+)", out)}


def metrics():
    """c1m's own count of established connections, by role."""
    text = urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=10).read().decode()
    got = {}
    for m in re.finditer(r'^c1m_connections\{([^}]*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("state") == "established":
            got[labels.get("role", "all")] = int(float(m.group(2)))
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=1_000_000)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", default="20k", help="heartbeats per second over all connections")
    ap.add_argument("--c1m", default="target/release/c1m")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="c1m-soak.")
    jpath = f"{tmp}/report.json"
    base = sockstat()
    started = datetime.datetime.now().astimezone()
    cmd = [a.c1m, "run", "-n", str(a.n), "--mode", "heartbeat", "--message-rate", a.rate,
           "--hold", f"{a.minutes}m", "--metrics", METRICS, "--json", jpath]
    print(f"soak: {' '.join(cmd)} (raw output in {tmp})", file=sys.stderr)
    p = subprocess.Popen(cmd, stdout=open(f"{tmp}/out", "w"), stderr=open(f"{tmp}/err", "w"),
                         start_new_session=True)
    ns = f"c1m-run-{p.pid}"
    # The hold begins when c1m's progress says so.
    while p.poll() is None and not re.search(r"^\s*hold", open(f"{tmp}/err").read(), re.M):
        time.sleep(0.5)
    if p.poll() is not None:
        sys.exit(f"soak: c1m ended before its hold (exit {p.returncode}); see {tmp}/err")
    t0 = time.monotonic()
    workers = sorted(tree(p.pid) - {p.pid})
    inside = workers[0]
    servers = listeners(inside) & set(workers)
    clients = set(workers) - servers
    print(f"soak: {len(servers)} server and {len(clients)} client workers in {ns}", file=sys.stderr)
    rows = []
    for minute in range(a.minutes):
        # Read in the middle of each minute, clear of the hold's ends.
        target = t0 + 60 * minute + 30
        while time.monotonic() < target and p.poll() is None:
            time.sleep(0.5)
        if p.poll() is not None:
            break
        at = time.monotonic() - t0
        row = dict(minute=minute + 1, t=at, snmp=curr_estab(inside), ss=ss_established(inside),
                   c1m=metrics(), rss_s=sum(rss_anon(x) for x in servers),
                   rss_c=sum(rss_anon(x) for x in clients), rss_sup=rss_anon(p.pid))
        rows.append(row)
        print(f"  minute {row['minute']}: snmp {row['snmp']:,} ss {row['ss']:,} c1m {row['c1m']} "
              f"rss servers {row['rss_s'] >> 20} MiB clients {row['rss_c'] >> 20} MiB", file=sys.stderr)
    p.wait()
    t_end = time.monotonic()
    # Teardown: sockets back to the baseline, no worker, no namespace.
    while sockstat() > base + 1000 and time.monotonic() - t_end < 120:
        time.sleep(0.2)
    gone_s = time.monotonic() - t_end
    left = [w for w in workers if os.path.exists(f"/proc/{w}")]
    ns_left = os.path.exists(f"/run/netns/{ns}")
    rep = json.load(open(jpath)) if os.path.exists(jpath) else {}

    two_n = 2 * a.n
    equal = all(r["snmp"] == two_n and r["ss"] == two_n
                and all(v == a.n for v in r["c1m"].values()) and r["c1m"] for r in rows)

    def drift(key):
        first, last = rows[0][key], rows[-1][key]
        return 100.0 * (last - first) / first if first else float("nan")

    d_s, d_c = (drift("rss_s"), drift("rss_c")) if rows else (float("nan"),) * 2
    lat = rep.get("latency") or {}
    cl = rep.get("clients") or {}
    lost = lat.get("lost")
    held = (rep.get("held") or {}).get("at_end")
    ok = (len(rows) == a.minutes and equal and lost == 0 and held == a.n and abs(d_s) < 1 and abs(d_c) < 1
          and not left and not ns_left and sockstat() <= base + 1000 and p.returncode == 0)

    print(f"# bench/soak.sh {a.n} — {started:%Y-%m-%d %H:%M %Z}\n")
    print(f"Command: `flock /tmp/c1m-e2e.lock bench/soak.sh {a.n} --minutes {a.minutes} --rate {a.rate}` "
          f"(runs `{' '.join(cmd[:-2])} --json FILE`).\n")
    print("Every minute, read by this script in the middle of the minute: the kernel's ESTABLISHED in the "
          f"run's namespace (`{ns}`) by CurrEstab of /proc/PID/net/snmp and by counting `ss -Htn state "
          "established` lines (both ends: 2N), c1m's own count from its Prometheus endpoint "
          "(`c1m_connections{state=\"established\"}` per side), and RssAnon of the server and client "
          "workers (/proc/PID/status).\n")
    print("| minute | kernel: CurrEstab | kernel: `ss` | c1m: servers | c1m: clients | RSS servers | RSS clients | RSS supervisor |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["c1m"]
        print(f"| {r['minute']} | {r['snmp']:,} | {r['ss']:,} | {c.get('server', '—'):,} | {c.get('client', '—'):,} | "
              f"{r['rss_s'] / 2**20:.1f} MiB | {r['rss_c'] / 2**20:.1f} MiB | {r['rss_sup'] / 2**20:.1f} MiB |")
    print()
    print(f"- counts equal throughout (kernel both ways = {two_n:,}, c1m each side = {a.n:,}): "
          f"**{'yes' if equal else 'NO'}**")
    print(f"- held at the end (c1m's report, the kernel's count): {held if held is None else f'{held:,}'}; "
          f"heartbeats sent {cl.get('sent', 0):,}, replies {cl.get('replies', 0):,}, lost {lost}; "
          f"RTT p50 {((lat.get('rtt') or {}).get('p50') or 0) / 1000:.1f} ms, "
          f"p99 {((lat.get('rtt') or {}).get('p99') or 0) / 1000:.1f} ms")
    print(f"- RSS drift, minute 1 → minute {len(rows)}: servers {d_s:+.3f}%, clients {d_c:+.3f}% (target: under 1%)")
    print(f"- teardown: sockets back to the baseline ({base:,} in use before) {gone_s:.1f} s after c1m exited; "
          f"workers left: {len(left)}; namespace left: {'yes' if ns_left else 'no'}; c1m's exit code {p.returncode}")
    print(f"- verdict: **{'PASS' if ok else 'FAIL'}**")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
