/* libFuzzer harness: the STS AssumeRoleWithWebIdentity answer reader (controller/oci/aws.c),
 * given the raw bytes (it takes a length, not a string). */
#include "oci/aws.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_aws_session s;
    struct sl_err err = {0};
    if (sl_aws_sts_parse(&s, (const char *)data, size, &err) == 0)
        sl_aws_session_clear(&s);
    /* the message is one line */
    if (strchr(err.msg, '\n') || strchr(err.msg, '\r'))
        __builtin_trap();
    return 0;
}
