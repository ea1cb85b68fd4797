/*
 * assemble.c - one stack of a scan to an HU volume (nova_scan_load).
 *
 * Order: slices are sorted by the projection of Image Position (Patient)
 * on the normal of Image Orientation (Patient) (PS3.3 C.7.6.2.1.1), never
 * by Instance Number or file name.  Duplicated positions, missing slices,
 * uneven spacing and gantry tilt are detected and either corrected or
 * refused (NovaLoadOptions).
 *
 * Speed: the volume is allocated once; each slice is decoded by a pool task
 * straight into its place in the volume (16-bit data) and rescaled in
 * place, so voxels are copied once, from the page cache into the volume.
 * Native 16-bit pixel data of plain files is read with pread(2) straight
 * from the offset the scan recorded (no second parse, no mmap: unmapping
 * in a threaded process costs TLB shootdowns).  Compressed frames are
 * decoded into their place; other bit depths go through one scratch frame
 * per thread, allocated before the loop.  Single-frame files are opened (mmap)
 * and closed inside the task; multi-frame files are opened once and shared
 * (reads of a fully read dataset are thread safe, nova/dicom.h).
 */
#include "scan_private.h"
#include "volume_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DUPLICATE_MM 0.01
#define HU_PADDING (-1024)

void nova_load_options_init(NovaLoadOptions *o)
{
    memset(o, 0, sizeof *o);
    o->resample_uneven = true;
    o->correct_tilt = true;
    o->drop_duplicates = true;
    o->spacing_tolerance_mm = 0.01;
    o->spacing_tolerance_fraction = 0.02;
    o->tilt_tolerance_deg = 0.05;
}

typedef struct {
    const NovaScan *scan;
    const ScanSlice **slices; /* kept, sorted */
    size_t n;
    int16_t *dst; /* n slices of rows x columns */
    size_t plane; /* rows x columns */
    uint32_t rows, columns;
    /* Tilt: in-plane shift of each slice, pixels (x, y). */
    double *shift;
    NovaDataset **shared; /* per file: open multi-frame datasets */
    uint8_t **shared_buf; /* per file: zip member bytes they borrow */
    void **scratch;       /* per thread: one decoded frame */
    int16_t **tilt_buf;   /* per thread: one slice */
    zip_t ***za;          /* per thread, per archive */
    uint8_t **zbuf;
    size_t *zcap;
    NovaError **errors; /* per thread */
    atomic_bool failed;
    atomic_size_t padding;
} LoadCtx;

static inline int16_t clamp16(double v)
{
    v = nearbyint(v);
    if (v < -32768.0)
        return INT16_MIN;
    if (v > 32767.0)
        return INT16_MAX;
    return (int16_t)v;
}

/* Rescale one decoded frame into HU.  src may alias dst (16-bit). */
static size_t to_hu(const ScanFile *f, const ScanSlice *s, const void *src,
                    int16_t *dst, size_t n)
{
    const NovaImageInfo *in = &f->info;
    bool is_signed = in->pixel_representation == 1;
    int64_t pad_lo = 0, pad_hi = -1;
    if (f->has_padding) {
        /* PS3.3 C.7.5.1.1.2: padding and range limit are stored values,
         * in the pixel representation (a US value of a signed image is a
         * two's complement bit pattern). */
        int64_t a = f->padding,
                b = f->has_padding_limit ? f->padding_limit : f->padding;
        if (is_signed && in->bits_allocated == 16) {
            if (a > 32767)
                a -= 65536;
            if (b > 32767)
                b -= 65536;
        }
        pad_lo = a < b ? a : b;
        pad_hi = a < b ? b : a;
    }
    size_t padded = 0;
    double slope = s->slope, inter = s->intercept;
    bool int_path =
        slope == 1.0 && inter == floor(inter) && fabs(inter) < 65536.0;
    int32_t add = int_path ? (int32_t)inter : 0;
    bool no_padding = pad_hi < pad_lo;

#define CONVERT(T)                                                             \
    do {                                                                       \
        const T *p = src;                                                      \
        if (int_path && no_padding) {                                          \
            for (size_t i = 0; i < n; i++) {                                   \
                int64_t v = (int64_t)p[i] + add;                               \
                dst[i] = (int16_t)(v < INT16_MIN   ? INT16_MIN                 \
                                   : v > INT16_MAX ? INT16_MAX                 \
                                                   : v);                       \
            }                                                                  \
        } else {                                                               \
            for (size_t i = 0; i < n; i++) {                                   \
                int64_t raw = (int64_t)p[i];                                   \
                if (raw >= pad_lo && raw <= pad_hi) {                          \
                    dst[i] = HU_PADDING;                                       \
                    padded++;                                                  \
                } else {                                                       \
                    dst[i] = clamp16((double)raw * slope + inter);             \
                }                                                              \
            }                                                                  \
        }                                                                      \
    } while (0)

    /* 16 bits in place (src == dst), the common CT case: integer rescale
     * through one pointer so the compiler vectorises it. */
    if (in->bits_allocated == 16 && int_path && no_padding &&
        (const void *)src == (const void *)dst) {
        if (is_signed) {
            if (add == 0)
                return 0; /* already HU */
            int16_t *b = dst;
            for (size_t i = 0; i < n; i++) {
                int32_t v = (int32_t)b[i] + add;
                v = v < INT16_MIN ? INT16_MIN : v;
                v = v > INT16_MAX ? INT16_MAX : v;
                b[i] = (int16_t)v;
            }
        } else {
            uint16_t *b = (uint16_t *)dst;
            for (size_t i = 0; i < n; i++) {
                int32_t v = (int32_t)b[i] + add;
                v = v < INT16_MIN ? INT16_MIN : v;
                v = v > INT16_MAX ? INT16_MAX : v;
                b[i] = (uint16_t)(int16_t)v;
            }
        }
        return 0;
    }
    switch (in->bits_allocated) {
    case 8:
        if (is_signed)
            CONVERT(int8_t);
        else
            CONVERT(uint8_t);
        break;
    case 16:
        if (is_signed)
            CONVERT(int16_t);
        else
            CONVERT(uint16_t);
        break;
    case 32:
        if (is_signed)
            CONVERT(int32_t);
        else
            CONVERT(uint32_t);
        break;
    }
#undef CONVERT
    return padded;
}

/* Shift a slice in plane by (dx, dy) pixels: out(x, y) = in(x - dx, y -
 * dy), bilinear, outside the slice -1024 (air). */
static void shift_slice(const int16_t *in, int16_t *out, uint32_t w, uint32_t h,
                        double dx, double dy)
{
    for (uint32_t y = 0; y < h; y++) {
        double sy = y - dy;
        double fy = floor(sy);
        double ty = sy - fy;
        long y0 = (long)fy;
        for (uint32_t x = 0; x < w; x++) {
            double sx = x - dx;
            double fx = floor(sx);
            double tx = sx - fx;
            long x0 = (long)fx;
            double acc = 0.0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) {
                    long xx = x0 + i, yy = y0 + j;
                    double wgt = (i ? tx : 1 - tx) * (j ? ty : 1 - ty);
                    if (wgt == 0.0)
                        continue;
                    double v =
                        (xx < 0 || yy < 0 || xx >= (long)w || yy >= (long)h)
                            ? HU_PADDING
                            : in[(size_t)yy * w + (size_t)xx];
                    acc += wgt * v;
                }
            out[(size_t)y * w + x] = clamp16(acc);
        }
    }
}

static void shift_in_place(LoadCtx *c, size_t k, int16_t *dst, int thread)
{
    if (c->shift[2 * k] == 0.0 && c->shift[2 * k + 1] == 0.0)
        return;
    int16_t *tmp = c->tilt_buf[thread];
    memcpy(tmp, dst, c->plane * sizeof *tmp);
    shift_slice(tmp, dst, c->columns, c->rows, c->shift[2 * k],
                c->shift[2 * k + 1]);
}

/* Read frame `frame` of native 16-bit pixel data straight from the file
 * into dst (one copy, page cache to volume), then apply what the native
 * codec would: bits above Bits Stored masked, signed values sign-extended
 * (nova/codec.h).  False when the file does not hold the frame. */
static bool read_native(NovaError **err, const ScanFile *f, uint32_t frame,
                        int16_t *dst, size_t plane)
{
    size_t bytes = plane * 2;
    uint64_t at = f->pixel_offset + (uint64_t)frame * bytes;
    if ((uint64_t)(frame + 1) * bytes > f->pixel_length)
        return nova_error_set(err, NOVA_ERROR_PARSE, "truncated pixel data",
                              "%s: Pixel Data of %llu bytes holds no frame "
                              "%u of %zu bytes",
                              f->path, (unsigned long long)f->pixel_length,
                              frame, bytes);
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nova_error_set(err, NOVA_ERROR_IO, "cannot open file", "%s: %s",
                              f->path, strerror(errno));
    size_t got = 0;
    while (got < bytes) {
        ssize_t r =
            pread(fd, (uint8_t *)dst + got, bytes - got, (off_t)(at + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got < bytes)
        return nova_error_set(err, NOVA_ERROR_IO, "truncated file",
                              "%s: offset %llu: read %zu of %zu pixel bytes",
                              f->path, (unsigned long long)at, got, bytes);
    unsigned stored = f->info.bits_stored;
    if (stored > 0 && stored < 16) {
        if (f->info.pixel_representation == 1) {
            int shift = 16 - (int)stored;
            for (size_t i = 0; i < plane; i++)
                dst[i] =
                    (int16_t)((int16_t)((uint16_t)dst[i] << shift) >> shift);
        } else {
            uint16_t mask = (uint16_t)((1u << stored) - 1);
            uint16_t *u = (uint16_t *)dst;
            for (size_t i = 0; i < plane; i++)
                u[i] &= mask;
        }
    }
    return true;
}

static void load_task(void *vctx, size_t k, int thread)
{
    LoadCtx *c = vctx;
    if (atomic_load(&c->failed))
        return;
    const ScanSlice *s = c->slices[k];
    const ScanFile *f = &c->scan->files[s->file];
    NovaError **err = &c->errors[thread];
    NovaDataset *ds = c->shared[s->file];
    bool own = false;
    int16_t *dst = c->dst + k * c->plane;
    if (f->pixel_offset > 0 && f->info.rows == c->rows &&
        f->info.columns == c->columns) {
        bool ok = read_native(err, f, s->frame, dst, c->plane);
        if (ok) {
            size_t padded = to_hu(f, s, dst, dst, c->plane);
            if (padded)
                atomic_fetch_add(&c->padding, padded);
            if (c->shift)
                shift_in_place(c, k, dst, thread);
        } else {
            atomic_store(&c->failed, true);
        }
        return;
    }
    if (!ds) {
        ds = nova__scan_open_file(err, c->scan, f, c->za[thread],
                                  &c->zbuf[thread], &c->zcap[thread],
                                  NOVA_READ_DEFAULT);
        own = true;
    }
    bool ok = ds != NULL;
    if (ok) {
        NovaImageInfo info;
        ok = nova_dataset_get_image_info(err, ds, &info);
        if (ok && (info.rows != c->rows || info.columns != c->columns ||
                   info.bits_allocated != f->info.bits_allocated)) {
            ok = nova_error_set(err, NOVA_ERROR_PARSE, "inconsistent file",
                                "%s: image changed between scan and load",
                                nova_dataset_get_source_name(ds));
        }
        if (ok && info.bits_allocated != 8 && info.bits_allocated != 16 &&
            info.bits_allocated != 32)
            ok = nova_error_set(err, NOVA_ERROR_UNSUPPORTED,
                                "bits allocated not supported",
                                "%s: Bits Allocated %u; a CT volume needs "
                                "8, 16 or 32",
                                nova_dataset_get_source_name(ds),
                                (unsigned)info.bits_allocated);
        if (ok) {
            size_t bytes = nova_image_frame_bytes(&info);
            void *target =
                info.bits_allocated == 16 ? (void *)dst : c->scratch[thread];
            ok = nova_dataset_decode_frame(err, ds, s->frame, target, bytes);
            if (ok) {
                size_t padded = to_hu(f, s, target, dst, c->plane);
                if (padded)
                    atomic_fetch_add(&c->padding, padded);
            }
        }
    }
    if (ok && c->shift)
        shift_in_place(c, k, dst, thread);
    if (own)
        nova_dataset_destroy(ds);
    if (!ok)
        atomic_store(&c->failed, true);
}

typedef struct {
    const int16_t *src;
    int16_t *dst;
    size_t plane;
    const double *pos; /* source positions relative to the first */
    size_t n_src;
    double dz;
} ResampleCtx;

/* Linear interpolation along the normal between the two source slices
 * that bracket each output position. */
static void resample_range(void *vctx, size_t begin, size_t end, int thread)
{
    const ResampleCtx *c = vctx;
    size_t k = 0;
    for (size_t m = begin; m < end; m++) {
        double z = (double)m * c->dz;
        while (k + 2 < c->n_src && c->pos[k + 1] < z)
            k++;
        if (k + 1 >= c->n_src)
            k = c->n_src >= 2 ? c->n_src - 2 : 0;
        double span = c->pos[k + 1] - c->pos[k];
        double t = span > 0 ? (z - c->pos[k]) / span : 0.0;
        if (t < 0)
            t = 0;
        if (t > 1)
            t = 1;
        const int16_t *a = c->src + k * c->plane;
        const int16_t *b = c->src + (k + 1) * c->plane;
        int16_t *o = c->dst + m * c->plane;
        if (t == 0.0)
            memcpy(o, a, c->plane * sizeof *o);
        else if (t == 1.0)
            memcpy(o, b, c->plane * sizeof *o);
        else
            for (size_t i = 0; i < c->plane; i++)
                o[i] = clamp16(a[i] + t * (b[i] - a[i]));
    }
}

static void append(char *buf, size_t size, const char *fmt, ...)
    NOVA_PRINTF(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

NovaVolume *nova_scan_load(NovaError **error, const NovaScan *scan,
                           size_t stack, const NovaLoadOptions *options,
                           NovaPool *pool, NovaLoadReport *report)
{
    NovaLoadOptions defaults;
    if (!options) {
        nova_load_options_init(&defaults);
        options = &defaults;
    }
    NovaLoadReport local;
    if (!report)
        report = &local;
    memset(report, 0, sizeof *report);
    if (stack >= scan->stack_count) {
        nova_error_set(error, NOVA_ERROR_RANGE, "no such stack",
                       "stack %zu of %zu", stack, scan->stack_count);
        return NULL;
    }
    const ScanStack *st = &scan->stacks[stack];
    const NovaStackFingerprint *fp = &st->fp;
    const char *label = fp->series_uid;
    int threads = pool ? nova_pool_get_threads(pool) : 1;

    NovaVolume *volume = NULL, *raw = NULL;
    LoadCtx c;
    memset(&c, 0, sizeof c);
    double *pos = NULL, *gaps = NULL;
    c.scan = scan;
    c.slices = nova_malloc_array(error, st->count, sizeof *c.slices);
    pos = nova_malloc_array(error, st->count, sizeof *pos);
    gaps = nova_malloc_array(error, st->count, sizeof *gaps);
    if (!c.slices || !pos || !gaps)
        goto done;

    /* Duplicates: same position within 0.01 mm. */
    for (size_t i = 0; i < st->count; i++) {
        const ScanSlice *s = &scan->slices[st->slices[i]];
        if (c.n > 0 &&
            s->position - c.slices[c.n - 1]->position < DUPLICATE_MM) {
            if (!options->drop_duplicates) {
                nova_error_set(error, NOVA_ERROR_UNSUPPORTED,
                               "duplicate slices",
                               "series %s: %s and %s are both at %.3f mm "
                               "along the normal",
                               label, scan->files[c.slices[c.n - 1]->file].path,
                               scan->files[s->file].path, s->position);
                goto done;
            }
            report->duplicates_dropped++;
            continue;
        }
        c.slices[c.n++] = s;
    }
    if (report->duplicates_dropped)
        append(report->warnings, sizeof report->warnings,
               "%zu duplicated slice positions dropped (first copy kept). ",
               report->duplicates_dropped);
    size_t n = c.n;
    for (size_t i = 0; i < n; i++)
        pos[i] = c.slices[i]->position - c.slices[0]->position;

    /* Spacing. */
    double med = 0.0, dz = 1.0;
    bool uneven = false;
    if (n >= 2) {
        for (size_t i = 1; i < n; i++)
            gaps[i - 1] = pos[i] - pos[i - 1];
        double *tmp = nova_malloc_array(error, n - 1, sizeof *tmp);
        if (!tmp)
            goto done;
        memcpy(tmp, gaps, (n - 1) * sizeof *tmp);
        med = nova__median(tmp, n - 1);
        report->min_gap_mm = tmp[0];
        report->max_gap_mm = tmp[n - 2];
        nova_free(tmp);
        double tol = options->spacing_tolerance_mm +
                     options->spacing_tolerance_fraction * med;
        size_t worst = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            double k = floor(gaps[i] / med + 0.5);
            if (fabs(gaps[i] - med) <= tol)
                continue;
            uneven = true;
            if (k >= 2 && fabs(gaps[i] - k * med) <= tol * k)
                report->missing_slices += (size_t)k - 1;
            if (fabs(gaps[i] - med) > fabs(gaps[worst] - med))
                worst = i;
        }
        if (uneven && !options->resample_uneven) {
            nova_error_set(
                error, NOVA_ERROR_UNSUPPORTED, "uneven slice spacing",
                "series %s: slice gaps range from %.3f to %.3f mm (median "
                "%.3f, tolerance %.3f); the largest deviation is between "
                "%s and %s (%.3f mm)%s; resampling is disabled",
                label, report->min_gap_mm, report->max_gap_mm, med, tol,
                scan->files[c.slices[worst]->file].path,
                scan->files[c.slices[worst + 1]->file].path, gaps[worst],
                report->missing_slices ? ", slices are missing" : "");
            goto done;
        }
        dz = uneven ? med : pos[n - 1] / (double)(n - 1);
    } else if (fp->slice_thickness_mm > 0) {
        dz = fp->slice_thickness_mm;
    }

    /* Geometry: x along the row direction (columns), y along the column
     * direction (rows), z along the normal; PS3.3 C.7.6.2.1.1. */
    NovaGeometry g;
    nova_geometry_init(&g);
    const ScanSlice *s0 = c.slices[0];
    double r[3], col[3], nrm[3];
    memcpy(r, fp->row_direction, sizeof r);
    memcpy(col, fp->column_direction, sizeof col);
    memcpy(nrm, fp->normal, sizeof nrm);
    for (int i = 0; i < 3; i++) {
        g.direction[i * 3 + 0] = r[i];
        g.direction[i * 3 + 1] = col[i];
        g.direction[i * 3 + 2] = nrm[i];
        g.origin[i] = s0->ipp[i];
    }
    g.spacing[0] = s0->pixel_spacing[1];
    g.spacing[1] = s0->pixel_spacing[0];
    g.spacing[2] = dz > 0 ? dz : 1.0;

    /* Tilt: in-plane offset of each slice from the line along the normal
     * through the first slice. */
    if (n >= 2 && fp->tilt_deg > options->tilt_tolerance_deg) {
        report->tilt_deg = fp->tilt_deg;
        if (!options->correct_tilt) {
            nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "gantry tilt",
                           "series %s: slices are stacked %.2f degrees off "
                           "their normal (gantry tilt %.2f degrees in the "
                           "header); tilt correction is disabled",
                           label, fp->tilt_deg,
                           scan->files[s0->file].gantry_tilt_deg);
            goto done;
        }
        c.shift = nova_malloc_array(error, n, 2 * sizeof(double));
        if (!c.shift)
            goto done;
        for (size_t k = 0; k < n; k++) {
            double d[3];
            for (int i = 0; i < 3; i++)
                d[i] = c.slices[k]->ipp[i] - s0->ipp[i] - pos[k] * nrm[i];
            c.shift[2 * k] =
                (d[0] * r[0] + d[1] * r[1] + d[2] * r[2]) / g.spacing[0];
            c.shift[2 * k + 1] =
                (d[0] * col[0] + d[1] * col[1] + d[2] * col[2]) / g.spacing[1];
        }
        report->corrected_tilt = true;
        append(report->warnings, sizeof report->warnings,
               "gantry tilt of %.2f degrees corrected by shifting slices in "
               "plane. ",
               fp->tilt_deg);
    }

    size_t dims[3] = {fp->columns, fp->rows, n};
    /* Every voxel is written by a slice task: no zero fill. */
    raw = nova__volume_create_uninit(error, NOVA_DTYPE_INT16, dims, &g);
    if (!raw)
        goto done;
    c.dst = nova_volume_get_data(raw);
    c.rows = fp->rows;
    c.columns = fp->columns;
    c.plane = (size_t)fp->rows * fp->columns;
    c.shared = nova_calloc(error, scan->file_count, sizeof *c.shared);
    c.shared_buf = nova_calloc(error, scan->file_count, sizeof *c.shared_buf);
    c.scratch = nova_calloc(error, (size_t)threads, sizeof *c.scratch);
    c.tilt_buf = nova_calloc(error, (size_t)threads, sizeof *c.tilt_buf);
    c.za = nova_calloc(error, (size_t)threads, sizeof *c.za);
    c.zbuf = nova_calloc(error, (size_t)threads, sizeof *c.zbuf);
    c.zcap = nova_calloc(error, (size_t)threads, sizeof *c.zcap);
    c.errors = nova_calloc(error, (size_t)threads, sizeof *c.errors);
    if (!c.shared || !c.shared_buf || !c.scratch || !c.tilt_buf || !c.za ||
        !c.zbuf || !c.zcap || !c.errors)
        goto done;
    size_t frame_bytes = c.plane * 4; /* the largest: 32-bit samples */
    for (int t = 0; t < threads; t++) {
        c.scratch[t] = nova_malloc_aligned(error, 64, frame_bytes);
        c.za[t] = nova_calloc(error, scan->archive_count + 1, sizeof(zip_t *));
        if (!c.scratch[t] || !c.za[t])
            goto done;
        if (c.shift) {
            c.tilt_buf[t] = nova_malloc_array(error, c.plane, sizeof(int16_t));
            if (!c.tilt_buf[t])
                goto done;
        }
    }
    /* Multi-frame files: open each once, read whole, shared by tasks. */
    for (size_t k = 0; k < n; k++) {
        size_t fi = c.slices[k]->file;
        if (scan->files[fi].info.frames > 1 && !c.shared[fi]) {
            /* A zip member's dataset borrows its buffer: one per file. */
            size_t cap = 0;
            c.shared[fi] = nova__scan_open_file(error, scan, &scan->files[fi],
                                                c.za[0], &c.shared_buf[fi],
                                                &cap, NOVA_READ_DEFAULT);
            if (!c.shared[fi])
                goto done;
        }
    }
    atomic_init(&c.failed, false);
    atomic_init(&c.padding, 0);
    nova_pool_for_each(pool, n, load_task, &c);
    if (atomic_load(&c.failed)) {
        for (int t = 0; t < threads; t++)
            if (c.errors[t]) {
                nova_error_set(error, nova_error_code(c.errors[t]),
                               nova_error_summary(c.errors[t]), "%s",
                               nova_error_message(c.errors[t]));
                break;
            }
        nova_error_set(error, NOVA_ERROR_INTERNAL, "load failed",
                       "series %s: a slice failed without an error", label);
        goto done;
    }
    report->slices_read = n;
    report->padding_voxels = atomic_load(&c.padding);

    if (uneven) {
        size_t n_out = (size_t)floor(pos[n - 1] / med + 0.5) + 1;
        double dz_out = n_out > 1 ? pos[n - 1] / (double)(n_out - 1) : med;
        g.spacing[2] = dz_out;
        size_t odims[3] = {fp->columns, fp->rows, n_out};
        volume = nova__volume_create_uninit(error, NOVA_DTYPE_INT16, odims, &g);
        if (!volume)
            goto done;
        ResampleCtx rc = {c.dst, nova_volume_get_data(volume), c.plane, pos, n,
                          dz_out};
        nova_pool_parallel_for(pool, n_out, resample_range, &rc);
        report->resampled_spacing = true;
        append(report->warnings, sizeof report->warnings,
               "uneven spacing (gaps %.3f to %.3f mm%s) resampled to %zu "
               "slices at %.4f mm. ",
               report->min_gap_mm, report->max_gap_mm,
               report->missing_slices ? ", missing slices" : "", n_out, dz_out);
        nova_volume_unref(raw);
    } else {
        volume = raw;
    }
    raw = NULL;
done:
    nova_volume_unref(raw);
    for (size_t i = 0; c.shared && i < scan->file_count; i++)
        nova_dataset_destroy(c.shared[i]);
    for (size_t i = 0; c.shared_buf && i < scan->file_count; i++)
        nova_free(c.shared_buf[i]);
    nova_free(c.shared_buf);
    for (int t = 0; t < threads; t++) {
        if (c.scratch)
            nova_free(c.scratch[t]);
        if (c.tilt_buf)
            nova_free(c.tilt_buf[t]);
        if (c.za && c.za[t]) {
            for (size_t a = 0; a < scan->archive_count; a++)
                if (c.za[t][a])
                    zip_discard(c.za[t][a]);
            nova_free(c.za[t]);
        }
        if (c.zbuf)
            nova_free(c.zbuf[t]);
        if (c.errors)
            nova_error_free(c.errors[t]);
    }
    nova_free(c.shared);
    nova_free(c.scratch);
    nova_free(c.tilt_buf);
    nova_free(c.za);
    nova_free(c.zbuf);
    nova_free(c.zcap);
    nova_free(c.errors);
    nova_free(c.shift);
    nova_free(c.slices);
    nova_free(pos);
    nova_free(gaps);
    return volume;
}

NovaVolume *nova_volume_read_dicom(NovaError **error, const char *path,
                                   const char *series_uid, NovaPool *pool)
{
    NovaScan *scan = nova_scan_create(error, &path, 1, pool);
    if (!scan)
        return NULL;
    size_t stack;
    NovaVolume *v = NULL;
    if (nova_scan_choose(error, scan, series_uid, &stack, NULL, 0))
        v = nova_scan_load(error, scan, stack, NULL, pool, NULL);
    if (!v)
        nova_error_prefix(error, "%s: ", path);
    nova_scan_destroy(scan);
    return v;
}
