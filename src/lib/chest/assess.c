/*
 * assess.c - from lesions and measures to the findings radiologists use,
 * the RSNA expert-consensus category (Simpson et al., Radiol Cardiothorac
 * Imaging 2020), the CO-RADS level (Prokop et al., Radiology 2020) and a
 * probability of COVID-19 from a versioned model file.
 *
 * The rules and thresholds are in docs/analysis.md; each finding records
 * the sentence that explains it.  The probability model
 * (models/covid-probability) maps the CO-RADS level to the pooled COVID-19
 * frequency of the Kwee et al. 2021 meta-analysis; its text is built into
 * the binary (model_builtin.c, generated) and can be replaced by a file.
 *
 * Decision support only: the output is not validated for diagnosis.
 */
#include "chest/analysis_private.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char nova__builtin_probability_model[];

const char *nova_rsna_category_name(NovaRsnaCategory c)
{
    switch (c) {
    case NOVA_RSNA_NEGATIVE: return "negative";
    case NOVA_RSNA_TYPICAL: return "typical";
    case NOVA_RSNA_INDETERMINATE: return "indeterminate";
    case NOVA_RSNA_ATYPICAL: return "atypical";
    }
    return "unknown";
}

/* Parse "key = value" lines of the model text. */
static bool parse_model(NovaError **error, const char *text, const char *name,
                        NovaProbabilityModel *m)
{
    memset(m, 0, sizeof *m);
    int have = 0, line_no = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        line_no++;
        char line[256];
        if (len >= sizeof line)
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                                  "%s: line %d is too long", name, line_no);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (eol ? 1 : 0);
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '#' || *s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                                  "%s: line %d: expected key = value", name,
                                  line_no);
        *eq = '\0';
        char *key = s, *value = eq + 1;
        for (char *e = key + strlen(key);
             e > key && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        while (isspace((unsigned char)*value))
            value++;
        for (char *e = value + strlen(value);
             e > value && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        if (strcmp(key, "id") == 0) {
            snprintf(m->id, sizeof m->id, "%s", value);
            have |= 1;
        } else if (strcmp(key, "version") == 0) {
            snprintf(m->version, sizeof m->version, "%s", value);
            have |= 2;
        } else if (strncmp(key, "corads.", 7) == 0 && key[7] >= '1' &&
                   key[7] <= '5' && key[8] == '\0') {
            char *end;
            errno = 0;
            double v = strtod(value, &end);
            if (*end || errno || !(v >= 0 && v <= 1))
                return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                                      "%s: line %d: %s must be a probability "
                                      "between 0 and 1, not \"%s\"",
                                      name, line_no, key, value);
            m->corads_probability[key[7] - '0'] = v;
            have |= 4 << (key[7] - '1');
        } else {
            return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                                  "%s: line %d: unknown key \"%s\"", name,
                                  line_no, key);
        }
    }
    if (have != 0x7F)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                              "%s: needs id, version and corads.1 to "
                              "corads.5",
                              name);
    return true;
}

static bool load_model(NovaError **error, const char *path,
                       NovaProbabilityModel *m)
{
    if (!path)
        return parse_model(error, nova__builtin_probability_model,
                           "built-in probability model", m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot open model",
                              "%s: %s", path, strerror(errno));
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool too_big = !feof(f);
    fclose(f);
    if (too_big)
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                              "%s: larger than %zu bytes", path,
                              sizeof buf - 1);
    buf[n] = '\0';
    if (memchr(buf, '\0', n))
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad model file",
                              "%s: binary content", path);
    return parse_model(error, buf, path, m);
}

static void reason(NovaAnalysis *an, const char *format, ...) NOVA_PRINTF(2, 3);

static void reason(NovaAnalysis *an, const char *format, ...)
{
    if (an->reason_count >= NOVA_MAX_REASONS)
        return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(an->reasons[an->reason_count++], sizeof an->reasons[0], format,
              ap);
    va_end(ap);
}

static void assess(NovaAnalysis *an)
{
    const NovaMeasures *m = &an->measures;
    NovaFindings *f = &an->findings;
    memset(f, 0, sizeof *f);
    double total = 0, peripheral = 0, posterior = 0, upper = 0, lower = 0;
    double side_ml[3] = {0};
    bool big_lesion = false;
    for (size_t i = 0; i < an->lesion_count; i++) {
        const NovaLesion *l = &an->lesions[i];
        if (l->volume_ml >= 1.0)
            big_lesion = true;
        if (l->volume_ml < 0.5)
            continue;
        f->foci++;
        total += l->volume_ml;
        /* A lesion is peripheral (subpleural) when a quarter of it or more
         * lies in the outer third of the lung's depth: large peripheral
         * opacities reach far inwards, and the outer third holds about half
         * of an axial lung section, so the voxel share alone cannot tell a
         * subpleural lesion from a central one. */
        if (l->peripheral_fraction >= 0.25)
            peripheral += l->volume_ml;
        posterior += l->volume_ml * l->posterior_fraction;
        side_ml[l->lung] += l->volume_ml;
        if (l->type == NOVA_LESION_KIND_GGO && l->sphericity >= 0.55)
            f->rounded_ggo++;
        /* A discrete nodule: small (at most 3 cm), round and solid or
         * part-solid (mean above -300 HU). */
        if (l->max_diameter_mm <= 30 && l->sphericity >= 0.55 &&
            l->mean_hu > -300)
            f->discrete_nodules++;
        if (l->cavitated)
            f->cavitation = true;
        /* Lobar or segmental consolidation: one consolidation that fills
         * a fifth of its zone, or 15 ml. */
        if (l->type == NOVA_LESION_KIND_CONSOLIDATION) {
            int s = l->lung == NOVA_LUNG_LEFT ? 1 : 0;
            double zone = m->zone_lung_ml[s][l->third];
            if (l->volume_ml >= 15 || (zone > 0 && l->volume_ml >= 0.2 * zone))
                f->lobar_consolidation = true;
        }
    }
    for (int s = 0; s < 2; s++) {
        upper += m->zone_lesion_ml[s][NOVA_ZONE_UPPER];
        lower += m->zone_lesion_ml[s][NOVA_ZONE_LOWER];
    }
    f->any_opacity = m->po[0] >= 0.5 || big_lesion;
    f->bilateral =
        side_ml[NOVA_LUNG_RIGHT] >= 0.5 && side_ml[NOVA_LUNG_LEFT] >= 0.5;
    f->peripheral_predominant = total > 0 && peripheral / total >= 0.6;
    f->posterior_predominant = total > 0 && posterior / total >= 0.6;
    f->lower_predominant = lower > upper && lower > 0;
    f->ggo_to_consolidation =
        m->consolidation_ml > 0.01 ? m->ggo_ml / m->consolidation_ml : 1e6;
    const NovaEffusionResult *e = &an->effusion;
    f->effusion_assessed = e->assessed;
    snprintf(f->effusion_note, sizeof f->effusion_note, "%s", e->note);
    for (int s = 0; s < 2; s++) {
        f->effusion_present[s] = e->present[s];
        f->effusion_ml[s] = e->ml[s];
        f->effusion_depth_mm[s] = e->depth_mm[s];
        f->effusion_extent_mm[s] = e->extent_mm[s];
    }
    f->pleural_effusion = e->present[0] || e->present[1];
    bool ggo_dominant = m->ggo_ml >= 1.0 && f->ggo_to_consolidation >= 1.0;

    /* RSNA expert consensus (Simpson et al. 2020). */
    if (!f->any_opacity) {
        an->rsna = NOVA_RSNA_NEGATIVE;
        reason(an, "No opacity: %.2f %% of the lungs, no lesion of 1 ml.",
               m->po[0]);
    } else if ((f->bilateral && f->peripheral_predominant && ggo_dominant) ||
               (f->rounded_ggo >= 2 && f->foci >= 2 && ggo_dominant)) {
        an->rsna = NOVA_RSNA_TYPICAL;
        if (f->bilateral && f->peripheral_predominant)
            reason(an,
                   "Bilateral, peripheral-predominant ground-glass "
                   "opacity (%.0f %% of lesion volume in subpleural lesions).",
                   100 * peripheral / total);
        if (f->rounded_ggo >= 2)
            reason(an, "Multifocal rounded ground glass (%d rounded foci).",
                   f->rounded_ggo);
    } else if (ggo_dominant) {
        an->rsna = NOVA_RSNA_INDETERMINATE;
        reason(an, "Ground glass without a typical distribution (%s, %s).",
               f->bilateral ? "bilateral" : "unilateral",
               f->peripheral_predominant ? "peripheral" : "not peripheral");
    } else if (f->lobar_consolidation || f->discrete_nodules > 0 ||
               f->cavitation || f->pleural_effusion) {
        /* RSNA: pleural effusion (with smooth septal thickening, which
         * Nova does not measure) is an atypical feature when there is no
         * typical or indeterminate one; with dominant ground glass it does
         * not change the category, and without opacity it is no
         * pneumonia (negative, the effusion shown beside it). */
        an->rsna = NOVA_RSNA_ATYPICAL;
        if (f->lobar_consolidation)
            reason(an,
                   "Lobar or segmental consolidation without ground "
                   "glass (GGO/consolidation %.2f).",
                   f->ggo_to_consolidation);
        if (f->discrete_nodules > 0)
            reason(an, "%d discrete nodule(s).", f->discrete_nodules);
        if (f->cavitation)
            reason(an, "Cavitation.");
        if (f->pleural_effusion)
            reason(an, "Pleural effusion with opacities that are not "
                       "ground-glass dominant.");
    } else {
        an->rsna = NOVA_RSNA_INDETERMINATE;
        reason(an, "Opacities without features specific to an infection.");
    }
    if (f->lower_predominant)
        reason(an, "Lower-zone predominance.");
    if (f->posterior_predominant)
        reason(an, "Posterior predominance.");

    /* CO-RADS (Prokop et al. 2020): 1 normal, 2 typical of other
     * infections, 3 equivocal, 4 suspicious but not fully typical (e.g.
     * unilateral), 5 typical. */
    switch (an->rsna) {
    case NOVA_RSNA_NEGATIVE: an->corads = 1; break;
    case NOVA_RSNA_ATYPICAL: an->corads = 2; break;
    case NOVA_RSNA_TYPICAL: an->corads = f->bilateral ? 5 : 4; break;
    case NOVA_RSNA_INDETERMINATE:
        an->corads = ggo_dominant && f->peripheral_predominant ? 4 : 3;
        break;
    }
    an->probability = an->model.corads_probability[an->corads];
}

NovaAnalysis *nova_analysis_run(NovaError **error, NovaPool *pool,
                                const NovaVolume *hu,
                                const NovaLungResult *lungs,
                                const NovaLesionOptions *options,
                                const char *model_path)
{
    if (nova_volume_get_dtype(hu) != NOVA_DTYPE_INT16) {
        nova_error_set(error, NOVA_ERROR_INVALID, "not a CT volume",
                       "lesion analysis needs an int16 HU volume");
        return NULL;
    }
    NovaLesionOptions defaults;
    if (!options) {
        nova_lesion_options_init(&defaults);
        options = &defaults;
    }
    NovaAnalysis *an = nova_calloc(error, 1, sizeof *an);
    if (!an)
        return NULL;
    if (!load_model(error, model_path, &an->model)) {
        nova_free(an);
        return NULL;
    }
    double t0 = nova_time_now();
    if (!nova__find_lesions(error, pool, hu, lungs, options, an))
        goto fail;
    double t1 = nova_time_now();
    if (!nova__measure(error, pool, hu, lungs, options, an))
        goto fail;
    double t2 = nova_time_now();
    if (!nova__find_effusion(error, pool, hu, lungs, an))
        goto fail;
    double t3 = nova_time_now();
    assess(an);
    double t4 = nova_time_now();
    an->seconds_lesions = t1 - t0;
    an->seconds_measures = t2 - t1;
    /* "assessment" includes the effusion detector, so that result.json's
     * stages and the pipeline's sum keep their meaning; "effusion" alone
     * for the bench and NOVA_DEBUG_EFFUSION. */
    an->seconds_effusion = t3 - t2;
    an->seconds_assessment = t4 - t2;
    return an;
fail:
    nova_analysis_destroy(an);
    return NULL;
}

void nova_analysis_destroy(NovaAnalysis *an)
{
    if (!an)
        return;
    nova_free(an->lesions);
    nova_volume_unref(an->lesion_mask);
    nova_free(an);
}

size_t nova_analysis_get_lesion_count(const NovaAnalysis *an)
{
    return an->lesion_count;
}

const NovaLesion *nova_analysis_get_lesion(const NovaAnalysis *an, size_t i)
{
    return i < an->lesion_count ? &an->lesions[i] : NULL;
}

NovaVolume *nova_analysis_get_lesion_mask(const NovaAnalysis *an)
{
    return an->lesion_mask;
}

const NovaMeasures *nova_analysis_get_measures(const NovaAnalysis *an)
{
    return &an->measures;
}

const NovaFindings *nova_analysis_get_findings(const NovaAnalysis *an)
{
    return &an->findings;
}

NovaRsnaCategory nova_analysis_get_rsna(const NovaAnalysis *an)
{
    return an->rsna;
}

int nova_analysis_get_corads(const NovaAnalysis *an)
{
    return an->corads;
}

double nova_analysis_get_probability(const NovaAnalysis *an)
{
    return an->probability;
}

const char *nova_analysis_get_model_id(const NovaAnalysis *an)
{
    return an->model.id;
}

const char *nova_analysis_get_model_version(const NovaAnalysis *an)
{
    return an->model.version;
}

size_t nova_analysis_get_reason_count(const NovaAnalysis *an)
{
    return an->reason_count;
}

const char *nova_analysis_get_reason(const NovaAnalysis *an, size_t i)
{
    return i < an->reason_count ? an->reasons[i] : "";
}

double nova_analysis_get_seconds(const NovaAnalysis *an, const char *stage)
{
    if (strcmp(stage, "lesions") == 0)
        return an->seconds_lesions;
    if (strcmp(stage, "measures") == 0)
        return an->seconds_measures;
    if (strcmp(stage, "effusion") == 0)
        return an->seconds_effusion;
    if (strcmp(stage, "assessment") == 0)
        return an->seconds_assessment;
    return 0;
}
