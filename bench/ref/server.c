/*
 * bench/ref/server.c: an epoll server holding connections on a few ports.
 * Listeners are level-triggered and drained with accept4 in a loop; every
 * accepted connection is registered once, edge-triggered, and whatever it
 * sends is echoed back (heartbeats).
 */
#include "ref.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER (1ull << 32)

void serve(const struct opts *o, int index, int ready) {
    int ep = epoll_create1(0);
    for (int p = 0; p < o->ports; p++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(o->base_port + index * o->ports + p),
                                .sin_addr.s_addr = htonl(INADDR_ANY)};
        int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (void *)&a, sizeof a) || listen(l, 65535)) {
            perror("ref server: listen");
            exit(1);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER | (unsigned)l};
        epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    }
    if (write(ready, "r", 1) != 1) exit(1);
    struct epoll_event evs[512];
    char buf[65536];
    while (!stop) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64;
            if (evs[i].data.u64 & LISTENER) {
                int c;
                while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (o->rate > 0) { /* heartbeats: echo at once (no Nagle) */
                        int one = 1;
                        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    }
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (unsigned)c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            for (;;) { /* edge-triggered: read until the socket is empty */
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    if (write(fd, buf, (size_t)r) != r) { close(fd); break; }
                    continue;
                }
                if (r == 0 || errno != EAGAIN) close(fd);
                break;
            }
        }
    }
    reset_all_and_exit();
}
