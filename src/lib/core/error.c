/*
 * error.c - NovaError: a code, a short summary and a detailed message.
 *
 * The first error set wins (later calls on a set error are ignored) so the
 * innermost, most precise failure reaches the user.  Error objects are
 * allocated with plain malloc, not nova_malloc, so that an injected
 * allocation failure can still be reported.
 */
#include "nova/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct NovaError {
    NovaErrorCode code;
    char *summary;
    char *message;
};

static char *vformat(const char *format, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, format, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, format, ap);
    return s;
}

/* A static fallback for when even the error cannot be allocated. */
static struct NovaError oom_error = {NOVA_ERROR_NOMEM, "out of memory",
                                     "out of memory while reporting an error"};

bool nova_error_setv(NovaError **error, NovaErrorCode code, const char *summary,
                     const char *format, va_list ap)
{
    if (error == NULL || *error != NULL)
        return false;
    NovaError *e = malloc(sizeof *e);
    char *msg = vformat(format, ap);
    char *sum = summary ? strdup(summary) : strdup(nova_error_code_name(code));
    if (!e || !msg || !sum) {
        free(e);
        free(msg);
        free(sum);
        *error = &oom_error;
        return false;
    }
    e->code = code;
    e->summary = sum;
    e->message = msg;
    *error = e;
    return false;
}

bool nova_error_set(NovaError **error, NovaErrorCode code, const char *summary,
                    const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    nova_error_setv(error, code, summary, format, ap);
    va_end(ap);
    return false;
}

void nova_error_prefix(NovaError **error, const char *format, ...)
{
    if (error == NULL || *error == NULL || *error == &oom_error)
        return;
    va_list ap;
    va_start(ap, format);
    char *prefix = vformat(format, ap);
    va_end(ap);
    if (!prefix)
        return;
    size_t a = strlen(prefix), b = strlen((*error)->message);
    char *joined = malloc(a + b + 1);
    if (joined) {
        memcpy(joined, prefix, a);
        memcpy(joined + a, (*error)->message, b + 1);
        free((*error)->message);
        (*error)->message = joined;
    }
    free(prefix);
}

NovaErrorCode nova_error_code(const NovaError *error)
{
    return error ? error->code : NOVA_ERROR_NONE;
}

const char *nova_error_code_name(NovaErrorCode code)
{
    switch (code) {
    case NOVA_ERROR_NONE: return "no error";
    case NOVA_ERROR_NOMEM: return "out of memory";
    case NOVA_ERROR_IO: return "i/o error";
    case NOVA_ERROR_PARSE: return "parse error";
    case NOVA_ERROR_UNSUPPORTED: return "unsupported";
    case NOVA_ERROR_INVALID: return "invalid";
    case NOVA_ERROR_NOT_FOUND: return "not found";
    case NOVA_ERROR_RANGE: return "out of range";
    case NOVA_ERROR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

const char *nova_error_summary(const NovaError *error)
{
    return error ? error->summary : "";
}

const char *nova_error_message(const NovaError *error)
{
    return error ? error->message : "";
}

void nova_error_free(NovaError *error)
{
    if (error == NULL || error == &oom_error)
        return;
    free(error->summary);
    free(error->message);
    free(error);
}

void nova_error_clear(NovaError **error)
{
    if (error) {
        nova_error_free(*error);
        *error = NULL;
    }
}
