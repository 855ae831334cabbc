/* Helpers shared by the scanner unit tests: reading test data files. */
#ifndef SL_TESTS_SCAN_TESTUTIL_H
#define SL_TESTS_SCAN_TESTUTIL_H

#include "util/mem.h"

#include <stdio.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#include <stdlib.h>

static const char *data_dir = "tests/data/scan";

/* Reads data_dir/rel into a NUL-terminated malloc'd buffer; NULL when missing. */
static char *read_data(const char *rel, size_t *len_out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 4096, len = 0, n;
    char *buf = sl_xmalloc(cap + 1);
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = sl_xrealloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

#endif
