/*
 * config.c - radiomics configurations: defaults and the "key = value" file
 * format of the files in configs/radiomics.
 *
 * One setting per line, '#' starts a comment, keys are those documented in
 * configs/radiomics/default.conf.  Unknown keys and malformed values are
 * errors naming the file and line, so a typo never silently falls back to
 * a default.
 */
#include "radiomics_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void nova_radiomics_config_init(NovaRadiomicsConfig *config)
{
    memset(config, 0, sizeof *config);
    snprintf(config->name, sizeof config->name, "default");
    config->texture = NOVA_RADIOMICS_TEXTURE_2D | NOVA_RADIOMICS_TEXTURE_3D;
    config->interpolation = NOVA_RADIOMICS_INTERP_NONE;
    config->round_intensities = false;
    config->mask_partial_volume = 0.5;
    config->range_enabled = false;
    config->range_min = -INFINITY;
    config->range_max = INFINITY;
    config->outlier_sigma = 0.0;
    config->discretisation = NOVA_RADIOMICS_DISCRETISE_NONE;
    config->bin_width = 0.0;
    config->bin_count = 0;
    config->ivh_discretisation = NOVA_RADIOMICS_DISCRETISE_NONE;
    config->glcm_distance = 1;
    config->ngtdm_distance = 1;
    config->ngldm_distance = 1;
    config->ngldm_alpha = 0;
    config->spatial_max_voxels = 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Parse a number, accepting "inf", "-inf"; the whole token must be used. */
static bool parse_double(const char *s, double *out, const char **end)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || errno == ERANGE)
        return false;
    *out = v;
    *end = e;
    return true;
}

static bool parse_numbers(const char *s, double *out, int n)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        if (!parse_double(p, &out[i], &p))
            return false;
    }
    while (isspace((unsigned char)*p))
        p++;
    return *p == '\0';
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    double v;
    if (!parse_numbers(s, &v, 1) || v != floor(v) || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
        *out = true;
    else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
        *out = false;
    else
        return false;
    return true;
}

/* "none", "fbn N" or "fbs W". */
static bool parse_discretisation(const char *s,
                                 NovaRadiomicsDiscretisation *method,
                                 int *count, double *width)
{
    if (!strcmp(s, "none")) {
        *method = NOVA_RADIOMICS_DISCRETISE_NONE;
        return true;
    }
    if (!strncmp(s, "fbn", 3) && isspace((unsigned char)s[3])) {
        if (!parse_int(s + 3, 1, 1 << 20, count))
            return false;
        *method = NOVA_RADIOMICS_DISCRETISE_FBN;
        return true;
    }
    if (!strncmp(s, "fbs", 3) && isspace((unsigned char)s[3])) {
        double w;
        if (!parse_numbers(s + 3, &w, 1) || !(w > 0) || !isfinite(w))
            return false;
        *width = w;
        *method = NOVA_RADIOMICS_DISCRETISE_FBS;
        return true;
    }
    return false;
}

static bool apply(NovaRadiomicsConfig *c, const char *key, const char *value)
{
    if (!strcmp(key, "name")) {
        snprintf(c->name, sizeof c->name, "%s", value);
        return true;
    }
    if (!strcmp(key, "texture")) {
        if (!strcmp(value, "2d"))
            c->texture = NOVA_RADIOMICS_TEXTURE_2D;
        else if (!strcmp(value, "3d"))
            c->texture = NOVA_RADIOMICS_TEXTURE_3D;
        else if (!strcmp(value, "all"))
            c->texture = NOVA_RADIOMICS_TEXTURE_2D | NOVA_RADIOMICS_TEXTURE_3D;
        else
            return false;
        return true;
    }
    if (!strcmp(key, "interpolation")) {
        if (!strcmp(value, "none"))
            c->interpolation = NOVA_RADIOMICS_INTERP_NONE;
        else if (!strcmp(value, "linear"))
            c->interpolation = NOVA_RADIOMICS_INTERP_LINEAR;
        else if (!strcmp(value, "cubic"))
            c->interpolation = NOVA_RADIOMICS_INTERP_CUBIC;
        else
            return false;
        return true;
    }
    if (!strcmp(key, "spacing_mm")) {
        double v[3];
        if (!parse_numbers(value, v, 3))
            return false;
        for (int i = 0; i < 3; i++) {
            if (!isfinite(v[i]) || v[i] < 0)
                return false;
            c->spacing_mm[i] = v[i];
        }
        return true;
    }
    if (!strcmp(key, "intensity_rounding"))
        return parse_bool(value, &c->round_intensities);
    if (!strcmp(key, "mask_partial_volume")) {
        double v;
        if (!parse_numbers(value, &v, 1) || !(v > 0 && v <= 1))
            return false;
        c->mask_partial_volume = v;
        return true;
    }
    if (!strcmp(key, "resegmentation_range")) {
        if (!strcmp(value, "none")) {
            c->range_enabled = false;
            c->range_min = -INFINITY;
            c->range_max = INFINITY;
            return true;
        }
        double v[2];
        if (!parse_numbers(value, v, 2) || isnan(v[0]) || isnan(v[1]) ||
            !(v[0] <= v[1]))
            return false;
        c->range_enabled = true;
        c->range_min = v[0];
        c->range_max = v[1];
        return true;
    }
    if (!strcmp(key, "outlier_sigma")) {
        double v;
        if (!parse_numbers(value, &v, 1) || !(v >= 0) || !isfinite(v))
            return false;
        c->outlier_sigma = v;
        return true;
    }
    if (!strcmp(key, "discretisation"))
        return parse_discretisation(value, &c->discretisation, &c->bin_count,
                                    &c->bin_width);
    if (!strcmp(key, "ivh_discretisation"))
        return parse_discretisation(value, &c->ivh_discretisation,
                                    &c->ivh_bin_count, &c->ivh_bin_width);
    if (!strcmp(key, "glcm_distance"))
        return parse_int(value, 1, 64, &c->glcm_distance);
    if (!strcmp(key, "ngtdm_distance"))
        return parse_int(value, 1, 64, &c->ngtdm_distance);
    if (!strcmp(key, "ngldm_distance"))
        return parse_int(value, 1, 64, &c->ngldm_distance);
    if (!strcmp(key, "ngldm_alpha"))
        return parse_int(value, 0, 1 << 20, &c->ngldm_alpha);
    if (!strcmp(key, "spatial_max_voxels")) {
        double v;
        if (!parse_numbers(value, &v, 1) || v < 0 || v != floor(v) || v > 1e15)
            return false;
        c->spatial_max_voxels = (size_t)v;
        return true;
    }
    return false;
}

static const char *const known_keys[] = {"name",
                                         "texture",
                                         "interpolation",
                                         "spacing_mm",
                                         "intensity_rounding",
                                         "mask_partial_volume",
                                         "resegmentation_range",
                                         "outlier_sigma",
                                         "discretisation",
                                         "ivh_discretisation",
                                         "glcm_distance",
                                         "ngtdm_distance",
                                         "ngldm_distance",
                                         "ngldm_alpha",
                                         "spatial_max_voxels",
                                         NULL};

bool nova_radiomics_config_parse(NovaError **error, const char *text,
                                 const char *origin,
                                 NovaRadiomicsConfig *config)
{
    nova_radiomics_config_init(config);
    char *copy = nova_strdup(error, text);
    if (!copy)
        return false;
    bool ok = true;
    int line_no = 0;
    /* Lines are split by hand (strtok would skip empty lines and so
     * miscount line numbers). */
    char *line = copy;
    while (ok && line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s) {
            char *eq = strchr(s, '=');
            if (!eq) {
                ok =
                    nova_error_set(error, NOVA_ERROR_PARSE, "bad configuration",
                                   "%s:%d: expected 'key = value', got '%s'",
                                   origin, line_no, s);
                break;
            }
            *eq = '\0';
            char *key = trim(s), *value = trim(eq + 1);
            bool known = false;
            for (const char *const *k = known_keys; *k; k++)
                known = known || !strcmp(*k, key);
            if (!known)
                ok = nova_error_set(
                    error, NOVA_ERROR_PARSE, "bad configuration",
                    "%s:%d: unknown key '%s'", origin, line_no, key);
            else if (!apply(config, key, value))
                ok =
                    nova_error_set(error, NOVA_ERROR_PARSE, "bad configuration",
                                   "%s:%d: invalid value '%s' for '%s'", origin,
                                   line_no, value, key);
        }
        line = next;
    }
    nova_free(copy);
    if (ok && config->discretisation == NOVA_RADIOMICS_DISCRETISE_FBS &&
        !(config->bin_width > 0))
        ok = nova_error_set(error, NOVA_ERROR_PARSE, "bad configuration",
                            "%s: fixed bin size needs a width", origin);
    return ok;
}

bool nova_radiomics_config_load(NovaError **error, const char *path,
                                NovaRadiomicsConfig *config)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot open",
                              "configuration %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) {
                ok = nova_error_set(error, NOVA_ERROR_RANGE, "too large",
                                    "configuration %s exceeds 16 MiB", path);
                break;
            }
            char *t = nova_realloc(error, text, cap);
            if (!t) {
                ok = false;
                break;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    if (ok && ferror(f))
        ok = nova_error_set(error, NOVA_ERROR_IO, "read failed",
                            "configuration %s: read error", path);
    fclose(f);
    if (ok) {
        text[len] = '\0';
        if (strlen(text) != len)
            ok = nova_error_set(error, NOVA_ERROR_PARSE, "bad configuration",
                                "%s: NUL byte in text", path);
    }
    ok = ok && nova_radiomics_config_parse(error, text, path, config);
    nova_free(text);
    return ok;
}
