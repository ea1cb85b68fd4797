/*
 * cmd_radiomics.c - `nova radiomics`: IBSI 1 features of an image and a
 * mask, or of every case of a cohort table.
 *
 * Single case: --image (NIfTI, NRRD, or a DICOM series folder) and --mask
 * (NIfTI, NRRD, or a DICOM RTSTRUCT rasterised onto the image grid), one
 * row per feature to a CSV or JSON file (by the extension of -o) or to
 * stdout.  Batch: --batch COHORT.csv with columns case,image,mask[,label]
 * (paths relative to the table's folder); cases run in parallel over the
 * thread pool, one task per case, and their rows go to one CSV in the
 * cohort's order.  A failed case is reported on stderr with its reason and
 * the others go on; the exit status is then 1.
 */
#include "commands.h"

#include "nova/nova.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova radiomics --image IMAGE --mask MASK [--label N]\n"
            "                      [--config FILE] [--threads N] [--json]\n"
            "                      [-o OUT.csv|OUT.json]\n"
            "       nova radiomics --batch COHORT.csv [--config FILE]\n"
            "                      [--threads N] [--wide] [-o OUT.csv]\n"
            "\n"
            "IBSI 1 radiomics features (Zwanenburg et al., Radiology 2020):\n"
            "one row per feature with its family, IBSI code, id, name,\n"
            "aggregation method and value.\n"
            "\n"
            "options:\n"
            "  --image PATH     NIfTI (.nii, .nii.gz), NRRD, or a folder\n"
            "                   holding a DICOM series\n"
            "  --mask PATH      NIfTI or NRRD labels on the image grid, a\n"
            "                   DICOM SEG on that grid, or a DICOM RTSTRUCT\n"
            "                   (contours rasterised onto the image grid)\n"
            "  --label N        mask label to use (default: every non-zero\n"
            "                   voxel); the segment number of a SEG, the\n"
            "                   ROI number of an RTSTRUCT\n"
            "  --config FILE    settings (configs/radiomics/*.conf; default:\n"
            "                   configs/radiomics/default.conf values)\n"
            "  -o, --output F   write to F: .json gives JSON, else CSV\n"
            "                   (default: CSV on stdout)\n"
            "  --json           JSON instead of CSV (single case)\n"
            "  --batch CSV      cohort table: case,image,mask[,label]\n"
            "  --wide           batch output with one row per case and one\n"
            "                   column per feature (<id>.<aggregation>)\n"
            "  --threads N      threads (default: all cores); a batch runs\n"
            "                   one case per thread\n"
            "  -h, --help       this help\n");
}

/* Nova's default configuration: the settings of
 * configs/radiomics/default.conf (tests/radiomics/cli.sh checks that both
 * give the same table). */
static const char default_config[] = "name = default\n"
                                     "texture = 3d\n"
                                     "interpolation = linear\n"
                                     "spacing_mm = 2 2 2\n"
                                     "intensity_rounding = yes\n"
                                     "mask_partial_volume = 0.5\n"
                                     "resegmentation_range = -1000 400\n"
                                     "outlier_sigma = 0\n"
                                     "discretisation = fbs 25\n"
                                     "ivh_discretisation = none\n";

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static NovaVolume *load_image(NovaError **error, const char *path,
                              NovaPool *pool)
{
    NovaVolume *v = is_directory(path)
                        ? nova_volume_read_dicom(error, path, NULL, pool)
                        : nova_volume_read(error, path);
    if (!v)
        nova_error_prefix(error, "image %s: ", path);
    return v;
}

/* A mask file: volume formats, or a DICOM SEG or RTSTRUCT put onto the
 * image grid (the label then selects the segment or ROI, 0 = all). */
static NovaVolume *load_mask(NovaError **error, const char *path,
                             const NovaVolume *image, int *label)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[132];
    bool dicom = false;
    if (f) {
        dicom = fread(head, 1, sizeof head, f) == sizeof head &&
                memcmp(head + 128, "DICM", 4) == 0;
        fclose(f);
    }
    if (dicom) {
        NovaVolume *m = nova_radiomics_dicom_mask(error, path, image, *label);
        if (m)
            *label = 0;
        else
            nova_error_prefix(error, "mask %s: ", path);
        return m;
    }
    NovaVolume *m = nova_volume_read(error, path);
    if (!m)
        nova_error_prefix(error, "mask %s: ", path);
    return m;
}

/* One case; pool (may be NULL) speeds up Moran's I and Geary's C and the
 * DICOM series decoding of a single case. */
static NovaRadiomicsFeatures *run_case(NovaError **error, const char *image,
                                       const char *mask, int label,
                                       const NovaRadiomicsConfig *config,
                                       NovaPool *pool)
{
    NovaVolume *img = load_image(error, image, pool);
    if (!img)
        return NULL;
    NovaVolume *msk = load_mask(error, mask, img, &label);
    NovaRadiomicsFeatures *f = NULL;
    if (msk) {
        f = nova_radiomics_compute_pool(error, img, msk, label, config, pool);
        if (!f)
            nova_error_prefix(error, "%s: ", image);
    }
    nova_volume_unref(img);
    nova_volume_unref(msk);
    return f;
}

/* ---------------------------------------------------------------- batch */

typedef struct {
    char *name, *image, *mask;
    int label;
    NovaRadiomicsFeatures *features;
    NovaError *error;
} Case;

typedef struct {
    Case *cases;
    const NovaRadiomicsConfig *config;
} BatchContext;

static void batch_task(void *ctx, size_t index, int thread)
{
    BatchContext *b = ctx;
    Case *c = &b->cases[index];
    /* Cases are the parallel unit: each runs on one thread. */
    c->features =
        run_case(&c->error, c->image, c->mask, c->label, b->config, NULL);
}

static char *join_path(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir[0])
        return nova_strdup(NULL, path);
    return nova_strdup_printf(NULL, "%s/%s", base_dir, path);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Read case,image,mask[,label] rows (first line a header). */
static Case *read_cohort(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    *count = 0;
    if (!f) {
        fprintf(stderr, "nova radiomics: cannot open cohort %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    size_t cap = 0;
    Case *cases = NULL;
    char line[8192];
    int line_no = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        line_no++;
        if (line_no == 1 || !trim(line)[0])
            continue;
        char *field[4] = {NULL, NULL, NULL, NULL};
        int nf = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, ",", &save); t && nf < 4;
             t = strtok_r(NULL, ",", &save))
            field[nf++] = trim(t);
        if (nf < 3) {
            fprintf(stderr,
                    "nova radiomics: %s:%d: expected case,image,mask[,label]\n",
                    path, line_no);
            ok = false;
            break;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            Case *c = realloc(cases, cap * sizeof *c);
            if (!c) {
                ok = false;
                break;
            }
            cases = c;
        }
        Case *c = &cases[(*count)++];
        memset(c, 0, sizeof *c);
        c->name = nova_strdup(NULL, field[0]);
        c->image = join_path(dir, field[1]);
        c->mask = join_path(dir, field[2]);
        c->label = nf > 3 ? atoi(field[3]) : 0;
        ok = c->name && c->image && c->mask;
    }
    fclose(f);
    if (!ok) {
        for (size_t i = 0; i < *count; i++) {
            nova_free(cases[i].name);
            nova_free(cases[i].image);
            nova_free(cases[i].mask);
        }
        free(cases);
        *count = 0;
        return NULL;
    }
    return cases;
}

/* A CSV field, quoted when it holds a comma, quote or newline. */
static void put_field(FILE *out, const char *s)
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

/* Wide table: one row per case, one column per feature named
 * "<id>.<aggregation code>" (every case of a batch has the same list, as
 * it depends only on the configuration). */
static void write_wide(FILE *out, const char *name,
                       const NovaRadiomicsFeatures *f, bool header)
{
    size_t count = nova_radiomics_features_count(f);
    if (header) {
        fputs("case", out);
        for (size_t i = 0; i < count; i++) {
            const NovaRadiomicsFeature *x = nova_radiomics_features_get(f, i);
            fprintf(out, ",%s.%s", x->id, x->aggregation);
        }
        fputc('\n', out);
    }
    put_field(out, name);
    for (size_t i = 0; i < count; i++) {
        double v = nova_radiomics_features_get(f, i)->value;
        if (isnan(v))
            fputs(",NA", out);
        else
            fprintf(out, ",%.9g", v);
    }
    fputc('\n', out);
}

static int run_batch(const char *cohort, const NovaRadiomicsConfig *config,
                     const char *output, int threads, bool wide)
{
    size_t n = 0;
    Case *cases = read_cohort(cohort, &n);
    if (!cases)
        return 1;
    NovaError *error = NULL;
    NovaPool *pool = nova_pool_create(&error, threads);
    if (!pool) {
        nova_app_print_error("radiomics", error);
        nova_error_free(error);
        free(cases);
        return 1;
    }
    BatchContext ctx = {cases, config};
    double t0 = nova_time_now();
    nova_pool_for_each(pool, n, batch_task, &ctx);
    double seconds = nova_time_now() - t0;
    nova_pool_destroy(pool);

    FILE *out = output ? fopen(output, "w") : stdout;
    int status = 0;
    if (!out) {
        fprintf(stderr, "nova radiomics: cannot write %s: %s\n", output,
                strerror(errno));
        status = 1;
    }
    size_t failed = 0;
    bool header = true;
    for (size_t i = 0; i < n; i++) {
        Case *c = &cases[i];
        if (!c->features) {
            failed++;
            fprintf(stderr, "nova radiomics: case %s: %s: %s\n", c->name,
                    nova_error_summary(c->error), nova_error_message(c->error));
        } else if (out && wide) {
            write_wide(out, c->name, c->features, header);
            header = false;
        } else if (out) {
            NovaError *werr = NULL;
            if (!nova_radiomics_features_write_csv(&werr, c->features, out,
                                                   c->name, header)) {
                nova_app_print_error("radiomics", werr);
                nova_error_free(werr);
                status = 1;
            }
            header = false;
        }
        nova_radiomics_features_destroy(c->features);
        nova_error_free(c->error);
        nova_free(c->name);
        nova_free(c->image);
        nova_free(c->mask);
    }
    free(cases);
    if (out && ferror(out))
        status = 1;
    if (out && out != stdout && fclose(out) != 0)
        status = 1;
    fprintf(stderr, "nova radiomics: %zu cases, %zu failed, %.2f s\n", n,
            failed, seconds);
    return failed || status ? 1 : 0;
}

int nova_cmd_radiomics(int argc, char **argv)
{
    const char *image = NULL, *mask = NULL, *config_path = NULL, *output = NULL,
               *batch = NULL;
    int label = 0, threads = 0;
    bool json_flag = false, wide = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--image") && has_value) {
            image = argv[++i];
        } else if (!strcmp(a, "--mask") && has_value) {
            mask = argv[++i];
        } else if (!strcmp(a, "--label") && has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 65535) {
                fprintf(stderr, "nova radiomics: bad --label '%s'\n", argv[i]);
                return 2;
            }
            label = (int)v;
        } else if (!strcmp(a, "--config") && has_value) {
            config_path = argv[++i];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_value) {
            output = argv[++i];
        } else if (!strcmp(a, "--wide")) {
            wide = true;
        } else if (!strcmp(a, "--json")) {
            json_flag = true;
        } else if (!strcmp(a, "--batch") && has_value) {
            batch = argv[++i];
        } else if (!strcmp(a, "--threads") && has_value) {
            threads = atoi(argv[++i]);
        } else {
            fprintf(stderr,
                    "nova radiomics: unknown or incomplete option "
                    "'%s'\n",
                    a);
            usage(stderr);
            return 2;
        }
    }
    if (batch ? (image || mask) : (!image || !mask)) {
        usage(stderr);
        return 2;
    }
    NovaRadiomicsConfig config;
    NovaError *error = NULL;
    bool ok = config_path
                  ? nova_radiomics_config_load(&error, config_path, &config)
                  : nova_radiomics_config_parse(&error, default_config,
                                                "built-in default", &config);
    if (!ok) {
        nova_app_print_error("radiomics", error);
        nova_error_free(error);
        return 1;
    }
    if (batch)
        return run_batch(batch, &config, output, threads, wide);

    NovaPool *pool = nova_pool_create(&error, threads);
    if (!pool) {
        nova_app_print_error("radiomics", error);
        nova_error_free(error);
        return 1;
    }
    NovaRadiomicsFeatures *f =
        run_case(&error, image, mask, label, &config, pool);
    nova_pool_destroy(pool);
    if (!f) {
        nova_app_print_error("radiomics", error);
        nova_error_free(error);
        return 1;
    }
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "nova radiomics: cannot write %s: %s\n", output,
                strerror(errno));
        nova_radiomics_features_destroy(f);
        return 1;
    }
    size_t len = output ? strlen(output) : 0;
    bool json = json_flag || (len >= 5 && !strcmp(output + len - 5, ".json"));
    ok = json ? nova_radiomics_features_write_json(&error, f, out)
              : nova_radiomics_features_write_csv(&error, f, out, NULL, true);
    if (out != stdout && fclose(out) != 0 && ok)
        ok = nova_error_set(&error, NOVA_ERROR_IO, "write failed",
                            "closing %s failed", output);
    nova_radiomics_features_destroy(f);
    if (!ok) {
        nova_app_print_error("radiomics", error);
        nova_error_free(error);
        return 1;
    }
    return 0;
}
