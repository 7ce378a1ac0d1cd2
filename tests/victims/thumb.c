/* A shared library with a leak of its own, for the leak reports: thumb_render makes a thumbnail in
 * a temp file and forgets it.  Its call site must be named by this library and this function. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int thumb_render(const char *dir);

int thumb_render(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n + 20 > sizeof path)
        return -1;
    memcpy(path, dir, n);
    memcpy(path + n, "/thumb.XXXXXX", 14);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    /* 9 bytes: a size the report must give exactly. */
    ssize_t w = write(fd, "thumbnail", 9);
    close(fd);
    return w == 9 ? 0 : -1;
}
