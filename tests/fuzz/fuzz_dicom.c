/*
 * fuzz_dicom.c - libFuzzer target for Nova's DICOM parser and pixel codecs.
 *
 * Each input is read as a DICOM stream (whole and borrowed, then header-only
 * through small callback reads), every element and item is walked through
 * every getter, a bounded set of frames is decoded, and the same bytes go
 * straight to each codec as one frame of a small image (fuzz_walk.c).  A
 * broken API contract aborts, so libFuzzer keeps it as a crash.
 *
 * Run it with scripts/fuzz.sh (`make fuzz`); its seed corpus is
 * tests/fuzz/corpus/, and tests/fuzz/test_bad_input.c replays that corpus
 * and tests/fuzz/regressions/ in `make check`.
 */
#include "fuzz_walk.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(NovaLogLevel level, const char *message, void *user)
{
    (void)level;
    (void)message;
    (void)user;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Warnings about broken input would flood the fuzzer's output. */
    nova_log_set_handler(quiet, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char violation[256] = "";
    if (!fuzz_one_input(data, size, violation)) {
        fprintf(stderr, "fuzz_dicom: API contract broken: %s\n", violation);
        abort();
    }
    return 0;
}
