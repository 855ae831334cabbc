/* Reading a unit test's data files (tests/data/..., tests/unit/<area>/data/...): keys, documents,
 * answers a fake serves. Shared by the tests so each does not carry its own reader. */
#ifndef SL_TEST_TESTDATA_H
#define SL_TEST_TESTDATA_H

#include <stddef.h>

/* The largest data file read. */
#define SL_TEST_DATA_MAX ((size_t)1 << 20)

/* Reads the file at the path path_fmt formats (printf) whole into a NUL-terminated buffer the
 * caller frees; *len (len may be NULL) gets its size. A file that cannot be read, or is larger
 * than SL_TEST_DATA_MAX, ends the test program (exit 2) naming the path: the test's own files
 * are broken, not the code under test. */
char *sl_test_read_file(size_t *len, const char *path_fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
