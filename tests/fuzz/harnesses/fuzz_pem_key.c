/* libFuzzer harness for PEM key loading (controller/sign/keys.c): arbitrary bytes go through
 * every loader; whatever loads must then fingerprint, export and sign/verify cleanly. */
#include "sign/keys.h"
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void exercise(struct sl_key *key)
{
    struct sl_err err = {0};
    char fp[SL_KEY_FINGERPRINT_LEN];
    char *pub = NULL;
    if (sl_key_fingerprint(fp, key, &err) != 0 || sl_key_public_pem(&pub, key, &err) != 0)
        abort(); /* a loaded key must always export */
    struct sl_key *again = NULL;
    if (sl_key_load_public_pem(&again, pub, strlen(pub), &err) != 0)
        abort(); /* our own public PEM must load back */
    sl_key_free(again);
    free(pub);
    if (sl_key_has_private(key)) {
        static const char msg[] = "fuzz";
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        if (sl_key_sign(&sig, &sig_len, key, msg, 4, &err) != 0 ||
            sl_key_verify(key, msg, 4, sig, sig_len, &err) != 0)
            abort();
        free(sig);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy so the loaders see a buffer exactly size bytes long (no NUL after it) */
    char *buf = sl_xmalloc(size ? size : 1);
    if (size)
        memcpy(buf, data, size);
    struct sl_err err = {0};
    struct sl_key *key = NULL;
    if (sl_key_load_private_pem(&key, buf, size, &err) == 0) {
        exercise(key);
        sl_key_free(key);
        key = NULL;
    }
    if (sl_key_load_public_pem(&key, buf, size, &err) == 0) {
        exercise(key);
        sl_key_free(key);
        key = NULL;
    }
    if (sl_key_load_pem(&key, buf, size, &err) == 0) {
        sl_key_free(key);
        key = NULL;
    }
    sl_secure_free(buf, size ? size : 1);
    return 0;
}
