/* libFuzzer harness for the webhook certificate decision (controller/runtime/webhookcert.c):
 * the Secret's ca.crt, tls.crt, tls.key and ca.key, separated by NUL bytes, are arbitrary
 * bytes. Whatever the decision, it never crashes, and a certificate generated from them (the
 * renewal path, keeping their CA when usable) is always one to serve. */
#include "runtime/webhookcert.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1790000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a NUL-terminated copy, cut into at most four strings at NUL bytes */
    char *buf = sl_xmalloc(size + 1);
    if (size)
        memcpy(buf, data, size);
    buf[size] = 0;
    const char *part[4] = {NULL, NULL, NULL, NULL};
    size_t off = 0;
    for (int i = 0; i < 4 && off <= size; i++) {
        part[i] = buf + off;
        off += strlen(buf + off) + 1;
    }
    char *why = NULL;
    enum sl_webhookcert_state st =
        sl_webhookcert_check(part[0], part[1], part[2], "sealift-system", NOW, &why);
    if ((st == SL_WEBHOOKCERT_OK) != (why == NULL))
        abort(); /* a reason exactly when something is to be done */
    free(why);
    struct sl_webhookcert keep = {.ca_pem = (char *)part[0], .ca_key_pem = (char *)part[3]};
    struct sl_webhookcert fresh = {0};
    struct sl_err err = {0};
    if (sl_webhookcert_generate(&fresh, &keep, "sealift-system", NOW, &err) != 0)
        abort();
    if (sl_webhookcert_check(fresh.ca_pem, fresh.crt_pem, fresh.key_pem, "sealift-system", NOW,
                             NULL) != SL_WEBHOOKCERT_OK)
        abort();
    sl_webhookcert_clear(&fresh);
    sl_secure_free(buf, size + 1);
    return 0;
}
