/* libFuzzer harness: DeployPolicy documents (YAML, with the key-line map) -> the schema check
 * -> admission objects -> YAML, as `sealift policy render` runs them. */
#include "policy/render.h"
#include "util/yamljson.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_yaml_doc *docs = NULL;
    size_t n = 0;
    struct sl_err err = {0};
    if (sl_yaml_parse_all_lines(&docs, &n, (const char *)data, size, &err) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *objs = NULL;
        struct sl_policy_field_problem problems[4];
        size_t np = docs[i].value ? sl_policy_check_fields(problems, 4, docs[i].value) : 0;
        for (size_t j = 0; j < np; j++)
            (void)sl_yaml_doc_line(&docs[i], problems[j].path);
        if (docs[i].value && sl_policy_render(&objs, docs[i].value, NULL, &err) == 0) {
            struct sl_buf out;
            sl_buf_init(&out, 0);
            size_t j;
            json_t *o;
            json_array_foreach(objs, j, o)
            {
                sl_yaml_emit(&out, o, 1, &err);
            }
            sl_buf_free(&out);
            json_decref(objs);
        }
    }
    sl_yaml_docs_free(docs, n);
    return 0;
}
