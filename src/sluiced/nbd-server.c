/* SPDX-License-Identifier: Apache-2.0 */
/* The NBD server of sluiced: see nbd-server.h. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "core/opts.h"
#include "core/usock.h"
#include "core/util.h"
#include "nbd-server.h"

/* ---- the protocol's numbers (doc/proto.md) ----------------------------- */

#define NBD_MAGIC          0x4e42444d41474943ull   /* "NBDMAGIC" */
#define NBD_IHAVEOPT       0x49484156454F5054ull   /* "IHAVEOPT" */
#define NBD_REP_MAGIC      0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC  0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES      2u
#define NBD_FLAG_C_FIXED_NEWSTYLE 1u
#define NBD_FLAG_C_NO_ZEROES      2u

enum {
    NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT = 2, NBD_OPT_LIST = 3,
    NBD_OPT_INFO = 6, NBD_OPT_GO = 7,
};
#define NBD_REP_ACK    1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO   3u
#define NBD_REP_ERR_UNSUP   (0x80000000u + 1)
#define NBD_REP_ERR_INVALID (0x80000000u + 3)
#define NBD_REP_ERR_UNKNOWN (0x80000000u + 6)
#define NBD_INFO_EXPORT     0
#define NBD_INFO_BLOCK_SIZE 3

#define NBD_FLAG_HAS_FLAGS          (1u << 0)
#define NBD_FLAG_READ_ONLY          (1u << 1)
#define NBD_FLAG_SEND_FLUSH         (1u << 2)
#define NBD_FLAG_SEND_FUA           (1u << 3)
#define NBD_FLAG_SEND_TRIM          (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1u << 6)
#define NBD_FLAG_CAN_MULTI_CONN     (1u << 8)

#define NBD_CMD_FLAG_FUA     (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAGS_KNOWN  0x1fu

enum {
    NBD_CMD_READ = 0, NBD_CMD_WRITE = 1, NBD_CMD_DISC = 2, NBD_CMD_FLUSH = 3,
    NBD_CMD_TRIM = 4, NBD_CMD_WRITE_ZEROES = 6,
};
/* NBD error values (not the host's errno numbers). */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

#define OPT_DATA_MAX 4096u   /* the spec bounds names and queries at 4096 */
#define MAX_EXPORTS 256

struct nbd_export {
    char name[65];
    int fd;
    uint64_t size;
    bool readonly;
    bool gone;          /* unexported: requests get ESHUTDOWN */
    unsigned refs;      /* the table's and each connection's */
    unsigned writers;   /* writes, trims and zeroings under way */
};

struct nbd_server {
    unsigned hs_ms, io_ms;          /* NBD_SRV_HANDSHAKE_MS, NBD_SRV_IO_MS */
    pthread_mutex_t lock;
    pthread_cond_t idle;            /* signalled when a connection ends */
    struct nbd_export *exports[MAX_EXPORTS];
    int conns[NBD_SRV_MAX_CONNS];   /* fds being served, -1: free */
    struct nbd_export *conn_exp[NBD_SRV_MAX_CONNS];   /* the export each serves, or NULL */
    unsigned nconns;
    int lfd;
    char *lpath;                    /* unix listener's path, or NULL */
    int port;
    bool stopping;
    pthread_t acceptor;
    bool has_acceptor;
};

/* ---- exports ----------------------------------------------------------- */

static void export_put(struct nbd_server *s, struct nbd_export *e)
{
    bool last;

    pthread_mutex_lock(&s->lock);
    last = --e->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last) {
        close_fd(&e->fd);
        free(e);
    }
}

/* The export called @name (with a reference), or NULL. An empty name is
 * the default export: the only one, when there is exactly one. */
static struct nbd_export *export_get(struct nbd_server *s, const char *name)
{
    struct nbd_export *found = NULL;
    unsigned n = 0;

    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < MAX_EXPORTS; i++) {
        struct nbd_export *e = s->exports[i];
        if (!e)
            continue;
        n++;
        if (*name ? !strcmp(e->name, name) : !found)
            found = e;
    }
    if (found && !*name && n != 1)
        found = NULL;
    if (found)
        found->refs++;
    pthread_mutex_unlock(&s->lock);
    return found;
}

int nbd_server_export(struct nbd_server *s, const char *name, int fd, uint64_t size, bool readonly)
{
    struct nbd_export *e;
    int r = -ENOSPC;

    if (!*name || strlen(name) >= sizeof(e->name))
        return -EINVAL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->size = size;
    e->readonly = readonly;
    e->refs = 1;
    e->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (e->fd < 0) {
        r = neg_errno();
        free(e);
        return r;
    }
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < MAX_EXPORTS; i++)
        if (s->exports[i] && !strcmp(s->exports[i]->name, name)) {
            r = -EEXIST;
            goto out;
        }
    for (unsigned i = 0; i < MAX_EXPORTS; i++)
        if (!s->exports[i]) {
            s->exports[i] = e;
            e = NULL;
            r = 0;
            break;
        }
out:
    pthread_mutex_unlock(&s->lock);
    if (e) {
        close_fd(&e->fd);
        free(e);
    }
    return r;
}

void nbd_server_unexport(struct nbd_server *s, const char *name)
{
    struct nbd_export *e = NULL;

    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < MAX_EXPORTS; i++)
        if (s->exports[i] && !strcmp(s->exports[i]->name, name)) {
            e = s->exports[i];
            s->exports[i] = NULL;
            e->gone = true;
            break;
        }
    if (e) {
        /* Its clients are closed (one idle between requests would not
         * learn otherwise), and the writes already under way end before
         * this returns: none lands afterwards. */
        for (unsigned i = 0; i < NBD_SRV_MAX_CONNS; i++)
            if (s->conn_exp[i] == e && s->conns[i] >= 0)
                shutdown(s->conns[i], SHUT_RDWR);
        while (e->writers)
            pthread_cond_wait(&s->idle, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    if (e)
        export_put(s, e);
}

/* ---- handshake --------------------------------------------------------- */

struct conn {
    struct nbd_server *s;
    int fd;
    int slot;                 /* in s->conns, or -1 */
    bool no_zeroes;
    struct nbd_export *exp;   /* chosen by EXPORT_NAME or GO */
    uint8_t *buf;             /* NBD_SRV_MAX_REQUEST bytes, once transmission starts */
    uint64_t hs_deadline_ns;  /* the whole handshake ends by then */
};

/* What is left of the handshake's time (NBD_SRV_HANDSHAKE_MS), in ms (at least 1:
 * the I/O then times out at once). */
static int hs_left(const struct conn *c)
{
    uint64_t t = now_ns();

    return t >= c->hs_deadline_ns ? 1 : (int)((c->hs_deadline_ns - t) / 1000000u) + 1;
}

static void put_be16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void put_be32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put_be64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static uint16_t get_be16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

/* A reply: header @h, then @len bytes of @data. */
static int send_reply(struct conn *c, const uint8_t *h, size_t hlen, const void *data, uint32_t len,
                      int timeout_ms)
{
    int r = send_all(c->fd, h, hlen, timeout_ms);

    return r == 0 && len ? send_all(c->fd, data, len, timeout_ms) : r;
}

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    uint8_t h[20];

    put_be64(h, NBD_REP_MAGIC);
    put_be32(h + 8, opt);
    put_be32(h + 12, type);
    put_be32(h + 16, len);
    return send_reply(c, h, sizeof(h), data, len, hs_left(c));
}

static uint16_t export_flags(const struct nbd_export *e)
{
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                 NBD_FLAG_CAN_MULTI_CONN;

    if (e->readonly)
        f |= NBD_FLAG_READ_ONLY;
    else
        f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
    return f;
}

static int opt_list(struct conn *c, uint32_t len)
{
    uint8_t rep[4 + 64];
    int r = 0;

    if (len)
        return opt_reply(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, NULL, 0);
    for (unsigned i = 0; r == 0 && i < MAX_EXPORTS; i++) {
        size_t n = 0;
        pthread_mutex_lock(&c->s->lock);
        if (c->s->exports[i]) {
            n = strlen(c->s->exports[i]->name);
            put_be32(rep, (uint32_t)n);
            memcpy(rep + 4, c->s->exports[i]->name, n);
        }
        pthread_mutex_unlock(&c->s->lock);
        if (n)
            r = opt_reply(c, NBD_OPT_LIST, NBD_REP_SERVER, rep, (uint32_t)(4 + n));
    }
    return r ?: opt_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_INFO / NBD_OPT_GO: name length, name, number of info requests,
 * the requests. Returns 1 when GO chose an export, 0 to go on haggling,
 * or -errno. */
static int opt_info_go(struct conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
    char name[OPT_DATA_MAX + 1];
    bool want_bs = false;
    struct nbd_export *e;
    uint32_t nlen;
    uint16_t nreq;
    uint8_t rep[14];
    int r;

    if (len < 6 || (nlen = get_be32(data)) > len - 6)
        return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
    nreq = get_be16(data + 4 + nlen);
    if ((uint64_t)4 + nlen + 2 + 2ull * nreq != len)
        return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
    memcpy(name, data + 4, nlen);
    name[nlen] = '\0';
    if (strlen(name) != nlen)   /* a NUL inside the name */
        return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
    for (uint16_t i = 0; i < nreq; i++)
        if (get_be16(data + 4 + nlen + 2 + 2 * i) == NBD_INFO_BLOCK_SIZE)
            want_bs = true;
    e = export_get(c->s, name);
    if (!e)
        return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
    put_be16(rep, NBD_INFO_EXPORT);
    put_be64(rep + 2, e->size);
    put_be16(rep + 10, export_flags(e));
    r = opt_reply(c, opt, NBD_REP_INFO, rep, 12);
    if (r == 0 && want_bs) {
        put_be16(rep, NBD_INFO_BLOCK_SIZE);
        put_be32(rep + 2, 1);
        put_be32(rep + 6, 4096);
        put_be32(rep + 10, NBD_SRV_MAX_REQUEST);
        r = opt_reply(c, opt, NBD_REP_INFO, rep, 14);
    }
    if (r == 0)
        r = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
    if (r < 0 || opt != NBD_OPT_GO) {
        export_put(c->s, e);
        return r;
    }
    c->exp = e;
    return 1;
}

/* NBD_OPT_EXPORT_NAME: no error reply exists; an unknown name closes. */
static int opt_export_name(struct conn *c, const uint8_t *data, uint32_t len)
{
    char name[OPT_DATA_MAX + 1];
    uint8_t rep[10 + 124] = { 0 };

    memcpy(name, data, len);
    name[len] = '\0';
    if (strlen(name) != len || !(c->exp = export_get(c->s, name)))
        return -ENOENT;
    put_be64(rep, c->exp->size);
    put_be16(rep + 8, export_flags(c->exp));
    return send_all(c->fd, rep, c->no_zeroes ? 10 : sizeof(rep), hs_left(c)) ?: 1;
}

/* Greeting and option haggling. Returns 1 when transmission starts on
 * c->exp, 0 when the client aborted, or -errno (the connection closes). */
static int handshake(struct conn *c)
{
    uint8_t hello[18], h[16];
    uint8_t *opt_data = c->buf;   /* OPT_DATA_MAX fit in it */
    uint32_t cflags;
    int r;

    put_be64(hello, NBD_MAGIC);
    put_be64(hello + 8, NBD_IHAVEOPT);
    put_be16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    c->hs_deadline_ns = now_ns() + (uint64_t)c->s->hs_ms * 1000000u;
    r = send_all(c->fd, hello, sizeof(hello), hs_left(c));
    if (r == 0)
        r = recv_all(c->fd, h, 4, hs_left(c));
    if (r < 0)
        return r;
    cflags = get_be32(h);
    if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE) ||
        (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)))
        return -EPROTO;
    c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
    for (unsigned n = 0; n < 256; n++) {
        uint32_t opt, len;
        if ((r = recv_all(c->fd, h, 16, hs_left(c))) < 0)
            return r;
        if (get_be64(h) != NBD_IHAVEOPT)
            return -EPROTO;
        opt = get_be32(h + 8);
        len = get_be32(h + 12);
        if (len > OPT_DATA_MAX)
            return -EPROTO;
        if (len && (r = recv_all(c->fd, opt_data, len, hs_left(c))) < 0)
            return r;
        switch (opt) {
        case NBD_OPT_EXPORT_NAME:
            return opt_export_name(c, opt_data, len);
        case NBD_OPT_ABORT:
            opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
            return 0;
        case NBD_OPT_LIST:
            r = opt_list(c, len);
            break;
        case NBD_OPT_INFO:
        case NBD_OPT_GO:
            r = opt_info_go(c, opt, opt_data, len);
            if (r == 1)
                return 1;
            break;
        default:
            /* STARTTLS, STRUCTURED_REPLY, meta contexts, the unknown. */
            r = opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
        }
        if (r < 0)
            return r;
    }
    return -EPROTO;   /* endless haggling */
}

/* ---- transmission ------------------------------------------------------ */

static int reply(struct conn *c, uint64_t cookie, uint32_t error, const void *data, uint32_t len)
{
    uint8_t h[16];

    put_be32(h, NBD_SIMPLE_REPLY_MAGIC);
    put_be32(h + 4, error);
    put_be64(h + 8, cookie);
    return send_reply(c, h, sizeof(h), data, error ? 0 : len, (int)c->s->io_ms);
}

static uint32_t nbd_errno(int r)
{
    switch (-r) {
    case EPERM: case EROFS: return NBD_EPERM;
    case ENOSPC: case EDQUOT: return NBD_ENOSPC;
    case EINVAL: return NBD_EINVAL;
    case EOPNOTSUPP: return NBD_ENOTSUP;
    default: return NBD_EIO;
    }
}

/* Read (@write false) or write all @len bytes at @off. */
static int full_io(int fd, uint8_t *buf, size_t len, uint64_t off, bool write)
{
    while (len) {
        ssize_t n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? neg_errno() : -EIO;
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Does [off, off+len) read as zeroes already? Errors count as no. */
static bool reads_zero(struct conn *c, uint64_t off, uint32_t len)
{
    while (len) {
        uint32_t n = MIN(len, NBD_SRV_MAX_REQUEST);
        if (full_io(c->exp->fd, c->buf, n, off, false) < 0 || !mem_is_zero(c->buf, n))
            return false;
        off += n;
        len -= n;
    }
    return true;
}

/* Zero [off, off+len): deallocate when allowed (a file's hole); where that
 * is not offered (a block device without WRITE_ZEROES: a dm-thin volume)
 * leave a range that reads as zeroes alone (an unprovisioned thin range
 * reads without I/O), so that a mirror into a fresh thin volume keeps it
 * thin; else zero in place, else write zeroes. */
static int zero_range(struct conn *c, uint64_t off, uint32_t len, bool may_trim)
{
    int fd = c->exp->fd;

    if (may_trim && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) == 0)
        return 0;
    if (may_trim && reads_zero(c, off, len))
        return 0;
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) == 0)
        return 0;
    memset(c->buf, 0, MIN(len, NBD_SRV_MAX_REQUEST));
    while (len) {
        uint32_t n = MIN(len, NBD_SRV_MAX_REQUEST);
        int r = full_io(fd, c->buf, n, off, true);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

static int sync_fd(int fd)
{
    return fdatasync(fd) < 0 ? neg_errno() : 0;
}

static bool modifies(uint16_t type)
{
    return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

/* Before a request of @type: false when the export is gone (answer
 * ESHUTDOWN); true, and then writer_leave() must follow: a write, trim or
 * zeroing is counted until then, so that nbd_server_unexport() waits for
 * it. */
static bool writer_enter(struct conn *c, uint16_t type)
{
    bool ok;

    pthread_mutex_lock(&c->s->lock);
    ok = !c->exp->gone;
    if (ok && modifies(type))
        c->exp->writers++;
    pthread_mutex_unlock(&c->s->lock);
    return ok;
}

static void writer_leave(struct conn *c, uint16_t type)
{
    if (!modifies(type))
        return;
    pthread_mutex_lock(&c->s->lock);
    if (--c->exp->writers == 0)
        pthread_cond_broadcast(&c->s->idle);
    pthread_mutex_unlock(&c->s->lock);
}

/* Serve requests until NBD_CMD_DISC (0) or a broken stream (-errno). */
static int transmission(struct conn *c)
{
    for (;;) {
        uint8_t h[28];
        uint16_t flags, type;
        uint64_t cookie, off;
        uint32_t len, error = 0;
        struct nbd_export *e = c->exp;
        bool counted = false;
        int r = recv_all(c->fd, h, sizeof(h), -1);

        if (r < 0)
            return r;
        if (get_be32(h) != NBD_REQUEST_MAGIC)
            return -EPROTO;
        flags = get_be16(h + 4);
        type = get_be16(h + 6);
        cookie = get_be64(h + 8);
        off = get_be64(h + 16);
        len = get_be32(h + 24);
        if (type == NBD_CMD_WRITE) {
            /* The payload follows whatever we think of the request. */
            if (len > NBD_SRV_MAX_REQUEST)
                return -EPROTO;
            if ((r = recv_all(c->fd, c->buf, len, (int)c->s->io_ms)) < 0)
                return r;
        }
        if (type == NBD_CMD_DISC)
            return 0;
        if (flags & ~NBD_CMD_FLAGS_KNOWN)
            error = NBD_EINVAL;
        else if (!(counted = writer_enter(c, type)))
            error = NBD_ESHUTDOWN;
        switch (error ? 0xffff : type) {
        case 0xffff:
            break;
        case NBD_CMD_READ:
            if (len > NBD_SRV_MAX_REQUEST || !range_within(off, len, e->size))
                error = NBD_EINVAL;
            else if ((r = full_io(e->fd, c->buf, len, off, false)) < 0)
                error = nbd_errno(r);
            r = reply(c, cookie, error, c->buf, len);
            if (r < 0)
                return r;
            continue;
        case NBD_CMD_WRITE:
            if (e->readonly)
                error = NBD_EPERM;
            else if (!range_within(off, len, e->size))
                error = NBD_ENOSPC;
            else if ((r = full_io(e->fd, c->buf, len, off, true)) < 0 ||
                     ((flags & NBD_CMD_FLAG_FUA) && (r = sync_fd(e->fd)) < 0))
                error = nbd_errno(r);
            break;
        case NBD_CMD_FLUSH:
            if ((r = sync_fd(e->fd)) < 0)
                error = nbd_errno(r);
            break;
        case NBD_CMD_TRIM:
        case NBD_CMD_WRITE_ZEROES:
            if (e->readonly)
                error = NBD_EPERM;
            else if (!range_within(off, len, e->size))
                error = NBD_EINVAL;
            else if (type == NBD_CMD_TRIM) {
                /* Advisory: where nothing can be deallocated, nothing is. */
                if (fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) < 0 &&
                    errno != EOPNOTSUPP)
                    error = nbd_errno(neg_errno());
            } else if ((r = zero_range(c, off, len, !(flags & NBD_CMD_FLAG_NO_HOLE))) < 0) {
                error = nbd_errno(r);
            }
            if (!error && (flags & NBD_CMD_FLAG_FUA) && (r = sync_fd(e->fd)) < 0)
                error = nbd_errno(r);
            break;
        default:
            /* CACHE, BLOCK_STATUS, RESIZE and the unknown: not offered. */
            error = NBD_EINVAL;
        }
        if (counted)
            writer_leave(c, type);
        if ((r = reply(c, cookie, error, NULL, 0)) < 0)
            return r;
    }
}

/* Serve @fd, the connection in slot @slot of s->conns (or -1). */
static int serve(struct nbd_server *s, int fd, int slot)
{
    struct conn c = { .s = s, .fd = fd, .slot = slot };
    int fl = fcntl(fd, F_GETFL), r;

    /* Non-blocking, so that the handshake's time limit holds. */
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return neg_errno();
    c.buf = malloc(NBD_SRV_MAX_REQUEST);
    if (!c.buf)
        return -ENOMEM;
    r = handshake(&c);
    if (r == 1) {
        /* Known to nbd_server_unexport() from now on; an export that went
         * during the handshake is not served. */
        pthread_mutex_lock(&s->lock);
        if (c.exp->gone)
            r = -ESHUTDOWN;
        else if (slot >= 0)
            s->conn_exp[slot] = c.exp;
        pthread_mutex_unlock(&s->lock);
    }
    if (r == 1)
        r = transmission(&c);
    if (c.exp) {
        if (slot >= 0) {
            pthread_mutex_lock(&s->lock);
            s->conn_exp[slot] = NULL;
            pthread_mutex_unlock(&s->lock);
        }
        export_put(s, c.exp);
    }
    free(c.buf);
    return r;
}

int nbd_server_serve(struct nbd_server *s, int fd)
{
    return serve(s, fd, -1);
}

/* ---- listener and connection threads ----------------------------------- */

struct conn_arg {
    struct nbd_server *s;
    int fd;
    unsigned slot;
};

static void *conn_thread(void *arg)
{
    struct conn_arg *a = arg;
    struct nbd_server *s = a->s;
    int r = serve(s, a->fd, (int)a->slot);

    if (r < 0 && r != -ECONNRESET && r != -ESHUTDOWN)
        log_warn("nbd: connection closed: %s", r == -EPROTO ? "protocol violation" : strerror(-r));
    pthread_mutex_lock(&s->lock);
    s->conns[a->slot] = -1;
    s->nconns--;
    close(a->fd);
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    free(a);
    return NULL;
}

static void start_conn(struct nbd_server *s, int fd)
{
    struct conn_arg *a = malloc(sizeof(*a));
    pthread_attr_t attr;
    pthread_t t;
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* fails on unix: fine */
    pthread_mutex_lock(&s->lock);
    if (!a || s->nconns == NBD_SRV_MAX_CONNS || s->stopping) {
        pthread_mutex_unlock(&s->lock);
        log_warn("nbd: connection refused (%s)", a ? "too many connections" : "out of memory");
        free(a);
        close(fd);
        return;
    }
    for (a->slot = 0; s->conns[a->slot] >= 0; a->slot++)
        ;
    a->s = s;
    a->fd = fd;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, conn_thread, a) != 0) {
        pthread_mutex_unlock(&s->lock);
        pthread_attr_destroy(&attr);
        log_warn("nbd: cannot start a connection thread");
        free(a);
        close(fd);
        return;
    }
    pthread_attr_destroy(&attr);
    s->conns[a->slot] = fd;
    s->nconns++;
    pthread_mutex_unlock(&s->lock);
}

static void *accept_thread(void *arg)
{
    struct nbd_server *s = arg;

    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        bool stop;

        pthread_mutex_lock(&s->lock);
        stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stop) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        if (fd >= 0)
            start_conn(s, fd);
        else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
            usleep(100000);
    }
}

/* HOST:PORT (or [V6]:PORT) into a listening TCP socket. */
static int listen_tcp(struct nbd_server *s, const char *addr, struct sl_err *err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    const char *colon = strrchr(addr, ':');
    char host[256], port[8];
    uint64_t p;
    size_t hl;
    int r, one = 1;

    if (!colon || parse_uint(colon + 1, 0, 65535, &p) < 0)
        return err_set(err, -EINVAL, "expected HOST:PORT or a unix socket path");
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host))
        return err_set(err, -EINVAL, "expected HOST:PORT or a unix socket path");
    memcpy(host, addr, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%u", (unsigned)p);
    r = getaddrinfo(host, port, &hints, &res);
    if (r != 0)
        return err_set(err, -EINVAL, "%s: %s", host, gai_strerror(r));
    s->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(s->lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(s->lfd, 16) < 0) {
        r = neg_errno();
        close_fd(&s->lfd);
        freeaddrinfo(res);
        return err_set(err, r, "%s", strerror(-r));
    }
    freeaddrinfo(res);
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return 0;
}

int nbd_server_listen(struct nbd_server *s, const char *addr, int gid, struct sl_err *err)
{
    int r;

    if (s->lfd >= 0)
        return err_set(err, -EALREADY, "already listening");
    if (strchr(addr, '/')) {
        struct sockaddr_un sa;
        if ((r = usock_addr(addr, &sa)) < 0)
            return err_set(err, -EINVAL, "%s", usock_strerror(r));
        if ((r = usock_listen(addr, 16, 0, &s->lfd)) < 0)
            return err_set(err, r, "%s", usock_strerror(r));
        s->lpath = strdup(addr);
        if (!s->lpath || (r = usock_share(addr, gid)) < 0) {
            r = s->lpath ? r : -ENOMEM;
            usock_close(addr, &s->lfd);
            return err_set(err, r, "cannot set its group: %s", strerror(-r));
        }
    } else if ((r = listen_tcp(s, addr, err)) < 0) {
        return r;
    }
    r = -pthread_create(&s->acceptor, NULL, accept_thread, s);
    if (r < 0) {
        usock_close(s->lpath, &s->lfd);
        return err_set(err, r, "cannot start the accept thread");
    }
    s->has_acceptor = true;
    return 0;
}

int nbd_server_port(const struct nbd_server *s)
{
    return s->lfd >= 0 && !s->lpath ? s->port : -1;
}

int nbd_server_create(struct nbd_server **out)
{
    struct nbd_server *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    for (unsigned i = 0; i < NBD_SRV_MAX_CONNS; i++)
        s->conns[i] = -1;
    s->lfd = -1;
    s->port = -1;
    s->hs_ms = NBD_SRV_HANDSHAKE_MS;
    s->io_ms = NBD_SRV_IO_MS;
    *out = s;
    return 0;
}

void nbd_server_set_timeouts(struct nbd_server *s, unsigned handshake_ms, unsigned io_ms)
{
    s->hs_ms = handshake_ms;
    s->io_ms = io_ms;
}

void nbd_server_destroy(struct nbd_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (unsigned i = 0; i < NBD_SRV_MAX_CONNS; i++)
        if (s->conns[i] >= 0)
            shutdown(s->conns[i], SHUT_RDWR);
    pthread_mutex_unlock(&s->lock);
    if (s->has_acceptor) {
        shutdown(s->lfd, SHUT_RDWR);
        pthread_join(s->acceptor, NULL);
    }
    pthread_mutex_lock(&s->lock);
    while (s->nconns)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    usock_close(s->lpath, &s->lfd);
    free(s->lpath);
    for (unsigned i = 0; i < MAX_EXPORTS; i++)
        if (s->exports[i])
            export_put(s, s->exports[i]);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
