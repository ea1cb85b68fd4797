/*
 * cmd_phantom.c - `nova phantom -o DIR [--kind K] [--seed N] [--size S]
 * [--severity X] [--lesions N] [--noise HU] [--rle] [--threads N]`: a
 * synthetic chest CT study with its ground truth (nova/phantom.h).
 *
 * Writes DIR/dicom/CT*.dcm (CT Image Storage, one file per slice),
 * DIR/labels.nii.gz and DIR/truth.json; docs/phantom.md describes them.
 */
#include "commands.h"

#include "nova/nova.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nova phantom -o DIR [options]\n"
            "\n"
            "Make a synthetic chest CT series with known truth: DIR/dicom/\n"
            "(CT Image Storage), DIR/labels.nii.gz (lobes, airways, vessels,\n"
            "lesions) and DIR/truth.json (volumes, per-lobe involvement).\n"
            "The same options and seed always give the same bytes.\n"
            "\n"
            "options:\n"
            "  -o, --output DIR   the study folder (created)\n"
            "  --kind K           normal (default), covid, bacterial, nodules\n"
            "  --seed N           anatomy and lesion seed (default 1)\n"
            "  --size S           WxHxD voxels or N (NxNx(5N/8)); default\n"
            "                     256x256x160, at most 1024x1024x2000; the\n"
            "                     field is always 360x360x320 mm\n"
            "  --severity X       0..1 (default 0.5): lesion count, size,\n"
            "                     density\n"
            "  --lesions N        lesion count (default: from kind, severity)\n"
            "  --noise HU         noise standard deviation (default 12)\n"
            "  --rle              RLE Lossless pixel data\n"
            "  --threads N        threads (default: all CPUs, NOVA_THREADS)\n"
            "  --json             print truth.json on stdout\n"
            "  -q, --quiet        print nothing on success\n"
            "  -h, --help         this help\n");
}

static bool parse_size(const char *s, size_t dims[3])
{
    unsigned long a, b, c;
    char tail;
    if (sscanf(s, "%lux%lux%lu%c", &a, &b, &c, &tail) == 3) {
        dims[0] = a;
        dims[1] = b;
        dims[2] = c;
        return true;
    }
    if (sscanf(s, "%lu%c", &a, &tail) == 1) {
        dims[0] = dims[1] = a;
        dims[2] = a * 5 / 8;
        return true;
    }
    return false;
}

static bool parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0';
}

static bool parse_long(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0';
}

int nova_cmd_phantom(int argc, char **argv)
{
    NovaPhantomOptions opt;
    nova_phantom_options_init(&opt);
    const char *output = NULL;
    bool rle = false, json = false, quiet = false;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        bool bad = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--rle") == 0) {
            rle = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (!v) {
            fprintf(stderr, "nova phantom: %s '%s'\n",
                    a[0] == '-' ? "missing value or unknown option"
                                : "unexpected argument",
                    a);
            usage(stderr);
            return 2;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            output = v;
            i++;
        } else if (strcmp(a, "--kind") == 0) {
            bad = !nova_phantom_kind_from_name(v, &opt.kind);
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            bad = !parse_long(v, &n) || n < 0;
            opt.seed = (uint64_t)n;
            i++;
        } else if (strcmp(a, "--size") == 0) {
            bad = !parse_size(v, opt.dims);
            i++;
        } else if (strcmp(a, "--severity") == 0) {
            bad = !parse_double(v, &opt.severity);
            i++;
        } else if (strcmp(a, "--lesions") == 0) {
            bad = !parse_long(v, &n) || n < 0 || n > 1000;
            opt.lesions = (int)n;
            i++;
        } else if (strcmp(a, "--noise") == 0) {
            bad = !parse_double(v, &opt.noise_hu);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            bad = !parse_long(v, &threads) || threads < 1 || threads > 1024;
            i++;
        } else {
            fprintf(stderr, "nova phantom: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "nova phantom: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (!output) {
        fprintf(stderr, "nova phantom: no output folder (-o DIR)\n");
        usage(stderr);
        return 2;
    }
    NovaError *error = NULL;
    NovaPool *pool = nova_pool_create(&error, (int)threads);
    if (!pool) {
        nova_app_print_error("phantom", error);
        nova_error_free(error);
        return 1;
    }
    double t0 = nova_time_now();
    NovaPhantom *ph = nova_phantom_create(&error, &opt, pool);
    double t1 = nova_time_now();
    bool ok = ph != NULL;
    if (ok) {
        NovaCtSeriesOptions so;
        nova_ct_series_options_init(&so);
        so.deterministic = true;
        so.uid_seed = opt.seed * 1000003u + (uint64_t)opt.kind;
        so.rle = rle;
        ok = nova_phantom_write(&error, ph, output, &so, pool);
    }
    double t2 = nova_time_now();
    if (ok && json) {
        char *text = nova_phantom_truth_json(&error, ph);
        ok = text != NULL;
        if (ok)
            fputs(text, stdout);
        nova_free(text);
    } else if (ok && !quiet) {
        size_t n_les = nova_phantom_get_lesion_count(ph);
        double les_ml = 0;
        for (size_t i = 0; i < n_les; i++)
            les_ml += nova_phantom_get_lesion(ph, i)->volume_ml;
        printf("%s: %s phantom, seed %" PRIu64 ", %zux%zux%zu, %zu "
               "lesion(s), %.1f ml; made in %.2f s, written in %.2f s "
               "(%d threads)\n",
               output, nova_phantom_kind_name(opt.kind), opt.seed,
               opt.dims[0], opt.dims[1], opt.dims[2], n_les, les_ml,
               t1 - t0, t2 - t1, nova_pool_get_threads(pool));
    }
    if (!ok) {
        nova_app_print_error("phantom", error);
        nova_error_free(error);
    }
    nova_phantom_destroy(ph);
    nova_pool_destroy(pool);
    return ok ? 0 : 1;
}
