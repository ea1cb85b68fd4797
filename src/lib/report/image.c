/*
 * image.c - 2D cuts of volumes as RGB pictures, mask outlines, PNG files.
 *
 * A cut maps each output pixel back to a continuous voxel position on the
 * cut plane (square pixels in mm, radiological orientation), samples the
 * HU volume bilinearly and masks by nearest voxel.  Outlines are traced on
 * the output grid so they are one pixel wide at any zoom.  PNG encoding is
 * libpng's simplified API.
 */
#include "nova/image.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>

NovaImage *nova_image_create(NovaError **error, uint32_t width, uint32_t height)
{
    size_t n;
    if (width == 0 || height == 0 || width > 65535 || height > 65535 ||
        !nova_size_mul((size_t)width * height, 3, &n)) {
        nova_error_set(error, NOVA_ERROR_RANGE, "bad image size",
                       "image of %u x %u pixels", width, height);
        return NULL;
    }
    NovaImage *img = nova_calloc(error, 1, sizeof *img);
    if (!img)
        return NULL;
    img->rgb = nova_calloc(error, n, 1);
    if (!img->rgb) {
        nova_free(img);
        return NULL;
    }
    img->width = width;
    img->height = height;
    return img;
}

void nova_image_destroy(NovaImage *img)
{
    if (img) {
        nova_free(img->rgb);
        nova_free(img);
    }
}

/* How a cut's output pixels map to voxel indices. */
typedef struct {
    int h_axis, v_axis, fixed_axis;
    size_t n_h, n_v;
    bool flip_h, flip_v;
    uint32_t width, height;
} CutMap;

static void cut_map(const NovaVolume *v, NovaCut cut, double scale, CutMap *m)
{
    size_t dims[3];
    nova_volume_get_dims(v, dims);
    const NovaGeometry *g = nova_volume_get_geometry(v);
    switch (cut) {
    case NOVA_CUT_AXIAL:
        m->h_axis = 0;
        m->v_axis = 1;
        m->fixed_axis = 2;
        break;
    case NOVA_CUT_CORONAL:
        m->h_axis = 0;
        m->v_axis = 2;
        m->fixed_axis = 1;
        break;
    default:
        m->h_axis = 1;
        m->v_axis = 2;
        m->fixed_axis = 0;
        break;
    }
    m->n_h = dims[m->h_axis];
    m->n_v = dims[m->v_axis];
    /* Radiological view: patient right (-x in LPS) on the image's left,
     * anterior (-y) at the top of axial cuts and on the left of sagittal
     * ones, superior (+z) at the top of coronal and sagittal cuts.  The
     * dominant world component of each voxel axis decides its sign. */
    double hx = g->direction[(m->h_axis == 1 ? 1 : 0) * 3 + m->h_axis];
    m->flip_h = hx < 0;
    if (m->v_axis == 2)
        m->flip_v = g->direction[2 * 3 + 2] > 0;
    else
        m->flip_v = g->direction[1 * 3 + 1] < 0;
    double sh = g->spacing[m->h_axis], sv = g->spacing[m->v_axis];
    double s = sh < sv ? sh : sv;
    if (!(s > 0))
        s = 1, sh = sv = 1;
    if (scale < 1)
        scale = 1;
    double w = round((double)m->n_h * sh / s * scale);
    double h = round((double)m->n_v * sv / s * scale);
    m->width = (uint32_t)(w < 1 ? 1 : w > 4096 ? 4096 : w);
    m->height = (uint32_t)(h < 1 ? 1 : h > 4096 ? 4096 : h);
}

/* Continuous voxel coordinate along the horizontal/vertical axis for an
 * output pixel. */
static double to_voxel(uint32_t px, uint32_t n_px, size_t n_vox, bool flip)
{
    double c = ((double)px + 0.5) * (double)n_vox / (double)n_px - 0.5;
    return flip ? (double)n_vox - 1 - c : c;
}

static size_t voxel_index(const size_t dims[3], const CutMap *m, size_t fixed,
                          size_t h, size_t v)
{
    size_t idx[3];
    idx[m->fixed_axis] = fixed;
    idx[m->h_axis] = h;
    idx[m->v_axis] = v;
    return (idx[2] * dims[1] + idx[1]) * dims[0] + idx[0];
}

NovaImage *nova_image_from_cut(NovaError **error, const NovaVolume *hu,
                               NovaCut cut, size_t index, double center,
                               double width, double scale)
{
    if (nova_volume_get_dtype(hu) != NOVA_DTYPE_INT16) {
        nova_error_set(error, NOVA_ERROR_INVALID, "not a CT volume",
                       "rendering needs an int16 volume");
        return NULL;
    }
    size_t dims[3];
    nova_volume_get_dims(hu, dims);
    CutMap m;
    cut_map(hu, cut, scale, &m);
    if (index >= dims[m.fixed_axis]) {
        nova_error_set(error, NOVA_ERROR_RANGE, "no such slice",
                       "cut %zu of %zu", index, dims[m.fixed_axis]);
        return NULL;
    }
    NovaImage *img = nova_image_create(error, m.width, m.height);
    if (!img)
        return NULL;
    const int16_t *vox = nova_volume_get_const_data(hu);
    double lo = center - width / 2, inv = width > 0 ? 255.0 / width : 0;
    for (uint32_t y = 0; y < m.height; y++) {
        double cv = to_voxel(y, m.height, m.n_v, m.flip_v);
        if (cv < 0)
            cv = 0;
        if (cv > (double)m.n_v - 1)
            cv = (double)m.n_v - 1;
        size_t v0 = (size_t)cv, v1 = v0 + 1 < m.n_v ? v0 + 1 : v0;
        double fv = cv - (double)v0;
        for (uint32_t x = 0; x < m.width; x++) {
            double ch = to_voxel(x, m.width, m.n_h, m.flip_h);
            if (ch < 0)
                ch = 0;
            if (ch > (double)m.n_h - 1)
                ch = (double)m.n_h - 1;
            size_t h0 = (size_t)ch, h1 = h0 + 1 < m.n_h ? h0 + 1 : h0;
            double fh = ch - (double)h0;
            double a = vox[voxel_index(dims, &m, index, h0, v0)];
            double b = vox[voxel_index(dims, &m, index, h1, v0)];
            double c = vox[voxel_index(dims, &m, index, h0, v1)];
            double d = vox[voxel_index(dims, &m, index, h1, v1)];
            double val = (a * (1 - fh) + b * fh) * (1 - fv) +
                         (c * (1 - fh) + d * fh) * fv;
            double g = (val - lo) * inv;
            uint8_t grey = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g + 0.5);
            uint8_t *p = img->rgb + ((size_t)y * m.width + x) * 3;
            p[0] = p[1] = p[2] = grey;
        }
    }
    return img;
}

static bool mask_fits(const NovaImage *img, const NovaVolume *mask, NovaCut cut,
                      size_t index, CutMap *m, size_t dims[3])
{
    if (nova_volume_get_dtype(mask) != NOVA_DTYPE_UINT8)
        return false;
    nova_volume_get_dims(mask, dims);
    /* The same scale gives the same output size; recover it from the
     * image's width. */
    cut_map(mask, cut, 1, m);
    double s = (double)img->width / (double)m->width;
    cut_map(mask, cut, s, m);
    return m->width == img->width && m->height == img->height &&
           index < dims[m->fixed_axis];
}

/* The mask sampled at every output pixel (nearest voxel), 1 where it
 * holds the label (any non-zero value for label 0), 0 elsewhere and
 * outside the volume: one lookup per pixel through per-column and per-row
 * voxel tables, instead of the coordinate arithmetic per pixel and per
 * neighbour.  NULL when the mask does not fit the image or memory is
 * short (then nothing is drawn). */
static uint8_t *sample_label(const NovaImage *img, const NovaVolume *mask,
                             NovaCut cut, size_t index, uint8_t label)
{
    CutMap m;
    size_t dims[3];
    if (!mask_fits(img, mask, cut, index, &m, dims))
        return NULL;
    size_t w = m.width, h = m.height;
    uint8_t *plane = nova_calloc(NULL, w * h, 1);
    long *col = nova_malloc_array(NULL, w + h, sizeof *col);
    if (!plane || !col) {
        nova_free(plane);
        nova_free(col);
        return NULL;
    }
    long *row = col + w;
    for (size_t x = 0; x < w; x++) {
        long v = lround(to_voxel((uint32_t)x, m.width, m.n_h, m.flip_h));
        col[x] = v < 0 || (size_t)v >= m.n_h ? -1 : v;
    }
    for (size_t y = 0; y < h; y++) {
        long v = lround(to_voxel((uint32_t)y, m.height, m.n_v, m.flip_v));
        row[y] = v < 0 || (size_t)v >= m.n_v ? -1 : v;
    }
    const uint8_t *d = nova_volume_get_const_data(mask);
    for (size_t y = 0; y < h; y++) {
        if (row[y] < 0)
            continue;
        for (size_t x = 0; x < w; x++) {
            if (col[x] < 0)
                continue;
            uint8_t value =
                d[voxel_index(dims, &m, index, (size_t)col[x], (size_t)row[y])];
            plane[y * w + x] = label ? value == label : value != 0;
        }
    }
    nova_free(col);
    return plane;
}

void nova_image_draw_outline(NovaImage *img, const NovaVolume *mask,
                             NovaCut cut, size_t index, uint8_t label,
                             const uint8_t color[3])
{
    uint8_t *p = sample_label(img, mask, cut, index, label);
    if (!p)
        return;
    size_t w = img->width, h = img->height;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            size_t i = y * w + x;
            if (!p[i])
                continue;
            /* inside when all four neighbours are (the image's edge
             * counts as outside) */
            if (x > 0 && x + 1 < w && y > 0 && y + 1 < h && p[i - 1] &&
                p[i + 1] && p[i - w] && p[i + w])
                continue;
            memcpy(img->rgb + i * 3, color, 3);
        }
    nova_free(p);
}

void nova_image_draw_fill(NovaImage *img, const NovaVolume *mask, NovaCut cut,
                          size_t index, uint8_t label, const uint8_t color[3],
                          double alpha)
{
    uint8_t *p = sample_label(img, mask, cut, index, label);
    if (!p)
        return;
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++) {
        if (!p[i])
            continue;
        uint8_t *q = img->rgb + i * 3;
        for (int c = 0; c < 3; c++)
            q[c] = (uint8_t)(q[c] * (1 - alpha) + color[c] * alpha + 0.5);
    }
    nova_free(p);
}

bool nova_image_write_png(NovaError **error, const NovaImage *img,
                          const char *path)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = img->width;
    pi.height = img->height;
    pi.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&pi, path, 0, img->rgb, 0, NULL))
        return nova_error_set(error, NOVA_ERROR_IO, "cannot write PNG",
                              "%s: %s", path, pi.message);
    return true;
}

/* A growing output buffer for libpng's write callback. */
typedef struct {
    uint8_t *data;
    size_t size, cap;
    bool failed;
} PngSink;

static void png_sink_write(png_structp png, png_bytep bytes, size_t n)
{
    PngSink *s = png_get_io_ptr(png);
    if (s->failed)
        return;
    if (s->size + n > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->size + n)
            cap *= 2;
        uint8_t *d = nova_realloc(NULL, s->data, cap);
        if (!d) {
            s->failed = true;
            return;
        }
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->size, bytes, n);
    s->size += n;
}

static void png_sink_flush(png_structp png)
{
    (void)png;
}

/* libpng's full API rather than the simplified one, which compresses the
 * image twice (once to size the buffer) at zlib's default level: one pass
 * at level 1 with the Sub filter is several times faster, and the overlays
 * (flat regions, a few colours) compress nearly as well. */
bool nova_image_encode_png(NovaError **error, const NovaImage *img,
                           uint8_t **png, size_t *png_size)
{
    /* On the heap: what the callback changes must survive a longjmp. */
    PngSink *sink = nova_calloc(error, 1, sizeof *sink);
    if (!sink)
        return false;
    png_structp pw =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = pw ? png_create_info_struct(pw) : NULL;
    if (!pw || !info) {
        png_destroy_write_struct(&pw, NULL);
        nova_free(sink);
        return nova_error_set(error, NOVA_ERROR_NOMEM, "PNG encoding",
                              "libpng could not start");
    }
    if (setjmp(png_jmpbuf(pw))) {
        png_destroy_write_struct(&pw, &info);
        nova_free(sink->data);
        nova_free(sink);
        return nova_error_set(error, NOVA_ERROR_INTERNAL, "PNG encoding",
                              "libpng failed on a %u x %u image", img->width,
                              img->height);
    }
    png_set_write_fn(pw, sink, png_sink_write, png_sink_flush);
    png_set_compression_level(pw, 1);
    png_set_filter(pw, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_IHDR(pw, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    png_write_info(pw, info);
    for (uint32_t y = 0; y < img->height; y++)
        png_write_row(pw, img->rgb + (size_t)y * img->width * 3);
    png_write_end(pw, info);
    png_destroy_write_struct(&pw, &info);
    bool failed = sink->failed;
    *png = failed ? NULL : sink->data;
    *png_size = failed ? 0 : sink->size;
    if (failed)
        nova_free(sink->data);
    nova_free(sink);
    if (failed)
        return nova_error_set(error, NOVA_ERROR_NOMEM, "PNG encoding",
                              "out of memory for a %u x %u image", img->width,
                              img->height);
    return true;
}
