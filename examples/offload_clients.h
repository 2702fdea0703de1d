/*
 * offload_clients.h - what examples/epoll_offload.c and uv_offload.c share:
 * the CPU-bound work and the client threads that load the server (each
 * connects to 127.0.0.1, sends requests 8-byte numbers one at a time and
 * checks every answer against work()).
 */
#ifndef WEFT_EXAMPLES_OFFLOAD_CLIENTS_H
#define WEFT_EXAMPLES_OFFLOAD_CLIENTS_H

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned clients = 16, requests = 200;
static struct sockaddr_in server_addr;

/* The CPU-bound work: a few thousand rounds of a 64-bit mix. */
static uint64_t work(uint64_t n)
{
    uint64_t x = n;
    for (int i = 0; i < 4000; i++) {
        x ^= x >> 31;
        x *= 0x9e3779b97f4a7c15u;
    }
    return x;
}

static bool io_all(int fd, void *buf, size_t n, bool out)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = out ? write(fd, p, n) : read(fd, p, n);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void *client(void *arg)
{
    uintptr_t id = (uintptr_t)arg, bad = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) != 0)
        return (void *)(uintptr_t)requests;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (uint64_t r = 0; r < requests; r++) {
        uint64_t n = id << 32 | r, answer = 0;
        if (!io_all(fd, &n, sizeof n, true) || !io_all(fd, &answer, sizeof answer, false) ||
            answer != work(n))
            bad++;
    }
    close(fd);
    return (void *)bad;
}

/* [CLIENTS [REQUESTS]] */
static bool parse_args(int argc, char **argv)
{
    if (argc > 1)
        clients = (unsigned)atoi(argv[1]);
    if (argc > 2)
        requests = (unsigned)atoi(argv[2]);
    return clients >= 1 && clients <= 1000 && requests >= 1;
}

/* A listening socket on 127.0.0.1, an ephemeral port (server_addr), non-blocking. */
static int listen_local(void)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    server_addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof server_addr;
    if (ls < 0 || bind(ls, (struct sockaddr *)&server_addr, sizeof server_addr) != 0 ||
        listen(ls, 128) != 0 || getsockname(ls, (struct sockaddr *)&server_addr, &len) != 0)
        return -1;
    return ls;
}

/* The client threads, started; NULL when they could not be. */
static pthread_t *start_clients(void)
{
    pthread_t *t = calloc(clients, sizeof *t);
    for (uintptr_t i = 0; t && i < clients; i++)
        if (pthread_create(&t[i], NULL, client, (void *)i) != 0)
            return NULL;
    return t;
}

/* Join them; the number of wrong or missing answers. */
static uintptr_t join_clients(pthread_t *t)
{
    uintptr_t bad = 0;
    for (unsigned i = 0; i < clients; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (uintptr_t)r;
    }
    free(t);
    return bad;
}

#endif /* WEFT_EXAMPLES_OFFLOAD_CLIENTS_H */
