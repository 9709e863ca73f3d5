/*
 * bench/ref/ref.h: the minimal C reference for c1m (bench/compare.sh).
 * One launcher (main.c) forks epoll servers (server.c) and nonblocking
 * clients (client.c); clients can also send heartbeats. No library.
 */
#ifndef REF_H
#define REF_H
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include "hist.h"

/* The layout and the load, from the command line (see main.c). */
struct opts {
    long n;          /* connections in all */
    int servers;     /* server processes */
    int ports;       /* listening ports per server process */
    int dests;       /* destination addresses 127.0.1.1 .. 127.0.1.dests */
    int sources;     /* source addresses 127.0.2.1 .. ; 0: no bind */
    int clients;     /* client processes */
    int window;      /* handshakes in flight per client process */
    int base_port;   /* server k listens on base_port + k*ports .. + ports-1 */
    double rate;     /* heartbeats: messages per second, all clients; 0: idle */
    double seconds;  /* heartbeats: how long sends are scheduled */
    double grace;    /* heartbeats: how long to wait for the last replies */
};

/* What one client reports after its heartbeats (written down a pipe). */
struct result {
    uint64_t scheduled; /* sends due in the window */
    uint64_t sent;      /* sends written (late ones included) */
    uint64_t replies;   /* replies back before the grace ran out */
    uint64_t in_window; /* replies back before the window ended */
    uint64_t failed;    /* writes refused, connections lost */
    struct hist rtt;    /* µs from each send's scheduled time to its reply */
};

#define MSG_LEN 16

extern volatile sig_atomic_t stop;
double now(void);
void on_term(int sig);
/* Reset (SO_LINGER 0) every socket this process holds, then exit: the
 * kernel closes them all at once, with an RST each. */
void reset_all_and_exit(void);
void serve(const struct opts *o, int index, int ready);
void client(const struct opts *o, int index, int ctl, int res);
#endif
