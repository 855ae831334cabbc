/* libFuzzer harness: `sealift migrate` over a manifest stream (controller/api/migrate.c, with
 * the document spans and comment positions of controller/util/yamljson.c). Properties: a stream
 * without a v1alpha1 object comes back byte for byte, the output parses into as many documents
 * as the input, and migrating the output again rewrites nothing and changes no byte. */
#include "api/migrate.h"
#include "util/yamljson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void migrate(struct sl_buf *out, size_t *n, const char *data, size_t size, int *rc)
{
    struct sl_api_rewrite *rw = NULL;
    struct sl_err err = {0};
    sl_buf_init(out, 0);
    *n = 0;
    *rc = sl_api_migrate_text(out, &rw, n, data, size, "v1beta1", &err);
    free(rw);
}

static size_t count_docs(const char *data, size_t size)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    if (sl_yaml_parse_all(&docs, &n, data, size, &err) != 0)
        abort(); /* the output of a successful migration is YAML */
    sl_yaml_docs_free(docs, n);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_buf out, again;
    size_t n = 0, n2 = 0;
    int rc = 0, rc2 = 0;
    migrate(&out, &n, (const char *)data, size, &rc);
    if (rc == 0) {
        if (n == 0 && (out.len != size || (size && memcmp(out.data, data, size) != 0)))
            abort();
        if (n > 0) {
            if (count_docs(out.data, out.len) != count_docs((const char *)data, size))
                abort();
            migrate(&again, &n2, out.data, out.len, &rc2);
            if (rc2 != 0 || n2 != 0 || again.len != out.len ||
                memcmp(again.data, out.data, out.len) != 0)
                abort();
            sl_buf_free(&again);
        }
    }
    sl_buf_free(&out);
    size_t *comments = NULL, nc = 0;
    struct sl_err err = {0};
    if (sl_yaml_comments(&comments, &nc, (const char *)data, size, &err) == 0)
        for (size_t i = 0; i < nc; i++)
            if (comments[i] >= size || data[comments[i]] != '#')
                abort();
    free(comments);
    return 0;
}
