/*
 * association.c - DICOM associations over TCP (PS3.8): reading and writing
 * whole PDUs with timeouts, the A-ASSOCIATE exchange for both the
 * requester and the acceptor, P-DATA-TF with PDV fragmentation (PS3.8
 * 9.3.5, PS3.7 8.1) both ways, release and abort.
 *
 * Plain TCP input goes through a 64 KiB buffer filled by blocking recv
 * calls bounded by SO_RCVTIMEO, so a PDU header, a command and the next
 * header that arrived together cost one call (TLS reads poll instead).
 * A PDU is read in two steps: the 6-byte header, then - after its length
 * was checked against the limit for its type (PS3.8 9.3: A-RELEASE and
 * A-ABORT are exactly 4, P-DATA-TF at most the maximum length we
 * announced) - its body into a per-association buffer.  Any violation ends
 * in an A-ABORT (source 2, service provider) and an error naming it.
 *
 * Timeouts: ARTIM (PS3.8 9.1.5) while waiting for the A-ASSOCIATE answer
 * or the release reply; the idle timeout while the association is open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/tls_private.h"
#include "nova/codec.h"
#include "nova/net.h"

struct NovaAssociation {
    int fd;
    NovaNetOptions options;
    NovaAssociateInfo info;
    uint32_t peer_max_pdu;
    char peer[64];
    uint8_t *pdu; /* the current PDU body */
    size_t pdu_cap;
    size_t pdu_size; /* body bytes of the current P-DATA-TF */
    size_t pdu_pos;  /* next unread PDV item in it */
    bool closed;
    void *ssl; /* TLS session, NULL on plain TCP */
    /* Plain TCP: bytes received ahead of the PDU being read. */
    uint8_t *rbuf;
    size_t rbuf_pos, rbuf_len;
    int rcvtimeo_ms; /* SO_RCVTIMEO as last set; 0: never set */
    bool ack_owed;   /* data received since we last sent or acknowledged */
};

/* Size of the receive buffer.  One recv takes whatever the socket holds
 * up to this, so a PDU header, a command and the next header usually
 * arrive in one call instead of one poll, recv and setsockopt each. */
#define RECV_BUFFER 65536

void nova_net_options_init(NovaNetOptions *o)
{
    o->artim_timeout_ms = 30000;
    o->idle_timeout_ms = 300000;
    o->max_pdu_length = NOVA_NET_DEFAULT_MAX_PDU;
    o->max_message_bytes = (size_t)2 << 30;
    o->tls = NULL;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Acknowledge received segments at once instead of after Linux's delayed
 * ACK timer (40 ms).  A sender that leaves Nagle's algorithm on (DCMTK's
 * storescu does) writes a PDU header and its body in separate calls and
 * holds the second small one until the first is acknowledged; with
 * delayed ACKs every C-STORE then stalls about 40 ms while both sides
 * wait.  The kernel leaves quick-ACK mode on its own, so it is re-armed:
 * over TLS after every read; over plain TCP before a recv that may block
 * while received data is unacknowledged (the sender may be holding the
 * rest of a message).  A complete message is acknowledged by our answer,
 * which carries the ACK, so it costs no call and no separate segment. */
static void quick_ack(NovaAssociation *a)
{
#ifdef TCP_QUICKACK
    int one = 1;
    setsockopt(a->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
    (void)a;
#endif
}

/* Plain TCP: the socket stays blocking and SO_RCVTIMEO bounds each recv,
 * so a read that finds data costs one call, not a poll and a recv.  The
 * timeout is set only when it changes (ARTIM or idle). */
static bool set_rcvtimeo(NovaError **error, NovaAssociation *a, int timeout_ms)
{
    if (a->rcvtimeo_ms == timeout_ms)
        return true;
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (timeout_ms % 1000) * 1000};
    if (setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return nova_error_set(error, NOVA_ERROR_IO, "network error",
                              "%s: SO_RCVTIMEO: %s", a->peer, strerror(errno));
    a->rcvtimeo_ms = timeout_ms;
    return true;
}

/* Read exactly n bytes within timeout_ms.  Returns 1, 0 on a clean end of
 * stream before the first byte, -1 on error (set).  On plain TCP a recv
 * waits at most timeout_ms for data and the whole read fails once
 * timeout_ms have passed, so a peer that sends nothing is cut off after
 * timeout_ms and one that trickles bytes after at most twice that. */
static int read_full(NovaError **error, NovaAssociation *a, void *buf, size_t n,
                     int timeout_ms, const char *what)
{
    uint8_t *p = buf;
    size_t got = 0;
    double deadline = nova_time_now() + timeout_ms / 1000.0;
    if (!a->ssl && !a->rbuf) {
        a->rbuf = nova_malloc(error, RECV_BUFFER);
        if (!a->rbuf)
            return -1;
    }
    while (got < n) {
        if (a->rbuf_pos < a->rbuf_len) {
            size_t k = a->rbuf_len - a->rbuf_pos;
            if (k > n - got)
                k = n - got;
            memcpy(p + got, a->rbuf + a->rbuf_pos, k);
            a->rbuf_pos += k;
            got += k;
            continue;
        }
        int left = (int)((deadline - nova_time_now()) * 1000.0);
        if (left <= 0) {
            nova_error_set(error, NOVA_ERROR_IO, "timeout",
                           "%s: no data for %d ms while reading %s", a->peer,
                           timeout_ms, what);
            return -1;
        }
        if (a->ssl) {
            /* Bytes TLS already decrypted are invisible to poll. */
            bool again = false;
            long k = 0;
            struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
            if (!nova__tls_pending(a->ssl)) {
                int r = poll(&pfd, 1, left);
                if (r <= 0)
                    continue;
            }
            k = nova__tls_read(a->ssl, p + got, n - got, &again);
            if (k < 0 && again)
                continue;
            if (k < 0) {
                nova_error_set(error, NOVA_ERROR_IO, "network error",
                               "%s: TLS read of %s failed", a->peer, what);
                return -1;
            }
            if (k == 0) {
                if (got == 0)
                    return 0;
                nova_error_set(error, NOVA_ERROR_PARSE, "connection closed",
                               "%s: TLS closed after %zu of %zu bytes of %s",
                               a->peer, got, n, what);
                return -1;
            }
            got += (size_t)k;
            quick_ack(a);
            continue;
        }
        if (!set_rcvtimeo(error, a, timeout_ms))
            return -1;
        if (a->ack_owed) {
            quick_ack(a);
            a->ack_owed = false;
        }
        /* A large remainder goes straight to its place; small reads fill
         * the buffer with whatever else has arrived. */
        bool direct = n - got >= RECV_BUFFER / 4;
        a->rbuf_pos = a->rbuf_len = 0;
        ssize_t k = direct ? recv(a->fd, p + got, n - got, 0)
                           : recv(a->fd, a->rbuf, RECV_BUFFER, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            nova_error_set(error, NOVA_ERROR_IO, "timeout",
                           "%s: no data for %d ms while reading %s", a->peer,
                           timeout_ms, what);
            return -1;
        }
        if (k < 0) {
            nova_error_set(error, NOVA_ERROR_IO, "network error",
                           "%s: reading %s: %s", a->peer, what,
                           strerror(errno));
            return -1;
        }
        if (k == 0) {
            if (got == 0)
                return 0;
            nova_error_set(error, NOVA_ERROR_PARSE, "connection closed",
                           "%s: connection closed after %zu of %zu bytes of "
                           "%s",
                           a->peer, got, n, what);
            return -1;
        }
        if (direct)
            got += (size_t)k;
        else
            a->rbuf_len = (size_t)k;
        a->ack_owed = true;
    }
    return 1;
}

static bool send_all(NovaError **error, NovaAssociation *a, struct iovec *iov,
                     int n_iov)
{
    if (a->ssl) {
        for (int i = 0; i < n_iov; i++)
            if (!nova__tls_write(a->ssl, iov[i].iov_base, iov[i].iov_len))
                return nova_error_set(error, NOVA_ERROR_IO, "network error",
                                      "%s: TLS write failed", a->peer);
        return true;
    }
    double deadline = nova_time_now() + a->options.idle_timeout_ms / 1000.0;
    while (n_iov > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t k = sendmsg(a->fd, &msg, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int left = (int)((deadline - nova_time_now()) * 1000.0);
            struct pollfd pfd = {.fd = a->fd, .events = POLLOUT};
            if (left <= 0 || poll(&pfd, 1, left) == 0) {
                nova_error_set(error, NOVA_ERROR_IO, "timeout",
                               "%s: peer does not read", a->peer);
                return false;
            }
            continue;
        }
        if (k < 0) {
            nova_error_set(error, NOVA_ERROR_IO, "network error",
                           "%s: send: %s", a->peer, strerror(errno));
            return false;
        }
        /* Our segments carry the ACK of what we received (TCP_NODELAY
         * sends them at once). */
        a->ack_owed = false;
        size_t done = (size_t)k;
        while (n_iov > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n_iov--;
        }
        if (n_iov > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return true;
}

static bool send_bytes(NovaError **error, NovaAssociation *a, const void *p,
                       size_t n)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    return send_all(error, a, &iov, 1);
}

/* Read one PDU: type into *type, body (after the 6-byte header) into
 * a->pdu, its size into *size.  Returns 1, 0 at a clean end of stream,
 * -1 on error. */
static int read_pdu(NovaError **error, NovaAssociation *a, int timeout_ms,
                    uint8_t *type, size_t *size)
{
    uint8_t h[6];
    int r = read_full(error, a, h, 6, timeout_ms, "a PDU header");
    if (r <= 0)
        return r;
    uint32_t len = be32(h + 2);
    *type = h[0];
    size_t limit;
    switch (h[0]) {
    case NOVA_PDU_ASSOCIATE_RQ:
    case NOVA_PDU_ASSOCIATE_AC: limit = 1u << 20; break;
    case NOVA_PDU_ASSOCIATE_RJ:
    case NOVA_PDU_RELEASE_RQ:
    case NOVA_PDU_RELEASE_RP:
    case NOVA_PDU_ABORT:
        if (len != 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: PDU type 0x%02x with length %u (must be 4, "
                           "PS3.8 9.3)",
                           a->peer, h[0], len);
            return -1;
        }
        limit = 4;
        break;
    case NOVA_PDU_P_DATA_TF:
        limit = a->options.max_pdu_length ? a->options.max_pdu_length
                                          : NOVA_NET_PDU_HARD_LIMIT;
        if (limit > NOVA_NET_PDU_HARD_LIMIT)
            limit = NOVA_NET_PDU_HARD_LIMIT;
        break;
    default:
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "%s: unknown PDU type 0x%02x", a->peer, h[0]);
        return -1;
    }
    if (len > limit) {
        nova_error_set(error, NOVA_ERROR_RANGE, "bad PDU",
                       "%s: PDU type 0x%02x of %u bytes exceeds the limit "
                       "of %zu",
                       a->peer, h[0], len, limit);
        return -1;
    }
    size_t need = (size_t)len + 6;
    if (need > a->pdu_cap) {
        uint8_t *p = nova_realloc(error, a->pdu, need);
        if (!p)
            return -1;
        a->pdu = p;
        a->pdu_cap = need;
    }
    memcpy(a->pdu, h, 6);
    if (len > 0 &&
        read_full(error, a, a->pdu + 6, len, timeout_ms, "a PDU body") != 1) {
        if (!error || !*error)
            nova_error_set(error, NOVA_ERROR_PARSE, "connection closed",
                           "%s: connection closed inside a PDU", a->peer);
        return -1;
    }
    *size = len;
    return 1;
}

void nova_association_abort(NovaAssociation *a, uint8_t source, uint8_t reason)
{
    if (!a || a->closed)
        return;
    uint8_t p[10] = {NOVA_PDU_ABORT, 0, 0, 0, 0, 4, 0, 0, source, reason};
    send_bytes(NULL, a, p, sizeof p);
    a->closed = true;
}

static NovaAssociation *assoc_new(NovaError **error, int fd,
                                  const NovaNetOptions *options)
{
    NovaAssociation *a = nova_calloc(error, 1, sizeof *a);
    if (!a)
        return NULL;
    a->fd = fd;
    if (options)
        a->options = *options;
    else
        nova_net_options_init(&a->options);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[48] = "?";
    int port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            port = ntohs(s4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            port = ntohs(s6->sin6_port);
        }
    }
    snprintf(a->peer, sizeof a->peer, "%s:%d", host, port);
    if (a->options.tls) {
        /* The handshake and every TLS record read/write are bounded by
         * ARTIM on the socket itself (poll cannot see inside records). */
        struct timeval tv = {.tv_sec = a->options.artim_timeout_ms / 1000,
                             .tv_usec =
                                 (a->options.artim_timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        a->ssl = nova__tls_wrap(error, a->options.tls, fd, a->peer);
        if (!a->ssl) {
            nova_free(a);
            return NULL;
        }
    }
    return a;
}

void nova_association_destroy(NovaAssociation *a)
{
    if (!a)
        return;
    nova__tls_close(a->ssl);
    if (a->fd >= 0)
        close(a->fd);
    nova_free(a->pdu);
    nova_free(a->rbuf);
    nova_free(a);
}

const NovaAssociateInfo *nova_association_info(const NovaAssociation *a)
{
    return &a->info;
}

const NovaNetContext *nova_association_find_context(const NovaAssociation *a,
                                                    const char *abstract,
                                                    const char *ts)
{
    for (size_t i = 0; i < a->info.n_contexts; i++) {
        const NovaNetContext *c = &a->info.contexts[i];
        if (c->result != NOVA_PC_ACCEPTANCE || c->n_transfer_syntaxes == 0)
            continue;
        if (strcmp(c->abstract_syntax, abstract) != 0)
            continue;
        if (ts && strcmp(c->transfer_syntaxes[0], ts) != 0)
            continue;
        return c;
    }
    return NULL;
}

static const NovaNetContext *context_by_id(const NovaAssociation *a, uint8_t id)
{
    for (size_t i = 0; i < a->info.n_contexts; i++)
        if (a->info.contexts[i].id == id &&
            a->info.contexts[i].result == NOVA_PC_ACCEPTANCE)
            return &a->info.contexts[i];
    return NULL;
}

/* --------------------------------------------------------- requester */

static const char *rj_text(uint8_t source, uint8_t reason)
{
    /* PS3.8 Table 9-21. */
    if (source == 1) {
        switch (reason) {
        case 2: return "application context name not supported";
        case 3: return "calling AE title not recognized";
        case 7: return "called AE title not recognized";
        default: return "no reason given (service user)";
        }
    }
    if (source == 2)
        return reason == 2 ? "protocol version not supported"
                           : "no reason given (service provider, ACSE)";
    if (source == 3)
        return reason == 1 ? "temporary congestion" : "local limit exceeded";
    return "unknown";
}

NovaAssociation *nova_association_request(NovaError **error, const char *host,
                                          int port,
                                          const NovaAssociateInfo *request,
                                          const NovaNetOptions *options)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot resolve", "%s:%d: %s",
                       host, port, gai_strerror(gai));
        return NULL;
    }
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot connect", "%s:%d: %s",
                       host, port, strerror(saved));
        return NULL;
    }
    NovaAssociation *a = assoc_new(error, fd, options);
    if (!a) {
        close(fd);
        return NULL;
    }
    NovaAssociateInfo *rq = nova_malloc(error, sizeof *rq);
    if (!rq)
        goto fail;
    *rq = *request;
    rq->max_pdu_length = a->options.max_pdu_length;
    size_t n = 0;
    uint8_t *pdu =
        nova_net_build_associate(error, NOVA_PDU_ASSOCIATE_RQ, rq, &n);
    bool sent = pdu && send_bytes(error, a, pdu, n);
    nova_free(pdu);
    if (!sent) {
        nova_free(rq);
        goto fail;
    }
    uint8_t type = 0;
    size_t size = 0;
    int r = read_pdu(error, a, a->options.artim_timeout_ms, &type, &size);
    if (r == 0)
        nova_error_set(error, NOVA_ERROR_IO, "association failed",
                       "%s: connection closed before A-ASSOCIATE-AC", a->peer);
    if (r <= 0) {
        nova_free(rq);
        goto fail;
    }
    if (type == NOVA_PDU_ASSOCIATE_RJ) {
        nova_error_set(error, NOVA_ERROR_IO, "association rejected",
                       "%s: A-ASSOCIATE-RJ %s: %s", a->peer,
                       a->pdu[7] == 1 ? "permanent" : "transient",
                       rj_text(a->pdu[8], a->pdu[9]));
        nova_free(rq);
        goto fail;
    }
    if (type == NOVA_PDU_ABORT) {
        nova_error_set(error, NOVA_ERROR_IO, "association aborted",
                       "%s: A-ABORT (source %u, reason %u) instead of "
                       "A-ASSOCIATE-AC",
                       a->peer, a->pdu[8], a->pdu[9]);
        a->closed = true;
        nova_free(rq);
        goto fail;
    }
    if (type != NOVA_PDU_ASSOCIATE_AC ||
        !nova_net_parse_associate(error, a->pdu, size + 6, &a->info)) {
        if (type != NOVA_PDU_ASSOCIATE_AC)
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: PDU type 0x%02x instead of A-ASSOCIATE-AC",
                           a->peer, type);
        nova_association_abort(a, 2, 2);
        nova_free(rq);
        goto fail;
    }
    /* PS3.8 9.3.3.2: the accept names contexts by id; the abstract syntax
     * comes from our request. */
    for (size_t i = 0; i < a->info.n_contexts; i++) {
        NovaNetContext *c = &a->info.contexts[i];
        for (size_t j = 0; j < rq->n_contexts; j++)
            if (rq->contexts[j].id == c->id)
                memcpy(c->abstract_syntax, rq->contexts[j].abstract_syntax,
                       sizeof c->abstract_syntax);
        if (!c->abstract_syntax[0])
            c->result = NOVA_PC_NO_REASON;
    }
    nova_free(rq);
    a->peer_max_pdu = a->info.max_pdu_length;
    return a;
fail:
    nova_association_destroy(a);
    return NULL;
}

/* ----------------------------------------------------------- P-DATA */

bool nova_association_send_message(NovaError **error, NovaAssociation *a,
                                   uint8_t context_id,
                                   const NovaDimseCommand *command,
                                   const uint8_t *dataset, size_t dataset_size)
{
    NovaDimseCommand c = *command;
    c.data_set_type = dataset ? 0x0000 : NOVA_DIMSE_NO_DATASET;
    size_t cmd_size = 0;
    uint8_t *cmd = nova_dimse_encode_command(error, &c, &cmd_size);
    if (!cmd)
        return false;
    /* PS3.8 D.1: the peer's maximum length bounds the PDU's variable
     * field, which holds one PDV item of 4 + 2 header bytes here.  0 means
     * no limit; we still cut at 1 MiB to keep writes bounded. */
    size_t max_pdv = 1u << 20;
    if (a->peer_max_pdu != 0 && a->peer_max_pdu - 6 < max_pdv)
        max_pdv = a->peer_max_pdu > 6 ? a->peer_max_pdu - 6 : 1;
    bool ok = true;
    for (int part = 0; part < 2 && ok; part++) {
        const uint8_t *data = part == 0 ? cmd : dataset;
        size_t size = part == 0 ? cmd_size : dataset_size;
        if (part == 1 && !dataset)
            break;
        size_t pos = 0;
        do {
            size_t n = size - pos < max_pdv ? size - pos : max_pdv;
            bool last = pos + n == size;
            uint8_t h[12];
            h[0] = NOVA_PDU_P_DATA_TF;
            h[1] = 0;
            put32(h + 2, (uint32_t)(n + 6));
            put32(h + 6, (uint32_t)(n + 2));
            h[10] = context_id;
            /* PS3.8 E.2: bit 0 command, bit 1 last fragment. */
            h[11] = (uint8_t)((part == 0 ? 1 : 0) | (last ? 2 : 0));
            struct iovec iov[2] = {
                {.iov_base = h, .iov_len = 12},
                {.iov_base = (void *)(data + pos), .iov_len = n}};
            ok = send_all(error, a, iov, n ? 2 : 1);
            pos += n;
        } while (ok && pos < size);
    }
    nova_free(cmd);
    return ok;
}

static bool append(NovaError **error, uint8_t **buf, size_t *size, size_t *cap,
                   const uint8_t *p, size_t n, size_t limit)
{
    if (n > limit || *size > limit - n) {
        nova_error_set(error, NOVA_ERROR_RANGE, "message too large",
                       "DIMSE message exceeds %zu bytes", limit);
        return false;
    }
    if (*size + n > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *size + n)
            c = c > SIZE_MAX / 2 ? *size + n : c * 2;
        uint8_t *q = nova_realloc(error, *buf, c);
        if (!q)
            return false;
        *buf = q;
        *cap = c;
    }
    memcpy(*buf + *size, p, n);
    *size += n;
    return true;
}

bool nova_association_receive_message(NovaError **error, NovaAssociation *a,
                                      NovaNetEvent *event, uint8_t *context_id,
                                      NovaDimseCommand *command,
                                      uint8_t **dataset, size_t *dataset_size)
{
    *dataset = NULL;
    *dataset_size = 0;
    uint8_t *cmd = NULL, *data = NULL;
    size_t cmd_size = 0, cmd_cap = 0, data_size = 0, data_cap = 0;
    int stage = 0; /* 0 command fragments, 1 dataset fragments */
    int ctx = -1;
    for (;;) {
        if (a->pdu_pos >= a->pdu_size) {
            uint8_t type = 0;
            size_t size = 0;
            a->pdu_pos = a->pdu_size = 0;
            int r =
                read_pdu(error, a, a->options.idle_timeout_ms, &type, &size);
            if (r == 0) {
                nova_error_set(error, NOVA_ERROR_IO, "connection closed",
                               "%s: connection closed without release",
                               a->peer);
                goto fail;
            }
            if (r < 0)
                goto fail;
            if (type == NOVA_PDU_ABORT) {
                a->closed = true;
                *event = NOVA_NET_ABORTED;
                nova_free(cmd);
                nova_free(data);
                return true;
            }
            if (type == NOVA_PDU_RELEASE_RQ && stage == 0 && cmd_size == 0) {
                uint8_t rp[10] = {NOVA_PDU_RELEASE_RP, 0, 0, 0, 0, 4};
                send_bytes(NULL, a, rp, sizeof rp);
                a->closed = true;
                *event = NOVA_NET_RELEASED;
                nova_free(cmd);
                nova_free(data);
                return true;
            }
            if (type != NOVA_PDU_P_DATA_TF) {
                nova_error_set(error, NOVA_ERROR_PARSE, "unexpected PDU",
                               "%s: PDU type 0x%02x %s", a->peer, type,
                               stage || cmd_size ? "inside a DIMSE message"
                                                 : "on an open association");
                goto fail;
            }
            if (size < 6) {
                nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                               "%s: P-DATA-TF of %zu bytes holds no PDV",
                               a->peer, size);
                goto fail;
            }
            a->pdu_size = size + 6;
            a->pdu_pos = 6;
        }
        /* PS3.8 9.3.5.1: PDV item = length (4), context id, header, data. */
        const uint8_t *p = a->pdu + a->pdu_pos;
        size_t left = a->pdu_size - a->pdu_pos;
        if (left < 6) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: PDV item header truncated (%zu bytes left)",
                           a->peer, left);
            goto fail;
        }
        uint32_t len = be32(p);
        if (len < 2 || len > left - 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: PDV item length %u (%zu bytes left in the "
                           "PDU)",
                           a->peer, len, left - 4);
            goto fail;
        }
        uint8_t id = p[4], mch = p[5];
        const uint8_t *v = p + 6;
        size_t n = len - 2;
        a->pdu_pos += 4 + len;
        if (!context_by_id(a, id)) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: PDV on presentation context %u, which was "
                           "not accepted",
                           a->peer, id);
            goto fail;
        }
        if (ctx >= 0 && id != ctx) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: fragment on context %u inside a message on "
                           "context %d",
                           a->peer, id, ctx);
            goto fail;
        }
        ctx = id;
        bool is_cmd = mch & 1, last = (mch & 2) != 0;
        if (is_cmd != (stage == 0)) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s: %s fragment where a %s fragment was due",
                           a->peer, is_cmd ? "command" : "dataset",
                           stage == 0 ? "command" : "dataset");
            goto fail;
        }
        if (stage == 0) {
            if (!append(error, &cmd, &cmd_size, &cmd_cap, v, n, 1u << 20))
                goto fail;
            if (last) {
                if (!nova_dimse_parse_command(error, cmd, cmd_size, command))
                    goto fail;
                if (command->data_set_type == NOVA_DIMSE_NO_DATASET)
                    break;
                stage = 1;
            }
        } else {
            if (!append(error, &data, &data_size, &data_cap, v, n,
                        a->options.max_message_bytes))
                goto fail;
            if (last)
                break;
        }
    }
    nova_free(cmd);
    *event = NOVA_NET_MESSAGE;
    *context_id = (uint8_t)ctx;
    if (data == NULL && stage == 1) {
        data = nova_malloc(error, 1);
        if (!data)
            goto fail_noabort;
    }
    *dataset = data;
    *dataset_size = data_size;
    return true;
fail:
    nova_association_abort(a, 2, 0);
fail_noabort:
    nova_free(cmd);
    nova_free(data);
    return false;
}

bool nova_association_release(NovaError **error, NovaAssociation *a)
{
    uint8_t rq[10] = {NOVA_PDU_RELEASE_RQ, 0, 0, 0, 0, 4};
    if (!send_bytes(error, a, rq, sizeof rq))
        return false;
    uint8_t type = 0;
    size_t size = 0;
    int r = read_pdu(error, a, a->options.artim_timeout_ms, &type, &size);
    if (r <= 0) {
        if (r == 0)
            nova_error_set(error, NOVA_ERROR_IO, "release failed",
                           "%s: connection closed before A-RELEASE-RP",
                           a->peer);
        return false;
    }
    a->closed = true;
    if (type != NOVA_PDU_RELEASE_RP) {
        nova_error_set(error, NOVA_ERROR_PARSE, "release failed",
                       "%s: PDU type 0x%02x instead of A-RELEASE-RP", a->peer,
                       type);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------- provider */

bool nova_net_is_storage_sop_class(const char *uid)
{
    static const char prefix[] = "1.2.840.10008.5.1.4.1.1.";
    size_t n = sizeof prefix - 1;
    return strncmp(uid, prefix, n) == 0 && uid[n] >= '0' && uid[n] <= '9';
}

/* PS3.8 9.3.4 A-ASSOCIATE-RJ. */
static void send_rj(NovaAssociation *a, uint8_t result, uint8_t source,
                    uint8_t reason)
{
    uint8_t p[10] = {
        NOVA_PDU_ASSOCIATE_RJ, 0, 0, 0, 0, 4, 0, result, source, reason};
    send_bytes(NULL, a, p, sizeof p);
    a->closed = true;
}

static bool abstract_ok(const NovaScpConfig *cfg, const char *uid)
{
    if (!cfg->abstract_syntaxes)
        return strcmp(uid, NOVA_UID_VERIFICATION) == 0 ||
               nova_net_is_storage_sop_class(uid);
    for (size_t i = 0; i < cfg->n_abstract_syntaxes; i++)
        if (strcmp(cfg->abstract_syntaxes[i], uid) == 0)
            return true;
    return false;
}

/* Choose the transfer syntax for a proposed context: the first of our
 * preference list that the requester offered.  By default: explicit VR
 * LE, implicit VR LE, then whatever else the requester offered that Nova
 * can parse, in the requester's order (compressed stays compressed). */
static const char *choose_ts(const NovaScpConfig *cfg, const NovaNetContext *c)
{
    if (cfg->transfer_syntaxes) {
        for (size_t i = 0; i < cfg->n_transfer_syntaxes; i++)
            for (size_t t = 0; t < c->n_transfer_syntaxes; t++)
                if (strcmp(cfg->transfer_syntaxes[i],
                           c->transfer_syntaxes[t]) == 0)
                    return c->transfer_syntaxes[t];
        return NULL;
    }
    static const char *const first[] = {NOVA_UID_EXPLICIT_LE,
                                        NOVA_UID_IMPLICIT_LE};
    for (size_t i = 0; i < 2; i++)
        for (size_t t = 0; t < c->n_transfer_syntaxes; t++)
            if (strcmp(first[i], c->transfer_syntaxes[t]) == 0)
                return c->transfer_syntaxes[t];
    for (size_t t = 0; t < c->n_transfer_syntaxes; t++)
        if (nova_transfer_syntax_lookup(c->transfer_syntaxes[t]))
            return c->transfer_syntaxes[t];
    return NULL;
}

static bool handle_message(NovaError **error, NovaAssociation *a,
                           const NovaScpConfig *cfg, uint8_t ctx_id,
                           const NovaDimseCommand *cmd, const uint8_t *data,
                           size_t size, NovaScpReport *report)
{
    const NovaNetContext *ctx = context_by_id(a, ctx_id);
    NovaDimseCommand rsp = {0};
    rsp.message_id_responded = cmd->message_id;
    memcpy(rsp.affected_sop_class, cmd->affected_sop_class,
           sizeof rsp.affected_sop_class);
    if (cmd->command_field == NOVA_DIMSE_C_ECHO_RQ) {
        rsp.command_field = NOVA_DIMSE_C_ECHO_RSP;
        rsp.status = NOVA_STATUS_SUCCESS;
        report->n_echo++;
    } else if (cmd->command_field == NOVA_DIMSE_C_STORE_RQ) {
        rsp.command_field = NOVA_DIMSE_C_STORE_RSP;
        memcpy(rsp.affected_sop_instance, cmd->affected_sop_instance,
               sizeof rsp.affected_sop_instance);
        if (!data) {
            rsp.status = NOVA_STATUS_CANNOT_UNDERSTAND;
            snprintf(rsp.error_comment, sizeof rsp.error_comment,
                     "C-STORE-RQ without a dataset");
        } else if (strcmp(ctx->abstract_syntax, cmd->affected_sop_class) != 0) {
            /* PS3.7 9.1.1.1.1: the SOP class must match the context. */
            rsp.status = NOVA_STATUS_SOP_CLASS_NOT_SUPPORTED;
            snprintf(rsp.error_comment, sizeof rsp.error_comment,
                     "SOP class differs from presentation context %u", ctx_id);
        } else if (!cfg->store) {
            rsp.status = NOVA_STATUS_OUT_OF_RESOURCES;
            snprintf(rsp.error_comment, sizeof rsp.error_comment,
                     "no storage configured");
        } else {
            rsp.status = cfg->store(
                cfg->store_user, a->info.calling_ae, cmd->affected_sop_class,
                cmd->affected_sop_instance, ctx->transfer_syntaxes[0], data,
                size, rsp.error_comment);
        }
        /* PS3.4 B.2.3: 0000 and Bxxx count as stored. */
        if (rsp.status == 0 || (rsp.status & 0xF000) == 0xB000)
            report->n_stored++;
        else
            report->n_failed++;
    } else {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unsupported command",
                       "%s: DIMSE command 0x%04x", a->peer, cmd->command_field);
        nova_association_abort(a, 2, 0);
        return false;
    }
    if (!nova_association_send_message(error, a, ctx_id, &rsp, NULL, 0)) {
        nova_association_abort(a, 2, 0);
        return false;
    }
    return true;
}

bool nova_scp_serve_association(NovaError **error, int fd,
                                const NovaScpConfig *cfg, bool reject_busy,
                                NovaScpReport *report)
{
    memset(report, 0, sizeof *report);
    NovaAssociation *a = assoc_new(error, fd, &cfg->net);
    if (!a) {
        close(fd);
        return false;
    }
    snprintf(report->peer, sizeof report->peer, "%s", a->peer);
    bool ok = false;
    uint8_t type = 0;
    size_t size = 0;
    int r = read_pdu(error, a, a->options.artim_timeout_ms, &type, &size);
    if (r == 0) {
        nova_error_set(error, NOVA_ERROR_IO, "no association",
                       "%s: connection closed before A-ASSOCIATE-RQ", a->peer);
        goto done;
    }
    if (r < 0) {
        nova_association_abort(a, 2, 0);
        report->aborted = true;
        goto done;
    }
    if (type != NOVA_PDU_ASSOCIATE_RQ) {
        nova_error_set(error, NOVA_ERROR_PARSE, "unexpected PDU",
                       "%s: PDU type 0x%02x before A-ASSOCIATE-RQ", a->peer,
                       type);
        nova_association_abort(a, 2, 2);
        report->aborted = true;
        goto done;
    }
    if (!nova_net_parse_associate(error, a->pdu, size + 6, &a->info)) {
        nova_association_abort(a, 2, 2);
        report->aborted = true;
        goto done;
    }
    NovaAssociateInfo *info = &a->info;
    memcpy(report->calling_ae, info->calling_ae, sizeof report->calling_ae);
    memcpy(report->called_ae, info->called_ae, sizeof report->called_ae);
    a->peer_max_pdu = info->max_pdu_length;
    if (reject_busy) {
        send_rj(a, 2, 3, 2);
        report->rejected = true;
        ok = true;
        goto done;
    }
    if (strcmp(info->application_context, NOVA_UID_APPLICATION_CONTEXT) != 0) {
        send_rj(a, 1, 1, 2);
        report->rejected = true;
        ok = true;
        goto done;
    }
    if (!cfg->accept_any_called_ae && cfg->ae_title &&
        strcmp(info->called_ae, cfg->ae_title) != 0) {
        send_rj(a, 1, 1, 7);
        report->rejected = true;
        ok = true;
        goto done;
    }
    if (cfg->allowed_calling_aes) {
        bool allowed = false;
        for (size_t i = 0; i < cfg->n_allowed_calling_aes; i++)
            allowed |=
                strcmp(cfg->allowed_calling_aes[i], info->calling_ae) == 0;
        if (!allowed) {
            send_rj(a, 1, 1, 3);
            report->rejected = true;
            ok = true;
            goto done;
        }
    }
    for (size_t i = 0; i < info->n_contexts; i++) {
        NovaNetContext *c = &info->contexts[i];
        /* PS3.8 9.3.2.2: context ids are odd and unique. */
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= info->contexts[j].id == c->id;
        const char *ts = NULL;
        if ((c->id & 1) == 0 || dup)
            c->result = NOVA_PC_NO_REASON;
        else if (!abstract_ok(cfg, c->abstract_syntax))
            c->result = NOVA_PC_ABSTRACT_SYNTAX_NOT_SUPPORTED;
        else if (!(ts = choose_ts(cfg, c)))
            c->result = NOVA_PC_TRANSFER_SYNTAXES_NOT_SUPPORTED;
        else
            c->result = NOVA_PC_ACCEPTANCE;
        if (ts) {
            char chosen[65];
            memcpy(chosen, ts, sizeof chosen);
            memcpy(c->transfer_syntaxes[0], chosen, sizeof chosen);
            c->n_transfer_syntaxes = 1;
        }
    }
    NovaAssociateInfo *ac = nova_malloc(error, sizeof *ac);
    if (!ac) {
        nova_association_abort(a, 2, 0);
        goto done;
    }
    *ac = *info;
    ac->max_pdu_length = a->options.max_pdu_length;
    ac->implementation_class_uid[0] = '\0';
    ac->implementation_version[0] = '\0';
    /* PS3.7 D.3.3.7: identity is accepted without checking; a response is
     * sent only where the requester asked for one. */
    ac->user_identity_response_requested =
        info->user_identity_offered && info->user_identity_response_requested;
    size_t n = 0;
    uint8_t *pdu =
        nova_net_build_associate(error, NOVA_PDU_ASSOCIATE_AC, ac, &n);
    nova_free(ac);
    if (!pdu || !send_bytes(error, a, pdu, n)) {
        nova_free(pdu);
        nova_association_abort(a, 2, 0);
        report->aborted = true;
        goto done;
    }
    nova_free(pdu);
    for (;;) {
        NovaNetEvent ev;
        uint8_t ctx = 0;
        NovaDimseCommand cmd;
        uint8_t *data = NULL;
        size_t data_size = 0;
        if (!nova_association_receive_message(error, a, &ev, &ctx, &cmd, &data,
                                              &data_size)) {
            report->aborted = true;
            goto done;
        }
        if (ev == NOVA_NET_RELEASED) {
            ok = true;
            goto done;
        }
        if (ev == NOVA_NET_ABORTED) {
            report->aborted = true;
            ok = true;
            goto done;
        }
        bool handled =
            handle_message(error, a, cfg, ctx, &cmd, data, data_size, report);
        nova_free(data);
        if (!handled) {
            report->aborted = true;
            goto done;
        }
    }
done:
    nova_association_destroy(a);
    return ok;
}
