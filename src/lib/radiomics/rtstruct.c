/*
 * rtstruct.c - DICOM RT Structure Set contours to a mask on an image grid.
 *
 * PS3.3 C.8.8.6 (ROI Contour Module): each ROI Contour Sequence (3006,0039)
 * item names its ROI by Referenced ROI Number (3006,0084) and holds a
 * Contour Sequence (3006,0040) of polygons, Contour Data (3006,0050) being
 * x\y\z triplets in the patient coordinate system (mm).  CLOSED_PLANAR
 * contours are filled; POINT and OPEN contours enclose nothing and are
 * skipped.  The fill rule (documented in nova/radiomics.h) is the even-odd
 * rule on voxel centres, slice by slice, over all contours of the ROI in
 * that slice, so nested contours make holes as PS3.3 C.8.8.6.3 intends.
 */
#include "radiomics_internal.h"

#include "nova/dicom.h"

#include <stdlib.h>
#include <string.h>

#define TAG_MODALITY 0x00080060u
#define TAG_STRUCTURE_SET_ROI_SEQ 0x30060020u
#define TAG_ROI_NUMBER 0x30060022u
#define TAG_ROI_NAME 0x30060026u
#define TAG_ROI_CONTOUR_SEQ 0x30060039u
#define TAG_CONTOUR_SEQ 0x30060040u
#define TAG_CONTOUR_TYPE 0x30060042u
#define TAG_CONTOUR_DATA 0x30060050u
#define TAG_REFERENCED_ROI_NUMBER 0x30060084u

typedef struct {
    double *xy; /* index-space (i, j) pairs */
    size_t n;
    long slice;
} Polygon;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parse Contour Data into index-space points; false with an error. */
static bool contour_points(NovaError **error, const NovaDataset *item,
                           const NovaGeometry *geometry, size_t nz,
                           Polygon *poly, const char *where)
{
    char *text = nova_dataset_get_string(error, item, TAG_CONTOUR_DATA);
    if (!text)
        return false;
    size_t count = 1;
    for (const char *p = text; *p; p++)
        count += *p == '\\';
    if (count % 3 != 0 || count < 9) {
        nova_free(text);
        return nova_error_set(error, NOVA_ERROR_PARSE, "bad contour",
                              "%s: Contour Data has %zu values, not a "
                              "polygon of x\\y\\z triplets",
                              where, count);
    }
    size_t n = count / 3;
    poly->xy = nova_malloc_array(error, n, 2 * sizeof(double));
    if (!poly->xy) {
        nova_free(text);
        return false;
    }
    poly->n = n;
    const char *p = text;
    double ksum = 0;
    for (size_t i = 0; i < n; i++) {
        double w[3], idx[3];
        for (int a = 0; a < 3; a++) {
            char *end;
            w[a] = strtod(p, &end);
            if (end == p || !isfinite(w[a])) {
                nova_free(text);
                return nova_error_set(error, NOVA_ERROR_PARSE, "bad contour",
                                      "%s: Contour Data value %zu is not a "
                                      "number",
                                      where, i * 3 + (size_t)a);
            }
            p = end;
            while (*p == ' ')
                p++;
            if (*p == '\\')
                p++;
        }
        nova_geometry_world_to_index(geometry, w, idx);
        /* A finite coordinate can still overflow to an infinite index (a
         * value near DBL_MAX over a spacing below 1 mm), and differences of
         * huge indices overflow in the edge crossings below, giving NaN
         * crossings (which qsort cannot order) and NaN slice numbers.  No
         * real contour lies a billion voxels (kilometres) from its image,
         * so such a point is refused. */
        if (!(fabs(idx[0]) <= 1e9) || !(fabs(idx[1]) <= 1e9) ||
            !(fabs(idx[2]) <= 1e9)) {
            nova_free(text);
            return nova_error_set(error, NOVA_ERROR_RANGE, "bad contour",
                                  "%s: Contour Data point %zu (%g, %g, %g) "
                                  "is too far from the image grid",
                                  where, i + 1, w[0], w[1], w[2]);
        }
        poly->xy[2 * i] = idx[0];
        poly->xy[2 * i + 1] = idx[1];
        ksum += idx[2];
    }
    nova_free(text);
    double k = ksum / (double)n;
    double kr = nearbyint(k);
    /* Written so that a NaN mean (the sum of many huge indices) is off
     * the grid too, never converted to long. */
    if (!(fabs(k - kr) <= 0.5) || !(kr >= 0) || !(kr < (double)nz)) {
        poly->slice = -1; /* off the grid: ignored */
        return true;
    }
    poly->slice = (long)kr;
    return true;
}

NovaVolume *nova_radiomics_rtstruct_rasterise(NovaError **error,
                                              const char *path,
                                              const NovaVolume *image,
                                              int roi_number)
{
    NovaDataset *ds = nova_dataset_read_file(error, path, 0);
    if (!ds)
        return NULL;
    NovaVolume *mask = NULL;
    Polygon *polys = NULL;
    size_t n_polys = 0, cap = 0;
    char modality[32] = "";
    if (!nova_dataset_get_string_value(NULL, ds, TAG_MODALITY, 0, modality,
                                       sizeof modality) ||
        strcmp(modality, "RTSTRUCT") != 0) {
        nova_error_set(error, NOVA_ERROR_INVALID, "not an RTSTRUCT",
                       "%s: Modality is '%s', not RTSTRUCT", path, modality);
        goto done;
    }
    size_t dims[3];
    nova_volume_get_dims(image, dims);
    const NovaGeometry *geometry = nova_volume_get_geometry(image);
    size_t n_roi = nova_dataset_get_item_count(ds, TAG_ROI_CONTOUR_SEQ);
    bool found = false;
    char present[256] = "";
    size_t plen = 0;
    for (size_t r = 0; r < n_roi; r++) {
        const NovaDataset *roi =
            nova_dataset_get_item(ds, TAG_ROI_CONTOUR_SEQ, r);
        int64_t number = -1;
        if (!roi || !nova_dataset_get_int(NULL, roi, TAG_REFERENCED_ROI_NUMBER,
                                          0, &number))
            continue;
        if (plen < sizeof present - 16)
            plen +=
                (size_t)snprintf(present + plen, sizeof present - plen,
                                 "%s%lld", plen ? ", " : "", (long long)number);
        if (roi_number != 0 && number != roi_number)
            continue;
        found = true;
        size_t n_contours = nova_dataset_get_item_count(roi, TAG_CONTOUR_SEQ);
        for (size_t c = 0; c < n_contours; c++) {
            const NovaDataset *item =
                nova_dataset_get_item(roi, TAG_CONTOUR_SEQ, c);
            char type[32] = "";
            if (!item)
                continue;
            nova_dataset_get_string_value(NULL, item, TAG_CONTOUR_TYPE, 0, type,
                                          sizeof type);
            if (strcmp(type, "CLOSED_PLANAR") != 0)
                continue;
            if (n_polys == cap) {
                cap = cap ? cap * 2 : 64;
                Polygon *p = nova_realloc(error, polys, cap * sizeof *p);
                if (!p)
                    goto done;
                polys = p;
            }
            char where[160];
            snprintf(where, sizeof where, "%s: ROI %lld contour %zu", path,
                     (long long)number, c + 1);
            Polygon *poly = &polys[n_polys];
            memset(poly, 0, sizeof *poly);
            if (!contour_points(error, item, geometry, dims[2], poly, where)) {
                nova_free(poly->xy);
                goto done;
            }
            n_polys++;
        }
    }
    if (!found) {
        nova_error_set(error, NOVA_ERROR_NOT_FOUND, "ROI absent",
                       "%s: ROI %d is absent; ROIs present: %s", path,
                       roi_number, plen ? present : "none");
        goto done;
    }
    mask = nova_volume_create(error, NOVA_DTYPE_UINT8, dims, geometry);
    if (!mask)
        goto done;
    uint8_t *m = nova_volume_get_data(mask);
    size_t on_grid = 0;
    double *xs = NULL;
    size_t xs_cap = 0;
    for (size_t k = 0; k < dims[2]; k++) {
        for (size_t j = 0; j < dims[1]; j++) {
            /* Crossings of the row y = j with every edge of the slice's
             * polygons; an edge counts when its ends lie on different
             * sides (y0 <= j) != (y1 <= j), the usual half-open rule that
             * counts a vertex on the row once. */
            size_t nx = 0;
            double y = (double)j;
            for (size_t p = 0; p < n_polys; p++) {
                const Polygon *poly = &polys[p];
                if (poly->slice != (long)k)
                    continue;
                for (size_t e = 0; e < poly->n; e++) {
                    const double *a = poly->xy + 2 * e;
                    const double *b = poly->xy + 2 * ((e + 1) % poly->n);
                    if ((a[1] <= y) == (b[1] <= y))
                        continue;
                    if (nx == xs_cap) {
                        xs_cap = xs_cap ? xs_cap * 2 : 64;
                        double *t =
                            nova_realloc(error, xs, xs_cap * sizeof *xs);
                        if (!t) {
                            nova_free(xs);
                            nova_volume_unref(mask);
                            mask = NULL;
                            goto done;
                        }
                        xs = t;
                    }
                    xs[nx++] =
                        a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                }
            }
            if (nx < 2)
                continue;
            qsort(xs, nx, sizeof *xs, cmp_double);
            for (size_t q = 0; q + 1 < nx; q += 2) {
                double x0 = ceil(xs[q]), x1 = xs[q + 1];
                for (double x = x0 < 0 ? 0 : x0; x < x1 && x < (double)dims[0];
                     x += 1) {
                    m[(k * dims[1] + j) * dims[0] + (size_t)x] = 1;
                    on_grid++;
                }
            }
        }
    }
    nova_free(xs);
    if (on_grid == 0) {
        nova_volume_unref(mask);
        mask = NULL;
        nova_error_set(error, NOVA_ERROR_INVALID, "empty mask",
                       "%s: no voxel centre of the image lies inside the "
                       "contours of ROI %d",
                       path, roi_number);
    }
done:
    for (size_t p = 0; p < n_polys; p++)
        nova_free(polys[p].xy);
    nova_free(polys);
    nova_dataset_destroy(ds);
    return mask;
}
