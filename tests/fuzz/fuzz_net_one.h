/*
 * fuzz_net_one.h - one input through Nova's DICOM network parsers, shared
 * by the libFuzzer target fuzz_net.c and the corpus replay in
 * tests/unit/test_net.c (so `make check` replays tests/fuzz/corpus-net).
 *
 * The first byte picks the entry point: 0 parses the rest as an
 * A-ASSOCIATE-RQ/AC PDU, 1 as a DIMSE command set, 3 re-encodes it from
 * explicit to implicit VR LE (nova_dimse_explicit_to_implicit), anything
 * else feeds the
 * rest as the byte stream of a connection to the provider
 * (nova_scp_serve_association over a socketpair: association setup,
 * P-DATA reassembly, C-ECHO/C-STORE handling, release and abort).  Errors
 * are fine; a crash, sanitizer report, leak or hang is a bug.
 */
#ifndef NOVA_FUZZ_NET_ONE_H
#define NOVA_FUZZ_NET_ONE_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nova/net.h"

static uint16_t fuzz_net_store(void *user, const char *calling_ae,
                               const char *sop_class, const char *sop_instance,
                               const char *ts, const uint8_t *data, size_t size,
                               char comment[65])
{
    (void)user, (void)calling_ae, (void)sop_class, (void)sop_instance;
    (void)ts, (void)comment;
    /* Touch every byte so the sanitizers see the whole dataset. */
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++)
        sum += data[i];
    return sum == 1 ? NOVA_STATUS_COERCION : NOVA_STATUS_SUCCESS;
}

static void fuzz_net_one(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return;
    NovaError *error = NULL;
    if (data[0] == 0) {
        NovaAssociateInfo *info = nova_malloc(NULL, sizeof *info);
        if (info &&
            nova_net_parse_associate(&error, data + 1, size - 1, info)) {
            size_t n = 0;
            uint8_t *pdu =
                nova_net_build_associate(NULL, data[1] == 2 ? 2 : 1, info, &n);
            nova_free(pdu);
        }
        nova_free(info);
    } else if (data[0] == 3) {
        uint8_t *out = NULL;
        size_t n = 0;
        if (nova_dimse_explicit_to_implicit(&error, data + 1, size - 1, &out,
                                            &n))
            nova_free(out);
    } else if (data[0] == 1) {
        NovaDimseCommand c;
        if (nova_dimse_parse_command(&error, data + 1, size - 1, &c)) {
            size_t n = 0;
            nova_free(nova_dimse_encode_command(NULL, &c, &n));
        }
    } else {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return;
        int buf = 1 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        size_t done = 0;
        while (done < size - 1) {
            ssize_t k = write(sv[0], data + 1 + done, size - 1 - done);
            if (k <= 0)
                break;
            done += (size_t)k;
        }
        shutdown(sv[0], SHUT_WR);
        NovaScpConfig cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.ae_title = "NOVA";
        nova_net_options_init(&cfg.net);
        cfg.net.artim_timeout_ms = 200;
        cfg.net.idle_timeout_ms = 200;
        cfg.net.max_message_bytes = 1 << 20;
        cfg.store = fuzz_net_store;
        NovaScpReport report;
        nova_scp_serve_association(&error, sv[1], &cfg, false, &report);
        close(sv[0]);
    }
    nova_error_free(error);
}

#endif
