/*
 * insert.c - lesions of known shape and volume inserted into a real CT.
 *
 * The lung field comes from the caller's mask or from a simple rule: air-
 * to-lung densities (-1024..-400 HU) inside the body (the largest dense
 * component, holes filled per slice), in components large enough to be a
 * lung, with their own holes (vessels, nodules) filled slice by slice
 * (nova/imgproc.h does the labelling and filling).
 *
 * A lesion is an ellipsoid with an irregular outline (three plane waves
 * perturbing its radius, as in the phantom) and a soft margin.  The lung
 * tissue inside is shifted toward the lesion density by the coverage times
 * (lesion - background), where background is the median of the parenchyma
 * (below -500 HU) around the lesion: the scan's own noise and texture stay,
 * and voxels already as dense as the lesion (vessels, their edges) are
 * shifted less or not at all, so vessels stay brighter than ground glass.
 */
#include "phantom_private.h"

#include "nova/imgproc.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct NovaInsertion {
    NovaInsertOptions opt;
    NovaVolume *ct, *labels;
    NovaPhantomLesion lesions[NOVA_PHANTOM_MAX_LESIONS];
    size_t n_lesions;
    uint64_t lung_voxels;
    double voxel_ml;
    bool mask_given;
};

void nova_insert_options_init(NovaInsertOptions *o)
{
    memset(o, 0, sizeof *o);
    o->type = NOVA_LESION_GGO;
    o->lesions = 3;
    o->radius_mm = 15;
    o->hu = NAN;
    o->seed = 1;
}

NovaVolume *nova_insertion_get_ct(const NovaInsertion *s)
{
    return s->ct;
}
NovaVolume *nova_insertion_get_labels(const NovaInsertion *s)
{
    return s->labels;
}
size_t nova_insertion_get_lesion_count(const NovaInsertion *s)
{
    return s->n_lesions;
}
const NovaPhantomLesion *nova_insertion_get_lesion(const NovaInsertion *s,
                                                   size_t i)
{
    return i < s->n_lesions ? &s->lesions[i] : NULL;
}
uint64_t nova_insertion_get_lung_voxels(const NovaInsertion *s)
{
    return s->lung_voxels;
}

void nova_insertion_destroy(NovaInsertion *s)
{
    if (!s)
        return;
    nova_volume_unref(s->ct);
    nova_volume_unref(s->labels);
    nova_free(s);
}

/* Keep the components of mask (26-connected) that are at least min_size
 * voxels, and with largest_only only the largest. */
static bool keep_components(NovaError **error, NovaPool *pool, uint8_t *mask,
                            const size_t d[3], size_t min_size,
                            bool largest_only)
{
    size_t n = d[0] * d[1] * d[2];
    uint32_t *lab = nova_malloc_array(error, n, sizeof(uint32_t));
    if (!lab)
        return false;
    uint32_t n_labels = 0;
    if (!nova_imgproc_label(error, pool, mask, d, 26, lab, &n_labels)) {
        nova_free(lab);
        return false;
    }
    size_t *sizes = nova_calloc(error, (size_t)n_labels + 1, sizeof(size_t));
    if (!sizes) {
        nova_free(lab);
        return false;
    }
    nova_imgproc_label_sizes(lab, n, n_labels, sizes);
    uint32_t best = 0;
    for (uint32_t l = 1; l <= n_labels; l++)
        if (sizes[l] > sizes[best] || best == 0)
            best = l;
    for (size_t v = 0; v < n; v++) {
        uint32_t l = lab[v];
        mask[v] =
            l != 0 && sizes[l] >= min_size && (!largest_only || l == best);
    }
    nova_free(sizes);
    nova_free(lab);
    return true;
}

/* The lung field by a simple rule; mask gets 0/1.  The body is the largest
 * component denser than -400 HU with its holes filled slice by slice; the
 * lung field is the air-to-lung density inside it, in components of at
 * least 0.5% of the volume, its own holes (vessels) filled. */
static bool lung_field(NovaError **error, NovaPool *pool, const int16_t *hu,
                       const size_t d[3], uint8_t *mask)
{
    size_t n = d[0] * d[1] * d[2];
    uint8_t *body = nova_malloc(error, n);
    if (!body)
        return false;
    nova_imgproc_threshold_i16(pool, hu, n, -399, 32767, body);
    bool ok = keep_components(error, pool, body, d, 1, true) &&
              nova_imgproc_fill_holes(error, pool, body, d, true, body);
    if (ok) {
        nova_imgproc_threshold_i16(pool, hu, n, -1024, -400, mask);
        for (size_t v = 0; v < n; v++)
            mask[v] = mask[v] && body[v];
        ok = keep_components(error, pool, mask, d, n / 200, false) &&
             nova_imgproc_fill_holes(error, pool, mask, d, true, mask);
    }
    nova_free(body);
    return ok;
}

static int cmp_i16(const void *a, const void *b)
{
    return *(const int16_t *)a - *(const int16_t *)b;
}

static inline uint32_t hash3i(uint32_t seed, int32_t x, int32_t y, int32_t z)
{
    uint32_t h = seed ^ ((uint32_t)x * 0x8DA6B343u) ^
                 ((uint32_t)y * 0xD8163841u) ^ ((uint32_t)z * 0xCB1AB31Fu);
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}

/* Smooth value noise in [-1, 1] on a 4 mm lattice (physical coordinates). */
static float value_noise(uint32_t seed, const double p[3])
{
    double f[3];
    int c[3];
    for (int a = 0; a < 3; a++) {
        double q = p[a] / 4.0 + 1000.0;
        c[a] = (int)floor(q);
        double t = q - c[a];
        f[a] = t * t * (3 - 2 * t);
    }
    double v = 0;
    for (int dz = 0; dz < 2; dz++)
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) {
                double w = (dx ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) *
                           (dz ? f[2] : 1 - f[2]);
                uint32_t h = hash3i(seed, c[0] + dx, c[1] + dy, c[2] + dz);
                v += w * ((double)(h >> 8) / 8388608.0 - 1.0);
            }
    return (float)v;
}

NovaInsertion *nova_phantom_insert(NovaError **error, const NovaVolume *ct,
                                   const NovaVolume *lung_mask,
                                   const NovaInsertOptions *options,
                                   NovaPool *pool)
{
    NovaInsertOptions o;
    if (options)
        o = *options;
    else
        nova_insert_options_init(&o);
    if (nova_volume_get_dtype(ct) != NOVA_DTYPE_INT16)
        return nova_error_set(error, NOVA_ERROR_INVALID, "wrong volume type",
                              "lesion insertion needs an int16 HU volume"),
               NULL;
    if (o.type != NOVA_LESION_GGO && o.type != NOVA_LESION_CRAZY_PAVING &&
        o.type != NOVA_LESION_CONSOLIDATION && o.type != NOVA_LESION_MIXED)
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad lesion type",
                              "insertion makes ggo, crazy_paving, "
                              "consolidation or mixed lesions, not %s",
                              nova_lesion_type_name(o.type)),
               NULL;
    if (o.lesions < 1 || o.lesions > NOVA_PHANTOM_MAX_LESIONS ||
        !(o.radius_mm >= 2 && o.radius_mm <= 100))
        return nova_error_set(error, NOVA_ERROR_RANGE, "bad lesion options",
                              "%d lesions of radius %g mm: allowed 1-%d, "
                              "2-100 mm",
                              o.lesions, o.radius_mm, NOVA_PHANTOM_MAX_LESIONS),
               NULL;
    if (isnan(o.hu))
        o.hu = o.type == NOVA_LESION_CONSOLIDATION ? 25.0 : -550.0;
    size_t d[3];
    nova_volume_get_dims(ct, d);
    size_t n = d[0] * d[1] * d[2];
    if (lung_mask) {
        size_t md[3];
        nova_volume_get_dims(lung_mask, md);
        if (md[0] != d[0] || md[1] != d[1] || md[2] != d[2])
            return nova_error_set(error, NOVA_ERROR_INVALID,
                                  "mask does not match",
                                  "lung mask is %zux%zux%zu, the CT "
                                  "%zux%zux%zu",
                                  md[0], md[1], md[2], d[0], d[1], d[2]),
                   NULL;
    }
    NovaInsertion *s = nova_calloc(error, 1, sizeof *s);
    if (!s)
        return NULL;
    s->opt = o;
    s->mask_given = lung_mask != NULL;
    const NovaGeometry *g = nova_volume_get_geometry(ct);
    s->voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    s->ct = nova_volume_create(error, NOVA_DTYPE_INT16, d, g);
    s->labels = nova_volume_create(error, NOVA_DTYPE_UINT8, d, g);
    float *depth = nova_malloc_array(error, n, sizeof(float));
    int16_t *sample = nova_malloc_array(error, 1 << 16, sizeof(int16_t));
    if (!s->ct || !s->labels || !depth || !sample)
        goto fail;
    const int16_t *src = nova_volume_get_const_data(ct);
    int16_t *dst = nova_volume_get_data(s->ct);
    uint8_t *lab = nova_volume_get_data(s->labels);
    memcpy(dst, src, n * sizeof(int16_t));
    if (lung_mask) {
        const void *m = nova_volume_get_const_data(lung_mask);
        NovaDtype t = nova_volume_get_dtype(lung_mask);
        for (size_t v = 0; v < n; v++)
            lab[v] = t == NOVA_DTYPE_UINT8   ? ((const uint8_t *)m)[v] != 0
                     : t == NOVA_DTYPE_INT16 ? ((const int16_t *)m)[v] != 0
                                             : ((const float *)m)[v] != 0;
    } else if (!lung_field(error, pool, src, d, lab)) {
        goto fail;
    }
    for (size_t v = 0; v < n; v++)
        s->lung_voxels += lab[v];
    if (s->lung_voxels == 0) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "no lung field",
                       "%s has no voxels to put lesions in",
                       lung_mask ? "the lung mask"
                                 : "the threshold lung field");
        goto fail;
    }
    /* depth of each voxel inside the lung field (mm) */
    if (!nova_imgproc_edt_sq(error, pool, lab, d, g->spacing, false, false,
                             depth))
        goto fail;

    /* The stream starts at a mixed seed: SplitMix64 steps its state by a
     * constant, so seeding it with seed x constant would make seed s the
     * stream of seed 1 shifted by s - 1 draws (same lesion centres). */
    uint64_t rng = o.seed ^ 0x51EDull;
    rng = nova__ph_rand(&rng);
    for (int li = 0; li < o.lesions; li++) {
        PhLesion L;
        memset(&L, 0, sizeof L);
        double R = o.radius_mm * nova__ph_uniform(&rng, 0.75, 1.25);
        size_t center = SIZE_MAX;
        for (int tries = 0; tries < 200000; tries++) {
            size_t v = (size_t)(nova__ph_rand(&rng) % n);
            if (lab[v] == 1 && depth[v] >= (float)(0.36 * R * R)) {
                center = v;
                break;
            }
        }
        if (center == SIZE_MAX)
            continue;
        size_t ci = center % d[0], cj = (center / d[0]) % d[1],
               ck = center / (d[0] * d[1]);
        for (int a = 0; a < 3; a++)
            L.r[a] = R * nova__ph_uniform(&rng, 0.8, 1.2);
        /* waves as in the phantom */
        for (int w = 0; w < 3; w++) {
            double th = nova__ph_uniform(&rng, 0, 2 * M_PI);
            double ph = acos(nova__ph_uniform(&rng, -1, 1));
            double k = nova__ph_uniform(&rng, 0.15, 0.35) * 6.0 / R;
            L.wave_k[w][0] = k * sin(ph) * cos(th);
            L.wave_k[w][1] = k * sin(ph) * sin(th);
            L.wave_k[w][2] = k * cos(ph);
            L.wave_phase[w] = nova__ph_uniform(&rng, 0, 2 * M_PI);
        }
        L.wave_amp = 0.15;
        double edge = o.type == NOVA_LESION_CONSOLIDATION ? 1.5 : 2.5;
        long lo[3], hi[3];
        size_t cidx[3] = {ci, cj, ck};
        for (int a = 0; a < 3; a++) {
            double reach = (L.r[a] * 1.15 + edge) / g->spacing[a] + 1;
            lo[a] = (long)cidx[a] - (long)ceil(reach);
            hi[a] = (long)cidx[a] + (long)ceil(reach);
            if (lo[a] < 0)
                lo[a] = 0;
            if (hi[a] > (long)d[a] - 1)
                hi[a] = (long)d[a] - 1;
        }
        /* background: median parenchyma in the box */
        size_t ns = 0;
        for (long k = lo[2]; k <= hi[2] && ns < (1 << 16); k++)
            for (long j = lo[1]; j <= hi[1] && ns < (1 << 16); j++)
                for (long i = lo[0]; i <= hi[0] && ns < (1 << 16); i++) {
                    size_t v =
                        ((size_t)k * d[1] + (size_t)j) * d[0] + (size_t)i;
                    if (lab[v] == 1 && src[v] < -500)
                        sample[ns++] = src[v];
                }
        double base = -850;
        if (ns > 0) {
            qsort(sample, ns, sizeof(int16_t), cmp_i16);
            base = sample[ns / 2];
        }
        double target = o.hu;
        if (target <= base + 50)
            continue; /* nothing to show against this background */
        double rmin = fmin(L.r[0], fmin(L.r[1], L.r[2]));
        uint32_t seed = (uint32_t)(o.seed * 2654435761u) ^ (uint32_t)li;
        uint8_t label = (uint8_t)(NOVA_LABEL_LESION_FIRST + s->n_lesions);
        uint64_t count = 0;
        for (long k = lo[2]; k <= hi[2]; k++)
            for (long j = lo[1]; j <= hi[1]; j++)
                for (long i = lo[0]; i <= hi[0]; i++) {
                    size_t v =
                        ((size_t)k * d[1] + (size_t)j) * d[0] + (size_t)i;
                    if (lab[v] == 0)
                        continue;
                    double p[3] = {((double)i - (double)ci) * g->spacing[0],
                                   ((double)j - (double)cj) * g->spacing[1],
                                   ((double)k - (double)ck) * g->spacing[2]};
                    double q = sqrt(p[0] * p[0] / (L.r[0] * L.r[0]) +
                                    p[1] * p[1] / (L.r[1] * L.r[1]) +
                                    p[2] * p[2] / (L.r[2] * L.r[2]));
                    double wave = 0;
                    for (int w = 0; w < 3; w++)
                        wave +=
                            sin(L.wave_k[w][0] * p[0] + L.wave_k[w][1] * p[1] +
                                L.wave_k[w][2] * p[2] + L.wave_phase[w]);
                    q += L.wave_amp * wave / 3.0 * 1.7;
                    double dep = (1.0 - q) * rmin;
                    double c = (dep + edge) / (2 * edge);
                    c = c < 0 ? 0 : c > 1 ? 1 : c;
                    c = c * c * (3 - 2 * c);
                    if (c <= 0)
                        continue;
                    double tgt = target;
                    double tex = value_noise(seed, p);
                    if (o.type == NOVA_LESION_CONSOLIDATION)
                        tgt += 10 * tex;
                    else
                        tgt += 40 * tex;
                    if (o.type == NOVA_LESION_MIXED && q < 0.5)
                        tgt = 25 + 10 * tex;
                    double orig = src[v];
                    if (orig < tgt) {
                        /* shift by the lesion contrast, less for voxels
                         * already part way to it (vessel edges) */
                        double span = tgt - base;
                        double f = 1.5 * (tgt - orig) / span;
                        f = f < 0 ? 0 : f > 1 ? 1 : f;
                        double nv = orig + c * span * f;
                        nv = nv > 3071 ? 3071 : nv;
                        dst[v] = (int16_t)lrint(nv);
                        if (q <= 1.0 && lab[v] == 1) {
                            lab[v] = label;
                            count++;
                        }
                    }
                }
        if (count == 0)
            continue;
        NovaPhantomLesion *out = &s->lesions[s->n_lesions++];
        out->label = label;
        out->type = o.type;
        out->lobe = 0;
        double idx[3] = {(double)ci, (double)cj, (double)ck}, w[3];
        nova_geometry_index_to_world(g, idx, w);
        memcpy(out->center_mm, w, sizeof w);
        memcpy(out->radius_mm, L.r, sizeof L.r);
        out->voxels = count;
        out->volume_ml = (double)count * s->voxel_ml;
    }
    if (s->n_lesions == 0) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "no lesion fits",
                       "no lesion of radius %g mm fits the lung field "
                       "(%" PRIu64 " voxels)",
                       o.radius_mm, s->lung_voxels);
        goto fail;
    }
    nova_free(depth);
    nova_free(sample);
    return s;
fail:
    nova_free(depth);
    nova_free(sample);
    nova_insertion_destroy(s);
    return NULL;
}

char *nova_insertion_truth_json(NovaError **error, const NovaInsertion *s)
{
    size_t cap = 4096 + s->n_lesions * 512;
    char *buf = nova_malloc(error, cap);
    if (!buf)
        return NULL;
    const NovaGeometry *g = nova_volume_get_geometry(s->ct);
    size_t d[3];
    nova_volume_get_dims(s->ct, d);
    size_t len = 0;
#define ADD(...) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__)
    ADD("{\n  \"schema\": \"nova.insertion/1\",\n  \"nova_version\": \"%s\",\n",
        nova_version());
    ADD("  \"seed\": %" PRIu64 ",\n  \"type\": \"%s\",\n  \"lesion_hu\": "
        "%.1f,\n",
        s->opt.seed, nova_lesion_type_name(s->opt.type), s->opt.hu);
    ADD("  \"lung_field\": \"%s\",\n", s->mask_given ? "mask" : "threshold");
    ADD("  \"dims\": [%zu, %zu, %zu],\n  \"spacing_mm\": [%.6f, %.6f, "
        "%.6f],\n  \"voxel_volume_ml\": %.9f,\n",
        d[0], d[1], d[2], g->spacing[0], g->spacing[1], g->spacing[2],
        s->voxel_ml);
    ADD("  \"labels\": {\"0\": \"outside the lung field\", \"1\": \"lung "
        "field\", \"100+i\": \"lesion i\"},\n");
    ADD("  \"lung_voxels\": %" PRIu64 ",\n  \"lung_volume_ml\": %.3f,\n",
        s->lung_voxels, (double)s->lung_voxels * s->voxel_ml);
    ADD("  \"lesions\": [");
    double total = 0;
    for (size_t i = 0; i < s->n_lesions; i++) {
        const NovaPhantomLesion *l = &s->lesions[i];
        total += l->volume_ml;
        ADD("%s\n    {\"label\": %d, \"type\": \"%s\", \"center_mm\": [%.2f, "
            "%.2f, %.2f], \"radius_mm\": [%.2f, %.2f, %.2f], \"voxels\": "
            "%" PRIu64 ", \"volume_ml\": %.4f}",
            i ? "," : "", l->label, nova_lesion_type_name(l->type),
            l->center_mm[0], l->center_mm[1], l->center_mm[2], l->radius_mm[0],
            l->radius_mm[1], l->radius_mm[2], l->voxels, l->volume_ml);
    }
    ADD("\n  ],\n  \"lesion_volume_ml\": %.4f\n}\n", total);
#undef ADD
    return buf;
}
