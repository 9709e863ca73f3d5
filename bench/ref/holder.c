/*
 * bench/ref/holder.c: a minimal C epoll holder, the yardstick for c1m's
 * ramp time. Same set-up as `c1m run` (spread topology): E endpoints
 * 127.0.1.x:PORT, one server process per E/S endpoints, client processes of
 * at most C connections each, nonblocking connects through epoll with a
 * window, servers accepting and registering every connection with epoll.
 * No measurement, no reporting beyond the time to reach N.
 *
 *   holder N C E PORT
 *
 * Prints "reached N in S s". Everything is killed at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in endpoint(long i, int port) {
    /* 127.0.1.1 upward, skipping last octets 0 and 255, as c1m does. */
    unsigned a = (127u << 24) | (1u << 8) | 1u;
    for (long k = 0; k < i; k++) {
        do a++; while ((a & 0xff) == 0 || (a & 0xff) == 255);
    }
    struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};
    s.sin_addr.s_addr = htonl(a);
    return s;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void server(long first, long count, int port, int ready) {
    int ep = epoll_create1(0);
    for (long e = first; e < first + count; e++) {
        struct sockaddr_in a = endpoint(e, port);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (void *)&a, sizeof a) || listen(l, 4096)) { perror("listen"); exit(1); }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (1ull << 40) | l};
        epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    }
    write(ready, "r", 1);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 >> 40) {
                int l = (int)(evs[i].data.u64 & 0xffffffff), c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
            } else {
                close((int)evs[i].data.u64);
            }
        }
    }
}

static void client(long first, long count, long endpoints, int port, int window, int done) {
    int ep = epoll_create1(0);
    long next = 0, connecting = 0, ok = 0;
    struct epoll_event evs[1024];
    while (ok < count) {
        while (next < count && connecting < window) {
            struct sockaddr_in a = endpoint((first + next) % endpoints, port);
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s < 0) { perror("socket"); exit(1); }
            connect(s, (void *)&a, sizeof a);
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = s};
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            next++, connecting++;
        }
        int n = epoll_wait(ep, evs, 1024, 100);
        for (int i = 0; i < n; i++) {
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) { fprintf(stderr, "connect failed\n"); exit(1); }
            if (evs[i].events & EPOLLOUT) connecting--, ok++;
        }
    }
    write(done, "d", 1);
    pause();
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: holder N C E PORT\n"); return 2; }
    long n = atol(argv[1]), c = atol(argv[2]), e = atol(argv[3]);
    int port = atoi(argv[4]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    setpgid(0, 0);
    long servers = (n + c - 1) / c, clients = servers;
    long per_server = (e + servers - 1) / servers;
    int pipes[2];
    pipe(pipes);
    for (long s = 0; s * per_server < e; s++) {
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            long cnt = e - s * per_server < per_server ? e - s * per_server : per_server;
            server(s * per_server, cnt, port, pipes[1]);
        }
    }
    char b;
    for (long s = 0; s * per_server < e; s++) read(pipes[0], &b, 1);
    double t0 = now();
    int window = (int)(20000 / clients) + 1;
    for (long k = 0; k < clients; k++) {
        long first = n * k / clients, last = n * (k + 1) / clients;
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            client(first, last - first, e, port, window, pipes[1]);
        }
    }
    for (long k = 0; k < clients; k++) read(pipes[0], &b, 1);
    double t = now() - t0;
    printf("reached %ld in %.2f s (%.0f/s)\n", n, t, n / t);
    fflush(stdout);
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    while (wait(NULL) > 0) {}
    return 0;
}
