/* libFuzzer harness: image reference parsing (controller/oci/ref.c). Parsed references must
 * format back to a string that parses to the same parts. */
#include "fuzz_input.h"
#include "oci/ref.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    struct sl_ref r = {0}, again = {0};
    struct sl_err err = {0};
    if (sl_ref_parse(&r, s, &err) == 0) {
        char *text = sl_ref_string(&r);
        if (sl_ref_parse(&again, text, &err) != 0 || strcmp(again.repository, r.repository) != 0)
            abort();
        sl_ref_free(&again);
        free(text);
        sl_ref_free(&r);
    }
    free(s);
    return 0;
}
