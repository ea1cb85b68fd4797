/*
 * cmd_send.c - `nova send HOST:PORT --aet AET FILES|DIRS`: the C-STORE
 * user.  One association for all the files: one presentation context per
 * (SOP class, transfer syntax) pair found in the files, each proposing the
 * file's own transfer syntax, plus per SOP class one context proposing
 * explicit and implicit VR little endian.  Each file is sent as it is on
 * disk (the dataset after its File Meta group, PS3.10 7.1), on the context
 * accepted with its own transfer syntax; an explicit VR LE file goes as
 * implicit VR LE (nova_dimse_explicit_to_implicit) when the peer refused
 * explicit.  Nova does not decompress, so a compressed file whose syntax
 * the peer refused is reported and counted as failed.
 */
#include "commands.h"

#include "nova/net.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char *path;
    char sop_class[65];
    char sop_instance[65];
    char ts[65];
} FileInfo;

typedef struct {
    FileInfo *files;
    size_t n, cap;
} FileList;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova send HOST:PORT --aet AET [--called-aet AET]\n"
            "                 [--timeout S] [--tls [--tls-ca PEM]\n"
            "                 [--tls-cert PEM --tls-key PEM]] FILE|DIR...\n"
            "\n"
            "Send DICOM Part 10 files (folders recursively) with C-STORE over\n"
            "one association.  Exit 0 when every file was stored (success or\n"
            "warning status), 1 otherwise.\n");
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Read a Part 10 file: the meta UIDs and where the dataset starts. */
static uint8_t *read_part10(NovaError **error, const char *path, FileInfo *info,
                            size_t *size, size_t *dataset_at)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot open", "%s: %s", path,
                       strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = len > 0 ? nova_malloc(error, (size_t)len) : NULL;
    if (!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
        if (len <= 0 || data)
            nova_error_set(error, NOVA_ERROR_IO, "cannot read", "%s", path);
        fclose(f);
        nova_free(data);
        return NULL;
    }
    fclose(f);
    size_t n = (size_t)len;
    if (n < 132 || memcmp(data + 128, "DICM", 4) != 0) {
        nova_error_set(error, NOVA_ERROR_PARSE, "not a DICOM file",
                       "%s: no DICM prefix at offset 128 (a Part 10 file is "
                       "needed)",
                       path);
        nova_free(data);
        return NULL;
    }
    /* PS3.10 7.1: group 0002 in explicit VR little endian. */
    size_t pos = 132;
    info->sop_class[0] = info->sop_instance[0] = info->ts[0] = '\0';
    while (pos + 8 <= n && le16(data + pos) == 0x0002) {
        uint16_t elem = le16(data + pos + 2);
        char vr0 = (char)data[pos + 4], vr1 = (char)data[pos + 5];
        bool long_form = (vr0 == 'O' && (vr1 == 'B' || vr1 == 'W')) ||
                         (vr0 == 'U' && (vr1 == 'N' || vr1 == 'T')) ||
                         (vr0 == 'S' && vr1 == 'Q');
        size_t vlen, h;
        if (long_form) {
            if (pos + 12 > n)
                break;
            vlen = le32(data + pos + 8);
            h = 12;
        } else {
            vlen = le16(data + pos + 6);
            h = 8;
        }
        if (vlen > n - pos - h) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad meta group",
                           "%s: element (0002,%04x) at offset %zu: length "
                           "%zu exceeds the file",
                           path, elem, pos, vlen);
            nova_free(data);
            return NULL;
        }
        char *dst = elem == 0x0002   ? info->sop_class
                    : elem == 0x0003 ? info->sop_instance
                    : elem == 0x0010 ? info->ts
                                     : NULL;
        if (dst) {
            size_t m = vlen > 64 ? 64 : vlen;
            memcpy(dst, data + pos + h, m);
            while (m > 0 && (dst[m - 1] == 0 || dst[m - 1] == ' '))
                m--;
            dst[m] = '\0';
        }
        pos += h + vlen;
    }
    if (!info->sop_class[0] || !info->sop_instance[0] || !info->ts[0]) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad meta group",
                       "%s: Media Storage SOP Class/Instance or Transfer "
                       "Syntax UID missing",
                       path);
        nova_free(data);
        return NULL;
    }
    *size = n;
    *dataset_at = pos;
    return data;
}

static bool add_path(NovaError **error, FileList *list, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot open", "%s: %s",
                              path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, alphasort);
        if (n < 0)
            return nova_error_set(error, NOVA_ERROR_IO, "cannot list", "%s: %s",
                                  path, strerror(errno));
        bool ok = true;
        for (int i = 0; i < n; i++) {
            if (ok && names[i]->d_name[0] != '.') {
                char *sub =
                    nova_strdup_printf(error, "%s/%s", path, names[i]->d_name);
                ok = sub && add_path(error, list, sub);
                nova_free(sub);
            }
            free(names[i]);
        }
        free(names);
        return ok;
    }
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        FileInfo *p = nova_realloc(error, list->files, cap * sizeof *p);
        if (!p)
            return false;
        list->files = p;
        list->cap = cap;
    }
    FileInfo *fi = &list->files[list->n];
    memset(fi, 0, sizeof *fi);
    fi->path = nova_strdup(error, path);
    if (!fi->path)
        return false;
    list->n++;
    return true;
}

static bool split_host_port(const char *arg, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= cap)
        return false;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!end || *end || p <= 0 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

static void add_context(NovaAssociateInfo *rq, const char *cls, const char *ts1,
                        const char *ts2)
{
    NovaNetContext *c = &rq->contexts[rq->n_contexts];
    memset(c, 0, sizeof *c);
    c->id = (uint8_t)(2 * rq->n_contexts + 1);
    snprintf(c->abstract_syntax, sizeof c->abstract_syntax, "%s", cls);
    snprintf(c->transfer_syntaxes[0], 65, "%s", ts1);
    c->n_transfer_syntaxes = 1;
    if (ts2) {
        snprintf(c->transfer_syntaxes[1], 65, "%s", ts2);
        c->n_transfer_syntaxes = 2;
    }
    rq->n_contexts++;
}

static bool has_context(const NovaAssociateInfo *rq, const char *cls,
                        const char *ts)
{
    for (size_t i = 0; i < rq->n_contexts; i++)
        if (rq->contexts[i].n_transfer_syntaxes == 1 &&
            !strcmp(rq->contexts[i].abstract_syntax, cls) &&
            !strcmp(rq->contexts[i].transfer_syntaxes[0], ts))
            return true;
    return false;
}

int nova_cmd_send(int argc, char **argv)
{
    const char *target = NULL;
    NovaScuOptions scu = {.aet = NULL, .called = "ANY-SCP", .timeout_s = 60};
    NovaTls *tls = NULL;
    FileList list = {0};
    NovaError *error = NULL;
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        int taken = nova_app_scu_option("send", argc, argv, &i, &scu);
        if (taken < 0)
            return 2;
        if (taken)
            continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nova send: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!target) {
            target = a;
        } else if (!add_path(&error, &list, a)) {
            nova_app_print_error("send", error);
            nova_error_free(error);
            goto out;
        }
    }
    char host[256];
    int port = 0;
    if (!target || !scu.aet || list.n == 0 ||
        !split_host_port(target, host, sizeof host, &port) ||
        strlen(scu.aet) > 16 || strlen(scu.called) > 16 || scu.timeout_s <= 0) {
        usage(stderr);
        rc = 2;
        goto out;
    }
    /* Read each file's meta group to build the proposal. */
    NovaAssociateInfo *rq = nova_calloc(&error, 1, sizeof *rq);
    if (!rq) {
        nova_app_print_error("send", error);
        goto out;
    }
    snprintf(rq->called_ae, sizeof rq->called_ae, "%s", scu.called);
    snprintf(rq->calling_ae, sizeof rq->calling_ae, "%s", scu.aet);
    size_t n_bad = 0;
    for (size_t i = 0; i < list.n; i++) {
        FileInfo *fi = &list.files[i];
        size_t size = 0, at = 0;
        uint8_t *data = read_part10(&error, fi->path, fi, &size, &at);
        nova_free(data);
        if (!data) {
            nova_app_print_error("send", error);
            nova_error_clear(&error);
            fi->sop_class[0] = '\0';
            n_bad++;
            continue;
        }
        bool known_class = false;
        for (size_t c = 0; c < rq->n_contexts; c++)
            known_class |=
                !strcmp(rq->contexts[c].abstract_syntax, fi->sop_class);
        size_t need = (known_class ? 0 : 1) +
                      (has_context(rq, fi->sop_class, fi->ts) ? 0 : 1);
        if (rq->n_contexts + need > NOVA_NET_MAX_CONTEXTS) {
            fprintf(stderr,
                    "nova send: more than %d presentation contexts needed; "
                    "send the files in smaller groups\n",
                    NOVA_NET_MAX_CONTEXTS);
            nova_free(rq);
            goto out;
        }
        if (!known_class)
            add_context(rq, fi->sop_class, NOVA_UID_EXPLICIT_LE,
                        NOVA_UID_IMPLICIT_LE);
        if (!has_context(rq, fi->sop_class, fi->ts))
            add_context(rq, fi->sop_class, fi->ts, NULL);
    }
    if (rq->n_contexts == 0) {
        fprintf(stderr, "nova send: no DICOM file to send\n");
        nova_free(rq);
        goto out;
    }
    NovaNetOptions options;
    nova_net_options_init(&options);
    options.artim_timeout_ms = (int)scu.timeout_s * 1000;
    options.idle_timeout_ms = (int)scu.timeout_s * 1000;
    if (scu.use_tls) {
        tls = nova_tls_create_client(&error, scu.tls_ca, scu.tls_cert,
                                     scu.tls_key);
        if (!tls) {
            nova_app_print_error("send", error);
            nova_free(rq);
            goto out;
        }
        options.tls = tls;
    }
    NovaAssociation *assoc =
        nova_association_request(&error, host, port, rq, &options);
    nova_free(rq);
    if (!assoc) {
        nova_app_print_error("send", error);
        goto out;
    }
    size_t n_ok = 0, n_warn = 0, n_fail = n_bad;
    uint16_t message_id = 0;
    bool broken = false;
    for (size_t i = 0; i < list.n && !broken; i++) {
        FileInfo *fi = &list.files[i];
        if (!fi->sop_class[0])
            continue;
        const NovaNetContext *ctx =
            nova_association_find_context(assoc, fi->sop_class, fi->ts);
        /* A peer that refused explicit VR LE gets implicit VR LE, the
         * syntax every node accepts (PS3.5 10.1). */
        bool to_implicit = false;
        if (!ctx && strcmp(fi->ts, NOVA_UID_EXPLICIT_LE) == 0) {
            ctx = nova_association_find_context(assoc, fi->sop_class,
                                                NOVA_UID_IMPLICIT_LE);
            to_implicit = ctx != NULL;
        }
        if (!ctx) {
            fprintf(stderr,
                    "nova send: %s: the peer accepted no context for %s in "
                    "transfer syntax %s\n",
                    fi->path, fi->sop_class, fi->ts);
            n_fail++;
            continue;
        }
        size_t size = 0, at = 0;
        uint8_t *data = read_part10(&error, fi->path, fi, &size, &at);
        if (!data) {
            nova_app_print_error("send", error);
            nova_error_clear(&error);
            n_fail++;
            continue;
        }
        if (to_implicit) {
            uint8_t *converted = NULL;
            size_t converted_size = 0;
            if (!nova_dimse_explicit_to_implicit(&error, data + at, size - at,
                                                 &converted, &converted_size)) {
                nova_error_prefix(&error, "%s: ", fi->path);
                nova_app_print_error("send", error);
                nova_error_clear(&error);
                nova_free(data);
                n_fail++;
                continue;
            }
            nova_free(data);
            data = converted;
            size = converted_size;
            at = 0;
        }
        NovaDimseCommand cmd = {0};
        cmd.command_field = NOVA_DIMSE_C_STORE_RQ;
        cmd.message_id = ++message_id;
        memcpy(cmd.affected_sop_class, fi->sop_class, 65);
        memcpy(cmd.affected_sop_instance, fi->sop_instance, 65);
        bool sent = nova_association_send_message(&error, assoc, ctx->id, &cmd,
                                                  data + at, size - at);
        nova_free(data);
        NovaNetEvent ev = NOVA_NET_MESSAGE;
        uint8_t ctx_id = 0;
        NovaDimseCommand rsp;
        uint8_t *rsp_data = NULL;
        size_t rsp_size = 0;
        if (!sent ||
            !nova_association_receive_message(&error, assoc, &ev, &ctx_id, &rsp,
                                              &rsp_data, &rsp_size) ||
            ev != NOVA_NET_MESSAGE) {
            if (!error)
                nova_error_set(&error, NOVA_ERROR_IO, "association ended",
                               "peer %s during C-STORE of %s",
                               ev == NOVA_NET_ABORTED ? "aborted" : "released",
                               fi->path);
            nova_app_print_error("send", error);
            nova_error_clear(&error);
            n_fail += 1;
            broken = true;
            nova_free(rsp_data);
            break;
        }
        nova_free(rsp_data);
        if (rsp.command_field != NOVA_DIMSE_C_STORE_RSP ||
            rsp.message_id_responded != cmd.message_id || !rsp.has_status) {
            fprintf(stderr,
                    "nova send: %s: unexpected response 0x%04x to message "
                    "%u\n",
                    fi->path, rsp.command_field, cmd.message_id);
            n_fail++;
            broken = true;
            break;
        }
        if (rsp.status == NOVA_STATUS_SUCCESS) {
            n_ok++;
        } else if ((rsp.status & 0xF000) == 0xB000 ||
                   rsp.status == NOVA_STATUS_ATTRIBUTE_VALUE_OOR) {
            n_warn++;
            fprintf(stderr, "nova send: %s: warning status %04X %s\n", fi->path,
                    rsp.status, rsp.error_comment);
        } else {
            n_fail++;
            fprintf(stderr, "nova send: %s: failure status %04X %s\n", fi->path,
                    rsp.status, rsp.error_comment);
        }
    }
    if (broken) {
        nova_association_abort(assoc, 0, 0);
    } else if (!nova_association_release(&error, assoc)) {
        nova_app_print_error("send", error);
        nova_error_clear(&error);
    }
    nova_association_destroy(assoc);
    /* Files never tried because the association broke count as failed. */
    size_t tried = n_ok + n_warn + n_fail;
    if (tried < list.n)
        n_fail += list.n - tried;
    printf("sent %zu file(s): %zu stored, %zu with warnings, %zu failed\n",
           list.n, n_ok, n_warn, n_fail);
    rc = n_fail == 0 ? 0 : 1;
out:
    nova_tls_destroy(tls);
    nova_error_free(error);
    for (size_t i = 0; i < list.n; i++)
        nova_free(list.files[i].path);
    nova_free(list.files);
    return rc;
}
