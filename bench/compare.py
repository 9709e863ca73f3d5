#!/usr/bin/env python3
"""bench/compare.py — c1m against the fastest minimal C layout found; run by
bench/compare.sh (which builds both). See the comment there.

Every figure is taken the same way for both sides, from outside both programs:
  ramp      from just before the program is started to the first sample of
            /proc/net/snmp Tcp CurrEstab >= baseline + 2N (both ends of every
            connection ESTABLISHED, counted by the kernel);
  teardown  from the last /proc/net/sockstat "TCP: inuse" sample >= baseline
            + 2N to the first < baseline + 10,000 (C is sent SIGTERM when the
            idle window ends; c1m ends its own hold);
  idle CPU  utime + stime (/proc/PID/stat) of every process of the side
            (the program and all its descendants), over 10 s of hold, as % of
            one core;
  memory    RssAnon (/proc/PID/status) of every process of the side during
            the hold, divided by N (anonymous user memory, all included);
  heartbeats offered RATE msg/s of 16 bytes for SECONDS; replies/s = replies
            received within the window / its length; latency from each send's
            scheduled time (each program's own histogram).
"""
import argparse
import datetime
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def kernel_counts(net="/proc/net"):
    """(TCP sockets in use, CurrEstab) from sockstat and snmp of a network
    namespace: /proc/net (this process's) or /proc/PID/net (PID's)."""
    with open(f"{net}/sockstat") as f:
        inuse = int(re.search(r"TCP: inuse (\d+)", f.read()).group(1))
    with open(f"{net}/snmp") as f:
        tcp = [line.split() for line in f if line.startswith("Tcp:")]
    return inuse, int(tcp[1][tcp[0].index("CurrEstab")])


class Sampler(threading.Thread):
    """Samples the kernel's counts every 20 ms: (monotonic t, inuse, estab),
    in the network namespace of `self.net` (see `kernel_counts`); a
    namespace not yet readable counts (0, 0)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.lock = threading.Lock()
        self.net = "/proc/net"

    def run(self):
        while True:
            try:
                s = (time.monotonic(), *kernel_counts(self.net))
            except (OSError, AttributeError, IndexError):
                s = (time.monotonic(), 0, 0)
            with self.lock:
                self.samples.append(s)
                if len(self.samples) > 200000:
                    del self.samples[:100000]
            time.sleep(0.02)

    def since(self, t):
        with self.lock:
            return [s for s in self.samples if s[0] >= t]

    def wait(self, pred, since, timeout, alive=lambda: True):
        """The first sample after `since` for which pred(sample) holds, or None."""
        end = time.monotonic() + timeout
        seen = since
        while time.monotonic() < end:
            for s in self.since(seen):
                if pred(s):
                    return s
                seen = s[0] + 1e-9
            if not alive():
                return None
            time.sleep(0.02)
        return None


# Per-namespace sysctls copied from the host into the C reference's
# namespace, as `c1m run` copies them into its own (the NetNamespace rows of
# crates/limits/src/placement.rs); the two sized by the namespace's table
# keep the larger value.
NETNS_SYSCTLS = [
    "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports", "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout",
]
# The C reference's namespace (made and removed by this script).
REF_NETNS = "c1m-bench-ref"
KEEP_LARGER = {"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets"}


def sysctl_path(name):
    return "/proc/sys/" + name.replace(".", "/")


def buckets_for(n):
    """The established hash table `c1m run` sizes its namespace with for N
    connections: the power of two >= 2 x sockets (2N), at most 2^24."""
    b = 1
    while b < 4 * n and b < 1 << 24:
        b *= 2
    return b


class Netns:
    """Looks into a network namespace: a `sleep` started inside it keeps the
    namespace readable through /proc/PID/net, and alive, even after its
    owner removed its name (c1m does at its end), until `close`."""

    def __init__(self, name):
        # The name may exist a moment before the namespace is mounted on
        # it (`ip netns exec` then fails): try again until it is.
        self.name = name
        own = os.readlink("/proc/self/ns/net")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            self.keeper = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "infinity"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.net = f"/proc/{self.keeper.pid}/net"
            while self.keeper.poll() is None:
                try:
                    if os.readlink(f"/proc/{self.keeper.pid}/ns/net") != own:
                        return
                except OSError:
                    pass
                time.sleep(0.002)
            time.sleep(0.01)
        raise RuntimeError(f"could not look into network namespace {name}")

    def close(self):
        self.keeper.kill()
        self.keeper.wait()


def make_ref_netns(name, buckets):
    """The C reference's namespace, made as `c1m run` makes its own: its
    established table sized by net.ipv4.tcp_child_ehash_entries (set just
    for the creation, then restored), loopback up, the host's per-namespace
    sysctls copied. Returns (buckets read inside, sysctls copied)."""
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
    child = sysctl_path("net.ipv4.tcp_child_ehash_entries")
    before = open(child).read().strip()
    try:
        open(child, "w").write(str(buckets))
        subprocess.run(["ip", "netns", "add", name], check=True)
    finally:
        open(child, "w").write(before)
    inside = lambda *c: subprocess.run(["ip", "netns", "exec", name, *c], check=True,  # noqa: E731
                                       capture_output=True, text=True).stdout
    inside("ip", "link", "set", "lo", "up")
    copied = []
    for key in NETNS_SYSCTLS:
        try:
            host = " ".join(open(sysctl_path(key)).read().split())
        except OSError:
            continue
        now = " ".join(inside("cat", sysctl_path(key)).split())
        if now == host or (key in KEEP_LARGER and int(now) >= int(host)):
            continue
        inside("sysctl", "-qw", f"{key}={host}")
        copied.append(f"{key} = {host}")
    got = int(inside("cat", sysctl_path("net.ipv4.tcp_ehash_entries")).strip())
    return abs(got), copied


def slab_bytes():
    with open("/proc/meminfo") as f:
        return int(re.search(r"^Slab:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def tree(root):
    """root and all its descendants, from /proc/*/stat."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    pids, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in pids:
                pids.add(c)
                todo.append(c)
    return pids


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total


def rss_anon(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += int(re.search(r"RssAnon:\s+(\d+) kB", f.read()).group(1)) * 1024
        except (OSError, AttributeError):
            pass
    return total


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)  # busy, total (idle and iowait excluded)


class Bench:
    def __init__(self, args, tmp):
        self.a, self.tmp = args, tmp
        self.sampler = Sampler()
        self.ref_ns = None
        self.ref_buckets = self.copied = None
        if args.where == "ns":
            # Sized for the largest N this bench runs (the search's or the main one's).
            n = max(args.n, args.search_n)
            self.ref_buckets, self.copied = make_ref_netns(REF_NETNS, buckets_for(n))
            self.ref_ns = Netns(REF_NETNS)
            self.sampler.net = self.ref_ns.net
        self.sampler.start()
        time.sleep(0.1)
        self.base = kernel_counts(self.sampler.net)
        self.slab = slab_bytes()
        self.busy = []  # whole machine, % of all cores, during each idle window
        self.runs = 0

    def close(self):
        if self.ref_ns:
            self.ref_ns.close()
            subprocess.run(["ip", "netns", "del", REF_NETNS], stderr=subprocess.DEVNULL)

    def quiet(self):
        """Wait for the last run's sockets to be gone (the C namespace's
        counts back to its baseline, the machine's slab back within 256 MiB
        of where it started: a namespace's sockets are freed after it is
        gone), then 2 s more."""
        net = self.ref_ns.net if self.ref_ns else "/proc/net"
        end = time.monotonic() + 90
        while time.monotonic() < end:
            inuse, estab = kernel_counts(net)
            if inuse <= self.base[0] + 1000 and estab <= self.base[1] + 1000 and slab_bytes() < self.slab + (256 << 20):
                break
            time.sleep(0.1)
        else:
            print(f"warning: not back to baseline: sockets {kernel_counts(net)}, slab {slab_bytes() >> 20} MiB",
                  file=sys.stderr)
        time.sleep(2)

    def c_cmd(self, lay, mode):
        n = self.a.n
        procs = math.ceil(n / lay["per"])
        where = ["ip", "netns", "exec", REF_NETNS] if self.ref_ns else []
        cmd = where + [self.a.ref, "-n", str(n), "-s", str(procs), "-c", str(procs), "-p", str(lay["ports"]),
               "-d", str(lay["dests"]), "-a", str(lay["sources"]), "-w", str(lay["window"])]
        if mode == "heartbeat":
            cmd += ["-r", str(self.a.rate), "-t", str(self.a.seconds), "-g", "5"]
        return cmd

    def c1m_cmd(self, mode, json_path):
        cmd = [self.a.c1m, "run", "-n", str(self.a.n), "--json", json_path]
        if not self.ref_ns:
            cmd.append("--host-netns")
        if mode == "heartbeat":
            return cmd + ["--mode", "heartbeat", "--message-rate", str(self.a.rate), "--hold", f"{self.a.seconds}s"]
        return cmd + ["--hold", "14s"]

    def run(self, side, mode, lay=None):
        """One run; mode: ramp (ramp and teardown), idle (also CPU and memory), heartbeat."""
        self.quiet()
        self.runs += 1
        n, k = self.a.n, self.runs
        out, err = f"{self.tmp}/{k}-{side}-{mode}.out", f"{self.tmp}/{k}-{side}-{mode}.err"
        jpath = f"{self.tmp}/{k}-c1m-{mode}.json"
        cmd = self.c_cmd(lay, mode) if side == "C" else self.c1m_cmd(mode, jpath)
        r = {"cmd": " ".join(cmd)}
        look = None  # c1m's own namespace, looked into
        if side == "c1m" and self.ref_ns:
            self.sampler.net, base = "/nonexistent", (0, 0)  # (0, 0) until its namespace exists
        else:
            self.sampler.net = self.ref_ns.net if self.ref_ns else "/proc/net"
            base = kernel_counts(self.sampler.net)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=open(err, "w"), start_new_session=True)
        alive = lambda: p.poll() is None  # noqa: E731
        if side == "c1m" and self.ref_ns:
            ns = f"c1m-run-{p.pid}"
            while not os.path.exists(f"/run/netns/{ns}") and alive():
                time.sleep(0.005)
            try:
                look = Netns(ns)
                self.sampler.net = look.net
            except RuntimeError as e:
                print(f"warning: {e}", file=sys.stderr)
        s = self.sampler.wait(lambda s: s[2] - base[1] >= 2 * n, t0, self.a.timeout, alive)
        if s is None:
            print(f"warning: {side} {mode} never reached {n:,} (see {out}, {err})", file=sys.stderr)
            self.stop(p, side)
            return r
        r["ramp"] = s[0] - t0
        # The program says it holds: C prints "connected"; c1m's progress "hold".
        said = (lambda: "connected" in open(out).read()) if side == "C" else \
            (lambda: re.search(r"^\s*hold", open(err).read(), re.M) is not None)
        while not said() and alive():
            time.sleep(0.05)
        if mode == "idle":
            time.sleep(1)
            pids = tree(p.pid)
            c0, m0, w0 = cpu_ticks(pids), machine_busy(), time.monotonic()
            time.sleep(10)
            c1, m1, w1 = cpu_ticks(pids), machine_busy(), time.monotonic()
            r["cpu"] = 100.0 * (c1 - c0) / CLK_TCK / (w1 - w0)
            r["mem"] = rss_anon(pids) / n
            # The seed's own check: ss, in the side's namespace, during the hold.
            ns = look.keeper.pid if look else (self.ref_ns.keeper.pid if self.ref_ns else os.getpid())
            t_ss = time.monotonic()
            ss = subprocess.run(["nsenter", f"--net=/proc/{ns}/ns/net", "ss", "-Htn", "state", "established"],
                                capture_output=True, text=True).stdout
            r["ss"] = ss.count("\n")
            r["ss_s"] = time.monotonic() - t_ss
            self.busy.append(100.0 * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1))
        if mode == "heartbeat":
            # CPU per reply: the side's processes (user + system time, softirq
            # work charged to them included) and the whole machine, over 15 s
            # in the middle of the heartbeats (5 s in, 10 s before the end).
            time.sleep(5)
            pids = tree(p.pid)
            c0, m0, w0 = cpu_ticks(pids), machine_busy(), time.monotonic()
            time.sleep(15)
            c1, m1, w1 = cpu_ticks(pids), machine_busy(), time.monotonic()
            r["hb_cores"] = (c1 - c0) / CLK_TCK / (w1 - w0)
            r["hb_machine"] = os.cpu_count() * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1)
        if mode == "heartbeat" and side == "C":
            while "heartbeats" not in open(out).read() and alive():
                time.sleep(0.2)
            line = open(out).read().split("heartbeats", 1)[1]
            kv = dict(x.split("=") for x in line.split())
            r.update(rate=float(kv["rate"]), p50=int(kv["p50"]), p99=int(kv["p99"]), p999=int(kv["p999"]),
                     lost=int(kv["lost"]), sent=int(kv["sent"]))
        t_end = time.monotonic()
        self.stop(p, side)
        gone = self.sampler.wait(lambda s: s[1] - base[0] < 10000, t_end, self.a.timeout)
        if gone is not None:
            last = [x for x in self.sampler.since(t0) if x[0] < gone[0] and x[1] - base[0] >= 2 * n]
            if last:
                r["teardown"] = gone[0] - last[-1][0]
        if look:
            look.close()
        if side == "c1m" and os.path.exists(jpath):
            rep = json.load(open(jpath))
            ns = (rep.get("origin") or {}).get("run_netns") or {}
            r["buckets"] = ns.get("buckets")
            mem = rep.get("memory") or {}
            r["mem_servers"] = (mem.get("servers") or {}).get("rss_per_conn")
            r["mem_clients"] = (mem.get("clients") or {}).get("rss_per_conn")
            if mode == "heartbeat":
                hold = [x for x in rep["timeline"] if x["phase"] == "hold"]
                rtt = rep["latency"]["rtt"]
                r.update(rate=(hold[-1]["replies"] - hold[0]["replies"]) / (hold[-1]["t"] - hold[0]["t"]),
                         p50=rtt["p50"], p99=rtt["p99"], p999=rtt["p999"], lost=rep["latency"]["lost"],
                         sent=rep["clients"]["sent"], late=rep["clients"]["late"])
        if r.get("rate") and r.get("hb_cores") is not None:
            r["us_per_reply"] = 1e6 * r["hb_cores"] / r["rate"]
            r["machine_us_per_reply"] = 1e6 * r["hb_machine"] / r["rate"]
        print(f"  {side:4} {mode:9} " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in r.items() if k != "cmd"), file=sys.stderr)
        return r

    def stop(self, p, side):
        """C: SIGTERM to its process group (every connection reset). c1m: ends its own hold."""
        if side == "C" and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=self.a.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# A handful of C layouts: connections per process (servers = clients =
# ceil(N / per)), listening ports per server, destination addresses,
# source addresses (0: no bind), handshakes in flight per client process.
# Every layout keeps each (source, destination address, port) family far
# under the ephemeral port range: one address per port (12 families of
# 16,700 in 28,232 ports at 200k) did not reach 200k in 45 s here, connect()
# walking long runs of used ports (see bench/results/family.md).
LAYOUTS = [
    dict(name="A", per=18000, ports=1, dests=4, sources=0, window=1000),
    dict(name="B", per=18000, ports=1, dests=4, sources=0, window=4000),
    dict(name="C", per=9000, ports=1, dests=4, sources=0, window=1000),
    dict(name="D", per=18000, ports=1, dests=16, sources=0, window=2000),
    dict(name="E", per=18000, ports=4, dests=4, sources=0, window=2000),
    dict(name="F", per=18000, ports=1, dests=4, sources=4, window=2000),
]


def describe(lay, n):
    procs = math.ceil(n / lay["per"])
    src = f"{lay['sources']} source addresses" if lay["sources"] else "no bind"
    return (f"{procs} server + {procs} client processes, {lay['ports']} port(s) per server, "
            f"{lay['dests']} destination address(es), {src}, {lay['window']:,} in flight per client")


def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return (statistics.median(v), min(v), max(v), len(v)) if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=200000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--search-n", type=int, default=200000, help="N for the layout search")
    ap.add_argument("--layout", help="skip the search: use this layout name")
    ap.add_argument("--heartbeats-only", action="store_true",
                    help="only the heartbeat runs (no idle runs: the ramp, teardown, CPU and memory rows stay empty)")
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--c1m", required=True)
    ap.add_argument("--where", choices=["ns", "host"], default="ns",
                    help="ns (default): both sides in a namespace of their own, established table sized for "
                         "them (c1m's default); host: both in the host's namespace (c1m --host-netns)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="c1m-compare.")
    b = Bench(a, tmp)
    load0 = open("/proc/loadavg").read().split()[:3]
    started = datetime.datetime.now().astimezone()
    print(f"raw output: {tmp}", file=sys.stderr)
    try:
        report(a, b, load0, started)
    finally:
        b.close()


def report(a, b, load0, started):

    search = []
    if a.layout:
        best = next(x for x in LAYOUTS if x["name"] == a.layout)
    else:
        n_main, a.n = a.n, a.search_n
        ramps = {x["name"]: [] for x in LAYOUTS}
        for _ in range(2):
            for lay in LAYOUTS:
                ramps[lay["name"]].append(b.run("C", "ramp", lay).get("ramp"))
        a.n = n_main
        for lay in LAYOUTS:
            v = ramps[lay["name"]]
            search.append((lay, None if None in v else statistics.mean(v), v))
        best = min((x for x in search if x[1] is not None), key=lambda x: x[1])[0]

    rounds = {"C": [], "c1m": []}
    hb = {"C": [], "c1m": []}
    for _ in range(a.rounds):
        if not a.heartbeats_only:
            rounds["C"].append(b.run("C", "idle", best))
            rounds["c1m"].append(b.run("c1m", "idle"))
        hb["C"].append(b.run("C", "heartbeat", best))
        hb["c1m"].append(b.run("c1m", "heartbeat"))
    load1 = open("/proc/loadavg").read().split()[:3]

    def fmt_s(v): return f"{v:.2f} s"
    def fmt_us(v): return f"{v / 1000:.1f} ms" if v < 1e6 else f"{v / 1e6:.2f} s"
    rows = [
        (f"ramp to {a.n:,} established (start-up included)", rounds, "ramp", fmt_s),
        (f"teardown of {2 * a.n:,} sockets (sockstat at 2N → below 10k)", rounds, "teardown", fmt_s),
        ("idle-hold CPU, all processes, 10 s (% of one core)", rounds, "cpu", lambda v: f"{v:.2f}%"),
        ("user memory per connection (RssAnon of all processes / N)", rounds, "mem", lambda v: f"{v:.1f} B"),
        (f"heartbeat replies/s (offered {a.rate:,}/s, 16 B, {a.seconds} s)", hb, "rate", lambda v: f"{v:,.0f}"),
        (f"ESTABLISHED sockets counted by `ss` during the hold (both ends: 2N = {2 * a.n:,})",
         rounds, "ss", lambda v: f"{v:,.0f}"),
        ("heartbeat CPU of the side's processes (cores, 15 s mid-run)", hb, "hb_cores", lambda v: f"{v:.2f}"),
        ("heartbeat CPU per reply, the side's processes (µs)", hb, "us_per_reply", lambda v: f"{v:.1f} µs"),
        ("heartbeat CPU per reply, whole machine (µs; softirq and other processes included)", hb,
         "machine_us_per_reply", lambda v: f"{v:.1f} µs"),
        ("heartbeat RTT p50", hb, "p50", fmt_us),
        ("heartbeat RTT p99", hb, "p99", fmt_us),
        ("heartbeat RTT p99.9", hb, "p999", fmt_us),
        ("heartbeats lost (no reply)", hb, "lost", lambda v: f"{v:,.0f}"),
        ("marginal user memory per held connection, server workers (RSS change / N; target ≤ 16 B)",
         rounds, "mem_servers", lambda v: f"{v:.1f} B"),
        ("marginal user memory per held connection, client workers (RSS change / N; target ≤ 32 B)",
         rounds, "mem_clients", lambda v: f"{v:.1f} B"),
    ]
    print(f"# bench/compare.sh {a.n} — {started:%Y-%m-%d %H:%M %Z}\n")
    print(f"Command: `flock /tmp/c1m-e2e.lock bench/compare.sh {a.n}`"
          + (f" (layout {a.layout} given)" if a.layout else "") + "\n")
    if search:
        print(f"Layout search for C at {a.search_n:,} (2 runs each, ramp by the kernel's count; fastest mean kept):\n")
        print("| layout | set-up | ramp runs | mean |")
        print("|---|---|---|---|")
        for lay, m, v in search:
            runs = ", ".join("—" if x is None else f"{x:.2f} s" for x in v)
            print(f"| {lay['name']}{' (kept)' if lay is best else ''} | {describe(lay, a.search_n)} | {runs} | "
                  f"{'—' if m is None else f'{m:.2f} s'} |")
        print()
    print(f"C: layout {best['name']}: {describe(best, a.n)} (`{(rounds['C'] or hb['C'])[0].get('cmd', '')}`).  ")
    print(f"c1m: `{(rounds['c1m'] or hb['c1m'])[0].get('cmd', '')}` (its defaults; heartbeats: "
          f"`--mode heartbeat --message-rate {a.rate} --hold {a.seconds}s`).  ")
    if b.ref_ns:
        got = sorted({r.get("buckets") for r in rounds["c1m"] + hb["c1m"] if r.get("buckets")})
        print(f"Where: each side in a network namespace of its own whose established hash table has "
              f"{b.ref_buckets:,} buckets for C (`{REF_NETNS}`, made by this script as c1m makes its own; "
              f"copied from the host: {', '.join(b.copied) or 'nothing'}) and "
              f"{', '.join(f'{x:,}' for x in got) or '?'} for c1m (`c1m-run-PID`, its default); "
              f"the host's table has {open('/proc/sys/net/ipv4/tcp_ehash_entries').read().strip()}.  ")
    else:
        print("Where: both sides in the host's network namespace (`c1m run --host-netns`).  ")
    print(f"Alternated C, c1m, C, c1m, … {a.rounds} rounds; each cell: median [min–max] of the runs.\n")
    print("| figure | C, best layout | c1m (defaults) | c1m / C | ranges overlap (within noise) |")
    print("|---|---|---|---|---|")
    for label, src, key, f in rows:
        c, m = med(src["C"], key), med(src["c1m"], key)
        cell = lambda x: "—" if x is None else f"{f(x[0])} [{f(x[1])}–{f(x[2])}]"  # noqa: E731
        ratio = f"{m[0] / c[0]:.2f}×" if c and m and c[0] else "—"
        overlap = "—" if not (c and m) else ("yes" if m[1] <= c[2] and c[1] <= m[2] else "no")
        print(f"| {label} | {cell(c)} | {cell(m)} | {ratio} | {overlap} |")
    late = [r.get("late") for r in hb["c1m"] if r.get("late") is not None]
    print()
    if late:
        print(f"c1m skipped sends due while the previous reply was outstanding (\"late\", median {statistics.median(late):,.0f}); "
              "C sends every scheduled message, late or not, and times each from its schedule. "
              "On both sides every scheduled send is one latency sample: one never answered (or never made) "
              "by the end of the 5 s grace is timed from its schedule to that end.  ")
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Linux {os.uname().release}; ip_local_port_range {' - '.join(open('/proc/sys/net/ipv4/ip_local_port_range').read().split())}; "
          f"tcp_ehash_entries {open('/proc/sys/net/ipv4/tcp_ehash_entries').read().strip()}; "
          f"congestion control {open('/proc/sys/net/ipv4/tcp_congestion_control').read().strip()}.  ")
    if b.busy:
        print(f"load: loadavg {' '.join(load0)} at the start, {' '.join(load1)} at the end; whole machine busy during the "
              f"idle windows: {min(b.busy):.0f}–{max(b.busy):.0f}% of all cores (both sides' own share included).")


if __name__ == "__main__":
    main()
