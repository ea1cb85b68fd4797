/*
 * fuzz_replay.h - the replay side of the fuzz targets that have one test
 * binary per target (fuzz_volume, fuzz_radiomics) and of test_bad_input
 * (fuzz_dicom's walk): read an input file, and run every file of a corpus
 * folder through the target's check.
 * Include after test.h, in the replay build only.
 */
#ifndef NOVA_FUZZ_REPLAY_H
#define NOVA_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Read up to cap bytes of path into buf; false when it cannot be opened. */
static inline bool read_input(const char *path, uint8_t *buf, size_t cap,
                              size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    *size = fread(buf, 1, cap, f);
    fclose(f);
    return true;
}

/* The target's check of one input read from path (for a check that
 * names the file while it runs): false with the reason in why. */
typedef bool (*FuzzCheckFn)(const char *path, const uint8_t *data, size_t size,
                            char *why, size_t why_size);

/* Every file of dir (but dotfiles and README.md) through check; a failure
 * names the file.  Returns how many files were run. */
static inline size_t replay_dir(const char *dir, FuzzCheckFn check)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' || strcmp(ent->d_name, "README.md") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        /* Inputs are capped at 64 KiB by scripts/fuzz.sh's -max_len. */
        static uint8_t buf[1 << 20];
        size_t size;
        if (!read_input(path, buf, sizeof buf, &size)) {
            test_fail(__FILE__, __LINE__, "cannot open %s", path);
            continue;
        }
        char why[512] = "";
        if (!check(path, buf, size, why, sizeof why))
            test_fail(__FILE__, __LINE__, "%s: %s", path, why);
        n++;
    }
    closedir(d);
    return n;
}

#endif
