/* libFuzzer harness: SSH signatures of git commits and tags (git/sshsig.c). The input is an
 * armored signature (a bare SSHSIG blob is armored here, so the fuzzer reaches the wire parser);
 * it is checked over a fixed payload against a fixed ed25519 key and itself as a key list. */
#include "fuzz_input.h"
#include "git/sshsig.h"
#include "util/base64.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEY[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjPGn7l1QyWg2cQKe2Ka8Vt3m1u"
                          "1hFt2T2Nw9n3yRZy fuzz\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    struct sl_err err = {0};
    char fpr[SL_SSHSIG_FPR_LENGTH];
    sl_sshsig_verify(fpr, sizeof(fpr), text, size, "payload", 7, KEY, "git", &err);
    sl_sshsig_verify(NULL, 0, text, size, "payload", 7, text, "git", &err);
    sl_sshsig_count_keys(text);
    if (size >= 6 && memcmp(data, "SSHSIG", 6) == 0) {
        char *b64 = sl_base64_encode(data, size);
        size_t n = strlen(b64) + 80;
        char *armored = malloc(n);
        if (armored) {
            snprintf(armored, n, "-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH SIGNATURE-----\n",
                     b64);
            sl_sshsig_verify(NULL, 0, armored, strlen(armored), "payload", 7, KEY, "git", &err);
            free(armored);
        }
        free(b64);
    }
    free(text);
    return 0;
}
