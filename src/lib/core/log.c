/*
 * log.c - leveled logging to a handler (stderr by default).
 *
 * The level and handler are process configuration, set once at start-up
 * before any thread is started; they are the library's only globals and are
 * never written by library code itself.
 */
#include "nova/core.h"

#include <stdio.h>
#include <time.h>

static NovaLogLevel log_level = NOVA_LOG_WARNING;
static NovaLogHandler log_handler = NULL;
static void *log_user = NULL;

void nova_log_set_level(NovaLogLevel level)
{
    log_level = level;
}

void nova_log_set_handler(NovaLogHandler handler, void *user)
{
    log_handler = handler;
    log_user = user;
}

static const char *level_name(NovaLogLevel level)
{
    switch (level) {
    case NOVA_LOG_ERROR: return "error";
    case NOVA_LOG_WARNING: return "warning";
    case NOVA_LOG_INFO: return "info";
    case NOVA_LOG_DEBUG: return "debug";
    }
    return "log";
}

void nova_log(NovaLogLevel level, const char *format, ...)
{
    if (level > log_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    if (log_handler)
        log_handler(level, buf, log_user);
    else
        fprintf(stderr, "nova: %s: %s\n", level_name(level), buf);
}

const char *nova_version(void)
{
    return NOVA_VERSION_STRING;
}

double nova_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double nova_cpu_time_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
