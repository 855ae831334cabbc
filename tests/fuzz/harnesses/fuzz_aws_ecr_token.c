/* libFuzzer harness: the ECR GetAuthorizationToken answer reader (controller/oci/aws.c), given
 * the raw bytes. */
#include "oci/auth.h"
#include "oci/aws.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_creds c;
    int64_t expires = 0;
    struct sl_err err = {0};
    if (sl_aws_ecr_token_parse(&c, &expires, (const char *)data, size, &err) == 0) {
        if (!c.username || !c.password || expires <= 0)
            __builtin_trap();
        sl_creds_free(&c);
    }
    if (strchr(err.msg, '\n') || strchr(err.msg, '\r'))
        __builtin_trap();
    return 0;
}
