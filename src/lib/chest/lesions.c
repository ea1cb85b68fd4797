/*
 * lesions.c - ground-glass and consolidation inside the lungs, as lesions,
 * and the measures built on them (PO, PHO, zone involvement, severity).
 *
 * Method (docs/analysis.md, "Lesions"):
 *  1. The lungs' box; every non-lung voxel set to air so the chest wall
 *     and mediastinum cannot bleed in.  Detection (2-5) runs on a grid of
 *     block means where the CT is finer than 0.9 mm (CoarseCtx).  The pass
 *     that reads the box also counts the measures' lung voxels and
 *     histogram (ThreadCounts); the last pass counts the lesion voxels.
 *  2. Vessel suppression by a grey opening with a box of twice the vessel
 *     radius (3.5 mm): vessels, their partial-volume halo and fissures are
 *     narrower than the box and take the value of the parenchyma around
 *     them; ground glass and consolidation are wider and keep theirs.
 *  3. Candidates: lung voxels whose opened HU lies in the opacity band,
 *     -750 to +100 HU (DOMAIN.md: GGO about -750 to -300, consolidation
 *     about -300 to +50).
 *  4. Central dense structures (hilar vessels, organ domes seen through
 *     the lung base) leave the candidates (drop_central_dense).
 *  5. 26-connected regions; vessel bundles and rims are not lesions
 *     (is_lesion).
 *  6. Boundaries on the CT at the partial-volume midpoint between the
 *     parenchyma and each lesion, without the vessels crossing it and
 *     their partial-volume rims (refine_boundaries, then up_slices on the
 *     full grid, only in rows that hold a lesion).
 *  7. Regions of at least `min_lesion_ml` are lesions, typed by the share
 *     of their voxels above -200 HU (the PHO threshold of Chaganti et al.,
 *     Radiol Artif Intell 2020): below 25 % ground glass, above 75 %
 *     consolidation, mixed between.
 * Every stage runs over the thread pool or is one linear pass.
 * NOVA_DEBUG_LESIONS=1 prints the wall and process CPU time of each step
 * and the features of every region (diagnostics for development).
 */
#include "chest/analysis_private.h"

#include "nova/imgproc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char *nova_lesion_kind_name(NovaLesionKind type)
{
    switch (type) {
    case NOVA_LESION_KIND_GGO: return "ggo";
    case NOVA_LESION_KIND_CONSOLIDATION: return "consolidation";
    case NOVA_LESION_KIND_MIXED: return "mixed";
    }
    return "unknown";
}

void nova_lesion_options_init(NovaLesionOptions *o)
{
    o->ggo_min_hu = -750;
    o->high_hu = -200;
    o->max_hu = 100;
    o->vessel_radius_mm = 3.5;
    o->min_lesion_ml = 0.1;
}

/* A loop over the pool in chunks of about a thirty-second of the range,
 * handed out as threads free up: the lungs fill some slices far more than
 * others, and on a shared machine one thread may get less of the CPU.
 * Only for passes whose result does not depend on the split: writes per
 * voxel, integer sums per thread, or per-thread maxima. */
static void pool_chunks(NovaPool *pool, size_t n, NovaRangeFn fn, void *ctx)
{
    nova_pool_parallel_chunks(pool, n, n / 32 + 1, fn, ctx);
}

/* Bounding box of the lung labels, inclusive: slices split over the pool,
 * each row scanned once for its first and last lung voxel. */
typedef struct {
    const uint8_t *lab;
    size_t d[3];
    size_t (*box)[6]; /* per thread: lo x, y, z, hi x, y, z */
} BoxScan;

static void bbox_slices(void *vctx, size_t begin, size_t end, int t)
{
    const BoxScan *b = vctx;
    size_t *box = b->box[t];
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < b->d[1]; y++) {
            const uint8_t *row = b->lab + (z * b->d[1] + y) * b->d[0];
            size_t first = SIZE_MAX, last = 0;
            /* Most rows hold no lung: test eight labels at a time.  Lung
             * labels are 0-3, and for those bit 0 of (v ^ v >> 1) is set
             * exactly for 1 and 2 (right, left). */
            size_t x0 = 0;
            for (; x0 + 8 <= b->d[0]; x0 += 8) {
                uint64_t w;
                memcpy(&w, row + x0, 8);
                if ((w ^ (w >> 1)) & 0x0101010101010101ull)
                    break;
            }
            for (size_t x = x0; x < b->d[0]; x++)
                if ((uint8_t)(row[x] - 1) < 2) { /* right or left */
                    first = x;
                    break;
                }
            if (first == SIZE_MAX)
                continue;
            for (size_t x = b->d[0]; x-- > first;)
                if ((uint8_t)(row[x] - 1) < 2) {
                    last = x;
                    break;
                }
            size_t lo[3] = {first, y, z}, hi[3] = {last, y, z};
            for (int a = 0; a < 3; a++) {
                if (lo[a] < box[a])
                    box[a] = lo[a];
                if (hi[a] > box[3 + a])
                    box[3 + a] = hi[a];
            }
        }
}

static bool lung_bbox(NovaPool *pool, const uint8_t *lab, const size_t d[3],
                      size_t lo[3], size_t hi[3])
{
    int threads = nova_pool_get_threads(pool);
    size_t(*box)[6] = nova_malloc_array(NULL, (size_t)threads, sizeof *box);
    BoxScan b = {lab, {d[0], d[1], d[2]}, box};
    for (int a = 0; a < 3; a++) {
        lo[a] = SIZE_MAX;
        hi[a] = 0;
    }
    for (int t = 0; box && t < threads; t++)
        for (int a = 0; a < 3; a++) {
            box[t][a] = SIZE_MAX;
            box[t][3 + a] = 0;
        }
    if (box)
        nova_pool_parallel_for(pool, d[2], bbox_slices, &b);
    else { /* no memory for the per-thread boxes: one thread */
        size_t one[1][6] = {{SIZE_MAX, SIZE_MAX, SIZE_MAX, 0, 0, 0}};
        b.box = one;
        bbox_slices(&b, 0, d[2], 0);
        for (int a = 0; a < 3; a++) {
            lo[a] = one[0][a];
            hi[a] = one[0][3 + a];
        }
        return lo[0] != SIZE_MAX;
    }
    for (int t = 0; t < threads; t++)
        for (int a = 0; a < 3; a++) {
            if (box[t][a] < lo[a])
                lo[a] = box[t][a];
            if (box[t][3 + a] > hi[a])
                hi[a] = box[t][3 + a];
        }
    nova_free(box);
    return lo[0] != SIZE_MAX;
}

typedef struct {
    const int16_t *hu;
    const uint8_t *lab;
    size_t d[3];  /* full volume */
    size_t lo[3]; /* crop origin */
    size_t c[3];  /* crop dims */
    double spacing_z_mm;
} CandCtx;

/* Candidate flags: 1 a candidate, CAND_DROPPED a central dense voxel
 * (hilar vessel, organ dome) that is not a lesion itself. */
#define CAND_DROPPED 2
/* ... and CAND_BLOB a dense voxel of a compact dense region that
 * drop_central_dense kept (a consolidation or nodule away from the
 * pleura). */
#define CAND_BLOB 3

/* Grey opening by a box: a running minimum then a running maximum along
 * each axis (van Herk / Gil-Werman: three comparisons per voxel whatever
 * the box size).  Bright structures narrower than the box (vessels, their
 * partial-volume halo, fissures) take the value of what surrounds them;
 * regions wider than the box (ground glass, consolidation) keep theirs. */
typedef struct {
    int16_t *img;
    size_t c[3];
    size_t half[3];
    int axis;
    bool maximum;
    int16_t *scratch; /* per thread: 3 blocks of scratch_stride voxels */
    size_t scratch_stride;
    const int16_t *identity; /* a row of the operation's identity */
} BoxCtx;

static void box_line(int16_t *v, size_t n, size_t stride, size_t half,
                     bool maximum, int16_t *f, int16_t *g, int16_t *in)
{
    size_t w = 2 * half + 1;
    /* in[i] = v[i - half] with the edges extended by the identity of the
     * operation, so windows that leave the line ignore the outside. */
    int16_t id = maximum ? INT16_MIN : INT16_MAX;
    size_t m = n + 2 * half;
    size_t padded = (m + w - 1) / w * w;
    for (size_t i = 0; i < padded; i++)
        in[i] = (i >= half && i - half < n) ? v[(i - half) * stride] : id;
    for (size_t b = 0; b < padded; b += w) {
        f[b] = in[b];
        for (size_t i = b + 1; i < b + w; i++)
            f[i] = maximum ? (in[i] > f[i - 1] ? in[i] : f[i - 1])
                           : (in[i] < f[i - 1] ? in[i] : f[i - 1]);
        g[b + w - 1] = in[b + w - 1];
        for (size_t i = b + w - 1; i-- > b;)
            g[i] = maximum ? (in[i] > g[i + 1] ? in[i] : g[i + 1])
                           : (in[i] < g[i + 1] ? in[i] : g[i + 1]);
    }
    for (size_t i = 0; i < n; i++) {
        /* window [i, i + w - 1] of `in` is centred on v[i] */
        int16_t a = g[i], bv = f[i + w - 1];
        v[i * stride] = maximum ? (a > bv ? a : bv) : (a < bv ? a : bv);
    }
}

/* The same running min/max across whole rows at once: for the y and z
 * axes a "line" is every x of a row, so the inner loops run over
 * contiguous memory and vectorise, instead of striding through the volume
 * one voxel per cache line.  rows[i] is row i of the line set (stride
 * apart, each `len` voxels); f and g hold (n + 2 * half) rounded up to the
 * window, times len, voxels. */
static void box_rows(int16_t *base, size_t n, size_t stride, size_t len,
                     size_t half, bool maximum, int16_t *f, int16_t *g,
                     const int16_t *identity)
{
    size_t w = 2 * half + 1;
    size_t padded = (n + 2 * half + w - 1) / w * w;
#define ROW(i)                                                                 \
    ((i) >= half && (i)-half < n ? base + ((i)-half) * stride : identity)
#define OP(a, b) (maximum ? ((a) > (b) ? (a) : (b)) : ((a) < (b) ? (a) : (b)))
    for (size_t b = 0; b < padded; b += w) {
        memcpy(f + b * len, ROW(b), len * sizeof *f);
        for (size_t i = b + 1; i < b + w; i++) {
            const int16_t *in = ROW(i), *prev = f + (i - 1) * len;
            int16_t *cur = f + i * len;
            for (size_t x = 0; x < len; x++)
                cur[x] = OP(in[x], prev[x]);
        }
        memcpy(g + (b + w - 1) * len, ROW(b + w - 1), len * sizeof *g);
        for (size_t i = b + w - 1; i-- > b;) {
            const int16_t *in = ROW(i), *next = g + (i + 1) * len;
            int16_t *cur = g + i * len;
            for (size_t x = 0; x < len; x++)
                cur[x] = OP(in[x], next[x]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const int16_t *a = g + i * len, *bb = f + (i + w - 1) * len;
        int16_t *out = base + i * stride;
        for (size_t x = 0; x < len; x++)
            out[x] = OP(a[x], bb[x]);
    }
#undef ROW
#undef OP
}

/* The same along x for narrow boxes (up to 17 voxels, all the grids we
 * see: 7 at 1.4 mm): the window's minimum or maximum taken one offset at
 * a time across the whole row, loops that compile to packed 16-bit min
 * and max, instead of van Herk's three dependent comparisons per voxel
 * (box_line), which do not vectorise.  Exact either way.  in: scratch of
 * n + 2 half voxels. */
static void box_row_narrow(int16_t *restrict v, size_t n, size_t half,
                           bool maximum, int16_t *restrict in)
{
    int16_t id = maximum ? INT16_MIN : INT16_MAX;
    for (size_t i = 0; i < half; i++) {
        in[i] = id;
        in[half + n + i] = id;
    }
    memcpy(in + half, v, n * sizeof *v);
    memcpy(v, in, n * sizeof *v);
    for (size_t k = 1; k <= 2 * half; k++) {
        const int16_t *restrict src = in + k;
        if (maximum)
            for (size_t x = 0; x < n; x++)
                v[x] = src[x] > v[x] ? src[x] : v[x];
        else
            for (size_t x = 0; x < n; x++)
                v[x] = src[x] < v[x] ? src[x] : v[x];
    }
}

static void box_lines(void *ctx, size_t begin, size_t end, int thread)
{
    BoxCtx *b = ctx;
    int16_t *f = b->scratch + (size_t)thread * 3 * b->scratch_stride;
    int16_t *g = f + b->scratch_stride, *in = g + b->scratch_stride;
    size_t cx = b->c[0], cy = b->c[1], cz = b->c[2];
    for (size_t line = begin; line < end; line++) {
        switch (b->axis) {
        case 0: /* lines along x: line = z * cy + y */
            if (b->half[0] <= 8)
                box_row_narrow(b->img + line * cx, cx, b->half[0], b->maximum,
                               in);
            else
                box_line(b->img + line * cx, cx, 1, b->half[0], b->maximum, f,
                         g, in);
            break;
        case 1: /* along y, all x at once: line = z */
            box_rows(b->img + line * cx * cy, cy, cx, cx, b->half[1],
                     b->maximum, f, g, b->identity);
            break;
        default: /* along z, all x at once: line = y */
            box_rows(b->img + line * cx, cz, cx * cy, cx, b->half[2],
                     b->maximum, f, g, b->identity);
        }
    }
}

static bool grey_open(NovaError **error, NovaPool *pool, int16_t *img,
                      const size_t c[3], const size_t half[3])
{
    int threads = nova_pool_get_threads(pool);
    size_t longest = c[0] > c[1] ? c[0] : c[1];
    if (c[2] > longest)
        longest = c[2];
    size_t maxhalf = half[0] > half[1] ? half[0] : half[1];
    if (half[2] > maxhalf)
        maxhalf = half[2];
    /* Row passes need (line + 2 half + window) rows of c[0] voxels. */
    size_t rows = longest + 4 * maxhalf + 2;
    size_t stride;
    if (!nova_size_mul(rows, c[0] > 1 ? c[0] : 1, &stride))
        return nova_error_set(error, NOVA_ERROR_RANGE, "too large",
                              "lesion crop of %zu x %zu x %zu", c[0], c[1],
                              c[2]);
    int16_t *scratch = nova_malloc_array(
        error, (size_t)threads * 3 * stride + 2 * c[0], sizeof *scratch);
    if (!scratch)
        return false;
    int16_t *id_min = scratch + (size_t)threads * 3 * stride;
    int16_t *id_max = id_min + c[0];
    for (size_t x = 0; x < c[0]; x++) {
        id_min[x] = INT16_MAX;
        id_max[x] = INT16_MIN;
    }
    BoxCtx b = {.img = img, .scratch = scratch, .scratch_stride = stride};
    memcpy(b.c, c, sizeof b.c);
    memcpy(b.half, half, sizeof b.half);
    size_t lines[3] = {c[1] * c[2], c[2], c[1]};
    for (int pass = 0; pass < 2; pass++) {
        b.maximum = pass == 1;
        b.identity = b.maximum ? id_max : id_min;
        for (int axis = 0; axis < 3; axis++) {
            if (half[axis] == 0)
                continue;
            b.axis = axis;
            pool_chunks(pool, lines[axis], box_lines, &b);
        }
    }
    nova_free(scratch);
    return true;
}

/* The measures' counts of one thread (folded into NovaMeasureCounts at
 * the end): lung voxels by 1-HU bin from -1030 HU (bin 1130 takes the
 * rest) and by side and zone code, so that the row loop does two
 * increments per lung voxel and no division. */
typedef struct {
    /* four interleaved histograms, summed at the end: neighbouring lung
     * voxels mostly fall in the same few bins, and one histogram makes
     * each increment wait for the previous one's store (a third of the
     * row loop's time, measured with perf) */
    size_t hu[4][1131];
    size_t code[2][16]; /* side (right 0, left 1), zone code (0: none) */
    size_t lesion[2], high[2], zone_lesion[2][3], zone_high[2][3];
} ThreadCounts;

/* count_lung_row's run of side-and-zone key k grows by add voxels; the
 * run in progress is banked in code[] when the key changes.  Inlined, key
 * and run stay in registers. */
static inline void count_run(size_t *code, unsigned *key, size_t *run,
                             unsigned k, size_t add)
{
    if (k != *key) {
        code[*key] += *run;
        *key = k;
        *run = 0;
    }
    *run += add;
}

/* One lung voxel x of side s (right 0, left 1): its HU bin and its run. */
static inline void count_lung_voxel(ThreadCounts *m, size_t *code,
                                    unsigned *key, size_t *run,
                                    const int16_t *hu, const uint8_t *zones,
                                    size_t x, unsigned s)
{
    unsigned v = (unsigned)(hu[x] + 1030);
    m->hu[x & 3][v < 1130 ? v : 1130]++;
    count_run(code, key, run, s * 16 + (zones ? zones[x] & 15u : 0), 1);
}

/* The measures' lung counts of one row of the full grid (n voxels).  Side
 * and zone code change seldom along a row: they are counted by runs, in a
 * register, and only the histogram takes an increment in memory per lung
 * voxel.  Eight labels at a time are skipped where none is lung (labels
 * 0-3: bit 0 of v ^ v >> 1 is set exactly for 1 and 2). */
static void count_lung_row(ThreadCounts *m, const int16_t *hu,
                           const uint8_t *lab, const uint8_t *zones, size_t n)
{
    size_t *code = &m->code[0][0], run = 0;
    unsigned key = 0;
    size_t x0 = 0;
#if defined(__SSE2__)
    /* Sixteen voxels at a time, by hand (the compiler does not vectorise
     * a histogram): one compare finds the lung voxels; sixteen of one
     * lung take their bins from two vectors and their zone counts from
     * one compare per zone code; otherwise only the lung voxels are
     * visited. */
    const __m128i right = _mm_set1_epi8(1), left = _mm_set1_epi8(2);
    const __m128i lo = _mm_set1_epi16(-1031), hi = _mm_set1_epi16(100);
    const __m128i off = _mm_set1_epi16(1030), rest = _mm_set1_epi16(1130);
    for (; x0 + 16 <= n; x0 += 16) {
        __m128i l = _mm_loadu_si128((const __m128i *)(lab + x0));
        unsigned bits = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(l, right), _mm_cmpeq_epi8(l, left)));
        if (!bits)
            continue;
        if (bits == 0xffff && _mm_movemask_epi8(_mm_cmpeq_epi8(
                                  l, _mm_set1_epi8((char)lab[x0]))) == 0xffff) {
            /* sixteen voxels of one lung: the side and zone counts by
             * zone code, one compare per code present (one or two at a
             * zone's edge) */
            unsigned side = (unsigned)(lab[x0] - 1) * 16;
            if (zones) {
                __m128i zl = _mm_and_si128(
                    _mm_loadu_si128((const __m128i *)(zones + x0)),
                    _mm_set1_epi8(15));
                unsigned left_bits = 0xffff;
                while (left_bits) {
                    unsigned c =
                        zones[x0 + (size_t)__builtin_ctz(left_bits)] & 15u;
                    unsigned e = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                                     zl, _mm_set1_epi8((char)c))) &
                                 left_bits;
                    left_bits &= ~e;
                    count_run(code, &key, &run, side + c,
                              (size_t)__builtin_popcount(e));
                }
            } else {
                count_run(code, &key, &run, side, 16);
            }
            /* bin: HU + 1030 for -1030 <= HU < 100, else 1130 */
            for (int half = 0; half < 2; half++) {
                __m128i v = _mm_loadu_si128(
                    (const __m128i *)(hu + x0 + 8 * (size_t)half));
                __m128i in = _mm_and_si128(_mm_cmpgt_epi16(v, lo),
                                           _mm_cmplt_epi16(v, hi));
                __m128i b =
                    _mm_or_si128(_mm_and_si128(in, _mm_add_epi16(v, off)),
                                 _mm_andnot_si128(in, rest));
                m->hu[0][_mm_extract_epi16(b, 0)]++;
                m->hu[1][_mm_extract_epi16(b, 1)]++;
                m->hu[2][_mm_extract_epi16(b, 2)]++;
                m->hu[3][_mm_extract_epi16(b, 3)]++;
                m->hu[0][_mm_extract_epi16(b, 4)]++;
                m->hu[1][_mm_extract_epi16(b, 5)]++;
                m->hu[2][_mm_extract_epi16(b, 6)]++;
                m->hu[3][_mm_extract_epi16(b, 7)]++;
            }
            continue;
        }
        /* mixed: the lung voxels only, in order */
        while (bits) {
            size_t x = x0 + (size_t)__builtin_ctz(bits);
            bits &= bits - 1;
            count_lung_voxel(m, code, &key, &run, hu, zones, x,
                             (uint8_t)(lab[x] - 1));
        }
    }
#endif
    for (; x0 < n; x0 += 8) {
        size_t x1 = x0 + 8 < n ? x0 + 8 : n;
        if (x1 - x0 == 8) {
            uint64_t w, zw = 0;
            memcpy(&w, lab + x0, 8);
            if (!((w ^ (w >> 1)) & 0x0101010101010101ull))
                continue;
            if (zones)
                memcpy(&zw, zones + x0, 8);
            /* eight voxels of one lung and one zone (most of the lung):
             * one run of eight */
            unsigned s = (uint8_t)(lab[x0] - 1);
            if (s < 2 && w == 0x0101010101010101ull * (w & 0xff) &&
                zw == 0x0101010101010101ull * (zw & 0xff)) {
                count_run(code, &key, &run, s * 16 + (unsigned)(zw & 15), 8);
                /* unrolled by hand: each histogram's index is a constant */
                const int16_t *p = hu + x0;
                for (int j = 0; j < 8; j += 4) {
                    unsigned v0 = (unsigned)(p[j] + 1030);
                    unsigned v1 = (unsigned)(p[j + 1] + 1030);
                    unsigned v2 = (unsigned)(p[j + 2] + 1030);
                    unsigned v3 = (unsigned)(p[j + 3] + 1030);
                    m->hu[0][v0 < 1130 ? v0 : 1130]++;
                    m->hu[1][v1 < 1130 ? v1 : 1130]++;
                    m->hu[2][v2 < 1130 ? v2 : 1130]++;
                    m->hu[3][v3 < 1130 ? v3 : 1130]++;
                }
                continue;
            }
        }
        for (size_t x = x0; x < x1; x++) {
            unsigned s = (uint8_t)(lab[x] - 1); /* right 0, left 1 */
            if (s < 2)
                count_lung_voxel(m, code, &key, &run, hu, zones, x, s);
        }
    }
    code[key] += run;
}

/* Copy the crop, with every non-lung voxel set to air so that neither the
 * chest wall nor the mediastinum can bleed into the lung's edge; on the
 * full grid, count the measures' lung voxels on the way (counts: one set
 * per thread, or NULL). */
typedef struct {
    const CandCtx *cc;
    int16_t *out;
    const uint8_t *zones;
    ThreadCounts *counts;
} CropCtx;

/* One row of the crop: a select over contiguous arrays (restrict, so
 * that it vectorises). */
static void crop_row(int16_t *restrict out, const int16_t *restrict hu,
                     const uint8_t *restrict lab, size_t n)
{
    for (size_t x = 0; x < n; x++)
        out[x] = (uint8_t)(lab[x] - 1) < 2 ? hu[x] : -1000; /* right, left */
}

static void crop_slices(void *ctx, size_t begin, size_t end, int t)
{
    const CropCtx *k = ctx;
    const CandCtx *c = k->cc;
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < c->c[1]; y++) {
            size_t gi =
                ((c->lo[2] + z) * c->d[1] + c->lo[1] + y) * c->d[0] + c->lo[0];
            crop_row(k->out + (z * c->c[1] + y) * c->c[0], c->hu + gi,
                     c->lab + gi, c->c[0]);
            if (k->counts)
                count_lung_row(&k->counts[t], c->hu + gi, c->lab + gi,
                               k->zones ? k->zones + gi : NULL, c->c[0]);
        }
}

/* Eigenvalues of a symmetric 3x3 matrix (xx, yy, zz, xy, xz, yz),
 * largest first (the trigonometric closed form). */
static void sym3_eigenvalues(const double c[6], double ev[3])
{
    double p1 = c[3] * c[3] + c[4] * c[4] + c[5] * c[5];
    double q = (c[0] + c[1] + c[2]) / 3;
    if (p1 == 0) {
        double a[3] = {c[0], c[1], c[2]};
        for (int i = 0; i < 3; i++)
            for (int j = i + 1; j < 3; j++)
                if (a[j] > a[i]) {
                    double t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                }
        ev[0] = a[0];
        ev[1] = a[1];
        ev[2] = a[2];
        return;
    }
    double p2 = (c[0] - q) * (c[0] - q) + (c[1] - q) * (c[1] - q) +
                (c[2] - q) * (c[2] - q) + 2 * p1;
    double p = sqrt(p2 / 6);
    /* B = (A - q I) / p; r = det(B) / 2 */
    double b0 = (c[0] - q) / p, b1 = (c[1] - q) / p, b2 = (c[2] - q) / p;
    double b3 = c[3] / p, b4 = c[4] / p, b5 = c[5] / p;
    double det = b0 * (b1 * b2 - b5 * b5) - b3 * (b3 * b2 - b5 * b4) +
                 b4 * (b3 * b5 - b1 * b4);
    double r = det / 2;
    double phi = r <= -1 ? M_PI / 3 : r >= 1 ? 0 : acos(r) / 3;
    ev[0] = q + 2 * p * cos(phi);
    ev[2] = q + 2 * p * cos(phi + 2 * M_PI / 3);
    ev[1] = 3 * q - ev[0] - ev[2];
}

/*
 * Dense regions (opened HU above -300) lying almost wholly in the central
 * two thirds of the lung - under a fifth of their voxels in the peripheral
 * zone - are hilar vessels, or the dome of the liver or spleen where an
 * axial slice cuts it inside the lung base: thicker than any box that
 * keeps lesions.  Their voxels leave the candidates.  Consolidation reaches
 * the pleura; a dense region that does is kept whole, and ground glass
 * around a dropped region stays a candidate.  Small dense regions at the
 * medial edge are hilar vessels too (below).
 */
/* drop_central_dense's statistics of the dense regions, per thread. */
typedef struct {
    size_t count, peripheral;
    size_t stamp, area; /* the slice being counted (z + 1) and its area */
    size_t max_area, first_z, first_area, last_z, last_area;
    int64_t mom[9]; /* index sums: x, y, z, xx, yy, zz, xy, xz, yz */
} DenseAcc;

typedef struct {
    const CandCtx *cc;
    const uint8_t *zones;
    const uint32_t *labels;
    const uint8_t *dense; /* nonzero exactly where labels is */
    DenseAcc *per;        /* threads x m */
    uint32_t *met; /* threads x m: the regions met in the current slice */
    size_t m;
} DenseJob;

static void dense_slices(void *vctx, size_t begin, size_t end, int t)
{
    const DenseJob *j = vctx;
    const CandCtx *cc = j->cc;
    const size_t *c = cc->c;
    DenseAcc *acc = j->per + (size_t)t * j->m;
    uint32_t *met = j->met + (size_t)t * j->m;
    for (size_t z = begin; z < end; z++) {
        size_t n_met = 0;
        for (size_t y = 0; y < c[1]; y++) {
            size_t i = (z * c[1] + y) * c[0];
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            for (size_t x = 0; x < c[0]; x++) {
                /* most voxels are not dense: eight flags at a time */
                if (x + 8 <= c[0]) {
                    uint64_t w8;
                    memcpy(&w8, j->dense + i + x, 8);
                    if (!w8) {
                        x += 7;
                        continue;
                    }
                }
                uint32_t l = j->labels[i + x];
                if (!l)
                    continue;
                DenseAcc *a = &acc[l];
                if (a->stamp != z + 1) {
                    a->stamp = z + 1;
                    a->area = 0;
                    met[n_met++] = l;
                }
                a->area++;
                a->count++;
                int64_t px = (int64_t)x, py = (int64_t)y, pz = (int64_t)z;
                a->mom[0] += px;
                a->mom[1] += py;
                a->mom[2] += pz;
                a->mom[3] += px * px;
                a->mom[4] += py * py;
                a->mom[5] += pz * pz;
                a->mom[6] += px * py;
                a->mom[7] += px * pz;
                a->mom[8] += py * pz;
                uint8_t zc = j->zones[gi + x];
                a->peripheral += zc && NOVA_ZONE_PERIPHERAL(zc);
            }
        }
        for (size_t k = 0; k < n_met; k++) {
            DenseAcc *a = &acc[met[k]];
            if (a->area > a->max_area)
                a->max_area = a->area;
            if (!a->first_area) {
                a->first_area = a->area;
                a->first_z = z;
            }
            a->last_area = a->area;
            a->last_z = z;
        }
    }
}

/* cand of each dense region's voxels from its verdict, per slice. */
typedef struct {
    const uint32_t *labels;
    const uint8_t *verdict;
    const uint8_t *dense; /* nonzero exactly where labels is */
    uint8_t *cand;
    size_t slice;
} VerdictCtx;

static void verdict_slices(void *vctx, size_t begin, size_t end, int t)
{
    const VerdictCtx *v = vctx;
    (void)t;
    size_t i = begin * v->slice, i1 = end * v->slice;
    while (i < i1) {
        /* most voxels are not dense: eight flags at a time */
        if (i + 8 <= i1) {
            uint64_t w8;
            memcpy(&w8, v->dense + i, 8);
            if (!w8) {
                i += 8;
                continue;
            }
        }
        uint8_t w = v->labels[i] ? v->verdict[v->labels[i]] : 0;
        if (w)
            v->cand[i] = w;
        i++;
    }
}

/* Which dense regions come within reach of a lung's medial edge, per
 * thread: 1 within reach, 3 on the edge voxel itself.  A region's value
 * is the largest any row gives it, so the threads' sets merge by maximum
 * whatever the split. */
typedef struct {
    const CandCtx *cc;
    const uint32_t *labels;
    long reach;
    uint8_t *touch; /* threads x m */
    size_t m;
} TouchJob;

static void touch_slices(void *vctx, size_t begin, size_t end, int t)
{
    const TouchJob *j = vctx;
    const CandCtx *cc = j->cc;
    const size_t *c = cc->c;
    uint8_t *touch = j->touch + (size_t)t * j->m;
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < c[1]; y++) {
            const uint8_t *row =
                cc->lab +
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            long rmin = -1, rmax = -1, lmin = -1, lmax = -1;
            for (size_t x = 0; x < c[0]; x++) {
                if (row[x] == NOVA_LUNG_RIGHT) {
                    if (rmin < 0)
                        rmin = (long)x;
                    rmax = (long)x;
                } else if (row[x] == NOVA_LUNG_LEFT) {
                    if (lmin < 0)
                        lmin = (long)x;
                    lmax = (long)x;
                }
            }
            if (rmin < 0 || lmin < 0)
                continue;
            /* the medial edge of each lung on this row */
            long edges[2] = {rmax < lmin ? rmax : rmin,
                             rmax < lmin ? lmin : lmax};
            const uint32_t *lr = j->labels + (z * c[1] + y) * c[0];
            for (int e = 0; e < 2; e++) {
                /* within reach of the medial edge, towards the lung */
                long dir = (e == 0) == (rmax < lmin) ? -1 : 1;
                for (long k = 0; k <= j->reach; k++) {
                    long x = edges[e] + dir * k;
                    if (x < 0 || x >= (long)c[0])
                        break;
                    /* 1: within reach; 3: on the edge voxel itself */
                    if (lr[x] && touch[lr[x]] != 3)
                        touch[lr[x]] = k == 0 ? 3 : 1;
                }
            }
        }
}

static bool drop_central_dense(NovaError **error, NovaPool *pool,
                               const CandCtx *cc, const uint8_t *zones,
                               uint8_t *cand, const uint8_t *dense,
                               uint32_t *labels, const double sp[3],
                               double voxel_ml, bool k_up)
{
    double spacing_x_mm = sp[0];
    double voxel_mm2 = voxel_ml * 1000 / cc->spacing_z_mm;
    const size_t *c = cc->c;
    uint32_t n_labels = 0;
    if (!zones)
        return true;
    if (!nova_imgproc_label(error, pool, dense, c, 26, labels, &n_labels))
        return false;
    if (n_labels == 0)
        return true;
    /* Per region: voxels, peripheral voxels, per-slice areas (the
     * largest, the first and the last slice's) and the second moments of
     * the voxel positions, over the pool (dense_slices), merged here. */
    size_t m = (size_t)n_labels + 1;
    int threads = nova_pool_get_threads(pool);
    size_t *count = nova_calloc(error, 8 * m, sizeof *count);
    /* second moments of each region's voxel positions in mm: x, y, z, xx,
     * yy, zz, xy, xz, yz */
    double(*mom)[9] = nova_calloc(error, m, sizeof *mom);
    DenseJob job = {
        cc,
        zones,
        labels,
        dense,
        nova_calloc(error, (size_t)threads * m, sizeof(DenseAcc)),
        nova_malloc_array(error, (size_t)threads * m, sizeof(uint32_t)),
        m};
    if (!count || !mom || !job.per || !job.met) {
        nova_free(count);
        nova_free(mom);
        nova_free(job.per);
        nova_free(job.met);
        return false;
    }
    nova_pool_parallel_for(pool, c[2], dense_slices, &job);
    size_t *peripheral = count + m, *stamp = count + 2 * m;
    size_t *max_area = count + 4 * m;
    size_t *first_area = count + 5 * m, *last_area = count + 6 * m;
    for (size_t l = 1; l < m; l++) {
        /* integer sums: the merge does not depend on the split */
        int64_t q[9] = {0};
        size_t first_z = SIZE_MAX, last_z = 0;
        for (int t = 0; t < threads; t++) {
            const DenseAcc *p = &job.per[(size_t)t * m + l];
            if (!p->count)
                continue;
            count[l] += p->count;
            peripheral[l] += p->peripheral;
            for (int k = 0; k < 9; k++)
                q[k] += p->mom[k];
            if (p->max_area > max_area[l])
                max_area[l] = p->max_area;
            if (p->first_z < first_z) {
                first_z = p->first_z;
                first_area[l] = p->first_area;
            }
            if (p->last_z >= last_z) {
                last_z = p->last_z;
                last_area[l] = p->last_area;
            }
        }
        double s3[9] = {sp[0],         sp[1],         sp[2],
                        sp[0] * sp[0], sp[1] * sp[1], sp[2] * sp[2],
                        sp[0] * sp[1], sp[0] * sp[2], sp[1] * sp[2]};
        for (int k = 0; k < 9; k++)
            mom[l][k] = s3[k] * (double)q[k];
    }
    nova_free(job.per);
    nova_free(job.met);
    /* Hilar vessels also enter the lung at its medial edge, where the
     * distance to the mediastinal pleura makes them count as peripheral: a
     * small dense region (under 5 ml) that lies on the medial edge, or
     * comes within 10 mm of it and is not a compact blob of 1.5 ml or more
     * (a consolidation or nodule beside the mediastinum; the opening cuts
     * vessels into shorter, smaller pieces), is taken for one too. */
    /* per thread, then merged into the first set (touch_slices) */
    uint8_t *touch = nova_calloc(error, (size_t)threads * m, 1);
    if (!touch) {
        nova_free(count);
        nova_free(mom);
        return false;
    }
    TouchJob tj = {cc, labels, (long)(10.0 / spacing_x_mm + 0.5), touch, m};
    pool_chunks(pool, c[2], touch_slices, &tj);
    for (int t = 1; t < threads; t++)
        for (size_t l = 1; l < m; l++)
            if (touch[(size_t)t * m + l] > touch[l])
                touch[l] = touch[(size_t)t * m + l];
    /* The dome of the liver or spleen where the lung wraps it: a dense
     * region over one slice thick, not mostly peripheral, whose lower end
     * is a flat cut of 3 cm^2 or more and at least 60 % of its widest
     * section, where the lung no longer surrounds the organ (a
     * consolidation narrows towards its ends). */
    for (size_t l = 1; l < m; l++) {
        size_t bottom = k_up ? first_area[l] : last_area[l];
        if (count[l] > max_area[l] && 2 * peripheral[l] < count[l] &&
            5 * bottom >= 3 * max_area[l] && (double)bottom * voxel_mm2 >= 300)
            touch[l] = 2;
    }
    /* A compact dense region (a blob: its longest principal axis under
     * 2.5 times its second; a vessel segment is a tube, several times
     * longer than wide) is a consolidation or nodule even away from the
     * pleura; reuse `stamp` for the flag.  A branching vessel tree at the
     * hilum can have axes as even as a blob's, its branches spreading in
     * several directions, but it is hollow: it fills a third of the
     * ellipsoid of its second moments (the solid ellipsoid whose semi-axes
     * are sqrt(5) times the standard deviations along the principal axes),
     * where consolidation fills most of it (0.77-0.99 on the phantoms; a
     * straight tube about 0.9).  Such a region on or beside the medial
     * edge is a hilar vessel whatever its size (normal phantom seed 2 at
     * 256 voxels: an 8.5 ml vessel tree, filling 0.33, read as
     * consolidation); `hollow` reuses the first-slice area block. */
    uint8_t *compact = (uint8_t *)stamp;
    uint8_t *hollow = (uint8_t *)first_area;
    for (size_t l = 1; l < m; l++) {
        double nn = (double)count[l], *q = mom[l];
        bool blob = false;
        double fill = 0;
        if (count[l] >= 8) {
            double mx = q[0] / nn, my = q[1] / nn, mz = q[2] / nn;
            double cov[6] = {q[3] / nn - mx * mx, q[4] / nn - my * my,
                             q[5] / nn - mz * mz, q[6] / nn - mx * my,
                             q[7] / nn - mx * mz, q[8] / nn - my * mz};
            double ev[3];
            sym3_eigenvalues(cov, ev);
            blob = ev[1] > 0 && ev[0] < 6.25 * ev[1];
            double e3 = ev[0] * ev[1] * ev[2];
            /* A region in one slice (a single-slice scan) has no extent
             * along z: the ellipsoid is flat, and its fill read 0 or
             * 10^7 (covid-ny-sbu A046441 19010101-23: consolidation
             * beside the mediastinum dropped as a hollow vessel tree).
             * There the fill is that of the ellipse of its in-plane
             * moments (semi-axes 2 standard deviations). */
            if (cov[2] < 0.01 * sp[2] * sp[2]) {
                double e2 = ev[0] * ev[1];
                if (e2 > 0)
                    fill = nn * voxel_ml * 1000 / sp[2] /
                           (4.0 * M_PI * sqrt(e2));
            } else if (e3 > 0)
                fill = nn * voxel_ml * 1000 /
                       (4.0 / 3.0 * M_PI * 11.1803398875 * sqrt(e3));
        }
        compact[l] = blob;
        hollow[l] = blob && fill < 0.5;
        if (getenv("NOVA_DEBUG_LESIONS") && count[l] > 8)
            fprintf(stderr,
                    "dense %zu: %zu vox at %.0f %.0f %.0f mm (grid), "
                    "periph %zu, max area %zu, first %zu, last %zu, "
                    "touch %d, compact %d fill %.2f idx %.0f %.0f %.0f\n",
                    l, count[l], q[0] / nn, q[1] / nn, q[2] / nn, peripheral[l],
                    max_area[l], first_area[l], last_area[l], touch[l], blob,
                    fill, q[0] / nn / sp[0] + (double)cc->lo[0],
                    q[1] / nn / sp[1] + (double)cc->lo[1],
                    q[2] / nn / sp[2] + (double)cc->lo[2]);
    }
    /* the verdict per region (in the unused per-slice area block), then
     * its voxels over the pool */
    uint8_t *verdict = (uint8_t *)(count + 3 * m);
    verdict[0] = 0;
    /* The sizes below are volumes; a single-slice scan has only the
     * region's section, so it is measured by the section of a sphere of
     * that volume (5 ml: 3.5 cm^2, 1.5 ml: 1.6 cm^2).  Taken as a volume,
     * every region of one 2.5 mm slice was under 5 ml, and the dependent
     * consolidation beside the spine of covid-ny-sbu A046441 19010101-23
     * (2-4 cm^2 pieces) was dropped as hilar vessels. */
    bool one_slice = c[2] == 1;
    double small_size = one_slice ? 350.0 : 5.0;
    double tiny_size = one_slice ? 160.0 : 1.5;
    double unit = one_slice ? voxel_mm2 : voxel_ml;
    for (size_t l = 1; l < m; l++) {
        double size = (double)count[l] * unit;
        bool small = size < small_size;
        if ((5 * peripheral[l] < count[l] && !compact[l]) || touch[l] == 2 ||
            ((touch[l] == 1 || touch[l] == 3) && hollow[l]) ||
            ((touch[l] == 3 ||
              (touch[l] == 1 && (!compact[l] || size < tiny_size))) &&
             small))
            verdict[l] = CAND_DROPPED;
        else
            verdict[l] = compact[l] ? CAND_BLOB : 0;
    }
    VerdictCtx vc = {labels, verdict, dense, cand, c[0] * c[1]};
    pool_chunks(pool, c[2], verdict_slices, &vc);
    nova_free(touch);
    nova_free(count);
    nova_free(mom);
    return true;
}

/* Per-lesion accumulators. */
typedef struct {
    size_t voxels, high, right, left, thirds[3], peripheral, posterior;
    double sum_hu, sum_idx[3];
    size_t bbox_min[3], bbox_max[3];
    size_t faces;
    size_t dense;      /* voxels whose opened HU is above -300, */
    size_t blob;       /* and those in a compact dense blob (CAND_BLOB) */
    size_t thin;       /* bright (above high_hu) where the opened HU is not */
    size_t own_n;      /* voxels that are not thin bright structures, */
    double own_sum_hu; /* and their HU sum: the lesion's own density */
} Acc;

/*
 * Which candidate regions are lesions.  Two kinds of region pass the band
 * test without being opacities, and both are told apart by comparing the
 * original HU with the opened HU:
 *  - vessel bundles: near the hilum vessels and bronchial walls lie so
 *    close together that the opening leaves a ground-glass-like level
 *    between them; over a third of the region's voxels are then thin
 *    bright structures: above -200 HU where the opened image is not dense
 *    (above -300).  In ground glass only the vessels crossing it are (a
 *    fifth or less), in consolidation the opened image is dense too.
 *    Crazy paving (ground glass crossed by thickened interlobular septa)
 *    has thin bright lines over a third to a half of its voxels: a region
 *    mostly in the outer third of the lung (0.6 or more) with under half
 *    thin bright voxels is kept as such, since vessel bundles lie at the
 *    hilum and the peripheral vessel regions that pass the band test are
 *    mostly vessel (0.6-0.8 thin bright on the normal phantoms).  On
 *    grids so coarse that the box is three voxels wide (voxels of about
 *    2.3 mm and more), a region of at most two boxes whose mean is above
 *    -200 HU is the exception: a small consolidation or nodule that the
 *    opening cut down to the one box that fits in it, whose partial-volume
 *    corners keep the opened image below dense (on 4 mm voxels, 1.5-3 ml);
 *    a vessel bundle spreads over more boxes and is less dense on average;
 *  - central dense structures: a dense region (opened HU above -300 over
 *    half its voxels) lying almost wholly in the central two thirds of the
 *    lung (under a fifth peripheral) is a hilar vessel or the dome of the
 *    liver or spleen seen through the lung base, not a consolidation,
 *    which reaches the pleura, unless its dense core is a compact blob of
 *    1.5 ml or more that drop_central_dense kept (a consolidation or
 *    nodule away from the pleura; a hilar vessel cut short by the opening
 *    can look compact when smaller).  A smaller central mass is therefore
 *    not reported (docs/analysis.md, known limits);
 *  - partial-volume rims: a central region confined to one slice of a
 *    multi-slice scan is the edge of such a dome or of a fissure cut
 *    obliquely, not an opacity (a lesion of 0.1 ml or more spans slices).
 */
static bool is_lesion(const Acc *a, double voxel_ml, bool multi_slice,
                      size_t box_voxels, const NovaLesionOptions *o)
{
    if (a->voxels == 0 || (double)a->voxels * voxel_ml < o->min_lesion_ml)
        return false;
    double n = (double)a->voxels;
    double peripheral = (double)a->peripheral / n;
    bool small_dense = box_voxels <= 27 && a->voxels <= 2 * box_voxels &&
                       a->sum_hu > o->high_hu * n;
    double thin = (double)a->thin / n;
    bool crazy_paving = peripheral >= 0.6 && thin < 0.5;
    if (thin >= 0.35 && !small_dense && !crazy_paving)
        return false;
    bool blob = 2 * a->blob >= a->dense && (double)a->blob * voxel_ml >= 1.5;
    if ((double)a->dense / n >= 0.5 && peripheral < 0.2 && !blob)
        return false;
    if (multi_slice && a->bbox_min[2] == a->bbox_max[2] && peripheral < 0.2)
        return false;
    return true;
}

/* A region label image: uint32 or uint16 per crop voxel, or uint8 per
 * voxel of the whole volume (the lesion mask holding ids up to 254 before
 * it receives its final values). */
typedef struct {
    const uint32_t *u32;
    const uint16_t *u16;
    const uint8_t *u8;
} LabelImg;

static inline uint32_t label_at(const LabelImg *li, size_t i, size_t gi)
{
    return li->u32 ? li->u32[i] : li->u16 ? li->u16[i] : li->u8[gi];
}

/* The same with the type known where the call is compiled: the hot loops
 * are instantiated once per type (ACC_INLINE, kind a constant), so that
 * they carry no test of the type per voxel. */
enum { LABEL_U32, LABEL_U16, LABEL_U8 };
#define ACC_INLINE static inline __attribute__((always_inline))

ACC_INLINE uint32_t label_of(const LabelImg *li, int kind, size_t i, size_t gi)
{
    return kind == LABEL_U32   ? li->u32[i]
           : kind == LABEL_U16 ? li->u16[i]
                               : li->u8[gi];
}

static int label_kind(const LabelImg *li)
{
    return li->u32 ? LABEL_U32 : li->u16 ? LABEL_U16 : LABEL_U8;
}

static size_t crop_index(const size_t c[3], size_t x, size_t y, size_t z)
{
    return (z * c[1] + y) * c[0] + x;
}

/* Air (below -900 HU) outside region id in row n voxels long (crop index
 * i, volume index gi), one loop per label type so that the loops carry no
 * test of the type and vectorise. */
static size_t air_outside_row(const CandCtx *cc, const LabelImg *li,
                              uint32_t id, size_t i, size_t gi, size_t n)
{
    const int16_t *hu = cc->hu + gi;
    size_t air = 0;
    if (li->u32) {
        const uint32_t *l = li->u32 + i;
        for (size_t x = 0; x < n; x++)
            air += (l[x] != id) & (hu[x] < -900);
    } else if (li->u16) {
        const uint16_t *l = li->u16 + i;
        for (size_t x = 0; x < n; x++)
            air += (l[x] != id) & (hu[x] < -900);
    } else {
        const uint8_t *l = li->u8 + gi;
        for (size_t x = 0; x < n; x++)
            air += (l[x] != id) & (hu[x] < -900);
    }
    return air;
}

/* Cavitation: air (below -900 HU) enclosed by the lesion in an axial slice
 * (holes of the lesion's cross-section), at least 0.1 ml in all. */
static bool has_cavity(NovaError **error, const CandCtx *cc, const LabelImg *li,
                       uint32_t id, const Acc *a, double voxel_ml)
{
    size_t w = a->bbox_max[0] - a->bbox_min[0] + 1;
    size_t h = a->bbox_max[1] - a->bbox_min[1] + 1;
    size_t n = a->bbox_max[2] - a->bbox_min[2] + 1;
    size_t dims[3] = {w, h, n}, total = w * h * n;
    if (w < 3 || h < 3)
        return false;
    /* The holes' air is air of the box outside the lesion: without 0.1 ml
     * of that there is no cavity to look for.  Counted first, without the
     * box's mask, whose fresh pages cost more than the count (most
     * lesions stop here). */
    size_t air_any = 0;
    for (size_t z = 0; z < n; z++)
        for (size_t y = 0; y < h; y++) {
            size_t i = crop_index(cc->c, a->bbox_min[0], a->bbox_min[1] + y,
                                  a->bbox_min[2] + z);
            size_t gi = ((cc->lo[2] + a->bbox_min[2] + z) * cc->d[1] +
                         cc->lo[1] + a->bbox_min[1] + y) *
                            cc->d[0] +
                        cc->lo[0] + a->bbox_min[0];
            air_any += air_outside_row(cc, li, id, i, gi, w);
        }
    if ((double)air_any * voxel_ml < 0.1)
        return false;
    uint8_t *m = nova_malloc(error, total * 2);
    if (!m)
        return false;
    uint8_t *filled = m + total;
    for (size_t z = 0; z < n; z++)
        for (size_t y = 0; y < h; y++) {
            size_t i = crop_index(cc->c, a->bbox_min[0], a->bbox_min[1] + y,
                                  a->bbox_min[2] + z);
            size_t gi = ((cc->lo[2] + a->bbox_min[2] + z) * cc->d[1] +
                         cc->lo[1] + a->bbox_min[1] + y) *
                            cc->d[0] +
                        cc->lo[0] + a->bbox_min[0];
            uint8_t *row = m + (z * h + y) * w;
            for (size_t x = 0; x < w; x++)
                row[x] = label_at(li, i + x, gi + x) == id;
        }
    bool cavity = false;
    if (nova_imgproc_fill_holes(NULL, NULL, m, dims, true, filled)) {
        size_t air = 0;
        for (size_t z = 0; z < n; z++)
            for (size_t y = 0; y < h; y++) {
                size_t i = (z * h + y) * w;
                const int16_t *hu =
                    cc->hu +
                    ((cc->lo[2] + a->bbox_min[2] + z) * cc->d[1] + cc->lo[1] +
                     a->bbox_min[1] + y) *
                        cc->d[0] +
                    cc->lo[0] + a->bbox_min[0];
                for (size_t x = 0; x < w; x++)
                    air += filled[i + x] && !m[i + x] && hu[x] < -900;
            }
        cavity = (double)air * voxel_ml >= 0.1;
    }
    nova_free(m);
    return cavity;
}

static int compare_volume(const void *a, const void *b)
{
    const NovaLesion *x = a, *y = b;
    return x->voxels < y->voxels ? 1 : x->voxels > y->voxels ? -1 : 0;
}

/* The band test, per slice of the crop: candidates are lung voxels whose
 * opened HU lies in the opacity band; dense ones are above -300 HU. */
typedef struct {
    const CandCtx *cc;
    const int16_t *opened;
    int16_t band_lo, band_hi;
    uint8_t *cand, *dense;
    uint8_t *vessel;      /* full grid: 1 where a lung voxel is a thin bright
                           * structure (top-hat above VESSEL_TOPHAT_HU) */
    int16_t *kept_open;   /* a copy of opened, or NULL */
    size_t (*hist)[1200]; /* per thread: HU + 1024 of the lung voxels that
                           * are neither candidates nor vessels */
} BandCtx;

/* A voxel this much brighter than its opened value is part of a structure
 * narrower than the box (a vessel or bronchial wall), not of an opacity:
 * in the phantoms the top-hat of ground glass stays below about 300-450 HU
 * (texture, crazy paving), that of vessels runs to 600-900. */
#define VESSEL_TOPHAT_HU 500
/* Vessels and bronchial walls are soft tissue (DOMAIN.md: 0 to +100 HU;
 * the phantoms' vessels 42). */
#define VESSEL_HU 40

/* The top-hat test.  Where no box of the opening fits inside the lung
 * (within a box's width of the mask's edge, all round), the opening is the
 * air the crop puts outside the lung (-1000): it says nothing of the
 * voxel's surroundings, and a lesion voxel there is not a vessel. */
static inline bool is_thin_bright(int16_t hu, int16_t opened)
{
    return opened > -1000 && (int)hu - opened > VESSEL_TOPHAT_HU;
}

/* The flags of one row (n voxels): branch-free selects over contiguous
 * arrays, so that the loop compiles to packed compares. */
static void band_row(uint8_t *restrict cand, uint8_t *restrict dense,
                     uint8_t *restrict vessel, const int16_t *restrict opened,
                     const int16_t *restrict hu, const uint8_t *restrict lab,
                     size_t n, int16_t band_lo, int16_t band_hi)
{
    for (size_t x = 0; x < n; x++) {
        int v = opened[x], h = hu[x];
        int lung = (uint8_t)(lab[x] - 1) < 2; /* right, left */
        int in = lung & (v >= band_lo) & (v <= band_hi);
        /* is_thin_bright, in int so that h - v cannot overflow */
        int thin = lung & (v > -1000) & (h - v > VESSEL_TOPHAT_HU);
        cand[x] = (uint8_t)in;
        dense[x] = (uint8_t)(in & (v > -300));
        vessel[x] = (uint8_t)thin;
    }
}

static void band_slices(void *ctx, size_t begin, size_t end, int t)
{
    const BandCtx *b = ctx;
    const CandCtx *cc = b->cc;
    size_t *hist = b->hist[t];
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < cc->c[1]; y++) {
            size_t i = (z * cc->c[1] + y) * cc->c[0];
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            const uint8_t *l = cc->lab + gi;
            const int16_t *hu = cc->hu + gi;
            band_row(b->cand + i, b->dense + i, b->vessel + gi, b->opened + i,
                     hu, l, cc->c[0], b->band_lo, b->band_hi);
            /* the parenchyma's histogram: lung voxels that are neither
             * candidates nor vessels */
            const uint8_t *cr = b->cand + i, *vr = b->vessel + gi;
            for (size_t x = 0; x < cc->c[0]; x++) {
                if ((uint8_t)(l[x] - 1) >= 2 || cr[x] || vr[x])
                    continue;
                int k = hu[x] + 1024;
                hist[k < 0 ? 0 : k >= 1200 ? 1199 : k]++;
            }
            if (b->kept_open)
                memcpy(b->kept_open + i, b->opened + i,
                       cc->c[0] * sizeof *b->kept_open);
        }
}

/* Where the full-resolution passes need to look: per row of the
 * detection grid, the first and last block holding a lesion (lo > hi: no
 * lesion on that row).  Rows and blocks outside hold no lesion voxel, and
 * the lesion mask there stays as created (zero). */
typedef struct {
    const uint32_t *lo, *hi; /* per detection row (bz * h[1] + by) */
    size_t f[3], h[3];
} RowSpan;

/* The spans of the detection grid's slices [begin, end) from its labels
 * and their ids (map). */
typedef struct {
    const RowSpan *span;
    const uint32_t *labels, *map;
} SpanCtx;

static void span_slices(void *vctx, size_t begin, size_t end, int t)
{
    const SpanCtx *sc = vctx;
    const size_t *h = sc->span->h;
    uint32_t *lo = (uint32_t *)sc->span->lo, *hi = (uint32_t *)sc->span->hi;
    (void)t;
    for (size_t r = begin * h[1]; r < end * h[1]; r++) {
        const uint32_t *row = sc->labels + r * h[0];
        lo[r] = UINT32_MAX;
        hi[r] = 0;
        for (size_t x = 0; x < h[0]; x++)
            if (row[x] && sc->map[row[x]]) {
                if (x < lo[r])
                    lo[r] = (uint32_t)x;
                hi[r] = (uint32_t)x;
            }
    }
}

/* The x range [*x0, *x1) of crop row (y, z) that may hold lesion voxels;
 * false when there is none.  Without spans, the whole row. */
static bool row_span(const RowSpan *sp, size_t z, size_t y, size_t c0,
                     size_t *x0, size_t *x1)
{
    if (!sp) {
        *x0 = 0;
        *x1 = c0;
        return true;
    }
    size_t r = (z / sp->f[2]) * sp->h[1] + y / sp->f[1];
    if (sp->lo[r] > sp->hi[r])
        return false;
    *x0 = sp->lo[r] * sp->f[0];
    size_t e = (sp->hi[r] + 1) * sp->f[0];
    *x1 = e < c0 ? e : c0;
    return true;
}

/* What the per-lesion accumulation reads. */
typedef struct {
    const CandCtx *cc;
    const uint8_t *zones, *dense, *vessel;
    const uint8_t *cand; /* NULL once the candidates are gone */
    const RowSpan *span; /* rows to visit, or NULL for all */
    uint8_t *row_has;    /* per crop row (z * c[1] + y): set to 1 where the
                          * row holds a labelled voxel; or NULL */
    double lung_y_mid[3], wy[3];
    int16_t high_hu;
} AccCtx;

/* One pass over the crop: the statistics of every labelled region. */
static void acc_reset(Acc *acc, uint32_t n_labels)
{
    memset(acc, 0, ((size_t)n_labels + 1) * sizeof *acc);
    for (uint32_t l = 0; l <= n_labels; l++)
        for (int a = 0; a < 3; a++)
            acc[l].bbox_min[a] = SIZE_MAX;
}

/* The statistics of one run of voxels of region l (x in [xa, xb) of crop
 * row (y, z), row: its index in the volume), added to acc[l]: counts in
 * registers, one update of the accumulator per run. */
ACC_INLINE void accumulate_run(const AccCtx *ctx, const LabelImg *li, int kind,
                               Acc *a, uint32_t l, size_t xa, size_t xb,
                               size_t y, size_t z, size_t row)
{
    const CandCtx *cc = ctx->cc;
    const size_t *c = cc->c;
    size_t i0 = (z * c[1] + y) * c[0];
    size_t gy = cc->lo[1] + y, gz = cc->lo[2] + z;
    size_t sy = c[0], sz = c[0] * c[1];
    size_t gy_ = cc->d[0], gz_ = cc->d[0] * cc->d[1];
    size_t voxels = 0, dense = 0, blob = 0, thin = 0, own_n = 0, high = 0;
    size_t right = 0, left = 0, thirds[3] = {0}, peripheral = 0;
    size_t posterior = 0, faces = 0, sum_x = 0, first = SIZE_MAX, last = 0;
    int64_t sum_hu = 0, own_sum = 0;
    /* world y along the row: exact per row when the row has no y component
     * (the usual axial orientation), else per voxel as below */
    double wy_row = ctx->wy[1] * (double)gy + ctx->wy[2] * (double)gz;
    for (size_t x = xa; x < xb; x++) {
        size_t i = i0 + x, gi = row + x;
        /* the central dense voxels a region took in are not its own
         * (refine_boundaries drops them) */
        if (ctx->cand && ctx->cand[i] == CAND_DROPPED)
            continue;
        size_t gx = cc->lo[0] + x;
        int16_t v = cc->hu[gi];
        voxels++;
        bool dn = ctx->dense && ctx->dense[i];
        dense += dn;
        blob += ctx->cand && ctx->cand[i] == CAND_BLOB;
        thin += v > ctx->high_hu && !dn;
        sum_hu += v;
        if (!ctx->vessel || !ctx->vessel[gi]) {
            own_n++;
            own_sum += v;
        }
        high += v > ctx->high_hu;
        uint8_t side = cc->lab[gi];
        right += side == NOVA_LUNG_RIGHT;
        left += side == NOVA_LUNG_LEFT;
        if (ctx->zones && ctx->zones[gi]) {
            thirds[NOVA_ZONE_THIRD(ctx->zones[gi])]++;
            peripheral += NOVA_ZONE_PERIPHERAL(ctx->zones[gi]);
        }
        double wy = ctx->wy[0] == 0
                        ? wy_row
                        : ctx->wy[0] * (double)gx + ctx->wy[1] * (double)gy +
                              ctx->wy[2] * (double)gz;
        if ((side == 1 || side == 2) && wy > ctx->lung_y_mid[side])
            posterior++;
        sum_x += gx;
        if (first == SIZE_MAX)
            first = x;
        last = x;
        /* exposed faces, for the surface area: along x only at the run's
         * ends */
        if (x == 0 || (x == xa && label_of(li, kind, i - 1, gi - 1) != l))
            faces++;
        if (x + 1 == c[0] ||
            (x + 1 == xb && label_of(li, kind, i + 1, gi + 1) != l))
            faces++;
        if (y == 0 || label_of(li, kind, i - sy, gi - gy_) != l)
            faces++;
        if (y + 1 == c[1] || label_of(li, kind, i + sy, gi + gy_) != l)
            faces++;
        if (z == 0 || label_of(li, kind, i - sz, gi - gz_) != l)
            faces++;
        if (z + 1 == c[2] || label_of(li, kind, i + sz, gi + gz_) != l)
            faces++;
    }
    if (!voxels)
        return;
    a->voxels += voxels;
    a->dense += dense;
    a->blob += blob;
    a->thin += thin;
    a->sum_hu += (double)sum_hu;
    a->own_n += own_n;
    a->own_sum_hu += (double)own_sum;
    a->high += high;
    a->right += right;
    a->left += left;
    for (int k = 0; k < 3; k++)
        a->thirds[k] += thirds[k];
    a->peripheral += peripheral;
    a->posterior += posterior;
    a->faces += faces;
    a->sum_idx[0] += (double)sum_x;
    a->sum_idx[1] += (double)(voxels * gy);
    a->sum_idx[2] += (double)(voxels * gz);
    size_t lo[3] = {first, y, z}, hi[3] = {last, y, z};
    for (int k = 0; k < 3; k++) {
        if (lo[k] < a->bbox_min[k])
            a->bbox_min[k] = lo[k];
        if (hi[k] > a->bbox_max[k])
            a->bbox_max[k] = hi[k];
    }
}

ACC_INLINE void accumulate_range_k(const AccCtx *ctx, const LabelImg *li,
                                   int kind, Acc *acc, size_t z_begin,
                                   size_t z_end)
{
    const size_t *c = ctx->cc->c;
    for (size_t z = z_begin; z < z_end; z++)
        for (size_t y = 0; y < c[1]; y++) {
            size_t row =
                ((ctx->cc->lo[2] + z) * ctx->cc->d[1] + ctx->cc->lo[1] + y) *
                    ctx->cc->d[0] +
                ctx->cc->lo[0];
            size_t xa, xb;
            if (!row_span(ctx->span, z, y, c[0], &xa, &xb))
                continue;
            size_t i = (z * c[1] + y) * c[0];
            bool any = false;
            /* runs of one label */
            for (size_t x = xa; x < xb;) {
                uint32_t l = label_of(li, kind, i + x, row + x);
                size_t e = x + 1;
                while (e < xb && label_of(li, kind, i + e, row + e) == l)
                    e++;
                if (l) {
                    accumulate_run(ctx, li, kind, &acc[l], l, x, e, y, z, row);
                    any = true;
                }
                x = e;
            }
            if (ctx->row_has && any)
                ctx->row_has[z * c[1] + y] = 1;
        }
}

/* accumulate_range_k, one instance per label type */
static void accumulate_range(const AccCtx *ctx, const LabelImg *li, Acc *acc,
                             size_t z_begin, size_t z_end)
{
    switch (label_kind(li)) {
    case LABEL_U32:
        accumulate_range_k(ctx, li, LABEL_U32, acc, z_begin, z_end);
        break;
    case LABEL_U16:
        accumulate_range_k(ctx, li, LABEL_U16, acc, z_begin, z_end);
        break;
    default: accumulate_range_k(ctx, li, LABEL_U8, acc, z_begin, z_end);
    }
}

typedef struct {
    const AccCtx *ctx;
    const LabelImg *li;
    Acc *per; /* threads x (n_labels + 1) */
    size_t n;
} AccJob;

static void acc_slices(void *vctx, size_t begin, size_t end, int t)
{
    const AccJob *j = vctx;
    accumulate_range(j->ctx, j->li, j->per + (size_t)t * j->n, begin, end);
}

/* The statistics of every labelled region: slices split over the pool,
 * one accumulator set per thread, merged in thread order (integer counts
 * and sums of integers: exact, whatever the split). */
static void accumulate(NovaPool *pool, const AccCtx *ctx, const LabelImg *li,
                       Acc *acc, uint32_t n_labels)
{
    size_t n = (size_t)n_labels + 1;
    int threads = nova_pool_get_threads(pool);
    /* per-thread sets only while they stay small (64 MiB) */
    bool split =
        threads > 1 && n * (size_t)threads * sizeof(Acc) <= ((size_t)64 << 20);
    Acc *per = split ? nova_malloc_array(NULL, n * (size_t)threads, sizeof *per)
                     : NULL;
    acc_reset(acc, n_labels);
    if (!per) {
        accumulate_range(ctx, li, acc, 0, ctx->cc->c[2]);
        return;
    }
    for (int t = 0; t < threads; t++)
        acc_reset(per + (size_t)t * n, n_labels);
    AccJob job = {ctx, li, per, n};
    /* Lesions fill some slices far more than others: chunks handed out
     * as threads free up.  The sums are of integers (exact in double), so
     * they do not depend on which thread takes which chunk. */
    nova_pool_parallel_chunks(pool, ctx->cc->c[2], 4, acc_slices, &job);
    for (int t = 0; t < threads; t++)
        for (size_t l = 0; l < n; l++) {
            const Acc *p = per + (size_t)t * n + l;
            Acc *a = &acc[l];
            if (!p->voxels)
                continue;
            a->voxels += p->voxels;
            a->high += p->high;
            a->right += p->right;
            a->left += p->left;
            a->peripheral += p->peripheral;
            a->posterior += p->posterior;
            a->sum_hu += p->sum_hu;
            a->faces += p->faces;
            a->dense += p->dense;
            a->blob += p->blob;
            a->thin += p->thin;
            a->own_n += p->own_n;
            a->own_sum_hu += p->own_sum_hu;
            for (int k = 0; k < 3; k++) {
                a->thirds[k] += p->thirds[k];
                a->sum_idx[k] += p->sum_idx[k];
                if (p->bbox_min[k] < a->bbox_min[k])
                    a->bbox_min[k] = p->bbox_min[k];
                if (p->bbox_max[k] > a->bbox_max[k])
                    a->bbox_max[k] = p->bbox_max[k];
            }
        }
    nova_free(per);
}

/*
 * Lesion boundaries where the truth puts them.  The opening decides where
 * the lesions are; their edges are then set on the CT itself: a voxel
 * belongs to a lesion when its HU is at least halfway from the lung
 * parenchyma's level (the median of the non-candidate lung) to the
 * lesion's own mean (its voxels that are not vessels), the partial-volume
 * midpoint, so that a voxel more than half covered by the lesion counts.
 * The lesions grow by one voxel (6-connected) where their neighbours pass
 * that test, which restores the corners the box opening cuts off; voxels
 * below it, thin bright structures
 * (vessels crossing the lesion) and the regions that are not lesions
 * (is_lesion) leave.  mark: scratch, one byte per crop voxel, holding the
 * candidate flags in its low two bits (kept, so that neighbours read them
 * whatever the order of the pass) and the decision above them.
 */
typedef struct {
    const AccCtx *ctx;
    const uint32_t *labels;
    const int16_t *thr;  /* per label; INT16_MAX: not a lesion */
    const int16_t *vcut; /* per label: above it next to a vessel, a vessel */
    int16_t max_hu;
    uint8_t *mark;
    bool apply_drops; /* refine_apply_slices: the drops, else the growth */
} RefineCtx;

enum { MARK_KEEP = 0, MARK_GROW_FIRST = 1, MARK_DROP = 7, MARK_SHIFT = 2 };

/* Whether crop row (y, z) or a row beside it (y +- 1, z +- 1) holds a
 * labelled voxel (row_has, from accumulate).  Where none does, refinement
 * changes nothing in the row: no voxel of it is labelled, none has a
 * labelled 6-neighbour to grow from, and its marks stay the candidate
 * flags.  Most rows of the lungs are such rows. */
static bool near_labels(const uint8_t *row_has, const size_t c[3], size_t y,
                        size_t z)
{
    const uint8_t *r = row_has + z * c[1] + y;
    return r[0] || (y > 0 && r[-1]) || (y + 1 < c[1] && r[1]) ||
           (z > 0 && r[-(long)c[1]]) || (z + 1 < c[2] && r[c[1]]);
}

static void refine_slices(void *vctx, size_t begin, size_t end, int t)
{
    const RefineCtx *r = vctx;
    const CandCtx *cc = r->ctx->cc;
    const size_t *c = cc->c;
    long step[6] = {-1,
                    1,
                    -(long)c[0],
                    (long)c[0],
                    -(long)(c[0] * c[1]),
                    (long)(c[0] * c[1])};
    long gstep[6] = {-1,
                     1,
                     -(long)cc->d[0],
                     (long)cc->d[0],
                     -(long)(cc->d[0] * cc->d[1]),
                     (long)(cc->d[0] * cc->d[1])};
    (void)t;
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < c[1]; y++) {
            if (r->ctx->row_has && !near_labels(r->ctx->row_has, c, y, z))
                continue;
            size_t i = (z * c[1] + y) * c[0];
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            for (size_t x = 0; x < c[0]; x++, i++, gi++) {
                uint32_t l = r->labels[i];
                int16_t v = cc->hu[gi];
                uint8_t flags = r->mark[i] & 3, m = MARK_KEEP;
                bool ok[6] = {x > 0,        x + 1 < c[0], y > 0,
                              y + 1 < c[1], z > 0,        z + 1 < c[2]};
                if (l) {
                    if (flags == CAND_DROPPED || r->ctx->vessel[gi] ||
                        v < r->thr[l] || v > r->max_hu)
                        m = MARK_DROP;
                    /* the partial-volume rim of a central dense structure
                     * (hilar vessel, organ dome): below -300 HU next to
                     * one */
                    else if (v < -300) {
                        for (int k = 0; k < 6; k++)
                            if (ok[k] &&
                                (r->mark[(long)i + step[k]] & 3) ==
                                    CAND_DROPPED &&
                                r->labels[(long)i + step[k]] == l)
                                m = MARK_DROP;
                    }
                    /* the partial-volume rim of a vessel crossing the
                     * lesion: above vcut next to a thin bright voxel */
                    if (m == MARK_KEEP && v > r->vcut[l])
                        for (int k = 0; k < 6; k++)
                            if (ok[k] && r->ctx->vessel[(long)gi + gstep[k]])
                                m = MARK_DROP;
                } else if (flags != CAND_DROPPED && !r->ctx->vessel[gi] &&
                           v <= r->max_hu &&
                           (cc->lab[gi] == NOVA_LUNG_RIGHT ||
                            cc->lab[gi] == NOVA_LUNG_LEFT)) {
                    for (int k = 0; k < 6; k++) {
                        if (!ok[k])
                            continue;
                        uint32_t nl = r->labels[(long)i + step[k]];
                        if (nl && v >= r->thr[nl]) {
                            m = (uint8_t)(MARK_GROW_FIRST + k);
                            break;
                        }
                    }
                }
                r->mark[i] = (uint8_t)(m << MARK_SHIFT | flags);
            }
        }
}

static void refine_apply_slices(void *vctx, size_t begin, size_t end, int t)
{
    const RefineCtx *r = vctx;
    const size_t *c = r->ctx->cc->c;
    uint32_t *labels = (uint32_t *)r->labels;
    long step[6] = {-1,
                    1,
                    -(long)c[0],
                    (long)c[0],
                    -(long)(c[0] * c[1]),
                    (long)(c[0] * c[1])};
    (void)t;
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < c[1]; y++) {
            /* rows refine_slices left alone hold no mark */
            if (r->ctx->row_has && !near_labels(r->ctx->row_has, c, y, z))
                continue;
            size_t i0 = (z * c[1] + y) * c[0], i1 = i0 + c[0];
            for (size_t i = i0; i < i1; i++) {
                unsigned m = r->mark[i] >> MARK_SHIFT;
                /* (regions that are not lesions have thr INT16_MAX, so
                 * that refine_slices marks all their voxels MARK_DROP) */
                if (r->apply_drops)
                    labels[i] = m == MARK_DROP ? 0 : labels[i];
                else if (m >= MARK_GROW_FIRST && m < MARK_DROP)
                    labels[i] = labels[(long)i + step[m - MARK_GROW_FIRST]];
            }
        }
}

static void refine_boundaries(NovaPool *pool, const AccCtx *ctx,
                              uint32_t *labels, const Acc *acc,
                              uint32_t n_labels, double voxel_ml,
                              size_t box_voxels, double parenchyma,
                              const NovaLesionOptions *o, uint8_t *mark,
                              int16_t *thr)
{
    const CandCtx *cc = ctx->cc;
    const size_t *c = cc->c;
    bool multi = c[2] > 1;
    int16_t *vcut = thr + n_labels + 1;
    thr[0] = INT16_MAX;
    vcut[0] = INT16_MAX;
    for (uint32_t l = 1; l <= n_labels; l++) {
        const Acc *a = &acc[l];
        thr[l] = INT16_MAX;
        vcut[l] = INT16_MAX;
        if (!is_lesion(a, voxel_ml, multi, box_voxels, o) || a->own_n == 0) {
            if (getenv("NOVA_DEBUG_LESIONS") && a->voxels >= 10)
                fprintf(stderr,
                        "not a lesion %u: %zu vox at crop+%zu,%zu,%zu "
                        "(crop at %zu,%zu,%zu), high %.2f dense %.2f thin "
                        "%.2f periph %.2f z %zu-%zu mean %.0f\n",
                        l, a->voxels,
                        (size_t)(a->sum_idx[0] / (double)a->voxels) - cc->lo[0],
                        (size_t)(a->sum_idx[1] / (double)a->voxels) - cc->lo[1],
                        (size_t)(a->sum_idx[2] / (double)a->voxels) - cc->lo[2],
                        cc->lo[0], cc->lo[1], cc->lo[2],
                        (double)a->high / (double)a->voxels,
                        (double)a->dense / (double)a->voxels,
                        (double)a->thin / (double)a->voxels,
                        (double)a->peripheral / (double)a->voxels,
                        a->bbox_min[2], a->bbox_max[2],
                        a->sum_hu / (double)a->voxels);
            continue;
        }
        double own = a->own_sum_hu / (double)a->own_n;
        double t = parenchyma + 0.5 * (own - parenchyma);
        /* never below the opacity band's floor */
        if (t < o->ggo_min_hu)
            t = o->ggo_min_hu;
        thr[l] = (int16_t)lrint(t);
        /* more than half covered by a vessel crossing the lesion: the
         * partial-volume midpoint between the lesion's own level and
         * soft tissue */
        double cut = own + 0.5 * (VESSEL_HU - own);
        vcut[l] = (int16_t)lrint(cut < INT16_MAX ? cut : INT16_MAX);
    }
    RefineCtx r = {ctx, labels, thr, vcut, (int16_t)o->max_hu, mark, false};
    pool_chunks(pool, c[2], refine_slices, &r);
    /* Growth first, reading the labels it grows from, which growth never
     * changes (it writes only unlabelled voxels); then the drops. */
    pool_chunks(pool, c[2], refine_apply_slices, &r);
    r.apply_drops = true;
    pool_chunks(pool, c[2], refine_apply_slices, &r);
}

/* Index sums of each lung's voxels in the crop, per slice in parallel,
 * for the world-y level of each lung's centroid. */
typedef struct {
    const CandCtx *cc;
    double (*sum)[3][4]; /* per thread: per lung: x, y, z, count */
} LungMidCtx;

static void lung_mid_slices(void *vctx, size_t begin, size_t end, int t)
{
    const LungMidCtx *m = vctx;
    const CandCtx *cc = m->cc;
    double(*s)[4] = m->sum[t];
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < cc->c[1]; y++) {
            const uint8_t *row =
                cc->lab +
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            size_t nx[3] = {0}, sx[3] = {0};
            for (size_t x = 0; x < cc->c[0]; x++) {
                uint8_t l = row[x];
                if (l == NOVA_LUNG_RIGHT || l == NOVA_LUNG_LEFT) {
                    nx[l]++;
                    sx[l] += x;
                }
            }
            for (int l = 1; l <= 2; l++) {
                s[l][0] += (double)sx[l] + (double)(nx[l] * cc->lo[0]);
                s[l][1] += (double)(nx[l] * (cc->lo[1] + y));
                s[l][2] += (double)(nx[l] * (cc->lo[2] + z));
                s[l][3] += (double)nx[l];
            }
        }
}

/* cc may be the detection grid: its index i stands for full-grid index
 * off + f i + (f - 1) / 2 (the block's centre). */
static void lung_y_mid_of(NovaPool *pool, const CandCtx *cc,
                          const size_t off[3], const size_t f[3], double wy_i,
                          double wy_j, double wy_k, double mid[3])
{
    int threads = nova_pool_get_threads(pool);
    double sums[64][3][4];
    memset(sums, 0, sizeof sums);
    LungMidCtx m = {cc, sums};
    if (threads > 64) {
        /* more threads than slots: one pass on this thread */
        lung_mid_slices(&m, 0, cc->c[2], 0);
    } else {
        nova_pool_parallel_for(pool, cc->c[2], lung_mid_slices, &m);
    }
    for (int l = 1; l <= 2; l++) {
        double t[4] = {0};
        for (int k = 0; k < 64; k++)
            for (int a = 0; a < 4; a++)
                t[a] += sums[k][l][a];
        double mean[3];
        for (int a = 0; a < 3; a++)
            mean[a] = t[3] > 0 ? (double)off[a] + (double)f[a] * t[a] / t[3] +
                                     ((double)f[a] - 1) / 2
                               : 0;
        mid[l] =
            t[3] > 0 ? wy_i * mean[0] + wy_j * mean[1] + wy_k * mean[2] : 0;
    }
    mid[0] = 0;
}

/* The detection grid: block means of f[0] x f[1] x f[2] voxels of the
 * crop (non-lung voxels counted as air), the label and zone of each
 * block's centre voxel, or of a lung voxel of the block when the centre is
 * not lung.  A block is lung when half its voxels or more are. */
typedef struct {
    const CandCtx *cc; /* the full-resolution crop */
    const uint8_t *zones;
    size_t f[3], h[3];
    int16_t *hu;
    uint8_t *lab, *zone;
    int32_t *scratch;     /* per thread: block sums and lung counts of a row */
    ThreadCounts *counts; /* per thread */
} CoarseCtx;

/* Block sums of pairs along x (non-lung voxels as air) and their lung
 * voxel counts: restrict and no scatter, so that the loop vectorises. */
static void block_pairs(int32_t *restrict sum, int32_t *restrict lung,
                        const int16_t *restrict hu, const uint8_t *restrict lab,
                        size_t pairs)
{
    size_t k = 0;
#if defined(__SSE2__)
    /* Written by hand: GCC's vectorisation of the loop below widens every
     * voxel to 32 bits before it adds the pairs (4.6 instructions a voxel
     * in callgrind); pmaddwd adds the pairs of 16-bit selects straight
     * into 32 bits (under 2 a voxel).  16 voxels an iteration. */
    const __m128i ones = _mm_set1_epi16(1), air = _mm_set1_epi16(-1000);
    const __m128i right = _mm_set1_epi8(1), left = _mm_set1_epi8(2);
    for (; k + 8 <= pairs; k += 8) {
        __m128i l = _mm_loadu_si128((const __m128i *)(lab + 2 * k));
        __m128i in8 =
            _mm_or_si128(_mm_cmpeq_epi8(l, right), _mm_cmpeq_epi8(l, left));
        /* 0xffff (-1) per lung voxel, 0 elsewhere */
        __m128i in_lo = _mm_unpacklo_epi8(in8, in8);
        __m128i in_hi = _mm_unpackhi_epi8(in8, in8);
        __m128i h_lo = _mm_loadu_si128((const __m128i *)(hu + 2 * k));
        __m128i h_hi = _mm_loadu_si128((const __m128i *)(hu + 2 * k + 8));
        __m128i s_lo = _mm_or_si128(_mm_and_si128(in_lo, h_lo),
                                    _mm_andnot_si128(in_lo, air));
        __m128i s_hi = _mm_or_si128(_mm_and_si128(in_hi, h_hi),
                                    _mm_andnot_si128(in_hi, air));
        __m128i *sp = (__m128i *)(sum + k), *lp = (__m128i *)(lung + k);
        _mm_storeu_si128(
            sp, _mm_add_epi32(_mm_loadu_si128(sp), _mm_madd_epi16(s_lo, ones)));
        _mm_storeu_si128(sp + 1, _mm_add_epi32(_mm_loadu_si128(sp + 1),
                                               _mm_madd_epi16(s_hi, ones)));
        /* the masks' pair sums are minus the pairs' lung counts */
        _mm_storeu_si128(lp, _mm_sub_epi32(_mm_loadu_si128(lp),
                                           _mm_madd_epi16(in_lo, ones)));
        _mm_storeu_si128(lp + 1, _mm_sub_epi32(_mm_loadu_si128(lp + 1),
                                               _mm_madd_epi16(in_hi, ones)));
    }
#endif
    for (; k < pairs; k++) {
        /* both loads unconditional, so that the selects are no branches */
        int ha = hu[2 * k], hb = hu[2 * k + 1];
        int a = (uint8_t)(lab[2 * k] - 1) < 2; /* right, left */
        int b = (uint8_t)(lab[2 * k + 1] - 1) < 2;
        sum[k] += (a ? ha : -1000) + (b ? hb : -1000);
        lung[k] += a + b;
    }
}

/* num / den rounded to the nearest integer, halves to even (what lrint
 * does with the quotient in the default rounding mode), den > 0, in
 * integers: the block means take the shift when the block is whole. */
static inline int32_t div_round_even(int32_t num, int32_t den)
{
    int32_t q, r;
    if (den == 8) {
        q = num >> 3; /* arithmetic shift: the floor */
        r = num & 7;
    } else {
        q = num / den;
        r = num % den;
        if (r < 0) {
            q--;
            r += den;
        }
    }
    if (2 * r > den || (2 * r == den && (q & 1)))
        q++;
    return q;
}

/* The volume index of the first lung voxel of the block [x0, x1) x [y0,
 * y1) x [z0, z1) of the crop, in z, y, x order, or src when it has none. */
static size_t first_lung(const CandCtx *cc, size_t z0, size_t z1, size_t y0,
                         size_t y1, size_t x0, size_t x1, size_t src)
{
    for (size_t z = z0; z < z1; z++)
        for (size_t y = y0; y < y1; y++) {
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            for (size_t x = x0; x < x1; x++)
                if ((uint8_t)(cc->lab[gi + x] - 1) < 2)
                    return gi + x;
        }
    return src;
}

/* The means of one row of whole blocks of 8 voxels, halves to even
 * (div_round_even with den 8, written so that the loop vectorises). */
static void block_means8(int16_t *restrict out, const int32_t *restrict sum,
                         size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int32_t q = sum[k] >> 3, r = sum[k] & 7;
        q += (r > 4) | ((r == 4) & q);
        out[k] = (int16_t)q;
    }
}

/* One row of blocks at a time (its f[2] x f[1] crop rows summed into
 * per-row sums that stay in L1, then its means, labels and zones while
 * the crop rows are still in cache): one read of the crop, and the
 * per-block work in loops without stores through the context. */
static void coarse_slices(void *vctx, size_t begin, size_t end, int t)
{
    const CoarseCtx *x = vctx;
    const CandCtx *cc = x->cc;
    const size_t *f = x->f, *h = x->h;
    int32_t *sum = x->scratch + (size_t)t * 2 * h[0];
    int32_t *lung = sum + h[0];
    const int16_t *vhu = cc->hu;
    const uint8_t *vlab = cc->lab, *vzones = x->zones;
    ThreadCounts *counts = &x->counts[t];
    size_t d0 = cc->d[0], d1 = cc->d[1];
    /* blocks whole along x; the last one may be cut by the crop */
    size_t whole_x = cc->c[0] / f[0];
    for (size_t bz = begin; bz < end; bz++) {
        size_t z0 = bz * f[2], z1 = z0 + f[2] < cc->c[2] ? z0 + f[2] : cc->c[2];
        for (size_t by = 0; by < h[1]; by++) {
            size_t y0 = by * f[1];
            size_t y1 = y0 + f[1] < cc->c[1] ? y0 + f[1] : cc->c[1];
            memset(sum, 0, 2 * h[0] * sizeof *sum);
            for (size_t z = z0; z < z1; z++)
                for (size_t y = y0; y < y1; y++) {
                    size_t gi =
                        ((cc->lo[2] + z) * d1 + cc->lo[1] + y) * d0 + cc->lo[0];
                    const int16_t *hr = vhu + gi;
                    const uint8_t *lr = vlab + gi;
                    /* factors are 1 or 2; pairs summed without a scatter
                     * so that the loop vectorises */
                    size_t xx = 0;
                    if (f[0] == 2) {
                        block_pairs(sum, lung, hr, lr, cc->c[0] / 2);
                        xx = cc->c[0] / 2 * 2;
                    }
                    unsigned sh = f[0] == 2;
                    for (; xx < cc->c[0]; xx++) {
                        bool in = (uint8_t)(lr[xx] - 1) < 2; /* right, left */
                        sum[xx >> sh] += in ? hr[xx] : -1000;
                        lung[xx >> sh] += in;
                    }
                    count_lung_row(counts, hr, lr, vzones ? vzones + gi : NULL,
                                   cc->c[0]);
                }
            size_t cz = (z0 + z1) / 2, cy = (y0 + y1) / 2;
            /* the crop row of the blocks' centre voxels */
            size_t centre_row =
                ((cc->lo[2] + cz) * d1 + cc->lo[1] + cy) * d0 + cc->lo[0];
            size_t b0 = (bz * h[1] + by) * h[0];
            int16_t *ohu = x->hu + b0;
            uint8_t *olab = x->lab + b0, *ozone = x->zone + b0;
            size_t whole = (z1 - z0) * (y1 - y0) * f[0];
            size_t bx = 0;
            if (whole == 8) {
                block_means8(ohu, sum, whole_x);
                bx = whole_x;
            }
            for (; bx < h[0]; bx++) {
                size_t x0 = bx * f[0];
                size_t x1 = x0 + f[0] < cc->c[0] ? x0 + f[0] : cc->c[0];
                size_t count =
                    x1 - x0 == f[0] ? whole : (z1 - z0) * (y1 - y0) * (x1 - x0);
                ohu[bx] = (int16_t)div_round_even(sum[bx], (int32_t)count);
            }
            memset(olab, 0, h[0]);
            memset(ozone, 0, h[0]);
            /* label and zone: the centre voxel's, or the first lung
             * voxel's when the centre is not lung (first_lung); whole
             * blocks here, the centre of [x0, x0 + f) being x0 + f / 2 */
            const uint8_t *crow = vlab + centre_row + f[0] / 2;
            for (bx = 0; bx < whole_x; bx++) {
                if (2 * (size_t)lung[bx] < whole) /* also no lung at all */
                    continue;
                size_t src = centre_row + f[0] / 2 + bx * f[0];
                uint8_t cl = crow[bx * f[0]];
                if ((uint8_t)(cl - 1) >= 2)
                    src = first_lung(cc, z0, z1, y0, y1, bx * f[0],
                                     bx * f[0] + f[0], src);
                olab[bx] = vlab[src];
                ozone[bx] = vzones ? vzones[src] : 0;
            }
            for (; bx < h[0]; bx++) { /* the block the crop cuts */
                size_t x0 = bx * f[0];
                size_t x1 = x0 + f[0] < cc->c[0] ? x0 + f[0] : cc->c[0];
                size_t count = (z1 - z0) * (y1 - y0) * (x1 - x0);
                if (2 * (size_t)lung[bx] < count || lung[bx] == 0)
                    continue;
                size_t src = centre_row + (x0 + x1) / 2;
                if ((uint8_t)(vlab[src] - 1) >= 2)
                    src = first_lung(cc, z0, z1, y0, y1, x0, x1, src);
                olab[bx] = vlab[src];
                ozone[bx] = vzones ? vzones[src] : 0;
            }
        }
    }
}

/* Full resolution from the detection grid: a voxel belongs to the lesion
 * of its block when it is lung, at or above the lesion's threshold, not
 * above max_hu and not a thin bright structure (more than
 * VESSEL_TOPHAT_HU above its block's opened value). */
typedef struct {
    const CandCtx *cc;
    const CoarseCtx *g;
    const uint32_t *labels, *map;
    const int16_t *thr, *opened;
    int16_t max_hu;
    uint8_t *ids8;   /* whole volume, or */
    uint16_t *ids16; /* per crop voxel */
    const RowSpan *span;
} UpCtx;

/* Whether the 3 x 3 in-plane mean around crop voxel (x, y) (volume index
 * gi; the neighbours inside the crop) is below thr.  The threshold is set
 * on this mean: the voxel-to-voxel texture of real ground glass would
 * otherwise fray the boundary into specks. */
static bool mean3x3_below(const CandCtx *cc, size_t gi, size_t x, size_t y,
                          int16_t thr)
{
    const int16_t *p = cc->hu + gi;
    long d0 = (long)cc->d[0], sum = 0;
    if (x > 0 && x + 1 < cc->c[0] && y > 0 && y + 1 < cc->c[1]) {
        sum = (long)p[-d0 - 1] + p[-d0] + p[-d0 + 1] + p[-1] + p[0] + p[1] +
              p[d0 - 1] + p[d0] + p[d0 + 1];
        return sum < (long)thr * 9;
    }
    int k = 0;
    for (long dy = -1; dy <= 1; dy++) {
        if ((dy < 0 && y == 0) || (dy > 0 && y + 1 >= cc->c[1]))
            continue;
        for (long dx = -1; dx <= 1; dx++) {
            if ((dx < 0 && x == 0) || (dx > 0 && x + 1 >= cc->c[0]))
                continue;
            sum += p[dy * d0 + dx];
            k++;
        }
    }
    return sum < (long)thr * k;
}

static void up_slices(void *vctx, size_t begin, size_t end, int t)
{
    const UpCtx *u = vctx;
    const CandCtx *cc = u->cc;
    const size_t *f = u->g->f, *h = u->g->h;
    (void)t;
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < cc->c[1]; y++) {
            size_t i = (z * cc->c[1] + y) * cc->c[0];
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            size_t brow = ((z / f[2]) * h[1] + y / f[1]) * h[0];
            unsigned sh = f[0] == 2; /* factors are 1 or 2 */
            size_t xa, xb;
            if (!row_span(u->span, z, y, cc->c[0], &xa, &xb))
                continue;
            for (size_t x = xa; x < xb; x++) {
                size_t b = brow + (x >> sh);
                uint32_t l = u->labels[b];
                uint32_t id = l ? u->map[l] : 0;
                if (id) {
                    int16_t v = cc->hu[gi + x];
                    uint8_t side = cc->lab[gi + x];
                    if ((side != NOVA_LUNG_RIGHT && side != NOVA_LUNG_LEFT) ||
                        v > u->max_hu || is_thin_bright(v, u->opened[b]))
                        id = 0;
                    else if (mean3x3_below(cc, gi + x, x, y, u->thr[l]))
                        id = 0;
                }
                if (u->ids8)
                    u->ids8[gi + x] = (uint8_t)id;
                else
                    u->ids16[i + x] = (uint16_t)id;
            }
        }
}

/* A lesion's task and the size of its box (largest first, so that the
 * large boxes do not come last to one thread). */
typedef struct {
    size_t box, k;
} CavityOrder;

static int compare_box(const void *a, const void *b)
{
    const CavityOrder *x = a, *y = b;
    if (x->box != y->box)
        return x->box < y->box ? 1 : -1;
    return x->k < y->k ? -1 : x->k > y->k;
}

/* has_cavity for lesion ids[k], one task of the pool per lesion (the
 * result does not depend on the thread). */
typedef struct {
    const CandCtx *cc;
    const LabelImg *li;
    const Acc *acc;
    double voxel_ml;
    uint32_t *ids;
    bool *cavity;
    const CavityOrder *order; /* the tasks in order of box size, or NULL */
} CavityJob;

static void cavity_task(void *vctx, size_t task, int t)
{
    const CavityJob *j = vctx;
    size_t k = j->order ? j->order[task].k : task;
    (void)t;
    j->cavity[k] = has_cavity(NULL, j->cc, j->li, j->ids[k], &j->acc[j->ids[k]],
                              j->voxel_ml);
}

/* The final mask from the region ids (every crop voxel is written: the
 * mask held vessel flags or lesion ids until here), and the cross-section
 * of each lesion per slice for its key slice. */
typedef struct {
    const CandCtx *cc;
    const LabelImg *li;
    const uint32_t *new_id;
    uint8_t *mask;
    int16_t high_hu;
    size_t *area_k; /* keep x slices, or NULL */
    const RowSpan *span;
    const uint8_t *zones;
    ThreadCounts *counts; /* per thread: the lesion voxels */
} TailCtx;

ACC_INLINE void tail_range(const TailCtx *x, int kind, ThreadCounts *m,
                           size_t begin, size_t end)
{
    const CandCtx *cc = x->cc;
    /* the third of each zone code (NOVA_ZONE_THIRD without its division
     * per voxel); code 0: no zone */
    uint8_t third[256] = {0};
    for (int zc = 1; zc < 256; zc++)
        third[zc] = (uint8_t)NOVA_ZONE_THIRD(zc);
    for (size_t z = begin; z < end; z++)
        for (size_t y = 0; y < cc->c[1]; y++) {
            size_t i = (z * cc->c[1] + y) * cc->c[0];
            size_t gi =
                ((cc->lo[2] + z) * cc->d[1] + cc->lo[1] + y) * cc->d[0] +
                cc->lo[0];
            size_t xa, xb;
            if (!row_span(x->span, z, y, cc->c[0], &xa, &xb))
                continue;
            /* the key slice's areas by runs of one id, in a register */
            uint32_t run_id = 0;
            size_t run = 0;
            for (size_t k = xa; k < xb; k++) {
                uint32_t l = label_of(x->li, kind, i + k, gi + k);
                uint32_t id = l ? x->new_id[l] : 0;
                if (!id) {
                    x->mask[gi + k] = 0;
                    continue;
                }
                bool high = cc->hu[gi + k] > x->high_hu;
                x->mask[gi + k] = high ? 2 : 1;
                if (id != run_id) {
                    if (run && x->area_k)
                        x->area_k[(size_t)(run_id - 1) * cc->c[2] + z] += run;
                    run_id = id;
                    run = 0;
                }
                run++;
                /* lesion voxels are lung voxels (up_slices, refine) */
                unsigned s = (uint8_t)(cc->lab[gi + k] - 1);
                if (s >= 2)
                    continue;
                m->lesion[s]++;
                m->high[s] += high;
                uint8_t zc = x->zones ? x->zones[gi + k] : 0;
                if (zc) {
                    m->zone_lesion[s][third[zc]]++;
                    m->zone_high[s][third[zc]] += high;
                }
            }
            if (run && x->area_k)
                x->area_k[(size_t)(run_id - 1) * cc->c[2] + z] += run;
        }
}

static void tail_slices(void *vctx, size_t begin, size_t end, int t)
{
    const TailCtx *x = vctx;
    ThreadCounts *m = &x->counts[t];
    switch (label_kind(x->li)) {
    case LABEL_U32: tail_range(x, LABEL_U32, m, begin, end); break;
    case LABEL_U16: tail_range(x, LABEL_U16, m, begin, end); break;
    default: tail_range(x, LABEL_U8, m, begin, end);
    }
}

/* Free the detection buffers (any may be NULL). */
static void free_grid(uint32_t *labels, uint8_t *cand, int16_t *kept_open,
                      uint8_t *vessel, CoarseCtx *gx)
{
    nova_free(labels);
    nova_free(cand);
    nova_free(kept_open);
    nova_free(vessel);
    nova_free(gx->hu);
    nova_free(gx->lab);
    gx->hu = NULL;
    gx->lab = NULL;
}

/* The process's minor page faults so far (NOVA_DEBUG_LESIONS): first
 * touches of fresh memory, a large share of this stage's time on virtual
 * machines. */
static long minor_faults(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_minflt : 0;
}

static bool find_lesions(NovaError **error, NovaPool *pool,
                         const NovaVolume *hu, const NovaLungResult *lungs,
                         const NovaLesionOptions *o, NovaAnalysis *an,
                         ThreadCounts *counts)
{
    /* NOVA_DEBUG_LESIONS: wall and process CPU time of each step (the CPU
     * time, both threads together, is the steadier figure on a loaded
     * machine) */
    double t_last = nova_time_now(), c_last = nova_cpu_time_now();
    long f_last = minor_faults();
#define TIMING(name)                                                           \
    do {                                                                       \
        if (getenv("NOVA_DEBUG_LESIONS")) {                                    \
            double t_now = nova_time_now(), c_now = nova_cpu_time_now();       \
            long f_now = minor_faults();                                       \
            fprintf(stderr, "%s: %.1f ms (CPU %.1f ms, %ld page faults)\n",    \
                    name, (t_now - t_last) * 1e3, (c_now - c_last) * 1e3,      \
                    f_now - f_last);                                           \
            t_last = t_now;                                                    \
            c_last = c_now;                                                    \
            f_last = f_now;                                                    \
        }                                                                      \
    } while (0)
    size_t d[3];
    nova_volume_get_dims(hu, d);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    const int16_t *vox = nova_volume_get_const_data(hu);
    NovaVolume *labv = nova_lung_result_get_labels(lungs);
    NovaVolume *zonev = nova_lung_result_get_zones(lungs);
    const uint8_t *lab = nova_volume_get_const_data(labv);
    const uint8_t *zones = zonev ? nova_volume_get_const_data(zonev) : NULL;
    double voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;

    an->lesion_mask = nova_volume_create(error, NOVA_DTYPE_UINT8, d, g);
    if (!an->lesion_mask)
        return false;
    uint8_t *mask = nova_volume_get_data(an->lesion_mask);
    CandCtx cc = {.hu = vox, .lab = lab, .spacing_z_mm = g->spacing[2]};
    memcpy(cc.d, d, sizeof d);
    size_t hi[3];
    TIMING("mask volume");
    /* The lung stage's box (from its coarse blocks), else a scan. */
    if (!nova_lung_result_get_box(lungs, cc.lo, hi) &&
        !lung_bbox(pool, lab, d, cc.lo, hi))
        return true; /* no lungs: no lesions */
    TIMING("box");
    an->has_lungs = true;
    memcpy(an->lung_lo, cc.lo, sizeof an->lung_lo);
    memcpy(an->lung_hi, hi, sizeof an->lung_hi);
    for (int a = 0; a < 3; a++)
        cc.c[a] = hi[a] - cc.lo[a] + 1;
    size_t n = cc.c[0] * cc.c[1] * cc.c[2];

    /* Detection runs on a grid of about 1-2 mm: axes sampled finer than
     * 0.9 mm are halved (a 512 x 512 chest at 0.7 mm: 2 x 2 in plane, and
     * 2 along z for thin slices), a quarter to an eighth of the voxels,
     * which lesions of 0.1 ml (6 mm across) do not miss.  Boundaries are
     * then set on the full grid. */
    CoarseCtx gx = {.cc = &cc, .zones = zones, .counts = counts};
    size_t f_all = 1;
    for (int a = 0; a < 3; a++) {
        gx.f[a] = g->spacing[a] < 0.9 && cc.c[a] >= 8 ? 2 : 1;
        gx.h[a] = (cc.c[a] + gx.f[a] - 1) / gx.f[a];
        f_all *= gx.f[a];
    }
    bool coarse = f_all > 1;
    CandCtx dc = cc;
    const uint8_t *det_zones = zones;
    size_t dn = n;
    double det_ml = voxel_ml * (double)f_all;
    if (coarse)
        dn = gx.h[0] * gx.h[1] * gx.h[2];
    /* The detection buffers: labels (4 bytes a voxel; the opened HU in
     * its first half until the band test has read it), candidate and
     * dense flags (2), and on the detection grid the opened HU kept for
     * the full-resolution pass (2), the block means (2), labels and zones
     * (2) and the vessel flags (1).  (One block from nova_alloc_pages
     * instead, for huge pages, made block means and the opening slower
     * here: malloc hands back memory the lung stage has already faulted
     * in.) */
    uint32_t *labels = nova_malloc_array(error, dn, sizeof *labels);
    uint8_t *cand = nova_malloc(error, dn * 2);
    int16_t *kept_open =
        coarse ? nova_malloc_array(error, dn, sizeof *kept_open) : NULL;
    uint8_t *vessel = coarse ? nova_malloc(error, dn) : mask;
    if (coarse) {
        gx.hu = nova_malloc_array(error, dn, sizeof *gx.hu);
        gx.lab = nova_malloc(error, dn * 2);
    }
    if (!labels || !cand || !vessel ||
        (coarse && (!kept_open || !gx.hu || !gx.lab))) {
        free_grid(labels, cand, kept_open, coarse ? vessel : NULL, &gx);
        return false;
    }
    if (coarse) {
        gx.zone = gx.lab + dn;
        gx.scratch = nova_malloc_array(
            error, (size_t)nova_pool_get_threads(pool) * 2 * gx.h[0],
            sizeof *gx.scratch);
        if (!gx.scratch) {
            free_grid(labels, cand, kept_open, vessel, &gx);
            return false;
        }
        pool_chunks(pool, gx.h[2], coarse_slices, &gx);
        nova_free(gx.scratch);
        dc.hu = gx.hu;
        dc.lab = gx.lab;
        memcpy(dc.d, gx.h, sizeof dc.d);
        memcpy(dc.c, gx.h, sizeof dc.c);
        memset(dc.lo, 0, sizeof dc.lo);
        dc.spacing_z_mm = g->spacing[2] * (double)gx.f[2];
        det_zones = zones ? gx.zone : NULL;
    }

    uint32_t *map = NULL;
    int16_t *thr = NULL;
    Acc *acc = NULL;
    uint16_t *ids16 = NULL;
    uint32_t *span_lo = NULL; /* and span_hi after it */
    RowSpan span;
    const RowSpan *actx_span = NULL;
    uint32_t n_labels = 0;
    bool ok = true;
    size_t half[3], box_voxels = 1; /* the opening's box */
    int16_t *opened = (int16_t *)labels;
    uint8_t *dense = cand + dn;
    if (ok) {
        /* the lesion mask holds the vessel flags until the lesions are
         * known when detection runs on the full grid */
        CropCtx crop = {&dc, opened, zones, coarse ? NULL : counts};
        pool_chunks(pool, dc.c[2], crop_slices, &crop);
        /* Box half-widths: the vessel radius in voxels on each axis (at
         * least one voxel in plane; along z only where slices are thinner
         * than the radius). */
        for (int a = 0; a < 3; a++) {
            double h = o->vessel_radius_mm / (g->spacing[a] * (double)gx.f[a]);
            half[a] = h < 1 && a < 2 ? 1 : (size_t)(h + 0.5);
            box_voxels *= 2 * half[a] + 1;
        }
        TIMING("block means, crop");
        ok = grey_open(error, pool, opened, dc.c, half);
    }
    double parenchyma = -850;
    if (ok) {
        int threads = nova_pool_get_threads(pool);
        BandCtx bc = {&dc,
                      opened,
                      (int16_t)o->ggo_min_hu,
                      (int16_t)o->max_hu,
                      cand,
                      dense,
                      vessel,
                      kept_open,
                      nova_calloc(error, (size_t)threads, sizeof *bc.hist)};
        TIMING("opening");
        ok = bc.hist != NULL;
        if (ok)
            pool_chunks(pool, dc.c[2], band_slices, &bc);
        /* The parenchyma's level (refine_boundaries): median HU of the
         * lung voxels that are neither candidates nor vessels. */
        size_t total = 0;
        for (int t = 1; ok && t < threads; t++)
            for (int k = 0; k < 1200; k++)
                bc.hist[0][k] += bc.hist[t][k];
        for (int k = 0; ok && k < 1200; k++)
            total += bc.hist[0][k];
        for (size_t k = 0, seen = 0; ok && total && k < 1200; k++) {
            seen += bc.hist[0][k];
            if (2 * seen >= total) {
                parenchyma = (double)k - 1024;
                break;
            }
        }
        nova_free(bc.hist);
    }
    if (ok) {
        double det_sp[3] = {g->spacing[0] * (double)gx.f[0],
                            g->spacing[1] * (double)gx.f[1],
                            g->spacing[2] * (double)gx.f[2]};
        ok = drop_central_dense(error, pool, &dc, det_zones, cand, dense,
                                labels, det_sp, det_ml, g->direction[8] >= 0);
    }
    TIMING("band, central dense");
    if (ok)
        ok = nova_imgproc_label(error, pool, cand, dc.c, 26, labels, &n_labels);
    if (ok && n_labels > 0) {
        acc = nova_calloc(error, (size_t)n_labels + 1, sizeof *acc);
        /* thr, then vcut (refine_boundaries) */
        thr = nova_malloc_array(error, 2 * ((size_t)n_labels + 1), sizeof *thr);
        ok = acc && thr;
    }

    /* Posterior half: behind each lung's own centroid along world y (LPS:
     * +y is posterior); index sums per lung, in parallel. */
    double wy_i = g->direction[3] * g->spacing[0];
    double wy_j = g->direction[4] * g->spacing[1];
    double wy_k = g->direction[5] * g->spacing[2];
    double lung_y_mid[3] = {0};
    TIMING("labelling");
    if (ok && n_labels > 0)
        lung_y_mid_of(pool, &dc, coarse ? cc.lo : (size_t[3]){0, 0, 0}, gx.f,
                      wy_i, wy_j, wy_k, lung_y_mid);

    AccCtx actx = {.cc = &dc,
                   .zones = det_zones,
                   .dense = dense,
                   .vessel = vessel,
                   .cand = cand,
                   .lung_y_mid = {lung_y_mid[0], lung_y_mid[1], lung_y_mid[2]},
                   .wy = {wy_i, wy_j, wy_k},
                   .high_hu = (int16_t)o->high_hu};
    LabelImg li = {.u32 = labels};
    if (ok && n_labels > 0) {
        TIMING("posterior level");
        /* the rows that hold labels, for refine_boundaries (without the
         * memory it visits every row) */
        actx.row_has = nova_calloc(NULL, dc.c[1] * dc.c[2], 1);
        accumulate(pool, &actx, &li, acc, n_labels);
        refine_boundaries(pool, &actx, labels, acc, n_labels, det_ml,
                          box_voxels, parenchyma, o, cand, thr);
        nova_free(actx.row_has);
        actx.row_has = NULL;
    }
    if (ok && n_labels > 0 && coarse) {
        /* Compact ids of the lesions still on the detection grid, then
         * the full-resolution pass into uint8 ids in the lesion mask (up to
         * 254 lesions) or a uint16 image. */
        map = nova_calloc(error, (size_t)n_labels + 1, sizeof *map);
        ok = map != NULL;
        /* (a lesion whose voxels all left in refine keeps an id and ends
         * with no voxel) */
        uint32_t k_ids = 0;
        for (uint32_t l = 1; ok && l <= n_labels; l++)
            map[l] = thr[l] != INT16_MAX && k_ids < UINT16_MAX ? ++k_ids : 0;
        if (ok && k_ids > 254) {
            /* zeroed: only the rows with lesions are written */
            ids16 = nova_calloc(error, n, sizeof *ids16);
            ok = ids16 != NULL;
        }
        /* the rows of the detection grid that hold a lesion */
        size_t rows = gx.h[1] * gx.h[2];
        if (ok) {
            span_lo = nova_malloc_array(error, 2 * rows, sizeof *span_lo);
            ok = span_lo != NULL;
        }
        if (ok) {
            span = (RowSpan){.lo = span_lo, .hi = span_lo + rows};
            memcpy(span.f, gx.f, sizeof span.f);
            memcpy(span.h, gx.h, sizeof span.h);
            SpanCtx sc = {&span, labels, map};
            nova_pool_parallel_for(pool, gx.h[2], span_slices, &sc);
            actx_span = &span;
        }
        if (ok) {
            UpCtx up = {&cc,
                        &gx,
                        labels,
                        map,
                        thr,
                        kept_open,
                        (int16_t)o->max_hu,
                        ids16 ? NULL : mask,
                        ids16,
                        &span};
            TIMING("statistics, refine, ids, spans");
            /* lesions fill some slices far more than others */
            nova_pool_parallel_chunks(pool, cc.c[2], 4, up_slices, &up);
            li = ids16 ? (LabelImg){.u16 = ids16} : (LabelImg){.u8 = mask};
            nova_free(acc);
            acc = nova_calloc(error, (size_t)k_ids + 1, sizeof *acc);
            ok = acc != NULL;
            n_labels = k_ids;
        }
        /* the detection grid is done with */
        free_grid(labels, cand, kept_open, vessel, &gx);
        kept_open = NULL;
        vessel = NULL;
        labels = NULL;
        cand = NULL;
        dense = NULL;
        actx.cc = &cc;
        actx.zones = zones;
        actx.dense = NULL;
        actx.vessel = NULL;
        actx.span = actx_span;
    }
    nova_free(map);
    nova_free(thr);
    if (!ok || n_labels == 0) {
        /* no lesion: clear the vessel flags the mask holds after
         * detection on the full grid (on a coarse grid nothing was
         * written) */
        if (!coarse)
            memset(mask, 0, nova_volume_get_voxel_count(an->lesion_mask));
        nova_free(acc);
        free_grid(labels, cand, kept_open, coarse ? vessel : NULL, &gx);
        nova_free(ids16);
        nova_free(span_lo);
        return ok;
    }
    TIMING("full-grid boundaries");
    actx.cand = NULL;
    accumulate(pool, &actx, &li, acc, n_labels);
    /* Keep the lesions still above the minimum size. */
    size_t keep = 0;
    for (uint32_t l = 1; l <= n_labels; l++)
        if ((double)acc[l].voxels * voxel_ml >= o->min_lesion_ml)
            keep++;
    an->lesions = keep ? nova_calloc(error, keep, sizeof *an->lesions) : NULL;
    uint32_t *new_id = nova_calloc(error, (size_t)n_labels + 1, sizeof *new_id);
    if ((keep && !an->lesions) || !new_id) {
        nova_free(new_id);
        nova_free(acc);
        free_grid(labels, cand, kept_open, coarse ? vessel : NULL, &gx);
        nova_free(ids16);
        nova_free(span_lo);
        return false;
    }
    /* Face area: mean of the three face areas weighted by how many faces
     * of each orientation a region has would be exact; the mean face area is
     * a close approximation for near-isotropic voxels. */
    double face_mm2 =
        (g->spacing[0] * g->spacing[1] + g->spacing[1] * g->spacing[2] +
         g->spacing[0] * g->spacing[2]) /
        3.0;
    /* Cavitation, one lesion per task over the pool (each looks at its
     * own bounding box only). */
    CavityJob cj = {&cc, &li, acc, voxel_ml, NULL, NULL, NULL};
    CavityOrder *order = NULL;
    if (keep) {
        cj.ids = nova_malloc_array(NULL, keep, sizeof *cj.ids);
        cj.cavity = nova_calloc(NULL, keep, sizeof *cj.cavity);
    }
    if (cj.ids && cj.cavity) {
        size_t m = 0;
        for (uint32_t l = 1; l <= n_labels; l++)
            if ((double)acc[l].voxels * voxel_ml >= o->min_lesion_ml)
                cj.ids[m++] = l;
        order = nova_malloc_array(NULL, keep, sizeof *order);
        for (size_t k = 0; order && k < keep; k++) {
            const Acc *a = &acc[cj.ids[k]];
            order[k].k = k;
            order[k].box = 1;
            for (int ax = 0; ax < 3; ax++)
                order[k].box *= a->bbox_max[ax] - a->bbox_min[ax] + 1;
        }
        if (order) {
            qsort(order, keep, sizeof *order, compare_box);
            cj.order = order;
        }
        nova_pool_for_each(pool, keep, cavity_task, &cj);
    }
    size_t k = 0;
    for (uint32_t l = 1; l <= n_labels; l++) {
        Acc *a = &acc[l];
        if ((double)a->voxels * voxel_ml < o->min_lesion_ml)
            continue;
        bool cavitated = cj.cavity ? cj.cavity[k] : false;
        NovaLesion *les = &an->lesions[k++];
        new_id[l] = (uint32_t)k;
        les->voxels = a->voxels;
        les->volume_ml = (double)a->voxels * voxel_ml;
        les->mean_hu = a->sum_hu / (double)a->voxels;
        les->high_fraction = (double)a->high / (double)a->voxels;
        les->type = les->high_fraction < 0.25   ? NOVA_LESION_KIND_GGO
                    : les->high_fraction > 0.75 ? NOVA_LESION_KIND_CONSOLIDATION
                                                : NOVA_LESION_KIND_MIXED;
        les->lung = a->left > a->right ? NOVA_LUNG_LEFT : NOVA_LUNG_RIGHT;
        int third = 0;
        for (int t = 1; t < 3; t++)
            if (a->thirds[t] > a->thirds[third])
                third = t;
        les->third = third;
        les->peripheral_fraction = (double)a->peripheral / (double)a->voxels;
        les->posterior_fraction = (double)a->posterior / (double)a->voxels;
        double cidx[3];
        for (int ax = 0; ax < 3; ax++) {
            cidx[ax] = a->sum_idx[ax] / (double)a->voxels;
            les->bbox_min[ax] = cc.lo[ax] + a->bbox_min[ax];
            les->bbox_max[ax] = cc.lo[ax] + a->bbox_max[ax];
        }
        nova_geometry_index_to_world(g, cidx, les->centroid_mm);
        double area = (double)a->faces * face_mm2;
        double vol = (double)a->voxels * voxel_ml * 1000.0;
        les->sphericity =
            area > 0 ? cbrt(M_PI) * pow(6.0 * vol, 2.0 / 3.0) / area : 0;
        double ext = 0;
        for (int ax = 0; ax < 3; ax++) {
            double e = (double)(a->bbox_max[ax] - a->bbox_min[ax] + 1) *
                       g->spacing[ax];
            if (e > ext)
                ext = e;
        }
        les->max_diameter_mm = ext;
        les->cavitated = cavitated;
        if (getenv("NOVA_DEBUG_LESIONS"))
            fprintf(stderr,
                    "lesion %u: %.2f ml, high %.2f, dense %.2f, periph %.2f, "
                    "centroid idx %.0f %.0f %.0f, bbox z %zu-%zu\n",
                    l, les->volume_ml, les->high_fraction,
                    (double)a->dense / (double)a->voxels,
                    les->peripheral_fraction, cidx[0], cidx[1], cidx[2],
                    les->bbox_min[2], les->bbox_max[2]);
    }
    an->lesion_count = keep;
    nova_free(cj.ids);
    nova_free(cj.cavity);
    nova_free(order);
    TIMING("statistics, features, cavities");

    /* Key slice: the axial slice with the largest cross-section. */
    size_t *area_k =
        keep ? nova_calloc(error, keep * cc.c[2], sizeof *area_k) : NULL;
    TailCtx tc = {&cc,    &li,       new_id, mask,  (int16_t)o->high_hu,
                  area_k, actx.span, zones,  counts};
    TIMING("key-slice buffer");
    nova_pool_parallel_chunks(pool, cc.c[2], 4, tail_slices, &tc);
    for (size_t l = 0; l < keep && area_k; l++) {
        size_t best = 0;
        for (size_t z = 1; z < cc.c[2]; z++)
            if (area_k[l * cc.c[2] + z] > area_k[l * cc.c[2] + best])
                best = z;
        an->lesions[l].key_slice = cc.lo[2] + best;
    }
    nova_free(area_k);
    TIMING("mask, counts");
    if (keep > 1)
        qsort(an->lesions, keep, sizeof *an->lesions, compare_volume);
    for (size_t l = 0; l < keep; l++)
        an->lesions[l].id = (int)l + 1;
    nova_free(new_id);
    nova_free(acc);
    free_grid(labels, cand, kept_open, coarse ? vessel : NULL, &gx);
    nova_free(ids16);
    nova_free(span_lo);
    return true;
}

bool nova__find_lesions(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                        const NovaLungResult *lungs, const NovaLesionOptions *o,
                        NovaAnalysis *an)
{
    int threads = nova_pool_get_threads(pool);
    ThreadCounts *per = nova_calloc(error, (size_t)threads, sizeof *per);
    if (!per)
        return false;
    bool ok = find_lesions(error, pool, hu, lungs, o, an, per);
    /* integer counts: the sums do not depend on the split */
    NovaMeasureCounts *m = &an->counts;
    memset(m, 0, sizeof *m);
    for (int t = 0; t < threads; t++) {
        const ThreadCounts *p = &per[t];
        for (int s = 0; s < 2; s++) {
            for (int code = 0; code < 16; code++) {
                m->lung[s] += p->code[s][code];
                if (code >= 1 && code <= NOVA_ZONE_COUNT)
                    m->zone_lung[s][NOVA_ZONE_THIRD(code)] += p->code[s][code];
            }
            m->lesion[s] += p->lesion[s];
            m->high[s] += p->high[s];
            for (int k = 0; k < 3; k++) {
                m->zone_lesion[s][k] += p->zone_lesion[s][k];
                m->zone_high[s][k] += p->zone_high[s][k];
            }
        }
        for (int v = 0; v < 1130; v++)
            m->hist[v / 10] +=
                p->hu[0][v] + p->hu[1][v] + p->hu[2][v] + p->hu[3][v];
    }
    nova_free(per);
    return ok;
}

/* Pan et al., Radiology 2020: 0 none, 1 below 5 %, 2 5-25 %, 3 26-49 %,
 * 4 50-75 %, 5 above 75 % involvement. */
static int pan_score(double percent)
{
    if (percent <= 0)
        return 0;
    if (percent < 5)
        return 1;
    if (percent <= 25)
        return 2;
    if (percent < 50)
        return 3;
    if (percent <= 75)
        return 4;
    return 5;
}

bool nova__measure(NovaError **error, NovaPool *pool, const NovaVolume *hu,
                   const NovaLungResult *lungs, const NovaLesionOptions *o,
                   NovaAnalysis *an)
{
    NovaMeasures *m = &an->measures;
    memset(m, 0, sizeof *m);
    const NovaGeometry *g = nova_volume_get_geometry(hu);
    double voxel_ml = g->spacing[0] * g->spacing[1] * g->spacing[2] / 1000.0;
    m->histogram_start_hu = -1030;
    m->histogram_bin_hu = 10;
    /* The counts come from the lesion stage's passes (analysis_private.h). */
    const NovaMeasureCounts *c = &an->counts;
    for (int b = 0; b < 113; b++)
        m->histogram[b] = c->hist[b];
    const size_t *lung_n = c->lung, *les_n = c->lesion, *high_n = c->high;
    const size_t(*zl)[3] = c->zone_lung, (*zles)[3] = c->zone_lesion,
          (*zhigh)[3] = c->zone_high;
    for (int s = 0; s < 2; s++) {
        m->lung_ml[s + 1] = (double)lung_n[s] * voxel_ml;
        m->lesion_ml[s + 1] = (double)les_n[s] * voxel_ml;
        m->high_ml[s + 1] = (double)high_n[s] * voxel_ml;
        for (int t = 0; t < 3; t++) {
            m->zone_lung_ml[s][t] = (double)zl[s][t] * voxel_ml;
            m->zone_lesion_ml[s][t] = (double)zles[s][t] * voxel_ml;
            m->zone_po[s][t] =
                zl[s][t] ? 100.0 * (double)zles[s][t] / (double)zl[s][t] : 0;
            m->zone_pho[s][t] =
                zl[s][t] ? 100.0 * (double)zhigh[s][t] / (double)zl[s][t] : 0;
            m->zone_score[s][t] = pan_score(m->zone_po[s][t]);
            m->severity_score += m->zone_score[s][t];
        }
    }
    m->lung_ml[0] = m->lung_ml[1] + m->lung_ml[2];
    m->lesion_ml[0] = m->lesion_ml[1] + m->lesion_ml[2];
    m->high_ml[0] = m->high_ml[1] + m->high_ml[2];
    for (int s = 0; s < 3; s++) {
        m->po[s] =
            m->lung_ml[s] > 0 ? 100.0 * m->lesion_ml[s] / m->lung_ml[s] : 0;
        m->pho[s] =
            m->lung_ml[s] > 0 ? 100.0 * m->high_ml[s] / m->lung_ml[s] : 0;
    }
    m->severity_scheme = "six-zone";
    for (size_t l = 0; l < an->lesion_count; l++) {
        const NovaLesion *x = &an->lesions[l];
        if (x->type == NOVA_LESION_KIND_CONSOLIDATION)
            m->consolidation_ml += x->volume_ml;
        else if (x->type == NOVA_LESION_KIND_GGO)
            m->ggo_ml += x->volume_ml;
        else {
            m->consolidation_ml += x->volume_ml * x->high_fraction;
            m->ggo_ml += x->volume_ml * (1 - x->high_fraction);
        }
    }
    (void)error;
    (void)pool;
    (void)lungs;
    (void)o;
    return true;
}
