/* libFuzzer harness: YAML -> JSON conversion (with and without the key-line map) and back
 * (controller/util/yamljson.c). */
#include "util/yamljson.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    if (sl_yaml_parse_all(&docs, &n, (const char *)data, size, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (!docs[i].value)
                continue;
            struct sl_buf out;
            sl_buf_init(&out, 0);
            sl_yaml_emit(&out, docs[i].value, 1, &err);
            sl_buf_free(&out);
        }
        sl_yaml_docs_free(docs, n);
    }
    /* the same stream with the key-line map, and a look-up in it */
    if (sl_yaml_parse_all_lines(&docs, &n, (const char *)data, size, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            (void)sl_yaml_doc_line(&docs[i], "spec.rules.allowedRegistries[0]");
        sl_yaml_docs_free(docs, n);
    }
    return 0;
}
