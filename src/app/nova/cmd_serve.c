/*
 * cmd_serve.c - `nova serve`: a DICOM storage node (C-ECHO and C-STORE
 * provider) that writes what it receives into a durable store.
 *
 * One thread per association, at most --max-associations at once (beyond
 * that an association is answered A-ASSOCIATE-RJ, transient, local limit
 * exceeded).  Each C-STORE is acknowledged only after nova_store_put made
 * the file and its index row durable.  SIGTERM/SIGINT stop accepting and
 * let running associations finish; the signals arrive through a signalfd
 * polled beside the listening socket, so no handler or global is needed.
 * A second thread logs the completed series from the store's queue.
 */
#include "commands.h"

#include "nova/net.h"
#include "nova/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ALLOWED 64

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: nova serve --dicom-port PORT --ae-title AET --storage DIR\n"
        "                  [--bind ADDR] [--allow-aet AET]...\n"
        "                  [--max-associations N] [--complete-after S]\n"
        "                  [--idle-timeout S] [--artim-timeout S]\n"
        "                  [--max-pdu BYTES] [--tls-cert PEM --tls-key PEM\n"
        "                  [--tls-ca PEM]]\n"
        "\n"
        "Receive DICOM instances (C-STORE) and answer C-ECHO.  Each\n"
        "instance is stored as DIR/<study>/<series>/<sop>.dcm, indexed\n"
        "in DIR/index.sqlite, and acknowledged only once durable.\n"
        "\n"
        "options:\n"
        "  --dicom-port PORT     TCP port (0: any free port, printed)\n"
        "  --ae-title AET        our AE title (called AE must match)\n"
        "  --storage DIR         where instances and the index go\n"
        "  --bind ADDR           listen address (default 0.0.0.0)\n"
        "  --allow-aet AET       accept only these calling AE titles\n"
        "  --max-associations N  concurrent associations (default 32)\n"
        "  --complete-after S    series complete after S s without a\n"
        "                        new instance (default 60)\n"
        "  --idle-timeout S      abort an idle association (default 300)\n"
        "  --artim-timeout S     wait for A-ASSOCIATE-RQ / A-RELEASE-RP\n"
        "                        (PS3.8 ARTIM, default 30)\n"
        "  --max-pdu BYTES       maximum PDU length we accept\n"
        "  --tls-cert PEM --tls-key PEM\n"
        "                        DICOM over TLS (PS3.15 B.1)\n"
        "  --tls-ca PEM          require client certificates from CA\n"
        "  -h, --help            this help\n");
}

typedef struct {
    NovaScpConfig scp;
    NovaStore *store;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int active;
    int max_active;
    bool stop_events;
} Server;

typedef struct {
    Server *server;
    int fd;
    bool busy;
} Job;

static void log_line(const char *format, ...) NOVA_PRINTF(1, 2);
static void log_line(const char *format, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(msg, sizeof msg, format, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ nova serve: %s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, ts.tv_nsec / 1000000, msg);
}

static uint16_t store_handler(void *user, const char *calling_ae,
                              const char *sop_class, const char *sop_instance,
                              const char *ts, const uint8_t *data, size_t size,
                              char comment[65])
{
    Server *s = user;
    NovaError *error = NULL;
    bool duplicate = false;
    if (nova_store_put(&error, s->store, calling_ae, sop_class, sop_instance,
                       ts, data, size, &duplicate))
        return NOVA_STATUS_SUCCESS;
    /* PS3.4 B.2.3: A900 dataset does not match SOP class, C000 cannot
     * understand, A700 out of resources. */
    uint16_t status;
    switch (nova_error_code(error)) {
    case NOVA_ERROR_PARSE: status = NOVA_STATUS_CANNOT_UNDERSTAND; break;
    case NOVA_ERROR_INVALID: status = NOVA_STATUS_DATASET_MISMATCH; break;
    default: status = NOVA_STATUS_OUT_OF_RESOURCES; break;
    }
    log_line("C-STORE %s from %s failed (%04X): %s", sop_instance, calling_ae,
             status, nova_error_message(error));
    snprintf(comment, 65, "%s", nova_error_message(error));
    nova_error_free(error);
    return status;
}

static void *association_main(void *arg)
{
    Job *job = arg;
    Server *s = job->server;
    NovaError *error = NULL;
    NovaScpReport r;
    double t0 = nova_time_now();
    bool ok =
        nova_scp_serve_association(&error, job->fd, &s->scp, job->busy, &r);
    double ms = (nova_time_now() - t0) * 1000.0;
    const char *how = r.rejected  ? "rejected"
                      : r.aborted ? "aborted"
                      : ok        ? "released"
                                  : "failed";
    log_line("association %s@%s -> %s: %s after %.0f ms; %zu stored, %zu "
             "failed, %zu echo%s%s",
             r.calling_ae[0] ? r.calling_ae : "?", r.peer,
             r.called_ae[0] ? r.called_ae : "?", how, ms, r.n_stored,
             r.n_failed, r.n_echo, error ? ": " : "",
             error ? nova_error_message(error) : "");
    nova_error_free(error);
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    nova_free(job);
    return NULL;
}

static void *events_main(void *arg)
{
    Server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stop = s->stop_events;
        pthread_mutex_unlock(&s->lock);
        NovaSeriesCompletion c;
        if (nova_store_wait_completed(s->store, 200, &c))
            log_line("series complete (%s): study %s series %s, %lld "
                     "instances",
                     c.reason, c.study_uid, c.series_uid,
                     (long long)c.n_instances);
        else if (stop)
            break;
    }
    return NULL;
}

static bool parse_int(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int nova_cmd_serve(int argc, char **argv)
{
    long port = -1, max_assoc = 32, idle_s = 300, artim_s = 30, max_pdu = 0;
    double complete_after = 60.0;
    const char *aet = NULL, *storage = NULL, *bind_addr = "0.0.0.0";
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
    const char *allowed[MAX_ALLOWED];
    size_t n_allowed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "nova serve: %s needs a value\n", a);
            return 2;
        }
        i++;
        bool good = true;
        if (!strcmp(a, "--dicom-port"))
            good = parse_int(v, 0, 65535, &port);
        else if (!strcmp(a, "--ae-title"))
            aet = v;
        else if (!strcmp(a, "--storage"))
            storage = v;
        else if (!strcmp(a, "--bind"))
            bind_addr = v;
        else if (!strcmp(a, "--tls-cert"))
            tls_cert = v;
        else if (!strcmp(a, "--tls-key"))
            tls_key = v;
        else if (!strcmp(a, "--tls-ca"))
            tls_ca = v;
        else if (!strcmp(a, "--allow-aet") && n_allowed < MAX_ALLOWED)
            allowed[n_allowed++] = v;
        else if (!strcmp(a, "--max-associations"))
            good = parse_int(v, 1, 10000, &max_assoc);
        else if (!strcmp(a, "--idle-timeout"))
            good = parse_int(v, 1, 86400, &idle_s);
        else if (!strcmp(a, "--artim-timeout"))
            good = parse_int(v, 1, 3600, &artim_s);
        else if (!strcmp(a, "--max-pdu"))
            good = parse_int(v, 4096, NOVA_NET_PDU_HARD_LIMIT, &max_pdu);
        else if (!strcmp(a, "--complete-after")) {
            char *end = NULL;
            complete_after = strtod(v, &end);
            good = end && !*end && end != v;
        } else {
            fprintf(stderr, "nova serve: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!good) {
            fprintf(stderr, "nova serve: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    if (port < 0 || !aet || !storage) {
        usage(stderr);
        return 2;
    }
    if (!tls_cert != !tls_key || (tls_ca && !tls_cert)) {
        fprintf(stderr, "nova serve: --tls-cert and --tls-key go together "
                        "(--tls-ca needs them)\n");
        return 2;
    }
    if (strlen(aet) > 16) {
        fprintf(stderr, "nova serve: AE title over 16 characters\n");
        return 2;
    }

    /* Block the stop signals in every thread; the main loop reads them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);

    NovaError *error = NULL;
    NovaTls *tls = NULL;
    if (tls_cert) {
        tls = nova_tls_create_server(&error, tls_cert, tls_key, tls_ca);
        if (!tls) {
            nova_app_print_error("serve", error);
            nova_error_free(error);
            return 1;
        }
    }
    NovaStoreOptions so;
    nova_store_options_init(&so);
    so.complete_after_s = complete_after;
    Server s;
    memset(&s, 0, sizeof s);
    s.store = nova_store_open(&error, storage, &so);
    if (!s.store) {
        nova_app_print_error("serve", error);
        nova_error_free(error);
        nova_tls_destroy(tls);
        return 1;
    }
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    s.max_active = (int)max_assoc;
    s.scp.ae_title = aet;
    s.scp.allowed_calling_aes = n_allowed ? allowed : NULL;
    s.scp.n_allowed_calling_aes = n_allowed;
    nova_net_options_init(&s.scp.net);
    s.scp.net.idle_timeout_ms = (int)idle_s * 1000;
    s.scp.net.artim_timeout_ms = (int)artim_s * 1000;
    s.scp.net.tls = tls;
    if (max_pdu)
        s.scp.net.max_pdu_length = (uint32_t)max_pdu;
    s.scp.store = store_handler;
    s.scp.store_user = &s;

    int rc = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port)};
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "nova serve: bad --bind address %s\n", bind_addr);
        close(lfd);
        nova_store_close(s.store);
        nova_tls_destroy(tls);
        return 2;
    }
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 128) != 0) {
        fprintf(stderr, "nova serve: cannot listen on %s:%ld: %s\n", bind_addr,
                port, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        nova_store_close(s.store);
        nova_tls_destroy(tls);
        return 1;
    }
    socklen_t al = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &al);
    int64_t n_st = 0, n_se = 0, n_in = 0;
    nova_store_counts(NULL, s.store, &n_st, &n_se, &n_in);
    log_line("listening on %s:%u%s as %s, storage %s (index: %lld studies, "
             "%lld series, %lld instances)",
             bind_addr, ntohs(addr.sin_port), tls ? " (TLS)" : "", aet, storage,
             (long long)n_st, (long long)n_se, (long long)n_in);
    printf("listening on %s:%u\n", bind_addr, ntohs(addr.sin_port));
    fflush(stdout);

    pthread_t events;
    bool events_started = pthread_create(&events, NULL, events_main, &s) == 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        int n = poll(p, sfd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (sfd >= 0 && (p[1].revents & POLLIN)))
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s.lock);
        bool busy = s.active >= s.max_active;
        bool refuse = s.active >= 2 * s.max_active + 8;
        if (!refuse)
            s.active++;
        pthread_mutex_unlock(&s.lock);
        if (refuse) {
            close(fd);
            continue;
        }
        Job *job = nova_malloc(NULL, sizeof *job);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        bool started = false;
        if (job) {
            job->server = &s;
            job->fd = fd;
            job->busy = busy;
            started = pthread_create(&t, &attr, association_main, job) == 0;
        }
        pthread_attr_destroy(&attr);
        if (!started) {
            nova_free(job);
            close(fd);
            pthread_mutex_lock(&s.lock);
            s.active--;
            pthread_mutex_unlock(&s.lock);
        }
    }
    close(lfd);
    pthread_mutex_lock(&s.lock);
    log_line("stopping: waiting for %d association(s)", s.active);
    while (s.active > 0)
        pthread_cond_wait(&s.cond, &s.lock);
    s.stop_events = true;
    pthread_mutex_unlock(&s.lock);
    if (events_started)
        pthread_join(events, NULL);
    nova_store_counts(NULL, s.store, &n_st, &n_se, &n_in);
    log_line("stopped (index: %lld studies, %lld series, %lld instances)",
             (long long)n_st, (long long)n_se, (long long)n_in);
    nova_store_close(s.store);
    nova_tls_destroy(tls);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.cond);
    if (sfd >= 0)
        close(sfd);
    rc = 0;
    return rc;
}
