/*
 * pdu.c - parse and build the A-ASSOCIATE-RQ/AC PDUs (PS3.8 9.3.2, 9.3.3)
 * and DIMSE command sets (PS3.7 6.3, E.1).
 *
 * These functions only see bytes already in memory: the socket layer
 * (association.c) reads a whole PDU after checking its length field, and
 * hands it here.  Every item and sub-item length is checked against what
 * remains of its parent before it is read, so a hostile PDU gets an error
 * naming the offset, never an out-of-bounds read.
 */
#include <stdio.h>
#include <string.h>

#include "nova/net.h"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Copy a UID field, dropping the trailing NUL/space padding (PS3.5 9.1).
 * Longer than 64 characters or holding other than digits and dots is an
 * error. */
static bool copy_uid(NovaError **error, char out[65], const uint8_t *p,
                     size_t n, size_t offset, const char *what)
{
    while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' '))
        n--;
    if (n > 64) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "%s at offset %zu: UID of %zu characters (max 64)", what,
                       offset, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.')) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "%s at offset %zu: UID holds byte 0x%02x", what,
                           offset, p[i]);
            return false;
        }
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Copy an AE title (16 bytes, leading and trailing spaces not significant,
 * PS3.5 6.2 AE). */
static void copy_ae(char out[17], const uint8_t *p)
{
    size_t b = 0, e = 16;
    while (b < e && (p[b] == ' ' || p[b] == 0))
        b++;
    while (e > b && (p[e - 1] == ' ' || p[e - 1] == 0))
        e--;
    for (size_t i = b; i < e; i++)
        out[i - b] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    out[e - b] = '\0';
}

static bool parse_context(NovaError **error, const uint8_t *p, size_t n,
                          size_t base, bool is_ac, NovaNetContext *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    if (n < 4) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "presentation context item at offset %zu: length %zu "
                       "under 4",
                       base, n);
        return false;
    }
    ctx->id = p[0];
    ctx->result = is_ac ? p[2] : 0;
    size_t pos = 4;
    while (pos < n) {
        if (n - pos < 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "sub-item header at offset %zu truncated",
                           base + pos);
            return false;
        }
        uint8_t type = p[pos];
        size_t len = be16(p + pos + 2);
        if (len > n - pos - 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "sub-item 0x%02x at offset %zu: length %zu "
                           "exceeds the remaining %zu bytes",
                           type, base + pos, len, n - pos - 4);
            return false;
        }
        const uint8_t *v = p + pos + 4;
        if (type == 0x30) {
            if (!copy_uid(error, ctx->abstract_syntax, v, len, base + pos,
                          "abstract syntax"))
                return false;
        } else if (type == 0x40) {
            if (ctx->n_transfer_syntaxes >= NOVA_NET_MAX_TS_PER_CONTEXT) {
                nova_error_set(error, NOVA_ERROR_RANGE, "bad PDU",
                               "presentation context %u at offset %zu: more "
                               "than %d transfer syntaxes",
                               ctx->id, base, NOVA_NET_MAX_TS_PER_CONTEXT);
                return false;
            }
            if (!copy_uid(error,
                          ctx->transfer_syntaxes[ctx->n_transfer_syntaxes], v,
                          len, base + pos, "transfer syntax"))
                return false;
            ctx->n_transfer_syntaxes++;
        }
        pos += 4 + len;
    }
    return true;
}

static bool parse_user_info(NovaError **error, const uint8_t *p, size_t n,
                            size_t base, bool is_ac, NovaAssociateInfo *out)
{
    size_t pos = 0;
    while (pos < n) {
        if (n - pos < 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "user information sub-item at offset %zu "
                           "truncated",
                           base + pos);
            return false;
        }
        uint8_t type = p[pos];
        size_t len = be16(p + pos + 2);
        if (len > n - pos - 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "user information sub-item 0x%02x at offset "
                           "%zu: length %zu exceeds the remaining %zu bytes",
                           type, base + pos, len, n - pos - 4);
            return false;
        }
        const uint8_t *v = p + pos + 4;
        switch (type) {
        case 0x51: /* PS3.8 D.1 maximum length */
            if (len != 4) {
                nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                               "maximum length sub-item at offset %zu: "
                               "length %zu, not 4",
                               base + pos, len);
                return false;
            }
            out->max_pdu_length = be32(v);
            break;
        case 0x52: /* PS3.7 D.3.3.2 implementation class UID */
            if (!copy_uid(error, out->implementation_class_uid, v, len,
                          base + pos, "implementation class UID"))
                return false;
            break;
        case 0x55: { /* PS3.7 D.3.3.2 implementation version name */
            size_t m = len > 16 ? 16 : len;
            for (size_t i = 0; i < m; i++)
                out->implementation_version[i] =
                    (v[i] >= 0x20 && v[i] < 0x7f) ? (char)v[i] : '?';
            out->implementation_version[m] = '\0';
            break;
        }
        case 0x58: /* PS3.7 D.3.3.7.1 user identity request */
            if (!is_ac) {
                if (len < 4) {
                    nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                                   "user identity sub-item at offset %zu: "
                                   "length %zu under 4",
                                   base + pos, len);
                    return false;
                }
                size_t primary = be16(v + 2);
                if (primary + 4 + 2 > len ||
                    be16(v + 4 + primary) + primary + 6 > len) {
                    nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                                   "user identity sub-item at offset %zu: "
                                   "field lengths exceed the sub-item",
                                   base + pos);
                    return false;
                }
                out->user_identity_offered = true;
                out->user_identity_type = v[0];
                out->user_identity_response_requested = v[1] != 0;
            }
            break;
        case 0x59: /* PS3.7 D.3.3.7.2 user identity accept */
            if (is_ac) {
                if (len < 2 || (size_t)be16(v) + 2 > len) {
                    nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                                   "user identity response at offset %zu: "
                                   "bad length",
                                   base + pos);
                    return false;
                }
                out->user_identity_response_requested = true;
            }
            break;
        default: /* role selection, extended negotiation...: not used */ break;
        }
        pos += 4 + len;
    }
    return true;
}

bool nova_net_parse_associate(NovaError **error, const uint8_t *pdu,
                              size_t size, NovaAssociateInfo *out)
{
    memset(out, 0, sizeof *out);
    if (size < 74) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "A-ASSOCIATE PDU of %zu bytes (fixed part is 74)", size);
        return false;
    }
    uint8_t type = pdu[0];
    if (type != NOVA_PDU_ASSOCIATE_RQ && type != NOVA_PDU_ASSOCIATE_AC) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "PDU type 0x%02x is not A-ASSOCIATE-RQ/AC", type);
        return false;
    }
    bool is_ac = type == NOVA_PDU_ASSOCIATE_AC;
    uint32_t length = be32(pdu + 2);
    if ((size_t)length != size - 6) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "A-ASSOCIATE PDU length field %u, but %zu bytes "
                       "follow the header",
                       length, size - 6);
        return false;
    }
    /* PS3.8 9.3.2: protocol version bit 0 must be set. */
    if ((be16(pdu + 6) & 1) == 0) {
        nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "bad PDU",
                       "protocol version 0x%04x does not include version 1",
                       be16(pdu + 6));
        return false;
    }
    copy_ae(out->called_ae, pdu + 10);
    copy_ae(out->calling_ae, pdu + 26);
    size_t pos = 74;
    bool have_app = false;
    while (pos < size) {
        if (size - pos < 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "item header at offset %zu truncated", pos);
            return false;
        }
        uint8_t item = pdu[pos];
        size_t len = be16(pdu + pos + 2);
        if (len > size - pos - 4) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                           "item 0x%02x at offset %zu: length %zu exceeds "
                           "the remaining %zu bytes",
                           item, pos, len, size - pos - 4);
            return false;
        }
        const uint8_t *v = pdu + pos + 4;
        if (item == 0x10) {
            if (!copy_uid(error, out->application_context, v, len, pos,
                          "application context"))
                return false;
            have_app = true;
        } else if ((item == 0x20 && !is_ac) || (item == 0x21 && is_ac)) {
            if (out->n_contexts >= NOVA_NET_MAX_CONTEXTS) {
                nova_error_set(error, NOVA_ERROR_RANGE, "bad PDU",
                               "more than %d presentation contexts",
                               NOVA_NET_MAX_CONTEXTS);
                return false;
            }
            if (!parse_context(error, v, len, pos + 4, is_ac,
                               &out->contexts[out->n_contexts]))
                return false;
            out->n_contexts++;
        } else if (item == 0x50) {
            if (!parse_user_info(error, v, len, pos + 4, is_ac, out))
                return false;
        }
        pos += 4 + len;
    }
    if (!have_app) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "A-ASSOCIATE without an application context item");
        return false;
    }
    if (out->n_contexts == 0) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad PDU",
                       "A-ASSOCIATE without a presentation context");
        return false;
    }
    return true;
}

/* A growable byte buffer for building PDUs. */
typedef struct {
    uint8_t *data;
    size_t size, cap;
    bool failed;
} Buf;

static uint8_t *buf_grow(NovaError **error, Buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->size + n)
            cap *= 2;
        uint8_t *p = nova_realloc(error, b->data, cap);
        if (!p) {
            b->failed = true;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    uint8_t *p = b->data + b->size;
    b->size += n;
    return p;
}

static void buf_item(NovaError **error, Buf *b, uint8_t type, const void *v,
                     size_t n)
{
    uint8_t *p = buf_grow(error, b, 4 + n);
    if (!p)
        return;
    p[0] = type;
    p[1] = 0;
    put16(p + 2, (uint16_t)n);
    if (n)
        memcpy(p + 4, v, n);
}

static void put_ae(uint8_t *p, const char *ae)
{
    memset(p, ' ', 16);
    size_t n = strlen(ae);
    memcpy(p, ae, n > 16 ? 16 : n);
}

uint8_t *nova_net_build_associate(NovaError **error, uint8_t type,
                                  const NovaAssociateInfo *info,
                                  size_t *size_out)
{
    Buf b = {0};
    uint8_t *h = buf_grow(error, &b, 74);
    if (!h)
        return NULL;
    memset(h, 0, 74);
    h[0] = type;
    put16(h + 6, 1);
    put_ae(h + 10, info->called_ae);
    put_ae(h + 26, info->calling_ae);
    const char *app = info->application_context[0]
                          ? info->application_context
                          : NOVA_UID_APPLICATION_CONTEXT;
    buf_item(error, &b, 0x10, app, strlen(app));
    for (size_t i = 0; i < info->n_contexts; i++) {
        const NovaNetContext *c = &info->contexts[i];
        size_t start = b.size;
        uint8_t *p = buf_grow(error, &b, 8);
        if (!p)
            break;
        p[0] = type == NOVA_PDU_ASSOCIATE_RQ ? 0x20 : 0x21;
        p[1] = 0;
        p[4] = c->id;
        p[5] = 0;
        p[6] = type == NOVA_PDU_ASSOCIATE_RQ ? 0 : c->result;
        p[7] = 0;
        if (type == NOVA_PDU_ASSOCIATE_RQ) {
            buf_item(error, &b, 0x30, c->abstract_syntax,
                     strlen(c->abstract_syntax));
            for (size_t t = 0; t < c->n_transfer_syntaxes; t++)
                buf_item(error, &b, 0x40, c->transfer_syntaxes[t],
                         strlen(c->transfer_syntaxes[t]));
        } else {
            /* PS3.8 9.3.3.2: the transfer syntax sub-item is present
             * whatever the result, but not significant unless accepted. */
            const char *ts = c->n_transfer_syntaxes ? c->transfer_syntaxes[0]
                                                    : NOVA_UID_IMPLICIT_LE;
            buf_item(error, &b, 0x40, ts, strlen(ts));
        }
        if (!b.failed)
            put16(b.data + start + 2, (uint16_t)(b.size - start - 4));
    }
    size_t ui = b.size;
    if (buf_grow(error, &b, 4)) {
        b.data[ui] = 0x50;
        b.data[ui + 1] = 0;
        uint8_t ml[4];
        put32(ml, info->max_pdu_length);
        buf_item(error, &b, 0x51, ml, 4);
        const char *cls = info->implementation_class_uid[0]
                              ? info->implementation_class_uid
                              : NOVA_IMPLEMENTATION_CLASS_UID;
        buf_item(error, &b, 0x52, cls, strlen(cls));
        const char *ver = info->implementation_version[0]
                              ? info->implementation_version
                              : NOVA_IMPLEMENTATION_VERSION;
        buf_item(error, &b, 0x55, ver, strlen(ver));
        if (type == NOVA_PDU_ASSOCIATE_AC &&
            info->user_identity_response_requested) {
            /* PS3.7 D.3.3.7.2: an empty server response. */
            uint8_t zero[2] = {0, 0};
            buf_item(error, &b, 0x59, zero, 2);
        }
        if (!b.failed)
            put16(b.data + ui + 2, (uint16_t)(b.size - ui - 4));
    }
    if (b.failed) {
        nova_free(b.data);
        return NULL;
    }
    put32(b.data + 2, (uint32_t)(b.size - 6));
    *size_out = b.size;
    return b.data;
}

/* ------------------------------------------------------- command sets */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void copy_text(char *out, size_t cap, const uint8_t *v, size_t n)
{
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == 0))
        n--;
    size_t b = 0;
    while (b < n && v[b] == ' ')
        b++;
    size_t m = n - b < cap - 1 ? n - b : cap - 1;
    for (size_t i = 0; i < m; i++)
        out[i] = (v[b + i] >= 0x20 && v[b + i] < 0x7f) ? (char)v[b + i] : '?';
    out[m] = '\0';
}

bool nova_dimse_parse_command(NovaError **error, const uint8_t *bytes,
                              size_t size, NovaDimseCommand *out)
{
    memset(out, 0, sizeof *out);
    bool have_field = false;
    size_t pos = 0;
    while (pos < size) {
        if (size - pos < 8) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                           "element header at offset %zu truncated", pos);
            return false;
        }
        uint16_t group = le16(bytes + pos);
        uint16_t elem = le16(bytes + pos + 2);
        uint32_t len = le32(bytes + pos + 4);
        if (group != 0x0000) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                           "element (%04x,%04x) at offset %zu is outside "
                           "group 0000",
                           group, elem, pos);
            return false;
        }
        if (len > size - pos - 8) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                           "element (0000,%04x) at offset %zu: length %u "
                           "exceeds the remaining %zu bytes",
                           elem, pos, len, size - pos - 8);
            return false;
        }
        const uint8_t *v = bytes + pos + 8;
        bool us = elem == 0x0100 || elem == 0x0110 || elem == 0x0120 ||
                  elem == 0x0700 || elem == 0x0800 || elem == 0x0900 ||
                  elem == 0x1031;
        if (us && len != 2) {
            nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                           "element (0000,%04x) at offset %zu: US of "
                           "length %u",
                           elem, pos, len);
            return false;
        }
        if (elem == 0x0000) {
            /* PS3.7 E.1: the group length counts the bytes after it; a
             * command set cut at an element boundary is caught here. */
            if (len != 4 || pos != 0 || le32(v) != size - 12) {
                nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                               "CommandGroupLength at offset %zu does not "
                               "match the %zu bytes that follow",
                               pos, size >= 12 ? size - 12 : 0);
                return false;
            }
        }
        switch (elem) {
        case 0x0002:
            if (!copy_uid(error, out->affected_sop_class, v, len, pos,
                          "Affected SOP Class UID"))
                return false;
            break;
        case 0x1000:
            if (!copy_uid(error, out->affected_sop_instance, v, len, pos,
                          "Affected SOP Instance UID"))
                return false;
            break;
        case 0x0100:
            out->command_field = le16(v);
            have_field = true;
            break;
        case 0x0110: out->message_id = le16(v); break;
        case 0x0120: out->message_id_responded = le16(v); break;
        case 0x0700: out->priority = le16(v); break;
        case 0x0800: out->data_set_type = le16(v); break;
        case 0x0900:
            out->status = le16(v);
            out->has_status = true;
            break;
        case 0x0902:
            copy_text(out->error_comment, sizeof out->error_comment, v, len);
            break;
        case 0x1030:
            copy_text(out->move_originator_ae, sizeof out->move_originator_ae,
                      v, len);
            break;
        case 0x1031: out->move_originator_id = le16(v); break;
        default: break;
        }
        pos += 8 + len;
    }
    if (!have_field) {
        nova_error_set(error, NOVA_ERROR_PARSE, "bad command set",
                       "no Command Field (0000,0100)");
        return false;
    }
    return true;
}

static void cmd_put(NovaError **error, Buf *b, uint16_t elem, const void *v,
                    size_t n, uint8_t pad)
{
    size_t padded = n + (n & 1);
    uint8_t *p = buf_grow(error, b, 8 + padded);
    if (!p)
        return;
    p[0] = 0;
    p[1] = 0;
    p[2] = (uint8_t)elem;
    p[3] = (uint8_t)(elem >> 8);
    p[4] = (uint8_t)padded;
    p[5] = (uint8_t)(padded >> 8);
    p[6] = (uint8_t)(padded >> 16);
    p[7] = (uint8_t)(padded >> 24);
    memcpy(p + 8, v, n);
    if (padded != n)
        p[8 + n] = pad;
}

static void cmd_us(NovaError **error, Buf *b, uint16_t elem, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    cmd_put(error, b, elem, x, 2, 0);
}

uint8_t *nova_dimse_encode_command(NovaError **error, const NovaDimseCommand *c,
                                   size_t *size_out)
{
    Buf b = {0};
    /* Group length first; its value is filled in at the end. */
    uint8_t zero[4] = {0};
    cmd_put(error, &b, 0x0000, zero, 4, 0);
    bool rsp = (c->command_field & 0x8000) != 0;
    if (c->affected_sop_class[0])
        cmd_put(error, &b, 0x0002, c->affected_sop_class,
                strlen(c->affected_sop_class), 0);
    cmd_us(error, &b, 0x0100, c->command_field);
    if (rsp)
        cmd_us(error, &b, 0x0120, c->message_id_responded);
    else
        cmd_us(error, &b, 0x0110, c->message_id);
    if (c->command_field == NOVA_DIMSE_C_STORE_RQ)
        cmd_us(error, &b, 0x0700, c->priority);
    cmd_us(error, &b, 0x0800, c->data_set_type);
    if (rsp)
        cmd_us(error, &b, 0x0900, c->status);
    if (rsp && c->error_comment[0])
        cmd_put(error, &b, 0x0902, c->error_comment, strlen(c->error_comment),
                ' ');
    if (c->affected_sop_instance[0])
        cmd_put(error, &b, 0x1000, c->affected_sop_instance,
                strlen(c->affected_sop_instance), 0);
    if (b.failed) {
        nova_free(b.data);
        return NULL;
    }
    uint32_t gl = (uint32_t)(b.size - 12);
    b.data[8] = (uint8_t)gl;
    b.data[9] = (uint8_t)(gl >> 8);
    b.data[10] = (uint8_t)(gl >> 16);
    b.data[11] = (uint8_t)(gl >> 24);
    *size_out = b.size;
    return b.data;
}
