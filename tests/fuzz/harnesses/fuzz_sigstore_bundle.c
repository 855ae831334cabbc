/* libFuzzer harness: Sigstore bundles (cosign v3 signatures) as a registry serves them. */
#include "sign/bundle.h"
#include "sign/keys.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_key *key;
    struct sl_err err = {0};
    if (!key && sl_key_generate(&key, SL_KEY_ALG_ECDSA_P256, &err) != 0)
        abort();
    /* the digest the cosign v3 seed bundle names, so well-formed inputs reach every check */
    sl_bundle_check((const char *)data, size,
                    "sha256:ed107f6aae0f448b353c5a5577b72b82cc0da2fbf9e5f255f1e3fbdece6acec9", key,
                    &err);
    return 0;
}
