/* libFuzzer harness: OpenPGP signatures and public key blocks (git/pgpsig.c). The input is checked
 * as an armored signature over a fixed payload against a fixed ed25519 key block, and as a key
 * list itself; input that starts like a binary packet is also armored (with a correct CRC-24) as a
 * signature and as a key block, so the fuzzer reaches the packet parsers. */
#include "fuzz_input.h"
#include "git/pgpsig.h"
#include "util/base64.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEY[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
                          "mDMEaxWS1xYJKwYBBAHaRw8BAQdA0EXPNkKDFFRyeoTaBt5LHxzfEvEi4KSXiuZa\n"
                          "nPr9gpO0F2Z1enogPGZ1enpAZXhhbXBsZS5jb20+iJAEExYIADgWIQTyuY48V4aL\n"
                          "9OE+GMPnvsez1tCYcgUCaxWS1wIbAwULCQgHAgYVCgkICwIEFgIDAQIeAQIXgAAK\n"
                          "CRDnvsez1tCYch6bAPsEagxK17QrFNit6EueZK1kClHqHRioV63K7o99Fbs05AD+\n"
                          "OfiipugR9LdzivQ39T1dgCDiAHgBkNUbrJjI1ySjzgY=\n"
                          "=X4cR\n"
                          "-----END PGP PUBLIC KEY BLOCK-----\n";

/* data armored with label and a correct checksum (caller frees), or NULL. */
static char *armor(const uint8_t *data, size_t size, const char *label)
{
    uint32_t crc = sl_pgpsig_crc24(data, size);
    uint8_t crc_bytes[3] = {(uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    char *b64 = sl_base64_encode(data, size);
    char *crc64 = sl_base64_encode(crc_bytes, 3);
    size_t n = strlen(b64) + 2 * strlen(label) + 64;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "-----BEGIN %s-----\n\n%s\n=%s\n-----END %s-----\n", label, b64, crc64,
                 label);
    free(b64);
    free(crc64);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    struct sl_err err = {0};
    char fpr[SL_PGPSIG_FPR_LENGTH];
    sl_pgpsig_verify(fpr, sizeof(fpr), text, size, "payload", 7, KEY, 0, &err);
    sl_pgpsig_verify(NULL, 0, text, size, "payload", 7, text, 0, &err);
    sl_pgpsig_count_keys(text, &err);
    if (size > 0 && (data[0] & 0x80)) {
        char *sig = armor(data, size, "PGP SIGNATURE");
        char *keys = armor(data, size, "PGP PUBLIC KEY BLOCK");
        if (sig)
            sl_pgpsig_verify(fpr, sizeof(fpr), sig, strlen(sig), "payload", 7, KEY, 0, &err);
        if (keys) {
            sl_pgpsig_count_keys(keys, &err);
            sl_pgpsig_verify(NULL, 0, sig ? sig : "", sig ? strlen(sig) : 0, "payload", 7, keys, 0,
                             &err);
        }
        free(sig);
        free(keys);
    }
    free(text);
    return 0;
}
