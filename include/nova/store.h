/*
 * nova/store.h - the durable store of received DICOM instances: files under
 * STORAGE/<study>/<series>/<sop>.dcm, an SQLite index (WAL) of studies,
 * series and instances, and series completion events.
 *
 * An instance is stored when nova_store_put returns true: its Part 10 file
 * (meta group + the dataset exactly as received, so a compressed transfer
 * syntax stays compressed) was written to a temporary file, synced,
 * renamed into place, the directory synced, and then the index row
 * committed.  Only then may the sender be told success: the bytes and the
 * name are durable (power loss included), and no partial file is ever
 * visible under a final name.  Syncs of concurrent puts are grouped.
 *
 * The files are the source of truth; the index (SQLite WAL,
 * synchronous=NORMAL) only ever names durable files, and may lose its
 * last transactions to a power loss.  DIR/.running marks an open store;
 * found at open (the last run crashed), every instance file the index
 * lacks is re-indexed before the store is used.
 *
 * A series is complete when no instance arrived for `complete_after_s`, or
 * when its declared count (Number of Series Related Instances, 0020,1209)
 * is met.  Completion is recorded in the index with its reason and
 * published to an in-process queue (nova_store_wait_completed) that the
 * analysis consumes.  Reopening a store re-reads the index: incomplete
 * series keep their timers from their last received instance.
 *
 * Threads: a NovaStore may be used from any number of threads (one SQLite
 * writer connection behind a mutex; file writes run in parallel).
 */
#ifndef NOVA_STORE_H
#define NOVA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nova/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct NovaStore NovaStore;

typedef struct {
    /* Seconds without a new instance before a series is complete; <= 0
     * turns the timer off (declared counts still complete a series). */
    double complete_after_s;
    /* Implementation class UID / version written in the meta group. */
    const char *implementation_class_uid;
    const char *implementation_version;
} NovaStoreOptions;

void nova_store_options_init(NovaStoreOptions *options);

/* Open (creating as needed) the store in `dir`: the directory, the index
 * DIR/index.sqlite, and a background thread for completion timers.
 * Leftover temporary files from a crash are removed; after a crash (the
 * DIR/.running marker found) files missing from the index are indexed
 * again, which reads every file name in the store.  Files under UID paths
 * that do not parse or do not match their path are logged and left
 * alone.  One opener at a time: a second nova_store_open of the same
 * folder fails (NOVA_ERROR_IO, "in another process") while the first is
 * open.  Close with nova_store_close. */
NovaStore *nova_store_open(NovaError **error, const char *dir,
                           const NovaStoreOptions *options);
/* Stop the completion thread, checkpoint and close the index, and remove
 * the DIR/.running marker (a clean close).  Call only when no put is in
 * progress.  NULL does nothing. */
void nova_store_close(NovaStore *store);

/* Store one received instance.  Errors: NOVA_ERROR_PARSE when the dataset
 * does not parse in `transfer_syntax` (DIMSE C000), NOVA_ERROR_INVALID
 * when it does not match the command (SOP class/instance) or lacks valid
 * Study/Series Instance UIDs (A900), anything else (I/O, memory, index)
 * is a resource failure (A700).  *duplicate is set when the instance was
 * already stored (nothing is rewritten; success).  Thread-safe. */
bool nova_store_put(NovaError **error, NovaStore *store, const char *calling_ae,
                    const char *sop_class, const char *sop_instance,
                    const char *transfer_syntax, const uint8_t *dataset,
                    size_t size, bool *duplicate);

/* Index totals. */
bool nova_store_counts(NovaError **error, NovaStore *store, int64_t *n_studies,
                       int64_t *n_series, int64_t *n_instances);

/* One completed series. */
typedef struct {
    char study_uid[65];
    char series_uid[65];
    int64_t n_instances;
    int64_t declared_instances; /* 0 when the series declared none */
    char reason[16];            /* "timeout" or "declared-count" */
    double completed_at;        /* seconds since the epoch */
} NovaSeriesCompletion;

/* Run the completion timers once at time `now` (seconds since the epoch);
 * the background thread calls this every second.  Returns the number of
 * series completed, or -1 on error. */
int nova_store_check_completion(NovaError **error, NovaStore *store,
                                double now);

/* The queue of completed series: wait up to timeout_ms (0: do not wait,
 * <0: forever) for the next one.  Returns false when none came.
 * Thread-safe; each event is delivered once. */
bool nova_store_wait_completed(NovaStore *store, int timeout_ms,
                               NovaSeriesCompletion *out);

/* The path of a stored instance (caller frees), NULL when absent. */
char *nova_store_instance_path(NovaError **error, NovaStore *store,
                               const char *sop_instance);

#ifdef __cplusplus
}
#endif

#endif
