/*
 * scan.c - find DICOM images in folders, file lists, DICOMDIRs and zip
 * archives, read their headers in parallel, and group them into studies,
 * series and stacks with a fingerprint each.
 *
 * How: the inputs are first expanded into a list of sources (paths, or
 * members of a zip archive read with libzip, Debian libzip-dev).  Each
 * source is parsed with NOVA_READ_HEADER_ONLY over the pool (zip members
 * are inflated into a per-thread buffer) and reduced to a ScanFile record
 * plus one ScanSlice per frame; the dataset is closed at once, so the scan
 * holds no file descriptors and memory stays a few KiB per file.  Grouping
 * then runs on the records alone (see group_stacks).
 */
#include "scan_private.h"
#include "volume_private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Tags (PS3.6). */
#define T_IMAGE_TYPE NOVA_TAG(0x0008, 0x0008)
#define T_SOP_CLASS NOVA_TAG(0x0008, 0x0016)
#define T_STUDY_DATE NOVA_TAG(0x0008, 0x0020)
#define T_ACCESSION NOVA_TAG(0x0008, 0x0050)
#define T_MODALITY NOVA_TAG(0x0008, 0x0060)
#define T_STUDY_DESCRIPTION NOVA_TAG(0x0008, 0x1030)
#define T_SERIES_DESCRIPTION NOVA_TAG(0x0008, 0x103E)
#define T_FRAME_TYPE NOVA_TAG(0x0008, 0x9007)
#define T_PATIENT_NAME NOVA_TAG(0x0010, 0x0010)
#define T_PATIENT_ID NOVA_TAG(0x0010, 0x0020)
#define T_CONTRAST_AGENT NOVA_TAG(0x0018, 0x0010)
#define T_BODY_PART NOVA_TAG(0x0018, 0x0015)
#define T_SLICE_THICKNESS NOVA_TAG(0x0018, 0x0050)
#define T_GANTRY_TILT NOVA_TAG(0x0018, 0x1120)
#define T_KERNEL NOVA_TAG(0x0018, 0x1210)
#define T_CT_IMAGE_FRAME_TYPE NOVA_TAG(0x0018, 0x9329)
#define T_CT_RECONSTRUCTION NOVA_TAG(0x0018, 0x9314)
#define T_STUDY_UID NOVA_TAG(0x0020, 0x000D)
#define T_SERIES_UID NOVA_TAG(0x0020, 0x000E)
#define T_SERIES_NUMBER NOVA_TAG(0x0020, 0x0011)
#define T_ACQUISITION_NUMBER NOVA_TAG(0x0020, 0x0012)
#define T_INSTANCE_NUMBER NOVA_TAG(0x0020, 0x0013)
#define T_IPP NOVA_TAG(0x0020, 0x0032)
#define T_IOP NOVA_TAG(0x0020, 0x0037)
#define T_FRAME_OF_REFERENCE NOVA_TAG(0x0020, 0x0052)
#define T_PLANE_POSITION NOVA_TAG(0x0020, 0x9113)
#define T_PLANE_ORIENTATION NOVA_TAG(0x0020, 0x9116)
#define T_PIXEL_SPACING NOVA_TAG(0x0028, 0x0030)
#define T_PIXEL_PADDING NOVA_TAG(0x0028, 0x0120)
#define T_PIXEL_PADDING_LIMIT NOVA_TAG(0x0028, 0x0121)
#define T_RESCALE_INTERCEPT NOVA_TAG(0x0028, 0x1052)
#define T_RESCALE_SLOPE NOVA_TAG(0x0028, 0x1053)
#define T_PIXEL_MEASURES NOVA_TAG(0x0028, 0x9110)
#define T_PIXEL_VALUE_TRANSFORM NOVA_TAG(0x0028, 0x9145)
#define T_DIRECTORY_RECORDS NOVA_TAG(0x0004, 0x1220)
#define T_REFERENCED_FILE_ID NOVA_TAG(0x0004, 0x1500)
#define T_SHARED_FG NOVA_TAG(0x5200, 0x9229)
#define T_PER_FRAME_FG NOVA_TAG(0x5200, 0x9230)

/* --------------------------------------------------------------- sources */

typedef struct {
    char *path;
    int64_t zip_index;
    size_t archive;
} Source;

typedef struct {
    Source *items;
    size_t count, cap;
    char **archives;
    size_t archive_count, archive_cap;
} SourceList;

static bool source_add(NovaError **error, SourceList *l, const char *path,
                       int64_t zip_index, size_t archive)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        Source *n = nova_realloc(error, l->items, cap * sizeof *n);
        if (!n)
            return false;
        l->items = n;
        l->cap = cap;
    }
    char *p = nova_strdup(error, path);
    if (!p)
        return false;
    l->items[l->count++] = (Source){p, zip_index, archive};
    return true;
}

static void source_list_free(SourceList *l)
{
    for (size_t i = 0; i < l->count; i++)
        nova_free(l->items[i].path);
    nova_free(l->items);
    for (size_t i = 0; i < l->archive_count; i++)
        nova_free(l->archives[i]);
    nova_free(l->archives);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Recursive walk; entries sorted so the scan does not depend on readdir
 * order.  Symbolic links to folders are not followed (no cycles). */
static bool walk(NovaError **error, SourceList *l, const char *dir, int depth)
{
    if (depth > 64)
        return nova_error_set(error, NOVA_ERROR_RANGE, "folder too deep",
                              "%s: more than 64 nested folders", dir);
    DIR *d = opendir(dir);
    if (!d)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read folder",
                              "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = nova_realloc(error, names, cap * sizeof *nn);
            if (!nn) {
                ok = false;
                break;
            }
            names = nn;
        }
        names[n] = nova_strdup_printf(error, "%s/%s", dir, e->d_name);
        if (!names[n])
            ok = false;
        else
            n++;
    }
    closedir(d);
    if (ok && n > 1)
        qsort(names, n, sizeof *names, compare_strings);
    for (size_t i = 0; ok && i < n; i++) {
        struct stat st;
        if (lstat(names[i], &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            ok = walk(error, l, names[i], depth + 1);
        else if (S_ISREG(st.st_mode) ||
                 (S_ISLNK(st.st_mode) && stat(names[i], &st) == 0 &&
                  S_ISREG(st.st_mode)))
            ok = source_add(error, l, names[i], -1, 0);
    }
    for (size_t i = 0; i < n; i++)
        nova_free(names[i]);
    nova_free(names);
    return ok;
}

static bool add_zip(NovaError **error, SourceList *l, const char *path)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        nova_error_set(error, NOVA_ERROR_IO, "cannot open zip", "%s: %s", path,
                       zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return false;
    }
    if (l->archive_count == l->archive_cap) {
        size_t cap = l->archive_cap ? l->archive_cap * 2 : 4;
        char **n = nova_realloc(error, l->archives, cap * sizeof *n);
        if (!n) {
            zip_close(za);
            return false;
        }
        l->archives = n;
        l->archive_cap = cap;
    }
    l->archives[l->archive_count] = nova_strdup(error, path);
    if (!l->archives[l->archive_count]) {
        zip_close(za);
        return false;
    }
    size_t archive = l->archive_count++;
    zip_int64_t n = zip_get_num_entries(za, 0);
    bool ok = true;
    for (zip_int64_t i = 0; ok && i < n; i++) {
        const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
        if (!name || !name[0] || name[strlen(name) - 1] == '/')
            continue; /* folders */
        ok = source_add(error, l, name, i, archive);
    }
    zip_discard(za);
    return ok;
}

/* PS3.10 8.6: Referenced File ID components joined with the folder
 * separator, relative to the DICOMDIR's folder. */
static bool add_dicomdir(NovaError **error, SourceList *l, const char *path)
{
    NovaDataset *ds = nova_dataset_read_file(error, path, NOVA_READ_DEFAULT);
    if (!ds)
        return false;
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    size_t n = nova_dataset_get_item_count(ds, T_DIRECTORY_RECORDS);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const NovaDataset *item =
            nova_dataset_get_item(ds, T_DIRECTORY_RECORDS, i);
        size_t vm = item ? nova_dataset_get_vm(item, T_REFERENCED_FILE_ID) : 0;
        if (vm == 0)
            continue;
        char rel[1024] = "";
        size_t used = 0;
        for (size_t k = 0; k < vm && used < sizeof rel; k++) {
            char comp[256];
            if (!nova_dataset_get_string_value(NULL, item, T_REFERENCED_FILE_ID,
                                               k, comp, sizeof comp))
                break;
            used += (size_t)snprintf(rel + used, sizeof rel - used, "%s%s",
                                     k ? "/" : "", comp);
        }
        char *full = nova_strdup_printf(error, "%.*s/%s", dir_len, dir, rel);
        if (!full) {
            ok = false;
            break;
        }
        ok = source_add(error, l, full, -1, 0);
        nova_free(full);
    }
    nova_dataset_destroy(ds);
    return ok;
}

static bool is_zip_file(const char *path)
{
    if (nova__has_suffix(path, ".zip"))
        return true;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t b[4] = {0};
    size_t n = fread(b, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(b, "PK\x03\x04", 4) == 0;
}

static bool is_dicomdir(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strcasecmp(base, "DICOMDIR") == 0;
}

static bool expand_path(NovaError **error, SourceList *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return nova_error_set(error, NOVA_ERROR_IO, "cannot read path",
                              "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return walk(error, l, path, 0);
    if (is_dicomdir(path))
        return add_dicomdir(error, l, path);
    if (is_zip_file(path))
        return add_zip(error, l, path);
    return source_add(error, l, path, -1, 0);
}

/* ------------------------------------------------------------ zip access */

bool nova__zip_read_member(NovaError **error, zip_t *za, const char *archive,
                           int64_t index, uint8_t **buf, size_t *cap,
                           size_t *size)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)index, 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE))
        return nova_error_set(error, NOVA_ERROR_IO, "zip error",
                              "%s: member %lld: %s", archive, (long long)index,
                              zip_strerror(za));
    if (st.size > (zip_uint64_t)1 << 40)
        return nova_error_set(error, NOVA_ERROR_RANGE, "zip member too large",
                              "%s: member %s: %llu bytes", archive, st.name,
                              (unsigned long long)st.size);
    size_t need = (size_t)st.size;
    if (need + 1 > *cap) {
        uint8_t *nb = nova_realloc(error, *buf, need + 1);
        if (!nb)
            return false;
        *buf = nb;
        *cap = need + 1;
    }
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)index, 0);
    if (!zf)
        return nova_error_set(error, NOVA_ERROR_IO, "zip error",
                              "%s: member %s: %s", archive, st.name,
                              zip_strerror(za));
    size_t got = 0;
    while (got < need) {
        zip_int64_t r = zip_fread(zf, *buf + got, need - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    zip_fclose(zf);
    if (got != need)
        return nova_error_set(error, NOVA_ERROR_IO, "zip error",
                              "%s: member %s: read %zu of %zu bytes", archive,
                              st.name, got, need);
    *size = need;
    return true;
}

NovaDataset *nova__scan_open_file(NovaError **error, const NovaScan *scan,
                                  const ScanFile *file, zip_t **za,
                                  uint8_t **buf, size_t *cap, unsigned flags)
{
    if (file->zip_index < 0)
        return nova_dataset_read_file(error, file->path, flags);
    const char *archive = scan->archives[file->archive];
    if (!za[file->archive]) {
        int zerr = 0;
        za[file->archive] = zip_open(archive, ZIP_RDONLY, &zerr);
        if (!za[file->archive]) {
            nova_error_set(error, NOVA_ERROR_IO, "cannot open zip",
                           "%s: libzip error %d", archive, zerr);
            return NULL;
        }
    }
    size_t size = 0;
    if (!nova__zip_read_member(error, za[file->archive], archive,
                               file->zip_index, buf, cap, &size))
        return NULL;
    char name[1200];
    snprintf(name, sizeof name, "%s:%s", archive, file->path);
    return nova_dataset_read_memory(error, *buf, size, name, NOVA_READ_BORROW);
}

/* ------------------------------------------------------- header records */

static void get_text(const NovaDataset *ds, uint32_t tag, char *out)
{
    out[0] = '\0';
    if (!nova_dataset_has(ds, tag))
        return;
    char *s = nova_dataset_get_string(NULL, ds, tag);
    if (s) {
        snprintf(out, TXT, "%s", s);
        nova_free(s);
    }
}

/* The item `tag` of a functional group: per-frame first, then shared
 * (PS3.3 C.7.6.16: a macro is in one or the other). */
static const NovaDataset *functional_group(const NovaDataset *ds,
                                           uint32_t frame, uint32_t tag)
{
    const NovaDataset *pf = nova_dataset_get_item(ds, T_PER_FRAME_FG, frame);
    if (pf && nova_dataset_get_item_count(pf, tag) > 0)
        return nova_dataset_get_item(pf, tag, 0);
    const NovaDataset *sh = nova_dataset_get_item(ds, T_SHARED_FG, 0);
    if (sh && nova_dataset_get_item_count(sh, tag) > 0)
        return nova_dataset_get_item(sh, tag, 0);
    return NULL;
}

typedef struct {
    ScanFile file;
    ScanSlice *slices;
    uint32_t slice_count;
    enum { R_SKIPPED, R_NON_IMAGE, R_IMAGE } kind;
} ReadResult;

static bool read_frame_geometry(const NovaDataset *root, const NovaDataset *ds,
                                uint32_t frame, bool enhanced, ScanSlice *s)
{
    const NovaDataset *pos = ds, *ori = ds, *meas = ds, *xf = ds;
    if (enhanced) {
        pos = functional_group(root, frame, T_PLANE_POSITION);
        ori = functional_group(root, frame, T_PLANE_ORIENTATION);
        meas = functional_group(root, frame, T_PIXEL_MEASURES);
        xf = functional_group(root, frame, T_PIXEL_VALUE_TRANSFORM);
        /* Missing macros fall back to top-level attributes. */
        if (!pos)
            pos = root;
        if (!ori)
            ori = root;
        if (!meas)
            meas = root;
        if (!xf)
            xf = root;
    }
    if (!nova_dataset_get_doubles(NULL, pos, T_IPP, s->ipp, 3) ||
        !nova_dataset_get_doubles(NULL, ori, T_IOP, s->iop, 6))
        return false;
    if (!nova_dataset_get_doubles(NULL, meas, T_PIXEL_SPACING, s->pixel_spacing,
                                  2)) {
        s->pixel_spacing[0] = s->pixel_spacing[1] = 1.0;
    }
    if (!nova_dataset_get_double(NULL, meas, T_SLICE_THICKNESS, 0,
                                 &s->thickness))
        nova_dataset_get_double(NULL, root, T_SLICE_THICKNESS, 0,
                                &s->thickness);
    s->slope = 1.0;
    s->intercept = 0.0;
    nova_dataset_get_double(NULL, xf, T_RESCALE_SLOPE, 0, &s->slope);
    nova_dataset_get_double(NULL, xf, T_RESCALE_INTERCEPT, 0, &s->intercept);
    if (!isfinite(s->slope) || s->slope == 0.0)
        s->slope = 1.0;
    if (!isfinite(s->intercept))
        s->intercept = 0.0;
    for (int i = 0; i < 3; i++)
        if (!isfinite(s->ipp[i]))
            return false;
    for (int i = 0; i < 6; i++)
        if (!isfinite(s->iop[i]))
            return false;
    return true;
}

static void read_one(NovaDataset *ds, ReadResult *res)
{
    ScanFile *f = &res->file;
    if (!nova_dataset_has(ds, NOVA_TAG_PIXEL_DATA) ||
        !nova_dataset_get_image_info(NULL, ds, &f->info) ||
        f->info.samples_per_pixel != 1) {
        /* Reports, DICOMDIR, presentation states, colour secondary
         * captures: not a grey-level image to stack. */
        res->kind = R_NON_IMAGE;
        return;
    }
    get_text(ds, T_STUDY_UID, f->study_uid);
    get_text(ds, T_SERIES_UID, f->series_uid);
    get_text(ds, T_FRAME_OF_REFERENCE, f->frame_of_reference_uid);
    get_text(ds, T_PATIENT_ID, f->patient_id);
    get_text(ds, T_PATIENT_NAME, f->patient_name);
    get_text(ds, T_STUDY_DATE, f->study_date);
    get_text(ds, T_STUDY_DESCRIPTION, f->study_description);
    get_text(ds, T_ACCESSION, f->accession_number);
    get_text(ds, T_SERIES_DESCRIPTION, f->series_description);
    get_text(ds, T_MODALITY, f->modality);
    get_text(ds, T_BODY_PART, f->body_part);
    get_text(ds, T_KERNEL, f->kernel);
    get_text(ds, T_CONTRAST_AGENT, f->contrast_agent);
    get_text(ds, T_IMAGE_TYPE, f->image_type);
    const NovaTransferSyntax *ts = nova_dataset_get_transfer_syntax(ds);
    snprintf(f->transfer_syntax, TXT, "%s", ts && ts->uid ? ts->uid : "");
    f->has_series_number =
        nova_dataset_get_int(NULL, ds, T_SERIES_NUMBER, 0, &f->series_number);
    f->has_padding =
        nova_dataset_get_int(NULL, ds, T_PIXEL_PADDING, 0, &f->padding);
    f->has_padding_limit = nova_dataset_get_int(NULL, ds, T_PIXEL_PADDING_LIMIT,
                                                0, &f->padding_limit);
    nova_dataset_get_double(NULL, ds, T_GANTRY_TILT, 0, &f->gantry_tilt_deg);

    /* Native 16-bit little-endian pixel data in a plain file: remember
     * where it is, so the loader can read it straight into the volume
     * without parsing the file again (PS3.5 A.1-A.2 native encoding:
     * frames are contiguous rows x columns samples). */
    NovaElementInfo pix;
    const uint16_t one = 1;
    uint8_t little;
    memcpy(&little, &one, 1);
    if (little && ts && ts->codec == NOVA_CODEC_NATIVE && !ts->deflated &&
        !ts->big_endian && !ts->encapsulated && f->zip_index < 0 &&
        f->info.bits_allocated == 16 && f->info.samples_per_pixel == 1 &&
        nova_dataset_find(ds, NOVA_TAG_PIXEL_DATA, &pix) && !pix.encapsulated &&
        pix.length != NOVA_UNDEFINED_LENGTH && pix.offset > 0) {
        f->pixel_offset = pix.offset;
        f->pixel_length = pix.length;
    }

    bool enhanced = nova_dataset_get_item_count(ds, T_PER_FRAME_FG) > 0 ||
                    nova_dataset_get_item_count(ds, T_SHARED_FG) > 0;
    uint32_t frames = f->info.frames ? f->info.frames : 1;
    /* An Enhanced file has one Per-frame Functional Groups item per frame
     * (PS3.3 C.7.6.16.2.1); a Number of Frames beyond that (or beyond any
     * sane size) is not trusted with an allocation. */
    size_t per_frame = nova_dataset_get_item_count(ds, T_PER_FRAME_FG);
    if (per_frame > 0 && frames > per_frame)
        frames = (uint32_t)per_frame;
    if (frames > (1u << 20)) {
        res->kind = R_SKIPPED;
        return;
    }
    if (enhanced && !f->kernel[0]) {
        const NovaDataset *rec = functional_group(ds, 0, T_CT_RECONSTRUCTION);
        if (rec)
            get_text(rec, T_KERNEL, f->kernel);
    }
    res->slices = nova_calloc(NULL, frames, sizeof *res->slices);
    if (!res->slices) {
        res->kind = R_SKIPPED;
        return;
    }
    int64_t acq = 0, inst = 0;
    bool has_acq =
        nova_dataset_get_int(NULL, ds, T_ACQUISITION_NUMBER, 0, &acq);
    nova_dataset_get_int(NULL, ds, T_INSTANCE_NUMBER, 0, &inst);
    uint32_t n = 0;
    for (uint32_t fr = 0; fr < frames; fr++) {
        ScanSlice *s = &res->slices[n];
        if (!read_frame_geometry(ds, ds, fr, enhanced, s))
            continue; /* no position: not a slice (e.g. a screenshot) */
        s->frame = fr;
        s->acquisition_number = acq;
        s->has_acquisition_number = has_acq;
        s->instance_number = inst;
        snprintf(s->frame_type, TXT, "%s", f->image_type);
        if (enhanced) {
            const NovaDataset *ft =
                functional_group(ds, fr, T_CT_IMAGE_FRAME_TYPE);
            if (ft && nova_dataset_has(ft, T_FRAME_TYPE))
                get_text(ft, T_FRAME_TYPE, s->frame_type);
        }
        n++;
    }
    if (n == 0) {
        res->kind = R_NON_IMAGE;
        return;
    }
    f->frames = n;
    res->slice_count = n;
    res->kind = R_IMAGE;
}

typedef struct {
    const SourceList *sources;
    ReadResult *results;
    zip_t ***za;    /* [thread][archive] */
    uint8_t **buf;  /* [thread] */
    size_t *cap;    /* [thread] */
    NovaScan *scan; /* archives only */
} ReadCtx;

static void read_task(void *vctx, size_t index, int thread)
{
    ReadCtx *c = vctx;
    const Source *src = &c->sources->items[index];
    ReadResult *res = &c->results[index];
    res->file.path = src->path;
    res->file.zip_index = src->zip_index;
    res->file.archive = src->archive;
    res->kind = R_SKIPPED;
    NovaDataset *ds = nova__scan_open_file(
        NULL, c->scan, &res->file, c->za[thread], &c->buf[thread],
        &c->cap[thread], NOVA_READ_HEADER_ONLY);
    if (!ds)
        return;
    read_one(ds, res);
    nova_dataset_destroy(ds);
}

/* -------------------------------------------------------------- grouping */

double nova__median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    /* Insertion sort: n is a slice count, and the caller's copy. */
    for (size_t i = 1; i < n; i++) {
        double x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void cross(const double a[3], const double b[3], double out[3])
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static void normalise(double v[3])
{
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (n > 0)
        for (int i = 0; i < 3; i++)
            v[i] /= n;
}

/* Same stack key: orientation within 1e-3, size, spacing within 1e-4 mm,
 * and image type. */
static bool same_stack(const NovaScan *scan, const ScanSlice *a,
                       const ScanSlice *b, bool split_acquisition)
{
    const ScanFile *fa = &scan->files[a->file], *fb = &scan->files[b->file];
    if (strcmp(fa->study_uid, fb->study_uid) != 0 ||
        strcmp(fa->series_uid, fb->series_uid) != 0)
        return false;
    for (int i = 0; i < 6; i++)
        if (fabs(a->iop[i] - b->iop[i]) > 1e-3)
            return false;
    if (fa->info.rows != fb->info.rows || fa->info.columns != fb->info.columns)
        return false;
    for (int i = 0; i < 2; i++)
        if (fabs(a->pixel_spacing[i] - b->pixel_spacing[i]) > 1e-4)
            return false;
    if (strcmp(a->frame_type, b->frame_type) != 0)
        return false;
    if (split_acquisition &&
        (a->has_acquisition_number != b->has_acquisition_number ||
         a->acquisition_number != b->acquisition_number))
        return false;
    return true;
}

typedef struct {
    double position;
    size_t index;
} Keyed;

static int compare_keyed(const void *a, const void *b)
{
    const Keyed *x = a, *y = b;
    if (x->position < y->position)
        return -1;
    if (x->position > y->position)
        return 1;
    /* Equal positions (duplicates): keep the scan's file order. */
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sort a stack's slice indices by position (ascending along the normal). */
static bool sort_stack(NovaError **error, const ScanSlice *slices, size_t *idx,
                       size_t n)
{
    Keyed *k = nova_malloc_array(error, n ? n : 1, sizeof *k);
    if (!k)
        return false;
    for (size_t i = 0; i < n; i++)
        k[i] = (Keyed){slices[idx[i]].position, idx[i]};
    qsort(k, n, sizeof *k, compare_keyed);
    for (size_t i = 0; i < n; i++)
        idx[i] = k[i].index;
    nova_free(k);
    return true;
}

/* Duplicate positions: closer than this along the normal (mm). */
#define DUPLICATE_MM 0.01

static NovaOrientation classify(const double n[3])
{
    /* The axis nearest the normal, if within 35 degrees (cos 35 = 0.819):
     * gantry tilts reach 30 degrees and stay axial; reformats further from
     * every axis are oblique. */
    double ax = fabs(n[0]), ay = fabs(n[1]), az = fabs(n[2]);
    double m = ax > ay ? (ax > az ? ax : az) : (ay > az ? ay : az);
    if (m < 0.819)
        return NOVA_ORIENTATION_OBLIQUE;
    if (m == az)
        return NOVA_ORIENTATION_AXIAL;
    if (m == ay)
        return NOVA_ORIENTATION_CORONAL;
    return NOVA_ORIENTATION_SAGITTAL;
}

const char *nova_orientation_name(NovaOrientation o)
{
    switch (o) {
    case NOVA_ORIENTATION_AXIAL: return "axial";
    case NOVA_ORIENTATION_CORONAL: return "coronal";
    case NOVA_ORIENTATION_SAGITTAL: return "sagittal";
    case NOVA_ORIENTATION_OBLIQUE: return "oblique";
    case NOVA_ORIENTATION_UNKNOWN: break;
    }
    return "unknown";
}

static void stack_normal(const ScanSlice *s, double row[3], double col[3],
                         double n[3])
{
    memcpy(row, s->iop, 3 * sizeof(double));
    memcpy(col, s->iop + 3, 3 * sizeof(double));
    normalise(row);
    normalise(col);
    cross(row, col, n);
    normalise(n);
}

static void fingerprint(NovaScan *scan, ScanStack *st)
{
    NovaStackFingerprint *fp = &st->fp;
    const ScanSlice *first = &scan->slices[st->slices[0]];
    const ScanSlice *last = &scan->slices[st->slices[st->count - 1]];
    const ScanFile *f = &scan->files[first->file];
    memset(fp, 0, sizeof *fp);
    memcpy(fp->study_uid, f->study_uid, TXT);
    memcpy(fp->series_uid, f->series_uid, TXT);
    memcpy(fp->frame_of_reference_uid, f->frame_of_reference_uid, TXT);
    fp->series_number = f->has_series_number ? f->series_number : 0;
    memcpy(fp->series_description, f->series_description, TXT);
    memcpy(fp->modality, f->modality, TXT);
    memcpy(fp->body_part, f->body_part, TXT);
    memcpy(fp->kernel, f->kernel, TXT);
    memcpy(fp->contrast_agent, f->contrast_agent, TXT);
    memcpy(fp->transfer_syntax, f->transfer_syntax, TXT);
    /* (0018,0010) "NONE" or "NO" is sometimes written for no contrast. */
    fp->contrast = f->contrast_agent[0] &&
                   strcasecmp(f->contrast_agent, "NONE") != 0 &&
                   strcasecmp(f->contrast_agent, "NO") != 0;
    memcpy(fp->image_type, first->frame_type, TXT);
    fp->original = strncasecmp(fp->image_type, "ORIGINAL", 8) == 0;
    fp->derived = strncasecmp(fp->image_type, "DERIVED", 7) == 0;
    fp->localizer = strcasestr(fp->image_type, "LOCALIZER") != NULL ||
                    strcasestr(f->image_type, "LOCALIZER") != NULL;
    stack_normal(first, fp->row_direction, fp->column_direction, fp->normal);
    fp->orientation = classify(fp->normal);
    fp->rows = f->info.rows;
    fp->columns = f->info.columns;
    memcpy(fp->pixel_spacing_mm, first->pixel_spacing, sizeof(double) * 2);
    fp->slice_count = st->count;
    fp->slice_thickness_mm = first->thickness;
    size_t files = 0;
    bool mf = false;
    for (size_t i = 0; i < st->count; i++) {
        const ScanSlice *s = &scan->slices[st->slices[i]];
        if (s->frame == 0)
            files++;
        if (scan->files[s->file].info.frames > 1)
            mf = true;
    }
    fp->file_count = files;
    fp->multiframe = mf;
    fp->z_coverage_mm = last->position - first->position;

    /* Gaps between distinct positions. */
    double *gaps = nova_malloc_array(NULL, st->count, sizeof *gaps);
    size_t ng = 0;
    for (size_t i = 1; gaps && i < st->count; i++) {
        double g = scan->slices[st->slices[i]].position -
                   scan->slices[st->slices[i - 1]].position;
        if (g < DUPLICATE_MM)
            fp->duplicate_slices++;
        else
            gaps[ng++] = g;
    }
    double *sorted =
        gaps ? nova_malloc_array(NULL, ng ? ng : 1, sizeof *sorted) : NULL;
    if (sorted && ng) {
        memcpy(sorted, gaps, ng * sizeof *sorted);
        double med = nova__median(sorted, ng);
        fp->slice_spacing_mm = med;
        double tol = 0.01 + 0.02 * med;
        for (size_t i = 0; i < ng; i++) {
            double k = floor(gaps[i] / med + 0.5);
            if (fabs(gaps[i] - med) <= tol)
                continue;
            if (k >= 2 && fabs(gaps[i] - k * med) <= tol * k)
                fp->missing_slices += (size_t)k - 1;
            else
                fp->uneven_spacing = true;
        }
    }
    nova_free(sorted);
    nova_free(gaps);

    /* Tilt: the angle between the line through the slice centres and the
     * normal (PS3.3 C.7.6.2.1.1: positions of a tilted acquisition move
     * along the table, not along the normal). */
    if (st->count >= 2 && fp->z_coverage_mm > DUPLICATE_MM) {
        double axis[3];
        for (int i = 0; i < 3; i++)
            axis[i] = last->ipp[i] - first->ipp[i];
        normalise(axis);
        double c = fabs(axis[0] * fp->normal[0] + axis[1] * fp->normal[1] +
                        axis[2] * fp->normal[2]);
        if (c > 1.0)
            c = 1.0;
        fp->tilt_deg = acos(c) * 180.0 / M_PI;
    }
}

static bool push_stack(NovaError **error, NovaScan *scan, size_t *cap)
{
    if (scan->stack_count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        ScanStack *n = nova_realloc(error, scan->stacks, ncap * sizeof *n);
        if (!n)
            return false;
        scan->stacks = n;
        *cap = ncap;
    }
    memset(&scan->stacks[scan->stack_count++], 0, sizeof(ScanStack));
    return true;
}

static int compare_stacks(const void *a, const void *b)
{
    const ScanStack *x = a, *y = b;
    int c = strcmp(x->fp.study_uid, y->fp.study_uid);
    if (c)
        return c;
    if (x->fp.series_number != y->fp.series_number)
        return x->fp.series_number < y->fp.series_number ? -1 : 1;
    c = strcmp(x->fp.series_uid, y->fp.series_uid);
    if (c)
        return c;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->slices[0] < y->slices[0] ? -1 : 1;
}

/* Assign slices to stacks: by key, then split by acquisition number where a
 * position repeats across acquisitions; sort; fingerprint. */
static bool group_stacks(NovaError **error, NovaScan *scan)
{
    size_t n = scan->slice_count, cap = 0;
    size_t *first_of = NULL, *phase_a = NULL, *counts = NULL;
    bool *split = NULL, ok = false;
    phase_a = nova_malloc_array(error, n ? n : 1, sizeof *phase_a);
    first_of = nova_malloc_array(error, n ? n : 1, sizeof *first_of);
    if (!phase_a || !first_of)
        goto done;
    /* Phase A: key without acquisition number. */
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < na; j++)
            if (same_stack(scan, &scan->slices[first_of[j]], &scan->slices[i],
                           false))
                break;
        if (j == na)
            first_of[na++] = i;
        phase_a[i] = j;
        double row[3], col[3], nrm[3];
        stack_normal(&scan->slices[first_of[j]], row, col, nrm);
        const double *p = scan->slices[i].ipp;
        scan->slices[i].position =
            p[0] * nrm[0] + p[1] * nrm[1] + p[2] * nrm[2];
    }
    /* Phase B: repeated positions with different acquisition numbers. */
    split = nova_calloc(error, na ? na : 1, sizeof *split);
    if (!split)
        goto done;
    {
        Keyed *k = nova_malloc_array(error, n ? n : 1, sizeof *k);
        if (!k)
            goto done;
        for (size_t i = 0; i < n; i++)
            k[i] = (Keyed){scan->slices[i].position, i};
        qsort(k, n, sizeof *k, compare_keyed);
        for (size_t i = 0; i < n; i++) {
            const ScanSlice *a = &scan->slices[k[i].index];
            for (size_t j = i + 1;
                 j < n && k[j].position - k[i].position < DUPLICATE_MM; j++) {
                const ScanSlice *b = &scan->slices[k[j].index];
                if (phase_a[k[i].index] == phase_a[k[j].index] &&
                    (a->acquisition_number != b->acquisition_number ||
                     a->has_acquisition_number != b->has_acquisition_number))
                    split[phase_a[k[i].index]] = true;
            }
        }
        nova_free(k);
    }
    /* Phase C: final stacks. */
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < nf; j++)
            if (phase_a[first_of[j]] == phase_a[i] &&
                same_stack(scan, &scan->slices[first_of[j]], &scan->slices[i],
                           split[phase_a[i]]))
                break;
        if (j == nf) {
            first_of[nf++] = i;
            if (!push_stack(error, scan, &cap))
                goto done;
        }
        scan->slices[i].stack = j;
        scan->stacks[j].count++;
    }
    for (size_t j = 0; j < nf; j++) {
        scan->stacks[j].slices =
            nova_malloc_array(error, scan->stacks[j].count, sizeof(size_t));
        if (!scan->stacks[j].slices)
            goto done;
        scan->stacks[j].count = 0;
    }
    for (size_t i = 0; i < n; i++) {
        ScanStack *st = &scan->stacks[scan->slices[i].stack];
        st->slices[st->count++] = i;
    }
    for (size_t j = 0; j < nf; j++) {
        if (!sort_stack(error, scan->slices, scan->stacks[j].slices,
                        scan->stacks[j].count))
            goto done;
        fingerprint(scan, &scan->stacks[j]);
    }
    if (nf > 1)
        qsort(scan->stacks, nf, sizeof *scan->stacks, compare_stacks);
    for (size_t j = 0; j < nf; j++)
        for (size_t i = 0; i < scan->stacks[j].count; i++)
            scan->slices[scan->stacks[j].slices[i]].stack = j;

    /* Studies, in stack order. */
    scan->studies = nova_calloc(error, nf ? nf : 1, sizeof *scan->studies);
    if (!scan->studies)
        goto done;
    for (size_t j = 0; j < nf; j++) {
        ScanStack *st = &scan->stacks[j];
        size_t s;
        for (s = 0; s < scan->study_count; s++)
            if (strcmp(scan->studies[s].study_uid, st->fp.study_uid) == 0)
                break;
        NovaStudyInfo *info = &scan->studies[s];
        if (s == scan->study_count) {
            scan->study_count++;
            const ScanFile *f = &scan->files[scan->slices[st->slices[0]].file];
            memcpy(info->study_uid, f->study_uid, TXT);
            memcpy(info->patient_id, f->patient_id, TXT);
            memcpy(info->patient_name, f->patient_name, TXT);
            memcpy(info->study_date, f->study_date, TXT);
            memcpy(info->study_description, f->study_description, TXT);
            memcpy(info->accession_number, f->accession_number, TXT);
        }
        st->fp.study_index = s;
        info->stack_count++;
        if (j == 0 ||
            strcmp(scan->stacks[j - 1].fp.series_uid, st->fp.series_uid) != 0 ||
            strcmp(scan->stacks[j - 1].fp.study_uid, st->fp.study_uid) != 0)
            info->series_count++;
    }
    ok = true;
done:
    nova_free(first_of);
    nova_free(phase_a);
    nova_free(counts);
    nova_free(split);
    return ok;
}

/* ------------------------------------------------------------ public API */

NovaScan *nova_scan_create(NovaError **error, const char *const *paths,
                           size_t n_paths, NovaPool *pool)
{
    SourceList list;
    memset(&list, 0, sizeof list);
    for (size_t i = 0; i < n_paths; i++)
        if (!expand_path(error, &list, paths[i])) {
            source_list_free(&list);
            return NULL;
        }
    NovaScan *scan = nova_calloc(error, 1, sizeof *scan);
    ReadResult *results = NULL;
    int threads = pool ? nova_pool_get_threads(pool) : 1;
    ReadCtx ctx;
    memset(&ctx, 0, sizeof ctx);
    size_t n_archives = 0;
    if (!scan)
        goto fail;
    scan->archives = list.archives;
    scan->archive_count = list.archive_count;
    n_archives = list.archive_count;
    list.archives = NULL;
    list.archive_count = 0;
    scan->files_seen = list.count;
    results = nova_calloc(error, list.count ? list.count : 1, sizeof *results);
    ctx.za = nova_calloc(error, (size_t)threads, sizeof *ctx.za);
    ctx.buf = nova_calloc(error, (size_t)threads, sizeof *ctx.buf);
    ctx.cap = nova_calloc(error, (size_t)threads, sizeof *ctx.cap);
    if (!results || !ctx.za || !ctx.buf || !ctx.cap)
        goto fail;
    for (int t = 0; t < threads; t++) {
        ctx.za[t] =
            nova_calloc(error, scan->archive_count + 1, sizeof(zip_t *));
        if (!ctx.za[t])
            goto fail;
    }
    ctx.sources = &list;
    ctx.results = results;
    ctx.scan = scan;
    nova_pool_for_each(pool, list.count, read_task, &ctx);

    /* Collect records in source order (deterministic). */
    size_t nfiles = 0, nslices = 0;
    for (size_t i = 0; i < list.count; i++) {
        if (results[i].kind == R_IMAGE) {
            nfiles++;
            nslices += results[i].slice_count;
        } else if (results[i].kind == R_NON_IMAGE) {
            scan->non_image++;
        } else {
            scan->skipped++;
        }
    }
    scan->files = nova_calloc(error, nfiles ? nfiles : 1, sizeof *scan->files);
    scan->slices =
        nova_calloc(error, nslices ? nslices : 1, sizeof *scan->slices);
    if (!scan->files || !scan->slices)
        goto fail;
    for (size_t i = 0; i < list.count; i++) {
        if (results[i].kind != R_IMAGE)
            continue;
        ScanFile *f = &scan->files[scan->file_count];
        *f = results[i].file;
        f->path = list.items[i].path;
        list.items[i].path = NULL; /* moved */
        for (uint32_t k = 0; k < results[i].slice_count; k++) {
            ScanSlice *s = &scan->slices[scan->slice_count++];
            *s = results[i].slices[k];
            s->file = scan->file_count;
        }
        scan->file_count++;
    }
    if (!group_stacks(error, scan))
        goto fail;
    goto cleanup;
fail:
    nova_scan_destroy(scan);
    scan = NULL;
cleanup:
    if (results)
        for (size_t i = 0; i < list.count; i++)
            nova_free(results[i].slices);
    nova_free(results);
    for (int t = 0; ctx.za && t < threads; t++) {
        for (size_t a = 0; ctx.za[t] && a < n_archives; a++)
            if (ctx.za[t][a])
                zip_discard(ctx.za[t][a]);
        nova_free(ctx.za[t]);
    }
    for (int t = 0; ctx.buf && t < threads; t++)
        nova_free(ctx.buf[t]);
    nova_free(ctx.za);
    nova_free(ctx.buf);
    nova_free(ctx.cap);
    source_list_free(&list);
    return scan;
}

void nova_scan_destroy(NovaScan *scan)
{
    if (!scan)
        return;
    for (size_t i = 0; i < scan->file_count; i++)
        nova_free(scan->files[i].path);
    nova_free(scan->files);
    nova_free(scan->slices);
    for (size_t i = 0; i < scan->stack_count; i++)
        nova_free(scan->stacks[i].slices);
    nova_free(scan->stacks);
    nova_free(scan->studies);
    for (size_t i = 0; i < scan->archive_count; i++)
        nova_free(scan->archives[i]);
    nova_free(scan->archives);
    nova_free(scan);
}

size_t nova_scan_get_files_seen(const NovaScan *scan)
{
    return scan->files_seen;
}

size_t nova_scan_get_image_files(const NovaScan *scan)
{
    return scan->file_count;
}

size_t nova_scan_get_skipped_files(const NovaScan *scan)
{
    return scan->skipped;
}

size_t nova_scan_get_non_image_files(const NovaScan *scan)
{
    return scan->non_image;
}

size_t nova_scan_get_study_count(const NovaScan *scan)
{
    return scan->study_count;
}

const NovaStudyInfo *nova_scan_get_study(const NovaScan *scan, size_t i)
{
    return i < scan->study_count ? &scan->studies[i] : NULL;
}

size_t nova_scan_get_stack_count(const NovaScan *scan)
{
    return scan->stack_count;
}

const NovaStackFingerprint *nova_scan_get_stack(const NovaScan *scan, size_t i)
{
    return i < scan->stack_count ? &scan->stacks[i].fp : NULL;
}
