/* libFuzzer harness: WWW-Authenticate challenge parsing (controller/oci/auth.c). */
#include "fuzz_input.h"
#include "oci/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    struct sl_auth_challenge c;
    struct sl_err err = {0};
    if (sl_auth_challenge_parse(&c, s, &err) == 0)
        sl_auth_challenge_free(&c);
    free(s);
    return 0;
}
