/*
 * choose.c - the chest rule: which stack of a scan the chest pipeline
 * reads, and a sentence saying why (documented in nova/volume.h at
 * nova_scan_choose).
 *
 * The rule ranks candidate stacks by a list of criteria, most important
 * first; the reason names the criterion that separated the winner from the
 * runner-up, so a reader can check it against what they would have picked.
 */
#include "scan_private.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2: a lung or sharp reconstruction kernel; 1: unknown; 0: soft tissue.
 * Vendor names: Siemens B/Br/Bl/I/Q + strength (>= 50 sharp, "Bl" lung),
 * GE LUNG/BONE/BONEPLUS/DETAIL/EDGE, Philips L/YA/YB/YC/D/E, Canon/Toshiba
 * FC5x and FC8x (lung), generic "LUNG"/"SHARP". */
static int kernel_score(const char *kernel)
{
    if (!kernel[0])
        return 1;
    char k[NOVA_FINGERPRINT_TEXT];
    size_t n = 0;
    for (; kernel[n] && n + 1 < sizeof k; n++)
        k[n] = (char)toupper((unsigned char)kernel[n]);
    k[n] = '\0';
    if (strstr(k, "LUNG") || strstr(k, "BONE") || strstr(k, "SHARP") ||
        strstr(k, "DETAIL") || strstr(k, "EDGE") || strstr(k, "BL"))
        return 2;
    if (strncmp(k, "FC", 2) == 0 && (k[2] == '5' || k[2] == '8'))
        return 2;
    if (strcmp(k, "L") == 0 || strcmp(k, "YA") == 0 || strcmp(k, "YB") == 0 ||
        strcmp(k, "YC") == 0 || strcmp(k, "D") == 0 || strcmp(k, "E") == 0)
        return 2;
    /* Siemens: a letter or two, then the strength digits. */
    const char *p = k;
    while (*p && isalpha((unsigned char)*p))
        p++;
    if (p != k && p - k <= 2 && isdigit((unsigned char)*p))
        return atoi(p) >= 50 ? 2 : 0;
    if (strstr(k, "SOFT") || strstr(k, "STANDARD") || strstr(k, "STND") ||
        strstr(k, "BODY") || strstr(k, "SMOOTH"))
        return 0;
    return 1;
}

typedef struct {
    size_t index;
    const NovaStackFingerprint *fp;
    int oblique, derived, incomplete, short_coverage, kernel;
} Candidate;

static int compare_candidates(const Candidate *a, const Candidate *b,
                              const char **why)
{
#define KEY(cond, text)                                                        \
    do {                                                                       \
        int c_ = (cond);                                                       \
        if (c_) {                                                              \
            *why = text;                                                       \
            return c_;                                                         \
        }                                                                      \
    } while (0)
    KEY(a->oblique - b->oblique, "it is axial, the other oblique");
    KEY(a->derived - b->derived, "it is ORIGINAL, the other DERIVED");
    KEY(a->incomplete - b->incomplete,
        "it is complete, the other misses slices");
    KEY(a->short_coverage - b->short_coverage,
        "it covers the chest, the other less than 80% of the longest");
    KEY(b->kernel - a->kernel, "its kernel is sharper (lung)");
    double sa = a->fp->slice_spacing_mm, sb = b->fp->slice_spacing_mm;
    KEY(fabs(sa - sb) > 0.01 ? (sa < sb ? -1 : 1) : 0,
        "its slices are thinner");
    KEY(a->fp->slice_count != b->fp->slice_count
            ? (a->fp->slice_count > b->fp->slice_count ? -1 : 1)
            : 0,
        "it has more slices");
    KEY(a->fp->series_number != b->fp->series_number
            ? (a->fp->series_number < b->fp->series_number ? -1 : 1)
            : 0,
        "its series number is lower");
    *why = "it comes first in scan order";
    return a->index < b->index ? -1 : 1;
#undef KEY
}

static int qsort_candidates(const void *a, const void *b)
{
    const char *why;
    return compare_candidates(a, b, &why);
}

bool nova_scan_choose(NovaError **error, const NovaScan *scan,
                      const char *series_uid, size_t *stack, char *reason,
                      size_t reason_size)
{
    char dummy[8];
    if (!reason) {
        reason = dummy;
        reason_size = sizeof dummy;
    }
    reason[0] = '\0';
    if (series_uid) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < scan->stack_count; i++) {
            const NovaStackFingerprint *fp = &scan->stacks[i].fp;
            if (strcmp(fp->series_uid, series_uid) != 0)
                continue;
            if (best == SIZE_MAX ||
                fp->slice_count > scan->stacks[best].fp.slice_count)
                best = i;
        }
        if (best == SIZE_MAX)
            return nova_error_set(error, NOVA_ERROR_NOT_FOUND,
                                  "series not found",
                                  "no series with UID %s among %zu stacks",
                                  series_uid, scan->stack_count);
        *stack = best;
        snprintf(reason, reason_size,
                 "series %s was requested (its largest stack, %zu slices)",
                 series_uid, scan->stacks[best].fp.slice_count);
        return true;
    }

    Candidate *c = nova_calloc(error, scan->stack_count + 1, sizeof *c);
    if (!c)
        return false;
    size_t n = 0, ct = 0, localizers = 0, reformats = 0, short_stacks = 0;
    double max_coverage = 0.0;
    for (size_t i = 0; i < scan->stack_count; i++) {
        const NovaStackFingerprint *fp = &scan->stacks[i].fp;
        if (strcmp(fp->modality, "CT") != 0)
            continue;
        ct++;
        if (fp->localizer) {
            localizers++;
            continue;
        }
        if (fp->orientation != NOVA_ORIENTATION_AXIAL &&
            fp->orientation != NOVA_ORIENTATION_OBLIQUE) {
            reformats++;
            continue;
        }
        if (fp->slice_count < NOVA_CHEST_MIN_SLICES) {
            short_stacks++;
            continue;
        }
        c[n].index = i;
        c[n].fp = fp;
        c[n].oblique = fp->orientation == NOVA_ORIENTATION_OBLIQUE;
        c[n].derived = fp->derived && !fp->original;
        c[n].incomplete = fp->missing_slices > 0;
        c[n].kernel = kernel_score(fp->kernel);
        if (fp->z_coverage_mm > max_coverage)
            max_coverage = fp->z_coverage_mm;
        n++;
    }
    if (n == 0) {
        nova_free(c);
        return nova_error_set(
            error, NOVA_ERROR_NOT_FOUND, "no chest CT series",
            "%zu stacks, %zu of them CT: %zu localizers, %zu coronal or "
            "sagittal, %zu with fewer than %d slices; no axial CT stack to "
            "analyse",
            scan->stack_count, ct, localizers, reformats, short_stacks,
            NOVA_CHEST_MIN_SLICES);
    }
    for (size_t i = 0; i < n; i++)
        c[i].short_coverage = c[i].fp->z_coverage_mm < 0.8 * max_coverage;
    qsort(c, n, sizeof *c, qsort_candidates);
    const NovaStackFingerprint *w = c[0].fp;
    *stack = c[0].index;
    int used = snprintf(
        reason, reason_size,
        "series %lld \"%s\": %s CT, %s, %zu slices at %.3g mm over %.0f mm, "
        "kernel %s",
        (long long)w->series_number, w->series_description,
        nova_orientation_name(w->orientation),
        w->derived ? "DERIVED" : (w->original ? "ORIGINAL" : "image type ?"),
        w->slice_count, w->slice_spacing_mm, w->z_coverage_mm,
        w->kernel[0] ? w->kernel : "(none given)");
    if (n > 1 && used > 0 && (size_t)used < reason_size) {
        const char *why = "";
        compare_candidates(&c[0], &c[1], &why);
        snprintf(reason + used, reason_size - (size_t)used,
                 "; chosen over %zu other candidate%s (next: series %lld, "
                 "%zu slices at %.3g mm) because %s",
                 n - 1, n > 2 ? "s" : "", (long long)c[1].fp->series_number,
                 c[1].fp->slice_count, c[1].fp->slice_spacing_mm, why);
    } else if (used > 0 && (size_t)used < reason_size) {
        snprintf(reason + used, reason_size - (size_t)used,
                 "; the only candidate");
    }
    nova_free(c);
    return true;
}
