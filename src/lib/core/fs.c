/*
 * fs.c - folders: what `mkdir -p` does, with an error that names the path.
 */
#include "nova/core.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

bool nova_make_dirs(NovaError **error, const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return nova_error_set(error, NOVA_ERROR_INVALID, "bad folder name",
                              "folder name of %zu characters", n);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return nova_error_set(error, NOVA_ERROR_IO, "cannot create folder",
                                  "%s: %s", buf, strerror(errno));
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return nova_error_set(error, NOVA_ERROR_IO, "cannot create folder",
                                  "%s exists and is not a folder", buf);
        buf[i] = c;
    }
    return true;
}
