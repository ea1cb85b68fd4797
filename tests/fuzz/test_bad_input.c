/*
 * test_bad_input.c - broken DICOM must give a clear error, never a crash or
 * a hang; the fuzz corpus and every fuzz crash ever found replay cleanly.
 *
 * tools/make_bad_corpus.py writes the bad-input corpus into a temporary
 * folder (truncations, lengths past the end, 10,000-deep sequences, absurd
 * element and fragment lengths, garbage codestreams for every codec, image
 * modules that lie...) with a manifest saying, for each file, whether it
 * must fail (whole, or also header-only), must parse, or may do either.  Each
 * file is read twice, whole from its path and header-only through a callback of
 * small reads, and walked and decoded as the fuzz target does (fuzz_walk.c).
 * Every error must name the file, give an offset ("offset N") and say what is
 * wrong. Then tests/fuzz/corpus/ and tests/fuzz/regressions/ go through exactly
 * what the libFuzzer target runs.  Hangs: a per-file CPU-time limit ends
 * the run with a TAP "Bail out!" naming the file.  Crashes: the sanitizer build
 * of `make check-sanitize` turns any memory error into a failure.
 */
#include "fuzz_walk.h"
#include "test.h"

#include "fuzz_replay.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef NOVA_PYTHON
#define NOVA_PYTHON "python3"
#endif

/* CPU seconds one file may take (the largest, a 64 MiB deflate bomb,
 * takes about one in a release build), measured as process CPU time so a
 * loaded machine does not fail the test; a wall-clock limit backs it up
 * for a file that would block. */
#define FILE_CPU_LIMIT_S 30
#define FILE_WALL_LIMIT_S 600
/* Failures printed per case; the count of the rest follows. */
#define MAX_REPORTED 25

/* Test-program state, set once in main / per file for the alarm handler. */
static char corpus_dir[512];
static char current_file[1024];
static bool corpus_ready;

static void on_alarm(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls here. */
    static const char head[] = "Bail out! no answer within the time limit "
                               "for ";
    ssize_t w = write(STDOUT_FILENO, head, sizeof head - 1);
    w = write(STDOUT_FILENO, current_file, strlen(current_file));
    w = write(STDOUT_FILENO, "\n", 1);
    (void)w;
    _exit(1);
}

static void start_clock(const char *path)
{
    snprintf(current_file, sizeof current_file, "%s", path);
    struct itimerval cpu = {{0, 0}, {FILE_CPU_LIMIT_S, 0}};
    setitimer(ITIMER_PROF, &cpu, NULL);
    alarm(FILE_WALL_LIMIT_S);
}

static void stop_clock(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    alarm(0);
}

static void quiet(NovaLogLevel level, const char *message, void *user)
{
    (void)level;
    (void)message;
    (void)user;
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* An error must name the file, give "offset N" and say what is wrong (some
 * text beyond the name and the offset). NULL when it does, else why not. */
static const char *message_problem(const NovaError *error, const char *name)
{
    const char *msg = nova_error_message(error);
    if (!strstr(msg, name))
        return "does not name the file";
    const char *off = strstr(msg, "offset ");
    if (!off || off[7] < '0' || off[7] > '9')
        return "gives no offset";
    if (strlen(msg) < strlen(name) + strlen("offset 0") + 12)
        return "does not say what is wrong";
    return NULL;
}

typedef struct {
    size_t files;
    size_t failed_as_expected;
    size_t parsed;
    size_t problems;
} Tally;

static void problem(Tally *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(Tally *t, const char *fmt, ...)
{
    t->problems++;
    if (t->problems <= MAX_REPORTED) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        test_fail(__FILE__, __LINE__, "%s", buf);
    } else {
        test_case_failed = 1;
    }
}

static void judge(Tally *t, const char *path, const char *expect,
                  const char *what, const char *how, const FuzzResult *r)
{
    if (r->violation[0])
        problem(t, "%s (%s, %s): API contract broken: %s", path, what, how,
                r->violation);
    if (r->error) {
        const char *bad = message_problem(r->error, path);
        if (bad)
            problem(t, "%s (%s, %s): %s error %s: %s", path, what, how,
                    r->stage, bad, nova_error_message(r->error));
    }
    if ((strcmp(expect, "fail") == 0 || strcmp(expect, "fail-whole") == 0) &&
        !r->error)
        problem(t,
                "%s (%s, %s): accepted, but the file is broken "
                "(%u frames decoded)",
                path, what, how, r->frames_decoded);
    if (strcmp(expect, "ok") == 0 && r->error)
        problem(t, "%s (%s, %s): valid file refused: %s", path, what, how,
                nova_error_message(r->error));
}

static void check_file(Tally *t, const char *path, const char *expect,
                       const char *what)
{
    t->files++;
    start_clock(path);
    FuzzResult whole = {0};
    fuzz_run_file(path, NOVA_READ_DEFAULT, &whole);
    judge(t, path, expect, what, "whole file", &whole);
    if (whole.parsed)
        t->parsed++;
    if (whole.error && strncmp(expect, "fail", 4) == 0)
        t->failed_as_expected++;
    fuzz_result_clear(&whole);

    size_t size = 0;
    uint8_t *data = read_whole(path, &size);
    if (data) {
        FuzzResult header = {0};
        fuzz_run_memory(data, size, path, NOVA_READ_HEADER_ONLY, 7, &header);
        /* A header-only read never looks past Pixel Data. */
        const char *header_expect =
            strcmp(expect, "fail-whole") == 0 ? "any" : expect;
        judge(t, path, header_expect, what, "header-only, 7-byte reads",
              &header);
        fuzz_result_clear(&header);
        free(data);
    } else {
        problem(t, "%s: cannot read it back", path);
    }
    stop_clock();
}

/* Replay the manifest entries whose names start with prefix. */
static void replay(const char *prefix)
{
    if (!corpus_ready)
        SKIP("the bad-input corpus was not generated (see the first case)");
    char manifest[600];
    snprintf(manifest, sizeof manifest, "%s/manifest.tsv", corpus_dir);
    FILE *f = fopen(manifest, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    Tally t = {0};
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *name = line;
        char *expect = strchr(name, '\t');
        if (!expect)
            continue;
        *expect++ = '\0';
        char *what = strchr(expect, '\t');
        if (what)
            *what++ = '\0';
        if (strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        char path[2700];
        snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
        check_file(&t, path, expect, what ? what : "");
    }
    fclose(f);
    if (t.problems > MAX_REPORTED)
        printf("# ... and %zu more problems\n", t.problems - MAX_REPORTED);
    printf("# %s*: %zu files, %zu parsed whole, %zu broken ones refused, "
           "%zu problems\n",
           prefix, t.files, t.parsed, t.failed_as_expected, t.problems);
    /* An empty category would make the case pass without testing. */
    CHECK(t.files > 0);
}

static void test_generate_corpus(void)
{
    snprintf(corpus_dir, sizeof corpus_dir, "%s/bad-corpus", test_tmp_dir());
    const char *pydicom = getenv("NOVA_PYDICOM_FILES");
    if (!pydicom)
        pydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    struct stat st;
    bool have_pydicom = stat(pydicom, &st) == 0 && S_ISDIR(st.st_mode);
    if (!have_pydicom)
        printf("# %s is absent: generated inputs only\n", pydicom);
    char cmd[2048];
    /* The tool's summary line goes to stderr: this program's stdout is TAP,
     * where meson reports an untagged line as an error. */
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/tools/make_bad_corpus.py' '%s'%s%s%s 1>&2",
             NOVA_PYTHON, NOVA_SOURCE_DIR, corpus_dir,
             have_pydicom ? " --pydicom-files '" : "",
             have_pydicom ? pydicom : "", have_pydicom ? "'" : "");
    int rc = system(cmd);
    CHECK_EQ_INT(rc, 0);
    corpus_ready = rc == 0;
}

static void test_valid_files_parse(void)
{
    replay("valid_");
}
static void test_truncated_files(void)
{
    replay("trunc_");
}
static void test_lying_lengths(void)
{
    replay("len_");
}
static void test_deep_nesting(void)
{
    replay("nest_");
}
static void test_garbage_codestreams(void)
{
    replay("codec_");
}
static void test_broken_fragments(void)
{
    replay("frag_");
}
static void test_broken_offset_tables(void)
{
    replay("bot_");
}
static void test_impossible_images(void)
{
    replay("image_");
}
static void test_wrong_vrs(void)
{
    replay("vr_");
}
static void test_broken_meta_groups(void)
{
    replay("meta_");
}
static void test_random_byte_changes(void)
{
    replay("flip_");
}
static void test_corrupt_codestreams(void)
{
    replay("codestream_");
}

/* One file through the fuzz target's code, under the per-file clock. */
static bool check_dicom_file(const char *path, const uint8_t *data, size_t size,
                             char *why, size_t why_size)
{
    start_clock(path);
    char violation[256] = "";
    bool ok = fuzz_one_input(data, size, violation);
    stop_clock();
    snprintf(why, why_size, "%s", violation);
    return ok;
}

static size_t replay_fuzz_dir(const char *dir)
{
    return replay_dir(dir, check_dicom_file);
}

static void test_fuzz_corpus_replays(void)
{
    size_t n = replay_fuzz_dir(NOVA_SOURCE_DIR "/tests/fuzz/corpus");
    printf("# %zu corpus files replayed\n", n);
    CHECK(n >= 10);
}

static void test_fuzz_regressions_replay(void)
{
    size_t n = replay_fuzz_dir(NOVA_SOURCE_DIR "/tests/fuzz/regressions");
    printf("# %zu regression files replayed\n", n);
    if (n == 0)
        SKIP("no fuzz regressions recorded yet");
}

static void remove_corpus(void)
{
    if (!corpus_dir[0])
        return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", corpus_dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", corpus_dir);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    signal(SIGPROF, on_alarm);
    /* Warnings for each broken file would bury the TAP output. */
    nova_log_set_handler(quiet, NULL);
    RUN(test_generate_corpus);
    RUN(test_valid_files_parse);
    RUN(test_truncated_files);
    RUN(test_lying_lengths);
    RUN(test_deep_nesting);
    RUN(test_garbage_codestreams);
    RUN(test_broken_fragments);
    RUN(test_broken_offset_tables);
    RUN(test_impossible_images);
    RUN(test_wrong_vrs);
    RUN(test_broken_meta_groups);
    RUN(test_random_byte_changes);
    RUN(test_corrupt_codestreams);
    RUN(test_fuzz_corpus_replays);
    RUN(test_fuzz_regressions_replay);
    remove_corpus();
    return test_done();
}
