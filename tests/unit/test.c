/*
 * test.c - the harness behind test.h: runs cases, prints TAP.
 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int test_case_failed;
jmp_buf test_skip_jump;
char test_skip_reason[256];
static int n_cases, n_failed;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    test_case_failed = 1;
}

void test_run(const char *name, void (*fn)(void))
{
    test_case_failed = 0;
    test_skip_reason[0] = '\0';
    n_cases++;
    if (setjmp(test_skip_jump) == 0) {
        fn();
        if (test_case_failed) {
            n_failed++;
            printf("not ok %d - %s\n", n_cases, name);
        } else {
            printf("ok %d - %s\n", n_cases, name);
        }
    } else {
        printf("ok %d - %s # SKIP %s\n", n_cases, name, test_skip_reason);
    }
    fflush(stdout);
}

int test_done(void)
{
    printf("1..%d\n", n_cases);
    return n_failed ? 1 : 0;
}

const char *test_data_dir(void)
{
    static char dir[4096];
    if (dir[0])
        return dir;
    const char *env = getenv("NOVA_DATA_DIR");
    const char *candidates[] = {env, NOVA_SOURCE_DIR "/../shared/data", NULL};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (candidates[i] && stat(candidates[i], &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            snprintf(dir, sizeof dir, "%s", candidates[i]);
            return dir;
        }
    }
    return NULL;
}

const char *test_data_path(const char *relative)
{
    static _Thread_local char path[4096];
    const char *dir = test_data_dir();
    if (!dir)
        SKIP("../shared/data is absent (set NOVA_DATA_DIR)");
    snprintf(path, sizeof path, "%s/%s", dir, relative);
    if (access(path, R_OK) != 0)
        SKIP("%s is absent", path);
    return path;
}

const char *test_tmp_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nova-test-XXXXXX");
        if (!mkdtemp(dir))
            snprintf(dir, sizeof dir, "/tmp");
    }
    return dir;
}
