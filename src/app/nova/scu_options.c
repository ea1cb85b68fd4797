/*
 * scu_options.c - the options `nova echo` and `nova send` share as DICOM
 * service users: calling and called AE titles, the timeout, and TLS.
 */
#include "commands.h"

#include <stdlib.h>
#include <string.h>

int nova_app_scu_option(const char *command, int argc, char **argv, int *i,
                        NovaScuOptions *o)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--tls")) {
        o->use_tls = true;
        return 1;
    }
    static const char *const with_value[] = {"--tls-ca",     "--tls-cert",
                                             "--tls-key",    "--aet",
                                             "--called-aet", "--timeout"};
    size_t k = 0, n = sizeof with_value / sizeof *with_value;
    while (k < n && strcmp(a, with_value[k]) != 0)
        k++;
    if (k == n)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "nova %s: %s needs a value\n", command, a);
        return -1;
    }
    const char *v = argv[++*i];
    switch (k) {
    case 0:
        o->tls_ca = v;
        o->use_tls = true;
        break;
    case 1:
        o->tls_cert = v;
        o->use_tls = true;
        break;
    case 2:
        o->tls_key = v;
        o->use_tls = true;
        break;
    case 3: o->aet = v; break;
    case 4: o->called = v; break;
    default: o->timeout_s = strtol(v, NULL, 10); break;
    }
    return 1;
}
