/*
 * bench/ref/main.c: the launcher of the minimal C reference.
 *
 *   ref -n N -s SERVERS -p PORTS -d DESTS -c CLIENTS -w WINDOW
 *       [-a SOURCES] [-b BASE_PORT] [-r RATE -t SECONDS -g GRACE]
 *
 * Forks SERVERS server processes (PORTS listening ports each, on 0.0.0.0)
 * and, once they listen, CLIENTS client processes that open N connections
 * in all to 127.0.1.1..DESTS on those ports (from 127.0.2.1..SOURCES with
 * IP_BIND_ADDRESS_NO_PORT when SOURCES > 0), WINDOW handshakes in flight
 * per client. Prints "connected N in S s" when every client has all its
 * connections. With -r, all clients then start heartbeats at one instant:
 * RATE messages/s in all for SECONDS, replies awaited GRACE more seconds;
 * prints one line of key=value results (latencies in µs). Then holds until
 * SIGTERM, which resets every connection of every process (SO_LINGER 0)
 * and exits. Timing of the ramp and teardown is left to the caller, who
 * counts sockets with the kernel.
 */
#include "ref.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t stop;

double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void on_term(int sig) {
    (void)sig;
    stop = 1;
}

void reset_all_and_exit(void) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    for (int fd = 3; fd < (int)rl.rlim_cur; fd++) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    _exit(0);
}

static void read_all(int fd, void *p, size_t len) {
    for (size_t off = 0; off < len;) {
        ssize_t r = read(fd, (char *)p + off, len - off);
        if (r <= 0) {
            if (r < 0 && errno == EINTR && !stop) continue;
            fprintf(stderr, "ref: a worker stopped early\n");
            kill(0, SIGKILL);
        }
        off += (size_t)r;
    }
}

int main(int argc, char **argv) {
    struct opts o = {.servers = 1, .ports = 1, .dests = 1, .clients = 1, .window = 1000, .base_port = 9100, .grace = 5};
    int c;
    while ((c = getopt(argc, argv, "n:s:p:d:a:c:w:b:r:t:g:")) != -1) {
        switch (c) {
        case 'n': o.n = atol(optarg); break;
        case 's': o.servers = atoi(optarg); break;
        case 'p': o.ports = atoi(optarg); break;
        case 'd': o.dests = atoi(optarg); break;
        case 'a': o.sources = atoi(optarg); break;
        case 'c': o.clients = atoi(optarg); break;
        case 'w': o.window = atoi(optarg); break;
        case 'b': o.base_port = atoi(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 't': o.seconds = atof(optarg); break;
        case 'g': o.grace = atof(optarg); break;
        default: return 2;
        }
    }
    setpgid(0, 0); /* SIGTERM goes to this group: the launcher and its workers */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    long spare = 64 + 4L * o.clients;
    if (o.n < 1 || o.dests < 1 || o.dests > 254 || o.sources < 0 || o.sources > 254 ||
        o.n / o.clients + 1 + spare > (long)rl.rlim_cur || o.n / o.servers + 1 + o.ports + spare > (long)rl.rlim_cur ||
        (o.rate > 0 && o.seconds <= 0)) {
        fprintf(stderr, "ref: bad layout (RLIMIT_NOFILE %ld); see the comment in bench/ref/main.c\n", (long)rl.rlim_cur);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: blocking calls return EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int ready[2];
    if (pipe(ready)) return 1;
    for (int s = 0; s < o.servers; s++) {
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(ready[0]);
            serve(&o, s, ready[1]);
        }
    }
    for (int s = 0; s < o.servers; s++) read_all(ready[0], &(char){0}, 1);

    double start = now();
    int *ctl = calloc((size_t)o.clients, sizeof *ctl), *res = calloc((size_t)o.clients, sizeof *res);
    for (int k = 0; k < o.clients; k++) {
        int cp[2], rp[2];
        if (pipe(cp) || pipe(rp)) return 1;
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (int j = 0; j < k; j++) close(ctl[j]), close(res[j]);
            close(ready[0]), close(ready[1]), close(cp[1]), close(rp[0]);
            client(&o, k, cp[0], rp[1]);
        }
        close(cp[0]), close(rp[1]);
        ctl[k] = cp[1], res[k] = rp[0];
    }
    for (int k = 0; k < o.clients && !stop; k++) read_all(res[k], &(char){0}, 1);
    if (!stop) printf("connected %ld in %.2f s\n", o.n, now() - start);

    if (o.rate > 0 && !stop) {
        double t0 = now() + 0.05;
        for (int k = 0; k < o.clients; k++)
            if (write(ctl[k], &t0, sizeof t0) != sizeof t0) return 1;
        static struct result all, one;
        for (int k = 0; k < o.clients && !stop; k++) {
            read_all(res[k], &one, sizeof one);
            all.scheduled += one.scheduled, all.sent += one.sent, all.replies += one.replies;
            all.in_window += one.in_window, all.failed += one.failed;
            hist_merge(&all.rtt, &one.rtt);
        }
        if (!stop)
            printf("heartbeats scheduled=%lu sent=%lu replies=%lu in_window=%lu lost=%lu failed=%lu "
                   "rate=%.0f p50=%lu p99=%lu p999=%lu max=%lu\n",
                   all.scheduled, all.sent, all.replies, all.in_window, all.scheduled - all.replies, all.failed,
                   (double)all.in_window / o.seconds, hist_quantile(&all.rtt, 0.5), hist_quantile(&all.rtt, 0.99),
                   hist_quantile(&all.rtt, 0.999), hist_quantile(&all.rtt, 1.0));
    }
    while (!stop) pause();
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR) {}
    return 0;
}
