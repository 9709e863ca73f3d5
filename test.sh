#!/usr/bin/env bash
# Runs every test of c1m, installing first what the tests use that a fresh
# machine may lack. The one test command: README and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v ss >/dev/null || need+=(iproute2)
# The HTML report is checked in headless Chromium (tests/html_report.rs).
[ -x /usr/bin/chromium ] || need+=(chromium)
# c1m stat's screen is tested in a tmux pane.
command -v tmux >/dev/null || need+=(tmux)
# The bad-input table traces each refusal: nothing may start.
command -v strace >/dev/null || need+=(strace)
# Real servers the capacity tests drive (not started as services: the
# tests start their own, on loopback).
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
# HAProxy in front of c1m serve, taking PROXY protocol headers
# (tests/it/proxy.rs; its service, if installing started it, is stopped).
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
# nginx's stream module terminates TLS in front of a c1m serve
# (tests/it/tls.rs); the system's roots are what connect --tls trusts.
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v redis-server >/dev/null || need+=(redis-server)
# A WebSocket echo server that is not c1m, behind nginx (tests/it/websocket.rs).
/usr/bin/python3 -c 'import websockets' 2>/dev/null || need+=(python3-websockets)
# A real Slurm cluster in the lab's namespaces (tests/it/slurm.rs): the
# tests run their own munged, slurmctld and slurmd, configured in a
# temporary directory. Slurm's basic plugins are all they use, so without
# the recommended plugin set (HDF5, MySQL, InfluxDB…). The packages'
# services stay unused: slurmd and slurmctld do not start without
# /etc/slurm/slurm.conf, and munge's, if installing started it, is stopped.
slurm=()
[ -x /usr/sbin/slurmctld ] || slurm+=(slurmctld)
[ -x /usr/sbin/slurmd ] || slurm+=(slurmd)
command -v sbatch >/dev/null || slurm+=(slurm-client)
[ -x /usr/sbin/munged ] || slurm+=(munge)
if ((${#need[@]} + ${#slurm[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: the tests need ${need[*]} ${slurm[*]}; install them (apt-get install ${need[*]} ${slurm[*]})" >&2
        exit 2
    fi
    apt-get update -qq
    if ((${#need[@]})); then
        apt-get install -y -qq "${need[@]}" >/dev/null
        if [[ " ${need[*]} " == *" haproxy "* ]]; then
            invoke-rc.d haproxy stop >/dev/null 2>&1 || true
        fi
    fi
    if ((${#slurm[@]})); then
        apt-get install -y -qq --no-install-recommends "${slurm[@]}" >/dev/null
        if [[ " ${slurm[*]} " == *" munge "* ]]; then
            invoke-rc.d munge stop >/dev/null 2>&1 || true
        fi
    fi
fi
# c1m k8s's manifests are checked against the Kubernetes API's own schemas
# for every version c1m claims (tests/it/deploy.rs).
if ! command -v kubernetes-validate >/dev/null; then
    python3 -m pip install --quiet --root-user-action=ignore kubernetes-validate==1.37.0
fi

# Release mode: the end-to-end tests hold 100,000 connections through
# real worker processes, and a debug build would only make them slower.
# The `release-tests` profile is release that unwinds (Cargo.toml): under
# `--release` every dependency would be built twice, aborting for the
# binary and unwinding for the test harness.
# One test at a time: the end-to-end tests share the machine's ports,
# cores and machine-wide counters (slab, /proc/net/netstat), and read them
# as the truth; the unit tests take milliseconds either way.
export RUST_TEST_THREADS=1
exec cargo test --workspace --profile release-tests "$@"
