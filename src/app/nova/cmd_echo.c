/*
 * cmd_echo.c - `nova echo HOST:PORT`: the Verification service as user
 * (PS3.4 A.4, C-ECHO, PS3.7 9.1.5): associate, send one C-ECHO-RQ, check
 * the C-ECHO-RSP status, release.  Exit 0 when the peer answered success.
 */
#include "commands.h"

#include "nova/net.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: nova echo HOST:PORT [--aet AET] [--called-aet AET]"
                 " [--timeout S]\n"
                 "                 [--tls [--tls-ca PEM] [--tls-cert PEM "
                 "--tls-key PEM]]\n"
                 "\n"
                 "Check a DICOM peer with C-ECHO (Verification).\n");
}

int nova_cmd_echo(int argc, char **argv)
{
    const char *target = NULL;
    NovaScuOptions scu = {.aet = "NOVA", .called = "ANY-SCP", .timeout_s = 30};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        int taken = nova_app_scu_option("echo", argc, argv, &i, &scu);
        if (taken < 0)
            return 2;
        if (taken)
            continue;
        if (!target && a[0] != '-') {
            target = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    const char *colon = target ? strrchr(target, ':') : NULL;
    char host[256];
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof host ||
        !end || *end || port <= 0 || port > 65535 || strlen(scu.aet) > 16 ||
        strlen(scu.called) > 16 || scu.timeout_s <= 0) {
        usage(stderr);
        return 2;
    }
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';

    NovaError *error = NULL;
    NovaAssociateInfo *rq = nova_calloc(&error, 1, sizeof *rq);
    if (!rq) {
        nova_app_print_error("echo", error);
        nova_error_free(error);
        return 1;
    }
    snprintf(rq->called_ae, sizeof rq->called_ae, "%s", scu.called);
    snprintf(rq->calling_ae, sizeof rq->calling_ae, "%s", scu.aet);
    rq->n_contexts = 1;
    rq->contexts[0].id = 1;
    snprintf(rq->contexts[0].abstract_syntax, 65, "%s", NOVA_UID_VERIFICATION);
    snprintf(rq->contexts[0].transfer_syntaxes[0], 65, "%s",
             NOVA_UID_IMPLICIT_LE);
    rq->contexts[0].n_transfer_syntaxes = 1;
    NovaNetOptions options;
    nova_net_options_init(&options);
    options.artim_timeout_ms = (int)scu.timeout_s * 1000;
    options.idle_timeout_ms = (int)scu.timeout_s * 1000;
    NovaTls *tls = NULL;
    if (scu.use_tls) {
        tls = nova_tls_create_client(&error, scu.tls_ca, scu.tls_cert,
                                     scu.tls_key);
        if (!tls) {
            nova_app_print_error("echo", error);
            nova_error_free(error);
            nova_free(rq);
            return 1;
        }
        options.tls = tls;
    }
    double t0 = nova_time_now();
    NovaAssociation *assoc =
        nova_association_request(&error, host, (int)port, rq, &options);
    nova_free(rq);
    int rc = 1;
    const NovaNetContext *ctx =
        assoc
            ? nova_association_find_context(assoc, NOVA_UID_VERIFICATION, NULL)
            : NULL;
    if (assoc && !ctx)
        nova_error_set(&error, NOVA_ERROR_UNSUPPORTED, "echo failed",
                       "%s: the peer refused the Verification SOP class",
                       target);
    NovaDimseCommand cmd = {0}, rsp;
    cmd.command_field = NOVA_DIMSE_C_ECHO_RQ;
    cmd.message_id = 1;
    snprintf(cmd.affected_sop_class, 65, "%s", NOVA_UID_VERIFICATION);
    NovaNetEvent ev = NOVA_NET_MESSAGE;
    uint8_t ctx_id = 0, *data = NULL;
    size_t size = 0;
    if (ctx &&
        nova_association_send_message(&error, assoc, ctx->id, &cmd, NULL, 0) &&
        nova_association_receive_message(&error, assoc, &ev, &ctx_id, &rsp,
                                         &data, &size)) {
        nova_free(data);
        if (ev != NOVA_NET_MESSAGE ||
            rsp.command_field != NOVA_DIMSE_C_ECHO_RSP ||
            rsp.message_id_responded != 1 || !rsp.has_status)
            nova_error_set(&error, NOVA_ERROR_PARSE, "echo failed",
                           "%s: no C-ECHO-RSP to message 1", target);
        else if (rsp.status != NOVA_STATUS_SUCCESS)
            nova_error_set(&error, NOVA_ERROR_IO, "echo failed",
                           "%s: C-ECHO status %04X", target, rsp.status);
        else if (nova_association_release(&error, assoc))
            rc = 0;
    }
    if (rc == 0) {
        printf("C-ECHO %s: success (%.1f ms)\n", target,
               (nova_time_now() - t0) * 1000.0);
    } else {
        if (assoc)
            nova_association_abort(assoc, 0, 0);
        nova_app_print_error("echo", error);
    }
    nova_association_destroy(assoc);
    nova_tls_destroy(tls);
    nova_error_free(error);
    return rc;
}
