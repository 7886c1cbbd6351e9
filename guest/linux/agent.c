/*
 * omig-agent: the OrleansMigrate lab guest's agent, so the network and the disk can be checked from outside during
 * live migrations.
 *   omig-agent [--udp PORT] [--tcp PORT] [--disk DEVICE] [--hz RECORDS_PER_SECOND]
 *
 * UDP echo (PORT, default 7007): every datagram is sent back with its payload (at most 1024 bytes kept) followed by
 *   a 24-byte trailer, all big-endian: u64 durable disk seq (all ones when none), u64 boot id, u64 guest monotonic ns.
 * TCP stream (PORT, default 7008): up to MAX_CONNS connections; on each the guest sends a 16-byte record every 10 ms,
 *   u64 BE per-connection seq (from 0) and u64 BE guest monotonic ns, and discards what the client sends. A client too
 *   slow to take 64 records is disconnected (never a silent gap).
 * Disk writer (DEVICE, optional; default rate 50/s): sector 0 holds a header ("OMIGHDR1"), record seq lives at sector
 *   1+seq: "OMIGREC1", u64 BE seq, u64 BE boot id, u64 BE guest ns, zeros, u32 BE CRC32 (IEEE) of bytes 0..507 at 508.
 *   Written with O_DIRECT and fdatasync per record on its own thread; the durable seq is the last record whose write
 *   and flush both returned OK. At start the whole disk is scanned and writing continues after the highest valid
 *   record. A write error is logged and retried at the next tick without advancing. A disk whose sector 0 is neither
 *   zeros nor our header is never written.
 * Memory is bounded: fixed tables, no allocation per packet.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define SECTOR 512
#define MAX_CONNS 64
#define TCP_RECORD 16
#define TCP_PENDING_RECORDS 64
#define UDP_MAX_PAYLOAD 1024
#define TRAILER 24
#define NO_SEQ UINT64_MAX

static uint64_t boot_id;
static volatile uint64_t durable_seq = NO_SEQ; /* written by the disk thread, read by the loop (aligned 64-bit) */

static void logf_(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(2, "omig-agent: ", 12);
    w = write(2, line, n);
    (void)w;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---------------------------------------------------------------- disk writer */

struct disk_args {
    const char *path;
    int hz;
};

static int record_valid(const unsigned char *s, uint64_t sector)
{
    if (memcmp(s, "OMIGREC1", 8) != 0)
        return 0;
    uint32_t crc = ((uint32_t)s[508] << 24) | ((uint32_t)s[509] << 16) | ((uint32_t)s[510] << 8) | s[511];
    if (crc != crc32_ieee(s, 508))
        return 0;
    return get_be64(s + 8) + 1 == sector;
}

static void *disk_thread(void *arg)
{
    const struct disk_args *a = arg;
    int fd = -1;
    unsigned char *buf = NULL;
    const size_t chunk = 1 << 20;
    if (posix_memalign((void **)&buf, 4096, chunk) != 0) {
        logf_("disk: no memory for the buffer; no disk writer");
        return NULL;
    }
    /* Open (the device may appear late), bounded: 100 tries over 10 s. */
    for (int i = 0; i < 100 && fd < 0; i++) {
        fd = open(a->path, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (fd < 0)
            usleep(100000);
    }
    if (fd < 0) {
        logf_("disk: cannot open %s: %s; no disk writer", a->path, strerror(errno));
        return NULL;
    }
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
        struct stat st;
        if (fstat(fd, &st) == 0)
            bytes = (uint64_t)st.st_size;
    }
    uint64_t sectors = bytes / SECTOR;
    if (sectors < 2) {
        logf_("disk: %s has %llu sectors, too small; no disk writer", a->path, (unsigned long long)sectors);
        close(fd);
        return NULL;
    }

    /* Header: zeros (a new disk) get ours; anything else but ours means the disk is not ours. */
    if (pread(fd, buf, SECTOR, 0) != SECTOR) {
        logf_("disk: cannot read sector 0 of %s: %s; no disk writer", a->path, strerror(errno));
        close(fd);
        return NULL;
    }
    int zero = 1;
    for (int i = 0; i < SECTOR; i++)
        if (buf[i]) {
            zero = 0;
            break;
        }
    if (!zero && memcmp(buf, "OMIGHDR1", 8) != 0) {
        logf_("disk: sector 0 of %s is neither zeros nor an omig header: not writing to it", a->path);
        close(fd);
        return NULL;
    }
    if (zero) {
        memset(buf, 0, SECTOR);
        memcpy(buf, "OMIGHDR1", 8);
        put_be64(buf + 8, 1);          /* format version */
        put_be64(buf + 16, SECTOR);    /* record size */
        put_be64(buf + 24, boot_id);   /* the boot that made it */
        if (pwrite(fd, buf, SECTOR, 0) != SECTOR || fdatasync(fd) != 0) {
            logf_("disk: cannot write the header of %s: %s; no disk writer", a->path, strerror(errno));
            close(fd);
            return NULL;
        }
    }

    /* Scan every sector for the highest valid record: writing continues after it (no overwrite, no duplicate). */
    uint64_t last = NO_SEQ;
    uint64_t valid = 0;
    for (uint64_t off = SECTOR; off < sectors * SECTOR; off += chunk) {
        size_t want = chunk;
        if (off + want > sectors * SECTOR)
            want = sectors * SECTOR - off;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got <= 0) {
            logf_("disk: read at %llu failed: %s; scan stops there", (unsigned long long)off, got < 0 ? strerror(errno) : "end");
            break;
        }
        for (ssize_t i = 0; i + SECTOR <= got; i += SECTOR) {
            uint64_t sector = (off + (uint64_t)i) / SECTOR;
            if (record_valid(buf + i, sector)) {
                valid++;
                last = sector - 1;
            }
        }
    }
    durable_seq = last;
    uint64_t next = last == NO_SEQ ? 0 : last + 1;
    logf_("disk: %s, %llu sectors, %llu valid records, continuing at seq %llu, %d/s, boot %016llx", a->path,
          (unsigned long long)sectors, (unsigned long long)valid, (unsigned long long)next, a->hz, (unsigned long long)boot_id);

    struct timespec tick;
    clock_gettime(CLOCK_MONOTONIC, &tick);
    const long period = 1000000000L / a->hz;
    uint64_t failures = 0;
    int full_logged = 0;
    for (;;) {
        tick.tv_nsec += period;
        while (tick.tv_nsec >= 1000000000L) {
            tick.tv_nsec -= 1000000000L;
            tick.tv_sec++;
        }
        /* Fell behind (a paused VM, a slow flush): do not burst to catch up. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > tick.tv_sec + 1)
            tick = now;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL) == EINTR)
            ;
        if (next + 1 >= sectors) {
            if (!full_logged)
                logf_("disk: full at seq %llu; no more records", (unsigned long long)next);
            full_logged = 1;
            continue;
        }
        memset(buf, 0, SECTOR);
        memcpy(buf, "OMIGREC1", 8);
        put_be64(buf + 8, next);
        put_be64(buf + 16, boot_id);
        put_be64(buf + 24, now_ns());
        uint32_t crc = crc32_ieee(buf, 508);
        buf[508] = (unsigned char)(crc >> 24);
        buf[509] = (unsigned char)(crc >> 16);
        buf[510] = (unsigned char)(crc >> 8);
        buf[511] = (unsigned char)crc;
        ssize_t w = pwrite(fd, buf, SECTOR, (off_t)((next + 1) * SECTOR));
        int err = w == SECTOR ? 0 : (w < 0 ? errno : EIO);
        if (!err && fdatasync(fd) != 0)
            err = errno;
        if (err) {
            failures++;
            /* Bounded logging: the first ten, then every hundredth. */
            if (failures <= 10 || failures % 100 == 0)
                logf_("disk: write of seq %llu failed (%s), failure %llu; retrying next tick", (unsigned long long)next,
                      strerror(err), (unsigned long long)failures);
            continue;
        }
        if (failures) {
            logf_("disk: seq %llu written after %llu failures", (unsigned long long)next, (unsigned long long)failures);
            failures = 0;
        }
        __atomic_store_n(&durable_seq, next, __ATOMIC_RELEASE);
        next++;
    }
    return NULL;
}

/* ---------------------------------------------------------------- network loop */

struct conn {
    int fd;
    uint64_t seq;
    unsigned char out[TCP_RECORD * TCP_PENDING_RECORDS];
    size_t len;
};

static struct conn conns[MAX_CONNS];

static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 1 && v <= 65535) ? (int)v : -1;
}

static void conn_close(int epfd, struct conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void conn_flush(int epfd, struct conn *c)
{
    while (c->len > 0) {
        ssize_t w = send(c->fd, c->out, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_close(epfd, c);
            return;
        }
        memmove(c->out, c->out + w, c->len - (size_t)w);
        c->len -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    int udp_port = 7007, tcp_port = 7008, hz = 50;
    const char *disk = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            logf_("option %s needs a value", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--udp")) {
            if ((udp_port = parse_port(v)) < 0) {
                logf_("--udp must be a port 1..65535, was '%s'", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--tcp")) {
            if ((tcp_port = parse_port(v)) < 0) {
                logf_("--tcp must be a port 1..65535, was '%s'", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--hz")) {
            char *end;
            long h = strtol(v, &end, 10);
            if (!*v || *end || h < 1 || h > 1000) {
                logf_("--hz must be 1..1000 records per second, was '%s'", v);
                return 2;
            }
            hz = (int)h;
        } else if (!strcmp(argv[i], "--disk")) {
            disk = v;
        } else {
            logf_("unknown option '%s'", argv[i]);
            return 2;
        }
        i++;
    }
    signal(SIGPIPE, SIG_IGN);
    crc_init();
    if (getrandom(&boot_id, sizeof boot_id, 0) != sizeof boot_id)
        boot_id = now_ns() ^ ((uint64_t)getpid() << 32);

    if (disk) {
        static struct disk_args da;
        da.path = disk;
        da.hz = hz;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, disk_thread, &da) != 0)
            logf_("cannot start the disk thread; no disk writer");
    }

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int lst = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || udp < 0 || lst < 0 || tfd < 0) {
        logf_("cannot create sockets: %s", strerror(errno));
        return 1;
    }
    int one = 1;
    setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* A migration delivers the echoes queued during its downtime at once, to a guest that runs slowly at first (a new
       QEMU: TCG re-translates its code). The default receive buffer (about 100 small datagrams) would drop some of them
       in the guest itself, which the client would count as lost on the network. 4 MiB holds seconds of them. */
    int rcvbuf = 4 * 1024 * 1024;
    if (setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    a.sin_port = htons((uint16_t)udp_port);
    if (bind(udp, (struct sockaddr *)&a, sizeof a) != 0) {
        logf_("cannot bind UDP %d: %s", udp_port, strerror(errno));
        return 1;
    }
    a.sin_port = htons((uint16_t)tcp_port);
    if (bind(lst, (struct sockaddr *)&a, sizeof a) != 0 || listen(lst, 64) != 0) {
        logf_("cannot listen on TCP %d: %s", tcp_port, strerror(errno));
        return 1;
    }
    struct itimerspec its = {.it_interval = {0, 10000000}, .it_value = {0, 10000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;

    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = 1000;
    epoll_ctl(epfd, EPOLL_CTL_ADD, udp, &ev);
    ev.data.u64 = 1001;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lst, &ev);
    ev.data.u64 = 1002;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    logf_("ready: udp %d tcp %d boot %016llx", udp_port, tcp_port, (unsigned long long)boot_id);

    unsigned char pkt[UDP_MAX_PAYLOAD + TRAILER];
    unsigned char sink[4096];
    for (;;) {
        struct epoll_event evs[32];
        int n = epoll_wait(epfd, evs, 32, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            logf_("epoll_wait: %s", strerror(errno));
            sleep(1);
            continue;
        }
        for (int e = 0; e < n; e++) {
            uint64_t id = evs[e].data.u64;
            if (id == 1000) {
                /* Bounded per wake-up so TCP ticks are never starved. */
                for (int k = 0; k < 256; k++) {
                    struct sockaddr_in from;
                    socklen_t fl = sizeof from;
                    ssize_t r = recvfrom(udp, pkt, UDP_MAX_PAYLOAD, MSG_TRUNC, (struct sockaddr *)&from, &fl);
                    if (r < 0)
                        break;
                    size_t len = (size_t)r > UDP_MAX_PAYLOAD ? UDP_MAX_PAYLOAD : (size_t)r;
                    put_be64(pkt + len, __atomic_load_n(&durable_seq, __ATOMIC_ACQUIRE));
                    put_be64(pkt + len + 8, boot_id);
                    put_be64(pkt + len + 16, now_ns());
                    sendto(udp, pkt, len + TRAILER, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
                }
            } else if (id == 1001) {
                for (;;) {
                    int c = accept4(lst, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break;
                    int slot = -1;
                    for (int i = 0; i < MAX_CONNS; i++)
                        if (conns[i].fd < 0) {
                            slot = i;
                            break;
                        }
                    if (slot < 0) {
                        logf_("tcp: %d connections already; refusing one", MAX_CONNS);
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[slot].fd = c;
                    conns[slot].seq = 0;
                    conns[slot].len = 0;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP};
                    ce.data.u64 = (uint64_t)slot;
                    epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ce);
                }
            } else if (id == 1002) {
                uint64_t expirations;
                ssize_t r = read(tfd, &expirations, sizeof expirations);
                (void)r;
                uint64_t t = now_ns();
                for (int i = 0; i < MAX_CONNS; i++) {
                    struct conn *c = &conns[i];
                    if (c->fd < 0)
                        continue;
                    if (c->len + TCP_RECORD > sizeof c->out) {
                        logf_("tcp: connection %d fell %d records behind; closing it", i, TCP_PENDING_RECORDS);
                        conn_close(epfd, c);
                        continue;
                    }
                    put_be64(c->out + c->len, c->seq++);
                    put_be64(c->out + c->len + 8, t);
                    c->len += TCP_RECORD;
                    conn_flush(epfd, c);
                }
            } else if (id < MAX_CONNS) {
                struct conn *c = &conns[id];
                if (c->fd < 0)
                    continue;
                for (int k = 0; k < 16; k++) {
                    ssize_t r = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
                    if (r > 0)
                        continue;
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                        conn_close(epfd, c);
                    break;
                }
            }
        }
    }
}
