/*
 * store.c - durable storage of received instances and their SQLite index
 * (see nova/store.h for the contract).
 *
 * Write path (nova_store_put): the Part 10 file is assembled in memory
 * (PS3.10 7.1: 128-byte preamble, "DICM", the File Meta group in explicit
 * VR little endian with its group length, then the dataset bytes as
 * received), parsed once with Nova's reader to check that it is a dataset
 * of the command's SOP class and instance, then written to a temporary
 * file beside its final name (DIR/<study>/<series>/.<sop>.<n>.part) and
 * fdatasync'd, renamed to DIR/<study>/<series>/<sop>.dcm, and the series
 * directory fsync'd.  Only then is the index row committed, and only then
 * may the sender hear success.  A crash at any point leaves either nothing
 * under the final name or a complete file; temporary files are removed
 * when the store is opened after a crash.
 *
 * Group commit: the syncs are paid per batch, not per instance, where
 * they can be.  Each association thread issues its own fdatasync;
 * concurrent ones overlap (a journalling file system such as ext4 joins
 * them into one commit, the block layer merges concurrent cache flushes).
 * Series folders stay open (SeriesDir: openat, renameat and the folder
 * sync go through the descriptor, no path walk per instance), and puts
 * into the same folder share its syncs: one fsync round that starts after
 * a put's rename covers every rename done before it (series_dir_sync).
 * The temporary file is usually an empty one that an earlier put in the
 * folder made before its folder sync (spare_make): on ext4 without a
 * journal, fdatasync of a file created just before also writes the
 * folder's block and inode, two more device writes per instance.
 * Index rows of concurrent associations are committed in one transaction
 * (index_commit).  A single thread syncing a whole batch one file after
 * another was measured slower (bench/README.md, "net"): each sequential
 * call waits for its own flush.
 *
 * The index is the file system's servant: SQLite in WAL mode with
 * synchronous=NORMAL, so a commit waits for no disk; a crash of the
 * process loses nothing (the WAL is in the kernel), a power loss can lose
 * the last transactions.  That is safe because a row is only ever written
 * after its file is durable, and because DIR/.running marks an open store:
 * created durably at open, removed after a clean close has checkpointed
 * the index to disk.  Found at open, it means the last run crashed, and
 * the store walks DIR/<study>/<series>/ and re-indexes every instance file
 * the index lacks (reconcile).  So after any crash every acknowledged
 * instance is on disk and, once the store is open again, in the index.
 *
 * UIDs become path components only after nova_uid_is_valid (digits and
 * dots, PS3.5 9.1), so a hostile UID cannot name "..", "/" or anything else.
 *
 * One SQLite connection (the Debian library: the well-kept choice for a
 * crash-safe index), prepared statements, behind one mutex.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nova/dicom.h"
#include "nova/dicom_write.h"
#include "nova/store.h"

#define TAG_SOP_CLASS NOVA_TAG(0x0008, 0x0016)
#define TAG_SOP_INSTANCE NOVA_TAG(0x0008, 0x0018)
#define TAG_MODALITY NOVA_TAG(0x0008, 0x0060)
#define TAG_PATIENT_ID NOVA_TAG(0x0010, 0x0020)
#define TAG_STUDY_UID NOVA_TAG(0x0020, 0x000D)
#define TAG_SERIES_UID NOVA_TAG(0x0020, 0x000E)
#define TAG_SERIES_RELATED NOVA_TAG(0x0020, 0x1209)

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_FIND_INSTANCE,
    ST_INSERT_STUDY,
    ST_INSERT_SERIES,
    ST_INSERT_INSTANCE,
    ST_BUMP_STUDY,
    ST_BUMP_SERIES,
    ST_DUE,
    ST_COMPLETE,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_BUMP_KNOWN_STUDY,
    ST_COUNT
};

static const char *const statements[ST_COUNT] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SELECT path FROM instances WHERE sop_instance_uid = ?1",
    "INSERT INTO studies(study_uid, patient_id, first_received, "
    "last_received) VALUES (?1, ?2, ?3, ?3) ON CONFLICT(study_uid) DO "
    "UPDATE SET last_received = max(last_received, ?3)",
    "INSERT INTO series(series_uid, study_uid, modality, first_received, "
    "last_received) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(series_uid) DO "
    "NOTHING",
    "INSERT INTO instances(sop_instance_uid, sop_class_uid, series_uid, "
    "transfer_syntax, path, size, calling_ae, received) VALUES "
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "UPDATE studies SET n_instances = n_instances + 1, n_series = (SELECT "
    "count(*) FROM series WHERE study_uid = ?1) WHERE study_uid = ?1",
    "UPDATE series SET n_instances = n_instances + 1, last_received = "
    "max(coalesce(last_received, ?2), ?2), "
    "declared_instances = coalesce(?3, declared_instances), completed_at = "
    "NULL, complete_reason = NULL WHERE series_uid = ?1",
    "SELECT series_uid, study_uid, n_instances, coalesce(declared_instances, "
    "0), CASE WHEN declared_instances > 0 AND n_instances >= "
    "declared_instances THEN 'declared-count' ELSE 'timeout' END FROM series "
    "WHERE completed_at IS NULL AND ((declared_instances > 0 AND n_instances "
    ">= declared_instances) OR (?2 > 0 AND last_received <= ?1 - ?2))",
    "UPDATE series SET completed_at = ?2, complete_reason = ?3 WHERE "
    "series_uid = ?1",
    "SAVEPOINT row",
    "RELEASE row",
    "ROLLBACK TO row",
    "UPDATE studies SET n_instances = n_instances + 1, last_received = "
    "max(coalesce(last_received, ?2), ?2) WHERE study_uid = ?1",
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS studies("
    " study_uid TEXT PRIMARY KEY, patient_id TEXT,"
    " n_series INTEGER NOT NULL DEFAULT 0,"
    " n_instances INTEGER NOT NULL DEFAULT 0,"
    " first_received REAL, last_received REAL);"
    "CREATE TABLE IF NOT EXISTS series("
    " series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, modality TEXT,"
    " n_instances INTEGER NOT NULL DEFAULT 0, declared_instances INTEGER,"
    " first_received REAL, last_received REAL,"
    " completed_at REAL, complete_reason TEXT);"
    "CREATE TABLE IF NOT EXISTS instances("
    " sop_instance_uid TEXT PRIMARY KEY, sop_class_uid TEXT NOT NULL,"
    " series_uid TEXT NOT NULL, transfer_syntax TEXT NOT NULL,"
    " path TEXT NOT NULL, size INTEGER NOT NULL, calling_ae TEXT,"
    " received REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS series_open ON series(completed_at);"
    /* Counting a study's series on every instance (ST_BUMP_STUDY) must not
     * scan every series in the store. */
    "CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);";

typedef struct IndexRow IndexRow;

/* How many recently made-durable directories are remembered (dir_known). */
#define DURABLE_DIRS 256
/* Series folders kept open (SeriesDir), and how many past sync rounds of
 * one folder keep their result for threads that slept through them. */
#define SERIES_DIRS 64
#define SYNC_RESULTS 16
/* Spare temporary files kept per open series folder. */
#define SPARES 2
/* Series whose study and series rows are known committed (known_series). */
#define KNOWN_SERIES 64

typedef struct {
    char series[65], study[65];
} KnownSeries;

/* A series folder in use.  Its descriptor serves openat, renameat and the
 * folder sync, so a put walks no path, and concurrent puts into the same
 * folder share its syncs: sync rounds are numbered, a put that renamed its
 * file needs a round that started after its rename, and one round covers
 * every rename done before it started (group commit).  Fields under
 * NovaStore.d_lock. */
typedef struct SeriesDir {
    char *path; /* NULL: a free slot */
    int fd;
    int users;  /* puts holding it: it is closed only at 0 */
    bool stale; /* the folder vanished: not handed out again */
    bool heap;  /* not in the table (the table was full) */
    uint64_t last_use;
    uint64_t started, finished; /* sync rounds */
    bool syncing;
    int result[SYNC_RESULTS]; /* errno of round r at r % SYNC_RESULTS */
    pthread_cond_t cond;      /* a round finished */
    /* Empty temporary files made ahead (spare_make), for the next puts. */
    char spare[SPARES][32];
    int spare_fd[SPARES];
    int n_spares;
} SeriesDir;

typedef struct Event {
    NovaSeriesCompletion c;
    struct Event *next;
} Event;

struct NovaStore {
    char *dir;
    char *tmp_dir;
    NovaStoreOptions options;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    pthread_mutex_t db_lock;
    /* Completion queue. */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    Event *q_head, *q_tail;
    /* Timer thread. */
    pthread_t thread;
    bool thread_started;
    bool stopping; /* under q_lock */
    _Atomic uint64_t tmp_counter;
    char *marker;  /* DIR/.running, set once the store is open */
    int marker_fd; /* the marker, locked (flock) while the store is open */
    /* Group commit of index rows (index_commit). */
    pthread_mutex_t c_lock;
    IndexRow *c_head, *c_tail;
    bool c_leader;
    /* Directories whose entry in their parent is known to be durable: a
     * ring of the most recent ones, under d_lock. */
    pthread_mutex_t d_lock;
    char *durable_dirs[DURABLE_DIRS];
    int durable_next;
    SeriesDir series_dirs[SERIES_DIRS]; /* under d_lock */
    /* Ring of series committed with their study, under db_lock: a row of
     * one of them needs neither upsert nor a recount of the study's
     * series. */
    KnownSeries known[KNOWN_SERIES];
    int known_next;
    uint64_t use_clock; /* under d_lock */
};

void nova_store_options_init(NovaStoreOptions *o)
{
    o->complete_after_s = 60.0;
    o->implementation_class_uid = "1.2.826.0.1.3680043.10.1234.1";
    o->implementation_version = "NOVA_1";
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool db_fail(NovaError **error, NovaStore *s, const char *what)
{
    return nova_error_set(error, NOVA_ERROR_IO, "index error",
                          "%s/index.sqlite: %s: %s", s->dir, what,
                          sqlite3_errmsg(s->db));
}

static bool fsync_dir(NovaError **error, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot sync",
                              "directory %s: %s", path, strerror(e));
    }
    close(fd);
    return true;
}

/* mkdir that accepts an existing directory; a new one is made durable by
 * syncing its parent. */
static bool make_dir(NovaError **error, const char *path, const char *parent)
{
    if (mkdir(path, 0755) == 0)
        return parent ? fsync_dir(error, parent) : true;
    if (errno == EEXIST)
        return true;
    return nova_error_set(error, NOVA_ERROR_IO, "cannot create directory",
                          "%s: %s", path, strerror(errno));
}

static bool dir_known(NovaStore *s, const char *path)
{
    bool known = false;
    pthread_mutex_lock(&s->d_lock);
    for (int i = 0; i < DURABLE_DIRS && !known; i++)
        known = s->durable_dirs[i] && strcmp(s->durable_dirs[i], path) == 0;
    pthread_mutex_unlock(&s->d_lock);
    return known;
}

static void dir_remember(NovaStore *s, const char *path)
{
    char *copy = nova_strdup(NULL, path);
    if (!copy)
        return; /* forgetting only costs one more fsync later */
    pthread_mutex_lock(&s->d_lock);
    nova_free(s->durable_dirs[s->durable_next]);
    s->durable_dirs[s->durable_next] = copy;
    s->durable_next = (s->durable_next + 1) % DURABLE_DIRS;
    pthread_mutex_unlock(&s->d_lock);
}

/* Drop `path` from the ring of durable directories (it vanished). */
static void dir_forget(NovaStore *s, const char *path)
{
    pthread_mutex_lock(&s->d_lock);
    for (int i = 0; i < DURABLE_DIRS; i++)
        if (s->durable_dirs[i] && strcmp(s->durable_dirs[i], path) == 0) {
            nova_free(s->durable_dirs[i]);
            s->durable_dirs[i] = NULL;
        }
    pthread_mutex_unlock(&s->d_lock);
}

/* Make `path` exist with a durable entry in `parent` before any file is
 * renamed into it.  mkdir's EEXIST says nothing about durability: the
 * thread that made the directory may still be syncing the parent, or an
 * earlier run may have crashed before doing so.  So the parent is synced
 * by whoever first needs the directory in this process, and the directory
 * is then remembered (a ring of recent ones): one fsync per directory, not
 * per instance.  A forgotten one is synced again, which is only slower. */
static bool ensure_dir(NovaError **error, NovaStore *s, const char *path,
                       const char *parent)
{
    if (dir_known(s, path))
        return true;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot create directory",
                              "%s: %s", path, strerror(errno));
    if (!fsync_dir(error, parent))
        return false;
    dir_remember(s, path);
    return true;
}

/* Remove the spare files of `e`; d_lock held or `e` unreachable. */
static void spares_drop(SeriesDir *e)
{
    for (int i = 0; i < e->n_spares; i++) {
        if (e->fd >= 0)
            unlinkat(e->fd, e->spare[i], 0);
        close(e->spare_fd[i]);
    }
    e->n_spares = 0;
}

/* The series folder `path` (in `study_dir`), created and made durable in
 * its parent if needed, opened and held for one put: release it with
 * series_dir_release.  NULL on error (set). */
static SeriesDir *series_dir_acquire(NovaError **error, NovaStore *s,
                                     const char *study_dir, const char *path)
{
    pthread_mutex_lock(&s->d_lock);
    for (int i = 0; i < SERIES_DIRS; i++) {
        SeriesDir *e = &s->series_dirs[i];
        if (e->path && !e->stale && strcmp(e->path, path) == 0) {
            e->users++;
            e->last_use = ++s->use_clock;
            pthread_mutex_unlock(&s->d_lock);
            return e;
        }
    }
    pthread_mutex_unlock(&s->d_lock);
    /* Not open: the study folder's entry, then this folder's entry in it,
     * are made durable (ensure_dir) before a file is renamed into it. */
    if (!ensure_dir(error, s, study_dir, s->dir) ||
        !ensure_dir(error, s, path, study_dir))
        return NULL;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *copy = fd >= 0 ? nova_strdup(error, path) : NULL;
    if (fd < 0 || !copy) {
        if (fd < 0)
            nova_error_set(error, NOVA_ERROR_IO, "cannot open directory",
                           "%s: %s", path, strerror(errno));
        else
            close(fd);
        return NULL;
    }
    pthread_mutex_lock(&s->d_lock);
    SeriesDir *e = NULL, *lru = NULL;
    for (int i = 0; i < SERIES_DIRS && !e; i++) {
        SeriesDir *c = &s->series_dirs[i];
        if (c->path && !c->stale && strcmp(c->path, path) == 0)
            e = c; /* another put opened it meanwhile */
        else if (c->users == 0 && (!lru || !c->path ||
                                   (lru->path && c->last_use < lru->last_use)))
            lru = c;
    }
    if (e) {
        close(fd);
        nova_free(copy);
    } else {
        if (lru) {
            spares_drop(lru);
            if (lru->fd >= 0)
                close(lru->fd);
            nova_free(lru->path);
            e = lru;
        } else {
            /* Every slot is in use: this put gets its own folder entry,
             * whose syncs are not shared. */
            e = nova_calloc(NULL, 1, sizeof *e);
            if (!e) {
                pthread_mutex_unlock(&s->d_lock);
                close(fd);
                nova_free(copy);
                nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                               "series folder %s", path);
                return NULL;
            }
            e->heap = true;
            pthread_cond_init(&e->cond, NULL);
        }
        e->path = copy;
        e->fd = fd;
        e->stale = false;
        e->started = e->finished = 0;
        e->syncing = false;
    }
    e->users++;
    e->last_use = ++s->use_clock;
    pthread_mutex_unlock(&s->d_lock);
    return e;
}

static void series_dir_release(NovaStore *s, SeriesDir *e, bool stale)
{
    pthread_mutex_lock(&s->d_lock);
    e->users--;
    e->stale |= stale;
    bool drop = e->users == 0 && (e->heap || e->stale);
    if (drop) {
        spares_drop(e);
        close(e->fd);
        e->fd = -1;
        nova_free(e->path);
        e->path = NULL;
    }
    pthread_mutex_unlock(&s->d_lock);
    if (drop && e->heap) {
        pthread_cond_destroy(&e->cond);
        nova_free(e);
    }
}

/* Take a spare temporary file of `e`: its name into `name` (32 bytes),
 * its open descriptor into *fd; false when there is none. */
static bool spare_take(NovaStore *s, SeriesDir *e, char *name, int *fd)
{
    pthread_mutex_lock(&s->d_lock);
    bool got = e->n_spares > 0;
    if (got) {
        e->n_spares--;
        memcpy(name, e->spare[e->n_spares], 32);
        *fd = e->spare_fd[e->n_spares];
    }
    pthread_mutex_unlock(&s->d_lock);
    return got;
}

/* Make an empty temporary file in `e` for a later put, unless enough are
 * waiting.  Made before the folder's sync, its entry is written with the
 * rename that sync is for; the later put's fdatasync then finds the folder
 * clean, where a file created just before its fdatasync makes ext4 (no
 * journal) write the folder block and inode once more (ext4_sync_parent).
 * A failure only means the next put creates its own file. */
static void spare_make(NovaStore *s, SeriesDir *e)
{
    pthread_mutex_lock(&s->d_lock);
    bool wanted = e->n_spares < SPARES;
    pthread_mutex_unlock(&s->d_lock);
    if (!wanted)
        return;
    char name[32];
    snprintf(name, sizeof name, ".%llu.part",
             (unsigned long long)atomic_fetch_add(&s->tmp_counter, 1));
    /* Kept open, so the put that takes it needs no open. */
    int fd = openat(e->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    pthread_mutex_lock(&s->d_lock);
    if (e->n_spares < SPARES) {
        memcpy(e->spare[e->n_spares], name, sizeof name);
        e->spare_fd[e->n_spares++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&s->d_lock);
    if (fd >= 0) {
        close(fd);
        unlinkat(e->fd, name, 0);
    }
}

/* Make every rename done so far in folder `e` durable: wait for a sync
 * round that starts after now, running it if no round is in progress.
 * Returns 0 or the errno of that round's fsync. */
static int series_dir_sync(NovaStore *s, SeriesDir *e)
{
    pthread_mutex_lock(&s->d_lock);
    /* A round in progress may have started before this put's rename. */
    uint64_t need = e->started + 1;
    while (e->finished < need) {
        if (e->syncing) {
            pthread_cond_wait(&e->cond, &s->d_lock);
            continue;
        }
        e->syncing = true;
        uint64_t round = ++e->started;
        pthread_mutex_unlock(&s->d_lock);
        int rc = fsync(e->fd) == 0 ? 0 : errno;
        pthread_mutex_lock(&s->d_lock);
        e->result[round % SYNC_RESULTS] = rc;
        e->finished = round;
        e->syncing = false;
        pthread_cond_broadcast(&e->cond);
    }
    /* Rounds run one after another, so round `need` was the one that
     * covered this put; after SYNC_RESULTS more its result is gone, and a
     * failure is reported rather than a success assumed. */
    int rc = e->finished - need < SYNC_RESULTS ? e->result[need % SYNC_RESULTS]
                                               : EIO;
    pthread_mutex_unlock(&s->d_lock);
    return rc;
}

static void *timer_main(void *arg);
static bool reconcile(NovaError **error, NovaStore *s);

NovaStore *nova_store_open(NovaError **error, const char *dir,
                           const NovaStoreOptions *options)
{
    NovaStore *s = nova_calloc(error, 1, sizeof *s);
    if (!s)
        return NULL;
    if (options)
        s->options = *options;
    else
        nova_store_options_init(&s->options);
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_mutex_init(&s->q_lock, NULL);
    pthread_mutex_init(&s->c_lock, NULL);
    pthread_mutex_init(&s->d_lock, NULL);
    for (int i = 0; i < SERIES_DIRS; i++) {
        s->series_dirs[i].fd = -1;
        pthread_cond_init(&s->series_dirs[i].cond, NULL);
    }
    pthread_cond_init(&s->q_cond, NULL);
    s->marker_fd = -1;
    s->dir = nova_strdup(error, dir);
    s->tmp_dir = nova_strdup_printf(error, "%s/.tmp", dir);
    char *parent = nova_strdup(error, dir);
    char *marker = nova_strdup_printf(error, "%s/.running", dir);
    if (!s->dir || !s->tmp_dir || !parent || !marker) {
        nova_free(parent);
        nova_free(marker);
        goto fail;
    }
    /* The storage folder's own entry is made durable too when it is new. */
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    bool made = make_dir(error, dir, slash ? parent : ".");
    nova_free(parent);
    /* The marker of an open store: found here, the last run ended in a
     * crash or power loss, and the index may lack rows of instances whose
     * files are durable.  It is created (durably) before any instance can
     * be stored and removed only after a clean close made the index
     * durable, so a lost index transaction is always followed by a
     * reconcile.  Its lock keeps a second process out of the store (the
     * kernel drops it when a process dies, kill -9 included). */
    bool unclean = made && access(marker, F_OK) == 0;
    s->marker_fd = made ? open(marker, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (made && (s->marker_fd < 0 || flock(s->marker_fd, LOCK_EX | LOCK_NB))) {
        if (s->marker_fd >= 0 && errno == EWOULDBLOCK)
            nova_error_set(error, NOVA_ERROR_IO, "store in use",
                           "%s is open in another process", dir);
        else
            nova_error_set(error, NOVA_ERROR_IO, "cannot write", "%s: %s",
                           marker, strerror(errno));
        made = false;
    }
    if (!made || !fsync_dir(error, dir) || !make_dir(error, s->tmp_dir, dir)) {
        nova_free(marker);
        goto fail;
    }
    /* Partial files of a crashed run: never acknowledged, never renamed
     * (stores written before temporary files moved beside their final
     * names; reconcile removes those). */
    DIR *d = opendir(s->tmp_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    char *db_path = nova_strdup_printf(error, "%s/index.sqlite", dir);
    if (!db_path)
        goto fail;
    int rc = sqlite3_open_v2(
        db_path, &s->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    nova_free(db_path);
    if (rc != SQLITE_OK) {
        db_fail(error, s, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        nova_error_set(error, NOVA_ERROR_IO, "index error",
                       "%s/index.sqlite: schema: %s", dir, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v2(s->db, statements[i], -1, &s->st[i], NULL) !=
            SQLITE_OK) {
            db_fail(error, s, statements[i]);
            goto fail;
        }
    if (unclean && !reconcile(error, s)) {
        nova_free(marker);
        goto fail;
    }
    s->marker = marker;
    if (pthread_create(&s->thread, NULL, timer_main, s) != 0) {
        nova_error_set(error, NOVA_ERROR_INTERNAL, "cannot start thread",
                       "store completion timer");
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    nova_store_close(s);
    return NULL;
}

void nova_store_close(NovaStore *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->q_lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->q_cond);
        pthread_mutex_unlock(&s->q_lock);
        pthread_join(s->thread, NULL);
    }
    /* Spare temporary files go before the marker does (a crash before
     * this leaves them to the next open's reconcile). */
    for (int i = 0; i < SERIES_DIRS; i++)
        spares_drop(&s->series_dirs[i]);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    /* A clean close: move every committed row from the WAL into the
     * database file and sync it (a checkpoint syncs the WAL before and the
     * database after), then drop the marker.  If a reader blocks the
     * checkpoint the marker stays, and the next open reconciles: slower,
     * never wrong. */
    bool clean =
        s->db && s->marker &&
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                  NULL) == SQLITE_OK;
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        clean = false;
    if (clean && unlink(s->marker) == 0)
        fsync_dir(NULL, s->dir);
    nova_free(s->marker);
    if (s->marker_fd >= 0)
        close(s->marker_fd);
    for (Event *e = s->q_head; e;) {
        Event *next = e->next;
        nova_free(e);
        e = next;
    }
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->q_lock);
    pthread_mutex_destroy(&s->c_lock);
    pthread_mutex_destroy(&s->d_lock);
    for (int i = 0; i < DURABLE_DIRS; i++)
        nova_free(s->durable_dirs[i]);
    for (int i = 0; i < SERIES_DIRS; i++) {
        if (s->series_dirs[i].fd >= 0)
            close(s->series_dirs[i].fd);
        nova_free(s->series_dirs[i].path);
        pthread_cond_destroy(&s->series_dirs[i].cond);
    }
    pthread_cond_destroy(&s->q_cond);
    nova_free(s->dir);
    nova_free(s->tmp_dir);
    nova_free(s);
}

/* ------------------------------------------------------- Part 10 file */

static size_t meta_element(uint8_t *p, uint16_t elem, const char vr[2],
                           const void *v, size_t n)
{
    /* PS3.10 7.1: explicit VR little endian; OB has a 4-byte length. */
    size_t padded = n + (n & 1);
    p[0] = 2;
    p[1] = 0;
    p[2] = (uint8_t)elem;
    p[3] = (uint8_t)(elem >> 8);
    p[4] = (uint8_t)vr[0];
    p[5] = (uint8_t)vr[1];
    size_t h;
    if (vr[0] == 'O' && vr[1] == 'B') {
        p[6] = p[7] = 0;
        p[8] = (uint8_t)padded;
        p[9] = (uint8_t)(padded >> 8);
        p[10] = (uint8_t)(padded >> 16);
        p[11] = (uint8_t)(padded >> 24);
        h = 12;
    } else {
        p[6] = (uint8_t)padded;
        p[7] = (uint8_t)(padded >> 8);
        h = 8;
    }
    memcpy(p + h, v, n);
    if (padded != n)
        p[h + n] = (vr[0] == 'U' && vr[1] == 'I') ? 0 : ' ';
    return h + padded;
}

static uint8_t *build_part10(NovaError **error, const NovaStore *s,
                             const char *calling_ae, const char *sop_class,
                             const char *sop_instance, const char *ts,
                             const uint8_t *dataset, size_t size,
                             size_t *out_size)
{
    size_t meta_cap = 132 + 12 + 14 + 8 * 8 + 64 * 5 + 16 + 16;
    size_t total;
    if (!nova_size_add(meta_cap, size, &total)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "too large",
                       "dataset of %zu bytes", size);
        return NULL;
    }
    uint8_t *f = nova_malloc(error, total);
    if (!f)
        return NULL;
    memset(f, 0, 128);
    memcpy(f + 128, "DICM", 4);
    size_t pos = 132 + 12; /* group length element goes first */
    static const uint8_t version[2] = {0, 1};
    pos += meta_element(f + pos, 0x0001, "OB", version, 2);
    pos += meta_element(f + pos, 0x0002, "UI", sop_class, strlen(sop_class));
    pos +=
        meta_element(f + pos, 0x0003, "UI", sop_instance, strlen(sop_instance));
    pos += meta_element(f + pos, 0x0010, "UI", ts, strlen(ts));
    const char *cls = s->options.implementation_class_uid;
    pos += meta_element(f + pos, 0x0012, "UI", cls, strlen(cls));
    const char *ver = s->options.implementation_version;
    size_t vn = strlen(ver);
    pos += meta_element(f + pos, 0x0013, "SH", ver, vn > 16 ? 16 : vn);
    size_t an = strlen(calling_ae);
    if (an > 0)
        pos +=
            meta_element(f + pos, 0x0016, "AE", calling_ae, an > 16 ? 16 : an);
    uint32_t gl = (uint32_t)(pos - 144);
    uint8_t glv[4] = {(uint8_t)gl, (uint8_t)(gl >> 8), (uint8_t)(gl >> 16),
                      (uint8_t)(gl >> 24)};
    meta_element(f + 132, 0x0000, "UL", glv, 4);
    memcpy(f + pos, dataset, size);
    *out_size = pos + size;
    return f;
}

/* Write `data` to the temporary file `tmp` in folder `dir_fd` (named
 * `dir_path` in messages) and fdatasync it.  The file is the open spare
 * `spare_fd` (spare_make), or with -1 created here.  The descriptor is
 * closed in every case.  Returns 1, 0 on error (set), -1 when the folder
 * no longer exists (nothing set). */
static int write_durable(NovaError **error, int dir_fd, const char *dir_path,
                         const char *tmp, int spare_fd, const uint8_t *data,
                         size_t size)
{
    int fd = spare_fd >= 0
                 ? spare_fd
                 : openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                          0644);
    if (fd < 0 && errno == ENOENT)
        return -1;
    if (fd < 0)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write", "%s/%s: %s",
                              dir_path, tmp, strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : ENOSPC;
            close(fd);
            unlinkat(dir_fd, tmp, 0);
            return nova_error_set(error, NOVA_ERROR_IO, "cannot write",
                                  "%s/%s: %s", dir_path, tmp, strerror(e));
        }
        done += (size_t)k;
    }
    if (fdatasync(fd) != 0) {
        int e = errno;
        close(fd);
        unlinkat(dir_fd, tmp, 0);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot sync", "%s/%s: %s",
                              dir_path, tmp, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlinkat(dir_fd, tmp, 0);
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write",
                              "%s/%s: close: %s", dir_path, tmp, strerror(e));
    }
    return 1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && v[0])
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static bool step_done(NovaError **error, NovaStore *s, sqlite3_stmt *st,
                      const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(error, s, what);
    return true;
}

static void push_event(NovaStore *s, const NovaSeriesCompletion *c)
{
    Event *e = nova_malloc(NULL, sizeof *e);
    if (!e)
        return; /* the index still records it */
    e->c = *c;
    e->next = NULL;
    pthread_mutex_lock(&s->q_lock);
    if (s->q_tail)
        s->q_tail->next = e;
    else
        s->q_head = e;
    s->q_tail = e;
    pthread_cond_broadcast(&s->q_cond);
    pthread_mutex_unlock(&s->q_lock);
}

/* Mark due series complete and publish them; call with db_lock held. */
static int complete_due(NovaError **error, NovaStore *s, double now)
{
    NovaSeriesCompletion found[64];
    int n = 0;
    sqlite3_stmt *st = s->st[ST_DUE];
    sqlite3_bind_double(st, 1, now);
    sqlite3_bind_double(
        st, 2,
        s->options.complete_after_s > 0 ? s->options.complete_after_s : 0);
    int rc;
    while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        NovaSeriesCompletion *c = &found[n++];
        memset(c, 0, sizeof *c);
        snprintf(c->series_uid, sizeof c->series_uid, "%s",
                 (const char *)sqlite3_column_text(st, 0));
        snprintf(c->study_uid, sizeof c->study_uid, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        c->n_instances = sqlite3_column_int64(st, 2);
        c->declared_instances = sqlite3_column_int64(st, 3);
        snprintf(c->reason, sizeof c->reason, "%s",
                 (const char *)sqlite3_column_text(st, 4));
        c->completed_at = now;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < n; i++) {
        sqlite3_stmt *u = s->st[ST_COMPLETE];
        sqlite3_bind_text(u, 1, found[i].series_uid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(u, 2, now);
        sqlite3_bind_text(u, 3, found[i].reason, -1, SQLITE_TRANSIENT);
        if (!step_done(error, s, u, "mark series complete"))
            return -1;
        push_event(s, &found[i]);
        nova_log(NOVA_LOG_INFO, "series %s complete (%s): %lld instances",
                 found[i].series_uid, found[i].reason,
                 (long long)found[i].n_instances);
    }
    return n;
}

int nova_store_check_completion(NovaError **error, NovaStore *s, double now)
{
    pthread_mutex_lock(&s->db_lock);
    int n = complete_due(error, s, now);
    pthread_mutex_unlock(&s->db_lock);
    return n;
}

static void *timer_main(void *arg)
{
    NovaStore *s = arg;
    pthread_mutex_lock(&s->q_lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->q_cond, &s->q_lock, &until);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->q_lock);
        NovaError *err = NULL;
        if (nova_store_check_completion(&err, s, wall_now()) < 0) {
            nova_log(NOVA_LOG_ERROR, "%s", nova_error_message(err));
            nova_error_free(err);
        }
        pthread_mutex_lock(&s->q_lock);
    }
    pthread_mutex_unlock(&s->q_lock);
    return NULL;
}

bool nova_store_wait_completed(NovaStore *s, int timeout_ms,
                               NovaSeriesCompletion *out)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->q_lock);
    while (!s->q_head && timeout_ms != 0) {
        int rc = timeout_ms < 0
                     ? pthread_cond_wait(&s->q_cond, &s->q_lock)
                     : pthread_cond_timedwait(&s->q_cond, &s->q_lock, &until);
        if (rc != 0 && rc != EINTR)
            break;
    }
    Event *e = s->q_head;
    if (e) {
        s->q_head = e->next;
        if (!s->q_head)
            s->q_tail = NULL;
    }
    pthread_mutex_unlock(&s->q_lock);
    if (!e)
        return false;
    *out = e->c;
    nova_free(e);
    return true;
}

/* ------------------------------------------------------ group commit */

/* One instance's index row, waiting for a commit.  Rows from concurrent
 * associations are committed together: the first thread to find no commit
 * in progress becomes the leader, takes every queued row, writes them in
 * one transaction (a SAVEPOINT per row so one bad row fails alone),
 * wakes their threads one by one and hands the leadership to the first
 * row queued meanwhile.  Each thread still answers its sender only after
 * its own row is committed. */
struct IndexRow {
    const char *study, *series, *patient, *modality, *sop_instance, *sop_class,
        *ts, *rel_path, *calling_ae;
    int64_t size;
    bool have_declared;
    int64_t declared;
    double received; /* seconds since the epoch; 0: the commit's time */
    bool done, ok, inserted;
    /* Waiting: done, or handed the leadership (index_commit). */
    bool lead;
    sem_t wake; /* posted once: done or lead set */
    NovaError *error;
    IndexRow *next;
};

/* Whether the rows of `series` in `study` are committed; db_lock held. */
static bool series_known(NovaStore *s, const char *series, const char *study)
{
    for (int i = 0; i < KNOWN_SERIES; i++)
        if (strcmp(s->known[i].series, series) == 0)
            return strcmp(s->known[i].study, study) == 0;
    return false;
}

/* Remember a committed series; db_lock held. */
static void series_remember(NovaStore *s, const char *series, const char *study)
{
    if (series_known(s, series, study) || strlen(series) > 64 ||
        strlen(study) > 64)
        return;
    KnownSeries *k = &s->known[s->known_next];
    s->known_next = (s->known_next + 1) % KNOWN_SERIES;
    memcpy(k->series, series, strlen(series) + 1);
    memcpy(k->study, study, strlen(study) + 1);
}

static bool insert_row(NovaError **error, NovaStore *s, IndexRow *r, double now)
{
    if (r->received > 0)
        now = r->received;
    sqlite3_stmt **st = s->st;
    bool known = series_known(s, r->series, r->study);
    if (known)
        goto insert;
    bind_text(st[ST_INSERT_STUDY], 1, r->study);
    bind_text(st[ST_INSERT_STUDY], 2, r->patient);
    sqlite3_bind_double(st[ST_INSERT_STUDY], 3, now);
    if (!step_done(error, s, st[ST_INSERT_STUDY], "insert study"))
        return false;
    bind_text(st[ST_INSERT_SERIES], 1, r->series);
    bind_text(st[ST_INSERT_SERIES], 2, r->study);
    bind_text(st[ST_INSERT_SERIES], 3, r->modality);
    sqlite3_bind_double(st[ST_INSERT_SERIES], 4, now);
    if (!step_done(error, s, st[ST_INSERT_SERIES], "insert series"))
        return false;
insert:;
    sqlite3_stmt *q = st[ST_INSERT_INSTANCE];
    bind_text(q, 1, r->sop_instance);
    bind_text(q, 2, r->sop_class);
    bind_text(q, 3, r->series);
    bind_text(q, 4, r->ts);
    bind_text(q, 5, r->rel_path);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)r->size);
    bind_text(q, 7, r->calling_ae);
    sqlite3_bind_double(q, 8, now);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    /* An existing row (the instance was stored before, its file lost and
     * now written again) is kept as it is. */
    r->inserted = rc == SQLITE_DONE;
    if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT)
        return db_fail(error, s, "insert instance");
    if (!r->inserted)
        return true;
    bind_text(st[ST_BUMP_SERIES], 1, r->series);
    sqlite3_bind_double(st[ST_BUMP_SERIES], 2, now);
    if (r->have_declared)
        sqlite3_bind_int64(st[ST_BUMP_SERIES], 3, r->declared);
    if (!step_done(error, s, st[ST_BUMP_SERIES], "count series"))
        return false;
    if (known) {
        bind_text(st[ST_BUMP_KNOWN_STUDY], 1, r->study);
        sqlite3_bind_double(st[ST_BUMP_KNOWN_STUDY], 2, now);
        return step_done(error, s, st[ST_BUMP_KNOWN_STUDY], "count study");
    }
    bind_text(st[ST_BUMP_STUDY], 1, r->study);
    return step_done(error, s, st[ST_BUMP_STUDY], "count study");
}

static void commit_batch(NovaStore *s, IndexRow *batch)
{
    double now = wall_now();
    pthread_mutex_lock(&s->db_lock);
    NovaError *error = NULL;
    bool ok = step_done(&error, s, s->st[ST_BEGIN], "begin");
    bool any_declared = false;
    for (IndexRow *r = batch; r; r = r->next) {
        r->ok = false;
        if (!ok)
            continue;
        if (!step_done(&r->error, s, s->st[ST_SAVEPOINT], "savepoint"))
            continue;
        r->ok = insert_row(&r->error, s, r, now);
        if (!r->ok)
            step_done(NULL, s, s->st[ST_ROLLBACK_TO], "rollback to");
        step_done(NULL, s, s->st[ST_RELEASE], "release");
        any_declared |= r->ok && r->inserted && r->have_declared;
    }
    if (ok && any_declared)
        ok = complete_due(&error, s, now) >= 0;
    if (ok)
        ok = step_done(&error, s, s->st[ST_COMMIT], "commit");
    /* Only a committed series may skip its upserts later. */
    for (IndexRow *r = batch; ok && r; r = r->next)
        if (r->ok)
            series_remember(s, r->series, r->study);
    if (!ok) {
        step_done(NULL, s, s->st[ST_ROLLBACK], "rollback");
        for (IndexRow *r = batch; r; r = r->next) {
            if (r->ok || !r->error)
                nova_error_set(&r->error, NOVA_ERROR_IO, "index error", "%s",
                               error ? nova_error_message(error)
                                     : "transaction failed");
            r->ok = false;
        }
    }
    nova_error_free(error);
    pthread_mutex_unlock(&s->db_lock);
}

/* Wake `r`'s thread, once: its row is committed (done) or it is to lead
 * the next batch.  r belongs to that thread again from the post on (a
 * semaphore may be destroyed as soon as its waiter returns; a mutex and
 * condition here made the woken thread wait for the waker's unlock). */
static void row_wake(IndexRow *r, bool done)
{
    if (done)
        r->done = true;
    else
        r->lead = true;
    sem_post(&r->wake);
}

/* Commit every queued row as the leader (s->c_leader is ours), wake their
 * threads one by one, then hand the leadership to the first row queued
 * meanwhile, if any: each waiting thread is woken once, by its own
 * condition, instead of all of them on every commit. */
static void lead_commit(NovaStore *s, IndexRow *self)
{
    pthread_mutex_lock(&s->c_lock);
    IndexRow *batch = s->c_head;
    s->c_head = s->c_tail = NULL;
    pthread_mutex_unlock(&s->c_lock);
    commit_batch(s, batch);
    for (IndexRow *r = batch, *next; r; r = next) {
        next = r->next;
        if (r == self)
            self->done = true;
        else
            row_wake(r, true);
    }
    pthread_mutex_lock(&s->c_lock);
    IndexRow *first = s->c_head;
    if (!first)
        s->c_leader = false;
    pthread_mutex_unlock(&s->c_lock);
    if (first)
        row_wake(first, false);
}

static void index_commit(NovaStore *s, IndexRow *row)
{
    row->done = row->lead = false;
    row->next = NULL;
    sem_init(&row->wake, 0, 0);
    pthread_mutex_lock(&s->c_lock);
    if (s->c_tail)
        s->c_tail->next = row;
    else
        s->c_head = row;
    s->c_tail = row;
    bool lead = !s->c_leader;
    s->c_leader = true;
    pthread_mutex_unlock(&s->c_lock);
    if (!lead) {
        while (sem_wait(&row->wake) != 0 && errno == EINTR)
            ;
        lead = !row->done;
    }
    /* A leader's own row is in the queue it takes. */
    if (lead)
        lead_commit(s, row);
    sem_destroy(&row->wake);
}

/* ------------------------------------------------------------- put */

static bool dataset_uid(NovaError **error, const NovaDataset *ds, uint32_t tag,
                        const char *name, char out[65])
{
    NovaError *e = NULL;
    if (!nova_dataset_get_string_value(&e, ds, tag, 0, out, 65) ||
        !nova_uid_is_valid(out)) {
        nova_error_free(e);
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad dataset",
                              "%s missing or not a valid UID", name);
    }
    return true;
}

/* Rename `from` to `to` in folder `dir_fd` unless `to` exists.  Returns 0,
 * or the errno: EEXIST when `to` exists.  Where the file system cannot
 * refuse to replace (no RENAME_NOREPLACE), an existing `to` is looked for
 * first; nothing else renames into the store's folders, so no race. */
static int rename_new(int dir_fd, const char *from, const char *to)
{
    if (renameat2(dir_fd, from, dir_fd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    if (faccessat(dir_fd, to, F_OK, 0) == 0)
        return EEXIST;
    return renameat(dir_fd, from, dir_fd, to) == 0 ? 0 : errno;
}

/* Whether the index has a row for `sop_instance`. */
static bool index_has(NovaError **error, NovaStore *s, const char *sop_instance,
                      bool *known)
{
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st = s->st[ST_FIND_INSTANCE];
    sqlite3_bind_text(st, 1, sop_instance, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->db_lock);
    *known = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(error, s, "find instance");
    return true;
}

bool nova_store_put(NovaError **error, NovaStore *s, const char *calling_ae,
                    const char *sop_class, const char *sop_instance,
                    const char *ts, const uint8_t *dataset, size_t size,
                    bool *duplicate)
{
    *duplicate = false;
    if (!nova_uid_is_valid(sop_class) || !nova_uid_is_valid(sop_instance))
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad command",
                              "Affected SOP Class/Instance UID not valid");
    if (!nova_uid_is_valid(ts))
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad command",
                              "transfer syntax UID not valid");
    size_t fsize = 0;
    uint8_t *file =
        build_part10(error, s, calling_ae ? calling_ae : "", sop_class,
                     sop_instance, ts, dataset, size, &fsize);
    if (!file)
        return false;
    char study[65], series[65], inst[65], cls[65], modality[17] = "",
                                                   patient[65] = "";
    int64_t declared = 0;
    bool have_declared = false;
    NovaDataset *ds = nova_dataset_read_memory(
        error, file, fsize, sop_instance, NOVA_READ_BORROW | NOVA_READ_STRICT);
    bool ok = ds != NULL;
    if (!ok) {
        /* The dataset does not parse in its transfer syntax. */
        if (error && *error && nova_error_code(*error) != NOVA_ERROR_NOMEM) {
            NovaError *wrapped = NULL;
            nova_error_set(&wrapped, NOVA_ERROR_PARSE, "cannot understand",
                           "%s", nova_error_message(*error));
            nova_error_free(*error);
            *error = wrapped;
        }
    }
    ok = ok && dataset_uid(error, ds, TAG_SOP_CLASS, "SOP Class UID", cls) &&
         dataset_uid(error, ds, TAG_SOP_INSTANCE, "SOP Instance UID", inst) &&
         dataset_uid(error, ds, TAG_STUDY_UID, "Study Instance UID", study) &&
         dataset_uid(error, ds, TAG_SERIES_UID, "Series Instance UID", series);
    if (ok && (strcmp(cls, sop_class) != 0 || strcmp(inst, sop_instance))) {
        nova_error_set(error, NOVA_ERROR_INVALID, "dataset mismatch",
                       "dataset SOP Class/Instance %s / %s differ from the "
                       "command's %s / %s",
                       cls, inst, sop_class, sop_instance);
        ok = false;
    }
    if (ok) {
        nova_dataset_get_string_value(NULL, ds, TAG_MODALITY, 0, modality,
                                      sizeof modality);
        nova_dataset_get_string_value(NULL, ds, TAG_PATIENT_ID, 0, patient,
                                      sizeof patient);
        have_declared =
            nova_dataset_has(ds, TAG_SERIES_RELATED) &&
            nova_dataset_get_int(NULL, ds, TAG_SERIES_RELATED, 0, &declared) &&
            declared > 0;
    }
    nova_dataset_destroy(ds);
    if (!ok) {
        nova_free(file);
        return false;
    }
    char *study_dir = nova_strdup_printf(error, "%s/%s", s->dir, study);
    char *series_dir =
        nova_strdup_printf(error, "%s/%s/%s", s->dir, study, series);
    char *path = nova_strdup_printf(error, "%s/%s/%s/%s.dcm", s->dir, study,
                                    series, sop_instance);
    const char *name = path ? path + strlen(series_dir) + 1 : NULL;
    char tmp[96];
    /* The temporary file sits beside its final name: the rename then
     * stays inside one directory (no file-system-wide cross-directory
     * rename lock, no directory shared by every association), and its dot
     * hides it from anyone listing *.dcm. */
    snprintf(tmp, sizeof tmp, ".%s.%llu.part", sop_instance,
             (unsigned long long)atomic_fetch_add(&s->tmp_counter, 1));
    ok = study_dir && series_dir && path;
    SeriesDir *dir = NULL;
    for (int attempt = 0; ok && attempt < 2; attempt++) {
        dir = series_dir_acquire(error, s, study_dir, series_dir);
        if (!dir) {
            ok = false;
            break;
        }
        /* A spare made by an earlier put is used when there is one. */
        char spare[32];
        int spare_fd = -1;
        const char *tname = spare_take(s, dir, spare, &spare_fd) ? spare : tmp;
        int written = write_durable(error, dir->fd, series_dir, tname, spare_fd,
                                    file, fsize);
        if (written == 0) {
            ok = false;
            break;
        }
        int rc = written > 0 ? rename_new(dir->fd, tname, name) : ENOENT;
        if (rc == EEXIST) {
            /* The final name exists: stored before when the index has its
             * row (the first copy stays), else a file whose row was lost
             * or never written, which this one replaces. */
            bool known = false;
            if (!index_has(error, s, sop_instance, &known)) {
                unlinkat(dir->fd, tname, 0);
                ok = false;
                break;
            }
            if (known) {
                unlinkat(dir->fd, tname, 0);
                *duplicate = true;
                goto out;
            }
            rc = renameat(dir->fd, tname, dir->fd, name) == 0 ? 0 : errno;
        }
        if (rc == 0)
            break;
        if (written > 0)
            unlinkat(dir->fd, tname, 0);
        if (rc != ENOENT) {
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot store",
                                "rename %s: %s", path, strerror(rc));
            break;
        }
        /* The folder (or the spare in it) vanished under its open
         * descriptor (someone removed it): forget the folder and make it
         * again, once. */
        series_dir_release(s, dir, true);
        dir = NULL;
        dir_forget(s, series_dir);
        dir_forget(s, study_dir);
        if (attempt == 1)
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write",
                                "%s/%s: %s", series_dir, tmp, strerror(ENOENT));
    }
    if (ok) {
        spare_make(s, dir);
        int rc = series_dir_sync(s, dir);
        if (rc != 0)
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot sync",
                                "directory %s: %s", series_dir, strerror(rc));
    }
    if (ok) {
        IndexRow row = {.study = study,
                        .series = series,
                        .patient = patient,
                        .modality = modality,
                        .sop_instance = sop_instance,
                        .sop_class = sop_class,
                        .ts = ts,
                        .rel_path = path + strlen(s->dir) + 1,
                        .calling_ae = calling_ae,
                        .size = (int64_t)fsize,
                        .have_declared = have_declared,
                        .declared = declared};
        index_commit(s, &row);
        ok = row.ok;
        if (!ok) {
            if (error && !*error)
                *error = row.error;
            else
                nova_error_free(row.error);
        } else if (!row.inserted) {
            *duplicate = true;
        }
    }
out:
    if (dir)
        series_dir_release(s, dir, false);
    nova_free(file);
    nova_free(study_dir);
    nova_free(series_dir);
    nova_free(path);
    return ok;
}

/* ------------------------------------------------------- reconcile */

static bool name_is_uid(const char *name, const char *suffix, char out[65])
{
    size_t n = strlen(name), k = strlen(suffix);
    if (n <= k || n - k > 64 || strcmp(name + n - k, suffix) != 0)
        return false;
    memcpy(out, name, n - k);
    out[n - k] = 0;
    return nova_uid_is_valid(out);
}

/* Index one final-named file that the index lacks.  It is complete and
 * durable (it got its name only after its bytes were synced), but its row
 * was lost with the index's last transactions (synchronous=NORMAL, power
 * loss) or never written (a crash between the directory sync and the
 * commit).  A file that does not parse, or whose UIDs disagree with its
 * path, was not made by this store: it is left alone, with a warning. */
static bool reconcile_file(NovaStore *s, const char *study, const char *series,
                           const char *sop, const char *path)
{
    NovaError *e = NULL;
    struct stat st;
    NovaDataset *ds = stat(path, &st) == 0
                          ? nova_dataset_read_file(&e, path, NOVA_READ_STRICT)
                          : NULL;
    char ds_study[65] = "", ds_series[65] = "", ds_sop[65] = "", cls[65] = "",
         ts[65] = "", ae[17] = "", modality[17] = "", patient[65] = "";
    bool ok =
        ds && dataset_uid(&e, ds, TAG_SOP_CLASS, "SOP Class UID", cls) &&
        dataset_uid(&e, ds, TAG_SOP_INSTANCE, "SOP Instance UID", ds_sop) &&
        dataset_uid(&e, ds, TAG_STUDY_UID, "Study Instance UID", ds_study) &&
        dataset_uid(&e, ds, TAG_SERIES_UID, "Series Instance UID", ds_series) &&
        dataset_uid(&e, ds, NOVA_TAG(0x0002, 0x0010), "Transfer Syntax UID",
                    ts);
    if (ok && (strcmp(ds_study, study) || strcmp(ds_series, series) ||
               strcmp(ds_sop, sop))) {
        nova_error_set(&e, NOVA_ERROR_INVALID, "misplaced",
                       "its UIDs do not match its path");
        ok = false;
    }
    if (!ok) {
        nova_log(NOVA_LOG_WARNING, "store %s: not indexing %s: %s", s->dir,
                 path, e ? nova_error_message(e) : "cannot read");
        nova_error_free(e);
        nova_dataset_destroy(ds);
        return false;
    }
    nova_dataset_get_string_value(NULL, ds, NOVA_TAG(0x0002, 0x0016), 0, ae,
                                  sizeof ae);
    nova_dataset_get_string_value(NULL, ds, TAG_MODALITY, 0, modality,
                                  sizeof modality);
    nova_dataset_get_string_value(NULL, ds, TAG_PATIENT_ID, 0, patient,
                                  sizeof patient);
    int64_t declared = 0;
    bool have_declared =
        nova_dataset_has(ds, TAG_SERIES_RELATED) &&
        nova_dataset_get_int(NULL, ds, TAG_SERIES_RELATED, 0, &declared) &&
        declared > 0;
    nova_dataset_destroy(ds);
    IndexRow row = {.study = study,
                    .series = series,
                    .patient = patient,
                    .modality = modality,
                    .sop_instance = sop,
                    .sop_class = cls,
                    .ts = ts,
                    .rel_path = path + strlen(s->dir) + 1,
                    .calling_ae = ae,
                    .size = (int64_t)st.st_size,
                    .have_declared = have_declared,
                    .declared = declared,
                    .received =
                        (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9};
    commit_batch(s, &row);
    if (!row.ok) {
        nova_log(NOVA_LOG_WARNING, "store %s: not indexing %s: %s", s->dir,
                 path, nova_error_message(row.error));
        nova_error_free(row.error);
    }
    return row.ok && row.inserted;
}

/* Walk DIR/<study>/<series>/<sop>.dcm and index what the index lacks.
 * Runs at open, before any association, when the last run did not close
 * the store (the marker was found).  Names that are not UIDs (.tmp, the
 * index, anything a person put there) are not ours and are skipped. */
static bool reconcile(NovaError **error, NovaStore *s)
{
    int64_t added = 0, files = 0;
    DIR *d1 = opendir(s->dir);
    if (!d1)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read",
                              "directory %s: %s", s->dir, strerror(errno));
    /* The three names below DIR are UIDs (at most 64 characters each). */
    size_t cap = strlen(s->dir) + 3 * 65 + 8;
    char *path = nova_malloc(error, cap);
    if (!path) {
        closedir(d1);
        return false;
    }
    char study[65], series[65], sop[65];
    struct dirent *e1, *e2, *e3;
    while ((e1 = readdir(d1))) {
        if (!name_is_uid(e1->d_name, "", study))
            continue;
        snprintf(path, cap, "%s/%s", s->dir, study);
        DIR *d2 = opendir(path);
        while (d2 && (e2 = readdir(d2))) {
            if (!name_is_uid(e2->d_name, "", series))
                continue;
            snprintf(path, cap, "%s/%s/%s", s->dir, study, series);
            DIR *d3 = opendir(path);
            while (d3 && (e3 = readdir(d3))) {
                /* A temporary file of the crashed run: never renamed,
                 * so never acknowledged. */
                size_t len = strlen(e3->d_name);
                if (e3->d_name[0] == '.' && len > 5 &&
                    strcmp(e3->d_name + len - 5, ".part") == 0) {
                    unlinkat(dirfd(d3), e3->d_name, 0);
                    continue;
                }
                if (!name_is_uid(e3->d_name, ".dcm", sop))
                    continue;
                files++;
                sqlite3_stmt *st = s->st[ST_FIND_INSTANCE];
                sqlite3_bind_text(st, 1, sop, -1, SQLITE_TRANSIENT);
                bool known = sqlite3_step(st) == SQLITE_ROW;
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                if (known)
                    continue;
                snprintf(path, cap, "%s/%s/%s/%s.dcm", s->dir, study, series,
                         sop);
                if (reconcile_file(s, study, series, sop, path))
                    added++;
            }
            if (d3)
                closedir(d3);
        }
        if (d2)
            closedir(d2);
    }
    closedir(d1);
    nova_free(path);
    /* A warning: the operator should know that the last run crashed. */
    nova_log(NOVA_LOG_WARNING,
             "store %s: not closed cleanly; %lld instance files checked, "
             "%lld added to the index",
             s->dir, (long long)files, (long long)added);
    return true;
}

bool nova_store_counts(NovaError **error, NovaStore *s, int64_t *n_studies,
                       int64_t *n_series, int64_t *n_instances)
{
    static const char *const q[3] = {"SELECT count(*) FROM studies",
                                     "SELECT count(*) FROM series",
                                     "SELECT count(*) FROM instances"};
    int64_t *out[3] = {n_studies, n_series, n_instances};
    bool ok = true;
    pthread_mutex_lock(&s->db_lock);
    for (int i = 0; i < 3 && ok; i++) {
        sqlite3_stmt *st = NULL;
        ok = sqlite3_prepare_v2(s->db, q[i], -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
        if (ok)
            *out[i] = sqlite3_column_int64(st, 0);
        else
            db_fail(error, s, q[i]);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return ok;
}

char *nova_store_instance_path(NovaError **error, NovaStore *s,
                               const char *sop_instance)
{
    char *out = NULL;
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st = s->st[ST_FIND_INSTANCE];
    sqlite3_bind_text(st, 1, sop_instance, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = nova_strdup_printf(error, "%s/%s", s->dir,
                                 (const char *)sqlite3_column_text(st, 0));
    else
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "not stored", "%s",
                       sop_instance);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->db_lock);
    return out;
}
