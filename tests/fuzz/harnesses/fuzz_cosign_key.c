/* libFuzzer harness for the envelope parser of cosign's encrypted private keys
 * (controller/sign/cosignkey.c): arbitrary bytes as the PEM text. No key derivation runs (that
 * is scrypt on one of three fixed parameter sets), so the fuzzer spends its time on the PEM,
 * JSON and base64 layers a hostile Secret or key file controls. */
#include "sign/cosignkey.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy so the parser sees a buffer exactly size bytes long (no NUL after it) */
    char *buf = sl_xmalloc(size ? size : 1);
    if (size)
        memcpy(buf, data, size);
    struct sl_err err = {0};
    struct sl_cosignkey_envelope *env = NULL;
    (void)sl_cosignkey_is_encrypted(buf, size);
    if (sl_cosignkey_parse(&env, buf, size, &err) == 0) {
        /* what the parser promises its callers */
        if (env->salt_len == 0 || env->salt_len > SL_COSIGNKEY_SALT_MAX ||
            env->ciphertext_len <= 16 || env->ciphertext_len > SL_COSIGNKEY_CIPHERTEXT_MAX ||
            env->scrypt_r != 8 || env->scrypt_p != 1 || env->scrypt_n < (1u << 15) ||
            env->scrypt_n > (1u << 17))
            abort();
        sl_cosignkey_envelope_free(env);
    } else if (err.msg[0] == '\0') {
        abort(); /* every refusal says why */
    }
    free(buf);
    return 0;
}
