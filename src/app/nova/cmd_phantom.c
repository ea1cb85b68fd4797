/*
 * cmd_phantom.c - `nova phantom -o DIR [--kind K] [--seed N] [--size S]
 * [--severity X] [--lesions N] [--noise HU] [--effusion[-right|-left] ML]
 * [--rle] [--threads N]`: a
 * synthetic chest CT study with its ground truth (nova/phantom.h).
 *
 * Writes DIR/dicom/CT*.dcm (CT Image Storage, one file per slice),
 * DIR/labels.nii.gz and DIR/truth.json; docs/phantom.md describes them.
 *
 * `nova phantom insert --into SERIES_DIR -o DIR [--mask M] [--kind K] ...`
 * inserts lesions of known shape and volume into a real series and writes
 * a new series (new UIDs, same study and patient) plus the truth.
 */
#include "commands.h"

#include "nova/nova.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
            "  --effusion ML      pleural effusion of ML ml on each side\n"
            "                     (label 8 in labels.nii.gz); default none\n"
            "  --effusion-right ML, --effusion-left ML   on one side\n"
            "  --rle              RLE Lossless pixel data\n"
            "  --threads N        threads (default: all CPUs, NOVA_THREADS)\n"
            "  --json             print truth.json on stdout\n"
            "  -q, --quiet        print nothing on success\n"
            "  -h, --help         this help\n"
            "\n"
            "'nova phantom insert --help': lesions inserted into a real "
            "series.\n");
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

static void insert_usage(FILE *out)
{
    fprintf(
        out,
        "usage: nova phantom insert --into SERIES_DIR -o DIR [options]\n"
        "\n"
        "Insert lesions of known shape and volume into a real CT series,\n"
        "inside its lung field, and write DIR/dicom/ (a new series in the\n"
        "same study: new series and instance UIDs, image type DERIVED),\n"
        "DIR/labels.nii.gz (1 lung field, 100+i lesion i) and\n"
        "DIR/truth.json (lesion volumes).\n"
        "\n"
        "options:\n"
        "  --into DIR        the DICOM series (the chest CT series of the\n"
        "                    folder, as `nova analyze` would choose)\n"
        "  --series UID      that series instead of the automatic choice\n"
        "  --mask FILE       lung mask (.nii/.nii.gz/.nrrd, nonzero = lung)\n"
        "                    on the series' grid; default: a threshold\n"
        "  --kind K          ggo (default), crazy_paving, consolidation,\n"
        "                    mixed\n"
        "  --lesions N       how many (default 3)\n"
        "  --radius MM       mean radius (default 15)\n"
        "  --hu HU           lesion density (default -550, consolidation 25)\n"
        "  --seed N          placement and shape (default 1)\n"
        "  --threads N       threads\n"
        "  -q, --quiet       print nothing on success\n");
}

/* The first CT image file of a folder, parsed up to its pixel data. */
static NovaDataset *first_ct_header(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    NovaDataset *found = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = realloc(names, cap * sizeof *t);
            if (!t)
                break;
            names = t;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n && !found; i++) {
        char *path = nova_strdup_printf(NULL, "%s/%s", dir, names[i]);
        struct stat st;
        if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            NovaDataset *ds =
                nova_dataset_read_file(NULL, path, NOVA_READ_HEADER_ONLY);
            char modality[17] = "";
            if (ds &&
                nova_dataset_get_string_value(NULL, ds,
                                              NOVA_TAG(0x0008, 0x0060), 0,
                                              modality, sizeof modality) &&
                strcmp(modality, "CT") == 0)
                found = ds;
            else
                nova_dataset_destroy(ds);
        }
        nova_free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

static int cmd_insert(int argc, char **argv)
{
    NovaInsertOptions opt;
    nova_insert_options_init(&opt);
    const char *into = NULL, *output = NULL, *mask_path = NULL, *series = NULL;
    bool quiet = false;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        bool bad = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            insert_usage(stdout);
            return 0;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "nova phantom insert: %s '%s'\n",
                    a[0] == '-' ? "missing value or unknown option"
                                : "unexpected argument",
                    a);
            insert_usage(stderr);
            return 2;
        } else if (strcmp(a, "--into") == 0) {
            into = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            output = v;
        } else if (strcmp(a, "--mask") == 0) {
            mask_path = v;
        } else if (strcmp(a, "--series") == 0) {
            series = v;
        } else if (strcmp(a, "--kind") == 0) {
            if (strcmp(v, "ggo") == 0)
                opt.type = NOVA_LESION_GGO;
            else if (strcmp(v, "crazy_paving") == 0)
                opt.type = NOVA_LESION_CRAZY_PAVING;
            else if (strcmp(v, "consolidation") == 0)
                opt.type = NOVA_LESION_CONSOLIDATION;
            else if (strcmp(v, "mixed") == 0)
                opt.type = NOVA_LESION_MIXED;
            else
                bad = true;
        } else if (strcmp(a, "--lesions") == 0) {
            bad = !parse_long(v, &n) || n < 1 || n > NOVA_PHANTOM_MAX_LESIONS;
            opt.lesions = (int)n;
        } else if (strcmp(a, "--radius") == 0) {
            bad = !parse_double(v, &opt.radius_mm);
        } else if (strcmp(a, "--hu") == 0) {
            bad = !parse_double(v, &opt.hu);
        } else if (strcmp(a, "--seed") == 0) {
            bad = !parse_long(v, &n) || n < 0;
            opt.seed = (uint64_t)n;
        } else if (strcmp(a, "--threads") == 0) {
            bad = !parse_long(v, &threads) || threads < 1 || threads > 1024;
        } else {
            fprintf(stderr, "nova phantom insert: unknown option '%s'\n", a);
            insert_usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "nova phantom insert: bad value '%s' for %s\n", v,
                    a);
            return 2;
        }
        i++;
    }
    if (!into || !output) {
        fprintf(stderr, "nova phantom insert: --into and -o are required\n");
        insert_usage(stderr);
        return 2;
    }
    NovaError *error = NULL;
    NovaPool *pool = nova_pool_create(&error, (int)threads);
    NovaVolume *ct = NULL, *mask = NULL;
    NovaInsertion *ins = NULL;
    NovaDataset *hdr = NULL;
    char *strs[12] = {NULL};
    bool ok = pool != NULL;
    if (ok)
        ok = (ct = nova_volume_read_dicom(&error, into, series, pool)) != NULL;
    if (ok && mask_path)
        ok = (mask = nova_volume_read(&error, mask_path)) != NULL;
    if (ok)
        ok = (ins = nova_phantom_insert(&error, ct, mask, &opt, pool)) != NULL;
    if (ok) {
        /* The new series joins the original study and patient. */
        hdr = first_ct_header(into);
        static const uint32_t tags[12] = {
            NOVA_TAG(0x0010, 0x0010), NOVA_TAG(0x0010, 0x0020),
            NOVA_TAG(0x0010, 0x0030), NOVA_TAG(0x0010, 0x0040),
            NOVA_TAG(0x0020, 0x000D), NOVA_TAG(0x0008, 0x0020),
            NOVA_TAG(0x0008, 0x0030), NOVA_TAG(0x0020, 0x0010),
            NOVA_TAG(0x0008, 0x0050), NOVA_TAG(0x0008, 0x1030),
            NOVA_TAG(0x0008, 0x0070), NOVA_TAG(0x0020, 0x0052)};
        for (int i = 0; hdr && i < 12; i++)
            strs[i] = nova_dataset_get_string(NULL, hdr, tags[i]);
        NovaCtSeriesOptions so;
        nova_ct_series_options_init(&so);
        so.patient_name = strs[0];
        so.patient_id = strs[1];
        so.patient_birth_date = strs[2];
        so.patient_sex = strs[3];
        so.study_instance_uid =
            strs[4] && nova_uid_is_valid(strs[4]) ? strs[4] : NULL;
        so.study_date = strs[5];
        so.study_time = strs[6];
        so.study_id = strs[7];
        so.accession_number = strs[8];
        so.study_description = strs[9];
        so.manufacturer = strs[10];
        so.frame_of_reference_uid =
            strs[11] && nova_uid_is_valid(strs[11]) ? strs[11] : NULL;
        so.body_part = "CHEST";
        so.image_type = "DERIVED\\SECONDARY\\AXIAL";
        so.derivation = "Nova phantom insert: synthetic lesions added";
        so.series_description = "Nova synthetic lesions";
        so.series_number = 9901;
        so.window_center = -600;
        so.window_width = 1500;
        char *dicom = nova_strdup_printf(&error, "%s/dicom", output);
        char *labels = nova_strdup_printf(&error, "%s/labels.nii.gz", output);
        char *json_path = nova_strdup_printf(&error, "%s/truth.json", output);
        char *json = NULL;
        ok = dicom && labels && json_path && nova_make_dirs(&error, output) &&
             nova_ct_series_write(&error, nova_insertion_get_ct(ins), dicom,
                                  &so, pool, NULL, NULL) &&
             nova_volume_write_nifti(&error, nova_insertion_get_labels(ins),
                                     labels) &&
             (json = nova_insertion_truth_json(&error, ins)) != NULL &&
             nova_write_file_atomic(&error, json_path, json, strlen(json),
                                    false);
        if (ok && !quiet) {
            double ml = 0;
            for (size_t i = 0; i < nova_insertion_get_lesion_count(ins); i++)
                ml += nova_insertion_get_lesion(ins, i)->volume_ml;
            printf("%s: %zu %s lesion(s), %.1f ml, in %s\n", output,
                   nova_insertion_get_lesion_count(ins),
                   nova_lesion_type_name(opt.type), ml, into);
        }
        nova_free(json);
        nova_free(dicom);
        nova_free(labels);
        nova_free(json_path);
    }
    if (!ok) {
        nova_app_print_error("phantom insert", error);
        nova_error_free(error);
    }
    for (int i = 0; i < 12; i++)
        nova_free(strs[i]);
    nova_dataset_destroy(hdr);
    nova_insertion_destroy(ins);
    nova_volume_unref(mask);
    nova_volume_unref(ct);
    nova_pool_destroy(pool);
    return ok ? 0 : 1;
}

int nova_cmd_phantom(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "insert") == 0)
        return cmd_insert(argc - 1, argv + 1);
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
        } else if (strcmp(a, "--effusion") == 0 ||
                   strcmp(a, "--effusion-right") == 0 ||
                   strcmp(a, "--effusion-left") == 0) {
            double ml;
            bad = !parse_double(v, &ml);
            if (strcmp(a, "--effusion-left") != 0)
                opt.effusion_ml[0] = ml;
            if (strcmp(a, "--effusion-right") != 0)
                opt.effusion_ml[1] = ml;
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
        so.uid_seed = nova_phantom_get_uid_seed(ph);
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
               output, nova_phantom_kind_name(opt.kind), opt.seed, opt.dims[0],
               opt.dims[1], opt.dims[2], n_les, les_ml, t1 - t0, t2 - t1,
               nova_pool_get_threads(pool));
    }
    if (!ok) {
        nova_app_print_error("phantom", error);
        nova_error_free(error);
    }
    nova_phantom_destroy(ph);
    nova_pool_destroy(pool);
    return ok ? 0 : 1;
}
