/*
 * phantom.c - NovaPhantom: options, building the volumes, the truth (JSON)
 * and writing a study (DICOM series, label NIfTI, truth JSON).
 *
 * The model (model.c) is built serially from the seed; the slices are then
 * rendered in parallel with a static split (render.c).  Voxel counts are
 * summed per thread and added up afterwards, so they too are independent
 * of the thread count.
 */
#include "phantom_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct NovaPhantom {
    NovaPhantomOptions opt;
    NovaVolume *ct, *labels;
    NovaPhantomLesion lesions[NOVA_PHANTOM_MAX_LESIONS];
    size_t n_lesions;
    uint64_t lobe_voxels[8], lobe_lesion_voxels[8];
    uint64_t airway_voxels, vessel_voxels;
    uint64_t effusion_voxels[2];
    double voxel_ml;
};

static const char *const kind_names[] = {"normal", "covid", "bacterial",
                                         "nodules"};
static const char *const lesion_names[] = {
    "ggo",   "crazy_paving", "consolidation",
    "mixed", "nodule_solid", "nodule_part_solid"};
static const char *const lobe_names[] = {
    "",           "right_upper", "right_middle", "right_lower",
    "left_upper", "left_lower"};

const char *nova_phantom_kind_name(NovaPhantomKind kind)
{
    return (unsigned)kind < 4 ? kind_names[kind] : "?";
}

bool nova_phantom_kind_from_name(const char *name, NovaPhantomKind *kind)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, kind_names[i]) == 0) {
            *kind = (NovaPhantomKind)i;
            return true;
        }
    return false;
}

const char *nova_lesion_type_name(NovaLesionType type)
{
    return (unsigned)type < 6 ? lesion_names[type] : "?";
}

void nova_phantom_options_init(NovaPhantomOptions *o)
{
    memset(o, 0, sizeof *o);
    o->dims[0] = 256;
    o->dims[1] = 256;
    o->dims[2] = 160;
    o->seed = 1;
    o->kind = NOVA_PHANTOM_NORMAL;
    o->severity = 0.5;
    o->lesions = -1;
    o->noise_hu = 12.0;
}

NovaVolume *nova_phantom_get_ct(const NovaPhantom *p)
{
    return p->ct;
}
NovaVolume *nova_phantom_get_labels(const NovaPhantom *p)
{
    return p->labels;
}
const NovaPhantomOptions *nova_phantom_get_options(const NovaPhantom *p)
{
    return &p->opt;
}
size_t nova_phantom_get_lesion_count(const NovaPhantom *p)
{
    return p->n_lesions;
}
const NovaPhantomLesion *nova_phantom_get_lesion(const NovaPhantom *p, size_t i)
{
    return i < p->n_lesions ? &p->lesions[i] : NULL;
}
uint64_t nova_phantom_get_lobe_voxels(const NovaPhantom *p, int lobe)
{
    return lobe >= 1 && lobe <= 5 ? p->lobe_voxels[lobe] : 0;
}
uint64_t nova_phantom_get_lobe_lesion_voxels(const NovaPhantom *p, int lobe)
{
    return lobe >= 1 && lobe <= 5 ? p->lobe_lesion_voxels[lobe] : 0;
}

uint64_t nova_phantom_get_effusion_voxels(const NovaPhantom *p, int side)
{
    return side == 0 || side == 1 ? p->effusion_voxels[side] : 0;
}
double nova_phantom_get_effusion_ml(const NovaPhantom *p, int side)
{
    return (double)nova_phantom_get_effusion_voxels(p, side) * p->voxel_ml;
}

static bool has_effusion(const NovaPhantomOptions *o)
{
    return o->effusion_ml[0] > 0 || o->effusion_ml[1] > 0;
}

uint64_t nova_phantom_get_uid_seed(const NovaPhantom *p)
{
    /* FNV-1a over the options' values, field by field (no padding bytes). */
    uint64_t h = 0xCBF29CE484222325ull;
    uint64_t v[10] = {p->opt.seed,
                      (uint64_t)p->opt.kind,
                      p->opt.dims[0],
                      p->opt.dims[1],
                      p->opt.dims[2],
                      (uint64_t)p->opt.lesions,
                      0,
                      0,
                      0,
                      0};
    memcpy(&v[6], &p->opt.severity, sizeof(double));
    memcpy(&v[7], &p->opt.noise_hu, sizeof(double));
    /* The effusion enters the hash only when there is one, so the UIDs
     * of phantoms without one are those of earlier versions. */
    int n = 8;
    if (has_effusion(&p->opt)) {
        memcpy(&v[8], &p->opt.effusion_ml[0], sizeof(double));
        memcpy(&v[9], &p->opt.effusion_ml[1], sizeof(double));
        n = 10;
    }
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            h ^= (v[i] >> (8 * b)) & 0xFF;
            h *= 0x100000001B3ull;
        }
    return h;
}

void nova_phantom_destroy(NovaPhantom *p)
{
    if (!p)
        return;
    nova_volume_unref(p->ct);
    nova_volume_unref(p->labels);
    nova_free(p);
}

NovaPhantom *nova_phantom_create(NovaError **error,
                                 const NovaPhantomOptions *options,
                                 NovaPool *pool)
{
    NovaPhantomOptions o;
    if (options)
        o = *options;
    else
        nova_phantom_options_init(&o);
    if (o.dims[0] < 16 || o.dims[1] < 16 || o.dims[2] < 4 || o.dims[0] > 1024 ||
        o.dims[1] > 1024 || o.dims[2] > 2000)
        return nova_error_set(error, NOVA_ERROR_RANGE, "bad phantom size",
                              "%zux%zux%zu: each side must be 16-1024 "
                              "pixels and 4-2000 slices",
                              o.dims[0], o.dims[1], o.dims[2]),
               NULL;
    if (!(o.severity >= 0 && o.severity <= 1))
        return nova_error_set(error, NOVA_ERROR_RANGE, "bad severity",
                              "severity %g is outside 0..1", o.severity),
               NULL;
    if (o.lesions > NOVA_PHANTOM_MAX_LESIONS)
        return nova_error_set(error, NOVA_ERROR_RANGE, "too many lesions",
                              "%d lesions requested, at most %d", o.lesions,
                              NOVA_PHANTOM_MAX_LESIONS),
               NULL;
    if (!(o.noise_hu >= 0 && o.noise_hu <= 500))
        return nova_error_set(error, NOVA_ERROR_RANGE, "bad noise",
                              "noise %g HU is outside 0..500", o.noise_hu),
               NULL;
    for (int s = 0; s < 2; s++)
        if (!(o.effusion_ml[s] >= 0 && o.effusion_ml[s] <= 3000))
            return nova_error_set(error, NOVA_ERROR_RANGE, "bad effusion",
                                  "%s effusion of %g ml is outside 0..3000",
                                  s ? "left" : "right", o.effusion_ml[s]),
                   NULL;
    if ((unsigned)o.kind > NOVA_PHANTOM_NODULES)
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad kind",
                              "unknown phantom kind %d", (int)o.kind),
               NULL;

    NovaPhantom *p = nova_calloc(error, 1, sizeof *p);
    if (!p)
        return NULL;
    p->opt = o;
    PhModel *m = nova_malloc(error, sizeof *m);
    if (!m) {
        nova_free(p);
        return NULL;
    }
    if (!nova__ph_model_build(error, m, &o)) {
        nova_free(m);
        nova_free(p);
        return NULL;
    }
    NovaGeometry g;
    nova_geometry_init(&g);
    double field[3] = {PH_FIELD_XY_MM, PH_FIELD_XY_MM, PH_FIELD_Z_MM};
    for (int i = 0; i < 3; i++) {
        g.spacing[i] = field[i] / (double)o.dims[i];
        g.origin[i] = -field[i] / 2 + g.spacing[i] / 2;
    }
    p->voxel_ml = g.spacing[0] * g.spacing[1] * g.spacing[2] / 1000.0;
    int threads = pool ? nova_pool_get_threads(pool) : 1;
    PhRender r = {.model = m, .opt = &p->opt};
    memcpy(r.dims, o.dims, sizeof r.dims);
    memcpy(r.spacing, g.spacing, sizeof r.spacing);
    bool ok = true;
    p->ct = nova_volume_create(error, NOVA_DTYPE_INT16, o.dims, &g);
    p->labels = nova_volume_create(error, NOVA_DTYPE_UINT8, o.dims, &g);
    r.counts = nova_calloc(error, (size_t)threads, sizeof(PhCounts));
    r.failed = nova_calloc(error, (size_t)threads, sizeof(bool));
    ok = p->ct && p->labels && r.counts && r.failed &&
         nova__ph_render_prepare(error, &r);
    if (ok) {
        r.ct = nova_volume_get_data(p->ct);
        r.labels = nova_volume_get_data(p->labels);
        nova_pool_parallel_for(pool, o.dims[2], nova__ph_render_range, &r);
        for (int t = 0; t < threads && ok; t++)
            if (r.failed[t])
                ok = nova_error_set(error, NOVA_ERROR_NOMEM, "out of memory",
                                    "phantom: slice buffers");
    }
    if (ok) {
        PhCounts total;
        memset(&total, 0, sizeof total);
        for (int t = 0; t < threads; t++) {
            const PhCounts *c = &r.counts[t];
            for (int i = 0; i < 8; i++) {
                total.lobe[i] += c->lobe[i];
                total.lobe_lesion[i] += c->lobe_lesion[i];
            }
            for (int i = 0; i < 2; i++)
                total.effusion[i] += c->effusion[i];
            for (size_t l = 0; l < m->n_lesions; l++) {
                total.lesion[l] += c->lesion[l];
                for (int i = 0; i < 6; i++)
                    total.lesion_lobe[l][i] += c->lesion_lobe[l][i];
            }
        }
        memcpy(p->lobe_voxels, total.lobe, sizeof total.lobe);
        memcpy(p->lobe_lesion_voxels, total.lobe_lesion,
               sizeof total.lobe_lesion);
        memcpy(p->effusion_voxels, total.effusion, sizeof total.effusion);
        p->n_lesions = m->n_lesions;
        for (size_t l = 0; l < m->n_lesions; l++) {
            NovaPhantomLesion *d = &p->lesions[l];
            const PhLesion *s = &m->lesions[l];
            d->label = NOVA_LABEL_LESION_FIRST + (int)l;
            d->type = s->type;
            memcpy(d->center_mm, s->c, sizeof d->center_mm);
            memcpy(d->radius_mm, s->r, sizeof d->radius_mm);
            d->voxels = total.lesion[l];
            d->volume_ml = (double)d->voxels * p->voxel_ml;
            int best = 0;
            for (int i = 1; i < 6; i++)
                if (total.lesion_lobe[l][i] > total.lesion_lobe[l][best])
                    best = i;
            d->lobe = best;
        }
        /* airway and vessel voxels, from the labels */
        const uint8_t *lab = nova_volume_get_const_data(p->labels);
        size_t n = nova_volume_get_voxel_count(p->labels);
        for (size_t i = 0; i < n; i++) {
            p->airway_voxels += lab[i] == NOVA_LABEL_AIRWAY;
            p->vessel_voxels += lab[i] == NOVA_LABEL_VESSEL;
        }
    }
    nova_free(r.slice_start);
    nova_free(r.slice_segs);
    nova_free(r.counts);
    nova_free(r.failed);
    nova__ph_model_free(m);
    nova_free(m);
    if (!ok) {
        nova_phantom_destroy(p);
        return NULL;
    }
    return p;
}

/* ---------------------------------------------------------------- JSON */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
    NovaError **error;
} Text;

static void text_add(Text *t, const char *fmt, ...) NOVA_PRINTF(2, 3);
static void text_add(Text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL,
                          t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *b = nova_realloc(t->error, t->buf, cap);
        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

char *nova_phantom_truth_json(NovaError **error, const NovaPhantom *p)
{
    Text t = {.error = error};
    const NovaGeometry *g = nova_volume_get_geometry(p->ct);
    const NovaPhantomOptions *o = &p->opt;
    text_add(&t, "{\n  \"schema\": \"nova.phantom/1\",\n");
    text_add(&t, "  \"nova_version\": \"%s\",\n", nova_version());
    text_add(&t,
             "  \"kind\": \"%s\",\n  \"seed\": %" PRIu64 ",\n"
             "  \"severity\": %.3f,\n  \"noise_hu\": %.2f,\n",
             nova_phantom_kind_name(o->kind), o->seed, o->severity,
             o->noise_hu);
    text_add(&t, "  \"dims\": [%zu, %zu, %zu],\n", o->dims[0], o->dims[1],
             o->dims[2]);
    text_add(&t, "  \"spacing_mm\": [%.6f, %.6f, %.6f],\n", g->spacing[0],
             g->spacing[1], g->spacing[2]);
    text_add(&t, "  \"origin_mm\": [%.6f, %.6f, %.6f],\n", g->origin[0],
             g->origin[1], g->origin[2]);
    text_add(&t, "  \"voxel_volume_ml\": %.9f,\n", p->voxel_ml);
    text_add(&t,
             "  \"labels\": {\"0\": \"outside lungs\", \"1\": "
             "\"right_upper\", \"2\": \"right_middle\", \"3\": "
             "\"right_lower\", \"4\": \"left_upper\", \"5\": "
             "\"left_lower\", \"6\": \"airway\", \"7\": \"vessel\", "
             "%s\"100+i\": \"lesion i\"},\n",
             has_effusion(o) ? "\"8\": \"effusion\", " : "");
    uint64_t lung_vox[2] = {0, 0}, lung_les[2] = {0, 0};
    for (int l = 1; l <= 5; l++) {
        lung_vox[l >= 4] += p->lobe_voxels[l];
        lung_les[l >= 4] += p->lobe_lesion_voxels[l];
    }
    text_add(&t, "  \"lungs\": {\n");
    for (int s = 0; s < 2; s++) {
        double vol = (double)lung_vox[s] * p->voxel_ml;
        double les = (double)lung_les[s] * p->voxel_ml;
        text_add(&t,
                 "    \"%s\": {\"volume_ml\": %.3f, \"lesion_volume_ml\": "
                 "%.3f, \"involvement_percent\": %.3f}%s\n",
                 s ? "left" : "right", vol, les,
                 vol > 0 ? 100.0 * les / vol : 0.0, s ? "" : ",");
    }
    text_add(&t, "  },\n  \"lobes\": {\n");
    for (int l = 1; l <= 5; l++) {
        double vol = (double)p->lobe_voxels[l] * p->voxel_ml;
        double les = (double)p->lobe_lesion_voxels[l] * p->voxel_ml;
        text_add(&t,
                 "    \"%s\": {\"label\": %d, \"voxels\": %" PRIu64
                 ", \"volume_ml\": %.3f, \"lesion_voxels\": %" PRIu64
                 ", \"lesion_volume_ml\": %.3f, \"involvement_percent\": "
                 "%.3f}%s\n",
                 lobe_names[l], l, p->lobe_voxels[l], vol,
                 p->lobe_lesion_voxels[l], les,
                 vol > 0 ? 100.0 * les / vol : 0.0, l < 5 ? "," : "");
    }
    text_add(&t, "  },\n");
    text_add(&t,
             "  \"airway_voxels\": %" PRIu64 ",\n  \"airway_volume_ml\": "
             "%.3f,\n  \"vessel_voxels\": %" PRIu64
             ",\n  \"vessel_volume_ml\": %.3f,\n",
             p->airway_voxels, (double)p->airway_voxels * p->voxel_ml,
             p->vessel_voxels, (double)p->vessel_voxels * p->voxel_ml);
    /* Only phantoms with an effusion say so, so that the others keep
     * their bytes. */
    if (has_effusion(o)) {
        text_add(&t, "  \"effusion\": {\n");
        for (int s = 0; s < 2; s++)
            text_add(&t,
                     "    \"%s\": {\"requested_ml\": %.3f, \"voxels\": "
                     "%" PRIu64 ", \"volume_ml\": %.3f}%s\n",
                     s ? "left" : "right", o->effusion_ml[s],
                     p->effusion_voxels[s],
                     (double)p->effusion_voxels[s] * p->voxel_ml, s ? "" : ",");
        text_add(&t, "  },\n");
    }
    uint64_t total = 0;
    text_add(&t, "  \"lesions\": [");
    for (size_t i = 0; i < p->n_lesions; i++) {
        const NovaPhantomLesion *l = &p->lesions[i];
        total += l->voxels;
        text_add(&t,
                 "%s\n    {\"label\": %d, \"type\": \"%s\", \"lung\": "
                 "\"%s\", \"lobe\": \"%s\", \"center_mm\": [%.2f, %.2f, "
                 "%.2f], \"radius_mm\": [%.2f, %.2f, %.2f], \"voxels\": "
                 "%" PRIu64 ", \"volume_ml\": %.4f}",
                 i ? "," : "", l->label, nova_lesion_type_name(l->type),
                 l->lobe == 0   ? "none"
                 : l->lobe >= 4 ? "left"
                                : "right",
                 lobe_names[l->lobe], l->center_mm[0], l->center_mm[1],
                 l->center_mm[2], l->radius_mm[0], l->radius_mm[1],
                 l->radius_mm[2], l->voxels, l->volume_ml);
    }
    double lungs = (double)(lung_vox[0] + lung_vox[1]) * p->voxel_ml;
    text_add(&t,
             "%s],\n  \"lesion_volume_ml\": %.4f,\n"
             "  \"involvement_percent\": %.3f\n}\n",
             p->n_lesions ? "\n  " : "", (double)total * p->voxel_ml,
             lungs > 0 ? 100.0 * (double)total * p->voxel_ml / lungs : 0.0);
    if (t.failed) {
        nova_free(t.buf);
        return NULL;
    }
    return t.buf;
}

/* --------------------------------------------------------------- write */

bool nova_phantom_write(NovaError **error, const NovaPhantom *p,
                        const char *dir, const NovaCtSeriesOptions *series,
                        NovaPool *pool)
{
    if (!nova_make_dirs(error, dir))
        return false;
    NovaCtSeriesOptions so;
    if (series) {
        so = *series;
    } else {
        nova_ct_series_options_init(&so);
        so.deterministic = true;
        so.uid_seed = nova_phantom_get_uid_seed(p);
    }
    char description[96];
    snprintf(description, sizeof description,
             "Nova phantom %s seed %" PRIu64 " severity %.2f",
             nova_phantom_kind_name(p->opt.kind), p->opt.seed, p->opt.severity);
    char patient_id[48];
    snprintf(patient_id, sizeof patient_id, "PHANTOM-%s-%" PRIu64,
             nova_phantom_kind_name(p->opt.kind), p->opt.seed);
    if (!so.patient_name)
        so.patient_name = "Phantom^Nova";
    if (!so.patient_id)
        so.patient_id = patient_id;
    if (!so.study_date)
        so.study_date = "20200101";
    if (!so.study_time)
        so.study_time = "120000";
    if (!so.study_id)
        so.study_id = "1";
    if (!so.study_description)
        so.study_description = "Synthetic chest CT";
    if (!so.series_description)
        so.series_description = description;
    if (!so.manufacturer)
        so.manufacturer = "Nova";
    if (!so.model_name)
        so.model_name = "nova phantom";
    if (!so.body_part)
        so.body_part = "CHEST";
    if (so.kvp <= 0)
        so.kvp = 120;
    if (so.window_width <= 0) {
        so.window_center = -600;
        so.window_width = 1500;
    }
    char *dicom = nova_strdup_printf(error, "%s/dicom", dir);
    char *labels = nova_strdup_printf(error, "%s/labels.nii.gz", dir);
    char *json_path = nova_strdup_printf(error, "%s/truth.json", dir);
    char *json = NULL;
    bool ok =
        dicom && labels && json_path &&
        nova_ct_series_write(error, p->ct, dicom, &so, pool, NULL, NULL) &&
        nova_volume_write_nifti(error, p->labels, labels) &&
        (json = nova_phantom_truth_json(error, p)) != NULL &&
        nova_write_file_atomic(error, json_path, json, strlen(json), false);
    nova_free(json);
    nova_free(dicom);
    nova_free(labels);
    nova_free(json_path);
    return ok;
}
