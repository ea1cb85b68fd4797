/*
 * test_radiomics_ref.h - the IBSI 1 reference table for the radiomics
 * tests: reads ibsi-reference/ibsi1_reference_values.csv and compares a
 * feature list against the rows of one data set, printing the table of
 * matches as TAP comments.
 *
 * Tolerance: the table's own tolerance, or where it gives none ("—", the
 * digital phantom) half a unit in the last significant digit written
 * (2.15 -> 0.005, 1.2e3 -> 50), i.e. our value rounds to the reference.
 * The CSV gives the GLSZM "small zone emphasis" rows under the previous
 * feature's family and id (a parse slip of the IBSI text); they are mapped
 * back to szm_small_zone_emphasis here.
 */
#ifndef NOVA_TEST_RADIOMICS_REF_H
#define NOVA_TEST_RADIOMICS_REF_H

#include "nova/nova.h"
#include "test.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    char id[96];
    char aggregation[48];
    char value_text[32];
    double value, tolerance;
} RefRow;

/* Split one CSV line (RFC 4180 quotes) into at most max fields. */
static int ref_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p;
        fields[n++] = out;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else if (!*p) {
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',' && *p != '\n' && *p != '\r')
                *out++ = *p++;
        }
        char sep = *p;
        *out = '\0';
        if (sep != ',')
            break;
        p++;
    }
    return n;
}

/* Half a unit in the last significant digit of a number as written. */
static double ref_half_ulp(const char *text)
{
    const char *e = strpbrk(text, "eE");
    int exponent = e ? atoi(e + 1) : 0;
    const char *dot = strchr(text, '.');
    int decimals = 0;
    if (dot)
        for (const char *q = dot + 1; *q && isdigit((unsigned char)*q); q++)
            decimals++;
    return 0.5 * pow(10.0, exponent - decimals);
}

/* Rows of data set `data` ("dig. phantom", "config. A" ...); caller frees. */
static RefRow *ref_load(const char *path, const char *data, size_t *count)
{
    FILE *f = fopen(path, "r");
    *count = 0;
    if (!f)
        return NULL;
    size_t cap = 512;
    RefRow *rows = calloc(cap, sizeof *rows);
    char line[1024];
    bool header = true;
    while (rows && fgets(line, sizeof line, f)) {
        if (header) {
            header = false;
            continue;
        }
        char *fl[10];
        if (ref_split(line, fl, 10) < 10)
            continue;
        /* family,anchor,feature_id,feature,ibsi_code,data,aggregation,
         * value,tolerance,consensus */
        if (strcmp(fl[5], data) != 0)
            continue;
        if (*count == cap)
            break;
        RefRow *r = &rows[(*count)++];
        const char *id = fl[2];
        if (strcmp(fl[3], "Small zone emphasis") == 0)
            id = "feat_szm_small_zone_emphasis";
        snprintf(r->id, sizeof r->id, "%s",
                 strncmp(id, "feat_", 5) == 0 ? id + 5 : id);
        snprintf(r->aggregation, sizeof r->aggregation, "%s", fl[6]);
        snprintf(r->value_text, sizeof r->value_text, "%s", fl[7]);
        r->value = strtod(fl[7], NULL);
        char *end;
        double tol = strtod(fl[8], &end);
        r->tolerance = end != fl[8] ? tol : ref_half_ulp(fl[7]);
    }
    fclose(f);
    return rows;
}

/* Compare every row; print "feature_id | aggregation | ours | reference |
 * tolerance | ok" lines; return the number matched, and the total. */
static size_t ref_compare(const NovaRadiomicsFeatures *features,
                          const RefRow *rows, size_t count, bool print_all,
                          size_t *total)
{
    size_t matched = 0;
    *total = count;
    printf("# %-52s %-24s %14s %12s %10s %s\n", "feature_id", "aggregation",
           "ours", "reference", "tolerance", "ok");
    for (size_t i = 0; i < count; i++) {
        const RefRow *r = &rows[i];
        const NovaRadiomicsFeature *f =
            nova_radiomics_features_find(features, r->id, r->aggregation);
        double ours = f ? f->value : NAN;
        /* The tolerance is absolute; a tiny relative slack absorbs the
         * binary rounding of values that sit exactly on the boundary. */
        bool ok = f && isfinite(ours) &&
                  fabs(ours - r->value) <=
                      r->tolerance * (1 + 1e-9) + 1e-12 * fabs(r->value);
        matched += ok;
        if (print_all || !ok)
            printf("# %-52s %-24s %14.6g %12s %10.3g %s\n", r->id,
                   r->aggregation[0] ? r->aggregation : "-", ours,
                   r->value_text, r->tolerance,
                   ok ? "ok" : (f ? "MISMATCH" : "MISSING"));
    }
    return matched;
}

#endif
