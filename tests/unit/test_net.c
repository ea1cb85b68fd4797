/*
 * test_net.c - the upper layer and DIMSE parsers/builders (nova/net.h)
 * against PDUs captured from DCMTK 3.6.7: echoscu's A-ASSOCIATE-RQ and
 * storescp's A-ASSOCIATE-AC to it (bytes below, captured on 127.0.0.1).
 * Nova parses them to the values DCMTK sent, and rebuilds them byte for
 * byte from the parsed values.  Every truncation and every one-byte
 * corruption of them is parsed without a crash (run under ASan/UBSan in
 * CI), and truncations are errors.  Command sets round-trip and their
 * group length equals the bytes that follow it (PS3.7 6.3.1).  The
 * provider reads an association written in one piece (every PDU in one
 * segment) and the same bytes one at a time alike, a 40,000-byte dataset
 * included.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <stdio.h>

#include "../fuzz/fuzz_net_one.h"
#include "nova/net.h"
#include "test.h"

/* echoscu -aet ECHOSCU -aec NOVA (DCMTK 3.6.7, Debian 12). */
static const uint8_t dcmtk_echoscu_rq[] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0xcd, 0x00, 0x01, 0x00, 0x00, 0x4e, 0x4f,
    0x56, 0x41, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x45, 0x43, 0x48, 0x4f, 0x53, 0x43, 0x55, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x15, 0x31, 0x2e, 0x32, 0x2e, 0x38, 0x34,
    0x30, 0x2e, 0x31, 0x30, 0x30, 0x30, 0x38, 0x2e, 0x33, 0x2e, 0x31, 0x2e,
    0x31, 0x2e, 0x31, 0x20, 0x00, 0x00, 0x2e, 0x01, 0x00, 0xff, 0x00, 0x30,
    0x00, 0x00, 0x11, 0x31, 0x2e, 0x32, 0x2e, 0x38, 0x34, 0x30, 0x2e, 0x31,
    0x30, 0x30, 0x30, 0x38, 0x2e, 0x31, 0x2e, 0x31, 0x40, 0x00, 0x00, 0x11,
    0x31, 0x2e, 0x32, 0x2e, 0x38, 0x34, 0x30, 0x2e, 0x31, 0x30, 0x30, 0x30,
    0x38, 0x2e, 0x31, 0x2e, 0x32, 0x50, 0x00, 0x00, 0x3a, 0x51, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x40, 0x00, 0x52, 0x00, 0x00, 0x1b, 0x31, 0x2e, 0x32,
    0x2e, 0x32, 0x37, 0x36, 0x2e, 0x30, 0x2e, 0x37, 0x32, 0x33, 0x30, 0x30,
    0x31, 0x30, 0x2e, 0x33, 0x2e, 0x30, 0x2e, 0x33, 0x2e, 0x36, 0x2e, 0x37,
    0x55, 0x00, 0x00, 0x0f, 0x4f, 0x46, 0x46, 0x49, 0x53, 0x5f, 0x44, 0x43,
    0x4d, 0x54, 0x4b, 0x5f, 0x33, 0x36, 0x37};
static const uint8_t dcmtk_storescp_ac[] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x4e, 0x4f,
    0x56, 0x41, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x45, 0x43, 0x48, 0x4f, 0x53, 0x43, 0x55, 0x20, 0x20, 0x20,
    0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x15, 0x31, 0x2e, 0x32, 0x2e, 0x38, 0x34,
    0x30, 0x2e, 0x31, 0x30, 0x30, 0x30, 0x38, 0x2e, 0x33, 0x2e, 0x31, 0x2e,
    0x31, 0x2e, 0x31, 0x21, 0x00, 0x00, 0x19, 0x01, 0x00, 0x00, 0x00, 0x40,
    0x00, 0x00, 0x11, 0x31, 0x2e, 0x32, 0x2e, 0x38, 0x34, 0x30, 0x2e, 0x31,
    0x30, 0x30, 0x30, 0x38, 0x2e, 0x31, 0x2e, 0x32, 0x50, 0x00, 0x00, 0x3a,
    0x51, 0x00, 0x00, 0x04, 0x00, 0x00, 0x40, 0x00, 0x52, 0x00, 0x00, 0x1b,
    0x31, 0x2e, 0x32, 0x2e, 0x32, 0x37, 0x36, 0x2e, 0x30, 0x2e, 0x37, 0x32,
    0x33, 0x30, 0x30, 0x31, 0x30, 0x2e, 0x33, 0x2e, 0x30, 0x2e, 0x33, 0x2e,
    0x36, 0x2e, 0x37, 0x55, 0x00, 0x00, 0x0f, 0x4f, 0x46, 0x46, 0x49, 0x53,
    0x5f, 0x44, 0x43, 0x4d, 0x54, 0x4b, 0x5f, 0x33, 0x36, 0x37};

static void test_parse_dcmtk_rq(void)
{
    NovaAssociateInfo *info = calloc(1, sizeof *info);
    NovaError *error = NULL;
    CHECK(nova_net_parse_associate(&error, dcmtk_echoscu_rq,
                                   sizeof dcmtk_echoscu_rq, info));
    CHECK(error == NULL);
    CHECK(strcmp(info->called_ae, "NOVA") == 0);
    CHECK(strcmp(info->calling_ae, "ECHOSCU") == 0);
    CHECK(strcmp(info->application_context, NOVA_UID_APPLICATION_CONTEXT) == 0);
    CHECK_EQ_INT(info->max_pdu_length, 16384);
    CHECK(strcmp(info->implementation_class_uid,
                 "1.2.276.0.7230010.3.0.3.6.7") == 0);
    CHECK(strcmp(info->implementation_version, "OFFIS_DCMTK_367") == 0);
    CHECK_EQ_INT(info->n_contexts, 1);
    CHECK_EQ_INT(info->contexts[0].id, 1);
    CHECK(strcmp(info->contexts[0].abstract_syntax, NOVA_UID_VERIFICATION) ==
          0);
    CHECK_EQ_INT(info->contexts[0].n_transfer_syntaxes, 1);
    CHECK(strcmp(info->contexts[0].transfer_syntaxes[0],
                 NOVA_UID_IMPLICIT_LE) == 0);
    CHECK(!info->user_identity_offered);

    /* Rebuilt from the parsed values: DCMTK's bytes exactly. */
    size_t n = 0;
    uint8_t *built =
        nova_net_build_associate(&error, NOVA_PDU_ASSOCIATE_RQ, info, &n);
    CHECK(built != NULL);
    CHECK_EQ_INT(n, sizeof dcmtk_echoscu_rq);
    /* PS3.8 9.3.2.2: byte 7 of the presentation context item is
     * reserved ("sent as 00H, not tested"); DCMTK sends FFH there. */
    uint8_t expected[sizeof dcmtk_echoscu_rq];
    memcpy(expected, dcmtk_echoscu_rq, sizeof expected);
    CHECK_EQ_INT(expected[99], 0x20);
    expected[99 + 6] = 0;
    CHECK(built && memcmp(built, expected, n) == 0);
    nova_free(built);
    free(info);
}

static void test_parse_dcmtk_ac(void)
{
    NovaAssociateInfo *info = calloc(1, sizeof *info);
    NovaError *error = NULL;
    CHECK(nova_net_parse_associate(&error, dcmtk_storescp_ac,
                                   sizeof dcmtk_storescp_ac, info));
    CHECK_EQ_INT(info->max_pdu_length, 16384);
    CHECK_EQ_INT(info->n_contexts, 1);
    CHECK_EQ_INT(info->contexts[0].id, 1);
    CHECK_EQ_INT(info->contexts[0].result, NOVA_PC_ACCEPTANCE);
    CHECK(strcmp(info->contexts[0].transfer_syntaxes[0],
                 NOVA_UID_IMPLICIT_LE) == 0);
    CHECK(strcmp(info->implementation_version, "OFFIS_DCMTK_367") == 0);
    size_t n = 0;
    uint8_t *built =
        nova_net_build_associate(&error, NOVA_PDU_ASSOCIATE_AC, info, &n);
    CHECK_EQ_INT(n, sizeof dcmtk_storescp_ac);
    CHECK(built && memcmp(built, dcmtk_storescp_ac, n) == 0);
    nova_free(built);
    free(info);
}

/* Every prefix is an error (the length field no longer matches); every
 * single-byte corruption parses or fails cleanly. */
static void hostile_variants(const uint8_t *pdu, size_t size)
{
    NovaAssociateInfo *info = calloc(1, sizeof *info);
    uint8_t *copy = malloc(size);
    size_t n_ok = 0;
    for (size_t k = 0; k < size; k++) {
        NovaError *error = NULL;
        memcpy(copy, pdu, k);
        if (nova_net_parse_associate(&error, copy, k, info))
            n_ok++;
        nova_error_free(error);
    }
    CHECK_EQ_INT(n_ok, 0);
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0xff};
    for (size_t k = 0; k < size; k++)
        for (size_t v = 0; v < sizeof values; v++) {
            NovaError *error = NULL;
            memcpy(copy, pdu, size);
            copy[k] = values[v];
            if (!nova_net_parse_associate(&error, copy, size, info))
                CHECK(error != NULL);
            nova_error_free(error);
        }
    free(copy);
    free(info);
}

static void test_hostile_associate(void)
{
    hostile_variants(dcmtk_echoscu_rq, sizeof dcmtk_echoscu_rq);
    hostile_variants(dcmtk_storescp_ac, sizeof dcmtk_storescp_ac);
}

static void test_build_parse_many(void)
{
    NovaAssociateInfo *rq = calloc(1, sizeof *rq);
    NovaAssociateInfo *back = calloc(1, sizeof *back);
    NovaError *error = NULL;
    strcpy(rq->called_ae, "PACS");
    strcpy(rq->calling_ae, "NOVA");
    rq->max_pdu_length = 65536;
    rq->n_contexts = NOVA_NET_MAX_CONTEXTS;
    for (size_t i = 0; i < rq->n_contexts; i++) {
        NovaNetContext *c = &rq->contexts[i];
        c->id = (uint8_t)(2 * i + 1);
        snprintf(c->abstract_syntax, 65, "1.2.840.10008.5.1.4.1.1.%zu", i);
        c->n_transfer_syntaxes = NOVA_NET_MAX_TS_PER_CONTEXT;
        for (size_t t = 0; t < c->n_transfer_syntaxes; t++)
            snprintf(c->transfer_syntaxes[t], 65, "1.2.840.10008.1.2.4.%zu",
                     50 + t);
    }
    size_t n = 0;
    uint8_t *pdu =
        nova_net_build_associate(&error, NOVA_PDU_ASSOCIATE_RQ, rq, &n);
    CHECK(pdu != NULL);
    CHECK(nova_net_parse_associate(&error, pdu, n, back));
    CHECK(error == NULL);
    CHECK_EQ_INT(back->n_contexts, NOVA_NET_MAX_CONTEXTS);
    CHECK_EQ_INT(back->max_pdu_length, 65536);
    CHECK(strcmp(back->called_ae, "PACS") == 0);
    CHECK(strcmp(back->implementation_class_uid,
                 NOVA_IMPLEMENTATION_CLASS_UID) == 0);
    CHECK(memcmp(back->contexts, rq->contexts, sizeof rq->contexts) == 0);
    nova_free(pdu);
    free(rq);
    free(back);
}

static void test_command_roundtrip(void)
{
    NovaDimseCommand c = {0}, back;
    NovaError *error = NULL;
    c.command_field = NOVA_DIMSE_C_STORE_RQ;
    c.message_id = 7;
    c.priority = 0;
    c.data_set_type = 0;
    strcpy(c.affected_sop_class, "1.2.840.10008.5.1.4.1.1.2");
    strcpy(c.affected_sop_instance, "1.2.3.4.5");
    size_t n = 0;
    uint8_t *bytes = nova_dimse_encode_command(&error, &c, &n);
    CHECK(bytes != NULL);
    /* PS3.7 E.1: (0000,0000) UL, length 4, value = bytes after it. */
    CHECK(bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0 && bytes[3] == 0);
    uint32_t gl = (uint32_t)bytes[8] | (uint32_t)bytes[9] << 8 |
                  (uint32_t)bytes[10] << 16 | (uint32_t)bytes[11] << 24;
    CHECK_EQ_INT(gl, n - 12);
    CHECK_EQ_INT(n % 2, 0);
    CHECK(nova_dimse_parse_command(&error, bytes, n, &back));
    CHECK_EQ_INT(back.command_field, NOVA_DIMSE_C_STORE_RQ);
    CHECK_EQ_INT(back.message_id, 7);
    CHECK(strcmp(back.affected_sop_class, c.affected_sop_class) == 0);
    /* "1.2.3.4.5" is odd: padded with one NUL, removed when parsed. */
    CHECK(strcmp(back.affected_sop_instance, "1.2.3.4.5") == 0);
    CHECK(!back.has_status);
    /* Truncations: an error whenever an element is cut. */
    size_t n_ok = 0;
    for (size_t k = 1; k < n; k++) {
        NovaError *e = NULL;
        if (nova_dimse_parse_command(&e, bytes, k, &back))
            n_ok++;
        nova_error_free(e);
    }
    CHECK_EQ_INT(n_ok, 0);
    nova_free(bytes);

    NovaDimseCommand r = {0};
    r.command_field = NOVA_DIMSE_C_STORE_RSP;
    r.message_id_responded = 7;
    r.data_set_type = NOVA_DIMSE_NO_DATASET;
    r.status = NOVA_STATUS_DATASET_MISMATCH;
    strcpy(r.error_comment, "odd");
    bytes = nova_dimse_encode_command(&error, &r, &n);
    CHECK(nova_dimse_parse_command(&error, bytes, n, &back));
    CHECK(back.has_status);
    CHECK_EQ_INT(back.status, 0xA900);
    CHECK_EQ_INT(back.message_id_responded, 7);
    CHECK(strcmp(back.error_comment, "odd") == 0);
    nova_free(bytes);
}

static void test_storage_classes(void)
{
    CHECK(nova_net_is_storage_sop_class("1.2.840.10008.5.1.4.1.1.2"));
    CHECK(nova_net_is_storage_sop_class("1.2.840.10008.5.1.4.1.1.88.22"));
    CHECK(!nova_net_is_storage_sop_class("1.2.840.10008.1.1"));
    CHECK(!nova_net_is_storage_sop_class("1.2.840.10008.5.1.4.1.1."));
    CHECK(!nova_net_is_storage_sop_class("1.2.840.10008.5.1.4.1.2.2.1"));
}

/* Explicit -> implicit VR LE on hand-made bytes (PS3.5 7.1.2, 7.1.3): a
 * short-VR element, an OB (12-byte header), and a defined-length sequence
 * whose item holds a long-VR element, so both lengths shrink by 4; an
 * undefined-length sequence keeps its delimiters. */
static void test_explicit_to_implicit(void)
{
    static const uint8_t head[] = {
        /* (0008,0060) CS "CT": 8-byte header */
        0x08, 0x00, 0x60, 0x00, 'C', 'S', 2, 0, 'C', 'T',
        /* (0009,0010) OB length 2: 12-byte header */
        0x09, 0x00, 0x10, 0x00, 'O', 'B', 0, 0, 2, 0, 0, 0, 0xAA, 0xBB};
    uint8_t buf[256];
    size_t n = sizeof head;
    memcpy(buf, head, n);
    /* (0008,1140) SQ of defined length: one item with a UI (short header)
     * and a UT (long header). */
    static const uint8_t ui[] = {0x08, 0x00, 0x55, 0x11, 'U', 'I',
                                 4,    0,    '1',  '.',  '2', 0};
    static const uint8_t ut[] = {0x08, 0x00, 0x19, 0x01, 'U', 'T', 0,
                                 0,    2,    0,    0,    0,   'h', 'i'};
    size_t item_len = sizeof ui + sizeof ut; /* 26 */
    size_t sq_len = 8 + item_len;            /* 34 */
    const uint8_t sq[] = {0x08,
                          0x00,
                          0x40,
                          0x11,
                          'S',
                          'Q',
                          0,
                          0,
                          (uint8_t)sq_len,
                          0,
                          0,
                          0,
                          0xFE,
                          0xFF,
                          0x00,
                          0xE0,
                          (uint8_t)item_len,
                          0,
                          0,
                          0};
    memcpy(buf + n, sq, sizeof sq);
    n += sizeof sq;
    memcpy(buf + n, ui, sizeof ui);
    n += sizeof ui;
    memcpy(buf + n, ut, sizeof ut);
    n += sizeof ut;
    /* (0040,0260) SQ undefined length, one undefined item, empty. */
    static const uint8_t undef[] = {
        0x40, 0x00, 0x60, 0x02, 'S',  'Q',  0,    0,    0xFF, 0xFF, 0xFF, 0xFF,
        0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x0D, 0xE0,
        0,    0,    0,    0,    0xFE, 0xFF, 0xDD, 0xE0, 0,    0,    0,    0};
    memcpy(buf + n, undef, sizeof undef);
    n += sizeof undef;

    static const uint8_t expected[] = {
        0x08, 0x00, 0x60, 0x00, 2, 0, 0, 0, 'C', 'T', 0x09, 0x00, 0x10, 0x00, 2,
        0, 0, 0, 0xAA, 0xBB,
        /* SQ: item 8 + UI (8+4) + UT (8+2) = 30 */
        0x08, 0x00, 0x40, 0x11, 30, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0, 22, 0, 0,
        0, 0x08, 0x00, 0x55, 0x11, 4, 0, 0, 0, '1', '.', '2', 0, 0x08, 0x00,
        0x19, 0x01, 2, 0, 0, 0, 'h', 'i', 0x40, 0x00, 0x60, 0x02, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF,
        0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0};
    NovaError *error = NULL;
    uint8_t *out = NULL;
    size_t out_size = 0;
    CHECK(nova_dimse_explicit_to_implicit(&error, buf, n, &out, &out_size));
    CHECK(error == NULL);
    CHECK_EQ_INT(out_size, sizeof expected);
    CHECK(out && out_size == sizeof expected &&
          memcmp(out, expected, sizeof expected) == 0);
    nova_free(out);
    /* Every truncation is an error, never a read past the end. */
    size_t n_ok = 0;
    for (size_t k = 1; k < n; k++) {
        NovaError *e = NULL;
        uint8_t *o = NULL;
        size_t os = 0;
        if (nova_dimse_explicit_to_implicit(&e, buf, k, &o, &os))
            n_ok++;
        nova_free(o);
        nova_error_free(e);
    }
    /* Cuts exactly after the CS, the OB and the defined sequence leave
     * complete datasets. */
    CHECK_EQ_INT(n_ok, 3);
}

/* The fuzz target's seed corpus through the same entry point: PDUs,
 * command sets and whole conversations, hostile ones included. */
static void test_corpus_replay(void)
{
    const char *dir = NOVA_SOURCE_DIR "/tests/fuzz/corpus-net";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    size_t n_files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (!f)
            continue;
        static uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fuzz_net_one(buf, n);
        n_files++;
    }
    closedir(d);
    CHECK(n_files >= 20);
}

/* ----------------------------------------------- provider read path */

enum { BIG = 40000 };

static uint16_t check_store(void *user, const char *calling_ae,
                            const char *sop_class, const char *sop_instance,
                            const char *ts, const uint8_t *dataset, size_t size,
                            char comment[65])
{
    int *bad = user;
    bool ok = size == BIG && strcmp(sop_instance, "1.2.3") == 0;
    for (size_t i = 0; ok && i < size; i++)
        ok = dataset[i] == (uint8_t)(i * 7 + 1);
    *bad += !ok;
    return NOVA_STATUS_SUCCESS;
}

typedef struct {
    int fd;
    NovaScpConfig cfg;
    NovaScpReport report;
    bool ok;
} Served;

static void *serve_main(void *arg)
{
    Served *sv = arg;
    NovaError *error = NULL;
    sv->ok = nova_scp_serve_association(&error, sv->fd, &sv->cfg, false,
                                        &sv->report);
    nova_error_free(error);
    return NULL;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append one P-DATA-TF with one PDV on context 1. */
static size_t put_pdata(uint8_t *out, const uint8_t *v, size_t n, bool cmd)
{
    out[0] = 0x04;
    out[1] = 0;
    put_be32(out + 2, (uint32_t)(n + 6));
    put_be32(out + 6, (uint32_t)(n + 2));
    out[10] = 1;
    out[11] = (uint8_t)((cmd ? 1 : 0) | 2);
    memcpy(out + 12, v, n);
    return n + 12;
}

/* echoscu's A-ASSOCIATE-RQ, a C-ECHO, a C-STORE of BIG bytes on the
 * Verification context (the provider reads the dataset before it checks
 * the class) and an A-RELEASE-RQ, written all at once or a byte at a time;
 * the answers are an A-ASSOCIATE-AC, two P-DATA-TF and an A-RELEASE-RP. */
static void serve_written(bool one_byte)
{
    NovaError *error = NULL;
    size_t cap = sizeof dcmtk_echoscu_rq + BIG + 1024, n = 0;
    uint8_t *w = malloc(cap);
    memcpy(w, dcmtk_echoscu_rq, sizeof dcmtk_echoscu_rq);
    n = sizeof dcmtk_echoscu_rq;
    NovaDimseCommand c = {0};
    c.command_field = NOVA_DIMSE_C_ECHO_RQ;
    c.message_id = 1;
    c.data_set_type = NOVA_DIMSE_NO_DATASET;
    strcpy(c.affected_sop_class, "1.2.840.10008.1.1");
    size_t k = 0;
    uint8_t *bytes = nova_dimse_encode_command(&error, &c, &k);
    CHECK(bytes != NULL);
    n += put_pdata(w + n, bytes, k, true);
    nova_free(bytes);
    c.command_field = NOVA_DIMSE_C_STORE_RQ;
    c.message_id = 2;
    c.data_set_type = 0;
    strcpy(c.affected_sop_instance, "1.2.3");
    bytes = nova_dimse_encode_command(&error, &c, &k);
    CHECK(bytes != NULL);
    n += put_pdata(w + n, bytes, k, true);
    nova_free(bytes);
    uint8_t *big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (uint8_t)(i * 7 + 1);
    n += put_pdata(w + n, big, BIG, false);
    free(big);
    static const uint8_t release[10] = {0x05, 0, 0, 0, 0, 4};
    memcpy(w + n, release, sizeof release);
    n += sizeof release;

    int sv_fd[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv_fd) == 0);
    int bad = 0;
    Served sv = {.fd = sv_fd[0]};
    sv.cfg.ae_title = "NOVA";
    nova_net_options_init(&sv.cfg.net);
    sv.cfg.net.artim_timeout_ms = 10000;
    sv.cfg.net.idle_timeout_ms = 10000;
    sv.cfg.store = check_store;
    sv.cfg.store_user = &bad;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, serve_main, &sv) == 0);
    for (size_t i = 0; i < n;) {
        ssize_t m = write(sv_fd[1], w + i, one_byte ? 1 : n - i);
        CHECK(m > 0);
        if (m <= 0)
            break;
        i += (size_t)m;
    }
    /* Read the answers until the provider closes. */
    uint8_t r[4096];
    size_t got = 0;
    for (;;) {
        ssize_t m = read(sv_fd[1], r + got, sizeof r - got);
        if (m <= 0)
            break;
        got += (size_t)m;
    }
    pthread_join(t, NULL);
    close(sv_fd[1]);
    free(w);
    CHECK(sv.ok);
    CHECK_EQ_INT(sv.report.n_echo, 1);
    CHECK_EQ_INT(sv.report.n_stored, 1);
    CHECK_EQ_INT(bad, 0);
    static const uint8_t types[4] = {0x02, 0x04, 0x04, 0x06};
    size_t pos = 0;
    for (int i = 0; i < 4; i++) {
        CHECK(pos + 6 <= got);
        if (pos + 6 > got)
            break;
        CHECK_EQ_INT(r[pos], types[i]);
        pos += 6 + ((size_t)r[pos + 2] << 24 | (size_t)r[pos + 3] << 16 |
                    (size_t)r[pos + 4] << 8 | r[pos + 5]);
    }
    CHECK_EQ_INT(pos, got);
}

static void test_serve_coalesced(void)
{
    serve_written(false);
}

static void test_serve_trickled(void)
{
    serve_written(true);
}

int main(void)
{
    RUN(test_parse_dcmtk_rq);
    RUN(test_parse_dcmtk_ac);
    RUN(test_hostile_associate);
    RUN(test_build_parse_many);
    RUN(test_command_roundtrip);
    RUN(test_storage_classes);
    RUN(test_explicit_to_implicit);
    RUN(test_corpus_replay);
    RUN(test_serve_coalesced);
    RUN(test_serve_trickled);
    return test_done();
}
