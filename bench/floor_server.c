#define _GNU_SOURCE
/* The floor for `make bench-live`: a WebSocket broadcast with nothing but the system calls.

   cc -O2 -o floor bench/floor_server.c && ./floor PORT

   One thread, epoll, SO_REUSEPORT on 127.0.0.1:PORT. It answers any request ending in a blank
   line with a fixed 101 (the bench's clients do not check Sec-WebSocket-Accept), then, for each
   complete text frame a client sends, writes the same text, unmasked, to every connection with
   one write() each: what any server must at least do to deliver one event to everyone. It is a
   measuring stick, not a server: no pings, no close handshake, no limits beyond a fixed input
   buffer, and a connection whose kernel buffer is full misses the frame. Prints "floor: PORT"
   when it listens, like the other peers, and stops on SIGTERM, or after 30 minutes whatever
   happens. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 20000
#define IN_SIZE 2048

struct conn {
    int open;
    int upgraded;
    int used;
    unsigned char in[IN_SIZE];
};

static struct conn *conns;
static int fds[MAX_FDS];
static int count;
static volatile sig_atomic_t stopping;

static const char UPGRADED[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: bench\r\n\r\n";

static void on_term(int sig) { (void)sig; stopping = 1; }

static void drop(int epfd, int fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].open = 0;
    for (int i = 0; i < count; i++) {
        if (fds[i] == fd) {
            fds[i] = fds[--count];
            break;
        }
    }
}

static void broadcast(const unsigned char *text, size_t n) {
    unsigned char frame[IN_SIZE + 4];
    size_t head;
    frame[0] = 0x81;
    if (n < 126) {
        frame[1] = (unsigned char)n;
        head = 2;
    } else {
        frame[1] = 126;
        frame[2] = (unsigned char)(n >> 8);
        frame[3] = (unsigned char)n;
        head = 4;
    }
    memcpy(frame + head, text, n);
    for (int i = 0; i < count; i++) {
        if (conns[fds[i]].upgraded) {
            ssize_t w = write(fds[i], frame, head + n);
            (void)w; /* a full buffer misses this frame: see the header */
        }
    }
}

/* Whole client frames at the start of c->in: each text frame is broadcast. */
static void frames(struct conn *c) {
    int off = 0;
    for (;;) {
        int left = c->used - off;
        if (left < 2) break;
        unsigned char *p = c->in + off;
        size_t n = p[1] & 0x7f, head = 2;
        if (n == 126) {
            if (left < 4) break;
            n = ((size_t)p[2] << 8) | p[3];
            head = 4;
        } else if (n == 127) {
            c->used = 0; /* larger than this stick measures */
            return;
        }
        int masked = p[1] & 0x80;
        size_t total = head + (masked ? 4 : 0) + n;
        if (total > IN_SIZE) {
            c->used = 0;
            return;
        }
        if ((size_t)left < total) break;
        unsigned char *data = p + head + (masked ? 4 : 0);
        if (masked) {
            unsigned char *key = p + head;
            for (size_t i = 0; i < n; i++) data[i] ^= key[i & 3];
        }
        if ((p[0] & 0x0f) == 1) broadcast(data, n);
        off += (int)total;
    }
    memmove(c->in, c->in + off, (size_t)(c->used - off));
    c->used -= off;
}

static void readable(int epfd, int fd) {
    struct conn *c = &conns[fd];
    for (;;) {
        ssize_t got = read(fd, c->in + c->used, IN_SIZE - (size_t)c->used);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            drop(epfd, fd);
            return;
        }
        if (got < 0) return;
        c->used += (int)got;
        if (!c->upgraded) {
            unsigned char *end = memmem(c->in, (size_t)c->used, "\r\n\r\n", 4);
            if (end == NULL) {
                if (c->used == IN_SIZE) drop(epfd, fd);
                continue;
            }
            ssize_t w = write(fd, UPGRADED, sizeof UPGRADED - 1);
            (void)w;
            c->upgraded = 1;
            int rest = c->used - (int)(end + 4 - c->in);
            memmove(c->in, end + 4, (size_t)rest);
            c->used = rest;
        }
        frames(c);
        if (c->used == IN_SIZE) c->used = 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: floor PORT\n");
        return 2;
    }
    conns = calloc(MAX_FDS + 64, sizeof *conns);
    if (conns == NULL) return 1;
    signal(SIGPIPE, SIG_IGN);
    alarm(1800); /* the bench's processes do not outlive it */
    struct sigaction term = {.sa_handler = on_term};
    sigaction(SIGTERM, &term, NULL);
    sigaction(SIGINT, &term, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
        perror("listen");
        return 1;
    }
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    printf("floor: %s\n", argv[1]);
    fflush(stdout);

    struct epoll_event ready[256];
    while (!stopping) {
        int n = epoll_wait(epfd, ready, 256, 500);
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd != lfd) {
                readable(epfd, fd);
                continue;
            }
            for (;;) {
                int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (cfd < 0) break;
                if (cfd >= MAX_FDS + 64 || count >= MAX_FDS) {
                    close(cfd);
                    continue;
                }
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                memset(&conns[cfd], 0, sizeof conns[cfd]);
                conns[cfd].open = 1;
                fds[count++] = cfd;
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
            }
        }
    }
    return 0;
}
