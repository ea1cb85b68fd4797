/*
 * result.c - result.json (schema nova.result/1), the overlay PNGs and the
 * self-contained report.html of one chest analysis.
 *
 * The JSON keys and the meaning of every number are documented in
 * docs/result-schema.md; the schema is only ever extended.  Overlays are
 * rendered once, written as files and embedded (base64) in the HTML so the
 * report opens anywhere without its folder.
 */
#include "nova/image.h"
#include "nova/json.h"
#include "nova/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_KEY_SLICES 4

typedef struct {
    char name[64]; /* file name under overlays/ */
    char caption[128];
    uint8_t *png;
    size_t png_size;
} Overlay;

typedef struct {
    Overlay items[MAX_KEY_SLICES + 1];
    size_t count;
} Overlays;

static const uint8_t RIGHT_COLOR[3] = {0, 200, 255};
static const uint8_t LEFT_COLOR[3] = {80, 255, 80};
static const uint8_t GGO_COLOR[3] = {255, 220, 0};
static const uint8_t CONS_COLOR[3] = {255, 40, 40};

static double view_scale(const NovaVolume *hu, NovaCut cut)
{
    size_t d[3];
    nova_volume_get_dims(hu, d);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    int h = cut == NOVA_CUT_SAGITTAL ? 1 : 0;
    int v = cut == NOVA_CUT_AXIAL ? 1 : 2;
    double s = fmin(g->spacing[h], g->spacing[v]);
    double w = (double)d[h] * g->spacing[h] / s;
    double scale = ceil(448.0 / w);
    return scale < 1 ? 1 : scale > 8 ? 8 : scale;
}

static bool render(NovaError **error, const NovaReportInput *in, NovaCut cut,
                   size_t index, Overlay *o)
{
    double scale = view_scale(in->hu, cut);
    /* Lung window (DOMAIN.md bands fit in -1350..150). */
    NovaImage *img =
        nova_image_from_cut(error, in->hu, cut, index, -600, 1500, scale);
    if (!img)
        return false;
    if (in->analysis) {
        NovaVolume *les = nova_analysis_get_lesion_mask(in->analysis);
        nova_image_draw_fill(img, les, cut, index, 1, GGO_COLOR, 0.35);
        nova_image_draw_fill(img, les, cut, index, 2, CONS_COLOR, 0.45);
        nova_image_draw_outline(img, les, cut, index, 0, GGO_COLOR);
    }
    if (in->lungs) {
        NovaVolume *lab = nova_lung_result_get_labels(in->lungs);
        nova_image_draw_outline(img, lab, cut, index, NOVA_LUNG_RIGHT,
                                RIGHT_COLOR);
        nova_image_draw_outline(img, lab, cut, index, NOVA_LUNG_LEFT,
                                LEFT_COLOR);
    }
    bool ok = nova_image_encode_png(error, img, &o->png, &o->png_size);
    nova_image_destroy(img);
    return ok;
}

/* Key axial slices: those of the largest lesions, else through the lungs
 * at a third, a half and two thirds of their height; plus one coronal
 * overview through the lungs' centre (or the largest lesion). */
static bool make_overlays(NovaError **error, const NovaReportInput *in,
                          Overlays *ov)
{
    size_t d[3];
    nova_volume_get_dims(in->hu, d);
    size_t slices[MAX_KEY_SLICES];
    size_t n = 0;
    size_t lesions =
        in->analysis ? nova_analysis_get_lesion_count(in->analysis) : 0;
    for (size_t i = 0; i < lesions && n < MAX_KEY_SLICES - 1; i++) {
        size_t k = nova_analysis_get_lesion(in->analysis, i)->key_slice;
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen |= slices[j] == k;
        if (!seen)
            slices[n++] = k;
    }
    size_t coronal = d[1] / 2;
    if (lesions > 0) {
        const NovaLesion *l = nova_analysis_get_lesion(in->analysis, 0);
        coronal = (l->bbox_min[1] + l->bbox_max[1]) / 2;
    }
    if (n == 0) {
        size_t zlo = 0, zhi = d[2] ? d[2] - 1 : 0;
        if (in->lungs) {
            const uint8_t *lab = nova_volume_get_const_data(
                nova_lung_result_get_labels(in->lungs));
            size_t plane = d[0] * d[1];
            zlo = SIZE_MAX;
            zhi = 0;
            double ysum = 0, cnt = 0;
            for (size_t z = 0; z < d[2]; z++)
                for (size_t i = 0; i < plane; i++) {
                    uint8_t v = lab[z * plane + i];
                    if (v == NOVA_LUNG_RIGHT || v == NOVA_LUNG_LEFT) {
                        if (z < zlo)
                            zlo = z;
                        zhi = z;
                        ysum += (double)(i / d[0]);
                        cnt++;
                    }
                }
            if (zlo == SIZE_MAX)
                zlo = 0, zhi = d[2] ? d[2] - 1 : 0;
            if (cnt > 0)
                coronal = (size_t)(ysum / cnt);
        }
        size_t span = zhi - zlo;
        size_t picks[3] = {zlo + span / 3, zlo + span / 2, zlo + 2 * span / 3};
        for (int i = 0; i < 3; i++) {
            bool seen = false;
            for (size_t j = 0; j < n; j++)
                seen |= slices[j] == picks[i];
            if (!seen)
                slices[n++] = picks[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        Overlay *o = &ov->items[ov->count];
        snprintf(o->name, sizeof o->name, "axial_%04zu.png", slices[i]);
        snprintf(o->caption, sizeof o->caption, "Axial slice %zu of %zu",
                 slices[i] + 1, d[2]);
        if (!render(error, in, NOVA_CUT_AXIAL, slices[i], o))
            return false;
        ov->count++;
    }
    if (d[2] > 1) {
        Overlay *o = &ov->items[ov->count];
        snprintf(o->name, sizeof o->name, "coronal_%04zu.png", coronal);
        snprintf(o->caption, sizeof o->caption, "Coronal overview (row %zu)",
                 coronal + 1);
        if (!render(error, in, NOVA_CUT_CORONAL, coronal, o))
            return false;
        ov->count++;
    }
    return true;
}

static void free_overlays(Overlays *ov)
{
    for (size_t i = 0; i < ov->count; i++)
        nova_free(ov->items[i].png);
}

/* ------------------------------------------------------------------ JSON */

static void key_string(NovaJson *j, const char *k, const char *v)
{
    nova_json_key(j, k);
    if (v)
        nova_json_string(j, v);
    else
        nova_json_null(j);
}

static void key_double(NovaJson *j, const char *k, double v)
{
    nova_json_key(j, k);
    /* three decimals is finer than any measure here is meaningful */
    nova_json_double(j, round(v * 1000.0) / 1000.0);
}

static void key_int(NovaJson *j, const char *k, int64_t v)
{
    nova_json_key(j, k);
    nova_json_int(j, v);
}

static void key_bool(NovaJson *j, const char *k, bool v)
{
    nova_json_key(j, k);
    nova_json_bool(j, v);
}

static void vec3(NovaJson *j, const char *k, const double *v)
{
    nova_json_key(j, k);
    nova_json_begin_array(j);
    for (int i = 0; i < 3; i++)
        nova_json_double(j, round(v[i] * 1000.0) / 1000.0);
    nova_json_end_array(j);
}

static const char *third_name(int t)
{
    static const char *names[3] = {"upper", "middle", "lower"};
    return t >= 0 && t < 3 ? names[t] : "unknown";
}

static void write_json(NovaJson *j, const NovaReportInput *in,
                       const Overlays *ov, const char *out_dir)
{
    nova_json_begin_object(j);
    key_string(j, "schema", NOVA_RESULT_SCHEMA);
    key_string(j, "nova_version", nova_version());
    nova_json_key(j, "pipeline");
    nova_json_begin_object(j);
    key_string(j, "id", NOVA_CHEST_PIPELINE_ID);
    key_string(j, "version", NOVA_CHEST_PIPELINE_VERSION);
    nova_json_end_object(j);
    key_string(j, "input", in->input_path);
    key_string(j, "decision_support",
               "Decision support only; not validated for diagnosis.");

    nova_json_key(j, "study");
    if (in->study) {
        nova_json_begin_object(j);
        key_string(j, "study_instance_uid", in->study->study_uid);
        key_string(j, "patient_id", in->study->patient_id);
        key_string(j, "patient_name", in->study->patient_name);
        key_string(j, "study_date", in->study->study_date);
        key_string(j, "study_description", in->study->study_description);
        key_string(j, "accession_number", in->study->accession_number);
        nova_json_end_object(j);
    } else {
        nova_json_null(j);
    }

    nova_json_key(j, "series");
    nova_json_begin_object(j);
    if (in->stack) {
        const NovaStackFingerprint *s = in->stack;
        key_string(j, "series_instance_uid", s->series_uid);
        key_int(j, "series_number", s->series_number);
        key_string(j, "description", s->series_description);
        key_string(j, "modality", s->modality);
        key_string(j, "orientation", nova_orientation_name(s->orientation));
        key_int(j, "slices", (int64_t)s->slice_count);
        key_double(j, "slice_thickness_mm", s->slice_thickness_mm);
        key_double(j, "slice_spacing_mm", s->slice_spacing_mm);
        key_double(j, "z_coverage_mm", s->z_coverage_mm);
        key_string(j, "kernel", s->kernel);
        key_bool(j, "contrast", s->contrast);
        key_string(j, "image_type", s->image_type);
        key_string(j, "transfer_syntax", s->transfer_syntax);
    }
    key_string(j, "chosen_because", in->choice_reason);
    size_t d[3];
    nova_volume_get_dims(in->hu, d);
    const NovaGeometry *g = nova_volume_get_geometry(in->hu);
    nova_json_key(j, "volume");
    nova_json_begin_object(j);
    nova_json_key(j, "dims");
    nova_json_begin_array(j);
    for (int a = 0; a < 3; a++)
        nova_json_uint(j, d[a]);
    nova_json_end_array(j);
    vec3(j, "spacing_mm", g->spacing);
    vec3(j, "origin_mm", g->origin);
    nova_json_end_object(j);
    nova_json_end_object(j);

    nova_json_key(j, "timing_ms");
    nova_json_begin_object(j);
    double total = 0;
    for (size_t i = 0; i < in->timing_count; i++) {
        key_double(j, in->timing_names[i], in->timing_ms[i]);
        total += in->timing_ms[i];
    }
    key_double(j, "total", total);
    nova_json_end_object(j);

    nova_json_key(j, "lungs");
    if (in->lungs) {
        nova_json_begin_object(j);
        key_double(j, "volume_ml",
                   nova_lung_result_get_volume_ml(in->lungs, NOVA_LUNG_NONE));
        static const char *sides[2] = {"right", "left"};
        for (int s = 0; s < 2; s++) {
            nova_json_key(j, sides[s]);
            nova_json_begin_object(j);
            key_double(j, "volume_ml",
                       nova_lung_result_get_volume_ml(in->lungs, s + 1));
            nova_json_key(j, "zones");
            nova_json_begin_object(j);
            for (int t = 0; t < 3; t++) {
                nova_json_key(j, third_name(t));
                nova_json_begin_object(j);
                double c = nova_lung_result_get_zone_volume_ml(
                    in->lungs, NOVA_ZONE_CODE(s + 1, t, 0));
                double p = nova_lung_result_get_zone_volume_ml(
                    in->lungs, NOVA_ZONE_CODE(s + 1, t, 1));
                key_double(j, "volume_ml", c + p);
                key_double(j, "central_ml", c);
                key_double(j, "peripheral_ml", p);
                nova_json_end_object(j);
            }
            nova_json_end_object(j);
            nova_json_end_object(j);
        }
        key_double(j, "airway_ml",
                   nova_lung_result_get_volume_ml(in->lungs, NOVA_LUNG_AIRWAY));
        nova_json_key(j, "flags");
        nova_json_begin_array(j);
        unsigned f = nova_lung_result_get_flags(in->lungs);
        static const char *flag_names[8] = {
            "no_right_lung", "no_left_lung",   "no_trachea",   "cropped_side",
            "cropped_top",   "cropped_bottom", "single_slice", "not_separated"};
        for (int b = 0; b < 8; b++)
            if (f & (1u << b))
                nova_json_string(j, flag_names[b]);
        nova_json_end_array(j);
        nova_json_end_object(j);
    } else {
        nova_json_null(j);
    }

    const NovaAnalysis *an = in->analysis;
    nova_json_key(j, "lesions");
    nova_json_begin_array(j);
    for (size_t i = 0; an && i < nova_analysis_get_lesion_count(an); i++) {
        const NovaLesion *l = nova_analysis_get_lesion(an, i);
        nova_json_begin_object(j);
        key_int(j, "id", l->id);
        key_string(j, "type", nova_lesion_kind_name(l->type));
        key_double(j, "volume_ml", l->volume_ml);
        key_double(j, "mean_hu", l->mean_hu);
        key_double(j, "high_fraction", l->high_fraction);
        key_string(j, "lung", l->lung == NOVA_LUNG_LEFT ? "left" : "right");
        key_string(j, "zone", third_name(l->third));
        key_double(j, "peripheral_fraction", l->peripheral_fraction);
        key_double(j, "posterior_fraction", l->posterior_fraction);
        vec3(j, "centroid_mm", l->centroid_mm);
        nova_json_key(j, "bbox");
        nova_json_begin_object(j);
        nova_json_key(j, "min");
        nova_json_begin_array(j);
        for (int a = 0; a < 3; a++)
            nova_json_uint(j, l->bbox_min[a]);
        nova_json_end_array(j);
        nova_json_key(j, "max");
        nova_json_begin_array(j);
        for (int a = 0; a < 3; a++)
            nova_json_uint(j, l->bbox_max[a]);
        nova_json_end_array(j);
        nova_json_end_object(j);
        key_int(j, "key_slice", (int64_t)l->key_slice);
        key_double(j, "sphericity", l->sphericity);
        key_double(j, "max_diameter_mm", l->max_diameter_mm);
        key_bool(j, "cavitated", l->cavitated);
        nova_json_end_object(j);
    }
    nova_json_end_array(j);

    nova_json_key(j, "measures");
    if (an) {
        const NovaMeasures *m = nova_analysis_get_measures(an);
        nova_json_begin_object(j);
        key_double(j, "lung_ml", m->lung_ml[0]);
        key_double(j, "lesion_ml", m->lesion_ml[0]);
        key_double(j, "high_opacity_ml", m->high_ml[0]);
        key_double(j, "ggo_ml", m->ggo_ml);
        key_double(j, "consolidation_ml", m->consolidation_ml);
        key_double(j, "po", m->po[0]);
        key_double(j, "pho", m->pho[0]);
        static const char *sides[2] = {"right", "left"};
        for (int s = 0; s < 2; s++) {
            nova_json_key(j, sides[s]);
            nova_json_begin_object(j);
            key_double(j, "lesion_ml", m->lesion_ml[s + 1]);
            key_double(j, "po", m->po[s + 1]);
            key_double(j, "pho", m->pho[s + 1]);
            nova_json_key(j, "zones");
            nova_json_begin_object(j);
            for (int t = 0; t < 3; t++) {
                nova_json_key(j, third_name(t));
                nova_json_begin_object(j);
                key_double(j, "lesion_ml", m->zone_lesion_ml[s][t]);
                key_double(j, "po", m->zone_po[s][t]);
                key_double(j, "pho", m->zone_pho[s][t]);
                key_int(j, "score", m->zone_score[s][t]);
                nova_json_end_object(j);
            }
            nova_json_end_object(j);
            nova_json_end_object(j);
        }
        nova_json_key(j, "severity_score");
        nova_json_begin_object(j);
        key_int(j, "value", m->severity_score);
        key_int(j, "max", 30);
        key_string(j, "scheme", m->severity_scheme);
        key_string(j, "reference",
                   "Pan et al., Radiology 2020 (bins per zone 0-5); six "
                   "zones instead of five lobes");
        nova_json_end_object(j);
        nova_json_key(j, "lung_hu_histogram");
        nova_json_begin_object(j);
        key_double(j, "start_hu", m->histogram_start_hu);
        key_double(j, "bin_hu", m->histogram_bin_hu);
        nova_json_key(j, "counts");
        nova_json_begin_array(j);
        for (int b = 0; b < 113; b++)
            nova_json_uint(j, m->histogram[b]);
        nova_json_end_array(j);
        nova_json_end_object(j);
        nova_json_end_object(j);
    } else {
        nova_json_null(j);
    }

    nova_json_key(j, "assessment");
    if (an) {
        const NovaFindings *f = nova_analysis_get_findings(an);
        nova_json_begin_object(j);
        key_string(j, "category",
                   nova_rsna_category_name(nova_analysis_get_rsna(an)));
        key_string(j, "category_scheme",
                   "RSNA expert consensus (Simpson et al. 2020)");
        key_int(j, "co_rads", nova_analysis_get_corads(an));
        key_double(j, "probability", nova_analysis_get_probability(an));
        nova_json_key(j, "model");
        nova_json_begin_object(j);
        key_string(j, "id", nova_analysis_get_model_id(an));
        key_string(j, "version", nova_analysis_get_model_version(an));
        nova_json_end_object(j);
        nova_json_key(j, "features");
        nova_json_begin_object(j);
        key_bool(j, "any_opacity", f->any_opacity);
        key_bool(j, "bilateral", f->bilateral);
        key_bool(j, "peripheral_predominant", f->peripheral_predominant);
        key_bool(j, "lower_predominant", f->lower_predominant);
        key_bool(j, "posterior_predominant", f->posterior_predominant);
        key_int(j, "foci", f->foci);
        key_int(j, "rounded_ggo", f->rounded_ggo);
        key_double(j, "ggo_to_consolidation",
                   f->ggo_to_consolidation > 1e5 ? 1e5
                                                 : f->ggo_to_consolidation);
        key_bool(j, "lobar_consolidation", f->lobar_consolidation);
        key_int(j, "discrete_nodules", f->discrete_nodules);
        key_bool(j, "cavitation", f->cavitation);
        nova_json_key(j, "pleural_effusion");
        if (f->effusion_assessed)
            nova_json_bool(j, f->pleural_effusion);
        else
            nova_json_string(j, "not assessed");
        nova_json_end_object(j);
        /* Per side (docs/result-schema.md); when not assessed, why. */
        nova_json_key(j, "effusion");
        nova_json_begin_object(j);
        key_bool(j, "assessed", f->effusion_assessed);
        if (!f->effusion_assessed)
            key_string(j, "note", f->effusion_note);
        static const char *side_names[2] = {"right", "left"};
        for (int s = 0; s < 2 && f->effusion_assessed; s++) {
            nova_json_key(j, side_names[s]);
            nova_json_begin_object(j);
            key_bool(j, "present", f->effusion_present[s]);
            key_double(j, "volume_ml", f->effusion_ml[s]);
            key_double(j, "depth_mm", f->effusion_depth_mm[s]);
            key_double(j, "extent_z_mm", f->effusion_extent_mm[s]);
            nova_json_end_object(j);
        }
        nova_json_end_object(j);
        nova_json_key(j, "reasons");
        nova_json_begin_array(j);
        for (size_t i = 0; i < nova_analysis_get_reason_count(an); i++)
            nova_json_string(j, nova_analysis_get_reason(an, i));
        nova_json_end_array(j);
        nova_json_end_object(j);
    } else {
        nova_json_null(j);
    }

    nova_json_key(j, "outputs");
    nova_json_begin_object(j);
    if (out_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/report.html", out_dir);
        key_string(j, "report_html", path);
        snprintf(path, sizeof path, "%s/result.json", out_dir);
        key_string(j, "result_json", path);
        nova_json_key(j, "overlays");
        nova_json_begin_array(j);
        for (size_t i = 0; ov && i < ov->count; i++) {
            snprintf(path, sizeof path, "%s/overlays/%s", out_dir,
                     ov->items[i].name);
            nova_json_string(j, path);
        }
        nova_json_end_array(j);
    }
    nova_json_end_object(j);

    nova_json_key(j, "warnings");
    nova_json_begin_array(j);
    for (size_t i = 0; i < in->warning_count; i++)
        nova_json_string(j, in->warnings[i]);
    for (size_t i = 0;
         in->lungs && i < nova_lung_result_get_warning_count(in->lungs); i++)
        nova_json_string(j, nova_lung_result_get_warning(in->lungs, i));
    nova_json_end_array(j);
    nova_json_end_object(j);
}

bool nova_report_write_json(NovaError **error, const NovaReportInput *in,
                            FILE *out, const char *out_dir)
{
    NovaJson *j = nova_json_create_file(error, out, NOVA_JSON_PRETTY);
    if (!j)
        return false;
    write_json(j, in, NULL, out_dir);
    bool ok = nova_json_finish(error, j);
    nova_json_destroy(j);
    return ok;
}

/* ------------------------------------------------------------------ HTML */

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Base64 through the JSON writer's encoder (one encoder in the project):
 * it writes a JSON string, the quotes are dropped. */
static bool html_png(NovaError **error, FILE *f, const Overlay *o)
{
    NovaJson *j = nova_json_create_buffer(error, NOVA_JSON_COMPACT);
    if (!j)
        return false;
    nova_json_base64(j, o->png, o->png_size);
    if (!nova_json_finish(error, j)) {
        nova_json_destroy(j);
        return false;
    }
    size_t len;
    const char *b = nova_json_get_buffer(j, &len);
    fputs("<figure><img alt=\"", f);
    html_text(f, o->caption);
    fputs("\" src=\"data:image/png;base64,", f);
    if (len >= 2)
        fwrite(b + 1, 1, len - 2, f);
    fputs("\"><figcaption>", f);
    html_text(f, o->caption);
    fputs("</figcaption></figure>\n", f);
    nova_json_destroy(j);
    return true;
}

static void html_histogram(FILE *f, const NovaMeasures *m)
{
    size_t peak = 1;
    for (int b = 0; b < 113; b++)
        if (m->histogram[b] > peak)
            peak = m->histogram[b];
    fputs(
        "<svg viewBox=\"0 0 600 220\" width=\"600\" height=\"220\" "
        "role=\"img\" aria-label=\"Lung HU histogram\">\n"
        "<rect x=\"0\" y=\"0\" width=\"600\" height=\"220\" fill=\"#111\"/>\n",
        f);
    /* Opacity bands behind the bars: GGO and consolidation (DOMAIN.md). */
    double x_ggo = 40 + (-750.0 + 1030) / 1130 * 540;
    double x_high = 40 + (-200.0 + 1030) / 1130 * 540;
    double x_max = 40 + (100.0 + 1030) / 1130 * 540;
    fprintf(f,
            "<rect x=\"%.1f\" y=\"10\" width=\"%.1f\" height=\"180\" "
            "fill=\"#443c00\"/>\n",
            x_ggo, x_high - x_ggo);
    fprintf(f,
            "<rect x=\"%.1f\" y=\"10\" width=\"%.1f\" height=\"180\" "
            "fill=\"#4a1010\"/>\n",
            x_high, x_max - x_high);
    for (int b = 0; b < 113; b++) {
        double h = 180.0 * (double)m->histogram[b] / (double)peak;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"4.4\" height=\"%.1f\" "
                "fill=\"#7fc8ff\"/>\n",
                40 + b * 540.0 / 113, 190 - h, h);
    }
    const int ticks[] = {-1000, -750, -500, -200, 0};
    for (size_t t = 0; t < sizeof ticks / sizeof *ticks; t++) {
        double x = 40 + (ticks[t] + 1030.0) / 1130 * 540;
        fprintf(f,
                "<text x=\"%.1f\" y=\"210\" fill=\"#ccc\" font-size=\"11\" "
                "text-anchor=\"middle\">%d</text>\n",
                x, ticks[t]);
    }
    fputs("<text x=\"590\" y=\"210\" fill=\"#ccc\" font-size=\"11\" "
          "text-anchor=\"end\">HU</text></svg>\n",
          f);
}

static bool write_html(NovaError **error, const NovaReportInput *in,
                       const Overlays *ov, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write report",
                              "%s: %s", path, strerror(errno));
    const NovaAnalysis *an = in->analysis;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>Nova chest CT report</title>\n<style>\n"
          "body{font-family:sans-serif;background:#0e1116;color:#e6e6e6;"
          "margin:24px;max-width:1200px}\n"
          "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;"
          "border-bottom:1px solid #333;padding-bottom:4px;margin-top:28px}\n"
          ".box{display:flex;gap:16px;flex-wrap:wrap}.card{background:#1a1f29;"
          "border-radius:8px;padding:12px 16px;min-width:150px}\n"
          ".card b{display:block;font-size:24px;margin-top:4px}\n"
          "table{border-collapse:collapse}td,th{border:1px solid #333;"
          "padding:4px 10px;text-align:right}th{background:#1a1f29}\n"
          "td:first-child,th:first-child{text-align:left}\n"
          "figure{display:inline-block;margin:6px}figcaption{font-size:12px;"
          "color:#aaa}img{max-width:560px}\n"
          ".warn{color:#ffcc66}.note{color:#999;font-size:12px}\n"
          "</style></head><body>\n",
          f);
    fputs("<h1>Nova chest CT analysis</h1>\n<p class=\"note\">Decision "
          "support only: not validated for diagnosis. Every number is "
          "defined in docs/result-schema.md.</p>\n",
          f);
    fputs("<p>", f);
    if (in->study) {
        fputs("Patient ", f);
        html_text(f, in->study->patient_id);
        fputs(" &middot; study ", f);
        html_text(f, in->study->study_date);
        fputs(" ", f);
        html_text(f, in->study->study_description);
    }
    if (in->stack) {
        fprintf(f, " &middot; series %lld ",
                (long long)in->stack->series_number);
        html_text(f, in->stack->series_description);
        fprintf(f, " (%zu slices, %.2f mm)", in->stack->slice_count,
                in->stack->slice_spacing_mm);
    }
    fputs("</p>\n", f);
    if (in->choice_reason) {
        fputs("<p class=\"note\">Series chosen because: ", f);
        html_text(f, in->choice_reason);
        fputs("</p>\n", f);
    }

    if (an) {
        const NovaMeasures *m = nova_analysis_get_measures(an);
        fputs("<div class=\"box\">\n", f);
        fprintf(f, "<div class=\"card\">RSNA category<b>%s</b></div>\n",
                nova_rsna_category_name(nova_analysis_get_rsna(an)));
        fprintf(f, "<div class=\"card\">CO-RADS<b>%d</b></div>\n",
                nova_analysis_get_corads(an));
        fprintf(f,
                "<div class=\"card\">COVID-19 probability<b>%.0f %%</b>"
                "</div>\n",
                100 * nova_analysis_get_probability(an));
        fprintf(f, "<div class=\"card\">Opacity (PO)<b>%.1f %%</b></div>\n",
                m->po[0]);
        fprintf(f,
                "<div class=\"card\">High opacity (PHO)<b>%.1f %%</b>"
                "</div>\n",
                m->pho[0]);
        fprintf(f,
                "<div class=\"card\">Severity score<b>%d / 30</b>"
                "</div>\n</div>\n",
                m->severity_score);
        fputs("<h2>Findings</h2>\n<ul>\n", f);
        for (size_t i = 0; i < nova_analysis_get_reason_count(an); i++) {
            fputs("<li>", f);
            html_text(f, nova_analysis_get_reason(an, i));
            fputs("</li>\n", f);
        }
        const NovaFindings *fd = nova_analysis_get_findings(an);
        fprintf(f,
                "<li>%d focus/foci of at least 0.5 ml; GGO %.1f ml, "
                "consolidation %.1f ml.</li>\n",
                fd->foci, m->ggo_ml, m->consolidation_ml);
        if (!fd->effusion_assessed) {
            fputs("<li>Pleural effusion: not assessed (", f);
            html_text(f, fd->effusion_note);
            fputs(").</li>\n", f);
        } else if (!fd->pleural_effusion) {
            fputs("<li>Pleural effusion: none found (20 ml or more, "
                  "layered behind the lung; sensitivity validated on "
                  "phantoms only, docs/analysis.md).</li>\n",
                  f);
        } else {
            fputs("<li>Pleural effusion:", f);
            for (int s = 0; s < 2; s++) {
                if (fd->effusion_present[s])
                    fprintf(f, " %s about %.0f ml (%.0f mm deep, over %.0f mm)",
                            s ? "left" : "right", fd->effusion_ml[s],
                            fd->effusion_depth_mm[s],
                            fd->effusion_extent_mm[s]);
                else
                    fprintf(f, " %s none", s ? "left" : "right");
                fputs(s ? "" : ",", f);
            }
            fputs(" (volumes estimated, validated on phantoms only, "
                  "docs/analysis.md).</li>\n",
                  f);
        }
        fputs("</ul>\n", f);
        fprintf(f,
                "<p class=\"note\">Probability model %s %s (CO-RADS "
                "level to pooled COVID-19 frequency, Kwee et al. 2021).</p>\n",
                nova_analysis_get_model_id(an),
                nova_analysis_get_model_version(an));

        fputs("<h2>Lungs and zones</h2>\n<table><tr><th>zone</th>"
              "<th>lung ml</th><th>lesion ml</th><th>PO %</th>"
              "<th>PHO %</th><th>score</th></tr>\n",
              f);
        static const char *sides[2] = {"right", "left"};
        for (int s = 0; s < 2; s++)
            for (int t = 0; t < 3; t++)
                fprintf(f,
                        "<tr><td>%s %s</td><td>%.1f</td><td>%.1f</td>"
                        "<td>%.1f</td><td>%.1f</td><td>%d</td></tr>\n",
                        sides[s], third_name(t), m->zone_lung_ml[s][t],
                        m->zone_lesion_ml[s][t], m->zone_po[s][t],
                        m->zone_pho[s][t], m->zone_score[s][t]);
        fprintf(f,
                "<tr><th>both lungs</th><th>%.1f</th><th>%.1f</th>"
                "<th>%.1f</th><th>%.1f</th><th>%d</th></tr></table>\n",
                m->lung_ml[0], m->lesion_ml[0], m->po[0], m->pho[0],
                m->severity_score);

        size_t nl = nova_analysis_get_lesion_count(an);
        fprintf(f, "<h2>Lesions (%zu)</h2>\n", nl);
        if (nl) {
            fputs("<table><tr><th>id</th><th>type</th><th>ml</th>"
                  "<th>mean HU</th><th>lung</th><th>zone</th>"
                  "<th>peripheral</th><th>key slice</th></tr>\n",
                  f);
            for (size_t i = 0; i < nl && i < 30; i++) {
                const NovaLesion *l = nova_analysis_get_lesion(an, i);
                fprintf(f,
                        "<tr><td>%d</td><td>%s</td><td>%.2f</td>"
                        "<td>%.0f</td><td>%s</td><td>%s</td>"
                        "<td>%.0f %%</td><td>%zu</td></tr>\n",
                        l->id, nova_lesion_kind_name(l->type), l->volume_ml,
                        l->mean_hu,
                        l->lung == NOVA_LUNG_LEFT ? "left" : "right",
                        third_name(l->third), 100 * l->peripheral_fraction,
                        l->key_slice + 1);
            }
            fputs("</table>\n", f);
            if (nl > 30)
                fprintf(f,
                        "<p class=\"note\">%zu smaller lesions are in "
                        "result.json.</p>\n",
                        nl - 30);
        }
    }
    fputs("<h2>Key images</h2>\n<p class=\"note\">Outlines: right lung blue, "
          "left lung green; ground glass yellow, density above -200 HU "
          "red.</p>\n",
          f);
    for (size_t i = 0; i < ov->count; i++)
        if (!html_png(error, f, &ov->items[i])) {
            fclose(f);
            return false;
        }
    if (an) {
        fputs("<h2>Lung HU histogram</h2>\n", f);
        html_histogram(f, nova_analysis_get_measures(an));
    }
    size_t nw = in->warning_count +
                (in->lungs ? nova_lung_result_get_warning_count(in->lungs) : 0);
    if (nw) {
        fputs("<h2>Warnings</h2>\n<ul class=\"warn\">\n", f);
        for (size_t i = 0; i < in->warning_count; i++) {
            fputs("<li>", f);
            html_text(f, in->warnings[i]);
            fputs("</li>\n", f);
        }
        for (size_t i = 0;
             in->lungs && i < nova_lung_result_get_warning_count(in->lungs);
             i++) {
            fputs("<li>", f);
            html_text(f, nova_lung_result_get_warning(in->lungs, i));
            fputs("</li>\n", f);
        }
        fputs("</ul>\n", f);
    }
    fputs("<h2>Timing</h2>\n<p class=\"note\">", f);
    for (size_t i = 0; i < in->timing_count; i++)
        fprintf(f, "%s %.0f ms%s", in->timing_names[i], in->timing_ms[i],
                i + 1 < in->timing_count ? " &middot; " : "");
    fprintf(f,
            "</p>\n<p class=\"note\">Nova %s, pipeline %s %s.</p>\n"
            "</body></html>\n",
            nova_version(), NOVA_CHEST_PIPELINE_ID,
            NOVA_CHEST_PIPELINE_VERSION);
    if (fclose(f) != 0)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write report",
                              "%s: %s", path, strerror(errno));
    return true;
}

static bool write_file(NovaError **error, const char *path, const void *data,
                       size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                              "%s: %s", path, strerror(errno));
    bool ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write file",
                              "%s: %s", path, strerror(errno));
    return true;
}

bool nova_report_write(NovaError **error, const NovaReportInput *in,
                       const char *out_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/overlays", out_dir);
    if (!nova_make_dirs(error, out_dir) || !nova_make_dirs(error, path))
        return false;
    Overlays ov;
    memset(&ov, 0, sizeof ov);
    bool ok = make_overlays(error, in, &ov);
    for (size_t i = 0; ok && i < ov.count; i++) {
        snprintf(path, sizeof path, "%s/overlays/%s", out_dir,
                 ov.items[i].name);
        ok = write_file(error, path, ov.items[i].png, ov.items[i].png_size);
    }
    if (ok) {
        snprintf(path, sizeof path, "%s/report.html", out_dir);
        ok = write_html(error, in, &ov, path);
    }
    if (ok) {
        snprintf(path, sizeof path, "%s/result.json", out_dir);
        FILE *f = fopen(path, "w");
        if (!f) {
            ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write result",
                                "%s: %s", path, strerror(errno));
        } else {
            NovaJson *j = nova_json_create_file(error, f, NOVA_JSON_PRETTY);
            ok = j != NULL;
            if (ok) {
                write_json(j, in, &ov, out_dir);
                ok = nova_json_finish(error, j);
                nova_json_destroy(j);
            }
            if (fclose(f) != 0 && ok)
                ok = nova_error_set(error, NOVA_ERROR_IO, "cannot write result",
                                    "%s: %s", path, strerror(errno));
        }
    }
    free_overlays(&ov);
    return ok;
}
