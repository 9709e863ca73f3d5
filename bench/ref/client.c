/*
 * bench/ref/client.c: one client process. Opens its share of connections
 * with nonblocking connects, at most `window` handshakes in flight, each
 * socket registered once with every event it will ever need. Then holds,
 * or sends heartbeats: MSG_LEN bytes per send, sends spread evenly over
 * the process's connections at its share of the offered rate. Send s is
 * due at t0 + s * gap (gap = connections / own rate / connections), on
 * connection s % count; a late send is still made, and every reply is
 * timed from its send's scheduled time (no coordinated omission). A send
 * never answered, or never made, by the end of the grace is timed from
 * its schedule to that end, as c1m times its lost ones: every scheduled
 * send is one sample on both sides of the comparison. TCP keeps
 * a connection's replies in order, so reply m of connection i answers send
 * m * count + i, and a byte count per connection is all the state needed.
 */
#include "ref.h"
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FREE, CONNECTING, UP, DEAD };

static const struct opts *o;
static long first, count;    /* this process's connections: first .. first+count-1 */
static int ep;
static int *fd_of;           /* connection -> fd */
static int *conn_of;         /* fd -> connection */
static uint8_t *state;       /* fd -> state */
static uint32_t *got;        /* fd -> bytes received */
static long failures;

/* Connection g (global index) goes to port g % ports_total, address
 * (g / ports_total) % dests, from source (g / (ports_total*dests)) % sources,
 * so each (source, destination) pair gets an equal share. */
static void open_conn(long i) {
    long g = first + i, pt = (long)o->servers * o->ports;
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(o->base_port + g % pt)};
    d.sin_addr.s_addr = htonl((127u << 24) | (1u << 8) | (uint32_t)(1 + (g / pt) % o->dests));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0) { perror("ref client: socket"); exit(1); }
    if (o->sources) {
        int one = 1;
        struct sockaddr_in b = {.sin_family = AF_INET};
        b.sin_addr.s_addr = htonl((127u << 24) | (2u << 8) | (uint32_t)(1 + (g / pt / o->dests) % o->sources));
        setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(s, (void *)&b, sizeof b)) { perror("ref client: bind"); exit(1); }
    }
    if (o->rate > 0) { /* heartbeats: a message never waits for the last one's ACK (Nagle) */
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(s, (void *)&d, sizeof d) && errno != EINPROGRESS) {
        perror("ref client: connect");
        exit(1);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = (unsigned)s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    fd_of[i] = s, conn_of[s] = (int)i, state[s] = CONNECTING, got[s] = 0;
}

static double t0, gap;
static struct result res;

/* Count the replies now complete on fd and time each from its schedule. */
static void take_replies(int fd, double t) {
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0) {
            if (r == 0 || errno != EAGAIN) state[fd] = DEAD, res.failed++, close(fd);
            return;
        }
        if (!gap) continue;
        uint32_t before = got[fd] / MSG_LEN;
        got[fd] += (uint32_t)r;
        for (uint32_t m = before; m < got[fd] / MSG_LEN; m++) {
            double due = t0 + ((double)m * count + conn_of[fd]) * gap;
            hist_add(&res.rtt, (uint64_t)((t - due) * 1e6));
            res.replies++;
            if (t < t0 + o->seconds) res.in_window++;
        }
    }
}

/* Handle one round of events; returns the number of connections that
 * became established. */
static long events(int timeout_ms, int *inflight) {
    struct epoll_event evs[1024];
    long up = 0;
    int n = epoll_wait(ep, evs, 1024, timeout_ms);
    double t = now();
    for (int i = 0; i < n; i++) {
        int fd = (int)evs[i].data.u64;
        uint32_t e = evs[i].events;
        if (state[fd] == CONNECTING) {
            if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) { /* retry the same connection */
                if (++failures > count) { fprintf(stderr, "ref client: too many failed connects\n"); exit(1); }
                long c = conn_of[fd];
                state[fd] = FREE, close(fd), open_conn(c);
                continue;
            }
            if (e & EPOLLOUT) state[fd] = UP, up++, (*inflight)--;
        }
        if (state[fd] == UP && (e & EPOLLIN)) take_replies(fd, t);
    }
    return up;
}

void client(const struct opts *opt, int index, int ctl, int res_fd) {
    o = opt;
    first = o->n * index / o->clients;
    count = o->n * (index + 1) / o->clients - first;
    long maxfd = count + 64 + 4L * o->clients;
    fd_of = calloc((size_t)count, sizeof *fd_of);
    conn_of = calloc((size_t)maxfd, sizeof *conn_of);
    state = calloc((size_t)maxfd, 1);
    got = calloc((size_t)maxfd, sizeof *got);
    ep = epoll_create1(0);
    struct epoll_event cev = {.events = EPOLLIN, .data.u64 = (unsigned)ctl};
    epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &cev);
    state[ctl] = FREE;

    long next = 0, up = 0;
    int inflight = 0;
    while (up < count && !stop) {
        while (next < count && inflight < o->window) open_conn(next++), inflight++;
        up += events(100, &inflight);
    }
    if (stop) reset_all_and_exit();
    if (write(res_fd, "c", 1) != 1) exit(1);

    if (o->rate > 0) {
        while (read(ctl, &t0, sizeof t0) != sizeof t0)
            if (stop) reset_all_and_exit();
        gap = (double)o->n / o->rate / (double)count;
        uint64_t s = 0;
        res.scheduled = (uint64_t)ceil(o->seconds / gap);
        static const char msg[MSG_LEN] = "c1m-ref-beat-16\n";
        for (double t = now(); t < t0 + o->seconds + o->grace && !stop; t = now()) {
            uint64_t due = t < t0 ? 0 : (uint64_t)((t - t0) / gap) + 1;
            if (due > res.scheduled) due = res.scheduled;
            if (due > s + 256) due = s + 256; /* behind schedule: replies get their turn too */
            for (; s < due; s++) {
                int fd = fd_of[s % (uint64_t)count];
                if (state[fd] != UP) { res.failed++; continue; }
                if (write(fd, msg, MSG_LEN) != MSG_LEN) { state[fd] = DEAD, res.failed++, close(fd); continue; }
                res.sent++;
            }
            if (s == res.scheduled && res.replies == res.sent) break;
            double wait = s < res.scheduled ? t0 + s * gap - t : t0 + o->seconds + o->grace - t;
            int dummy = 0;
            events(wait <= 0 ? 0 : (int)ceil(wait * 1e3), &dummy);
        }
        /* What never came back by now: the sends made and unanswered on
         * each live connection (its last ones), then those never made. */
        double end = now();
        for (long c = 0; c < count; c++) {
            int fd = fd_of[c];
            if (state[fd] != UP) continue; /* counted in failed */
            uint64_t made = s / (uint64_t)count + ((uint64_t)c < s % (uint64_t)count);
            for (uint64_t m = got[fd] / MSG_LEN; m < made; m++)
                hist_add(&res.rtt, (uint64_t)((end - (t0 + ((double)m * count + c) * gap)) * 1e6));
        }
        for (uint64_t k = s; k < res.scheduled; k++)
            hist_add(&res.rtt, (uint64_t)((end - (t0 + (double)k * gap)) * 1e6));
        size_t off = 0;
        while (off < sizeof res) {
            ssize_t w = write(res_fd, (char *)&res + off, sizeof res - off);
            if (w <= 0) exit(1);
            off += (size_t)w;
        }
    }
    while (!stop) {
        int dummy = 0;
        events(-1, &dummy);
    }
    reset_all_and_exit();
}
