/*
 * fuzz_tmpfile.h - one temporary file per fuzz process, for the readers
 * that take a path (NIfTI, radiomics configuration, RTSTRUCT, SEG): each
 * input is written over it in turn.  Included by one file of each target.
 */
#ifndef NOVA_FUZZ_TMPFILE_H
#define NOVA_FUZZ_TMPFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmp_path[512];
static int tmp_fd = -1;

/* Create DIR/STEM_XXXXXX once; true when the file is open. */
static inline bool open_tmp(const char *dir, const char *stem)
{
    if (tmp_fd >= 0)
        return true;
    snprintf(tmp_path, sizeof tmp_path, "%s/%s_XXXXXX", dir, stem);
    tmp_fd = mkstemp(tmp_path);
    return tmp_fd >= 0;
}

/* Replace the file's contents with data. */
static inline bool write_tmp(const uint8_t *data, size_t size)
{
    if (ftruncate(tmp_fd, 0) != 0)
        return false;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(tmp_fd, data + done, size - done, (off_t)done);
        if (w <= 0)
            return false;
        done += (size_t)w;
    }
    return true;
}

static inline void close_tmp(void)
{
    if (tmp_fd >= 0) {
        close(tmp_fd);
        unlink(tmp_path);
        tmp_fd = -1;
    }
}

#endif
