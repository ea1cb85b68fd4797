/*
 * features.c - the feature list, the computation entry point and the CSV
 * and JSON writers.
 *
 * nova_radiomics_compute() builds the preprocessed ROI (preprocess.c) and
 * runs each family in the order of IBSI 1 chapter 3; every family appends
 * (feature, aggregation, value) triples to one growing list.
 */
#include "radiomics_internal.h"

#include <string.h>

typedef struct {
    const char *family, *id, *code, *name;
} FeatureInfo;

static const FeatureInfo feature_info[NOVA__F_COUNT] = {
#define NOVA__RF(fam, fid, fcode, fname) {fam, #fid, fcode, fname},
#include "feature_table.h"
#undef NOVA__RF
};

/* IBSI 1 aggregation codes and the names the reference tables use. */
static const struct {
    const char *code, *name;
} aggregation_info[NOVA__AGG_COUNT] = {
    [NOVA__AGG_3D_VOLUME] = {"DHQ4", "3D"},
    [NOVA__AGG_2D_AVG] = {"BTW3", "2D, averaged"},
    [NOVA__AGG_2D_SMRG] = {"SUJT", "2D, slice-merged"},
    [NOVA__AGG_25D_DMRG] = {"JJUI", "2.5D, direction-merged"},
    [NOVA__AGG_25D_MRG] = {"ZW7Z", "2.5D, merged"},
    [NOVA__AGG_3D_AVG] = {"ITBB", "3D, averaged"},
    [NOVA__AGG_3D_MRG] = {"IAZD", "3D, merged"},
    [NOVA__AGG_2D] = {"8QNN", "2D"},
    [NOVA__AGG_25D] = {"62GR", "2.5D"},
    [NOVA__AGG_3D] = {"KOBO", "3D"},
};

struct NovaRadiomicsFeatures {
    NovaRadiomicsFeature *items;
    size_t count, capacity;
    size_t n_morph, n_roi;
};

bool nova__features_add(NovaError **error, NovaRadiomicsFeatures *features,
                        NovaRadiomicsFeatureId id,
                        NovaRadiomicsAggregation aggregation, double value)
{
    if (features->count == features->capacity) {
        size_t capacity = features->capacity ? features->capacity * 2 : 256;
        NovaRadiomicsFeature *items =
            nova_realloc(error, features->items, capacity * sizeof *items);
        if (!items)
            return false;
        features->items = items;
        features->capacity = capacity;
    }
    NovaRadiomicsFeature *f = &features->items[features->count++];
    f->family = feature_info[id].family;
    f->id = feature_info[id].id;
    f->code = feature_info[id].code;
    f->name = feature_info[id].name;
    f->aggregation = aggregation_info[aggregation].code;
    f->aggregation_name = aggregation_info[aggregation].name;
    f->value = value;
    return true;
}

void nova__features_set_counts(NovaRadiomicsFeatures *features, size_t n_morph,
                               size_t n_roi)
{
    features->n_morph = n_morph;
    features->n_roi = n_roi;
}

void nova_radiomics_features_destroy(NovaRadiomicsFeatures *features)
{
    if (!features)
        return;
    nova_free(features->items);
    nova_free(features);
}

size_t nova_radiomics_features_count(const NovaRadiomicsFeatures *features)
{
    return features ? features->count : 0;
}

const NovaRadiomicsFeature *
nova_radiomics_features_get(const NovaRadiomicsFeatures *features, size_t i)
{
    return features && i < features->count ? &features->items[i] : NULL;
}

const NovaRadiomicsFeature *
nova_radiomics_features_find(const NovaRadiomicsFeatures *features,
                             const char *id, const char *aggregation_name)
{
    if (!features || !id)
        return NULL;
    bool volume = !aggregation_name || !aggregation_name[0];
    for (size_t i = 0; i < features->count; i++) {
        const NovaRadiomicsFeature *f = &features->items[i];
        if (strcmp(f->id, id) != 0)
            continue;
        if (volume ? strcmp(f->aggregation, "DHQ4") == 0
                   : strcmp(f->aggregation, "DHQ4") != 0 &&
                         strcmp(f->aggregation_name, aggregation_name) == 0)
            return f;
    }
    return NULL;
}

size_t nova_radiomics_features_morph_voxels(const NovaRadiomicsFeatures *f)
{
    return f ? f->n_morph : 0;
}

size_t nova_radiomics_features_intensity_voxels(const NovaRadiomicsFeatures *f)
{
    return f ? f->n_roi : 0;
}

NovaRadiomicsFeatures *nova_radiomics_compute(NovaError **error,
                                              const NovaVolume *image,
                                              const NovaVolume *mask, int label,
                                              const NovaRadiomicsConfig *config)
{
    return nova_radiomics_compute_pool(error, image, mask, label, config, NULL);
}

NovaRadiomicsFeatures *
nova_radiomics_compute_pool(NovaError **error, const NovaVolume *image,
                            const NovaVolume *mask, int label,
                            const NovaRadiomicsConfig *config, NovaPool *pool)
{
    NovaRoi roi;
    if (!nova__roi_build(error, image, mask, label, config, &roi))
        return NULL;
    NovaRadiomicsFeatures *features = nova_calloc(error, 1, sizeof *features);
    bool ok = features != NULL;
    if (ok)
        nova__features_set_counts(features, roi.n_morph, roi.n_roi);
    ok = ok && nova__morphology_features(error, &roi, config, pool, features);
    ok = ok && nova__local_intensity_features(error, &roi, features);
    ok = ok && nova__statistics_features(error, &roi, features);
    ok = ok && nova__histogram_features(error, &roi, features);
    ok = ok && nova__ivh_features(error, &roi, features);
    ok = ok && nova__texture_features(error, &roi, config, features);
    nova__roi_free(&roi);
    if (!ok) {
        nova_radiomics_features_destroy(features);
        return NULL;
    }
    return features;
}

/* ---------------------------------------------------------------- output */

static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

bool nova_radiomics_features_write_csv(NovaError **error,
                                       const NovaRadiomicsFeatures *features,
                                       FILE *out, const char *case_id,
                                       bool header)
{
    if (header)
        fprintf(out,
                "%sfamily,code,id,name,aggregation,aggregation_name,"
                "value\n",
                case_id ? "case," : "");
    for (size_t i = 0; i < features->count; i++) {
        const NovaRadiomicsFeature *f = &features->items[i];
        if (case_id) {
            csv_field(out, case_id);
            fputc(',', out);
        }
        fprintf(out, "%s,%s,%s,", f->family, f->code, f->id);
        csv_field(out, f->name);
        fprintf(out, ",%s,", f->aggregation);
        csv_field(out, f->aggregation_name);
        if (isnan(f->value))
            fputs(",NA\n", out);
        else
            fprintf(out, ",%.9g\n", f->value);
    }
    if (ferror(out))
        return nova_error_set(error, NOVA_ERROR_IO, "write failed",
                              "writing the feature table failed");
    return true;
}

bool nova_radiomics_features_write_json(NovaError **error,
                                        const NovaRadiomicsFeatures *features,
                                        FILE *out)
{
    fputs("[\n", out);
    for (size_t i = 0; i < features->count; i++) {
        const NovaRadiomicsFeature *f = &features->items[i];
        fputs("  {\"family\": ", out);
        json_string(out, f->family);
        fputs(", \"code\": ", out);
        json_string(out, f->code);
        fputs(", \"id\": ", out);
        json_string(out, f->id);
        fputs(", \"name\": ", out);
        json_string(out, f->name);
        fputs(", \"aggregation\": ", out);
        json_string(out, f->aggregation);
        fputs(", \"aggregation_name\": ", out);
        json_string(out, f->aggregation_name);
        /* JSON has no NaN: an undefined value is null. */
        if (isfinite(f->value))
            fprintf(out, ", \"value\": %.9g}", f->value);
        else
            fputs(", \"value\": null}", out);
        fputs(i + 1 < features->count ? ",\n" : "\n", out);
    }
    fputs("]\n", out);
    if (ferror(out))
        return nova_error_set(error, NOVA_ERROR_IO, "write failed",
                              "writing the feature JSON failed");
    return true;
}
