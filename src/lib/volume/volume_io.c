/*
 * volume_io.c - nova_volume_read: pick the volume file reader by the file
 * name's extension, or by the first bytes when the name says nothing;
 * DICOM folders, DICOMDIRs, zips and files go to nova_volume_read_dicom.
 */
#include "volume_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

NovaVolume *nova_volume_read(NovaError **error, const char *path)
{
    /* DICOM: a folder, a DICOMDIR, a zip archive or a .dcm file go through
     * scan, choose and load (one thread). */
    struct stat st;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if ((stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ||
        strcasecmp(base, "DICOMDIR") == 0 || nova__has_suffix(path, ".zip") ||
        nova__has_suffix(path, ".dcm"))
        return nova_volume_read_dicom(error, path, NULL, NULL);
    if (nova__has_suffix(path, ".nii") || nova__has_suffix(path, ".nii.gz"))
        return nova_volume_read_nifti(error, path);
    if (nova__has_suffix(path, ".nrrd") || nova__has_suffix(path, ".nhdr"))
        return nova_volume_read_nrrd(error, path);

    /* Unknown name: look at the magic numbers. */
    FILE *f = fopen(path, "rb");
    if (!f) {
        nova_error_set(error, NOVA_ERROR_IO, "cannot open file", "%s: %s", path,
                       strerror(errno));
        return NULL;
    }
    uint8_t head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    uint8_t magic[4] = {0};
    bool dicm = fseek(f, 128, SEEK_SET) == 0 && fread(magic, 1, 4, f) == 4 &&
                memcmp(magic, "DICM", 4) == 0;
    fclose(f);
    if (dicm)
        return nova_volume_read_dicom(error, path, NULL, NULL);
    if (n >= 7 && memcmp(head, "NRRD000", 7) == 0)
        return nova_volume_read_nrrd(error, path);
    int32_t size_le =
        (int32_t)((uint32_t)head[0] | (uint32_t)head[1] << 8 |
                  (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24);
    int32_t size_be =
        (int32_t)((uint32_t)head[3] | (uint32_t)head[2] << 8 |
                  (uint32_t)head[1] << 16 | (uint32_t)head[0] << 24);
    /* 0x1f 0x8b: a gzip stream (RFC 1952), taken to be a .nii.gz. */
    if ((n >= 2 && head[0] == 0x1f && head[1] == 0x8b) || size_le == 348 ||
        size_be == 348)
        return nova_volume_read_nifti(error, path);
    nova_error_set(error, NOVA_ERROR_UNSUPPORTED, "unknown volume format",
                   "%s: neither NIfTI-1 nor NRRD (by name or content)", path);
    return NULL;
}

NovaVolume *nova_volume_read_memory(NovaError **error, const void *data,
                                    size_t size, const char *name)
{
    const uint8_t *b = data;
    if (!name)
        name = "(memory)";
    if (size >= 7 && memcmp(b, "NRRD000", 7) == 0)
        return nova__read_nrrd_memory(error, data, size, name);
    return nova__read_nifti_memory(error, data, size, name);
}
