/*
 * test.h - Nova's small test harness.  Each test program runs named cases
 * and prints TAP (ok / not ok / # SKIP), which meson reads and
 * scripts/run-tests.sh counts into the closing "N passed, N failed" line.
 *
 *   static void test_parse(void) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(test_parse); return test_done(); }
 *
 * A CHECK that fails records the file, line and values and the case goes
 * on; SKIP("reason") ends the case as skipped (e.g. shared data absent).
 */
#ifndef NOVA_TEST_H
#define NOVA_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int test_case_failed;
extern jmp_buf test_skip_jump;
extern char test_skip_reason[256];

void test_run(const char *name, void (*fn)(void));
int test_done(void);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Path of ../shared/data (NOVA_DATA_DIR overrides); NULL when absent. */
const char *test_data_dir(void);
/* Join test_data_dir() and a relative path into a static buffer; NULL (and
 * the case skips) when the data folder is absent. */
const char *test_data_path(const char *relative);
/* Directory for temporary files of this test run (created once). */
const char *test_tmp_dir(void);

#define RUN(fn) test_run(#fn, fn)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                  \
        if (va_ != vb_)                                                        \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,    \
                      va_, vb_);                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double va_ = (double)(a), vb_ = (double)(b);                           \
        if (!(va_ - vb_ <= (tol) && vb_ - va_ <= (tol)))                       \
            test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)",    \
                      #a, #b, va_, vb_, (double)(tol));                        \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *sa_ = (a), *sb_ = (b);                                     \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                             \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a,    \
                      #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
    } while (0)

/* CHECK that a NovaError ** call succeeded, printing the error if not. */
#define CHECK_OK(err)                                                          \
    do {                                                                       \
        if ((err) != NULL)                                                     \
            test_fail(__FILE__, __LINE__, "unexpected error: %s: %s",          \
                      nova_error_summary(err), nova_error_message(err));       \
    } while (0)

#define SKIP(...)                                                              \
    do {                                                                       \
        snprintf(test_skip_reason, sizeof test_skip_reason, __VA_ARGS__);      \
        longjmp(test_skip_jump, 1);                                            \
    } while (0)

#endif
