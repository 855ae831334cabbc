#include "testdata.h"

#include "util/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sl_test_read_file(size_t *len, const char *path_fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, path_fmt);
    vsnprintf(path, sizeof(path), path_fmt, ap);
    va_end(ap);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open test data %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *buf = sl_xmalloc(SL_TEST_DATA_MAX + 1);
    size_t n = fread(buf, 1, SL_TEST_DATA_MAX + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > SL_TEST_DATA_MAX) {
        fprintf(stderr, "test data %s: %s\n", path,
                failed ? "read error" : "larger than SL_TEST_DATA_MAX");
        exit(2);
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
